"""The callbacks Keras users reach for — ModelCheckpoint, ReduceLROnPlateau, LambdaCallback — and progress output
that fits where it goes (one line per epoch when the stream is not a terminal)."""

import io
import os
import warnings

import numpy as np
import pytest

import numpynet as nn
from numpynet.callbacks import (
    EpochLogger,
    LambdaCallback,
    ModelCheckpoint,
    ProgressBar,
    ReduceLROnPlateau,
    is_interactive,
)
from numpynet.errors import SpecError


@pytest.fixture(scope="module")
def digits():
    (X, y), (Xt, yt) = nn.datasets.load_digits()
    return X[:240], y[:240], Xt[:120], yt[:120]


def _dfn(lr=0.5, seed=0):
    model = nn.DFN(hidden_dims=(16,), n_classes=10, activation="tanh", optimizer=f"sgd(lr={lr})", seed=seed)
    model.build((None, 64))
    return model


class _FakeModel:
    """What the callbacks touch: an optimizer, save(), get_weights() — to drive them with chosen logs."""

    def __init__(self, lr=0.1):
        self.optimizer = nn.optimizers.get(f"sgd(learning_rate={lr})")
        self.saves = []
        self.stop_training = False

    def save(self, path):
        self.saves.append(path)
        with open(path, "w") as fh:
            fh.write("checkpoint")


def _drive(cb, values, key="val_loss", model=None):
    """Run ``cb`` through len(values) epochs whose logs hold ``key = value``; return the logs."""
    model = model or _FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        cb.on_epoch_begin(epoch)
        logs = {"loss": 1.0, key: value}
        cb.on_epoch_end(epoch, logs)
        seen.append(logs)
    cb.on_train_end()
    return model, seen


# ============================================================================================ ModelCheckpoint

def test_checkpoint_every_epoch_formats_the_path_as_keras(tmp_path, digits):
    X, y, Xv, yv = digits
    model = _dfn()
    weights = []
    pattern = str(tmp_path / "ckpt" / "epoch{epoch:02d}-{val_loss:.4f}.npz")   # the folder does not exist yet
    ckpt = ModelCheckpoint(pattern)
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append((model.get_weights(), logs["val_loss"])))
    model.fit(X, y, epochs=3, batch_size=32, validation_data=(Xv, yv), callbacks=[ckpt, record], verbose=0)
    assert len(ckpt.saved) == 3
    for epoch, (path, (ws, val_loss)) in enumerate(zip(ckpt.saved, weights)):
        assert os.path.basename(path) == f"epoch{epoch + 1:02d}-{val_loss:.4f}.npz"
        loaded = nn.load_model(path)
        for a, b in zip(loaded.get_weights(), ws):
            np.testing.assert_array_equal(a, b)
    assert not [f for f in os.listdir(tmp_path / "ckpt") if "tmp" in f]   # no temporary file left behind


def test_save_best_only_keeps_the_best_epoch(tmp_path, digits):
    X, y, Xv, yv = digits
    model = _dfn(lr=2.0)    # a large step makes val_loss go up and down
    seen = []
    path = str(tmp_path / "best.npz")
    ckpt = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((logs["val_loss"], model.get_weights())))
    model.fit(X, y, epochs=6, batch_size=16, validation_data=(Xv, yv), callbacks=[ckpt, record], verbose=0)
    best_loss, best_weights = min(seen, key=lambda item: item[0])
    assert ckpt.best == best_loss
    for a, b in zip(nn.load_model(path).get_weights(), best_weights):
        np.testing.assert_array_equal(a, b)


def test_save_best_only_follows_the_monitored_sequence():
    values = [0.9, 0.8, 0.85, 0.8, 0.5, 0.7]
    model, _ = _drive(ModelCheckpoint("m{epoch}.npz", save_best_only=True), values)
    assert [os.path.basename(p) for p in model.saves] == ["m1.npz", "m2.npz", "m5.npz"]   # 0.8 again is no gain
    for p in model.saves:
        os.remove(p)


def test_mode_max_and_auto_for_accuracy(tmp_path):
    values = [0.5, 0.7, 0.6, 0.9]
    for mode in ("max", "auto"):
        cb = ModelCheckpoint(str(tmp_path / "a{epoch}.npz"), monitor="val_accuracy", mode=mode, save_best_only=True)
        model, _ = _drive(cb, values, key="val_accuracy")
        assert [os.path.basename(p) for p in model.saves] == ["a1.npz", "a2.npz", "a4.npz"]
    cb = ModelCheckpoint(str(tmp_path / "t{epoch}.npz"), save_best_only=True, initial_value_threshold=0.6)
    model, _ = _drive(cb, [0.7, 0.65, 0.5])
    assert [os.path.basename(p) for p in model.saves] == ["t3.npz"]


def test_missing_monitor_saves_with_a_warning(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "m.npz"), monitor="val_auc", save_best_only=True)
    with pytest.warns(UserWarning, match="val_auc"):
        model, _ = _drive(cb, [1.0, 2.0])
    assert len(model.saves) == 2


def test_save_freq_in_batches(tmp_path, digits):
    X, y, _, _ = digits
    model = _dfn()
    ckpt = ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.npz"), save_freq=5)
    model.fit(X, y, epochs=2, batch_size=40, callbacks=[ckpt], verbose=0)      # 6 batches per epoch
    assert [os.path.basename(p) for p in ckpt.saved] == ["e1-b5.npz", "e2-b4.npz"]


def test_a_field_not_in_the_logs_names_the_argument(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "m{val_acc:.2f}.npz"))
    with pytest.raises(SpecError, match="filepath.*val_acc.*available.*val_loss"):
        _drive(cb, [1.0])


@pytest.mark.parametrize("kwargs, words", [
    ({"filepath": ""}, ["filepath"]),
    ({"filepath": None}, ["filepath"]),
    ({"filepath": "m{epoch.npz"}, ["filepath", "format"]),
    ({"filepath": "m{}.npz"}, ["filepath", "name"]),
    ({"filepath": "m.npz", "mode": "up"}, ["mode", "'up'"]),
    ({"filepath": "m.npz", "monitor": ""}, ["monitor"]),
    ({"filepath": "m.npz", "save_freq": "batch"}, ["save_freq", "'batch'"]),
    ({"filepath": "m.npz", "save_freq": 0}, ["save_freq", "0"]),
    ({"filepath": "m.npz", "save_best_only": "yes"}, ["save_best_only"]),
    ({"filepath": "m.npz", "verbose": 3}, ["verbose", "3"]),
    ({"filepath": "m.npz", "initial_value_threshold": float("nan")}, ["initial_value_threshold"]),
])
def test_checkpoint_arguments_are_checked_at_construction(kwargs, words):
    with pytest.raises(SpecError) as info:
        ModelCheckpoint(**kwargs)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_checkpoint_refuses_a_directory(tmp_path):
    with pytest.raises(SpecError, match="directory"):
        ModelCheckpoint(str(tmp_path))


def test_checkpoint_verbose_says_what_it_did(tmp_path, capsys):
    _drive(ModelCheckpoint(str(tmp_path / "m.npz"), save_best_only=True, verbose=1), [1.0, 2.0])
    out = capsys.readouterr().out
    assert "val_loss improved from None to 1.00000" in out and "did not improve from 1.00000" in out


# ============================================================================================ ReduceLROnPlateau

def _lr_sequence(values, lr=0.1, **kwargs):
    """(η logged at each epoch end, η after each epoch) for a monitored sequence."""
    model, logs = _drive(ReduceLROnPlateau(**kwargs), values, model=_FakeModel(lr))
    return [entry["learning_rate"] for entry in logs]


def test_reduces_after_patience_epochs_without_improvement():
    # best 1.0 at epoch 0; epochs 1, 2 do not improve -> reduced at the end of epoch 2 (patience 2)
    # (the logged η is the one the epoch trained with; a reduction shows from the next epoch on)
    logged = _lr_sequence([1.0, 1.0, 1.2, 1.1, 0.5, 0.6, 0.6, 0.7], factor=0.5, patience=2)
    assert logged == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025])


def test_min_delta_cooldown_and_min_lr():
    # 0.99995 improves on 1.0 by less than min_delta=1e-4: not an improvement
    assert _lr_sequence([1.0, 0.99995, 0.9999], factor=0.5, patience=1) == pytest.approx([0.1, 0.1, 0.05])
    # cooldown 2, as Keras counts it: the counter is decremented at the start of each later epoch's check, so
    # the epoch right after a reduction is skipped and the next one counts again
    logged = _lr_sequence([1.0] * 8, factor=0.5, patience=1, cooldown=2)
    assert logged == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125])
    logged = _lr_sequence([1.0] * 8, factor=0.5, patience=1, cooldown=3)
    assert logged == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025])
    # never below min_lr, and no reduction once there
    logged = _lr_sequence([1.0] * 6, factor=0.1, patience=1, min_lr=0.003)
    assert logged == pytest.approx([0.1, 0.1, 0.01, 0.003, 0.003, 0.003])


def test_mode_max_for_accuracy():
    model, logs = _drive(ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1),
                         [0.5, 0.6, 0.6, 0.7], key="val_accuracy")
    assert [entry["learning_rate"] for entry in logs] == pytest.approx([0.1, 0.1, 0.1, 0.05])


def test_fit_records_the_learning_rate_in_the_history(digits):
    X, y, Xv, yv = digits
    model = _dfn(lr=0.5)
    # reduce every epoch after the first (whose value is the first best)
    cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    hist = model.fit(X, y, epochs=3, batch_size=32, callbacks=[cb], verbose=0)
    assert hist.history["learning_rate"] == pytest.approx([0.5, 0.5, 0.25])
    assert model.optimizer.learning_rate == pytest.approx(0.125)


def test_a_schedule_is_refused_before_training(digits):
    X, y, _, _ = digits
    model = nn.DFN(hidden_dims=(8,), n_classes=10, optimizer="sgd(learning_rate='exponential_decay(0.1, 10, 0.5)')",
                   seed=0)
    model.build((None, 64))
    before = model.get_weights()
    with pytest.raises(SpecError, match="schedule"):
        model.fit(X, y, epochs=1, callbacks=[ReduceLROnPlateau(monitor="loss")], verbose=0)
    for a, b in zip(model.get_weights(), before):     # refused before any step
        np.testing.assert_array_equal(a, b)


def test_missing_monitor_warns_and_leaves_the_rate():
    with pytest.warns(UserWarning, match="val_loss"):
        model, logs = _drive(ReduceLROnPlateau(patience=0), [1.0, 1.0], key="loss")
    assert model.optimizer.learning_rate == 0.1


@pytest.mark.parametrize("kwargs, words", [
    ({"factor": 1.0}, ["factor", "1.0"]),
    ({"factor": 0}, ["factor"]),
    ({"factor": "half"}, ["factor", "half"]),
    ({"patience": -1}, ["patience", "-1"]),
    ({"patience": 2.5}, ["patience", "2.5"]),
    ({"cooldown": -2}, ["cooldown"]),
    ({"min_lr": -1e-3}, ["min_lr"]),
    ({"min_delta": float("inf")}, ["min_delta"]),
    ({"mode": "minimum"}, ["mode", "minimum"]),
    ({"monitor": None}, ["monitor"]),
    ({"verbose": 2}, ["verbose"]),
])
def test_plateau_arguments_are_checked_at_construction(kwargs, words):
    with pytest.raises(SpecError) as info:
        ReduceLROnPlateau(**kwargs)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


PLATEAU_CASES = [
    (dict(factor=0.5, patience=2), [1.0, 1.0, 1.2, 1.1, 0.5, 0.6, 0.6, 0.6, 0.4, 0.4, 0.4]),
    (dict(factor=0.5, patience=1, cooldown=2), [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8]),
    (dict(factor=0.25, patience=1, min_lr=0.01, min_delta=0.05), [1.0, 0.97, 0.9, 0.88, 0.87, 0.86, 0.5, 0.49]),
    (dict(factor=0.5, patience=0), [1.0, 1.0, 0.5, 0.5]),
]


@pytest.mark.parametrize("kwargs, values", PLATEAU_CASES)
def test_plateau_learning_rates_match_keras(kwargs, values):
    if os.environ.get("NUMPYNET_REQUIRE_TF"):
        import keras
    else:
        keras = pytest.importorskip("keras")

    class KerasModel:   # what Keras's callback reads: model.optimizer.learning_rate
        optimizer = keras.optimizers.SGD(learning_rate=0.5)

    theirs_cb = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **kwargs)
    theirs_cb.set_model(KerasModel())
    theirs_cb.on_train_begin()
    theirs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch, value in enumerate(values):
            logs = {"val_loss": value}
            theirs_cb.on_epoch_end(epoch, logs)
            theirs.append((logs["learning_rate"], float(np.asarray(KerasModel.optimizer.learning_rate))))
    model, logs = _drive(ReduceLROnPlateau(monitor="val_loss", **kwargs), values, model=_FakeModel(0.5))
    ours_logged = [entry["learning_rate"] for entry in logs]
    # Keras keeps η in a float32 variable: agreement to float32 precision
    np.testing.assert_allclose(ours_logged, [t[0] for t in theirs], rtol=1e-6)
    np.testing.assert_allclose(model.optimizer.learning_rate, theirs[-1][1], rtol=1e-6)


# ============================================================================================ LambdaCallback

def test_lambda_callback_calls_every_hook_with_logs(digits):
    X, y, _, _ = digits
    calls = {}

    def note(name):
        def fn(*args):
            assert isinstance(args[-1], dict)     # logs is always a dict
            calls.setdefault(name, []).append(args[0] if len(args) == 2 else None)
        return fn

    hooks = ["on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end", "on_train_begin", "on_train_end"]
    cb = LambdaCallback(**{name: note(name) for name in hooks})
    _dfn().fit(X, y, epochs=2, batch_size=60, callbacks=[cb], verbose=0)     # 4 batches per epoch
    assert calls["on_train_begin"] == [None] and calls["on_train_end"] == [None]
    assert calls["on_epoch_begin"] == [0, 1] and calls["on_epoch_end"] == [0, 1]
    assert calls["on_batch_end"] == [0, 1, 2, 3] * 2
    assert calls["on_batch_begin"] == [0, 1, 2, 3] * 2


def test_lambda_callback_sees_the_epoch_logs(digits):
    X, y, _, _ = digits
    losses = []
    hist = _dfn().fit(X, y, epochs=3, batch_size=32, verbose=0,
                      callbacks=[LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))])
    assert losses == hist.history["loss"]


def test_lambda_callback_keras_3_batch_names_are_aliases():
    seen = []
    cb = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    cb.on_batch_end(3, {"loss": 1.0})
    assert seen == [3]
    with pytest.raises(SpecError, match="not both"):
        LambdaCallback(on_batch_end=print, on_train_batch_end=print)


@pytest.mark.parametrize("name", ["on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
                                  "on_train_begin", "on_train_end"])
def test_lambda_callback_refuses_what_is_not_callable(name):
    with pytest.raises(SpecError, match=name):
        LambdaCallback(**{name: "print"})


# ============================================================================================ progress output

def _lines(text):
    return [line for line in text.replace("\r", "\n").split("\n") if line.strip()]


def test_progress_bar_writes_one_line_per_epoch_to_a_non_terminal(digits):
    X, y, _, _ = digits
    stream = io.StringIO()
    assert not is_interactive(stream)
    bar = ProgressBar(n_batches=8, epochs=3, stream=stream)
    _dfn().fit(X, y, epochs=3, batch_size=30, callbacks=[bar], verbose=0)
    text = stream.getvalue()
    assert "\r" not in text
    lines = _lines(text)
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3 - loss: ")


def test_epoch_logger_writes_one_line_per_epoch(digits):
    X, y, _, _ = digits
    stream = io.StringIO()
    _dfn().fit(X, y, epochs=2, batch_size=30, callbacks=[EpochLogger(2, stream=stream)], verbose=0)
    assert len(_lines(stream.getvalue())) == 2


def test_fit_verbose_1_under_pytest_capture_is_one_line_per_epoch(digits, capsys, monkeypatch):
    monkeypatch.delenv("PROGRESSBAR_IS_TERMINAL", raising=False)
    for var in ("JUPYTER_COLUMNS", "JUPYTER_LINES", "JPY_PARENT_PID"):
        monkeypatch.delenv(var, raising=False)
    X, y, _, _ = digits
    _dfn().fit(X, y, epochs=3, batch_size=10, verbose=1)      # 24 batches per epoch
    captured = capsys.readouterr()
    assert len(_lines(captured.err + captured.out)) <= 3


def test_in_a_terminal_the_bar_redraws_in_place(digits):
    X, y, _, _ = digits
    stream = io.StringIO()
    bar = ProgressBar(n_batches=8, epochs=2, stream=stream, interactive=True)
    _dfn().fit(X, y, epochs=2, batch_size=30, callbacks=[bar], verbose=0)
    text = stream.getvalue()
    assert "\r" in text                               # redrawn in place
    assert text.count("\n") <= 2 * 2                  # the finished bar and the epoch's line
    assert "Epoch 2/2 - loss: " in text


def test_progress_bar_of_unknown_length():
    stream = io.StringIO()
    bar = ProgressBar(n_batches=None, epochs=1, stream=stream, interactive=True)
    bar.on_train_begin()
    bar.on_epoch_begin(0)
    for b in range(5):
        bar.on_batch_end(b, {"loss": 1.0})
    bar.on_epoch_end(0, {"loss": 1.0})
    assert "5 batches" in stream.getvalue()
    with pytest.raises(SpecError, match="n_batches"):
        ProgressBar(n_batches=0, epochs=1)
