"""Metrics: numbers reported during training and evaluation, never differentiated.

Each metric is a callable ``metric(y_true, y_pred) -> float`` (Keras's argument order), averaged over the batch.

* ``accuracy`` (``acc``, ``categorical_accuracy``, ``sparse_categorical_accuracy``): with K > 1 outputs, the
  fraction of rows whose argmax is the true class (targets: integer labels or one-hot rows); with one output per
  sample (a sigmoid unit), the fraction where [ŷ > threshold] equals the target, threshold 0.5 as Keras's
  ``binary_accuracy``.
* ``binary_accuracy``: element-wise [ŷ > threshold] == y for any shape (multi-label outputs).
* ``mse`` / ``mae``: mean squared / absolute error over all entries.

Note: accuracy thresholds *probabilities*; for a single-logit output pass σ(z) (``loss.output(z)``) or set
``threshold=0`` — argmax is unaffected by softmax, so logits are fine for K > 1.
"""

from __future__ import annotations

import numpy as np

from .losses import as_predictions, categorical_targets, dense_targets
from .spec import Configurable, Registry, check_number, to_json

__all__ = ["Metric", "Accuracy", "BinaryAccuracy", "MeanSquaredError", "MeanAbsoluteError", "accuracy",
           "binary_accuracy", "registry", "get", "serialize"]


class Metric(Configurable):
    """Base class: ``metric(y_true, y_pred) -> float``."""

    def __call__(self, y_true, y_pred):
        raise NotImplementedError


registry = Registry("metric", Metric)


def _binary_hits(y_true, y_pred, threshold):
    """Element-wise [y_pred > threshold] == y_true (Keras's rule: soft targets such as 0.7 never match)."""
    t = dense_targets(y_pred, y_true)
    return (y_pred > threshold).astype(t.dtype) == t


@registry.register("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy")
class Accuracy(Metric):
    """Fraction of correct predictions: argmax for K > 1 outputs, [ŷ > threshold] for one output per sample."""

    def __init__(self, threshold=0.5):
        self.threshold = check_number("Accuracy", "threshold", threshold)

    def __call__(self, y_true, y_pred):
        y_pred = as_predictions(y_pred)
        if y_pred.ndim >= 2 and y_pred.shape[-1] > 1:
            labels, rows = categorical_targets(y_pred, y_true)
            truth = labels if labels is not None else np.argmax(rows, axis=-1)
            return float(np.mean(truth == np.argmax(y_pred, axis=-1)))
        return float(np.mean(_binary_hits(y_true, y_pred, self.threshold)))


@registry.register("binary_accuracy")
class BinaryAccuracy(Metric):
    """Element-wise accuracy of thresholded outputs: mean of [ŷ > threshold] == y (multi-label friendly)."""

    def __init__(self, threshold=0.5):
        self.threshold = check_number("BinaryAccuracy", "threshold", threshold)

    def __call__(self, y_true, y_pred):
        return float(np.mean(_binary_hits(y_true, as_predictions(y_pred), self.threshold)))


@registry.register("mse", "mean_squared_error")
class MeanSquaredError(Metric):
    """(1/M)·Σ (ŷ − y)² over all M entries."""

    def __init__(self):
        pass

    def __call__(self, y_true, y_pred):
        y_pred = as_predictions(y_pred)
        d = y_pred - dense_targets(y_pred, y_true)
        return float(np.mean(np.square(d, dtype=np.float64)))


@registry.register("mae", "mean_absolute_error")
class MeanAbsoluteError(Metric):
    """(1/M)·Σ |ŷ − y| over all M entries."""

    def __init__(self):
        pass

    def __call__(self, y_true, y_pred):
        y_pred = as_predictions(y_pred)
        d = y_pred - dense_targets(y_pred, y_true)
        return float(np.mean(np.abs(d), dtype=np.float64))


def accuracy(y_true, y_pred, threshold=0.5):
    """Accuracy of ``y_pred`` against ``y_true`` (see :class:`Accuracy`)."""
    return Accuracy(threshold)(y_true, y_pred)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Element-wise thresholded accuracy (see :class:`BinaryAccuracy`)."""
    return BinaryAccuracy(threshold)(y_true, y_pred)


def get(identifier):
    """A metric from a name or spec (``"accuracy"``, ``"acc"``, ``"binary_accuracy(threshold=0.3)"``), a
    ``{"name", "config"}`` dict, a :class:`Metric`, or any plain callable ``f(y_true, y_pred)`` (returned as is)."""
    if callable(identifier) and not isinstance(identifier, (type, Metric)):
        return identifier
    return registry.get(identifier)


def serialize(obj):
    """``{"name": ..., "config": {...}}`` (what :func:`get` reads back)."""
    return to_json(obj)
