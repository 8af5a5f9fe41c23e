"""RegularizationLogger: sum(model.losses) after every epoch, into the logs and the history."""

import csv

import numpy as np
import pytest

import numpynet as nn
from numpynet.callbacks import Callback, CSVLogger, RegularizationLogger
from numpynet.errors import SpecError


@pytest.fixture(scope="module")
def digits():
    (X, y), _ = nn.datasets.load_digits()
    return X[:200], y[:200]


def _dfn(regularizer):
    model = nn.DFN(hidden_dims=(16,), n_classes=10, activation="tanh", optimizer="sgd(lr=0.5)",
                   regularizer=regularizer, seed=0)
    model.build((None, 64))
    return model


class _Probe(Callback):
    """Reads the penalty itself at each epoch end, after RegularizationLogger has written the logs."""

    def __init__(self):
        self.seen, self.logged = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(float(sum(self.model.losses)))
        self.logged.append(logs["reg_penalty"])


def test_logs_the_sum_of_model_losses_after_every_epoch(digits):
    X, y = digits
    model = _dfn("l2(lambd=0.01)")
    before = float(sum(model.losses))
    logger, probe = RegularizationLogger(), _Probe()
    hist = model.fit(X, y, epochs=3, batch_size=32, callbacks=[logger, probe], verbose=0)
    assert len(hist.history["reg_penalty"]) == 3
    assert hist.history["reg_penalty"] == logger.values == probe.logged == probe.seen
    assert logger.initial == pytest.approx(before) and before > 0
    # after the last epoch: the penalty of the final weights, ½·λ·Σw² over both kernels
    W1, _, W2, _ = model.get_weights()
    expected = 0.5 * 0.01 * (np.sum(W1.astype(np.float64) ** 2) + np.sum(W2.astype(np.float64) ** 2))
    assert logger.values[-1] == pytest.approx(expected, rel=1e-5)
    assert logger.values[-1] == pytest.approx(model.regularization_loss(), rel=1e-6)
    assert len(set(logger.values)) == 3       # the weights moved: a new value every epoch


def test_no_regularizer_logs_zero_and_custom_key(digits):
    X, y = digits
    model = _dfn(None)
    hist = model.fit(X, y, epochs=2, batch_size=64, callbacks=[RegularizationLogger(key="penalty")], verbose=0)
    assert hist.history["penalty"] == [0.0, 0.0] and "reg_penalty" not in hist.history
    with pytest.raises(SpecError, match="key"):
        RegularizationLogger(key="")


def test_l1_penalty_is_lambda_times_sum_abs(digits):
    X, y = digits
    model = _dfn("l1(l1=0.001)")
    logger = RegularizationLogger()
    model.fit(X, y, epochs=1, batch_size=64, callbacks=[logger], verbose=0)
    kernels = [w for name, w in zip(model.weight_names(), model.get_weights()) if name.endswith("/W")]
    assert logger.values == [pytest.approx(0.001 * sum(np.abs(w.astype(np.float64)).sum() for w in kernels),
                                           rel=1e-5)]


def test_later_callbacks_see_the_value(tmp_path, digits):
    X, y = digits
    path = tmp_path / "log.csv"
    model = _dfn("l2(l2=0.001)")
    model.fit(X, y, epochs=2, batch_size=64, callbacks=[RegularizationLogger(), CSVLogger(str(path))], verbose=0)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["reg_penalty"]) for r in rows] == pytest.approx(model.history.history["reg_penalty"])
    assert "RegularizationLogger" in repr(RegularizationLogger())


def test_learning_rate_scheduler_does_not_hide_a_bug_in_the_schedule():
    import numpynet as nn_
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    model = nn_.DFN(hidden_dims=(4,), n_classes=2, seed=0)

    def buggy(epoch, lr):
        return lr * None            # a TypeError inside the schedule must surface, not be retried as schedule(epoch)

    with pytest.raises(TypeError):
        model.fit(X, y, epochs=1, verbose=0, callbacks=[nn_.callbacks.LearningRateScheduler(buggy)])
    seen = []
    model.fit(X, y, epochs=2, verbose=0,
              callbacks=[nn_.callbacks.LearningRateScheduler(lambda epoch: seen.append(epoch) or 0.05)])
    assert seen == [0, 1] and model.optimizer.learning_rate == 0.05
