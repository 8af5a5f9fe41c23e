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

import json
import math
import time
import warnings

import numpy as np

from . import callbacks as _callbacks
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from .config import as_float_dtype
from .errors import DataError, ShapeError, SpecError
from .spec import to_json

#: Default batch of evaluate/predict: big enough for efficient matrix products, small enough that a Conv2D's im2col
#: columns stay in the tens of megabytes (4096 28x28 images with 5x5 kernels would need 320 MB).
INFERENCE_BATCH = 512

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


class Sequential:
    """A linear stack of layers trained by backpropagation.

    >>> model = Sequential([Dense(200, activation="sigmoid", kernel_regularizer="l2(lambd=0.01)"), Dense(10)],
    ...                    seed=0)
    >>> model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy", metrics=["accuracy"])
    >>> hist = model.fit(X, y, epochs=20, batch_size=64, validation_split=0.1)
    """

    def __init__(self, layers=None, seed=None, dtype=None, name=None):
        self.layers = []
        self.seed = seed
        self.dtype = as_float_dtype(dtype)
        self.name = name or "sequential"
        init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
        self._init_rng = np.random.default_rng(init_seq)
        self._shuffle_rng = np.random.default_rng(shuffle_seq)
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self.stop_training = False
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------------------------------------ assembly
    def add(self, layer):
        layer = _layers.get(layer)
        if layer.name is None:
            base = layer.spec_name or type(layer).__name__.lower()
            taken = {lyr.name for lyr in self.layers}
            layer.name = base if base not in taken else next(f"{base}_{i}" for i in range(1, 10**6)
                                                             if f"{base}_{i}" not in taken)
        self.layers.append(layer)
        self.built = False

    def compile(self, optimizer="sgd", loss="softmax_cross_entropy", metrics=None):
        """Choose the optimizer, the loss and the metrics (each an object or a spec string)."""
        self.optimizer = _optimizers.get(optimizer)
        self.loss = _losses.get(loss)
        self.metrics = [m if isinstance(m, str) else getattr(m, "__name__", str(m)) for m in (metrics or [])]
        self._metric_fns = {name: _metrics.get(name) for name in self.metrics}
        self._configure_output()
        if self.built:
            self.optimizer.build(self.trainable_weight_arrays())
        return self

    def _configure_output(self):
        """Decide whether the last layer hands logits to a fused loss (softmax/sigmoid + cross-entropy)."""
        self._train_loss = self.loss
        if not self.layers or self.loss is None:
            return
        last = self.layers[-1]
        if hasattr(last, "output_logits"):
            last.output_logits = False
            act = getattr(getattr(last, "activation", None), "spec_name", None)
            wanted = _FUSE_WITH.get(self.loss.spec_name)
            if (wanted is not None and act == wanted and not getattr(self.loss, "from_logits", False)
                    and not getattr(self.loss, "label_smoothing", 0.0)):
                last.output_logits = True
                self._train_loss = _losses.get("softmax_cross_entropy" if wanted == "softmax"
                                               else "binary_crossentropy(from_logits=True)")

    def build(self, input_shape):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis first; None allowed)."""
        shape = (None,) + tuple(input_shape[1:])
        for i, layer in enumerate(self.layers):
            layer.dtype = self.dtype
            layer.set_rng(self._init_rng)
            layer.needs_input_grad = i > 0
            if not layer.built:
                layer.build(shape)
            shape = layer.output_shape
        self.input_shape = (None,) + tuple(input_shape[1:])
        self.output_shape = shape
        self.built = True
        self._configure_output() if self.loss is not None else None
        if self.optimizer is not None:
            self.optimizer.build(self.trainable_weight_arrays())
        return self

    def _ensure_built(self, X):
        if not self.layers:
            raise ShapeError("the model has no layers; add some with model.add(...) or Sequential([...])")
        if not self.built:
            self.build(X.shape)
        expected = self.input_shape[1:]
        if tuple(X.shape[1:]) != tuple(expected):
            raise ShapeError(f"argument 'X' has samples of shape {X.shape[1:]}, but the model was built for "
                             f"{expected} (first layer {self.layers[0].name!r})")

    def _require_compiled(self):
        if self.loss is None or self.optimizer is None:
            raise SpecError("the model is not compiled; call model.compile(optimizer=..., loss=...) first")

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
        for (layer, key), value in zip(slots, weights):
            value = np.asarray(value)
            if value.shape != layer.params[key].shape:
                raise ShapeError(f"set_weights: {layer.name}/{key} has shape {layer.params[key].shape}, "
                                 f"got {value.shape}")
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
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trainable_weight_arrays())
        return self

    # ------------------------------------------------------------------------------------------------ targets
    def _prepare_targets(self, y, n, name="y"):
        """Integer labels (N,) or one-hot / target rows (N, out): validated once, in a dtype the loss takes."""
        y = _losses.as_numeric_array(y, name)
        if y.shape[:1] != (n,):
            raise ShapeError(f"argument {name!r} has {y.shape[0] if y.ndim else 0} samples but X has {n}")
        if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
            raise DataError(f"argument {name!r} contains NaN or inf")
        out_dim = self.output_shape[-1]
        categorical = self.loss is not None and self.loss.spec_name in (
            "softmax_cross_entropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
        if y.ndim == 2 and y.shape[1] == 1 and out_dim > 1 and categorical:
            y = y[:, 0]
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
        if tuple(y.shape[1:]) != tuple(self.output_shape[1:]):
            raise ShapeError(f"argument {name!r} has rows of shape {y.shape[1:]}, but the model outputs "
                             f"{tuple(self.output_shape[1:])}")
        return y.astype(self.dtype)

    # ------------------------------------------------------------------------------------------------ passes
    def _forward(self, x, training):
        """Run every layer; returns the output and the activity penalty of this pass.

        An activity penalty is R(a)/N for a layer output a of N samples: Keras 3 divides it by the batch size so
        that it is a per-sample mean like the data loss (weight penalties are not divided).
        """
        activity = 0.0
        for layer in self.layers:
            x = layer.forward(x, training=training)
            if layer.activity_regularizer is not None:
                layer._activity_output = x
                activity += layer.activity_regularizer.loss(x) / x.shape[0]
        return x, activity

    def _backward(self, dy):
        for layer in reversed(self.layers):
            if layer.activity_regularizer is not None:
                a = layer._activity_output
                dy = dy + layer.activity_regularizer.grad(a) / a.shape[0]
            dy = layer.backward(dy)

    def regularization_loss(self):
        """Σ of parameter penalties over all layers (what Keras calls ``sum(model.losses)`` without activity)."""
        return float(sum(layer.regularization_loss() for layer in self.layers))

    def _loss_and_grads(self, x, y, training):
        out, activity = self._forward(x, training)
        data_loss, dout = self._train_loss.forward_backward(out, y)
        reg_loss = self.regularization_loss() + activity
        self._backward(dout)
        for layer in self.layers:
            layer.add_regularization_grads()
        return float(data_loss), float(reg_loss), out

    def _step(self, x, y):
        data_loss, reg_loss, out = self._loss_and_grads(x, y, training=True)
        total = data_loss + reg_loss
        if math.isfinite(total):
            self.optimizer.apply_gradients(self.trainable_weight_arrays(), self._trainable_grad_arrays())
            for layer in self.layers:
                layer.apply_constraints()
        return data_loss, reg_loss, out

    def _prepare(self, X, y=None):
        X = check_inputs(X)
        self._ensure_built(X)
        X = np.ascontiguousarray(X, dtype=self.dtype)
        return (X, None) if y is None else (X, self._prepare_targets(y, X.shape[0]))

    def compute_loss(self, X, y, training=False):
        """Total loss (mean data loss + penalties) on (X, y), without gradients or updates."""
        self._require_compiled()
        X, y = self._prepare(X, y)
        out, activity = self._forward(X, training)
        return float(self._train_loss.forward(out, y)) + self.regularization_loss() + float(activity)

    def compute_gradients(self, X, y, training=False):
        """``(total_loss, grads)`` for one batch, no update; grads are aligned with ``get_weights()``
        (zeros for non-trainable weights such as BatchNormalization's moving statistics)."""
        self._require_compiled()
        X, y = self._prepare(X, y)
        data_loss, reg_loss, _ = self._loss_and_grads(X, y, training)
        grads = [layer.grads[key].copy() if key in layer.grads else np.zeros_like(layer.params[key])
                 for layer, key in self._weight_slots()]
        return data_loss + reg_loss, grads

    def train_on_batch(self, X, y):
        """One optimizer step on (X, y); returns the total loss before the step (as Keras)."""
        self._require_compiled()
        X, y = self._prepare(X, y)
        data_loss, reg_loss, _ = self._step(X, y)
        return data_loss + reg_loss

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, X, y, epochs=1, batch_size=32, validation_data=None, validation_split=0.0, shuffle=True,
            callbacks=None, verbose=1, initial_epoch=0):
        """Train for ``epochs`` passes over (X, y) in shuffled mini-batches; returns a :class:`History`.

        ``validation_split`` holds out the *last* fraction of the samples (before shuffling), as Keras does.
        ``verbose``: 0 silent, 1 a progressbar2 bar per epoch, 2 one line per epoch. History records per epoch:
        ``loss`` (= ``data_loss`` + ``reg_loss``, the batch-size-weighted mean over the epoch's batches), each
        metric, the same with ``val_`` for the validation data, and ``seconds``.
        """
        self._require_compiled()
        X, y = self._prepare(X, y)
        n = X.shape[0]
        if validation_data is None and validation_split:
            if not 0.0 < validation_split < 1.0:
                raise SpecError(f"argument 'validation_split' must be in (0, 1), got {validation_split!r}")
            n_val = int(n * validation_split)
            if n_val == 0 or n_val == n:
                raise DataError(f"validation_split={validation_split} leaves {n - n_val} training and {n_val} "
                                f"validation samples; both must be > 0")
            X, y, validation_data = X[:n - n_val], y[:n - n_val], (X[n - n_val:], y[n - n_val:])
            n = X.shape[0]
        batch_size = int(batch_size or 32)
        if batch_size < 1:
            raise SpecError(f"argument 'batch_size' must be >= 1, got {batch_size}")
        if validation_data is not None:
            if len(validation_data) != 2:
                raise DataError("argument 'validation_data' must be a tuple (X_val, y_val)")
            Xv = np.ascontiguousarray(check_inputs(validation_data[0], "validation_data[0]"), dtype=self.dtype)
            yv = self._prepare_targets(validation_data[1], Xv.shape[0], "validation_data[1]")
        n_batches = -(-n // batch_size)

        history = _callbacks.History()
        # History after the user's callbacks, so that what they add to the logs (LearningRateScheduler's
        # learning_rate) is recorded too; the progress display last.
        cbs = list(callbacks or []) + [history]
        if verbose == 1:
            cbs.append(_callbacks.ProgressBar(n_batches, epochs))
        elif verbose == 2:
            cbs.append(_callbacks.EpochLogger(epochs))
        for cb in cbs:
            cb.set_model(self)
        self.stop_training = False
        self.history = history
        for cb in cbs:
            cb.on_train_begin()

        # Batch buffers reused across batches and epochs: np.take(..., out=) writes shuffled rows into them.
        xbuf = np.empty((batch_size,) + X.shape[1:], dtype=X.dtype)
        ybuf = np.empty((batch_size,) + y.shape[1:], dtype=y.dtype)
        sizes = np.empty(n_batches)
        data_losses = np.empty(n_batches)
        reg_losses = np.empty(n_batches)
        # Metrics are computed once per epoch on all of the epoch's batch outputs (what Keras's stateful metrics
        # accumulate): the same batch-size-weighted mean for accuracy and other means, and no per-batch cost.
        epoch_out = np.empty((n,) + tuple(self.output_shape[1:]), dtype=self.dtype) if self.metrics else None
        for epoch in range(initial_epoch, epochs):
            start = time.perf_counter()
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            last_good = self.get_weights()
            order = self._shuffle_rng.permutation(n) if shuffle else np.arange(n)
            nan_batch = None
            for b in range(n_batches):
                idx = order[b * batch_size:(b + 1) * batch_size]
                m = idx.size
                # mode="clip": the indices are a permutation, always valid, and "raise" would buffer the copy.
                xb = np.take(X, idx, axis=0, out=xbuf[:m], mode="clip")
                yb = np.take(y, idx, axis=0, out=ybuf[:m], mode="clip")
                data_loss, reg_loss, out = self._step(xb, yb)
                sizes[b], data_losses[b], reg_losses[b] = m, data_loss, reg_loss
                if epoch_out is not None:
                    epoch_out[b * batch_size:b * batch_size + m] = out
                if not math.isfinite(data_loss + reg_loss):
                    nan_batch = b
                    break
                for cb in cbs:
                    cb.on_batch_end(b, {"loss": data_loss + reg_loss})
            if nan_batch is not None:
                self.set_weights(last_good)
                msg = (f"loss became {data_loss + reg_loss} at epoch {epoch + 1}, batch {nan_batch + 1}: training "
                       f"stopped and the weights of the last good epoch were kept. Try a smaller learning rate, "
                       f"gradient clipping (clipnorm=1.0) or check the inputs' scale.")
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
                self.stop_training = True
                history.stopped_reason = msg
                break
            logs = {"loss": _callbacks.average(data_losses + reg_losses, sizes),
                    "data_loss": _callbacks.average(data_losses, sizes),
                    "reg_loss": _callbacks.average(reg_losses, sizes)}
            if epoch_out is not None:
                prob, y_seen = self._output(epoch_out), y[order]   # metrics see probabilities, also when fused
                for name, fn in self._metric_fns.items():
                    logs[name] = float(fn(y_seen, prob))
            if validation_data is not None:
                for key, value in self._evaluate_prepared(Xv, yv).items():
                    logs[f"val_{key}"] = value
            logs["seconds"] = time.perf_counter() - start
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end()
        return history

    # ------------------------------------------------------------------------------------------------ inference
    def _evaluate_prepared(self, X, y, batch_size=None):
        batch_size = batch_size or INFERENCE_BATCH
        n = X.shape[0]
        data, activity, weights = [], [], []
        metric_values = {name: [] for name in self.metrics}
        for start in range(0, n, batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            out, act = self._forward(xb, training=False)
            data.append(float(self._train_loss.forward(out, yb)))
            activity.append(float(act))
            weights.append(xb.shape[0])
            prob = self._output(out) if self._metric_fns else out
            for name, fn in self._metric_fns.items():
                metric_values[name].append(fn(yb, prob))
        data_loss = _callbacks.average(data, weights)
        reg_loss = self.regularization_loss() + _callbacks.average(activity, weights)
        result = {"loss": data_loss + reg_loss, "data_loss": data_loss, "reg_loss": reg_loss}
        for name in self.metrics:
            result[name] = _callbacks.average(metric_values[name], weights)
        return result

    def evaluate(self, X, y, batch_size=None, verbose=0):
        """``{"loss", "data_loss", "reg_loss", <metrics>}`` on (X, y) in inference mode."""
        self._require_compiled()
        X, y = self._prepare(X, y)
        result = self._evaluate_prepared(X, y, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in result.items()))
        return result

    def predict(self, X, batch_size=None, mc_samples=None, return_std=False):
        """The model's output for X in inference mode; with a from-logits loss (softmax_cross_entropy), the
        probabilities.

        MC dropout: with ``mc_samples=T`` the stochastic layers (Dropout, AlphaDropout, Gaussian noise) stay active
        and the output is the mean of T passes, p̂ = (1/T) Σ_t f(x; mask_t); ``return_std=True`` also returns the
        per-sample standard deviation over the T passes (an uncertainty estimate). Other layers (BatchNormalization)
        stay in inference mode.
        """
        X, _ = self._prepare(X)
        if mc_samples is None:
            if return_std:
                raise SpecError("predict: return_std=True needs mc_samples (e.g. mc_samples=100)")
            return self._predict_once(X, batch_size)
        mc_samples = int(mc_samples)
        if mc_samples < 1:
            raise SpecError(f"predict: argument 'mc_samples' must be >= 1, got {mc_samples}")
        stochastic = [layer for layer in self.layers if getattr(layer, "stochastic", False)]
        if not stochastic:
            warnings.warn("predict(mc_samples=...): the model has no dropout/noise layer, every pass is identical",
                          RuntimeWarning, stacklevel=2)
        for layer in stochastic:
            layer.mc_active = True
        try:
            total = total_sq = None
            for _ in range(mc_samples):
                p = self._predict_once(X, batch_size).astype(np.float64)
                total = p if total is None else total + p
                total_sq = p * p if total_sq is None else total_sq + p * p
        finally:
            for layer in stochastic:
                layer.mc_active = False
        mean = total / mc_samples
        if not return_std:
            return mean.astype(self.dtype)
        std = np.sqrt(np.maximum(total_sq / mc_samples - mean * mean, 0.0))
        return mean.astype(self.dtype), std.astype(self.dtype)

    def _predict_once(self, X, batch_size):
        batch_size = batch_size or INFERENCE_BATCH
        outs = []
        for start in range(0, X.shape[0], batch_size):
            out, _ = self._forward(X[start:start + batch_size], training=False)
            outs.append(self._output(out))
        return np.concatenate(outs, axis=0)

    def _output(self, out):
        loss = getattr(self, "_train_loss", None)
        return loss.output(out) if loss is not None else out

    def predict_classes(self, X):
        """Arg-max class of ``predict(X)`` (threshold 0.5 for a single output)."""
        p = self.predict(X)
        return (p[:, 0] > 0.5).astype(np.int64) if p.shape[-1] == 1 else p.argmax(axis=-1)

    # ------------------------------------------------------------------------------------------------ info
    def summary(self, print_fn=print):
        """Print a Keras-style table: layer, output shape, parameter count."""
        rows = [(f"{layer.name} ({type(layer).__name__})", str(layer.output_shape if layer.built else "?"),
                 str(layer.count_params())) for layer in self.layers]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "  ".join("-" * w for w in widths)
        out = [f'Model: "{self.name}"', line,
               "  ".join(h.ljust(w) for h, w in zip(("Layer (type)", "Output Shape", "Param #"), widths)), line]
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        out += [line, f"Total params: {self.count_params():,}"]
        text = "\n".join(out)
        print_fn(text)
        return text

    def get_config(self):
        return {"class": "Sequential", "name": self.name, "seed": self.seed,
                "dtype": np.dtype(self.dtype).name,
                "layers": [to_json(layer) for layer in self.layers],
                "input_shape": list(self.input_shape) if self.built else None,
                "compile": self._compile_config()}

    def _compile_config(self):
        if self.loss is None:
            return None
        return {"optimizer": str(self.optimizer), "loss": str(self.loss), "metrics": list(self.metrics)}

    def save(self, path):
        """Save architecture, weights and optimizer state to ``path`` (.npz + JSON; never pickle)."""
        from .io import save_model
        save_model(self, path)

    def __repr__(self):
        return f"<{type(self).__name__} {len(self.layers)} layers, {self.count_params()} params>"


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
        if isinstance(hidden_dims, int):
            hidden_dims = (hidden_dims,)
        self.hidden_dims = tuple(int(h) for h in hidden_dims)
        if any(h < 1 for h in self.hidden_dims):
            raise SpecError(f"DFN: argument 'hidden_dims' must be positive integers, got {hidden_dims!r}")
        if int(n_classes) < 1:
            raise SpecError(f"DFN: argument 'n_classes' must be >= 1, got {n_classes!r}")
        self.n_classes = int(n_classes)
        self.activation = activation
        self.regularizer = regularizer
        self.init_w = init_w
        self.init_b = init_b
        self.dropout = float(dropout)
        if not 0.0 <= self.dropout < 1.0:
            raise SpecError(f"DFN: argument 'dropout' must be in [0, 1), got {dropout!r}")
        for h in self.hidden_dims:
            self.add(_layers.Dense(h, activation=activation, kernel_initializer=init_w, bias_initializer=init_b,
                                   kernel_regularizer=regularizer))
            if self.dropout > 0:
                self.add(_layers.get({"name": "dropout", "config": {"rate": self.dropout}}))
        self.add(_layers.Dense(self.n_classes, kernel_initializer=init_w, bias_initializer=init_b,
                               kernel_regularizer=regularizer))
        self.compile(optimizer=optimizer, loss=loss, metrics=list(metrics or []))

    def get_config(self):
        config = super().get_config()
        config["class"] = "DFN"
        config["dfn"] = {"hidden_dims": list(self.hidden_dims), "n_classes": self.n_classes,
                         "activation": str(self.activation), "regularizer": None if self.regularizer is None
                         else str(self.regularizer), "init_w": str(self.init_w), "init_b": str(self.init_b),
                         "dropout": self.dropout}
        return config


def model_from_config(config):
    """Rebuild a (not yet trained) model from :meth:`Sequential.get_config` output."""
    if not isinstance(config, dict) or config.get("class") not in ("Sequential", "DFN"):
        raise DataError("model config must be a dict with class 'Sequential' or 'DFN'")
    compile_cfg = config.get("compile")
    if config["class"] == "DFN":
        d = config["dfn"]
        model = DFN(hidden_dims=tuple(d["hidden_dims"]), n_classes=d["n_classes"], activation=d["activation"],
                    regularizer=d["regularizer"], init_w=d["init_w"], init_b=d["init_b"], dropout=d["dropout"],
                    seed=config.get("seed"), dtype=config.get("dtype"), name=config.get("name", "dfn"),
                    optimizer=compile_cfg["optimizer"], loss=compile_cfg["loss"], metrics=compile_cfg["metrics"])
    else:
        model = Sequential([_layers.get(spec) for spec in config["layers"]], seed=config.get("seed"),
                           dtype=config.get("dtype"), name=config.get("name"))
        if compile_cfg:
            model.compile(**compile_cfg)
    if config.get("input_shape"):
        model.build(tuple(config["input_shape"]))
    return model


def _dumps(config):
    return json.dumps(config, sort_keys=True)
