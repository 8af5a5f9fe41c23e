"""The training loop: ``fit`` and what it needs — argument checks, batch sources, sample weights, the NaN guard.

One epoch of ``fit``:

    for each batch (x, y, w) of the source (arrays: a fresh permutation; a stream: whatever it yields)
        callbacks.on_batch_begin
        loss, grads = model's forward + backward on the batch        (Model._step: skipped if the loss is NaN)
        optimizer update, constraints
        callbacks.on_batch_end
    metrics on all of the epoch's outputs, validation, callbacks.on_epoch_end

Every argument is checked before the first batch; a NaN/inf loss or non-finite weights end training with the
weights and optimizer state of the start of that epoch. The model's passes (forward, backward, the step) live in
:mod:`numpynet.model`; this module only drives them.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from . import callbacks as _callbacks
from . import inference as _inference
from .errors import DataError, ShapeError, SpecError
from .inputs import as_numeric_array
from .spec import check_bool, check_int, check_number

__all__ = ["fit", "sample_weights", "check_verbose", "check_callbacks"]


def check_verbose(owner, value):
    """Keras's verbose values: 0 (silent), 1 (progress bar), 2 (one line per epoch) or "auto" (= 1)."""
    if isinstance(value, str) and value == "auto":
        return 1
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value not in (0, 1, 2):
        raise SpecError(f"{owner}: argument 'verbose' must be 0 (silent), 1 (progress bar), 2 (one line per "
                        f"epoch) or 'auto', got {value!r}")
    return int(value)


def check_callbacks(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, _callbacks.Callback):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise SpecError(f"fit: argument 'callbacks' must be a list of nn.callbacks.Callback objects, got "
                        f"{type(callbacks).__name__}")
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, _callbacks.Callback):
            raise SpecError(f"fit: argument 'callbacks[{i}]' must be an nn.callbacks.Callback (subclass it, or use "
                            f"nn.callbacks.LambdaCallback), got {cb!r} ({type(cb).__name__})")
    return list(callbacks)


def _is_stream(X):
    """An iterable of batches (a generator, nn.data.BatchStream, ...) rather than array data."""
    if isinstance(X, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(X, "__array__"):
        return False
    return hasattr(X, "__iter__") or hasattr(X, "__next__")


def _class_labels(y):
    """Class index per sample of prepared targets: labels (N,), one-hot rows (N, K) or binary (N, 1)."""
    if y.ndim == 1:
        return y.astype(np.int64)
    if y.shape[-1] == 1:
        return np.rint(y.reshape(y.shape[0], -1)[:, 0]).astype(np.int64)
    return y.reshape(y.shape[0], -1, y.shape[-1]).argmax(axis=-1)[:, 0]


class _ArraySource:
    """The batches of array data: a fresh permutation per epoch from the model's shuffle generator, rows gathered
    into buffers reused across batches and epochs (sized min(batch_size, n))."""

    def __init__(self, model, xs, ys, sws, batch_size, shuffle, steps_per_epoch):
        self.model, self.xs, self.ys, self.sws, self.shuffle = model, xs, ys, sws, shuffle
        n = xs[0].shape[0]
        self.batch_size = min(batch_size, n)
        self.n_batches = -(-n // self.batch_size)
        if steps_per_epoch is not None:
            self.n_batches = min(self.n_batches, steps_per_epoch)
        self.xbufs = [np.empty((self.batch_size,) + x.shape[1:], dtype=x.dtype) for x in xs]
        self.ybufs = [np.empty((self.batch_size,) + t.shape[1:], dtype=t.dtype) for t in ys]
        self.wbuf = None if sws is None else np.empty(self.batch_size)

    def epoch(self):
        n = self.xs[0].shape[0]
        order = self.model._shuffle_rng.permutation(n) if self.shuffle else np.arange(n)
        size = self.batch_size
        for b in range(self.n_batches):
            idx = order[b * size:(b + 1) * size]
            m = idx.size
            # mode="clip": the indices are a permutation, always valid, and "raise" would buffer the copy.
            xb = [np.take(x, idx, axis=0, out=buf[:m], mode="clip") for x, buf in zip(self.xs, self.xbufs)]
            yb = [np.take(t, idx, axis=0, out=buf[:m], mode="clip") for t, buf in zip(self.ys, self.ybufs)]
            wb = None if self.sws is None else np.take(self.sws, idx, out=self.wbuf[:m], mode="clip")
            yield xb, yb, wb


class _StreamSource:
    """Batches from an iterable of ``(x, y)`` or ``(x, y, sample_weight)``; each is validated like array data
    before it is trained on.

    Without ``steps_per_epoch`` an epoch is one pass of ``iter(data)``; with it, batches are drawn from one
    iterator across epochs (Keras's habit for endless generators), restarted when a re-iterable runs out."""

    def __init__(self, model, data, steps_per_epoch):
        self.model, self.data, self.steps = model, data, steps_per_epoch
        self.reiterable = hasattr(data, "__iter__") and not hasattr(data, "__next__")
        if steps_per_epoch is None:
            try:
                self.n_batches = len(data)
            except TypeError:
                self.n_batches = None
        else:
            self.n_batches = steps_per_epoch
        self.iterator = None
        self.epochs_done = 0

    def _next_batch(self):
        try:
            return next(self.iterator)
        except StopIteration:
            if not self.reiterable:
                raise
            self.iterator = iter(self.data)
            return next(self.iterator)

    def epoch(self):
        if self.steps is None or self.iterator is None:
            self.iterator = iter(self.data)
        count = 0
        while self.steps is None or count < self.steps:
            try:
                item = next(self.iterator) if self.steps is None else self._next_batch()
            except StopIteration:
                break
            yield self._prepare(item, count)
            count += 1
        if (self.steps is not None and count < self.steps) or count == 0:
            what = (f"{count} of steps_per_epoch={self.steps} batches" if self.steps is not None
                    else "no batches")
            hint = ("" if self.reiterable else "; a generator runs once: pass a re-iterable such as "
                    "nn.data.BatchStream, or a generator that loops forever with steps_per_epoch")
            raise DataError(f"argument 'X': the data ran out in epoch {self.epochs_done + 1} after {what}{hint}")
        self.epochs_done += 1

    def _prepare(self, item, index):
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise DataError(f"argument 'X': batch {index + 1} must be a tuple (x, y) or (x, y, sample_weight), "
                            f"got {type(item).__name__}")
        model = self.model
        try:
            xs = model._prepare_x(item[0])
            ys = model._prepare_y(item[1], xs[0].shape[0])
            ws = None if len(item) == 2 else sample_weights(item[2], None, ys, xs[0].shape[0])
        except (DataError, ShapeError) as exc:
            raise type(exc)(f"argument 'X', batch {index + 1}: {exc}") from None
        return xs, ys, ws


def sample_weights(sample_weight, class_weight, ys, n, name="sample_weight"):
    """Per-sample weights w (n,) from ``sample_weight`` or ``class_weight`` (w_n = class_weight[y_n]), or None.

    Checked before anything changes: one finite, non-negative number per sample; every class of ``y`` in
    ``class_weight``; not both (as Keras)."""
    if sample_weight is not None and class_weight is not None:
        raise SpecError("fit: pass 'sample_weight' or 'class_weight', not both (fold the class weights into "
                        "the sample weights)")
    if sample_weight is not None:
        w = as_numeric_array(sample_weight, name)
        if w.dtype.kind == "c" or w.dtype.kind == "b":
            raise DataError(f"argument {name!r} must hold real numbers, got dtype {w.dtype}")
        if w.ndim == 2 and w.shape[1] == 1:
            w = w[:, 0]
        if w.shape != (n,):
            raise ShapeError(f"argument {name!r} must have one weight per sample, shape ({n},); got shape "
                             f"{w.shape}")
    elif class_weight is not None:
        if not isinstance(class_weight, dict) or not class_weight:
            raise SpecError(f"argument 'class_weight' must be a dict {{class index: weight}}, got "
                            f"{class_weight!r}")
        for key in class_weight:
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
                raise SpecError(f"argument 'class_weight': keys must be class indices (int), got {key!r}")
        if len(ys) != 1:
            raise SpecError("argument 'class_weight' needs a model with one output")
        labels = _class_labels(ys[0])
        lookup = np.full(int(max(int(labels.max()), max(class_weight))) + 1, np.nan)
        for key, value in class_weight.items():
            if key >= 0:
                lookup[key] = check_number("fit", f"class_weight[{key}]", value, minimum=0.0)
        w = lookup[labels]
        if np.isnan(w).any():
            missing = sorted({int(c) for c in labels[np.isnan(w)]})
            raise DataError(f"argument 'class_weight' has no weight for class(es) {missing} present in y; "
                            f"given: {sorted(class_weight)}")
    else:
        return None
    w = w.astype(np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        bad = w[~np.isfinite(w) | (w < 0)][0]
        raise DataError(f"argument {name!r} must be finite and >= 0, got {bad!r}")
    return w


def fit(model, X, y=None, epochs=1, batch_size=None, validation_data=None, validation_split=0.0, shuffle=True,
        callbacks=None, verbose=1, initial_epoch=0, sample_weight=None, class_weight=None,
        steps_per_epoch=None):
    """The loop behind :meth:`numpynet.model.Model.fit` (``model.fit(...)`` calls it; the arguments and what
    they mean are documented there)."""
    model._require_compiled()
    epochs = check_int("fit", "epochs", epochs, minimum=1)
    initial_epoch = check_int("fit", "initial_epoch", initial_epoch, minimum=0)
    if initial_epoch >= epochs:
        raise SpecError(f"fit: argument 'initial_epoch' ({initial_epoch}) must be smaller than 'epochs' "
                        f"({epochs})")
    batch_size = 32 if batch_size is None else check_int("fit", "batch_size", batch_size, minimum=1)
    shuffle = check_bool("fit", "shuffle", shuffle)
    verbose = check_verbose("fit", verbose)
    split = check_number("fit", "validation_split", validation_split, minimum=0.0, maximum=1.0)
    steps_per_epoch = (None if steps_per_epoch is None
                       else check_int("fit", "steps_per_epoch", steps_per_epoch, minimum=1))
    callbacks = check_callbacks(callbacks)
    if _is_stream(X):
        if y is not None or sample_weight is not None or class_weight is not None:
            raise SpecError("fit: when 'X' is an iterable of batches, the targets (and sample weights) come "
                            "from it; pass y=None, sample_weight=None and class_weight=None")
        if split:
            raise SpecError("fit: 'validation_split' needs arrays; with a stream of batches pass "
                            "validation_data=(X_val, y_val)")
        source = _StreamSource(model, X, steps_per_epoch)
        validation = None
    else:
        if y is None:
            raise SpecError("fit: argument 'y' is missing (targets for X)")
        xs, ys = model._prepare(X, y)
        sws = sample_weights(sample_weight, class_weight, ys, xs[0].shape[0])
        validation = None
        if split and validation_data is None:
            n = xs[0].shape[0]
            n_val = int(n * split)
            if not 0 < n_val < n:
                raise DataError(f"validation_split={split} leaves {n - n_val} training and {n_val} "
                                f"validation samples; both must be > 0")
            validation = ([x[n - n_val:] for x in xs], [t[n - n_val:] for t in ys],
                          None if sws is None else sws[n - n_val:])
            xs, ys = [x[:n - n_val] for x in xs], [t[:n - n_val] for t in ys]
            sws = None if sws is None else sws[:n - n_val]
        source = _ArraySource(model, xs, ys, sws, batch_size, shuffle, steps_per_epoch)
    if validation_data is not None:
        validation = _prepare_validation(model, validation_data)

    history = _callbacks.History()
    # History after the user's callbacks, so that what they add to the logs (LearningRateScheduler's
    # learning_rate) is recorded too; the progress display last.
    cbs = callbacks + [history]
    if verbose == 1:
        cbs.append(_callbacks.ProgressBar(source.n_batches, epochs))
    elif verbose == 2:
        cbs.append(_callbacks.EpochLogger(epochs))
    for cb in cbs:
        cb.set_model(model)
    model.stop_training = False
    model.history = history
    model.last_batch = None
    for cb in cbs:
        cb.on_train_begin()
    # A stream's batches are checked as they come: a bad one puts back the weights fit started from.
    start_state = _snapshot(model) if isinstance(source, _StreamSource) else None
    try:
        _train_epochs(model, source, cbs, history, validation, initial_epoch, epochs)
    except (DataError, ShapeError):
        if start_state is not None:
            _restore(model, start_state)
        raise
    for cb in cbs:
        cb.on_train_end()
    return history


def _train_epochs(model, source, cbs, history, validation, initial_epoch, epochs):
    for epoch in range(initial_epoch, epochs):
        start = time.perf_counter()
        for cb in cbs:
            cb.on_epoch_begin(epoch)
        snapshot = _snapshot(model)
        sizes, data_losses, reg_losses, epoch_outs, epoch_ys = [], [], [], [], []
        bad = None
        for b, (xb, yb, wb) in enumerate(source.epoch()):
            for cb in cbs:
                cb.on_batch_begin(b, {})
            data_loss, reg_loss, outs = model._step(xb, yb, wb)
            sizes.append(xb[0].shape[0])
            data_losses.append(data_loss)
            reg_losses.append(reg_loss)
            if not math.isfinite(data_loss + reg_loss):
                bad = f"loss became {data_loss + reg_loss} at epoch {epoch + 1}, batch {b + 1}"
                break
            if model.metrics:   # metrics once per epoch on all outputs (Keras's stateful metrics)
                epoch_outs.append([out.copy() for out in outs])
                epoch_ys.append([t.copy() for t in yb])
            model.last_batch = (xb, yb)
            for cb in cbs:
                cb.on_batch_end(b, {"loss": data_loss + reg_loss})
            if model.stop_training:
                break
        if bad is None and not _weights_finite(model):
            bad = f"the weights stopped being finite during epoch {epoch + 1}"
        if bad is not None:
            _restore(model, snapshot)
            msg = (f"{bad}: training stopped and the weights of the start of epoch {epoch + 1} (the last "
                   f"finite ones) were kept. Try a smaller learning rate, gradient clipping (clipnorm=1.0) or "
                   f"check the inputs' scale.")
            warnings.warn(msg, RuntimeWarning, stacklevel=4)   # the user's call to model.fit
            model.stop_training = True
            history.stopped_reason = msg
            break
        logs = {"loss": _inference.average(np.add(data_losses, reg_losses), sizes),
                "data_loss": _inference.average(data_losses, sizes),
                "reg_loss": _inference.average(reg_losses, sizes)}
        if epoch_outs:
            # metrics see probabilities, also when fused
            logs.update(model._metric_values([np.concatenate(c) for c in zip(*epoch_outs)],
                                            [np.concatenate(c) for c in zip(*epoch_ys)]))
        if validation is not None:
            for key, value in model._evaluate_prepared(*validation).items():
                logs[f"val_{key}"] = value
        logs["seconds"] = time.perf_counter() - start
        for cb in cbs:
            cb.on_epoch_end(epoch, logs)
        if model.stop_training:
            break


def _prepare_validation(model, validation_data):
    """(xs, ys, sample weights or None) from ``(X_val, y_val)`` or ``(X_val, y_val, w_val)``."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        got = type(validation_data).__name__
        if isinstance(validation_data, (tuple, list)):
            got += f" of length {len(validation_data)}"
        raise DataError(f"argument 'validation_data' must be a tuple (X_val, y_val) or (X_val, y_val, "
                        f"sample_weight_val), got {got}")
    try:   # the same checks and conversion as X (float32 range included), the argument named in the message
        xvs = model._prepare_x(validation_data[0], "validation_data[0]")
    except ShapeError as exc:
        text = str(exc)
        raise ShapeError(text if "validation_data" in text else f"argument 'validation_data[0]': {text}") from None
    yvs = model._prepare_y(validation_data[1], xvs[0].shape[0], "validation_data[1]")
    wv = None if len(validation_data) == 2 else sample_weights(
        validation_data[2], None, yvs, xvs[0].shape[0], "validation_data[2]")
    return xvs, yvs, wv


def _snapshot(model):
    """What a NaN rollback restores: copies of the weights and of the optimizer's state."""
    return model.get_weights(), model.optimizer.get_state() if model.optimizer.built else None


def _restore(model, snapshot):
    weights, state = snapshot
    model.set_weights(weights)
    if state is not None:
        model.optimizer.set_state(state)


def _weights_finite(model):
    """One pass over the weights per epoch (not per batch: a NaN there shows in the next batch's loss)."""
    return all(np.isfinite(layer.params[key]).all() for layer, key in model._weight_slots())


