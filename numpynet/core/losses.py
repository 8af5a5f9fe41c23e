"""Losses: the data term of the training objective, its gradient, and what ``predict`` shows.

Every loss maps a batch of predictions ``y_pred`` (N, ..., K) and targets ``y_true`` to one number, the mean over
the batch (Keras's ``sum_over_batch_size`` reduction). For losses defined per output value (MSE, MAE, Huber, binary
cross-entropy) Keras first averages over the last axis, then over the batch: that is the mean over all M entries
of ``y_pred``. For the categorical losses the mean is over the R = N·(...) rows of K classes.

    forward(y_pred, y_true)           -> L (a Python float)
    backward(y_pred, y_true)          -> dL/dy_pred, already divided by N (same shape and dtype as y_pred)
    forward_backward(y_pred, y_true)  -> (L, dL/dy_pred) in one pass (what the trainer calls)
    output(y_pred)                    -> what model.predict shows: softmax / sigmoid for from-logits losses

Targets for the categorical losses may be integer labels, shape (N,) or (N, 1), or one-hot / probability rows of
the same shape as ``y_pred``; both work everywhere (:func:`class_indices` and :func:`as_one_hot` are the one place
that understands and validates them; the model and the metrics reuse them).

Probability inputs are clipped as Keras does, to [ε, 1 − ε] with ε = 1e-7, and the gradient is zero where the
clip is active (the gradient of the forward actually computed). The fused softmax cross-entropy works on logits,
needs no clipping and is exact for any logits: logits [100, 0] with true class 1 cost exactly 100.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError, ShapeError
from .inputs import as_numeric_array
from .spec import Configurable, Registry, check_bool, check_number, to_json

__all__ = ["Loss", "SoftmaxCrossEntropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError", "Huber", "registry", "get", "serialize",
           "class_indices", "as_one_hot", "categorical_targets", "dense_targets", "as_predictions", "softmax",
           "sigmoid", "EPSILON"]

#: Keras's ``backend.epsilon()``: probabilities are clipped to [EPSILON, 1 − EPSILON].
EPSILON = 1e-7


# ==================================================================================================== targets

def _first(mask):
    """Index of the first True entry of ``mask`` as a tuple of ints (for error messages)."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _where(index):
    return f" at index {index[0]}" if len(index) == 1 else f" at index {index}"


def _check_labels(y, n_classes, name):
    """Integer class labels (any shape) validated against ``n_classes``; returned as an ``np.intp`` array."""
    if y.dtype.kind == "f":
        bad = ~(y == np.floor(y))            # NaN fails the comparison; ±inf passes it and fails the range check
        if bad.any():
            index = _first(bad)
            raise DataError(f"argument {name!r}: class labels must be integers in [0, {n_classes - 1}], got "
                            f"{y[index].item()!r}{_where(index)}")
    if y.size == 0:
        return y.astype(np.intp)
    lo, hi = y.min(), y.max()
    if lo < 0 or hi >= n_classes:
        bad = (y < 0) | (y >= n_classes)
        index = _first(bad)
        value = y[index].item()
        value = int(value) if float(value).is_integer() else value
        raise DataError(f"argument {name!r}: class labels must be in [0, {n_classes - 1}] for {n_classes} classes, "
                        f"got {value!r}{_where(index)}")
    return y.astype(np.intp, copy=False)


def class_indices(y_true, n_classes, name="y_true"):
    """Validated integer class indices from any accepted form of categorical targets.

    ``y_true`` may be integer labels of shape (N,) or (N, 1) (integral floats such as 3.0 are accepted) or
    one-hot / probability rows of shape (N, n_classes), reduced by argmax. Returns an ``np.intp`` array of shape
    (N,). Raises :class:`DataError` naming ``name`` for non-integer or out-of-range labels and for non-numeric
    input.
    """
    y = as_numeric_array(y_true, name)
    if y.ndim >= 2 and y.shape[-1] == n_classes and n_classes > 1:
        return np.argmax(y, axis=-1)
    if y.ndim >= 2 and y.shape[-1] == 1:
        y = y[..., 0]
    return _check_labels(y, n_classes, name)


def as_one_hot(y_true, n_classes, dtype=np.float64, name="y_true"):
    """Categorical targets as rows of shape (N, n_classes) in ``dtype``.

    Integer labels (N,) / (N, 1) become one-hot rows; rows already of width ``n_classes`` are returned as they are
    (cast to ``dtype``), so probability targets pass through.
    """
    y = as_numeric_array(y_true, name)
    if y.ndim >= 2 and y.shape[-1] == n_classes and n_classes > 1:
        return y.astype(dtype, copy=False)
    labels = class_indices(y, n_classes, name)
    out = np.zeros(labels.shape + (n_classes,), dtype=dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


def as_predictions(y_pred, min_ndim=1):
    """``y_pred`` as a non-empty floating array (float32 and float64 kept, anything else to float64), with at
    least ``min_ndim`` axes; a :class:`DataError` / :class:`ShapeError` naming ``y_pred`` otherwise."""
    y = as_numeric_array(y_pred, "y_pred")
    if y.dtype.kind != "f" or y.dtype == np.float16:
        y = y.astype(np.float64)
    if y.ndim < min_ndim:
        what = "a batch axis and a class axis, (N, n_classes)" if min_ndim == 2 else "a batch axis"
        raise ShapeError(f"argument 'y_pred' must have {what}; got shape {y.shape}")
    if y.size == 0:
        raise DataError(f"argument 'y_pred' is empty (shape {y.shape}); a loss needs at least one sample")
    return y


def _check_batch(y_pred, y_true, name="y_true"):
    n_pred = y_pred.shape[0]
    n_true = y_true.shape[0] if y_true.ndim else None
    if n_true != n_pred:
        got = "a scalar" if n_true is None else f"{n_true} samples (shape {y_true.shape})"
        raise ShapeError(f"argument {name!r} has {got} but 'y_pred' has {n_pred} (shape {y_pred.shape})")


def categorical_targets(y_pred, y_true, name="y_true"):
    """Split categorical targets into ``(labels, None)`` or ``(None, rows)`` for predictions ``y_pred`` (N, ..., K).

    Rows (one-hot or probabilities) have exactly ``y_pred``'s shape and come back in its dtype; labels have shape
    ``y_pred.shape[:-1]`` (or that plus a trailing 1) and come back validated as ``np.intp``. Anything else is a
    :class:`ShapeError` that names ``name`` and both shapes.
    """
    y = as_numeric_array(y_true, name)
    _check_batch(y_pred, y, name)
    n_classes = y_pred.shape[-1]
    if y.shape == y_pred.shape:
        if (y < 0).any():     # a negative "probability" would make the loss negative and the gradient meaningless
            index = _first(y < 0)
            raise DataError(f"argument {name!r}: one-hot / probability rows must be >= 0, got {y[index].item()!r}"
                            f"{_where(index)}")
        return None, y.astype(y_pred.dtype, copy=False)
    batch = y_pred.shape[:-1]
    if y.shape == batch or y.shape == batch + (1,):
        return _check_labels(y.reshape(batch), n_classes, name), None
    raise ShapeError(f"argument {name!r} must be integer labels of shape {batch} (or {batch + (1,)}) or one-hot / "
                     f"probability rows of shape {y_pred.shape} matching 'y_pred'; got shape {y.shape}")


def dense_targets(y_pred, y_true, name="y_true"):
    """Targets of ``y_pred``'s shape and dtype for element-wise losses and metrics; (N,) is accepted for (N, 1)
    predictions (and (N, 1) for (N,)). A :class:`ShapeError` naming ``name`` otherwise."""
    y = as_numeric_array(y_true, name)
    _check_batch(y_pred, y, name)
    if y.shape != y_pred.shape:
        if y.size == y_pred.size and (y.shape + (1,) == y_pred.shape or y.shape == y_pred.shape + (1,)):
            y = y.reshape(y_pred.shape)
        else:
            raise ShapeError(f"argument {name!r} must have the shape of 'y_pred' {y_pred.shape}; got {y.shape}")
    return y.astype(y_pred.dtype, copy=False)


# ==================================================================================================== row helpers

def _row_max(x):
    """max over the last axis of a 2-D array (R, K).

    NumPy reduces a short contiguous axis row by row (about 40 ns a row); with many rows of few classes, K
    element-wise maxima over the columns are several times faster (4096 x 10: 20 µs instead of 180 µs).
    """
    rows, k = x.shape
    if rows < 16 * k:
        return x.max(axis=1)
    m = x[:, 0].copy()
    for j in range(1, k):
        np.maximum(m, x[:, j], out=m)
    return m


def _row_sum(x):
    """Σ over the last axis of a 2-D array as one matrix-vector product (BLAS; ~8x faster than ``sum(axis=1)``
    for short rows)."""
    return x @ np.ones(x.shape[1], dtype=x.dtype)


# ==================================================================================================== activations

def _floating(z):
    z = np.asarray(z)
    return z if np.issubdtype(z.dtype, np.floating) else z.astype(np.float64)


def softmax(z):
    """Numerically stable softmax over the last axis, p_k = exp(z_k − max z) / Σ_j exp(z_j − max z); keeps z's
    float dtype (float32 stays float32)."""
    z = _floating(z)
    z2 = z.reshape(-1, z.shape[-1])
    e = z2 - _row_max(z2)[:, None]
    np.exp(e, out=e)
    e /= _row_sum(e)[:, None]
    return e.reshape(z.shape)


def sigmoid(z):
    """Numerically stable logistic function, σ(z) = 1 / (1 + e^(−z)), without overflow for large |z|."""
    z = _floating(z)
    e = np.exp(-np.abs(z))                 # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


# ==================================================================================================== base

def _mean(values, count, weights=None):
    """Σ values / count as a Python float, summed in float64 (float32 batches lose nothing to the summation).

    With per-sample ``weights`` w (N,): Σ_n w_n·(Σ of sample n's values) / count — Keras's weighted
    ``sum_over_batch_size`` (divided by the count, not by Σw). ``values`` is sample-major: (N, ...) or (N·r,)."""
    if weights is None:
        return float(values.sum(dtype=np.float64)) / count
    per_sample = values.reshape(weights.shape[0], -1).sum(axis=1, dtype=np.float64)
    return float(np.dot(per_sample, weights.astype(np.float64, copy=False))) / count


class Loss(Configurable):
    """Base class. Subclasses implement ``_evaluate(y_pred, y_true, need_grad) -> (loss, grad or None)`` on
    validated arrays; ``forward`` skips the gradient work, ``forward_backward`` shares it with the loss."""

    #: True when ``y_pred`` holds logits (pre-activation scores) rather than probabilities.
    from_logits = False
    #: Label smoothing factor (0 = none); the model will not fuse a last-layer activation into a smoothed loss.
    label_smoothing = 0.0

    def forward(self, y_pred, y_true, sample_weight=None):
        """The mean loss over the batch, a Python float (weighted: Σ_n w_n·ℓ_n / N, as Keras)."""
        return self.forward_backward(y_pred, y_true, sample_weight, need_grad=False)[0]

    def backward(self, y_pred, y_true, sample_weight=None):
        """dL/dy_pred (already divided by the batch size), same shape and dtype as ``y_pred``."""
        return self.forward_backward(y_pred, y_true, sample_weight)[1]

    def forward_backward(self, y_pred, y_true, sample_weight=None, need_grad=True):
        """``(loss, dL/dy_pred)`` from one pass over the batch.

        ``sample_weight`` w (N,) weighs each sample's loss: L = (1/N)·Σ_n w_n·ℓ_n, so dL/dy_pred_n is w_n times
        the unweighted row (the model validates w: finite, ≥ 0, one per sample)."""
        y_pred = self._prepare_pred(y_pred)
        if sample_weight is None:
            return self._evaluate(y_pred, y_true, need_grad)
        w = np.asarray(sample_weight)
        loss, grad = self._evaluate(y_pred, y_true, need_grad, weights=w)
        if grad is not None:
            grad *= w.astype(grad.dtype, copy=False).reshape((-1,) + (1,) * (grad.ndim - 1))
        return loss, grad

    def output(self, y_pred):
        """What ``model.predict`` shows for this loss's input: the input itself unless the loss takes logits."""
        return y_pred

    def _prepare_pred(self, y_pred):
        return as_predictions(y_pred)

    def _evaluate(self, y_pred, y_true, need_grad, weights=None):
        raise NotImplementedError


registry = Registry("loss", Loss)


# ==================================================================================================== cross-entropy

def _softmax_xent(z, labels, rows, need_grad, weights=None):
    """Softmax cross-entropy from logits z (N, ..., K), the shared fused path.

    With shifted logits s = z − max z and S = Σ_k e^(s_k), the loss of a row with target t is

        ℓ = Σ_k t_k·(log S − s_k)              (log S − s_y for a label y; no exp of large numbers, no clipping)
        ∂ℓ/∂z_k = p_k·Σ_j t_j − t_k,  p = softmax(z)   (= p − t for one-hot or probability targets)

    ``labels`` is an index array (fast path: no one-hot is built, p[i, y_i] −= 1) or ``rows`` are targets.
    """
    n_classes = z.shape[-1]
    z2 = z.reshape(-1, n_classes)
    count = z2.shape[0]
    e = z2 - _row_max(z2)[:, None]            # s: the only (R, K) buffer; it becomes the gradient
    if labels is not None:
        at_label = np.arange(count) * n_classes + labels.reshape(-1)     # flat positions of (i, y_i)
        flat = e.reshape(-1)                                              # a view of e
        picked = flat[at_label]                                           # s_y, before e is exponentiated
        np.exp(e, out=e)
        total = _row_sum(e)
        loss = _mean(np.log(total) - picked, count, weights)
        if not need_grad:
            return loss, None
        total *= count
        e /= total[:, None]                                               # p / N
        flat[at_label] -= e.dtype.type(1.0 / count)
        return loss, e.reshape(z.shape)
    t = rows.reshape(-1, n_classes)
    t_dot_s = np.einsum("ij,ij->i", t, e)
    t_sum = _row_sum(t)
    np.exp(e, out=e)
    total = _row_sum(e)
    loss = _mean(np.log(total) * t_sum - t_dot_s, count, weights)
    if not need_grad:
        return loss, None
    e *= (t_sum / total)[:, None]
    e -= t
    e *= e.dtype.type(1.0 / count)
    return loss, e.reshape(z.shape)


def _clip_bounds(dtype):
    """ε and 1 − ε in ``dtype`` (Keras rounds 1 − 1e-7 to float32 the same way in float32 models)."""
    return dtype.type(EPSILON), dtype.type(1.0 - EPSILON)


def _in_range(x, lo, hi):
    """1 where lo ≤ x ≤ hi, else 0: the gradient mask of ``clip`` (TensorFlow's rule: inclusive bounds)."""
    return ((x >= lo) & (x <= hi)).astype(x.dtype)


@registry.register("softmax_cross_entropy", "softmax_crossentropy")
class SoftmaxCrossEntropy(Loss):
    """Softmax + cross-entropy fused, from logits z (N, K): ℓ = log Σ_k e^(z_k) − z_y,  dℓ/dz = softmax(z) − t.

    Loss = mean over the batch; gradient (p − t)/N. Stable log-sum-exp, no clipping (logits [100, 0] with true
    class 1 cost exactly 100). Targets: integer labels or one-hot / probability rows. ``output`` is the softmax.
    Keras: ``SparseCategoricalCrossentropy(from_logits=True)`` / ``CategoricalCrossentropy(from_logits=True)``.
    """

    from_logits = True

    def __init__(self):
        pass   # no hyper-parameters; an explicit signature makes unknown spec keywords a SpecError

    def _prepare_pred(self, y_pred):
        return as_predictions(y_pred, min_ndim=2)

    def _evaluate(self, y_pred, y_true, need_grad, weights=None):
        labels, rows = categorical_targets(y_pred, y_true)
        return _softmax_xent(y_pred, labels, rows, need_grad, weights)

    def output(self, y_pred):
        return softmax(y_pred)


@registry.register("categorical_crossentropy", "categorical_cross_entropy")
class CategoricalCrossentropy(Loss):
    """Cross-entropy of probability rows p (N, K) against targets t: ℓ = −Σ_k t_k·log q_k, as Keras computes it.

    From probabilities, Keras renormalizes each row and clips: r = p / Σ_j p_j, q = clip(r, ε, 1 − ε). The gradient
    of that exact forward is, with g_k = −t_k/q_k where r_k is inside [ε, 1 − ε] and 0 where it was clipped,

        ∂ℓ/∂p_j = (g_j − Σ_k g_k·r_k) / Σ_k p_k.

    ``from_logits=True`` is the fused softmax path (:class:`SoftmaxCrossEntropy`). ``label_smoothing`` = α replaces
    t by t·(1 − α) + α/K. Targets may be one-hot / probability rows or integer labels (made one-hot).
    """

    def __init__(self, from_logits=False, label_smoothing=0.0):
        self.from_logits = check_bool("CategoricalCrossentropy", "from_logits", from_logits)
        self.label_smoothing = check_number("CategoricalCrossentropy", "label_smoothing", label_smoothing,
                                            minimum=0.0, maximum=1.0)

    def _prepare_pred(self, y_pred):
        return as_predictions(y_pred, min_ndim=2)

    def _targets(self, y_pred, y_true):
        labels, rows = categorical_targets(y_pred, y_true)
        if self.label_smoothing:
            if rows is None:
                rows = as_one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
            alpha = self.label_smoothing
            rows = rows * y_pred.dtype.type(1.0 - alpha) + y_pred.dtype.type(alpha / y_pred.shape[-1])
            labels = None
        return labels, rows

    def _evaluate(self, y_pred, y_true, need_grad, weights=None):
        labels, rows = self._targets(y_pred, y_true)
        if self.from_logits:
            return _softmax_xent(y_pred, labels, rows, need_grad, weights)
        n_classes = y_pred.shape[-1]
        p = y_pred.reshape(-1, n_classes)
        count = p.shape[0]
        lo, hi = _clip_bounds(p.dtype)
        row_sum = _row_sum(p)
        if labels is not None:
            # only r_y matters: no (R, K) work for the loss, one (R, K) buffer for the gradient
            lab = labels.reshape(-1)
            idx = np.arange(count)
            r_y = p[idx, lab] / row_sum
            q_y = np.clip(r_y, lo, hi)
            loss = _mean(-np.log(q_y), count, weights)
            if not need_grad:
                return loss, None
            g_y = -_in_range(r_y, lo, hi) / (q_y * count)          # ∂ℓ/∂r_y (already / N)
            grad = np.empty_like(p)
            grad[...] = (-(g_y * r_y) / row_sum)[:, None]
            grad[idx, lab] += g_y / row_sum
            return loss, grad.reshape(y_pred.shape)
        t = rows.reshape(-1, n_classes)
        r = p / row_sum[:, None]
        q = np.clip(r, lo, hi)
        loss = _mean(-np.einsum("ij,ij->i", t, np.log(q)), count, weights)
        if not need_grad:
            return loss, None
        g = -t / q
        g *= _in_range(r, lo, hi)
        g *= g.dtype.type(1.0 / count)
        g -= np.einsum("ij,ij->i", g, r)[:, None]
        g /= row_sum[:, None]
        return loss, g.reshape(y_pred.shape)

    def output(self, y_pred):
        return softmax(y_pred) if self.from_logits else y_pred


@registry.register("sparse_categorical_crossentropy", "sparse_categorical_cross_entropy")
class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy for integer labels (one-hot rows work too), as Keras computes it.

    From probabilities Keras clips first, c = clip(p, ε, 1 − ε), then takes a log-softmax of log c, which amounts to
    renormalizing *after* clipping (unlike :class:`CategoricalCrossentropy`):

        ℓ = log Σ_k c_k − log c_y,   ∂ℓ/∂p_k = [ε ≤ p_k ≤ 1 − ε]·(1/Σ_j c_j − δ_ky/c_y).

    ``from_logits=True`` is the fused softmax path (:class:`SoftmaxCrossEntropy`).
    """

    def __init__(self, from_logits=False):
        self.from_logits = check_bool("SparseCategoricalCrossentropy", "from_logits", from_logits)

    def _prepare_pred(self, y_pred):
        return as_predictions(y_pred, min_ndim=2)

    def _evaluate(self, y_pred, y_true, need_grad, weights=None):
        labels, rows = categorical_targets(y_pred, y_true)
        if self.from_logits:
            return _softmax_xent(y_pred, labels, rows, need_grad, weights)
        n_classes = y_pred.shape[-1]
        p = y_pred.reshape(-1, n_classes)
        count = p.shape[0]
        lo, hi = _clip_bounds(p.dtype)
        c = np.clip(p, lo, hi)
        c_sum = _row_sum(c)
        if labels is not None:
            lab = labels.reshape(-1)
            idx = np.arange(count)
            c_y = c[idx, lab]
            loss = _mean(np.log(c_sum) - np.log(c_y), count, weights)
            if not need_grad:
                return loss, None
            grad = np.empty_like(p)
            grad[...] = (1.0 / (c_sum * count)).astype(p.dtype, copy=False)[:, None]
            grad[idx, lab] -= (1.0 / (c_y * count)).astype(p.dtype, copy=False)
        else:
            t = rows.reshape(-1, n_classes)
            t_sum = _row_sum(t)
            loss = _mean(np.log(c_sum) * t_sum - np.einsum("ij,ij->i", t, np.log(c)), count, weights)
            if not need_grad:
                return loss, None
            grad = (t_sum / c_sum)[:, None] - t / c
            grad *= grad.dtype.type(1.0 / count)
        grad *= _in_range(p, lo, hi)
        return loss, grad.reshape(y_pred.shape)

    def output(self, y_pred):
        return softmax(y_pred) if self.from_logits else y_pred


@registry.register("binary_crossentropy", "binary_cross_entropy")
class BinaryCrossentropy(Loss):
    """Binary cross-entropy per output, averaged over the last axis and the batch (M entries in all).

    From probabilities (Keras clips, c = clip(p, ε, 1 − ε)):
        ℓ = −[t·log c + (1 − t)·log(1 − c)],   ∂ℓ/∂p = [ε ≤ p ≤ 1 − ε]·(c − t) / (c·(1 − c)) / M
    From logits z (``from_logits=True``; stable form, no overflow and no clipping):
        ℓ = max(z, 0) − z·t + log(1 + e^(−|z|)),   ∂ℓ/∂z = (σ(z) − t) / M
    ``label_smoothing`` = α replaces t by t·(1 − α) + α/2. ``output`` is σ(z) for logits.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0):
        self.from_logits = check_bool("BinaryCrossentropy", "from_logits", from_logits)
        self.label_smoothing = check_number("BinaryCrossentropy", "label_smoothing", label_smoothing,
                                            minimum=0.0, maximum=1.0)

    def _evaluate(self, y_pred, y_true, need_grad, weights=None):
        t = dense_targets(y_pred, y_true)
        outside = (t < 0) | (t > 1)      # labels in {-1, 1} (the SVM habit) would give a meaningless loss
        if outside.any():
            index = _first(outside)
            raise DataError(f"argument 'y_true': binary cross-entropy needs targets in [0, 1] (labels 0/1), got "
                            f"{t[index].item()!r}{_where(index)}")
        if self.label_smoothing:
            alpha = self.label_smoothing
            t = t * y_pred.dtype.type(1.0 - alpha) + y_pred.dtype.type(0.5 * alpha)
        count = y_pred.size
        if self.from_logits:
            z = y_pred
            e = np.exp(-np.abs(z))
            loss = _mean(np.maximum(z, 0) - z * t + np.log1p(e), count, weights)
            if not need_grad:
                return loss, None
            # σ(z) from the same e = exp(−|z|): 1/(1+e) for z ≥ 0, e/(1+e) for z < 0
            grad = np.where(z >= 0, 1.0, e)
            grad /= 1.0 + e
            grad -= t
            grad *= grad.dtype.type(1.0 / count)
            return loss, grad
        lo, hi = _clip_bounds(y_pred.dtype)
        c = np.clip(y_pred, lo, hi)
        one_minus_c = 1.0 - c
        loss = _mean(-(t * np.log(c) + (1.0 - t) * np.log(one_minus_c)), count, weights)
        if not need_grad:
            return loss, None
        grad = c - t
        grad /= c * one_minus_c
        grad *= _in_range(y_pred, lo, hi)
        grad *= grad.dtype.type(1.0 / count)
        return loss, grad

    def output(self, y_pred):
        return sigmoid(y_pred) if self.from_logits else y_pred


# ==================================================================================================== regression

@registry.register("mse", "mean_squared_error")
class MeanSquaredError(Loss):
    """Mean squared error over all M entries: L = (1/M)·Σ (ŷ − y)²,  ∂L/∂ŷ = 2·(ŷ − y)/M."""

    def __init__(self):
        pass

    def _evaluate(self, y_pred, y_true, need_grad, weights=None):
        d = y_pred - dense_targets(y_pred, y_true)
        loss = _mean(d * d, d.size, weights)      # summed in float64, as every other loss (and weighted MSE)
        if not need_grad:
            return loss, None
        d *= d.dtype.type(2.0 / d.size)
        return loss, d


@registry.register("mae", "mean_absolute_error")
class MeanAbsoluteError(Loss):
    """Mean absolute error over all M entries: L = (1/M)·Σ |ŷ − y|,  ∂L/∂ŷ = sign(ŷ − y)/M (sign(0) = 0)."""

    def __init__(self):
        pass

    def _evaluate(self, y_pred, y_true, need_grad, weights=None):
        d = y_pred - dense_targets(y_pred, y_true)
        loss = _mean(np.abs(d), d.size, weights)
        if not need_grad:
            return loss, None
        np.sign(d, out=d)
        d *= d.dtype.type(1.0 / d.size)
        return loss, d


@registry.register("huber", "huber_loss")
class Huber(Loss):
    """Huber loss over all M entries, with e = ŷ − y and threshold δ (``delta``, default 1):

        ℓ(e) = ½·e²             if |e| ≤ δ          ∂ℓ/∂ŷ = clip(e, −δ, δ) / M
               δ·|e| − ½·δ²     otherwise
    Quadratic near zero, linear (robust to outliers) beyond δ.
    """

    def __init__(self, delta=1.0):
        self.delta = check_number("Huber", "delta", delta, minimum=0.0, strict=True)

    def _evaluate(self, y_pred, y_true, need_grad, weights=None):
        d = y_pred - dense_targets(y_pred, y_true)
        delta = d.dtype.type(self.delta)
        a = np.abs(d)
        per = np.where(a <= delta, 0.5 * d * d, delta * a - 0.5 * delta * delta)
        loss = _mean(per, d.size, weights)
        if not need_grad:
            return loss, None
        np.clip(d, -delta, delta, out=d)
        d *= d.dtype.type(1.0 / d.size)
        return loss, d


# ==================================================================================================== lookup

def get(identifier):
    """A loss from a spec (``"binary_crossentropy(from_logits=True)"``), a ``{"name", "config"}`` dict or an
    instance."""
    return registry.get(identifier)


def serialize(obj):
    """``{"name": ..., "config": {...}}`` (what :func:`get` reads back)."""
    return to_json(obj)

