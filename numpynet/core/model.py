"""Sequential and DFN: a stack of layers, a loss, an optimizer and the training loop.

One training step on a batch (X, y) of N samples:

    out      = layer_L(... layer_1(X))                      forward, caching what backward needs
    data     = (1/N) Σ_n ℓ(out_n, y_n)                      the loss, mean over the batch
    penalty  = Σ_layers Σ_params R(W) + Σ_layers R(a)/N       weight penalties once per batch, not divided by N;
                                                             activity penalties R(a) divided by N (as Keras 3)
    total    = data + penalty
    dL/dout  = loss.backward(out, y)                        already divided by N
    grads    = layer.backward(...) in reverse, then + dR/dW
    update   = optimizer (clip → weight decay → step), then constraints
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np

from . import callbacks as _callbacks
from . import graph as _graph
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from . import training as _training
from .config import as_float_dtype
from .errors import DataError, ShapeError, SpecError
from .spec import check_bool, check_int, check_number, to_json

#: Default batch of evaluate/predict: big enough for efficient matrix products, small enough that a Conv2D's im2col
#: columns stay in the tens of megabytes (4096 28x28 images with 5x5 kernels would need 320 MB).
INFERENCE_BATCH = 512
#: ... and smaller where the layers' outputs of one batch (each layer caches its input and output) would pass this
#: many bytes: a MobileNetV2 on 32x32 images keeps ~1.5 MB per image, so 512 images would hold 2 GB.
INFERENCE_MEMORY = 256 * 2**20

# Probability-output losses that Keras computes from the logits when the last layer's activation matches.
_FUSE_WITH = {"categorical_crossentropy": "softmax", "sparse_categorical_crossentropy": "softmax",
              "binary_crossentropy": "sigmoid"}


def check_inputs(X, name="X"):
    """``X`` as a float ndarray with a batch axis, or a clear DataError/ShapeError (NaN, inf, empty, non-numeric)."""
    arr = _losses.as_numeric_array(X, name)
    if arr.ndim < 2:
        raise ShapeError(f"argument {name!r} must have a batch axis and features, e.g. (n_samples, n_features); "
                         f"got shape {arr.shape} (use X.reshape(-1, 1) for a single feature)")
    if arr.shape[0] == 0:
        raise DataError(f"argument {name!r} is empty (0 samples)")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"argument {name!r} contains NaN or inf (first at index {tuple(int(i) for i in bad)})")
    return arr



class _Step:
    """One node of the execution order: the layer object that runs it, where its inputs and output live in the
    pass's list of arrays, and which arrays are no longer needed once it has run."""

    __slots__ = ("node", "layer", "in_slots", "out_slot", "release", "needs_input_grad")

    def __init__(self, node, layer, in_slots, out_slot):
        self.node, self.layer, self.in_slots, self.out_slot = node, layer, in_slots, out_slot
        self.release = []
        self.needs_input_grad = True


def _call_copy(layer):
    """A second executor of a shared layer: the same ``params`` dict (so the same weights, updated once), its own
    gradients and forward caches (a second call must not overwrite the first call's cache before backward)."""
    clone = copy.copy(layer)
    clone.grads = {k: np.zeros_like(v) for k, v in layer.grads.items()}
    clone._reg_scratch = {}
    for key, value in vars(layer).items():
        if isinstance(value, _layers.base.ScratchBuffer):   # its own scratch space, not the first call's
            setattr(clone, key, type(value)())
    return clone


def _unique_name(base, taken):
    if base not in taken:
        return base
    return next(f"{base}_{i}" for i in range(1, 10**6) if f"{base}_{i}" not in taken)


class Model:
    """A graph of layers trained by backpropagation — the functional API, as Keras's ``Model``.

    >>> inp = nn.Input(shape=(784,))
    >>> h = nn.layers.Dense(200, activation="relu")(inp)
    >>> out = nn.layers.Dense(10)(nn.layers.Add()([h, nn.layers.Dense(200)(inp)]))
    >>> model = nn.Model(inputs=inp, outputs=out, seed=0)
    >>> model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy", metrics=["accuracy"])

    One or more inputs and outputs (pass lists; then ``X`` and ``y`` are lists too, one array per input/output,
    and the training loss is the sum of the outputs' losses). A layer called twice shares its weights; the
    gradients of its calls add up. The weights are created when the model is made (``seed=`` fixes them).

    Backward runs the nodes in reverse execution order; where a tensor feeds several layers its gradient is the
    sum of what each returns (the multivariate chain rule), complete before its producer runs. Arrays of the
    forward pass are dropped as soon as their last reader has run.
    """

    def __init__(self, inputs=None, outputs=None, seed=None, dtype=None, name=None):
        self.layers = []
        if seed is not None:
            seed = check_int(type(self).__name__, "seed", seed, minimum=0)
        self.seed = seed
        self.dtype = as_float_dtype(dtype)
        self.name = name or "model"
        init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
        self._init_rng = np.random.default_rng(init_seq)
        self._shuffle_rng = np.random.default_rng(shuffle_seq)
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self._metric_fns = {}
        self.stop_training = False
        self.built = False
        self._inputs, self._outputs = [], []
        if type(self) is Model or inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise SpecError("Model: both 'inputs' and 'outputs' are needed, e.g. nn.Model(inputs=inp, "
                                "outputs=out); for a stack of layers use nn.Sequential([...])")
            self._multi_in = isinstance(inputs, (list, tuple))
            self._multi_out = isinstance(outputs, (list, tuple))
            self._init_graph(_graph.as_tensor_list(inputs, "Model: argument 'inputs'"),
                             _graph.as_tensor_list(outputs, "Model: argument 'outputs'"))

    # ------------------------------------------------------------------------------------------------ the graph
    def _init_graph(self, inputs, outputs, name_layers=True):
        """Order the graph between ``inputs`` and ``outputs``, name and build its layers, plan the passes."""
        execution, order = _graph.walk(inputs, outputs)
        input_layers = [t.node.layer for t in inputs]
        layers = [layer for layer in order if not isinstance(layer, _graph.InputLayer)]
        if name_layers:
            taken = {layer.name for layer in input_layers + layers if layer.name}
            for t in inputs:
                if t.node.layer.name is None:
                    t.node.layer.name = _unique_name("input", taken)
                    taken.add(t.node.layer.name)
            for node in execution:
                if node.layer.name is None:
                    node.layer.name = _unique_name(node.layer.spec_name or type(node.layer).__name__.lower(), taken)
                    taken.add(node.layer.name)
        _graph.check_unique_names(input_layers + layers)
        self._inputs, self._outputs = list(inputs), list(outputs)
        self._nodes = [node for node in execution if not node.is_input]
        self.layers = layers
        for node in self._nodes:
            layer = node.layer
            if not layer.built:
                layer.dtype = self.dtype
                layer.set_rng(self._init_rng)
                shapes = [t.shape for t in node.inputs]
                layer.build(shapes if layer.multi_input else shapes[0])
        self.input_shapes = [t.shape for t in inputs]
        self.output_shapes = [t.shape for t in outputs]
        self._plan()
        self.built = True
        # layers may be shared with another model that fuses their activation into its loss: this one doesn't
        self._fused = [(t.node.layer, False) for t in outputs if hasattr(t.node.layer, "output_logits")]
        if self.loss is not None:
            self._configure_output()
        if self.optimizer is not None:
            self.optimizer.build(self.trainable_weight_arrays())

    def _plan(self):
        """The schedule of the passes: a slot per tensor, one executor per node, when each array can go."""
        slot = {id(t): i for i, t in enumerate(self._inputs)}
        for node in self._nodes:
            slot[id(node.output)] = len(slot)
        self._n_slots = len(slot)
        self._output_slots = [slot[id(t)] for t in self._outputs]
        seen, shared, steps, last_reader = set(), {}, [], {}
        for node in self._nodes:
            layer = node.layer
            executor = layer if layer not in seen else _call_copy(layer)
            if layer in seen:
                shared.setdefault(layer, []).append(executor)
            seen.add(layer)
            step = _Step(node, executor, [slot[id(t)] for t in node.inputs], slot[id(node.output)])
            # the model's inputs need no gradient; a layer reading only them may skip computing dx
            step.needs_input_grad = any(s >= len(self._inputs) for s in step.in_slots)
            executor.needs_input_grad = step.needs_input_grad
            for s in step.in_slots:
                last_reader[s] = len(steps)
            steps.append(step)
        keep = set(self._output_slots)
        for s, i in last_reader.items():
            if s not in keep:
                steps[i].release.append(s)
        self._steps, self._shared = steps, shared

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input_shape(self):
        shapes = getattr(self, "input_shapes", None)
        return None if not shapes else (shapes[0] if len(shapes) == 1 else list(shapes))

    @property
    def output_shape(self):
        shapes = getattr(self, "output_shapes", None)
        return None if not shapes else (shapes[0] if len(shapes) == 1 else list(shapes))

    def build(self, input_shape=None):
        """A functional model is built when it is made; kept for the Keras habit of calling it."""
        return self

    def get_layer(self, name):
        """The layer called ``name``, else a SpecError listing the names."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise SpecError(f"no layer named {name!r}; layers: {', '.join(layer.name for layer in self.layers)}")

    # ------------------------------------------------------------------------------------------------ compile
    def compile(self, optimizer="sgd", loss="softmax_cross_entropy", metrics=None):
        """Choose the optimizer, the loss (one for every output, or a list with one per output) and the metrics
        (each an object or a spec string)."""
        optimizer = _optimizers.get(optimizer)
        loss = [_losses.get(item) for item in loss] if isinstance(loss, (list, tuple)) else _losses.get(loss)
        if isinstance(metrics, str):      # metrics="accuracy": one metric, not the letters of its name
            metrics = [metrics]
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise SpecError(f"compile: argument 'metrics' must be a list such as ['accuracy'], got {metrics!r}")
        names = [m if isinstance(m, str) else getattr(m, "__name__", str(m)) for m in (metrics or [])]
        fns = {name: _metrics.get(name) for name in names}
        self.optimizer, self.loss, self.metrics, self._metric_fns = optimizer, loss, names, fns
        if self.built:
            self._configure_output()
            self.optimizer.build(self.trainable_weight_arrays())
        return self

    def _output_losses(self):
        n = len(self._outputs)
        if isinstance(self.loss, list):
            if len(self.loss) != n:
                raise SpecError(f"compile: argument 'loss' has {len(self.loss)} entries but the model has {n} "
                                f"outputs")
            return list(self.loss)
        return [self.loss] * n

    def _configure_output(self):
        """Per output: whether its layer hands logits to a fused loss (softmax/sigmoid + cross-entropy).

        Only an output layer called once, whose output feeds no other layer, can skip its activation."""
        losses = self._output_losses()
        self._train_losses = list(losses)
        self._fused = []
        read = {id(t) for node in self._nodes for t in node.inputs}
        calls = {}
        for node in self._nodes:
            calls[node.layer] = calls.get(node.layer, 0) + 1
        for i, (tensor, loss) in enumerate(zip(self._outputs, losses)):
            layer = tensor.node.layer
            if not hasattr(layer, "output_logits"):
                continue
            layer.output_logits = False
            self._fused.append((layer, False))
            act = getattr(getattr(layer, "activation", None), "spec_name", None)
            wanted = _FUSE_WITH.get(loss.spec_name)
            if (wanted is not None and act == wanted and not getattr(loss, "from_logits", False)
                    and not getattr(loss, "label_smoothing", 0.0) and calls.get(layer) == 1
                    and id(tensor) not in read):
                layer.output_logits = True
                self._fused[-1] = (layer, True)
                self._train_losses[i] = _losses.get("softmax_cross_entropy" if wanted == "softmax"
                                                    else "binary_crossentropy(from_logits=True)")

    def _require_compiled(self):
        if self.loss is None or self.optimizer is None:
            raise SpecError("the model is not compiled; call model.compile(optimizer=..., loss=...) first")

    def _ensure_built(self, xs):
        if not self.built:
            raise ShapeError("the model is not built")
        for i, (x, shape) in enumerate(zip(xs, self.input_shapes)):
            expected = shape[1:]
            if x.ndim != len(shape) or any(e is not None and e != g for e, g in zip(expected, x.shape[1:])):
                arg = "X" if len(xs) == 1 else f"X[{i}]"
                shown = tuple("None" if e is None else e for e in expected)
                first = self._steps[0].layer.name if self._steps else "-"
                raise ShapeError(f"argument {arg!r} has samples of shape {x.shape[1:]}, but the model was built "
                                 f"for {shown} (first layer {first!r})")

    # ------------------------------------------------------------------------------------------------ weights
    def _weight_slots(self):
        """(layer, key) for every weight, in Keras get_weights() order."""
        return [(layer, key) for layer in self.layers for key in layer.params]

    def weight_names(self):
        return [f"{layer.name}/{key}" for layer, key in self._weight_slots()]

    def trainable_weight_names(self):
        return [f"{layer.name}/{key}" for layer in self.layers for key in layer.trainable_names]

    def trainable_weight_arrays(self):
        return [layer.params[key] for layer in self.layers for key in layer.trainable_names]

    def _trainable_grad_arrays(self):
        return [layer.grads[key] for layer in self.layers for key in layer.trainable_names]

    def get_weights(self):
        """Copies of every weight array, in the same order and shapes as Keras's ``get_weights()``."""
        return [layer.params[key].copy() for layer, key in self._weight_slots()]

    def set_weights(self, weights):
        slots = self._weight_slots()
        if len(weights) != len(slots):
            raise ShapeError(f"set_weights: the model has {len(slots)} weight arrays, got {len(weights)}")
        values = [np.asarray(v) for v in weights]
        for (layer, key), value in zip(slots, values):   # every shape checked before any weight changes
            if value.shape != layer.params[key].shape:
                raise ShapeError(f"set_weights: {layer.name}/{key} has shape {layer.params[key].shape}, "
                                 f"got {value.shape}")
        for (layer, key), value in zip(slots, values):
            layer.params[key][...] = value

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def to_dtype(self, dtype):
        """Convert every weight (and the optimizer state) to ``dtype`` — used by gradient checks in float64."""
        dtype = as_float_dtype(dtype)
        self.dtype = dtype
        for layer in self.layers:
            layer.dtype = dtype
            for key in layer.params:
                layer.params[key] = layer.params[key].astype(dtype)
            for key in layer.grads:
                layer.grads[key] = layer.grads[key].astype(dtype)
        if self.built:
            self._plan()     # executors of shared layers get gradients of the new dtype
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trainable_weight_arrays())
        return self

    @property
    def losses(self):
        """The current weight penalties, one value per regularized weight, in Keras's order (``sum(model.losses)``
        is the regularization part of the training loss; activity penalties depend on data and are not listed)."""
        return [float(reg.loss(layer.params[key])) for layer in self.layers
                for key in layer.params if (reg := layer.regularizers.get(key)) is not None]

    # ------------------------------------------------------------------------------------------------ data
    def _as_list(self, data, n, what):
        """One array per input (or output) from an array, a list/tuple or a dict keyed by layer name."""
        if isinstance(data, dict):
            tensors = self._inputs if what == "X" else self._outputs
            names = [t.node.layer.name for t in tensors]
            unknown = sorted(set(data) - set(names))
            if unknown or len(data) != n:
                raise DataError(f"argument {what!r}: expected keys {names}, got {sorted(data)}")
            return [data[name] for name in names]
        if n > 1:
            if not isinstance(data, (list, tuple)) or len(data) != n:
                got = f"{len(data)} arrays" if isinstance(data, (list, tuple)) else type(data).__name__
                raise DataError(f"argument {what!r}: the model has {n} {'inputs' if what == 'X' else 'outputs'}, "
                                f"so pass a list of {n} arrays; got {got}")
            return list(data)
        if isinstance(data, (list, tuple)) and len(data) == 1 and isinstance(data[0], np.ndarray):
            return [data[0]]
        return [data]

    def _n_inputs(self):
        return len(self._inputs) if self._inputs else 1

    def _check_x(self, X, name="X"):
        xs = self._as_list(X, self._n_inputs(), "X")
        names = [name] if len(xs) == 1 else [f"{name}[{i}]" for i in range(len(xs))]
        xs = [check_inputs(x, nm) for x, nm in zip(xs, names)]
        sizes = {x.shape[0] for x in xs}
        if len(sizes) > 1:
            raise DataError(f"argument {name!r}: the input arrays have different numbers of samples {sorted(sizes)}")
        return xs

    def _prepare_x(self, X, name="X"):
        xs = self._check_x(X, name)
        self._ensure_built(xs)
        out = []
        for i, x in enumerate(xs):
            converted = np.ascontiguousarray(x, dtype=self.dtype)
            # float64 values beyond float32's range (1e39) pass the finiteness check and become inf here
            if converted is not x and x.dtype.kind == "f" and x.dtype.itemsize > converted.dtype.itemsize \
                    and not np.isfinite(converted).all():
                arg = name if len(xs) == 1 else f"{name}[{i}]"
                limit = float(np.finfo(self.dtype).max)
                raise DataError(f"argument {arg!r} has values beyond the {np.dtype(self.dtype).name} range "
                                f"(|x| > {limit:.3g}); rescale the inputs or use dtype='float64'")
            out.append(converted)
        return out

    def _prepare_y(self, y, n, name="y"):
        outs = len(self._outputs)
        ys = self._as_list(y, outs, "y")
        names = [name] if outs == 1 else [f"{name}[{i}]" for i in range(outs)]
        return [self._prepare_targets(t, n, nm, i) for i, (t, nm) in enumerate(zip(ys, names))]

    def _prepare(self, X, y=None):
        xs = self._prepare_x(X)
        return (xs, None) if y is None else (xs, self._prepare_y(y, xs[0].shape[0]))

    def _prepare_targets(self, y, n, name="y", index=0):
        """Integer labels (N,) or one-hot / target rows (N, out): validated once, in a dtype the loss takes."""
        y = _losses.as_numeric_array(y, name)
        if y.shape[:1] != (n,):
            raise ShapeError(f"argument {name!r} has {y.shape[0] if y.ndim else 0} samples but X has {n}")
        if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
            raise DataError(f"argument {name!r} contains NaN or inf")
        out_shape = self.output_shapes[index]
        out_dim = out_shape[-1]
        loss = self._output_losses()[index] if self.loss is not None else None
        categorical = loss is not None and loss.spec_name in (
            "softmax_cross_entropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
        if y.ndim == 2 and y.shape[1] == 1 and out_dim > 1 and categorical:
            y = y[:, 0]
        if y.ndim == 1 and len(out_shape) > 2:
            raise ShapeError(f"argument {name!r} has one label per sample, but the model outputs "
                             f"{tuple(out_shape[1:])} per sample (its input 'X' has samples of shape "
                             f"{tuple(self.input_shapes[0][1:])}); flatten X or add nn.layers.Flatten() first")
        if y.ndim == 1 and (categorical or out_dim > 1):
            if not np.all(np.mod(y, 1) == 0):
                raise DataError(f"argument {name!r}: class labels must be integers, got values such as "
                                f"{y[np.mod(y, 1) != 0][0]!r}")
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= out_dim:
                raise DataError(f"argument {name!r}: labels must be in [0, {out_dim - 1}] for a model with "
                                f"{out_dim} outputs, got {lo if lo < 0 else hi}")
            return y.astype(np.int64)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if tuple(y.shape[1:]) != tuple(out_shape[1:]):
            hint = ""
            if len(out_shape) > 2 and len(self.input_shapes) == 1:   # Dense on (N, a, b) inputs works per row
                hint = (f" because 'X' has samples of shape {tuple(self.input_shapes[0][1:])}: flatten X or add "
                        f"nn.layers.Flatten() first")
            raise ShapeError(f"argument {name!r} has rows of shape {y.shape[1:]}, but the model outputs "
                             f"{tuple(out_shape[1:])}{hint}")
        y = y.astype(self.dtype)
        if loss is not None:
            # the loss's own target checks (probability rows >= 0, binary targets in [0, 1]) over all of y at
            # once: a bad row in a late batch must fail before the first update, not after some
            uniform = np.full(y.shape, 1.0 / y.shape[-1], dtype=self.dtype)
            try:
                loss.forward(uniform, y)
            except (DataError, ShapeError) as exc:
                raise type(exc)(f"argument {name!r}: {exc}") from None
        return y

    # ------------------------------------------------------------------------------------------------ passes
    def _forward(self, xs, training):
        """Run every node in execution order; returns the outputs (a list) and the activity penalty.

        An activity penalty is R(a)/N for a layer output a of N samples: Keras 3 divides it by the batch size so
        that it is a per-sample mean like the data loss (weight penalties are not divided).
        """
        values = [None] * self._n_slots
        values[:len(xs)] = xs
        for layer, fused in self._fused:   # the same layer objects may sit in another model that fuses differently
            layer.output_logits = fused
        activity = 0.0
        for step in self._steps:
            layer = step.layer
            args = [values[s] for s in step.in_slots]
            y = layer.forward(args if layer.multi_input else args[0], training=training)
            values[step.out_slot] = y
            if layer.activity_regularizer is not None:
                layer._activity_output = y
                activity += layer.activity_regularizer.loss(y) / y.shape[0]
            for s in step.release:
                values[s] = None
        return [values[s] for s in self._output_slots], activity

    def _backward(self, douts, activity=True):
        """Reverse execution order; a tensor's gradient is the sum over the layers that read it.

        ``douts`` holds dL/d(output) per output (None: no gradient from that output); ``activity=False`` leaves the
        activity penalties out (the data part of :meth:`compute_gradients` with ``split=True``)."""
        grads = [None] * self._n_slots
        n_inputs = len(self._inputs)
        for s, d in zip(self._output_slots, douts):
            if d is not None:
                grads[s] = d if grads[s] is None else grads[s] + d
        for step in reversed(self._steps):
            dy, grads[step.out_slot] = grads[step.out_slot], None
            layer = step.layer
            penalized = activity and layer.activity_regularizer is not None
            if dy is None and not penalized:   # nothing downstream depends on this output: zero gradients
                for g in layer.grads.values():
                    g[...] = 0
                continue
            if penalized:
                a = layer._activity_output
                da = layer.activity_regularizer.grad(a) / a.shape[0]
                dy = da if dy is None else dy + da
            dx = layer.backward(dy)
            if not step.needs_input_grad:
                continue
            for s, g in zip(step.in_slots, dx if layer.multi_input else [dx]):
                if s >= n_inputs:
                    grads[s] = g if grads[s] is None else grads[s] + g
        for layer, executors in self._shared.items():    # a shared layer's gradient: the sum over its calls
            for key, g in layer.grads.items():
                for executor in executors:
                    g += executor.grads[key]

    def regularization_loss(self):
        """Σ of parameter penalties over all layers (Keras's ``sum(model.losses)``)."""
        return float(sum(layer.regularization_loss() for layer in self.layers))

    def _loss_and_grads(self, xs, ys, training, sws=None):
        outs, activity = self._forward(xs, training)
        data_loss, douts = 0.0, []
        for loss, out, y in zip(self._train_losses, outs, ys):
            value, dout = loss.forward_backward(out, y, sws)
            data_loss += float(value)
            douts.append(dout)
        reg_loss = self.regularization_loss() + activity
        self._backward(douts)
        for layer in self.layers:
            layer.add_regularization_grads()
        return float(data_loss), float(reg_loss), outs

    def _step(self, xs, ys, sws=None):
        """One update; skipped when the loss is NaN/inf (the weights that produced it stay as they are)."""
        data_loss, reg_loss, outs = self._loss_and_grads(xs, ys, training=True, sws=sws)
        total = data_loss + reg_loss
        if math.isfinite(total):
            self.optimizer.apply_gradients(self.trainable_weight_arrays(), self._trainable_grad_arrays())
            for layer in self.layers:
                layer.apply_constraints()
        return data_loss, reg_loss, outs

    def _data_loss(self, outs, ys, sws=None):
        return float(sum(float(loss.forward(out, y, sws)) for loss, out, y in zip(self._train_losses, outs, ys)))

    def compute_loss(self, X, y, training=False):
        """Total loss (mean data loss + penalties) on (X, y), without gradients or updates."""
        self._require_compiled()
        xs, ys = self._prepare(X, y)
        outs, activity = self._forward(xs, training)
        return self._data_loss(outs, ys) + self.regularization_loss() + float(activity)

    def compute_gradients(self, X, y, training=False, split=False):
        """``(total_loss, grads)`` for one batch, no update; grads are aligned with ``get_weights()``
        (zeros for non-trainable weights such as BatchNormalization's moving statistics).

        ``split=True`` returns ``{"data": [...], "penalty": [...], "total": [...]}`` instead, each aligned with
        ``get_weights()``: the gradient of the mean data loss, the gradient of the penalties (weight penalties
        R(W) and activity penalties R(a)/N, which reach earlier layers through backpropagation), and their sum,
        ``total = data + penalty`` (that very addition, so the identity holds exactly)."""
        self._require_compiled()
        check_bool("compute_gradients", "split", split)
        xs, ys = self._prepare(X, y)
        if split:
            return self._split_gradients(xs, ys, training)
        data_loss, reg_loss, _ = self._loss_and_grads(xs, ys, training)
        return data_loss + reg_loss, self._grads_copy()

    def _grads_copy(self):
        return [layer.grads[key].copy() if key in layer.grads else np.zeros_like(layer.params[key])
                for layer, key in self._weight_slots()]

    def _split_gradients(self, xs, ys, training=False):
        """The data and penalty parts of the gradient on prepared arrays: one forward, then a backward pass of
        the data loss alone and, only when some layer has an activity penalty, a second backward pass of the
        penalties alone (backward is linear in dy). Leaves the layers' ``grads`` holding the penalty part."""
        outs, _ = self._forward(xs, training)
        douts = [loss.forward_backward(out, y)[1] for loss, out, y in zip(self._train_losses, outs, ys)]
        self._backward(douts, activity=False)
        data = self._grads_copy()
        if any(step.layer.activity_regularizer is not None for step in self._steps):
            self._backward([None] * len(douts), activity=True)
        else:
            for layer in self.layers:
                for g in layer.grads.values():
                    g[...] = 0
        for layer in self.layers:
            layer.add_regularization_grads()
        penalty = self._grads_copy()
        return {"data": data, "penalty": penalty, "total": [d + p for d, p in zip(data, penalty)]}

    def train_on_batch(self, X, y, sample_weight=None, class_weight=None):
        """One optimizer step on (X, y); returns the total loss before the step (as Keras)."""
        self._require_compiled()
        xs, ys = self._prepare(X, y)
        sws = _training.sample_weights(sample_weight, class_weight, ys, xs[0].shape[0])
        data_loss, reg_loss, _ = self._step(xs, ys, sws)
        return data_loss + reg_loss

    def __call__(self, X, training=False):
        """The model on data, as Keras's ``model(x, training=False)``: the outputs (a list for several outputs)
        computed in one pass; with a fused softmax + cross-entropy, the probabilities, as the model's last layer
        says."""
        first = X[0] if isinstance(X, (list, tuple)) and X else X
        if isinstance(first, _graph.SymbolicTensor):
            raise SpecError("calling a model on a symbolic tensor (nesting models) is not supported; call its "
                            "layers on the tensor instead")
        xs = self._prepare_x(X)
        outs, _ = self._forward(xs, training=check_bool("model", "training", training))
        outs = [self._output(out, i) for i, out in enumerate(outs)]
        return outs if self._multi_out else outs[0]

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, X, y=None, epochs=1, batch_size=None, validation_data=None, validation_split=0.0, shuffle=True,
            callbacks=None, verbose=1, initial_epoch=0, sample_weight=None, class_weight=None,
            steps_per_epoch=None):
        """Train for ``epochs`` passes over (X, y) in shuffled mini-batches; returns a :class:`History`.

        ``X`` is an array (or a list/dict of arrays for several inputs), or an iterable of ``(x, y)`` /
        ``(x, y, sample_weight)`` batches such as :class:`numpynet.data.BatchStream` or a generator (then ``y`` is
        None; ``steps_per_epoch`` batches make an epoch, by default one pass of the iterable).
        ``batch_size`` defaults to 32. ``validation_split`` holds out the *last* fraction of the samples (before
        shuffling), as Keras does. ``sample_weight`` (one weight per sample) or ``class_weight``
        (``{class: weight}``) weigh each sample's loss: L = (1/N)·Σ_n w_n·ℓ_n, as Keras.
        ``verbose``: 0 silent, 1 a progress bar (one line per epoch when stderr is not a terminal), 2 one line per
        epoch. History records per epoch: ``loss`` (= ``data_loss`` + ``reg_loss``, the batch-size-weighted mean
        over the epoch's batches), each metric, the same with ``val_`` for the validation data, and ``seconds``.

        Every argument is checked before any weight changes. If the loss becomes NaN/inf, or the weights stop
        being finite, training stops with a warning and the model keeps the weights (and optimizer state) it had
        at the start of that epoch — the last ones known to be finite.
        """
        return _training.fit(self, X, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                             validation_split=validation_split, shuffle=shuffle, callbacks=callbacks,
                             verbose=verbose, initial_epoch=initial_epoch, sample_weight=sample_weight,
                             class_weight=class_weight, steps_per_epoch=steps_per_epoch)

    def _metric_names(self):
        """Metric names as logged: ``accuracy``, or ``<output layer>_accuracy`` per output of a multi-output model."""
        if len(self._outputs) == 1:
            return [[name for name in self.metrics]]
        return [[f"{t.node.layer.name}_{name}" for name in self.metrics] for t in self._outputs]

    def _metric_values(self, outs, ys):
        values = {}
        for i, (out, y, names) in enumerate(zip(outs, ys, self._metric_names())):
            prob = self._output(out, i)
            for name, fn in zip(names, self._metric_fns.values()):
                values[name] = float(fn(y, prob))
        return values

    # ------------------------------------------------------------------------------------------------ inference
    def _inference_batch(self):
        """INFERENCE_BATCH, or fewer samples when the cached outputs of one batch would pass INFERENCE_MEMORY."""
        per_sample = 0
        for step in self._steps:
            shape = step.layer.output_shape
            if isinstance(shape, tuple):
                per_sample += 2 * int(np.prod([d for d in shape[1:] if d is not None], dtype=np.int64))
        per_sample *= np.dtype(self.dtype).itemsize
        return int(max(16, min(INFERENCE_BATCH, INFERENCE_MEMORY // max(per_sample, 1))))

    def _batches(self, xs, batch_size):
        batch_size = batch_size or self._inference_batch()
        for start in range(0, xs[0].shape[0], batch_size):
            yield start, [x[start:start + batch_size] for x in xs]

    def _evaluate_prepared(self, xs, ys, sws=None, batch_size=None):
        """Per-sample means over all of (xs, ys): batch values weighted by batch size (a short last batch counts
        for its samples only)."""
        data, activity, weights, metric_values = [], [], [], []
        for start, xb in self._batches(xs, batch_size):
            stop = start + xb[0].shape[0]
            yb = [t[start:stop] for t in ys]
            outs, act = self._forward(xb, training=False)
            data.append(self._data_loss(outs, yb, None if sws is None else sws[start:stop]))
            activity.append(float(act))
            weights.append(xb[0].shape[0])
            if self._metric_fns:
                metric_values.append(self._metric_values(outs, yb))
        data_loss = _callbacks.average(data, weights)
        reg_loss = self.regularization_loss() + _callbacks.average(activity, weights)
        result = {"loss": data_loss + reg_loss, "data_loss": data_loss, "reg_loss": reg_loss}
        for name in (metric_values[0] if metric_values else {}):
            result[name] = _callbacks.average([v[name] for v in metric_values], weights)
        return result

    def evaluate(self, X, y, batch_size=None, verbose=0, sample_weight=None):
        """``{"loss", "data_loss", "reg_loss", <metrics>}`` on (X, y) in inference mode.

        ``sample_weight`` weighs the data loss as in :meth:`fit` (metrics stay unweighted, as Keras's
        ``metrics=``)."""
        self._require_compiled()
        batch_size = None if batch_size is None else check_int("evaluate", "batch_size", batch_size, minimum=1)
        verbose = _training.check_verbose("evaluate", verbose)
        xs, ys = self._prepare(X, y)
        sws = _training.sample_weights(sample_weight, None, ys, xs[0].shape[0])
        result = self._evaluate_prepared(xs, ys, sws, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in result.items()))
        return result

    def predict(self, X, batch_size=None, mc_samples=None, return_std=False):
        """The model's output for X in inference mode (a list for several outputs); with a from-logits loss
        (softmax_cross_entropy), the probabilities.

        MC dropout: with ``mc_samples=T`` the stochastic layers (Dropout, AlphaDropout, Gaussian noise) stay active
        and the output is the mean of T passes, p̂ = (1/T) Σ_t f(x; mask_t); ``return_std=True`` also returns the
        per-sample standard deviation over the T passes (an uncertainty estimate). Other layers (BatchNormalization)
        stay in inference mode.
        """
        batch_size = None if batch_size is None else check_int("predict", "batch_size", batch_size, minimum=1)
        return_std = check_bool("predict", "return_std", return_std)
        if mc_samples is not None:
            mc_samples = check_int("predict", "mc_samples", mc_samples, minimum=1)
        xs, _ = self._prepare(X)
        if mc_samples is None:
            if return_std:
                raise SpecError("predict: return_std=True needs mc_samples (e.g. mc_samples=100)")
            return self._single(self._predict_once(xs, batch_size))
        stochastic = [step.layer for step in self._steps if getattr(step.layer, "stochastic", False)]
        if not stochastic:
            warnings.warn("predict(mc_samples=...): the model has no dropout/noise layer, every pass is identical",
                          RuntimeWarning, stacklevel=2)
        for layer in stochastic:
            layer.mc_active = True
        try:
            total = total_sq = None
            for _ in range(mc_samples):
                ps = [p.astype(np.float64) for p in self._predict_once(xs, batch_size)]
                total = ps if total is None else [t + p for t, p in zip(total, ps)]
                total_sq = [p * p for p in ps] if total_sq is None else [t + p * p for t, p in zip(total_sq, ps)]
        finally:
            for layer in stochastic:
                layer.mc_active = False
        means = [t / mc_samples for t in total]
        if not return_std:
            return self._single([m.astype(self.dtype) for m in means])
        stds = [np.sqrt(np.maximum(sq / mc_samples - m * m, 0.0)).astype(self.dtype) for sq, m in zip(total_sq, means)]
        return self._single([m.astype(self.dtype) for m in means]), self._single(stds)

    def _single(self, outs):
        return outs if len(outs) > 1 else outs[0]

    def _predict_once(self, xs, batch_size):
        parts = []
        for _, xb in self._batches(xs, batch_size):
            outs, _ = self._forward(xb, training=False)
            parts.append([self._output(out, i) for i, out in enumerate(outs)])
        return [np.concatenate(column, axis=0) for column in zip(*parts)]

    def _output(self, out, index=0):
        losses = getattr(self, "_train_losses", None)
        return losses[index].output(out) if losses else out

    def predict_classes(self, X):
        """Arg-max class of ``predict(X)`` (threshold 0.5 for a single output)."""
        p = self.predict(X)
        return (p[:, 0] > 0.5).astype(np.int64) if p.shape[-1] == 1 else p.argmax(axis=-1)

    # ------------------------------------------------------------------------------------------------ info
    def summary(self, print_fn=print):
        """Print a Keras-style table: layer, output shape, parameter count (and, for a graph, what it reads).

        ``print_fn`` receives the whole table as one string (e.g. ``lines.append`` to keep it)."""
        graph = not isinstance(self, Sequential)
        header = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if graph else ())
        rows = []
        if graph:
            rows += [(f"{t.node.layer.name} (InputLayer)", str(t.shape), "0", "") for t in self._inputs]
        for layer in self.layers:
            row = (f"{layer.name} ({type(layer).__name__})", str(layer.output_shape if layer.built else "?"),
                   str(layer.count_params()))
            if graph:
                reads = [t.node.layer.name for node in layer._inbound_nodes if node in self._nodes
                         for t in node.inputs]
                row += (", ".join(dict.fromkeys(reads)),)
            rows.append(row)
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        line = "  ".join("-" * w for w in widths)
        out = [f'Model: "{self.name}"', line, "  ".join(h.ljust(w) for h, w in zip(header, widths)), line]
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        out += [line, f"Total params: {self.count_params():,}"]
        text = "\n".join(out)
        print_fn(text)   # returns None, as Keras: a notebook cell ending in summary() shows the table once

    def get_config(self):
        """The graph as JSON: every layer's spec, then every call (node) in execution order, each input named as
        ``[layer name, call number]``."""
        ref = {}
        counts = {}
        for t in self._inputs:
            ref[id(t)] = [t.node.layer.name, 0]
        nodes = []
        for node in self._nodes:
            name = node.layer.name
            k = counts.get(name, 0)
            counts[name] = k + 1
            ref[id(node.output)] = [name, k]
            nodes.append({"layer": name, "inputs": [ref[id(t)] for t in node.inputs]})
        return {"class": "Model", "name": self.name, "seed": self.seed, "dtype": np.dtype(self.dtype).name,
                "inputs": [{"name": t.node.layer.name, "shape": list(t.shape[1:])} for t in self._inputs],
                "layers": [layer_to_json(layer) for layer in self.layers], "nodes": nodes,
                "outputs": [ref[id(t)] for t in self._outputs],
                "multi_input": self._multi_in, "multi_output": self._multi_out,
                "compile": self._compile_config()}

    def _compile_config(self):
        if self.loss is None:
            return None
        loss = [str(item) for item in self.loss] if isinstance(self.loss, list) else str(self.loss)
        return {"optimizer": str(self.optimizer), "loss": loss, "metrics": list(self.metrics)}

    def save(self, path):
        """Save architecture, weights and optimizer state to ``path`` (.npz + JSON; never pickle)."""
        from .io import save_model
        save_model(self, path)

    def __repr__(self):
        return f"<{type(self).__name__} {len(self.layers)} layers, {self.count_params()} params>"


class Sequential(Model):
    """A linear stack of layers: the special case of :class:`Model` with one input and one output.

    >>> model = Sequential([Dense(200, activation="sigmoid", kernel_regularizer="l2(lambd=0.01)"), Dense(10)],
    ...                    seed=0)
    >>> model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy", metrics=["accuracy"])
    >>> hist = model.fit(X, y, epochs=20, batch_size=64, validation_split=0.1)

    The weights are built from the first data seen (or ``build((None, 784))``), or at once when the input shape is
    known: ``Sequential([nn.Input((784,)), ...])`` or ``Dense(200, input_shape=(784,))`` as the first layer.
    """

    def __init__(self, layers=None, seed=None, dtype=None, name=None):
        super().__init__(seed=seed, dtype=dtype, name=name or "sequential")
        self._multi_in = self._multi_out = False
        self._input_hint = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, _graph.SymbolicTensor):
            if self.layers or self._input_hint is not None:
                raise SpecError("Sequential: an nn.Input can only come first")
            self._input_hint = layer.shape[1:]
            return
        layer = _layers.get(layer)
        if isinstance(layer, _graph.InputLayer):
            return self.add(_graph.Input(layer.shape))
        if layer.multi_input:
            raise SpecError(f"Sequential: layer {type(layer).__name__} takes several inputs; use the functional "
                            f"API (nn.Input, nn.Model) for graphs")
        if layer.name is None:
            base = layer.spec_name or type(layer).__name__.lower()
            layer.name = _unique_name(base, {lyr.name for lyr in self.layers})
        if not self.layers and self._input_hint is None and layer.input_shape_hint is not None:
            self._input_hint = layer.input_shape_hint
        self.layers.append(layer)
        self.built = False
        if self._input_hint is not None:
            self.build((None,) + tuple(self._input_hint))

    def build(self, input_shape):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis first; None allowed)."""
        if not self.layers:
            raise ShapeError("the model has no layers; add some with model.add(...) or Sequential([...])")
        x = inp = _graph.Input(tuple(input_shape[1:]), name="input")
        for layer in self.layers:
            x = layer(x)
        self._init_graph([inp], [x], name_layers=False)
        return self

    def _ensure_built(self, xs):
        if not self.layers:
            raise ShapeError("the model has no layers; add some with model.add(...) or Sequential([...])")
        if not self.built:
            self.build(xs[0].shape)
        super()._ensure_built(xs)

    def get_config(self):
        return {"class": "Sequential", "name": self.name, "seed": self.seed,
                "dtype": np.dtype(self.dtype).name,
                "layers": [layer_to_json(layer) for layer in self.layers],
                "input_shape": list(self.input_shape) if self.built else None,
                "compile": self._compile_config()}


def dfn_layers(hidden_dims, n_outputs, activation="sigmoid", regularizer=None, init_w="glorot_uniform",
               init_b="zeros", dropout=0.0, batchnorm=False, bn_momentum=None):
    """The one recipe of a deep feed-forward network, as a list of layers (DFN, the experiments' grids and the
    scikit-learn estimators all build from it):

        per hidden width h:  Dense(h, activation)                                  (batchnorm=False)
                             Dense(h, no bias) → BatchNormalization → Activation   (batchnorm=True: normalize
                                                                                    before the nonlinearity; β
                                                                                    makes the bias redundant)
                             then Dropout(dropout) when dropout > 0
        output:              Dense(n_outputs), linear (the loss applies softmax / nothing)

    ``regularizer`` goes on every kernel; ``init_w`` / ``init_b`` initialize every Dense layer.
    """
    layers = []
    for h in hidden_dims:
        if batchnorm:
            bn = {} if bn_momentum is None else {"momentum": float(bn_momentum)}
            layers += [_layers.Dense(h, use_bias=False, kernel_initializer=init_w, kernel_regularizer=regularizer),
                       _layers.BatchNormalization(**bn), _layers.Activation(activation)]
        else:
            layers.append(_layers.Dense(h, activation=activation, kernel_initializer=init_w,
                                        bias_initializer=init_b, kernel_regularizer=regularizer))
        if dropout > 0:
            layers.append(_layers.Dropout(rate=float(dropout)))
    layers.append(_layers.Dense(n_outputs, kernel_initializer=init_w, bias_initializer=init_b,
                                kernel_regularizer=regularizer))
    return layers


class DFN(Sequential):
    """Deep feed-forward network: Dense hidden layers and a linear output trained with fused softmax cross-entropy.

    ``DFN(hidden_dims=(200,), n_classes=10, activation="sigmoid", optimizer="sgd(lr=0.1)",
    regularizer="l2(lambd=0.01)", init_w="std_normal", seed=0)`` is the Sequential model
    Dense(200, sigmoid) → Dense(10) with the regularizer on every kernel, compiled with the optimizer,
    ``loss="softmax_cross_entropy"`` and ``metrics=["accuracy"]``. ``dropout`` > 0 adds Dropout after each hidden
    layer.
    """

    def __init__(self, hidden_dims=(200,), n_classes=10, activation="sigmoid", optimizer="sgd(lr=0.1)",
                 regularizer=None, init_w="glorot_uniform", init_b="zeros", dropout=0.0,
                 loss="softmax_cross_entropy", metrics=("accuracy",), seed=None, dtype=None, name="dfn"):
        super().__init__(seed=seed, dtype=dtype, name=name)
        if isinstance(hidden_dims, (int, np.integer)) and not isinstance(hidden_dims, (bool, np.bool_)):
            hidden_dims = (hidden_dims,)
        if not isinstance(hidden_dims, (list, tuple)):
            raise SpecError(f"DFN: argument 'hidden_dims' must be a tuple of layer widths such as (200,) or "
                            f"(128, 64), got {hidden_dims!r} ({type(hidden_dims).__name__})")
        self.hidden_dims = tuple(check_int("DFN", f"hidden_dims[{i}]", h, minimum=1) for i, h in enumerate(hidden_dims))
        self.n_classes = check_int("DFN", "n_classes", n_classes, minimum=1)
        self.activation = activation
        self.regularizer = regularizer
        self.init_w = init_w
        self.init_b = init_b
        self.dropout = check_number("DFN", "dropout", dropout, minimum=0.0, maximum=1.0)
        if self.dropout == 1.0:
            raise SpecError(f"DFN: argument 'dropout' must be in [0, 1), got {dropout!r}")
        for layer in dfn_layers(self.hidden_dims, self.n_classes, activation=activation, regularizer=regularizer,
                                init_w=init_w, init_b=init_b, dropout=self.dropout):
            self.add(layer)
        self.compile(optimizer=optimizer, loss=loss, metrics=metrics)

    def get_config(self):
        config = super().get_config()
        config["class"] = "DFN"
        config["dfn"] = {"hidden_dims": list(self.hidden_dims), "n_classes": self.n_classes,
                         "activation": str(self.activation), "regularizer": None if self.regularizer is None
                         else str(self.regularizer), "init_w": str(self.init_w), "init_b": str(self.init_b),
                         "dropout": self.dropout}
        return config


def layer_to_json(layer):
    """``{"name", "config"}`` of a layer; a user class not in the registry is named by its class name (and must
    then be passed as ``custom_objects=`` when loading)."""
    spec = to_json(layer)
    spec["name"] = _layers.registry.name_of(type(layer)) or type(layer).__name__
    return spec


def layer_from_json(spec, custom_objects=None):
    """The layer of a :func:`layer_to_json` dict: ``custom_objects`` first, then the registry (never an import)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise DataError(f"a layer entry must be a dict with a 'name', got {spec!r}")
    cls = (custom_objects or {}).get(spec["name"])
    if cls is not None:
        if not (isinstance(cls, type) and issubclass(cls, _layers.Layer)):
            raise SpecError(f"custom_objects[{spec['name']!r}] must be a Layer subclass, got {cls!r}")
        return cls(**(spec.get("config") or {}))
    if spec["name"] not in _layers.registry:
        raise SpecError(f"unknown layer {spec['name']!r}: pass custom_objects={{{spec['name']!r}: TheClass}} or "
                        f"register the class with @nn.layers.register({spec['name']!r})")
    return _layers.get(spec)


def model_from_config(config, custom_objects=None):
    """Rebuild a (not yet trained) model from ``get_config()`` output (Sequential, DFN or a graph Model)."""
    if not isinstance(config, dict) or config.get("class") not in ("Sequential", "DFN", "Model"):
        raise DataError("model config must be a dict with class 'Sequential', 'DFN' or 'Model'")
    compile_cfg = config.get("compile")
    if config["class"] == "DFN":
        d = config["dfn"]
        model = DFN(hidden_dims=tuple(d["hidden_dims"]), n_classes=d["n_classes"], activation=d["activation"],
                    regularizer=d["regularizer"], init_w=d["init_w"], init_b=d["init_b"], dropout=d["dropout"],
                    seed=config.get("seed"), dtype=config.get("dtype"), name=config.get("name", "dfn"),
                    optimizer=compile_cfg["optimizer"], loss=compile_cfg["loss"], metrics=compile_cfg["metrics"])
    elif config["class"] == "Model":
        model = _graph_from_config(config, custom_objects)
        if compile_cfg:
            model.compile(**compile_cfg)
        return model
    else:
        model = Sequential([layer_from_json(spec, custom_objects) for spec in config["layers"]],
                           seed=config.get("seed"), dtype=config.get("dtype"), name=config.get("name"))
        if compile_cfg:
            model.compile(**compile_cfg)
    if config.get("input_shape"):
        model.build(tuple(config["input_shape"]))
    return model


def _graph_from_config(config, custom_objects):
    """Replay the recorded calls: make each layer from its spec, then call it on the tensors it read."""
    try:
        layers = {}
        for spec in config["layers"]:
            layer = layer_from_json(spec, custom_objects)
            if layer.name in layers:
                raise SpecError(f"two layers are named {layer.name!r}")
            layers[layer.name] = layer
        tensors = {}
        inputs = []
        for entry in config["inputs"]:
            t = _graph.Input(tuple(entry["shape"]), name=entry["name"])
            tensors[(entry["name"], 0)] = t
            inputs.append(t)
        counts = {}
        for node in config["nodes"]:
            name = node["layer"]
            if name not in layers:
                raise DataError(f"the graph calls an unknown layer {name!r}")
            args = [tensors[tuple(ref)] for ref in node["inputs"]]
            layer = layers[name]
            k = counts.get(name, 0)
            counts[name] = k + 1
            tensors[(name, k)] = layer(args if layer.multi_input else args[0])
        outputs = [tensors[tuple(ref)] for ref in config["outputs"]]
    except (KeyError, TypeError, IndexError) as exc:
        raise DataError(f"model config: malformed graph ({type(exc).__name__}: {exc})") from None
    return Model(inputs if config.get("multi_input") else inputs[0],
                 outputs if config.get("multi_output") else outputs[0],
                 seed=config.get("seed"), dtype=config.get("dtype"), name=config.get("name"))
