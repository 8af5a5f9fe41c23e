"""Model: a graph of layers, its forward and backward passes, its loss and optimizer (the functional API).

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

import numpy as np

from . import graph as _graph
from . import inference as _inference
from . import inputs as _inputs
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from . import saving as _saving
from . import training as _training
from .config import as_float_dtype
from .errors import ShapeError, SpecError
from .layers.base import layer_to_json
from .layers.core import takes_grad_scale
from .spec import check_bool, check_int
from .tables import text_table

# Probability-output losses that Keras computes from the logits when the last layer's activation matches.
_FUSE_WITH = {"categorical_crossentropy": "softmax", "sparse_categorical_crossentropy": "softmax",
              "binary_crossentropy": "sigmoid"}


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

    #: Sequential sets it: summary() then shows no "Connected to" column
    _is_stack = False

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
        layers = [layer for layer in order if not isinstance(layer, _layers.InputLayer)]
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
        return _inputs.as_list(self, data, n, what)

    def _n_inputs(self):
        return len(self._inputs) if self._inputs else 1

    def _prepare_x(self, X, name="X"):
        """One contiguous array per input, in the model's dtype, checked (see :mod:`numpynet.core.inputs`)."""
        return _inputs.prepare_x(self, X, name)

    def _prepare_y(self, y, n, name="y"):
        """One target array per output, checked against the output's shape and loss."""
        return _inputs.prepare_y(self, y, n, name)

    def _prepare(self, X, y=None):
        xs = self._prepare_x(X)
        return (xs, None) if y is None else (xs, self._prepare_y(y, xs[0].shape[0]))

    # ------------------------------------------------------------------------------------------------ passes
    def _forward(self, xs, training, record=None):
        """Run every node in execution order; returns the outputs (a list) and the activity penalty (``record``: see
        :meth:`_backward`).

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
            x = args if layer.multi_input else args[0]
            y = layer.forward(x, training=training)
            values[step.out_slot] = y
            if layer.activity_regularizer is not None:
                layer._activity_output = y
                activity += layer.activity_regularizer.loss(y) / y.shape[0]
            if record is not None:
                record("forward", step, x, y)
            for s in step.release:
                values[s] = None
        return [values[s] for s in self._output_slots], activity

    def _backward(self, douts, activity=True, record=None):
        """Reverse execution order; a tensor's gradient is the sum over the layers that read it.

        ``douts`` holds dL/d(output) per output (None: no gradient from that output); ``activity=False`` leaves the
        activity penalties out (the data part of :meth:`compute_gradients` with ``split=True``). ``record``, if
        given, is called as ``record("forward", step, x, y)`` by :meth:`_forward` and ``record("backward", step,
        dy, dx)`` here, after each layer has run (what :func:`numpynet.trace` shows)."""
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
            if record is not None:
                record("backward", step, dy, dx)
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

    def _loss_and_grads(self, xs, ys, training, sws=None, grad_scale=None):
        """Forward, loss, backward. With ``grad_scale`` s (a pre-scaled step, see :meth:`_gradient_scale`) the
        trainable layers store s·(data gradient) and the penalty gradients are left to the optimizer."""
        outs, activity = self._forward(xs, training)
        data_loss, douts = 0.0, []
        for loss, out, y in zip(self._train_losses, outs, ys):
            value, dout = loss.forward_backward(out, y, sws)
            data_loss += float(value)
            douts.append(dout)
        reg_loss = self.regularization_loss() + activity
        if grad_scale is None:
            self._backward(douts)
            for layer in self.layers:
                layer.add_regularization_grads()
        else:
            scaled = [layer for layer in self.layers if layer.trainable_names]
            for layer in scaled:
                layer.grad_scale = grad_scale
            try:
                self._backward(douts)
            finally:
                for layer in scaled:
                    del layer.grad_scale
        return float(data_loss), float(reg_loss), outs

    def _gradient_scale(self):
        """s = −η when the optimizer takes pre-scaled gradients and every trainable layer can produce them (Dense
        layers, none shared), else None."""
        scale = self.optimizer.gradient_scale()
        if scale is None or getattr(self, "_shared", None):
            return None
        if not all(takes_grad_scale(layer) for layer in self.layers if layer.trainable_names):
            return None
        return scale

    def _step(self, xs, ys, sws=None):
        """One update; skipped when the loss is NaN/inf (the weights that produced it stay as they are)."""
        scale = self._gradient_scale()
        data_loss, reg_loss, outs = self._loss_and_grads(xs, ys, training=True, sws=sws, grad_scale=scale)
        total = data_loss + reg_loss
        if math.isfinite(total):
            if scale is None:
                self.optimizer.apply_gradients(self.trainable_weight_arrays(), self._trainable_grad_arrays())
            else:
                penalties = [layer.regularizers.get(key) for layer in self.layers for key in layer.trainable_names]
                self.optimizer.apply_scaled_gradients(self.trainable_weight_arrays(), self._trainable_grad_arrays(),
                                                      scale, penalties)
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

    # ------------------------------------------------------------------------------------------------ inference
    def _metric_names(self):
        """Metric names as logged: ``accuracy``, or ``<output layer>_accuracy`` per output of a multi-output model."""
        if len(self._outputs) == 1:
            return [list(self.metrics)]
        return [[f"{t.node.layer.name}_{name}" for name in self.metrics] for t in self._outputs]

    def _metric_values(self, outs, ys):
        return _inference.metric_values(self, outs, ys)

    def _inference_batch(self):
        return _inference.inference_batch(self)

    def _evaluate_prepared(self, xs, ys, sws=None, batch_size=None):
        return _inference.evaluate_prepared(self, xs, ys, sws, batch_size)

    def evaluate(self, X, y, batch_size=None, verbose=0, sample_weight=None):
        """``{"loss", "data_loss", "reg_loss", <metrics>}`` on (X, y) in inference mode: per-sample means (a short
        last batch counts for its samples only).

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
        elif return_std:
            raise SpecError("predict: return_std=True needs mc_samples (e.g. mc_samples=100)")
        xs, _ = self._prepare(X)
        result = _inference.predict(self, xs, batch_size, mc_samples, return_std)
        return (self._single(result[0]), self._single(result[1])) if return_std else self._single(result)

    def _single(self, outs):
        return outs if len(outs) > 1 else outs[0]

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
        graph = not self._is_stack
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
        text = text_table(header, rows, title=f'Model: "{self.name}"') + f"\nTotal params: {self.count_params():,}"
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
        _saving.save_model(self, path)

    def __repr__(self):
        return f"<{type(self).__name__} {len(self.layers)} layers, {self.count_params()} params>"
