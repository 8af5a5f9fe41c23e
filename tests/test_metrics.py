"""Metrics: accuracy for multi-class and single-output models, every target form, errors, registry and specs."""

import numpy as np
import pytest

from numpynet import metrics
from numpynet.errors import DataError, ShapeError, SpecError
from numpynet.metrics import Accuracy, accuracy, binary_accuracy

SCORES = np.array([[0.1, 0.7, 0.2],     # predicts 1
                   [0.8, 0.1, 0.1],     # predicts 0
                   [0.2, 0.3, 0.5],     # predicts 2
                   [0.4, 0.5, 0.1]])    # predicts 1
LABELS = np.array([1, 0, 1, 2])         # first two right: accuracy 0.5


@pytest.mark.parametrize("y_true", [LABELS, LABELS[:, None], np.eye(3)[LABELS], LABELS.astype(np.float32),
                                    [1, 0, 1, 2]])
def test_multiclass_accuracy_any_target_form(y_true):
    assert accuracy(y_true, SCORES) == 0.5
    assert metrics.get("accuracy")(y_true, SCORES) == 0.5


def test_argmax_is_the_same_on_logits():
    assert accuracy(LABELS, np.log(SCORES)) == 0.5
    assert accuracy(LABELS, SCORES.astype(np.float32)) == 0.5


def test_probability_targets_use_their_argmax():
    soft = np.array([[0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [0.5, 0.3, 0.2], [0.3, 0.3, 0.4]])
    assert accuracy(soft, SCORES) == 0.5


def test_single_sigmoid_output_thresholds_at_one_half():
    p = np.array([[0.9], [0.2], [0.5], [0.51], [0.49]])
    y = np.array([1, 0, 1, 1, 1])         # 0.5 is not > 0.5: predicts 0 (Keras's rule)
    assert accuracy(y, p) == pytest.approx(3 / 5)
    assert accuracy(y[:, None].astype(float), p) == pytest.approx(3 / 5)
    assert accuracy(y, p[:, 0]) == pytest.approx(3 / 5)
    assert accuracy(y, p, threshold=0.45) == 1.0
    logit = np.log(p / (1 - p))           # threshold 0 on logits = threshold 0.5 on probabilities
    assert metrics.get("accuracy(threshold=0.0)")(y, logit) == pytest.approx(3 / 5)


def test_binary_accuracy_is_elementwise():
    p = np.array([[0.9, 0.1], [0.6, 0.7]])
    y = np.array([[1.0, 1.0], [0.0, 1.0]])
    assert binary_accuracy(y, p) == pytest.approx(2 / 4)
    assert metrics.get("binary_accuracy")(y, p) == pytest.approx(2 / 4)


def test_regression_metrics():
    p = np.array([[1.0, 2.0], [3.0, 5.0]])
    y = np.array([[1.0, 0.0], [4.0, 5.0]])
    assert metrics.get("mse")(y, p) == pytest.approx((0 + 4 + 1 + 0) / 4)
    assert metrics.get("mean_absolute_error")(y, p) == pytest.approx((0 + 2 + 1 + 0) / 4)
    assert type(metrics.get("mae")(y, p)) is float


def test_results_are_python_floats():
    assert type(accuracy(LABELS, SCORES)) is float
    assert type(binary_accuracy(np.ones((2, 1)), np.ones((2, 1)))) is float


@pytest.mark.parametrize("bad, error, words", [
    (np.array([1, 0, 3, 2]), DataError, ["y_true", "[0, 2]", "3"]),
    (np.array([1, 0, -1, 2]), DataError, ["y_true", "-1"]),
    (np.array([1.0, 0.5, 1.0, 2.0]), DataError, ["y_true", "integers", "0.5"]),
    (np.array([1, 0, 1]), ShapeError, ["y_true", "3", "4"]),
    (np.zeros((4, 5)), ShapeError, ["y_true", "(4, 5)"]),
])
def test_bad_targets(bad, error, words):
    with pytest.raises(error) as info:
        accuracy(bad, SCORES)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_registry_aliases_and_specs():
    for name in ("accuracy", "acc", "ACC", "categorical_accuracy", "sparse_categorical_accuracy"):
        assert isinstance(metrics.get(name), Accuracy)
    for name in metrics.registry.aliases():
        metric = metrics.get(name)
        assert metrics.get(str(metric)) == metric
        assert metrics.get(metrics.serialize(metric)) == metric
    assert str(metrics.get("acc(threshold=0.25)")) == "accuracy(threshold=0.25)"


def test_plain_callables_pass_through():
    def my_metric(y_true, y_pred):
        return 1.0
    assert metrics.get(my_metric) is my_metric
    assert isinstance(metrics.get(Accuracy), Accuracy)


@pytest.mark.parametrize("spec, words", [
    ("accuracyy", ["accuracyy", "accuracy"]),
    ("mse(threshold=0.5)", ["mse", "threshold"]),
    ("accuracy(threshold='half')", ["Accuracy", "threshold", "number"]),
])
def test_bad_metric_specs(spec, words):
    with pytest.raises(SpecError) as info:
        metrics.get(spec)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"
