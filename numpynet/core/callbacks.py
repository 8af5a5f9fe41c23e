"""Callbacks: hooks the training loop calls at the start/end of training, of each epoch and of each batch.

Same names and semantics as Keras: ``History``, ``EarlyStopping``, ``LearningRateScheduler``, ``CSVLogger``,
``TerminateOnNaN``, ``ModelCheckpoint``, ``ReduceLROnPlateau``, ``LambdaCallback``, plus ``ProgressBar`` (a
progressbar2 bar, ``verbose=1``), ``EpochLogger`` (``verbose=2``) and ``RegularizationLogger``
(``sum(model.losses)`` after every epoch, into the logs and the history) and ``GradientStats`` (per-layer
gradient norms, the penalty's share of the gradient, dead and saturated units, after every epoch).

Progress output fits where it goes: in a terminal or a Jupyter notebook ``ProgressBar`` redraws one bar in place;
when the stream is not a terminal (a log file, CI, pytest's capture) it writes one line per epoch and nothing
per batch. The decision is progressbar2's own (:func:`is_interactive`), so ``PROGRESSBAR_IS_TERMINAL=1`` forces
the bar and ``=0`` the plain lines.
"""

from __future__ import annotations

import csv
import inspect
import math
import os
import string
import sys
import time
import warnings

import numpy as np

from .errors import SpecError
from .progress import CurrentStderr, format_logs, is_interactive
from .spec import check_int, check_number


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

    def on_batch_begin(self, batch, logs=None):
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
        mode = _check_monitor("EarlyStopping", monitor, mode)
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.mode = mode
        # signed as Keras keeps it: an improvement is value − min_delta beating the best (ModelCheckpoint and
        # ReduceLROnPlateau compare the other way round, value against best ∓ min_delta, as Keras does too)
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


def _positional_arity(fn):
    """How many positional arguments ``fn`` can take (a large number for ``*args``; 2 when unknown, as Keras)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 2**31
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``), as Keras does."""

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise SpecError(f"LearningRateScheduler: argument 'schedule' must be a function schedule(epoch, lr) or "
                            f"schedule(epoch), got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        # decided from the signature once (not by catching TypeError, which would hide a bug inside the schedule)
        self._takes_lr = _positional_arity(schedule) >= 2

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        lr = float(opt.learning_rate_at())
        new = float(self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch))
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


class ProgressBar(Callback):
    """Progress of ``fit`` with ``verbose=1``: a progressbar2 bar per epoch where it can be redrawn, else one line.

    * ``stream`` is a terminal or a notebook (:func:`is_interactive`): the bar (batches done, ETA, running loss) is
      redrawn in place, then the epoch's line of logs is printed below it.
    * anything else (a file, a pipe, CI, ``io.StringIO``): only the epoch's line, ``Epoch 3/20 - loss: ...`` — at
      most one line per epoch, never one per batch (progressbar2 on its own writes a new line for every redraw
      when it is not on a terminal).

    ``n_batches`` may be ``None`` (a stream of unknown length): the bar then counts without a total.
    ``interactive`` forces the choice (``None`` detects it at the start of training).
    """

    def __init__(self, n_batches, epochs, stream=None, interactive=None):
        if n_batches is not None and (isinstance(n_batches, bool) or not isinstance(n_batches, int)
                                      or n_batches < 1):
            raise SpecError(f"ProgressBar: argument 'n_batches' must be a positive integer or None, got {n_batches!r}")
        self.n_batches = n_batches
        self.epochs = epochs
        self.stream = stream or CurrentStderr()
        self.interactive = interactive
        self.bar = None
        self._redraw = None

    def on_train_begin(self, logs=None):
        self._redraw = is_interactive(self.stream) if self.interactive is None else bool(self.interactive)

    def on_epoch_begin(self, epoch, logs=None):
        if self._redraw is None:   # driven by hand, without on_train_begin
            self.on_train_begin()
        if not self._redraw:
            return
        import progressbar
        total = self.n_batches if self.n_batches is not None else progressbar.UnknownLength
        counter = [progressbar.Counter(), f"/{self.n_batches} "] if self.n_batches is not None else \
            [progressbar.Counter(), " batches "]
        widgets = [f"Epoch {epoch + 1}/{self.epochs} "]
        if self.n_batches is not None:
            widgets += [progressbar.Percentage(), " ", progressbar.Bar(), " "]
        widgets += counter + [progressbar.ETA() if self.n_batches is not None else progressbar.Timer(), " ",
                              progressbar.Variable("loss", format="loss: {formatted_value}", precision=4)]
        self.bar = progressbar.ProgressBar(max_value=total, widgets=widgets, fd=self.stream,
                                           redirect_stdout=False, is_terminal=True, line_breaks=False)
        self.bar.start()

    def on_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(batch + 1, loss=(logs or {}).get("loss", 0.0))

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.finish()
            self.bar = None
        print(f"Epoch {epoch + 1}/{self.epochs} - {format_logs(logs or {})}", file=self.stream, flush=True)


class EpochLogger(Callback):
    """One line per epoch (``verbose=2``)."""

    def __init__(self, epochs, stream=None):
        self.epochs = epochs
        self.stream = stream or sys.stdout

    def on_epoch_end(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.epochs} - {format_logs(logs or {})}", file=self.stream, flush=True)


# ================================================================================== Keras's other callbacks

def _auto_mode(monitor):
    """'max' for accuracy-like names (acc, auc, precision, recall), else 'min' — EarlyStopping's rule."""
    return "max" if any(s in monitor for s in ("acc", "auc", "precision", "recall")) else "min"


def _check_monitor(owner, monitor, mode):
    if not isinstance(monitor, str) or not monitor:
        raise SpecError(f"{owner}: argument 'monitor' must be a non-empty string such as 'val_loss', got {monitor!r}")
    if mode not in ("auto", "min", "max"):
        raise SpecError(f"{owner}: argument 'mode' must be 'auto', 'min' or 'max', got {mode!r}")
    return _auto_mode(monitor) if mode == "auto" else mode


def _check_verbose(owner, verbose):
    if verbose not in (0, 1, True, False):
        raise SpecError(f"{owner}: argument 'verbose' must be 0 (quiet) or 1 (a message per action), got {verbose!r}")
    return int(verbose)


class ModelCheckpoint(Callback):
    """Save the model during training with ``model.save`` (.npz + JSON), as Keras's ``ModelCheckpoint``.

    ``filepath`` may hold ``str.format`` fields filled from the epoch's logs, as Keras:
    ``"ckpt/epoch{epoch:02d}-{val_loss:.4f}.npz"`` (``epoch`` counts from 1; with an integer ``save_freq`` also
    ``batch``, from 1). Missing folders are created. Each write goes through ``model.save``, which writes a
    temporary file and renames it, so an interrupted run never leaves a half-written checkpoint.

    * ``save_best_only``: save only when ``monitor`` improves on the best value so far,
      i.e. ``current < best`` (mode "min") or ``current > best`` (mode "max"); "auto" picks "max" for
      accuracy-like names. Without a placeholder in ``filepath`` the one file always holds the best model.
      ``initial_value_threshold`` is the best value to beat at the start (Keras's argument). If ``monitor`` is not in
      the logs, the model is saved anyway, with a warning (as Keras).
    * ``save_freq``: ``"epoch"`` (at the end of every epoch) or an integer: every that many batches, counted across
      epochs (the batch logs have ``loss`` only).
    * ``verbose=1`` prints a line per save (and per non-improvement with ``save_best_only``).

    Everything after ``filepath`` is keyword-only. ``self.best`` is the best monitored value; ``self.saved`` lists
    the paths written, in order.
    """

    def __init__(self, filepath, *, monitor="val_loss", verbose=0, save_best_only=False, mode="auto",
                 save_freq="epoch", initial_value_threshold=None):
        owner = "ModelCheckpoint"
        if isinstance(filepath, os.PathLike):
            filepath = os.fspath(filepath)
        if not isinstance(filepath, str) or not filepath.strip():
            raise SpecError(f"{owner}: argument 'filepath' must be a non-empty path, got {filepath!r}")
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(filepath) if name is not None]
        except ValueError as exc:
            raise SpecError(f"{owner}: argument 'filepath' is not a valid format string ({exc}): {filepath!r}; "
                            f"write fields as {{epoch:02d}} or {{val_loss:.4f}}, and braces as {{{{ }}}}") from None
        if "" in fields or any(name.isdigit() for name in fields):
            raise SpecError(f"{owner}: argument 'filepath' must name its fields ({{epoch:02d}}, {{val_loss:.4f}}), "
                            f"not use positional {{}} fields: {filepath!r}")
        if not fields and os.path.isdir(filepath):
            raise SpecError(f"{owner}: argument 'filepath' is an existing directory: {filepath!r}; give a file "
                            f"path such as {os.path.join(filepath, 'model.npz')!r}")
        self.mode = _check_monitor(owner, monitor, mode)
        if save_freq != "epoch":
            if isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer)) or save_freq < 1:
                raise SpecError(f"{owner}: argument 'save_freq' must be 'epoch' or a positive number of batches, "
                                f"got {save_freq!r}")
            save_freq = int(save_freq)
        if not isinstance(save_best_only, (bool, np.bool_)):
            raise SpecError(f"{owner}: argument 'save_best_only' must be True or False, got {save_best_only!r}")
        if initial_value_threshold is not None:
            initial_value_threshold = check_number(owner, "initial_value_threshold", initial_value_threshold,
                                                   minimum=-math.inf)
        self.filepath = filepath
        self.monitor = monitor
        self.verbose = _check_verbose(owner, verbose)
        self.save_best_only = bool(save_best_only)
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = initial_value_threshold
        self.saved = []
        self._epoch = 0
        self._batches_since_save = 0

    def on_train_begin(self, logs=None):
        # Keras keeps `best` across fit calls on the same callback; so does this (only the batch count restarts).
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _improved(self, current):
        if self.best is None:
            return True
        return current < self.best if self.mode == "min" else current > self.best

    def _path(self, epoch, batch, logs):
        values = dict(logs)
        values["epoch"] = epoch + 1
        if batch is not None:
            values["batch"] = batch + 1
        try:
            return self.filepath.format(**values)
        except KeyError as exc:
            raise SpecError(f"ModelCheckpoint: argument 'filepath' {self.filepath!r} names {exc.args[0]!r}, which "
                            f"is not in the logs of this {'epoch' if batch is None else 'batch'} (available: "
                            f"{', '.join(sorted(values))})") from None
        except (ValueError, TypeError) as exc:
            raise SpecError(f"ModelCheckpoint: cannot format argument 'filepath' {self.filepath!r} with the logs "
                            f"({exc})") from None

    def _save(self, epoch, batch, logs):
        logs = dict(logs or {})
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save the best model only with {self.monitor!r} in the logs "
                              f"(available: {sorted(logs)}); saving every time instead", stacklevel=3)
            elif self._improved(current):
                if self.verbose:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(f"Epoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving model "
                          f"to {path}")
                self.best = current
            else:
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self.model.save(path)
        self.saved.append(path)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has stopped improving (Keras 3 semantics).

    At the end of every epoch the current learning rate η is written to the logs as ``learning_rate`` (so History
    records the η each epoch trained with), then, with ``best`` the best monitored value so far:

    * in cooldown (``cooldown`` epochs after a reduction): the cooldown counter counts down and ``wait`` is 0;
    * if ``current`` improves on ``best`` by more than ``min_delta`` (``current < best − min_delta`` in mode "min",
      ``current > best + min_delta`` in "max"; the first value always does), ``best = current``, ``wait = 0``;
    * else, outside cooldown, ``wait += 1``; when ``wait >= patience`` and η > ``min_lr``:
      η ← max(η·factor, min_lr), cooldown restarts and ``wait = 0``.

    So with patience p the first reduction comes after p epochs without improvement. The new η is used from the
    next epoch on. As in Keras, the cooldown counter is decremented before the check of each later epoch, so
    ``cooldown=c`` skips the c − 1 epochs after the reduction (a parity test pins the sequence). The optimizer's
    learning rate must be a number (a schedule already decides η itself).
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        owner = "ReduceLROnPlateau"
        self.mode = _check_monitor(owner, monitor, mode)
        factor = check_number(owner, "factor", factor, minimum=0.0)
        if not 0.0 < factor < 1.0:
            raise SpecError(f"{owner}: argument 'factor' must be in (0, 1) (new_lr = lr·factor), got {factor!r}")
        self.monitor = monitor
        self.factor = factor
        self.patience = check_int(owner, "patience", patience, minimum=0)
        self.verbose = _check_verbose(owner, verbose)
        self.min_delta = check_number(owner, "min_delta", min_delta, minimum=0.0)
        self.cooldown = check_int(owner, "cooldown", cooldown, minimum=0)
        self.min_lr = check_number(owner, "min_lr", min_lr, minimum=0.0)
        self._reset()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _improved(self, current):
        if self.best is None:
            return True
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        from .schedules import LearningRateSchedule
        if isinstance(self.model.optimizer.learning_rate, LearningRateSchedule):
            raise SpecError(f"ReduceLROnPlateau needs a number as the optimizer's learning rate; it has the "
                            f"schedule {self.model.optimizer.learning_rate} (a schedule already sets η at each step)")
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = float(optimizer.learning_rate_at())
        if logs is not None:
            logs["learning_rate"] = lr
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau: monitor {self.monitor!r} is not in the logs "
                          f"(available: {sorted(logs or {})})", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and lr > self.min_lr:
                new_lr = max(lr * self.factor, self.min_lr)
                optimizer.learning_rate = new_lr
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                self.cooldown_counter = self.cooldown
                self.wait = 0


class LambdaCallback(Callback):
    """A callback made of plain functions, as Keras's ``LambdaCallback``.

    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_batch_begin(batch, logs)``,
    ``on_batch_end(batch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``; ``logs`` is always a dict
    (empty where the loop has nothing to report), so ``lambda epoch, logs: ...`` works everywhere.
    ``on_train_batch_begin`` / ``on_train_batch_end`` (Keras 3's names) are aliases of the batch hooks.

    >>> LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None):
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_batch_begin=on_batch_begin,
                     on_batch_end=on_batch_end, on_train_begin=on_train_begin, on_train_end=on_train_end)
        for alias, hook in (("on_train_batch_begin", "on_batch_begin"), ("on_train_batch_end", "on_batch_end")):
            fn = on_train_batch_begin if alias == "on_train_batch_begin" else on_train_batch_end
            if fn is not None:
                if given[hook] is not None:
                    raise SpecError(f"LambdaCallback: give {hook!r} or its alias {alias!r}, not both")
                given[hook] = fn
        for name, fn in given.items():
            if fn is not None and not callable(fn):
                raise SpecError(f"LambdaCallback: argument {name!r} must be a function or None, got {fn!r} "
                                f"({type(fn).__name__})")
        self._fns = given

    def on_train_begin(self, logs=None):
        if self._fns["on_train_begin"] is not None:
            self._fns["on_train_begin"](logs if logs is not None else {})

    def on_train_end(self, logs=None):
        if self._fns["on_train_end"] is not None:
            self._fns["on_train_end"](logs if logs is not None else {})

    def on_epoch_begin(self, epoch, logs=None):
        if self._fns["on_epoch_begin"] is not None:
            self._fns["on_epoch_begin"](epoch, logs if logs is not None else {})

    def on_epoch_end(self, epoch, logs=None):
        if self._fns["on_epoch_end"] is not None:
            self._fns["on_epoch_end"](epoch, logs if logs is not None else {})

    def on_batch_begin(self, batch, logs=None):
        if self._fns["on_batch_begin"] is not None:
            self._fns["on_batch_begin"](batch, logs if logs is not None else {})

    def on_batch_end(self, batch, logs=None):
        if self._fns["on_batch_end"] is not None:
            self._fns["on_batch_end"](batch, logs if logs is not None else {})


class GradientStats(Callback):
    """Per-layer gradient statistics after each epoch: how hard the data and the penalty pull on every weight,
    how large the weights are, and which units are dead or saturated (history keys, one value per epoch).

    At the end of an epoch the gradient on the batch the epoch trained on last (``model.last_batch``), or on a fixed
    sample ``data=(X, y)``, is split in two (``model.compute_gradients(X, y, split=True)``)::

        g_data = ∂L_data/∂W           L_data: the mean data loss of the batch
        g_pen  = ∂L_penalty/∂W        L_penalty = Σ R(W) + Σ R(a)/N  (weight and activity penalties)
        g      = g_data + g_pen       what the optimizer received

    and, with ‖·‖ the Frobenius norm √(Σ w²), recorded for every trainable weight of every layer::

        grad_norm/<layer>/<param>          ‖g‖
        data_grad_norm/<layer>/<param>     ‖g_data‖
        penalty_grad_norm/<layer>/<param>  ‖g_pen‖
        penalty_share/<layer>/<param>      ‖g_pen‖ / (‖g_data‖ + ‖g_pen‖)   in [0, 1]
        weight_norm/<layer>/<param>        ‖W‖ at the end of the epoch

    The penalty share is 0 without a penalty, ½ when penalty and data pull equally hard, → 1 when the penalty
    dominates (0 when both gradients are zero). For L2 (½λΣw²) ‖g_pen‖ = λ‖W‖ shrinks with the weights; for L1
    (λΣ|w|) ‖g_pen‖ = λ·√(#nonzero w), a constant push toward zero.

    Units, per layer, from the pre-activations z of the same pass::

        dead_share/<layer>       ReLU (relu, relu6, the ReLU layer without leak): the share of units — features of a
                                 Dense layer, channels of a convolution — with z ≤ 0 for every sample of the batch
                                 (their weights get no gradient from it)
        saturated_share/<layer>  sigmoid, tanh: the share of values with |z| > ``saturation`` (4: σ' < 0.018,
                                 tanh' < 0.0014, the gradient through the unit all but vanishes)

    ``every``: compute on every ``every``-th epoch only (the first epoch of the fit is always one); the other
    epochs record NaN so that every list keeps one value per epoch. ``training``: the mode of the statistics pass
    (default inference: no dropout, BatchNormalization's moving statistics; no weight or moving statistic
    changes). The pass costs one forward and one or two backward passes on one batch per epoch, about two training
    steps (``python -m benchmarks.gradstats``: 0.6–1.5 % of a W1 epoch, 0.1–0.3 % of a W2 epoch); absent, the
    callback costs nothing. ``seconds`` is the time it has taken so far; the same
    values are kept in ``self.history``, so ``nn.plots.gradient_flow`` takes the callback itself too.
    """

    def __init__(self, data=None, every=1, training=False, saturation=4.0):
        if data is not None and (not isinstance(data, (tuple, list)) or len(data) != 2):
            from .errors import DataError
            raise DataError(f"GradientStats: argument 'data' must be a tuple (X, y) or None, got "
                            f"{type(data).__name__}")
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise SpecError(f"GradientStats: argument 'every' must be an integer >= 1, got {every!r}")
        saturation = check_number("GradientStats", "saturation", saturation, minimum=0.0, strict=True)
        self.data = data
        self.every = int(every)
        self.training = bool(training)
        self.saturation = saturation
        self.history = {}
        self.seconds = 0.0

    def on_train_begin(self, logs=None):
        self.history = {}
        self.seconds = 0.0
        self._first = None
        # a fixed sample is validated and converted once, not every epoch
        self._sample = None if self.data is None else self.model._prepare(*self.data)

    def _batch(self):
        if self._sample is not None:
            return self._sample
        batch = getattr(self.model, "last_batch", None)
        if batch is None:
            raise SpecError("GradientStats: the model keeps no last batch (model.last_batch); pass a fixed sample "
                            "with GradientStats(data=(X, y))")
        return batch

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        if self._first is None:
            self._first = epoch
        if (epoch - self._first) % self.every == 0:
            from .tracing import gradient_stats
            values = gradient_stats(self.model, *self._batch(), training=self.training, saturation=self.saturation)
        else:
            values = dict.fromkeys(self.history, math.nan)
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
            if logs is not None:
                logs[key] = value
        self.seconds += time.perf_counter() - start

    def __repr__(self):
        return f"<GradientStats every={self.every} keys={len(self.history)}>"
