"""Activations, regularizers, constraints, initializers, schedules, optimizers, losses and metrics, both ways.

Each family has one table, numpynet name → Keras name (or class name); the Keras → numpynet converters read the
same tables backwards. What maps to what:

====================================  ==========================================================================
numpynet                              Keras
====================================  ==========================================================================
activation ``relu``, ``elu``, ...     the Keras activation of the same name (:data:`_ACTIVATIONS`); non-default
                                      arguments (``leaky_relu(negative_slope=0.1)``): a small named function
                                      calling the Keras activation with them (from_keras reads them back)
``l2(lambd=λ)`` (½·λ·Σw²)             ``L2(λ/2)`` (Keras has no ½); back: ``L2(λ)`` → ``l2(l2=λ)``
``l2(l2=λ)`` (λ·Σw²)                  ``L2(λ)``
``l1(lambd=λ)`` / ``l1(l1=λ)``        ``L1(λ)``; back: ``l1(l1=λ)``
``l1l2(l1=a, l2=b)``                  ``L1L2(l1=a, l2=b)``
``max_norm``, ``non_neg``, ...        ``MaxNorm``, ``NonNeg``, ... (:data:`_CONSTRAINTS`), same arguments
``std_normal(scale=s)``               ``RandomNormal(0, s)`` (one way: back it is ``random_normal``)
``he_normal``, ``glorot_uniform``...  ``HeNormal``, ``GlorotUniform``, ... (:data:`_INITIALIZERS`)
``exponential_decay``, ...            ``ExponentialDecay``, ... (:data:`_SCHEDULES`)
``sgd``, ``adam``, ...                ``SGD``, ``Adam``, ... (:data:`_OPTIMIZERS`), same hyper-parameters
``mse``, ``huber``, ... losses        ``MeanSquaredError``, ``Huber``, ... (:data:`_LOSSES`); the categorical
                                      losses by :func:`keras_loss`'s ``labels``
====================================  ==========================================================================
"""

from __future__ import annotations

import inspect

from ...core import activations as _activations
from ...core import constraints as _constraints
from ...core import initializers as _initializers
from ...core import losses as _losses
from ...core import optimizers as _optimizers
from ...core import regularizers as _regularizers
from ...core import schedules as _schedules
from ...core.errors import SpecError
from .backend import _keras, _listify, _no_keras_equivalent, _short, _supported, _unsupported

# numpynet activation name -> Keras activation name (same formulas; see the parity tests)
_ACTIVATIONS = {"linear": "linear", "relu": "relu", "relu6": "relu6", "leaky_relu": "leaky_relu", "elu": "elu",
                "selu": "selu", "gelu": "gelu", "sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid",
                "tanh": "tanh", "softmax": "softmax", "softplus": "softplus", "softsign": "softsign",
                "silu": "silu", "exponential": "exponential"}
_REGULARIZERS = {"l1": "L1", "l2": "L2", "l1l2": "L1L2"}
_CONSTRAINTS = {"max_norm": "MaxNorm", "non_neg": "NonNeg", "unit_norm": "UnitNorm", "min_max_norm": "MinMaxNorm"}
_INITIALIZERS = {"zeros": "Zeros", "ones": "Ones", "constant": "Constant", "random_normal": "RandomNormal",
                 "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal",
                 "variance_scaling": "VarianceScaling", "glorot_uniform": "GlorotUniform",
                 "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform", "he_normal": "HeNormal",
                 "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal", "orthogonal": "Orthogonal",
                 "identity": "Identity"}
# Keras initializers that are VarianceScaling with fixed settings: numpynet's of the same name take no arguments
_FIXED_INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal")
_SCHEDULES = {"exponential_decay": "ExponentialDecay", "piecewise_constant_decay": "PiecewiseConstantDecay",
              "inverse_time_decay": "InverseTimeDecay", "cosine_decay": "CosineDecay"}
_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "nadam": "Nadam", "rmsprop": "RMSprop",
               "adagrad": "Adagrad"}
# numpynet loss -> Keras loss class (softmax_cross_entropy: see keras_loss)
_LOSSES = {"categorical_crossentropy": "CategoricalCrossentropy",
           "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
           "binary_crossentropy": "BinaryCrossentropy", "mse": "MeanSquaredError", "mae": "MeanAbsoluteError",
           "huber": "Huber"}
_CATEGORICAL = ("softmax_cross_entropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
# metric name (either side) -> Keras metric name
_METRICS = {"accuracy": "accuracy", "acc": "accuracy", "mse": "mse", "mae": "mae",
            "mean_squared_error": "mse", "mean_absolute_error": "mae"}

# the Keras -> numpynet direction reads the tables backwards, plus the other names Keras gives the same thing
_ACTIVATIONS_BACK = {v: k for k, v in _ACTIVATIONS.items()}
_LOSSES_BACK = {**{name: name for name in _LOSSES}, "mean_squared_error": "mse", "mean_absolute_error": "mae",
                "huber_loss": "huber"}       # loss names (strings and functions)
_METRICS_BACK = {**_METRICS, "categorical_accuracy": "accuracy", "sparse_categorical_accuracy": "accuracy",
                 "binary_accuracy": "accuracy"}


def _numpynet_name(table, obj, what):
    """The numpynet name of the Keras object ``obj``, whose class name is a value of ``table``."""
    back = {v: k for k, v in table.items()}
    kind = type(obj).__name__
    if kind not in back:
        raise _unsupported(what, kind, _supported(back))
    return back[kind]


def _np_from_config(registry_get, name, config):
    return registry_get({"name": name, "config": {k: _short(v) for k, v in config.items()}})


# ============================================================================================ activations

def _named_activation(fn, name, kwargs, spec):
    """A Keras activation with fixed keyword arguments, as a named function (Keras layers need a callable)."""
    def activation(x):
        return fn(x, **kwargs)
    activation.__name__ = name
    activation._numpynet_spec = spec   # lets from_keras recover the numpynet spec exactly
    return activation


def keras_activation(activation):
    """The Keras activation (a name, or a named function when arguments differ from Keras's defaults)."""
    keras = _keras()
    act = _activations.get(activation)
    name = act.spec_name
    if name not in _ACTIVATIONS:
        raise _no_keras_equivalent("activation", name, _ACTIVATIONS)
    kname = _ACTIVATIONS[name]
    fn = keras.activations.get(kname)
    params = inspect.signature(fn).parameters
    kwargs = {}
    for key, value in act.get_config().items():
        if key not in params:
            raise SpecError(f"keras_bridge: activation {name!r} argument {key!r} has no Keras equivalent")
        if params[key].default is inspect.Parameter.empty or value != params[key].default:
            kwargs[key] = value
    return kname if not kwargs else _named_activation(fn, kname, kwargs, str(act))


def _np_activation(fn):
    keras = _keras()
    if fn is None:
        return "linear"
    spec = getattr(fn, "_numpynet_spec", None)
    if spec is not None:
        return spec
    try:
        name = keras.activations.serialize(fn)
    except (ValueError, TypeError):
        name = None
    if isinstance(name, dict):
        name = name.get("config") if isinstance(name.get("config"), str) else None
    if not isinstance(name, str) or name not in _ACTIVATIONS_BACK:
        raise _unsupported("activation", getattr(fn, "__name__", repr(fn)), _supported(_ACTIVATIONS))
    return _ACTIVATIONS_BACK[name]


# ============================================================================================ weight options

def keras_regularizer(regularizer):
    """Keras regularizer for a numpynet one: ``l2(lambd=λ)`` → ``L2(λ/2)``, ``l2(l2=λ)`` → ``L2(λ)``, L1, L1L2."""
    keras = _keras()
    reg = _regularizers.get(regularizer)
    if reg is None:
        return None
    name = reg.spec_name
    if name not in _REGULARIZERS:
        raise _no_keras_equivalent("regularizer", name, _REGULARIZERS)
    cls = getattr(keras.regularizers, _REGULARIZERS[name])
    if name == "l2":
        factor = getattr(reg, "keras_l2", None)
        if factor is None:
            factor = reg.lambd / 2.0 if getattr(reg, "lambd", None) is not None else reg.l2
        return cls(float(factor))
    if name == "l1":
        return cls(float(reg.lambd if getattr(reg, "lambd", None) is not None else reg.l1))
    return cls(l1=float(reg.l1), l2=float(reg.l2))


def _np_regularizer(reg):
    """Keras ``L2(λ)`` → ``l2(l2=λ)`` (the Keras keyword keeps the Keras meaning), ``L1(λ)`` → ``l1(l1=λ)``,
    ``L1L2`` → ``l1l2``."""
    if reg is None:
        return None
    name = _numpynet_name(_REGULARIZERS, reg, "regularizer")
    return _np_from_config(_regularizers.get, name, {k: float(v) for k, v in reg.get_config().items()})


def keras_constraint(constraint):
    """Keras constraint with the same arguments (max_norm, non_neg, unit_norm, min_max_norm)."""
    keras = _keras()
    con = _constraints.get(constraint)
    if con is None:
        return None
    if con.spec_name not in _CONSTRAINTS:
        raise _no_keras_equivalent("constraint", con.spec_name, _CONSTRAINTS)
    cls = getattr(keras.constraints, _CONSTRAINTS[con.spec_name])
    return cls(**{k: _listify(v) for k, v in con.get_config().items()})


def _np_constraint(con):
    if con is None:
        return None
    return _np_from_config(_constraints.get, _numpynet_name(_CONSTRAINTS, con, "constraint"), con.get_config())


def keras_initializer(initializer):
    """Keras initializer with the same distribution (``std_normal(scale=s)`` → ``RandomNormal(0, s)``)."""
    keras = _keras()
    init = _initializers.get(initializer)
    config = dict(init.get_config())
    if init.spec_name == "std_normal":
        return keras.initializers.RandomNormal(mean=0.0, stddev=float(config.get("scale", 1.0)))
    if init.spec_name not in _INITIALIZERS:
        raise _no_keras_equivalent("initializer", init.spec_name, _INITIALIZERS)
    return getattr(keras.initializers, _INITIALIZERS[init.spec_name])(**config)


def _np_initializer(init):
    name = _numpynet_name(_INITIALIZERS, init, "initializer")
    config = {k: v for k, v in init.get_config().items() if k != "seed"}
    if name in _FIXED_INITIALIZERS:
        config = {}   # fixed VarianceScaling settings (Keras 3.15 adds input_axes/output_axes: defaults)
    return _np_from_config(_initializers.get, name, config)


# ============================================================================================ optimizers

def keras_schedule(schedule):
    """Keras learning-rate schedule with the same arguments."""
    keras = _keras()
    sched = _schedules.get(schedule)
    if sched.spec_name not in _SCHEDULES:
        raise _no_keras_equivalent("schedule", sched.spec_name, _SCHEDULES)
    config = {k: _listify(v) for k, v in sched.get_config().items()}
    return getattr(keras.optimizers.schedules, _SCHEDULES[sched.spec_name])(**config)


def _np_schedule(sched):
    name = _numpynet_name(_SCHEDULES, sched, "learning-rate schedule")
    return _np_from_config(_schedules.get, name, {k: v for k, v in sched.get_config().items() if k != "name"})


def _learning_rate(value):
    """A float, or the Keras schedule for a numpynet schedule (object or spec string)."""
    if isinstance(value, str) or isinstance(value, _schedules.LearningRateSchedule):
        return keras_schedule(value)
    return float(value)


def keras_optimizer(optimizer):
    """Keras optimizer with the same hyper-parameters (schedules, clipping and weight decay included)."""
    keras = _keras()
    opt = _optimizers.get(optimizer)
    if opt.spec_name not in _OPTIMIZERS:
        raise _no_keras_equivalent("optimizer", opt.spec_name, _OPTIMIZERS)
    cls = getattr(keras.optimizers, _OPTIMIZERS[opt.spec_name])
    accepted = set(inspect.signature(cls.__init__).parameters)
    kwargs = {}
    for key, value in opt.get_config().items():
        if key == "lr" or value is None:
            continue
        if key not in accepted:
            raise SpecError(f"keras_bridge: optimizer {opt.spec_name!r} argument {key!r} has no Keras equivalent")
        kwargs[key] = _learning_rate(value) if key == "learning_rate" else value
    return cls(**kwargs)


def _np_optimizer(opt):
    keras = _keras()
    name = _numpynet_name(_OPTIMIZERS, opt, "optimizer")
    config = dict(opt.get_config())
    config.pop("name", None)
    if config.pop("use_ema", False):
        raise _unsupported("optimizer option", "use_ema=True")
    config.pop("ema_momentum", None)
    config.pop("ema_overwrite_frequency", None)
    for key in ("loss_scale_factor", "gradient_accumulation_steps"):
        if config.pop(key, None) is not None:
            raise _unsupported("optimizer option", key)
    lr = getattr(opt, "_learning_rate", None)   # the schedule itself (opt.learning_rate is its current value)
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        config["learning_rate"] = str(_np_schedule(lr))
    else:
        config["learning_rate"] = _short(float(config["learning_rate"]))
    config = {k: _short(v) for k, v in config.items() if v is not None}
    return _optimizers.get({"name": name, "config": config})


# ============================================================================================ losses, metrics

def _default_labels(loss):
    return "one_hot" if loss.spec_name == "categorical_crossentropy" else "sparse"


def keras_loss(loss, labels=None, dtype=None):
    """Keras loss object for a numpynet loss.

    ``labels`` ("sparse" or "one_hot") chooses between the sparse and the one-hot Keras loss for the categorical
    losses (default: one-hot for ``categorical_crossentropy``, sparse otherwise). ``softmax_cross_entropy`` maps to
    the probability-input Keras loss: the Keras model's last layer must end in a softmax (:func:`to_keras` does
    that), and Keras then computes it from the logits. The other losses map by :data:`_LOSSES`, same arguments.
    """
    keras = _keras()
    loss = _losses.get(loss)
    name = loss.spec_name
    config = dict(loss.get_config())
    kw = {"dtype": dtype} if dtype is not None else {}
    if name in _CATEGORICAL:
        labels = labels or _default_labels(loss)
        if labels not in ("sparse", "one_hot"):
            raise SpecError(f"keras_loss: argument 'labels' must be 'sparse' or 'one_hot', got {labels!r}")
        from_logits = bool(config.get("from_logits", False)) and name != "softmax_cross_entropy"
        smoothing = float(config.get("label_smoothing", 0.0) or 0.0)
        if labels == "sparse":
            if smoothing:
                raise SpecError("keras_loss: Keras's sparse categorical cross-entropy has no label_smoothing; "
                                "use one-hot labels (labels='one_hot')")
            return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, **kw)
        return keras.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=smoothing, **kw)
    if name not in _LOSSES:
        raise _no_keras_equivalent("loss", name)
    return getattr(keras.losses, _LOSSES[name])(**config, **kw)   # binary_crossentropy, mse, mae, huber


def _np_loss(loss):
    if isinstance(loss, str) or callable(loss) and not hasattr(loss, "get_config"):
        name = loss if isinstance(loss, str) else getattr(loss, "__name__", repr(loss))
        if name.lower() not in _LOSSES_BACK:
            raise _unsupported("loss", name, _supported(_LOSSES_BACK))
        return _losses.get(_LOSSES_BACK[name.lower()])
    name = _numpynet_name(_LOSSES, loss, "loss")
    config = dict(loss.get_config())
    if config.get("reduction", "sum_over_batch_size") != "sum_over_batch_size":
        raise _unsupported("loss reduction", config["reduction"], "numpynet averages over the batch")
    if config.get("axis", -1) not in (-1, None):
        raise _unsupported("loss axis", config["axis"], "numpynet reduces the last axis")
    if config.get("ignore_class") is not None:
        raise _unsupported("loss option", "ignore_class")
    kwargs = {}
    if name in _CATEGORICAL or name == "binary_crossentropy":
        kwargs["from_logits"] = bool(config.get("from_logits", False))
        if name != "sparse_categorical_crossentropy" and config.get("label_smoothing"):
            kwargs["label_smoothing"] = _short(float(config["label_smoothing"]))
    if name == "huber":   # Keras 3 leaves delta out of Huber.get_config(); it lives in the wrapper's kwargs
        kwargs["delta"] = _short(float(getattr(loss, "_fn_kwargs", {}).get("delta", 1.0)))
    return _losses.get({"name": name, "config": kwargs})


def _keras_metric(name):
    key = str(name).lower()
    if key not in _METRICS:
        raise _no_keras_equivalent("metric", name, _METRICS)
    return _METRICS[key]


def _np_metrics(keras_model):
    """The numpynet metrics of a compiled Keras model (several outputs: the union of the per-output lists)."""
    try:
        config = keras_model.get_compile_config() or {}
    except (AttributeError, ValueError, TypeError):
        config = {}
    metrics = config.get("metrics") or []
    if isinstance(metrics, dict):
        metrics = list(metrics.values())
    flat = []   # several outputs: a list (or dict) of per-output lists; numpynet's metrics apply to every output
    for metric in metrics:
        flat.extend(metric if isinstance(metric, (list, tuple)) else [metric])
    out = []
    for metric in flat:
        if isinstance(metric, str):
            name = metric
        elif isinstance(metric, dict):
            name = (metric.get("config") or {}).get("name")
        else:
            name = getattr(metric, "name", None)
        if str(name).lower() not in _METRICS_BACK:
            raise _unsupported("metric", name)
        out.append(_METRICS_BACK[str(name).lower()])
    return list(dict.fromkeys(out))
