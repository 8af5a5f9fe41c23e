"""Bridge to Keras 3: the same model on both sides, and a table of how far apart their numbers are.

TensorFlow and Keras are optional (the ``keras`` extra): they are imported inside the functions below, never when
``numpynet`` is imported.

* :func:`to_keras` builds the equivalent compiled Keras model with the same weights: a ``keras.Sequential`` for
  a Sequential model, a functional ``keras.Model`` (same graph, same layer and weight order) for a graph model.
* :func:`from_keras` does the reverse for Sequential and functional Keras models made of supported layers.
* :func:`compare` runs both sides on one batch and tabulates the largest differences in outputs, loss, gradients
  and weights after one training step.

Conventions of the translation (numpynet → Keras):

========================================  =====================================================================
numpynet                                  Keras
========================================  =====================================================================
``l2(lambd=λ)`` (½·λ·Σw²)                 ``L2(λ/2)`` (Keras has no ½)
``l2(l2=λ)`` (λ·Σw²)                      ``L2(λ)``
``l1(lambd=λ)`` / ``l1(l1=λ)``            ``L1(λ)``
``l1l2(l1=a, l2=b)``                      ``L1L2(l1=a, l2=b)``
``softmax_cross_entropy`` (fused, the     last layer gets ``activation="softmax"`` (or an ``Activation("softmax")``
last layer outputs logits)                layer is appended when its activation is not linear) and the loss is
                                          ``SparseCategoricalCrossentropy()`` for integer labels or
                                          ``CategoricalCrossentropy()`` for one-hot labels. Keras then computes the
                                          loss from the logits (no clipping), exactly as numpynet; ``predict`` gives
                                          probabilities on both sides.
``categorical_crossentropy(...)``         ``CategoricalCrossentropy(...)`` (integer labels are one-hot encoded by
                                          :func:`compare`; ``labels="sparse"`` picks the sparse Keras loss)
``std_normal(scale=s)``                   ``RandomNormal(0, s)``
activation with non-default arguments     a small named function calling the Keras activation with them
(``leaky_relu(negative_slope=0.1)``)
========================================  =====================================================================

Keras 3 trains a float64 model only when ``keras.config.floatx()`` is ``"float64"`` (the loss and the penalties
are summed in floatx), so :func:`to_keras` sets Keras's floatx (and its global dtype policy, which Keras otherwise
keeps from the first layer ever built) to the model's dtype, with a warning when floatx has to change;
:func:`compare` restores both afterwards, and :func:`keras_dtype` is the same as a context manager.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import warnings

import numpy as np

from ..core import activations as _activations
from ..core import constraints as _constraints
from ..core import initializers as _initializers
from ..core import losses as _losses
from ..core import optimizers as _optimizers
from ..core import regularizers as _regularizers
from ..core import schedules as _schedules
from ..core.errors import SpecError

__all__ = ["to_keras", "from_keras", "compare", "Comparison", "configure_tensorflow", "keras_dtype",
           "keras_activation",
           "keras_regularizer", "keras_constraint", "keras_initializer", "keras_schedule", "keras_optimizer",
           "keras_loss", "keras_layer"]


_INSTALL_HINT = ("numpynet.keras_bridge needs TensorFlow and Keras 3: pip install 'numpynet[keras]' "
                 "(or pip install tensorflow-cpu)")


def _keras():
    """Import Keras lazily, with an actionable message when it is missing."""
    try:
        import keras
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return keras


def _tensorflow():
    """Import TensorFlow lazily, with the same message as :func:`_keras` (not a bare ModuleNotFoundError)."""
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return tf


def configure_tensorflow(device=None):
    """Choose where TensorFlow runs: ``"CPU"`` (default; GPUs hidden) or ``"GPU"`` (TF32 disabled, so float32
    matrix products are true float32 and comparable with NumPy). ``device`` defaults to ``$NUMPYNET_TF_DEVICE``.

    Call it before TensorFlow runs its first operation; afterwards the visible devices can no longer change and a
    RuntimeWarning says so. Returns the device actually used ("CPU" or "GPU").
    """
    tf = _tensorflow()
    device = (device or os.environ.get("NUMPYNET_TF_DEVICE") or "CPU").upper()
    if device not in ("CPU", "GPU"):
        raise SpecError(f"configure_tensorflow: device must be 'CPU' or 'GPU', got {device!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if device == "GPU":
        if not gpus:
            raise RuntimeError("NUMPYNET_TF_DEVICE=GPU but TensorFlow sees no GPU")
        # TF32 rounds float32 matmul inputs to 10 mantissa bits: far from NumPy's float32 results.
        tf.config.experimental.enable_tensor_float_32_execution(False)
        return "GPU"
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:   # TensorFlow already initialised its devices
        if tf.config.get_visible_devices("GPU"):
            warnings.warn("configure_tensorflow: TensorFlow was already initialised with a visible GPU; "
                          "it keeps running there (TF32 disabled)", RuntimeWarning, stacklevel=2)
            tf.config.experimental.enable_tensor_float_32_execution(False)
            return "GPU"
    return "CPU"


# ============================================================================================ numpynet -> Keras

# numpynet activation name -> Keras activation name (same formulas; see the parity tests)
_ACTIVATIONS = {"linear": "linear", "relu": "relu", "relu6": "relu6", "leaky_relu": "leaky_relu", "elu": "elu",
                "selu": "selu", "gelu": "gelu", "sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid",
                "tanh": "tanh", "softmax": "softmax", "softplus": "softplus", "softsign": "softsign",
                "silu": "silu", "exponential": "exponential"}
_ACTIVATIONS_BACK = {**{v: k for k, v in _ACTIVATIONS.items()}, "swish": "silu", "hard_swish": None}


def _named_activation(fn, name, kwargs, spec):
    """A Keras activation with fixed keyword arguments, as a named function (Keras layers need a callable)."""
    def activation(x):
        return fn(x, **kwargs)
    activation.__name__ = name
    activation._numpynet_spec = spec   # lets from_keras recover the numpynet spec exactly
    return activation


def _no_keras_equivalent(what, name, supported=()):
    """The SpecError of the numpynet → Keras direction (:func:`_unsupported` is the other direction's)."""
    listed = f"; supported: {', '.join(sorted(supported))}" if supported else ""
    return SpecError(f"keras_bridge: {what} {name!r} has no Keras equivalent{listed}")


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


def keras_regularizer(regularizer):
    """Keras regularizer for a numpynet one: ``l2(lambd=λ)`` → ``L2(λ/2)``, ``l2(l2=λ)`` → ``L2(λ)``, L1, L1L2."""
    keras = _keras()
    reg = _regularizers.get(regularizer)
    if reg is None:
        return None
    name = reg.spec_name
    if name == "l2":
        factor = getattr(reg, "keras_l2", None)
        if factor is None:
            factor = reg.lambd / 2.0 if getattr(reg, "lambd", None) is not None else reg.l2
        return keras.regularizers.L2(float(factor))
    if name == "l1":
        lam = reg.lambd if getattr(reg, "lambd", None) is not None else reg.l1
        return keras.regularizers.L1(float(lam))
    if name == "l1l2":
        return keras.regularizers.L1L2(l1=float(reg.l1), l2=float(reg.l2))
    raise _no_keras_equivalent("regularizer", name, ("l1", "l2", "l1l2"))


_CONSTRAINTS = {"max_norm": "MaxNorm", "non_neg": "NonNeg", "unit_norm": "UnitNorm", "min_max_norm": "MinMaxNorm"}


def _listify(value):
    return list(value) if isinstance(value, tuple) else value


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


_INITIALIZERS = {"zeros": "Zeros", "ones": "Ones", "constant": "Constant", "random_normal": "RandomNormal",
                 "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal",
                 "variance_scaling": "VarianceScaling", "glorot_uniform": "GlorotUniform",
                 "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform", "he_normal": "HeNormal",
                 "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal", "orthogonal": "Orthogonal",
                 "identity": "Identity"}


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


_SCHEDULES = {"exponential_decay": "ExponentialDecay", "piecewise_constant_decay": "PiecewiseConstantDecay",
              "inverse_time_decay": "InverseTimeDecay", "cosine_decay": "CosineDecay"}


def keras_schedule(schedule):
    """Keras learning-rate schedule with the same arguments."""
    keras = _keras()
    sched = _schedules.get(schedule)
    if sched.spec_name not in _SCHEDULES:
        raise _no_keras_equivalent("schedule", sched.spec_name, _SCHEDULES)
    config = {k: _listify(v) for k, v in sched.get_config().items()}
    return getattr(keras.optimizers.schedules, _SCHEDULES[sched.spec_name])(**config)


_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "nadam": "Nadam", "rmsprop": "RMSprop",
               "adagrad": "Adagrad"}


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


_CATEGORICAL = ("softmax_cross_entropy", "categorical_crossentropy", "sparse_categorical_crossentropy")


def _default_labels(loss):
    return "one_hot" if loss.spec_name == "categorical_crossentropy" else "sparse"


def keras_loss(loss, labels=None, dtype=None):
    """Keras loss object for a numpynet loss.

    ``labels`` ("sparse" or "one_hot") chooses between the sparse and the one-hot Keras loss for the categorical
    losses (default: one-hot for ``categorical_crossentropy``, sparse otherwise). ``softmax_cross_entropy`` maps to
    the probability-input Keras loss: the Keras model's last layer must end in a softmax (:func:`to_keras` does
    that), and Keras then computes it from the logits.
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
    if name == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(from_logits=bool(config.get("from_logits", False)),
                                               label_smoothing=float(config.get("label_smoothing", 0.0)), **kw)
    if name == "mse":
        return keras.losses.MeanSquaredError(**kw)
    if name == "mae":
        return keras.losses.MeanAbsoluteError(**kw)
    if name == "huber":
        return keras.losses.Huber(delta=float(config.get("delta", 1.0)), **kw)
    raise _no_keras_equivalent("loss", name)


_METRICS = {"accuracy": "accuracy", "acc": "accuracy", "mse": "mse", "mae": "mae",
            "mean_squared_error": "mse", "mean_absolute_error": "mae"}


def _keras_metric(name):
    key = str(name).lower()
    if key not in _METRICS:
        raise _no_keras_equivalent("metric", name, _METRICS)
    return _METRICS[key]


# numpynet layer class -> (Keras layer class, constructor arguments copied from same-named attributes)
_ACT_ARGS = ("activation",)
_REG_ARGS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
             "kernel_constraint", "bias_constraint")
_DEPTHWISE_ARGS = ("depthwise_initializer", "bias_initializer", "depthwise_regularizer", "bias_regularizer",
                   "depthwise_constraint", "bias_constraint")
_SEPARABLE_ARGS = _DEPTHWISE_ARGS + ("pointwise_initializer", "pointwise_regularizer", "pointwise_constraint")
_LAYERS = {
    "Dense": ("Dense", ("units", "activation", "use_bias") + _REG_ARGS),
    "Activation": ("Activation", _ACT_ARGS),
    "Flatten": ("Flatten", ()),
    "Conv2D": ("Conv2D", ("filters", "kernel_size", "strides", "padding", "dilation_rate", "activation",
                          "use_bias") + _REG_ARGS),
    "MaxPool2D": ("MaxPooling2D", ("pool_size", "strides", "padding")),
    "MaxPooling2D": ("MaxPooling2D", ("pool_size", "strides", "padding")),
    "AveragePooling2D": ("AveragePooling2D", ("pool_size", "strides", "padding")),
    "AvgPool2D": ("AveragePooling2D", ("pool_size", "strides", "padding")),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", ()),
    "BatchNormalization": ("BatchNormalization", ("axis", "momentum", "epsilon", "center", "scale",
                                                  "beta_initializer", "gamma_initializer",
                                                  "moving_mean_initializer", "moving_variance_initializer",
                                                  "beta_regularizer", "gamma_regularizer", "beta_constraint",
                                                  "gamma_constraint")),
    "Dropout": ("Dropout", ("rate", "noise_shape", "seed")),
    "AlphaDropout": ("AlphaDropout", ("rate", "noise_shape", "seed")),
    "GaussianNoise": ("GaussianNoise", ("stddev", "seed")),
    "GaussianDropout": ("GaussianDropout", ("rate", "seed")),
    # MobileNet layers
    "DepthwiseConv2D": ("DepthwiseConv2D", ("kernel_size", "strides", "padding", "depth_multiplier",
                                            "dilation_rate", "activation", "use_bias") + _DEPTHWISE_ARGS),
    "SeparableConv2D": ("SeparableConv2D", ("filters", "kernel_size", "strides", "padding", "depth_multiplier",
                                            "dilation_rate", "activation", "use_bias") + _SEPARABLE_ARGS),
    "ZeroPadding2D": ("ZeroPadding2D", ("padding",)),
    "ReLU": ("ReLU", ("max_value", "negative_slope", "threshold")),
    "Reshape": ("Reshape", ("target_shape",)),
    # merge layers (functional graphs): called on a list of tensors
    "Add": ("Add", ()),
    "Subtract": ("Subtract", ()),
    "Multiply": ("Multiply", ()),
    "Average": ("Average", ()),
    "Concatenate": ("Concatenate", ("axis",)),
}


def _convert_arg(key, value):
    if key == "activation":
        return keras_activation(value)
    if key.endswith("_initializer"):
        return keras_initializer(value)
    if key.endswith("_regularizer"):
        return keras_regularizer(value)
    if key.endswith("_constraint"):
        return keras_constraint(value)
    return _listify(value) if key == "noise_shape" else value


def keras_layer(layer, dtype=None, activation=None):
    """The Keras layer for a numpynet layer (same arguments; weights are copied by :func:`to_keras`).

    ``activation`` overrides the layer's activation (used to put a softmax on a fused output layer).
    """
    keras = _keras()
    kind = type(layer).__name__
    if kind not in _LAYERS:
        raise _no_keras_equivalent(f"{kind} layer", layer.name, _LAYERS)
    kname, args = _LAYERS[kind]
    kwargs = {}
    for key in args:
        if key == "activation" and activation is not None:
            kwargs[key] = activation
        elif hasattr(layer, key):   # else: an optional argument this numpynet class does not have
            kwargs[key] = _convert_arg(key, getattr(layer, key))
    if getattr(layer, "activity_regularizer", None) is not None:
        kwargs["activity_regularizer"] = keras_regularizer(layer.activity_regularizer)
    if not getattr(layer, "trainable", True):
        kwargs["trainable"] = False
    if layer.name:
        kwargs["name"] = layer.name
    if dtype is not None:
        kwargs["dtype"] = dtype
    return getattr(keras.layers, kname)(**kwargs)


def _is_linear(layer):
    act = getattr(layer, "activation", None)
    return act is not None and _activations.get(act).spec_name == "linear"


def _policy_state():
    """Keras's global dtype policy as stored (None until a layer is first built: then Keras derives it from
    floatx and *keeps* it, so ``set_floatx`` alone no longer changes the dtype of new layers)."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:   # pragma: no cover - private module moved: fall back to the public getter
        return _keras().config.dtype_policy()
    return global_state.get_global_attribute("dtype_policy", None)


def _set_policy_state(policy):
    try:
        from keras.src.backend.common import global_state
    except ImportError:   # pragma: no cover
        keras = _keras()
        keras.config.set_dtype_policy(policy if policy is not None else keras.config.floatx())
        return
    global_state.set_global_attribute("dtype_policy", policy)


def _use_dtype(dtype):
    """Keras floatx = ``dtype``, and the global dtype policy reset so that new layers follow it."""
    _keras().config.set_floatx(dtype)
    _set_policy_state(None)


@contextlib.contextmanager
def keras_dtype(dtype):
    """Context manager: Keras computes in ``dtype`` ("float32" or "float64") inside, as before outside.

    Sets ``keras.config.set_floatx`` and resets Keras's cached global dtype policy (which otherwise keeps the
    floatx of the first layer ever built); both are restored exactly on exit.

    >>> with keras_dtype("float64"):                   # doctest: +SKIP
    ...     kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])   # float64 weights
    """
    keras = _keras()
    old_floatx, old_policy = keras.config.floatx(), _policy_state()
    _use_dtype(dtype)
    try:
        yield dtype
    finally:
        keras.config.set_floatx(old_floatx)
        _set_policy_state(old_policy)


def _is_graph(model):
    """True for a functional :class:`~numpynet.Model`; a Sequential (DFN included) becomes a ``keras.Sequential``."""
    from ..core.model import Sequential
    return not isinstance(model, Sequential)


def _per_output(value, n, what):
    """One entry per output from a single value or a list of n."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise SpecError(f"keras_bridge: argument {what!r} has {len(value)} entries but the model has {n} "
                            f"outputs")
        return list(value)
    return [value] * n


def _build_keras(model, labels=None, compile=True):
    """(keras_model, keras_losses, softmax_added) — the work behind :func:`to_keras`. The last two are lists with
    one entry per output: the Keras loss object (None when not compiled), and whether the Keras output ends in the
    softmax that numpynet's fused ``softmax_cross_entropy`` applies inside the loss."""
    if not model.built:
        raise SpecError("to_keras: the model is not built yet; call model.build(X.shape) (or fit it) first")
    if _is_graph(model):
        return _build_keras_graph(model, labels, compile)
    keras = _keras()
    dtype = np.dtype(model.dtype).name
    layers = list(model.layers)
    softmax_added = model.loss is not None and model.loss.spec_name == "softmax_cross_entropy"
    klayers = []
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        override = "softmax" if (softmax_added and last and _is_linear(layer)) else None
        klayers.append(keras_layer(layer, dtype=dtype, activation=override))
    if softmax_added and not _is_linear(layers[-1]):
        klayers.append(keras.layers.Activation("softmax", dtype=dtype, name=f"{layers[-1].name}_softmax"))
    kmodel = keras.Sequential([keras.Input(shape=tuple(model.input_shape[1:]), dtype=dtype)] + klayers,
                              name=model.name)
    kmodel.set_weights(model.get_weights())
    kloss = None
    if compile and model.loss is not None:
        kloss = keras_loss(model.loss, labels=labels, dtype=dtype)
        kmodel.compile(optimizer=keras_optimizer(model.optimizer) if model.optimizer is not None else "sgd",
                       loss=kloss, metrics=[_keras_metric(m) for m in model.metrics])
    return kmodel, [kloss], [softmax_added]


def _graph_softmax_plan(model):
    """How the Keras twin of a graph model gets the softmax of the outputs trained with numpynet's fused
    ``softmax_cross_entropy`` (whose layer outputs logits): ``(overrides, appended)``.

    ``overrides``: output layers that take ``activation="softmax"`` themselves (linear, called once, their output
    read by no other layer). When some such output cannot, ``appended`` lists one Activation per output —
    "softmax" where wanted, "linear" elsewhere: an Activation after *every* output adds one to every layer's
    depth, so Keras's layer order (and so its get_weights() order) stays that of the numpynet model.
    """
    n = len(model._outputs)
    wanted = [loss is not None and loss.spec_name == "softmax_cross_entropy"
              for loss in (model._output_losses() if model.loss is not None else [None] * n)]
    read = {id(t) for node in model._nodes for t in node.inputs}
    calls = {}
    for node in model._nodes:
        calls[id(node.layer)] = calls.get(id(node.layer), 0) + 1
    owners = [id(t.node.layer) for t in model._outputs]

    def direct(i):
        tensor = model._outputs[i]
        layer = tensor.node.layer
        takes_activation = "activation" in _LAYERS.get(type(layer).__name__, ("", ()))[1]
        return (takes_activation and _is_linear(layer) and calls.get(id(layer)) == 1
                and owners.count(id(layer)) == 1 and id(tensor) not in read)

    if all(direct(i) for i in range(n) if wanted[i]):
        return {owners[i] for i in range(n) if wanted[i]}, None
    return set(), ["softmax" if w else "linear" for w in wanted]


def _check_weight_order(ours, theirs, direction):
    """SpecError unless the numpynet model ``ours`` and the Keras model ``theirs`` list the same layers' weights in
    the same order with the same shapes (so that ``set_weights(other.get_weights())`` is right both ways)."""
    mine = [(layer.name, key, tuple(value.shape)) for layer in ours.layers for key, value in layer.params.items()]
    keras_side = [(layer.name, tuple(w.shape)) for layer in theirs.layers
                  if type(layer).__name__ != "InputLayer" for w in layer.weights]
    if [(name, shape) for name, _, shape in mine] != keras_side:
        shown_ours = ", ".join(f"{name}/{key} {shape}" for name, key, shape in mine)
        shown_keras = ", ".join(f"{name} {shape}" for name, shape in keras_side)
        raise SpecError(f"{direction}: Keras orders the weights of this graph differently from numpynet, so their "
                        f"get_weights() lists would not line up. numpynet: [{shown_ours}]; Keras: [{shown_keras}]")
    flat = [tuple(w.shape) for w in theirs.weights]
    if flat != [shape for _, _, shape in mine]:   # model.weights is what get_weights/set_weights use
        raise SpecError(f"{direction}: the Keras model's weights {flat} do not match numpynet's "
                        f"{[shape for _, _, shape in mine]}")


def _build_keras_graph(model, labels, compile):
    """The functional ``keras.Model`` of a graph model: a ``keras.Input`` per input, then every node's layer
    (converted once, so that a layer called twice stays one shared Keras layer) called on the converted tensors
    in execution order."""
    keras = _keras()
    dtype = np.dtype(model.dtype).name
    overrides, appended = _graph_softmax_plan(model)
    tensors = {id(t): keras.Input(shape=tuple(t.shape[1:]), dtype=dtype, name=t.node.layer.name)
               for t in model._inputs}
    converted = {}
    for node in model._nodes:
        layer = node.layer
        klayer = converted.get(id(layer))
        if klayer is None:
            klayer = converted[id(layer)] = keras_layer(
                layer, dtype=dtype, activation="softmax" if id(layer) in overrides else None)
        args = [tensors[id(t)] for t in node.inputs]
        tensors[id(node.output)] = klayer(args if layer.multi_input else args[0])
    outputs = [tensors[id(t)] for t in model._outputs]
    if appended is not None:
        taken = {t.node.layer.name for t in model._inputs} | {layer.name for layer in model.layers}
        for i, (tensor, act) in enumerate(zip(model._outputs, appended)):
            name = _unique_layer_name(f"{tensor.node.layer.name}_{act}", taken)
            taken.add(name)
            outputs[i] = keras.layers.Activation(act, dtype=dtype, name=name)(outputs[i])
    inputs = [tensors[id(t)] for t in model._inputs]
    kmodel = keras.Model(inputs if model._multi_in else inputs[0], outputs if model._multi_out else outputs[0],
                         name=model.name)
    _check_weight_order(model, kmodel, "to_keras")
    kmodel.set_weights(model.get_weights())
    n = len(model._outputs)
    softmax_added = [id(t.node.layer) in overrides or (appended is not None and appended[i] == "softmax")
                     for i, t in enumerate(model._outputs)]
    klosses = [None] * n
    if compile and model.loss is not None:
        klosses = [keras_loss(loss, labels=lab, dtype=dtype)
                   for loss, lab in zip(model._output_losses(), _per_output(labels, n, "labels"))]
        metrics = [_keras_metric(m) for m in model.metrics]
        kmodel.compile(optimizer=keras_optimizer(model.optimizer) if model.optimizer is not None else "sgd",
                       loss=klosses if model._multi_out else klosses[0],
                       metrics=[list(metrics) for _ in range(n)] if model._multi_out else metrics)
    return kmodel, klosses, softmax_added


def _unique_layer_name(base, taken):
    if base not in taken:
        return base
    return next(f"{base}_{i}" for i in range(1, 10**6) if f"{base}_{i}" not in taken)


def to_keras(model, labels=None, compile=True):
    """An equivalent Keras model with the same weights, compiled with the same optimizer and loss(es).

    A ``Sequential`` (or DFN) becomes a ``keras.Sequential``; a functional :class:`~numpynet.Model` becomes a
    functional ``keras.Model`` with the same graph: a ``keras.Input`` per input (same names), each layer converted
    once (a layer called twice stays one shared Keras layer) and called in execution order, merge layers as
    ``keras.layers.Add`` / ``Subtract`` / ``Multiply`` / ``Average`` / ``Concatenate(axis)``. Keras orders a
    graph's layers (and its get_weights()) as numpynet does; that is checked, a SpecError says so otherwise.

    ``labels``: "sparse" (integer labels) or "one_hot" — which Keras cross-entropy to use for the categorical
    losses (default: sparse, except one-hot for ``categorical_crossentropy``); a list gives one per output. The
    model must be built. Keras's floatx is set to the model's dtype (a warning says so when it changes).

    Outputs trained with the fused ``softmax_cross_entropy`` end in a softmax on the Keras side: the output layer
    takes ``activation="softmax"`` when it is linear (and, in a graph, called once with its output read by no
    other layer), otherwise an ``Activation("softmax")`` layer follows it (in a graph with several outputs, then
    an Activation — "linear" where no softmax is wanted — follows every output, which keeps the layer order).

    >>> kmodel = to_keras(model)                       # doctest: +SKIP
    >>> np.abs(kmodel.predict(X) - model.predict(X)).max()    # doctest: +SKIP
    1.1e-16

    One difference remains by construction: with ``softmax_cross_entropy`` numpynet applies an activity
    regularizer of the last layer to its logits, Keras (whose last layer now ends in the softmax) to the
    probabilities.
    """
    keras = _keras()
    dtype = np.dtype(model.dtype).name
    if keras.config.floatx() != dtype:
        warnings.warn(f"to_keras: setting keras.config.set_floatx({dtype!r}) to match the model (Keras trains "
                      f"{dtype} models only under that floatx)", UserWarning, stacklevel=2)
    _use_dtype(dtype)
    return _build_keras(model, labels=labels, compile=compile)[0]


# ============================================================================================ Keras -> numpynet

def _short(value):
    """Floats that Keras stored through float32 (0.0010000000474974513) back to their short form (0.001)."""
    if isinstance(value, float) and value == float(np.float32(value)):
        return float(str(np.float32(value)))
    if isinstance(value, list):
        return tuple(_short(v) for v in value)
    return value


def _unsupported(what, name, detail=""):
    return SpecError(f"from_keras: {what} {name!r} is not supported by numpynet{': ' + detail if detail else ''}")


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
    if not isinstance(name, str) or _ACTIVATIONS_BACK.get(name) is None:
        raise _unsupported("activation", getattr(fn, "__name__", repr(fn)),
                           f"supported: {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS_BACK[name]


def _np_regularizer(reg):
    if reg is None:
        return None
    kind = type(reg).__name__
    if kind == "L2":
        return _regularizers.get(f"l2(l2={_short(float(reg.l2))!r})")
    if kind == "L1":
        return _regularizers.get(f"l1(l1={_short(float(reg.l1))!r})")
    if kind == "L1L2":
        return _regularizers.get(f"l1l2(l1={_short(float(reg.l1))!r}, l2={_short(float(reg.l2))!r})")
    raise _unsupported("regularizer", kind, "supported: L1, L2, L1L2")


def _np_from_config(registry_get, name, config):
    return registry_get({"name": name, "config": {k: _short(v) for k, v in config.items()}})


def _np_constraint(con):
    if con is None:
        return None
    kind = type(con).__name__
    back = {v: k for k, v in _CONSTRAINTS.items()}
    if kind not in back:
        raise _unsupported("constraint", kind, f"supported: {', '.join(sorted(back))}")
    return _np_from_config(_constraints.get, back[kind], con.get_config())


def _np_initializer(init):
    kind = type(init).__name__
    back = {v: k for k, v in _INITIALIZERS.items()}
    if kind not in back:
        raise _unsupported("initializer", kind, f"supported: {', '.join(sorted(back))}")
    config = {k: v for k, v in init.get_config().items() if k != "seed"}
    if kind in ("GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal"):
        config = {}   # fixed VarianceScaling settings (Keras 3.15 adds input_axes/output_axes: defaults)
    return _np_from_config(_initializers.get, back[kind], config)


def _np_schedule(sched):
    kind = type(sched).__name__
    back = {v: k for k, v in _SCHEDULES.items()}
    if kind not in back:
        raise _unsupported("learning-rate schedule", kind, f"supported: {', '.join(sorted(back))}")
    config = {k: v for k, v in sched.get_config().items() if k != "name"}
    return _np_from_config(_schedules.get, back[kind], config)


def _np_optimizer(opt):
    keras = _keras()
    kind = type(opt).__name__
    back = {v: k for k, v in _OPTIMIZERS.items()}
    if kind not in back:
        raise _unsupported("optimizer", kind, f"supported: {', '.join(sorted(back))}")
    config = dict(opt.get_config())
    config.pop("name", None)
    if config.pop("use_ema", False):
        raise _unsupported("optimizer option", "use_ema=True")
    config.pop("ema_momentum", None)
    config.pop("ema_overwrite_frequency", None)
    for key in ("loss_scale_factor", "gradient_accumulation_steps"):
        if config.pop(key, None) is not None:
            raise _unsupported("optimizer option", key)
    lr = getattr(opt, "_learning_rate", None)
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        config["learning_rate"] = str(_np_schedule(lr))
    else:
        config["learning_rate"] = _short(float(config["learning_rate"]))
    config = {k: _short(v) for k, v in config.items() if v is not None}
    return _optimizers.get({"name": back[kind], "config": config})


_LOSSES_BACK = {"categorical_crossentropy": "categorical_crossentropy",
                "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
                "binary_crossentropy": "binary_crossentropy", "mse": "mse", "mean_squared_error": "mse",
                "mae": "mae", "mean_absolute_error": "mae", "huber": "huber", "huber_loss": "huber"}
_LOSS_CLASSES = {"CategoricalCrossentropy": "categorical_crossentropy",
                 "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
                 "BinaryCrossentropy": "binary_crossentropy", "MeanSquaredError": "mse",
                 "MeanAbsoluteError": "mae", "Huber": "huber"}


def _np_loss(loss):
    if isinstance(loss, str) or callable(loss) and not hasattr(loss, "get_config"):
        name = loss if isinstance(loss, str) else getattr(loss, "__name__", repr(loss))
        if name.lower() not in _LOSSES_BACK:
            raise _unsupported("loss", name, f"supported: {', '.join(sorted(_LOSSES_BACK))}")
        return _losses.get(_LOSSES_BACK[name.lower()])
    kind = type(loss).__name__
    if kind not in _LOSS_CLASSES:
        raise _unsupported("loss", kind, f"supported: {', '.join(sorted(_LOSS_CLASSES))}")
    config = dict(loss.get_config())
    if config.get("reduction", "sum_over_batch_size") != "sum_over_batch_size":
        raise _unsupported("loss reduction", config["reduction"], "numpynet averages over the batch")
    if config.get("axis", -1) not in (-1, None):
        raise _unsupported("loss axis", config["axis"], "numpynet reduces the last axis")
    if config.get("ignore_class") is not None:
        raise _unsupported("loss option", "ignore_class")
    name = _LOSS_CLASSES[kind]
    kwargs = {}
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy"):
        kwargs["from_logits"] = bool(config.get("from_logits", False))
        if name != "sparse_categorical_crossentropy" and config.get("label_smoothing"):
            kwargs["label_smoothing"] = _short(float(config["label_smoothing"]))
    if name == "huber":   # Keras 3 leaves delta out of Huber.get_config(); it lives in the wrapper's kwargs
        kwargs["delta"] = _short(float(getattr(loss, "_fn_kwargs", {}).get("delta", 1.0)))
    return _losses.get({"name": name, "config": kwargs})


_METRICS_BACK = {"accuracy": "accuracy", "acc": "accuracy", "categorical_accuracy": "accuracy",
                 "sparse_categorical_accuracy": "accuracy", "binary_accuracy": "accuracy"}


def _np_metrics(keras_model):
    try:
        config = keras_model.get_compile_config() or {}
    except (AttributeError, ValueError, TypeError):
        config = {}
    out = []
    metrics = config.get("metrics") or []
    if isinstance(metrics, dict):
        metrics = list(metrics.values())
    flat = []   # several outputs: a list (or dict) of per-output lists; numpynet's metrics apply to every output
    for metric in metrics:
        flat.extend(metric if isinstance(metric, (list, tuple)) else [metric])
    for metric in flat:
        if isinstance(metric, str):
            name = metric
        elif isinstance(metric, dict):
            name = (metric.get("config") or {}).get("name")
        else:
            name = getattr(metric, "name", None)
        key = str(name).lower()
        if key in _METRICS_BACK:
            out.append(_METRICS_BACK[key])
        elif key in ("mse", "mae", "mean_squared_error", "mean_absolute_error"):
            out.append(_METRICS[key])
        else:
            raise _unsupported("metric", name)
    return list(dict.fromkeys(out))


def _check_channels_last(layer, config):
    if config.get("data_format") not in (None, "channels_last"):
        raise _unsupported(f"option data_format={config['data_format']!r} of layer", layer.name,
                           "numpynet images are NHWC (channels_last)")


def _np_layer(layer):
    """numpynet layer for one Keras layer (weights are copied by :func:`from_keras`)."""
    from ..core import layers as _nl
    kind = type(layer).__name__
    config = layer.get_config()
    _check_channels_last(layer, config)
    kwargs = {"name": layer.name}
    if not layer.trainable:
        kwargs["trainable"] = False
    if getattr(layer, "activity_regularizer", None) is not None:
        kwargs["activity_regularizer"] = _np_regularizer(layer.activity_regularizer)

    def objects(keys):
        for key in keys:
            if not hasattr(layer, key):
                continue
            value = getattr(layer, key)
            if key == "activation":
                kwargs[key] = _np_activation(value)
            elif key.endswith("_initializer"):
                kwargs[key] = _np_initializer(value)
            elif key.endswith("_regularizer"):
                kwargs[key] = _np_regularizer(value)
            elif key.endswith("_constraint"):
                kwargs[key] = _np_constraint(value)

    if kind == "Dense":
        if config.get("lora_rank"):
            raise _unsupported("option lora_rank of layer", layer.name)
        kwargs.update(units=config["units"], use_bias=config["use_bias"])
        objects(("activation",) + _REG_ARGS)
        target = "Dense"
    elif kind == "Activation":
        kwargs["activation"] = _np_activation(layer.activation)
        target = "Activation"
    elif kind == "Flatten":
        target = "Flatten"
    elif kind == "Conv2D":
        if config.get("groups", 1) != 1:
            raise _unsupported("option groups of layer", layer.name)
        if config["padding"] not in ("valid", "same"):
            raise _unsupported(f"padding {config['padding']!r} of layer", layer.name)
        kwargs.update(filters=config["filters"], kernel_size=tuple(config["kernel_size"]),
                      strides=tuple(config["strides"]), padding=config["padding"],
                      dilation_rate=tuple(config["dilation_rate"]), use_bias=config["use_bias"])
        objects(("activation",) + _REG_ARGS)
        target = "Conv2D"
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        kwargs.update(pool_size=tuple(config["pool_size"]),
                      strides=None if config.get("strides") is None else tuple(config["strides"]),
                      padding=config["padding"])
        target = "MaxPool2D" if kind == "MaxPooling2D" else "AveragePooling2D"
    elif kind == "GlobalAveragePooling2D":
        if config.get("keepdims"):
            raise _unsupported("option keepdims=True of layer", layer.name)
        target = "GlobalAveragePooling2D"
    elif kind == "BatchNormalization":
        for key in ("renorm", "synchronized"):
            if config.get(key):
                raise _unsupported(f"option {key}=True of layer", layer.name)
        axis = config["axis"]
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        kwargs.update(axis=axis, momentum=_short(float(config["momentum"])),
                      epsilon=_short(float(config["epsilon"])), center=config["center"], scale=config["scale"])
        objects(("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                       "moving_variance_initializer", "beta_regularizer", "gamma_regularizer", "beta_constraint",
                       "gamma_constraint"))
        target = "BatchNormalization"
    elif kind in ("Dropout", "AlphaDropout"):
        if config.get("noise_shape") is not None:
            raise _unsupported("option noise_shape of layer", layer.name)
        kwargs.update(rate=_short(float(config["rate"])), seed=config.get("seed"))
        target = kind
    elif kind == "GaussianNoise":
        kwargs.update(stddev=_short(float(config["stddev"])), seed=config.get("seed"))
        target = kind
    elif kind == "GaussianDropout":
        kwargs.update(rate=_short(float(config["rate"])), seed=config.get("seed"))
        target = kind
    elif kind in ("DepthwiseConv2D", "SeparableConv2D"):
        if config["padding"] not in ("valid", "same"):
            raise _unsupported(f"padding {config['padding']!r} of layer", layer.name)
        if kind == "SeparableConv2D":
            kwargs["filters"] = config["filters"]
        kwargs.update(kernel_size=tuple(config["kernel_size"]), strides=tuple(config["strides"]),
                      padding=config["padding"], depth_multiplier=config["depth_multiplier"],
                      dilation_rate=tuple(config["dilation_rate"]), use_bias=config["use_bias"])
        objects(("activation",) + (_SEPARABLE_ARGS if kind == "SeparableConv2D" else _DEPTHWISE_ARGS))
        target = kind
    elif kind == "ZeroPadding2D":
        kwargs.pop("trainable", None)    # no weights: nothing to freeze
        kwargs["padding"] = tuple(tuple(pair) for pair in config["padding"])
        target = kind
    elif kind == "ReLU":
        kwargs.pop("trainable", None)
        max_value = config.get("max_value")
        kwargs.update(max_value=None if max_value is None else _short(float(max_value)),
                      negative_slope=_short(float(config["negative_slope"])),
                      threshold=_short(float(config["threshold"])))
        target = kind
    elif kind == "Reshape":
        kwargs.pop("trainable", None)
        kwargs["target_shape"] = tuple(config["target_shape"])
        target = kind
    elif kind in ("Add", "Subtract", "Multiply", "Average"):
        kwargs.pop("trainable", None)    # no weights: nothing to freeze
        target = kind
    elif kind == "Concatenate":
        kwargs.pop("trainable", None)
        kwargs["axis"] = int(config["axis"])
        target = kind
    else:
        raise _unsupported("layer", f"{layer.name} ({kind})",
                           "supported: Dense, Activation, Flatten, Conv2D, MaxPooling2D, AveragePooling2D, "
                           "GlobalAveragePooling2D, BatchNormalization, Dropout, AlphaDropout, GaussianNoise, "
                           "GaussianDropout, Add, Subtract, Multiply, Average, Concatenate, DepthwiseConv2D, "
                           "SeparableConv2D, ZeroPadding2D, ReLU, Reshape")
    cls = getattr(_nl, target, None)
    if cls is None:
        raise _unsupported("layer", f"{layer.name} ({kind})", f"numpynet.layers.{target} is not available")
    params = inspect.signature(cls.__init__).parameters
    missing = [k for k, v in kwargs.items() if k not in params and v is not None]
    if missing:
        raise _unsupported(f"option(s) {', '.join(missing)} of layer", f"{layer.name} ({kind})")
    return cls(**{k: v for k, v in kwargs.items() if k in params})


def _is_functional(keras_model):
    """True for a functional ``keras.Model`` (built from ``keras.Input`` tensors), False for anything else."""
    try:
        from keras.src.models.functional import Functional
    except ImportError:   # pragma: no cover - private module moved
        return hasattr(keras_model, "_nodes_by_depth") and hasattr(keras_model, "outputs")
    return isinstance(keras_model, Functional)


def _keras_dtype_of(keras_model):
    keras = _keras()
    weights = keras_model.get_weights()
    dtype = weights[0].dtype if weights else np.dtype(keras.config.floatx())
    if dtype not in (np.float32, np.float64):
        raise _unsupported("dtype", str(dtype), "numpynet models are float32 or float64")
    return dtype, weights


def from_keras(keras_model, seed=None):
    """The numpynet model equivalent to a built Keras model, with the same weights, and compiled with the
    converted optimizer, loss(es) and metrics when the Keras model is compiled.

    A ``keras.Sequential`` becomes a :class:`~numpynet.Sequential`; a functional ``keras.Model`` becomes a
    functional :class:`~numpynet.Model` with the same graph (same input and layer names; a Keras layer called
    several times becomes one shared numpynet layer). Keras ``L2(λ)`` becomes ``l2(l2=λ)`` (same meaning).
    Unsupported layers (or operations such as ``keras.ops.add`` called on symbolic tensors, or nested models),
    options, activations, regularizers, losses or optimizers raise a :class:`~numpynet.errors.SpecError` naming
    them.
    """
    keras = _keras()
    from ..core.model import Sequential
    if not isinstance(keras_model, keras.Sequential):
        if _is_functional(keras_model):
            return _from_keras_graph(keras_model, seed)
        raise SpecError(f"from_keras: only keras.Sequential and functional keras.Model models (built from "
                        f"keras.Input tensors) are supported, got {type(keras_model).__name__}")
    if not keras_model.built:
        raise SpecError("from_keras: the Keras model is not built; start it with keras.Input(shape) or call it once")
    dtype, weights = _keras_dtype_of(keras_model)
    model = Sequential([_np_layer(layer) for layer in keras_model.layers], seed=seed, dtype=dtype,
                       name=keras_model.name)
    model.build((None,) + tuple(keras_model.input_shape[1:]))
    model.set_weights(weights)
    if getattr(keras_model, "compiled", False) and keras_model.loss is not None:
        model.compile(optimizer=_np_optimizer(keras_model.optimizer), loss=_np_loss(keras_model.loss),
                      metrics=_np_metrics(keras_model))
    return model


def _keras_call_node(tensor):
    """(operation, node) of the Keras call that produced the symbolic ``tensor``."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        raise _unsupported("tensor", getattr(tensor, "name", repr(tensor)), "it has no Keras history")
    op, node_index, tensor_index = history
    node = op._inbound_nodes[node_index]
    if tensor_index != 0 or len(node.output_tensors) != 1:
        raise _unsupported("multi-output operation", op.name, "numpynet layers have one output")
    return op, node


def _from_keras_graph(keras_model, seed):
    """Replay a functional Keras model's calls on numpynet layers: a depth-first walk back from the outputs that
    converts every tensor after the tensors it is computed from."""
    keras = _keras()
    from ..core.graph import Input
    from ..core.model import Model
    dtype, weights = _keras_dtype_of(keras_model)
    kinputs, koutputs = list(keras_model.inputs), list(keras_model.outputs)
    tensors = {}   # id(Keras tensor) -> numpynet SymbolicTensor
    for kt in kinputs:
        tensors[id(kt)] = Input(tuple(kt.shape[1:]), name=kt._keras_history.operation.name)
    converted = {}   # id(Keras layer) -> numpynet layer
    for out in koutputs:
        stack = [out]
        while stack:
            kt = stack[-1]
            if id(kt) in tensors:
                stack.pop()
                continue
            op, node = _keras_call_node(kt)
            if type(op).__name__ == "InputLayer":
                raise SpecError(f"from_keras: the outputs depend on input {op.name!r}, which is not among the "
                                f"model's inputs")
            pending = [t for t in node.input_tensors if id(t) not in tensors]
            if pending:
                stack.extend(reversed(pending))
                continue
            stack.pop()
            layer = converted.get(id(op))
            if layer is None:
                if isinstance(op, keras.Model):
                    raise _unsupported("nested model", op.name, "call its layers on the tensors instead")
                if not isinstance(op, keras.layers.Layer):
                    raise _unsupported("operation", f"{op.name} ({type(op).__name__})",
                                       "only layers can be converted (keras.ops functions have no numpynet "
                                       "layer); use the equivalent layer, e.g. keras.layers.Add()")
                layer = converted[id(op)] = _np_layer(op)
            extra = {k: v for k, v in node.arguments.kwargs.items() if v is not None}
            if extra:
                raise _unsupported(f"call argument(s) {', '.join(sorted(extra))} of layer", op.name)
            args = [tensors[id(t)] for t in node.input_tensors]
            if not layer.multi_input and len(args) != 1:
                raise _unsupported(f"call of layer {op.name!r} on", f"{len(args)} tensors")
            tensors[id(kt)] = layer(args if layer.multi_input else args[0])
    multi_in = isinstance(getattr(keras_model, "_inputs_struct", None), (list, tuple, dict)) or len(kinputs) > 1
    multi_out = isinstance(getattr(keras_model, "_outputs_struct", None), (list, tuple, dict)) or len(koutputs) > 1
    inputs = [tensors[id(t)] for t in kinputs]
    outputs = [tensors[id(t)] for t in koutputs]
    model = Model(inputs if multi_in else inputs[0], outputs if multi_out else outputs[0], seed=seed, dtype=dtype,
                  name=keras_model.name)
    _check_weight_order(model, keras_model, "from_keras")
    model.set_weights(weights)
    if getattr(keras_model, "compiled", False) and keras_model.loss is not None:
        loss = keras_model.loss
        if isinstance(loss, dict):
            names = [t._keras_history.operation.name for t in koutputs]
            missing = [name for name in names if name not in loss]
            if missing:
                raise _unsupported("loss dict without output(s)", ", ".join(missing))
            loss = [loss[name] for name in names]
        loss = [_np_loss(item) for item in loss] if isinstance(loss, (list, tuple)) else _np_loss(loss)
        model.compile(optimizer=_np_optimizer(keras_model.optimizer), loss=loss, metrics=_np_metrics(keras_model))
    return model


# ============================================================================================ compare

class Comparison:
    """The table :func:`compare` returns: one row per quantity with the largest absolute difference
    ``max|a − b|`` and the relative one ``max|a − b| / max|b|`` (b = Keras).

    ``rows`` is a list of dicts (``name``, ``shape``, ``max_abs``, ``max_rel``, ``note``); ``worst_abs`` and
    ``worst_rel`` are the maxima over the comparable rows; ``comparison["loss"]`` gives one row by name.
    """

    def __init__(self, rows, dtype):
        self.rows = rows
        self.dtype = dtype

    def _comparable(self):
        return [r for r in self.rows if not r["note"]]

    @property
    def worst_abs(self):
        return max((r["max_abs"] for r in self._comparable()), default=0.0)

    @property
    def worst_rel(self):
        return max((r["max_rel"] for r in self._comparable()), default=0.0)

    def __getitem__(self, name):
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(name)

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def format(self):
        header = ("quantity", "shape", "max |Δ|", "max rel Δ")
        body = [(r["name"], str(r["shape"]), f"{r['max_abs']:.2e}", f"{r['max_rel']:.2e}"
                 + (f"  ({r['note']})" if r["note"] else "")) for r in self.rows]
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        line = "  ".join("-" * w for w in widths)
        out = [f"numpynet vs Keras ({self.dtype})", line,
               "  ".join(h.ljust(w) for h, w in zip(header, widths)), line]
        out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
        out += [line, f"worst: max |Δ| = {self.worst_abs:.2e}, max rel Δ = {self.worst_rel:.2e}"]
        return "\n".join(out)

    __str__ = format

    def __repr__(self):
        return f"<Comparison {len(self.rows)} rows, worst rel {self.worst_rel:.2e} ({self.dtype})>"


def _row(name, ours, theirs, note=""):
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    peak = max(scale, float(np.max(np.abs(a))) if a.size else 0.0)
    return {"name": name, "shape": tuple(a.shape), "max_abs": diff, "max_rel": diff / scale if scale > 0 else diff,
            "note": note, "_peak": peak}


#: an array whose values, on both sides, stay below this fraction of the largest array of its kind is zero up to
#: rounding (see :func:`_mark_rounding_zeros`)
ROUNDING_LEVEL = 1e-10


def _mark_rounding_zeros(rows):
    """Note (and so leave out of the worst values) the gradient and after-step rows of arrays that are zero in
    exact arithmetic and rounding noise in both computations — the gradient of a bias or a ``beta`` followed by a
    training-mode BatchNormalization, which subtracts it again; a relative difference of two noises means
    nothing. A row qualifies when both sides stay below :data:`ROUNDING_LEVEL` times the largest array among the
    rows of its kind."""
    for prefix in ("grad ", "after step "):
        group = [r for r in rows if r["name"].startswith(prefix)]
        top = max((r["_peak"] for r in group), default=0.0)
        for r in group:
            if not r["note"] and 0.0 < r["_peak"] <= ROUNDING_LEVEL * top:
                r["note"] = "zero up to rounding"
    for r in rows:
        r.pop("_peak", None)


def _one_hot(y, n):
    out = np.zeros((len(y), n))
    out[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = 1.0
    return out


def compare(model, X, y, print_table=True):
    """Run the numpynet model and its Keras twin (:func:`to_keras`) on one batch and tabulate the differences.

    Rows: the outputs (``predict``; one row per output of a graph model), the total loss (sum over the outputs of
    the mean data loss, + penalties, inference mode), the gradient of every weight, and every weight after one
    ``train_on_batch`` step from a fresh optimizer state on both sides. For a model with several inputs or
    outputs, ``X`` and ``y`` are lists (or dicts keyed by input/output layer name), as in ``fit``.
    The numpynet model is not changed (the step runs on a copy); Keras's floatx is restored afterwards. With
    Dropout-like layers the training step draws different random masks on each side, so those rows are marked and
    left out of the worst values; so are the rows of arrays that are zero up to rounding on both sides (a bias or
    BatchNormalization ``beta`` feeding a training-mode BatchNormalization has a zero gradient: both sides hold
    ~1e-17 noise there, see :data:`ROUNDING_LEVEL`).

    What to expect: float64 agrees to ~1e-15 when the hyper-parameters are exactly representable in float32;
    Keras casts Python-float hyper-parameters such as Adam's β2 = 0.999 through float32 even for float64
    weights, which shows up as ~1e-6 relative differences after the step. float32 agrees to ~1e-6.

    >>> import numpynet as nn
    >>> from numpynet.keras_bridge import compare
    >>> (X, y), _ = nn.datasets.load_digits(dtype="float64")
    >>> model = nn.DFN(hidden_dims=(32,), n_classes=10, activation="tanh", regularizer="l2(lambd=0.01)",
    ...                optimizer="sgd(lr=0.125, momentum=0.5)", seed=0, dtype="float64")
    >>> table = compare(model, X[:64], y[:64])          # doctest: +SKIP
    numpynet vs Keras (float64)
    --------------------  --------  --------  ---------
    quantity              shape     max |Δ|   max rel Δ
    --------------------  --------  --------  ---------
    output                (64, 10)  1.11e-16  4.76e-16
    loss                  ()        6.59e-09  2.40e-09
    grad dense/W          (64, 32)  5.59e-11  8.23e-10
    grad dense/b          (32,)     2.08e-17  4.72e-16
    grad dense_1/W        (32, 10)  8.42e-11  1.08e-09
    grad dense_1/b        (10,)     1.39e-17  1.65e-16
    after step dense/W    (64, 32)  6.98e-12  2.76e-11
    after step dense/b    (32,)     2.60e-18  4.72e-16
    after step dense_1/W  (32, 10)  1.05e-11  2.78e-11
    after step dense_1/b  (10,)     1.73e-18  1.65e-16
    --------------------  --------  --------  ---------
    worst: max |Δ| = 6.59e-09, max rel Δ = 2.40e-09
    >>> table.worst_rel < 1e-8                          # doctest: +SKIP
    True

    (The 1e-9 differences come from Keras's L2(0.005): 0.005 is not a float32 number and Keras rounds it to
    float32 before using it; with ``l2(lambd=0.015625)`` every row is at 1e-15.)

    Returns a :class:`Comparison`.
    """
    tf = _tensorflow()
    if model.loss is None or model.optimizer is None:
        raise SpecError("compare: the model is not compiled; call model.compile(optimizer=..., loss=...) first")
    graph = _is_graph(model)
    if not graph:
        X = np.asarray(X)
        if not model.built:
            model.build(X.shape)
    dtype = np.dtype(model.dtype).name
    n_out = len(model._outputs)
    xs = [np.ascontiguousarray(x, dtype=model.dtype) for x in model._as_list(X, model._n_inputs(), "X")]
    ys = [np.asarray(t) for t in model._as_list(y, n_out, "y")]
    labels, ys_keras = [], []
    for loss, t, shape in zip(model._output_losses(), ys, model.output_shapes):
        lab, t_keras = _keras_targets(loss, t, shape[-1], model.dtype)
        labels.append(lab)
        ys_keras.append(t_keras)
    X_ours = xs if (graph and model._multi_in) else xs[0]
    y_ours = ys if (graph and model._multi_out) else ys[0]
    X_keras = X_ours
    y_keras = ys_keras if (graph and model._multi_out) else ys_keras[0]
    stochastic = any(getattr(layer, "stochastic", False) and float(getattr(layer, "rate", getattr(
        layer, "stddev", 0.0)) or 0.0) > 0 for layer in model.layers)
    out_names = (["output"] if n_out == 1
                 else [f"output {t.node.layer.name}" for t in model._outputs])
    rows = []
    with keras_dtype(dtype):
        kmodel, klosses, softmax_added = _build_keras(model, labels=labels if graph else labels[0])
        # outputs, as model.predict shows them
        ours = model.predict(X_ours)
        ours = ours if isinstance(ours, list) else [ours]
        theirs = kmodel(X_keras, training=False)
        theirs = [t.numpy() for t in (theirs if isinstance(theirs, (list, tuple)) else [theirs])]
        for name, loss, added, o, t in zip(out_names, model._output_losses(), softmax_added, ours, theirs):
            if not added and getattr(loss, "from_logits", False):
                t = loss.output(t)
            rows.append(_row(name, o, t))
        # total loss and gradients, inference mode, no update
        loss, grads = model.compute_gradients(X_ours, y_ours, training=False)
        with tf.GradientTape() as tape:
            preds = kmodel(X_keras, training=False)
            preds = preds if isinstance(preds, (list, tuple)) else [preds]
            kl = 0.0
            for kloss, target, pred in zip(klosses, ys_keras, preds):
                kl = kl + kloss(target, pred)
            for penalty in kmodel.losses:
                kl = kl + penalty
        # gradients of the trainable weights; the others (BatchNormalization's moving statistics) get zeros,
        # as in numpynet's compute_gradients
        kgrads = dict(zip([v.path for v in kmodel.trainable_weights],
                          tape.gradient(kl, kmodel.trainable_weights)))
        rows.append(_row("loss", loss, float(kl)))
        names = model.weight_names()
        for name, g, var in zip(names, grads, kmodel.weights):
            kg = kgrads.get(var.path)
            rows.append(_row(f"grad {name}", g, np.zeros_like(g) if kg is None else kg.numpy()))
        # one training step on a copy of the numpynet model, from a fresh optimizer state like the Keras one
        twin = copy.deepcopy(model)
        twin.optimizer = _optimizers.get(str(model.optimizer))
        twin.optimizer.build(twin.trainable_weight_arrays())
        twin.train_on_batch(X_ours, y_ours)
        kmodel.train_on_batch(X_keras, y_keras)
        note = "random masks differ" if stochastic else ""
        for name, w, kw in zip(names, twin.get_weights(), kmodel.get_weights()):
            rows.append(_row(f"after step {name}", w, kw, note))
    _mark_rounding_zeros(rows)
    table = Comparison(rows, dtype)
    if print_table:
        print(table)
    return table


def _keras_targets(loss, y, out_dim, dtype):
    """(labels, y for Keras) for one output: which Keras cross-entropy ("sparse"/"one_hot"/None) and the targets
    in its form (integer labels one-hot encoded for the one-hot loss, column vectors for the other losses)."""
    y = np.asarray(y)
    one_hot_given = y.ndim == 2 and y.shape[1] > 1
    labels = None
    if loss.spec_name in _CATEGORICAL:
        labels = "one_hot" if (one_hot_given or loss.spec_name == "categorical_crossentropy") else "sparse"
    y_keras = y
    if labels == "one_hot" and not one_hot_given:
        y_keras = _one_hot(y.reshape(-1), out_dim)
    elif labels == "sparse" and y.ndim == 2 and y.shape[1] == 1:
        y_keras = y[:, 0]
    if loss.spec_name not in _CATEGORICAL and y_keras.ndim == 1:
        y_keras = y_keras.reshape(-1, 1)
    return labels, np.asarray(y_keras, dtype=np.int64 if labels == "sparse" else dtype)
