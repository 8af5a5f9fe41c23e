"""numpynet/core/losses.py behaviour that the mutation run (issue 13) found untested: per-sample weights on every loss
and path, (N, T, K) predictions, the fast many-rows max, Keras's inclusive clipping bounds, the target helpers'
accepted forms, float64 summation of float32 batches, and what every error message says.

Every expected value comes from a plain textbook formula below (float64), never from the code's own output.

Survivors of the old run (numpynet/losses.py, 277 of 1202) judged equivalent, 59 in all — no test can tell them apart
from the original (mutant names as in the old run, ``x_…__mutmut_N`` / ``xǁClassǁmethod__mutmut_N``):
  * 14 ``reshape(-2, …)`` for ``reshape(-1, …)``: NumPy 2.x takes any negative size as the one unknown dimension
    (_softmax_xent 10 23 27 61, softmax 9, CategoricalCrossentropy._evaluate 25 36 84,
    SparseCategoricalCrossentropy._evaluate 25 43 85, MeanSquaredError._evaluate 10, _mean 16, forward_backward 33).
  * 9 ``astype(…, copy=None)`` for ``copy=False``: NumPy 2.x copies only when it must, as with False
    (_check_labels 44, as_one_hot 18, categorical_targets 27, dense_targets 28, sigmoid 8, _mean 25,
    forward_backward 27, SparseCategoricalCrossentropy._evaluate 62 72).
  * 10 ``copy=True`` / default copy of a temporary that nothing else holds (sigmoid 10 26, _mean 27 28,
    forward_backward 29 30, SparseCategoricalCrossentropy._evaluate 64 68 74 78).
  * 6 ``astype(None)`` (= float64) where the value is float64 already or goes back into the same float array
    exactly (_floating 9, as_predictions 15, _mean 24, _in_range 1 (a 0/1 mask),
    SparseCategoricalCrossentropy._evaluate 61 71 (float32 to float64 and back is exact)).
  * 4 upper-case einsum subscripts ("IJ,IJ->I" is the same contraction): _softmax_xent 70,
    CategoricalCrossentropy._evaluate 109 137, SparseCategoricalCrossentropy._evaluate 105.
  * 4 _row_max 2 3 4 11: the rows-vs-16·K threshold only picks the faster of two exact maxima; range(k) only
    compares column 0 with itself once more.
  * 3 boundaries where both branches agree: sigmoid 17 and BinaryCrossentropy._evaluate 56 (z = 0: 1/(1+1) both
    ways), Huber._evaluate 18 (|e| = δ: ½δ² = δ·δ − ½δ²).
  * 3 Loss.forward 4 8 9 (need_grad None / True): the gradient is computed and thrown away; only the time differs.
  * 3 _check_labels 15 16 17: the complex-dtype branch was unreachable (every caller runs as_numeric_array first,
    which rejects complex input with its own message, tested below); the branch is now gone.
  * 2 _check_batch 1 2: the default name="y_true" is never used, both callers pass their name.
  * 1 as_numeric_array 5 ("XXbiufXX"): no dtype kind is "X".
Rounding only: forward_backward 26 (float32 gradient times float64 weights, last-ulp differences). The other one,
MeanSquaredError._evaluate 12 (a float64 sum instead of the float32 BLAS dot for unweighted MSE), showed a real
inconsistency — unweighted float32 MSE was summed in float32, weighted MSE and every other loss in float64 — so
unweighted MSE now sums in float64 too (tested at the end of this file).
Checked by putting each survivor's body in place of the function and running this file alone: 216 of the 277 fail
it, the 61 left are exactly the 59 + 2 above. The as_numeric_array mutants now belong to numpynet/core/inputs.py;
the tests here still kill them through losses.
"""

import re

import numpy as np
import pytest

import numpynet as nn
from numpynet.core import losses
from numpynet.errors import DataError, ShapeError, SpecError

EPS = 1e-7
TIGHT = dict(rtol=1e-12, atol=1e-15)


def rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------------ textbook references

def ref_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ref_logsumexp(z):
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def weighted(per_sample_rows, weights, count):
    """Σ_n w_n·(Σ of sample n's values) / count: Keras's weighted sum_over_batch_size."""
    n = per_sample_rows.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(np.sum(per_sample_rows.reshape(n, -1).sum(axis=1) * w)) / count


def scale_rows(grad, weights):
    if weights is None:
        return grad
    return grad * np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * (grad.ndim - 1))


def ref_softmax_xent(z, t, weights=None):
    """ℓ = Σ_k t_k·(logsumexp(z) − z_k);  ∂ℓ/∂z = p·Σt − t; mean over all rows."""
    rows = z.size // z.shape[-1]
    per = (t * (ref_logsumexp(z)[..., None] - z)).sum(axis=-1)
    grad = (ref_softmax(z) * t.sum(axis=-1, keepdims=True) - t) / rows
    return weighted(per, weights, rows), scale_rows(grad, weights)


def ref_cce_probs(p, t, weights=None):
    """Keras: r = p/Σp, q = clip(r, ε, 1−ε), ℓ = −Σ t·log q;
    ∂ℓ/∂p_j = (g_j − Σ_k g_k·r_k)/Σp with g = −t/q where r is not clipped, else 0."""
    rows = p.size // p.shape[-1]
    s = p.sum(axis=-1, keepdims=True)
    r = p / s
    q = np.clip(r, EPS, 1 - EPS)
    per = -(t * np.log(q)).sum(axis=-1)
    g = np.where((r >= EPS) & (r <= 1 - EPS), -t / q, 0.0)
    grad = (g - (g * r).sum(axis=-1, keepdims=True)) / s / rows
    return weighted(per, weights, rows), scale_rows(grad, weights)


def ref_scce_probs(p, t, weights=None):
    """Keras: c = clip(p, ε, 1−ε), ℓ = Σt·log Σc − Σ t·log c;  ∂ℓ/∂p = [unclipped]·(Σt/Σc − t/c)."""
    rows = p.size // p.shape[-1]
    c = np.clip(p, EPS, 1 - EPS)
    cs = c.sum(axis=-1, keepdims=True)
    ts = t.sum(axis=-1, keepdims=True)
    per = (ts * np.log(cs))[..., 0] - (t * np.log(c)).sum(axis=-1)
    grad = np.where((p >= EPS) & (p <= 1 - EPS), ts / cs - t / c, 0.0) / rows
    return weighted(per, weights, rows), scale_rows(grad, weights)


def ref_bce(y, t, from_logits, weights=None):
    m = y.size
    if from_logits:
        per = np.maximum(y, 0) - y * t + np.log(1 + np.exp(-np.abs(y)))
        grad = (1 / (1 + np.exp(-y)) - t) / m
    else:
        c = np.clip(y, EPS, 1 - EPS)
        per = -(t * np.log(c) + (1 - t) * np.log(1 - c))
        grad = np.where((y >= EPS) & (y <= 1 - EPS), (c - t) / (c * (1 - c)), 0.0) / m
    return weighted(per, weights, m), scale_rows(grad, weights)


def ref_elementwise(name, y, t, weights=None, delta=1.0):
    e = y - t
    m = y.size
    if name == "mse":
        per, grad = e * e, 2 * e / m
    elif name == "mae":
        per, grad = np.abs(e), np.sign(e) / m
    else:
        per = np.where(np.abs(e) <= delta, 0.5 * e * e, delta * np.abs(e) - 0.5 * delta * delta)
        grad = np.clip(e, -delta, delta) / m
    return weighted(per, weights, m), scale_rows(grad, weights)


def check(loss, y_pred, y_true, expected, weights=None):
    """forward, backward and forward_backward all agree with the reference (loss, grad)."""
    want_loss, want_grad = expected
    got_loss, got_grad = loss.forward_backward(y_pred, y_true, weights)
    np.testing.assert_allclose(got_loss, want_loss, **TIGHT)
    assert got_grad.shape == np.shape(y_pred)
    np.testing.assert_allclose(got_grad, want_grad, **TIGHT)
    np.testing.assert_allclose(loss.forward(y_pred, y_true, sample_weight=weights), want_loss, **TIGHT)
    np.testing.assert_allclose(loss.backward(y_pred, y_true, sample_weight=weights), want_grad, **TIGHT)


def test_the_references_are_the_gradients_of_their_losses():
    """The reference gradients above are checked against central differences, so they are no copy of the code."""
    z = rng(1).normal(size=(3, 4))
    t = rng(2).uniform(0.1, 1.0, (3, 4))
    p = rng(3).uniform(0.05, 1.0, (3, 4))
    b = rng(4).uniform(0.05, 0.95, (3, 4))
    w = np.array([0.5, 2.0, 1.5])
    cases = [lambda x: ref_softmax_xent(x, t, w), lambda x: ref_cce_probs(x, t, w), lambda x: ref_scce_probs(x, t, w),
             lambda x: ref_bce(x, t / 1.1, False, w), lambda x: ref_bce(x, t / 1.1, True, w),
             lambda x: ref_elementwise("huber", x, t * 3, w, delta=0.7)]
    for f, x in zip(cases, [z, p, p, b, z, z]):
        grad = f(x)[1]
        h = 1e-6
        for idx in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[idx] += h
            down[idx] -= h
            assert abs((f(up)[0] - f(down)[0]) / (2 * h) - grad[idx]) < 1e-7


# ------------------------------------------------------------------------------------------ per-sample weights

W3 = np.array([0.5, 2.0, 0.0])     # N = 3 samples, K = 4 classes: N odd and N != K, one weight 0


def probs(shape, seed=0):
    return rng(seed).uniform(0.05, 1.0, shape)


def test_weighted_softmax_cross_entropy_labels_and_rows():
    z = rng(1).normal(0.0, 2.0, (3, 4))
    y = np.array([2, 0, 3])
    for loss in [losses.SoftmaxCrossEntropy(), losses.CategoricalCrossentropy(from_logits=True),
                 losses.SparseCategoricalCrossentropy(from_logits=True)]:
        check(loss, z, y, ref_softmax_xent(z, np.eye(4)[y], W3), W3)
        soft = rng(2).dirichlet(np.ones(4), 3)
        check(loss, z, soft, ref_softmax_xent(z, soft, W3), W3)
        check(loss, z, y, ref_softmax_xent(z, np.eye(4)[y]))


def test_weighted_categorical_crossentropy_from_probabilities():
    p = probs((3, 4))
    y = np.array([1, 3, 0])
    soft = rng(5).dirichlet(np.ones(4), 3)
    cce = losses.CategoricalCrossentropy()
    check(cce, p, y, ref_cce_probs(p, np.eye(4)[y], W3), W3)
    check(cce, p, soft, ref_cce_probs(p, soft, W3), W3)
    smoothed = losses.CategoricalCrossentropy(label_smoothing=0.2)
    check(smoothed, p, y, ref_cce_probs(p, np.eye(4)[y] * 0.8 + 0.05, W3), W3)


def test_weighted_sparse_categorical_crossentropy_from_probabilities():
    p = probs((3, 4))
    y = np.array([1, 3, 0])
    scce = losses.SparseCategoricalCrossentropy()
    check(scce, p, y, ref_scce_probs(p, np.eye(4)[y], W3), W3)
    check(scce, p, np.eye(4)[y], ref_scce_probs(p, np.eye(4)[y], W3), W3)


def test_weighted_binary_crossentropy_both_inputs():
    t = rng(3).integers(0, 2, (3, 4)).astype(float)
    b = probs((3, 4)) * 0.9
    z = rng(4).normal(0.0, 2.0, (3, 4))
    check(losses.BinaryCrossentropy(), b, t, ref_bce(b, t, False, W3), W3)
    check(losses.BinaryCrossentropy(from_logits=True), z, t, ref_bce(z, t, True, W3), W3)
    check(losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.4), z, t,
          ref_bce(z, t * 0.6 + 0.2, True, W3), W3)


@pytest.mark.parametrize("name, make", [("mse", losses.MeanSquaredError), ("mae", losses.MeanAbsoluteError),
                                        ("huber", losses.Huber)])
def test_weighted_regression_losses(name, make):
    y = rng(6).normal(0.0, 2.0, (3, 4))
    t = rng(7).normal(0.0, 2.0, (3, 4))
    check(make(), y, t, ref_elementwise(name, y, t, W3), W3)
    check(make(), y, t, ref_elementwise(name, y, t))
    check(make(), y, t, ref_elementwise(name, y, t, [1.0, 1.0, 1.0]), [1.0, 1.0, 1.0])   # a list works too


def test_weighted_one_dimensional_predictions():
    y = np.array([0.5, -1.0, 2.0])
    t = np.array([0.0, 1.0, 1.5])
    check(losses.MeanSquaredError(), y, t, ref_elementwise("mse", y, t, W3), W3)


def test_weighted_sequence_predictions_sum_each_sample_over_its_rows():
    z = rng(8).normal(0.0, 2.0, (3, 2, 4))
    y = rng(9).integers(0, 4, (3, 2))
    check(losses.SoftmaxCrossEntropy(), z, y, ref_softmax_xent(z, np.eye(4)[y], W3), W3)
    yp = rng(10).normal(size=(3, 2, 4))
    yt = rng(11).normal(size=(3, 2, 4))
    check(losses.MeanSquaredError(), yp, yt, ref_elementwise("mse", yp, yt, W3), W3)


# ------------------------------------------------------------------------------------------ (N, T, K) predictions

def test_softmax_of_three_axes_works_over_the_last_axis():
    z = rng(12).normal(0.0, 3.0, (2, 3, 4))
    out = losses.softmax(z)
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out, ref_softmax(z), **TIGHT)


def test_categorical_losses_on_sequences_of_class_scores():
    """(N, T, K) predictions with labels (N, T) up to K − 1 = 3 >= T: classes are the last axis, never axis 1."""
    z = rng(13).normal(0.0, 2.0, (2, 3, 4))
    p = probs((2, 3, 4), seed=14)
    y = np.array([[3, 0, 2], [1, 3, 3]])
    t = np.eye(4)[y]
    check(losses.SoftmaxCrossEntropy(), z, y, ref_softmax_xent(z, t))
    check(losses.SoftmaxCrossEntropy(), z, t, ref_softmax_xent(z, t))
    check(losses.CategoricalCrossentropy(), p, y, ref_cce_probs(p, t))
    check(losses.CategoricalCrossentropy(), p, t, ref_cce_probs(p, t))
    check(losses.CategoricalCrossentropy(label_smoothing=0.2), p, y, ref_cce_probs(p, t * 0.8 + 0.05))
    check(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), z, y,
          ref_softmax_xent(z, t * 0.8 + 0.05))
    check(losses.SparseCategoricalCrossentropy(), p, y, ref_scce_probs(p, t))
    check(losses.SparseCategoricalCrossentropy(), p, t, ref_scce_probs(p, t))


# ------------------------------------------------------------------------------------------ rows not summing to 1

def test_target_rows_that_do_not_sum_to_one_scale_the_log_normalizer():
    """ℓ = Σ_k t_k·(log S − s_k): the log-normalizer counts Σt times (unnormalized soft targets)."""
    z = rng(15).normal(0.0, 2.0, (3, 4))
    p = probs((3, 4), seed=16)
    t = np.array([[0.5, 0.25, 0.0, 0.0], [2.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.3]])
    check(losses.SoftmaxCrossEntropy(), z, t, ref_softmax_xent(z, t))
    check(losses.SparseCategoricalCrossentropy(), p, t, ref_scce_probs(p, t))


# ------------------------------------------------------------------------------------------ many rows, large logits

def test_many_rows_of_few_classes_stay_exact_for_huge_logits():
    """64 rows of 3 classes (the column-wise max path): the max of every column matters, logits of ±1000 overflow
    exp() unless the true row maximum is subtracted."""
    z = rng(17).normal(0.0, 1.0, (64, 3))
    for row in range(64):
        z[row, row % 3] = 1000.0
        z[row, (row + 1) % 3] = -1000.0
    y = np.arange(64) % 3
    y[::2] = (y[::2] + 2) % 3
    np.testing.assert_allclose(losses.softmax(z), ref_softmax(z), **TIGHT)
    check(losses.SoftmaxCrossEntropy(), z, y, ref_softmax_xent(z, np.eye(3)[y]))
    soft = rng(18).dirichlet(np.ones(3), 64)
    check(losses.SoftmaxCrossEntropy(), z, soft, ref_softmax_xent(z, soft))


# ------------------------------------------------------------------------------------------ clipping

def test_binary_clip_bounds_are_inclusive_for_the_gradient():
    """Keras/TensorFlow clip: p = ε and p = 1 − ε exactly are inside, so their gradient is not zero."""
    y = np.array([[EPS, 1 - EPS], [EPS, 1 - EPS]])
    t = np.array([[0.0, 1.0], [1.0, 0.0]])
    loss, grad = losses.BinaryCrossentropy().forward_backward(y, t)
    want = (y - t) / (y * (1 - y)) / 4
    assert np.all(grad != 0)
    np.testing.assert_allclose(grad, want, rtol=1e-9)
    np.testing.assert_allclose(loss, ref_bce(y, t, False)[0], rtol=1e-12)


def test_a_perfect_probability_costs_minus_log_of_one_minus_epsilon():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    y = np.array([0, 2])
    want = -np.log(1 - EPS)        # 1.00000005e-7, not 0
    for target in (y, np.eye(3)[y]):
        loss, grad = losses.CategoricalCrossentropy().forward_backward(p, target)
        np.testing.assert_allclose(loss, want, rtol=1e-9, atol=0)
        np.testing.assert_array_equal(grad, np.zeros_like(p))     # clipped: no gradient


def test_a_clipped_zero_probability_has_a_finite_gradient_with_soft_targets():
    p = np.array([[0.0, 0.3, 0.7], [0.2, 0.3, 0.5]])
    t = np.array([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]])
    loss, grad = losses.CategoricalCrossentropy().forward_backward(p, t)
    assert np.all(np.isfinite(grad))
    want_loss, want_grad = ref_cce_probs(p, t)
    np.testing.assert_allclose(loss, want_loss, **TIGHT)
    np.testing.assert_allclose(grad, want_grad, **TIGHT)


# ------------------------------------------------------------------------------------------ float32 summation

def test_float32_batches_are_summed_in_float64():
    y = np.array([[1e8], [1.0], [1.0], [1.0]], dtype=np.float32)   # float32 would keep 1e8 + 1 = 1e8
    assert losses.MeanAbsoluteError().forward(y, np.zeros_like(y)) == (1e8 + 3) / 4
    row = y.reshape(1, 4)
    assert losses.MeanAbsoluteError().forward(row, np.zeros_like(row), sample_weight=[1.0]) == (1e8 + 3) / 4


# ------------------------------------------------------------------------------------------ dtypes and conversion

def test_predictions_become_float64_unless_float32_or_float64():
    assert losses.as_predictions(np.array([1, 2])).dtype == np.float64
    assert losses.as_predictions(np.array([1, 2], dtype=np.float16)).dtype == np.float64
    assert losses.as_predictions([True, False]).dtype == np.float64
    f32 = np.array([1.0, 2.0], dtype=np.float32)
    assert losses.as_predictions(f32).dtype == np.float32
    # integer predictions against fractional targets: the targets must not be truncated to integers
    assert losses.MeanSquaredError().forward(np.array([[1], [2]]), np.array([[0.5], [0.5]])) == (0.25 + 2.25) / 2


def test_softmax_and_sigmoid_of_integers_and_float32():
    z = np.array([[1, 2, 3], [0, 0, 5]])
    np.testing.assert_allclose(losses.softmax(z), ref_softmax(z), **TIGHT)
    s = losses.sigmoid(np.array([-2, 0, 3]))
    assert s.dtype == np.float64
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-np.array([-2.0, 0.0, 3.0]))), **TIGHT)
    s32 = losses.sigmoid(np.array([-2.0, 0.0, 3.0], dtype=np.float32))
    assert s32.dtype == np.float32
    np.testing.assert_allclose(s32, 1 / (1 + np.exp(-np.array([-2.0, 0.0, 3.0]))), rtol=1e-6)


def test_output_is_the_softmax_only_for_logits():
    p = np.array([[0.2, 0.3, 0.5]])
    assert losses.SparseCategoricalCrossentropy().output(p) is p
    assert losses.CategoricalCrossentropy().output(p) is p
    assert losses.BinaryCrossentropy().output(p) is p
    np.testing.assert_allclose(losses.SparseCategoricalCrossentropy(from_logits=True).output(p), ref_softmax(p))
    np.testing.assert_allclose(losses.SoftmaxCrossEntropy().output(p), ref_softmax(p))


def test_targets_already_in_the_right_form_are_not_copied():
    labels = np.array([0, 2, 1], dtype=np.intp)
    assert np.shares_memory(losses.class_indices(labels, 3), labels)
    rows = np.array([[0.2, 0.8], [1.0, 0.0]])
    assert losses.as_one_hot(rows, 2) is rows
    y_pred = np.full((2, 2), 0.5)
    assert losses.categorical_targets(y_pred, rows)[1] is rows
    assert losses.dense_targets(y_pred, rows) is rows


# ------------------------------------------------------------------------------------------ target helpers

def test_class_indices_accepted_forms():
    out = losses.class_indices(np.array([], dtype=np.float64), 3)
    assert out.dtype == np.intp and out.shape == (0,)
    assert losses.class_indices([2], 3).shape == (1,)
    np.testing.assert_array_equal(losses.class_indices([[0.2, 0.8], [0.9, 0.1]], 2), [1, 0])   # two-class rows
    grid = np.array([[0, 1, 2], [2, 1, 0]])                       # (N, T) labels of 4 classes
    np.testing.assert_array_equal(losses.class_indices(grid, 4), grid)
    np.testing.assert_array_equal(losses.class_indices(grid[..., None], 4), grid)   # (N, T, 1)
    scores = rng(19).uniform(size=(2, 3, 4))                      # (N, T, K) rows
    np.testing.assert_array_equal(losses.class_indices(scores, 4), scores.argmax(axis=-1))
    np.testing.assert_array_equal(losses.class_indices([[0], [0]], 1), [0, 0])
    with pytest.raises(DataError, match=re.escape("argument 'y_true': class labels must be in [0, 0] for 1 classes, "
                                                  "got 3 at index 0")):
        losses.class_indices([[3]], 1)


def test_as_one_hot_accepted_forms():
    rows = np.array([[0.3, 0.7], [0.6, 0.4]])
    np.testing.assert_array_equal(losses.as_one_hot(rows, 2), rows)                    # probabilities pass
    out32 = losses.as_one_hot(rows, 2, dtype=np.float32)
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32, rows.astype(np.float32))
    np.testing.assert_array_equal(losses.as_one_hot([[0], [0]], 1), [[1.0], [1.0]])   # one class: labels, not rows
    scores = rng(20).uniform(size=(2, 3, 4))
    np.testing.assert_array_equal(losses.as_one_hot(scores, 4), scores)
    grid = np.array([[0, 3, 2], [1, 1, 3]])
    np.testing.assert_array_equal(losses.as_one_hot(grid, 4), np.eye(4)[grid])


def test_dense_targets_shapes():
    y_pred = np.array([0.5, 1.0, 2.0])
    np.testing.assert_array_equal(losses.dense_targets(y_pred, [[1.0], [2.0], [3.0]]), [1.0, 2.0, 3.0])
    assert losses.MeanSquaredError().forward(y_pred, [[0.5], [1.0], [1.0]]) == 1.0 / 3
    with pytest.raises(ShapeError, match=re.escape("argument 'y_true' must have the shape of 'y_pred' (2, 3, 2); "
                                                   "got (2, 6)")):
        losses.dense_targets(np.zeros((2, 3, 2)), np.zeros((2, 6)))


# ------------------------------------------------------------------------------------------ error messages

def raises(exc, text):
    return pytest.raises(exc, match="^" + re.escape(text))


def test_a_scalar_target_is_named_as_such():
    with raises(ShapeError, "argument 'y_true' has a scalar but 'y_pred' has 2 (shape (2, 1))"):
        losses.MeanSquaredError().forward(np.zeros((2, 1)), 3.0)


def test_label_messages_name_the_range_and_the_value():
    p = np.full((2, 3), 1 / 3)
    with raises(DataError, "argument 'y_true': class labels must be integers in [0, 2], got 1.5 at index 1"):
        losses.SparseCategoricalCrossentropy().forward(p, [0, 1.5])
    with raises(DataError, "argument 'y_true': class labels must be in [0, 2] for 3 classes, got 5 at index 1"):
        losses.class_indices(np.array([0.0, 5.0]), 3)       # an integral float is shown as the integer 5
    with raises(DataError, "argument 'y_true': class labels must be in [0, 2] for 3 classes, got 3 at index (1, 2)"):
        losses.SoftmaxCrossEntropy().forward(np.zeros((2, 3, 3)), [[0, 1, 2], [2, 1, 3]])


def test_default_and_given_argument_names():
    with raises(DataError, "argument 'y_true': class labels must be in [0, 2]"):
        losses.class_indices([5], 3)
    with raises(DataError, "argument 'y_true': class labels must be in [0, 2]"):
        losses.as_one_hot([5], 3)
    with raises(ShapeError, "argument 'y_true' has 3 samples (shape (3,)) but 'y_pred' has 2 (shape (2, 3))"):
        losses.categorical_targets(np.zeros((2, 3)), np.zeros(3))
    with raises(ShapeError, "argument 'y_true' has 3 samples (shape (3, 1)) but 'y_pred' has 2 (shape (2, 1))"):
        losses.dense_targets(np.zeros((2, 1)), np.zeros((3, 1)))
    with raises(ShapeError, "argument 'labels' has 3 samples (shape (3,)) but 'y_pred' has 2"):
        losses.categorical_targets(np.zeros((2, 3)), np.zeros(3), name="labels")
    with raises(ShapeError, "argument 'targets' has 3 samples (shape (3, 1)) but 'y_pred' has 2"):
        losses.dense_targets(np.zeros((2, 1)), np.zeros((3, 1)), name="targets")
    for helper in (losses.class_indices, losses.as_one_hot):
        with raises(DataError, "argument 'labels' must be numeric, got dtype <U1"):
            helper(["a"], 3, name="labels")
    with raises(DataError, "argument 'targets' must be numeric, got dtype <U1"):
        losses.dense_targets(np.zeros((1, 1)), [["a"]], name="targets")


def test_non_numeric_input_messages():
    with raises(DataError, "argument 'y_pred' must be real numbers (complex values would lose their imaginary part), "
                           "got dtype complex128"):
        losses.MeanSquaredError().forward(np.array([[1 + 1j]]), [[1.0]])
    with raises(DataError, "argument 'y_true' must be real numbers (complex values would lose their imaginary part), "
                           "got dtype complex128"):
        losses.SoftmaxCrossEntropy().forward(np.zeros((1, 3)), np.array([1 + 0j]))
    with raises(DataError, "argument 'y_pred' must be numeric, got dtype <U1"):
        losses.MeanSquaredError().forward(["a"], [1.0])
    with raises(DataError, "argument 'y_pred' cannot be converted to an array: "):
        losses.MeanSquaredError().forward([[1.0], [2.0, 3.0]], [1.0, 2.0])


def test_prediction_shape_messages():
    for loss in (losses.SoftmaxCrossEntropy(), losses.CategoricalCrossentropy(),
                 losses.SparseCategoricalCrossentropy()):
        with raises(ShapeError, "argument 'y_pred' must have a batch axis and a class axis, (N, n_classes); "
                                "got shape (3,)"):
            loss.forward(np.array([0.2, 0.3, 0.5]), [1])
    with raises(ShapeError, "argument 'y_pred' must have a batch axis; got shape ()"):
        losses.MeanSquaredError().forward(np.float64(1.0), [1.0])
    with raises(ShapeError, "argument 'y_pred' must have a batch axis; got shape ()"):
        losses.as_predictions(2.0)
    with raises(ShapeError, "argument 'y_pred' must have a batch axis and a class axis, (N, n_classes); got shape ()"):
        losses.as_predictions(2.0, min_ndim=2)
    with raises(DataError, "argument 'y_pred' is empty (shape (0, 3)); a loss needs at least one sample"):
        losses.SoftmaxCrossEntropy().forward(np.zeros((0, 3)), np.zeros(0))


def test_negative_probability_rows_name_the_first_negative_entry():
    rows = np.array([[0.0, 1.0, 0.0], [0.5, 0.7, -0.5]])
    with raises(DataError, "argument 'y_true': one-hot / probability rows must be >= 0, got -0.5 at index (1, 2)"):
        losses.CategoricalCrossentropy().forward(np.full((2, 3), 1 / 3), rows)
    with raises(DataError, "argument 'soft': one-hot / probability rows must be >= 0, got -0.5 at index (1, 2)"):
        losses.categorical_targets(np.full((2, 3), 1 / 3), rows, name="soft")


def test_target_shape_message_lists_both_label_shapes_and_the_row_shape():
    with raises(ShapeError, "argument 'y_true' must be integer labels of shape (2,) (or (2, 1)) or one-hot / "
                            "probability rows of shape (2, 3) matching 'y_pred'; got shape (2, 2)"):
        losses.SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.zeros((2, 2)))


@pytest.mark.parametrize("bad, shown", [(-1.0, "-1.0 at index (1, 0)"), (1.5, "1.5 at index (1, 0)"),
                                        (3.0, "3.0 at index (1, 0)")])
def test_binary_targets_outside_zero_one_are_refused(bad, shown):
    t = np.array([[0.0, 1.0], [bad, 1.0]])
    for loss in (losses.BinaryCrossentropy(), losses.BinaryCrossentropy(from_logits=True)):
        with raises(DataError, "argument 'y_true': binary cross-entropy needs targets in [0, 1] (labels 0/1), got "
                               + shown):
            loss.forward(np.full((2, 2), 0.5), t)


# ------------------------------------------------------------------------------------------ constructor arguments

@pytest.mark.parametrize("make, text", [
    (lambda: losses.BinaryCrossentropy(from_logits="yes"),
     "BinaryCrossentropy: argument 'from_logits' must be True or False, got 'yes' (str)"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=1.5),
     "BinaryCrossentropy: argument 'label_smoothing' must be <= 1.0, got 1.5"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=2.5),
     "BinaryCrossentropy: argument 'label_smoothing' must be <= 1.0, got 2.5"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=-0.1),
     "BinaryCrossentropy: argument 'label_smoothing' must be >= 0.0, got -0.1"),
    (lambda: losses.CategoricalCrossentropy(from_logits=1),
     "CategoricalCrossentropy: argument 'from_logits' must be True or False, got 1 (int)"),
    (lambda: losses.CategoricalCrossentropy(label_smoothing=-0.1),
     "CategoricalCrossentropy: argument 'label_smoothing' must be >= 0.0, got -0.1"),
    (lambda: losses.CategoricalCrossentropy(label_smoothing=1.5),
     "CategoricalCrossentropy: argument 'label_smoothing' must be <= 1.0, got 1.5"),
    (lambda: losses.SparseCategoricalCrossentropy(from_logits="no"),
     "SparseCategoricalCrossentropy: argument 'from_logits' must be True or False, got 'no' (str)"),
    (lambda: losses.Huber(delta=0),
     "Huber: argument 'delta' must be > 0.0, got 0.0"),
    (lambda: losses.Huber(delta="1"),
     "Huber: argument 'delta' must be a number, got '1' (str)"),
])
def test_constructor_errors_name_the_class_the_argument_and_the_value(make, text):
    with raises(SpecError, text):
        make()


def test_label_smoothing_bounds_themselves_are_accepted():
    for make in (losses.BinaryCrossentropy, losses.CategoricalCrossentropy):
        assert make(label_smoothing=0.0).label_smoothing == 0.0
        assert make(label_smoothing=1.0).label_smoothing == 1.0


def test_constructor_defaults():
    assert losses.Huber().delta == 1.0
    e = np.array([[1.5], [-0.5]])
    assert losses.Huber().forward(e, np.zeros_like(e)) == ((1.5 - 0.5) + 0.125) / 2     # δ = 1: linear beyond 1
    for make in (losses.BinaryCrossentropy, losses.CategoricalCrossentropy):
        assert make().get_config() == {"from_logits": False, "label_smoothing": 0.0}
    assert losses.SparseCategoricalCrossentropy().get_config() == {"from_logits": False}
    for cls in (losses.SoftmaxCrossEntropy, losses.MeanSquaredError, losses.MeanAbsoluteError):
        assert cls().get_config() == {}
    assert losses.SoftmaxCrossEntropy().from_logits is True
    assert losses.MeanSquaredError().from_logits is False and losses.MeanSquaredError().label_smoothing == 0.0


@pytest.mark.parametrize("loss", [
    losses.SoftmaxCrossEntropy(), losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    losses.SparseCategoricalCrossentropy(from_logits=True), losses.BinaryCrossentropy(label_smoothing=0.25),
    losses.MeanSquaredError(), losses.MeanAbsoluteError(), losses.Huber(delta=2.5)])
def test_spec_round_trip(loss):
    again = nn.losses.get(str(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert nn.losses.get(losses.serialize(loss)).get_config() == loss.get_config()


def test_unweighted_float32_mse_is_summed_in_float64_like_the_weighted_one():
    # float32 summation would give 25000000.0; the float64 sum keeps the three small squared errors
    y = np.array([[1e4, 1.0, 1.0, 1.0]], dtype=np.float32)
    t = np.zeros_like(y)
    mse = losses.get("mse")
    assert mse.forward(y, t) == mse.forward(y, t, sample_weight=np.ones(1)) == (1e8 + 3.0) / 4
