"""Callbacks: hooks the training loop calls at the start/end of training, of each epoch and of each batch.

Same names and semantics as Keras: ``History``, ``EarlyStopping``, ``LearningRateScheduler``, ``CSVLogger``,
``TerminateOnNaN``, plus ``ProgressBar`` (a progressbar2 bar, ``verbose=1``), ``EpochLogger`` (``verbose=2``) and
``RegularizationLogger`` (``sum(model.losses)`` after every epoch, into the logs and the history).
"""

from __future__ import annotations

import csv
import math
import sys
import time
import warnings

import numpy as np

from .errors import SpecError


class Callback:
    """Base class; override any hook. ``self.model`` is set before training starts."""

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


class History(Callback):
    """Records every epoch's logs: ``history["loss"]``, ``["data_loss"]``, ``["reg_loss"]``, metrics, ``val_*``
    and ``["seconds"]`` (wall time of the epoch). ``model.fit`` returns it."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={sorted(self.history)}>"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras 3 semantics).

    An epoch improves when ``current − min_delta`` beats the best so far (mode "min"; "max" mirrors it; "auto"
    picks "max" for accuracy-like names). ``baseline``: until the monitored value beats it, improvements do not
    reset the patience counter. ``restore_best_weights``: at the end of training the weights of the best epoch are
    restored, also when training ran to the last epoch. ``start_from_epoch``: epochs before it are ignored.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        if mode not in ("auto", "min", "max"):
            raise SpecError(f"EarlyStopping: argument 'mode' must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        if mode == "auto":
            mode = "max" if any(s in monitor for s in ("acc", "auc", "precision", "recall")) else "min"
        self.mode = mode
        self.min_delta = abs(float(min_delta)) if mode == "max" else -abs(float(min_delta))
        self.best = None

    def _better(self, value, reference):
        if reference is None:
            return True
        shifted = value - self.min_delta
        return shifted > reference if self.mode == "max" else shifted < reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping: monitor {self.monitor!r} is not in the logs "
                          f"(available: {sorted(logs or {})})", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = [w.copy() for w in self.model.get_weights()]
            self.best_epoch = epoch
        self.wait += 1
        if self._better(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = [w.copy() for w in self.model.get_weights()]
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``), as Keras does."""

    def __init__(self, schedule, verbose=0):
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        lr = float(opt.learning_rate_at())
        try:
            new = self.schedule(epoch, lr)
        except TypeError:
            new = self.schedule(epoch)
        new = float(new)
        if not math.isfinite(new):
            raise ValueError(f"LearningRateScheduler: schedule returned {new!r} for epoch {epoch}")
        opt.learning_rate = new
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate_at())


class RegularizationLogger(Callback):
    """Logs the model's regularization loss, ``sum(model.losses)``, at the end of every epoch.

    The value goes into the epoch's logs under ``key`` (default ``"reg_penalty"``), so ``fit``'s History records
    it (``hist.history["reg_penalty"]``) and CSVLogger / EarlyStopping see it; it is also kept in ``self.values``
    (one float per epoch) and, before the first epoch, in ``self.initial``. It is the Keras idiom
    ``logs["reg_penalty"] = float(sum(model.losses))`` written once.

    How it differs from ``history["reg_loss"]``: ``reg_loss`` is the mean over the epoch's batches of the penalty
    *as each batch was trained* (the penalty part of ``loss``); ``reg_penalty`` is the penalty of the weights as the
    epoch *ended*. Both are weight penalties only (kernels, biases); activity penalties depend on the data and are
    in ``reg_loss`` alone. A model without regularizers logs 0.0.
    """

    def __init__(self, key="reg_penalty"):
        if not isinstance(key, str) or not key:
            raise SpecError(f"RegularizationLogger: argument 'key' must be a non-empty string, got {key!r}")
        self.key = key
        self.values = []
        self.initial = None

    def _current(self):
        return float(sum(self.model.losses))

    def on_train_begin(self, logs=None):
        self.values = []
        self.initial = self._current()

    def on_epoch_end(self, epoch, logs=None):
        value = self._current()
        self.values.append(value)
        if logs is not None:
            logs[self.key] = value

    def __repr__(self):
        return f"<RegularizationLogger key={self.key!r} epochs={len(self.values)}>"


class TerminateOnNaN(Callback):
    """Stops training when a batch loss is NaN or infinite (``fit`` already does this by itself)."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True


class CSVLogger(Callback):
    """Writes one CSV row of logs per epoch to ``filename``."""

    def __init__(self, filename, separator=",", append=False):
        self.filename = filename
        self.separator = separator
        self.append = append

    def on_train_begin(self, logs=None):
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + list(logs), delimiter=self.separator)
            if not self.append:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **logs})
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()


def _format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


class CurrentStderr:
    """Writes to whatever ``sys.stderr`` is *now*.

    progressbar2 swaps ``sys.stderr`` for the stream it saw when it was first imported; under pytest, Jupyter or
    any redirection that stream may since have been replaced or closed. Looking it up at each write avoids that.
    """

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()

    def isatty(self):
        return getattr(sys.stderr, "isatty", lambda: False)()

    def fileno(self):
        return sys.stderr.fileno()

    @property
    def encoding(self):
        return getattr(sys.stderr, "encoding", "utf-8")


class ProgressBar(Callback):
    """A progressbar2 bar per epoch (``verbose=1``): batches done, ETA and the running loss."""

    def __init__(self, n_batches, epochs, stream=None):
        self.n_batches = n_batches
        self.epochs = epochs
        self.stream = stream or CurrentStderr()

    def on_epoch_begin(self, epoch, logs=None):
        import progressbar
        widgets = [f"Epoch {epoch + 1}/{self.epochs} ", progressbar.Percentage(), " ", progressbar.Bar(), " ",
                   progressbar.Counter(), f"/{self.n_batches} ", progressbar.ETA(), " ",
                   progressbar.Variable("loss", format="loss: {formatted_value}", precision=4)]
        self.bar = progressbar.ProgressBar(max_value=self.n_batches, widgets=widgets, fd=self.stream,
                                           redirect_stdout=False)
        self.bar.start()

    def on_batch_end(self, batch, logs=None):
        self.bar.update(batch + 1, loss=(logs or {}).get("loss", 0.0))

    def on_epoch_end(self, epoch, logs=None):
        self.bar.finish()
        print(f"Epoch {epoch + 1}/{self.epochs} - {_format_logs(logs or {})}", file=self.stream)


class EpochLogger(Callback):
    """One line per epoch (``verbose=2``)."""

    def __init__(self, epochs, stream=None):
        self.epochs = epochs
        self.stream = stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.epochs} - {_format_logs(logs or {})}", file=self.stream, flush=True)


def average(values, weights):
    """Weighted mean (Keras's epoch loss: batch losses weighted by batch size)."""
    return float(np.dot(values, weights) / np.sum(weights))
