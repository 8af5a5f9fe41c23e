"""BatchNormalization behaviour (numpynet/core/layers/normalization.py) that the mutation run (issue 13) found
untested.

Pinned here: ``forward`` called without ``training`` is inference (the moving statistics, which it leaves alone),
as Keras's ``training=None`` outside ``fit``; a batch whose number of rows per channel equals the number of
channels, followed by a batch of another size (the channel sums must follow the new batch); a float32 batch after
a float64 batch of the same size through the same layer (as after ``Model.to_dtype``) still gives float32; and
float32 is kept by the output and by the input gradient for every ``center``/``scale`` combination, in training and
in inference (the frozen and inference path dx = γ·dy/√(σ²_mov + ε) included).

Every expected value comes from the textbook formulas written out below in float64 (Ioffe & Szegedy's forward
and backward pass, biased batch variance, ε inside the square root and Keras's moving averages
moving = momentum·moving + (1 − momentum)·batch) or from central differences (numpynet.gradcheck.check_layer,
with every entry of its report asserted finite and small), never from the code's own output.

Survivors judged equivalent — no test can tell them apart from the original (mutant names as in the run,
``xǁBatchNormalizationǁmethod__mutmut_N``):
  * ``reshape(…, -2)`` / ``reshape(-2, …)`` for ``-1``: NumPy 2 takes any negative size as "the rest":
    _flat 9, _sum 9.
  * the cached ones vector of the channel sums rebuilt on every call (``ones = None``): _sum 10 (speed only).
  * ``astype(dtype, copy=None / True / default)`` of a parameter or of 1/√(σ² + ε) that nothing writes to (every
    consumer makes a new array): _vector 3 5 6, forward 55 57 63.
  * the ``fill`` of ``_vector`` for a parameter the layer always has: build always adds moving_mean and
    moving_variance, forward reads gamma only under ``if self.scale`` and beta only under ``if self.center``,
    which are exactly when build added them: forward 35 42 45 52 (moving statistics), 71 78 (gamma),
    83 90 95 102 (beta).
  * build 10 11 (``-ndim < axis`` / ``axis <= ndim``): the axes they let through or stop, −ndim and ndim, are
    rejected anyway by ``axis % ndim == 0``, with the same message.
  * build 30 32 (``_last`` None / never true): channels-last input then takes the general broadcasting layout
    instead of the flattened-rows one; the same statistics and outputs (only the order of the float64/float32
    summation differs), the code comment calls the flat layout a speed-up.
  * build 37 46 (``_reps`` computed, or 2, when the channel axis is not last): ``_reps`` is only read for
    channels-last input. build 40 42 (``np.prod`` without ``dtype=np.int64``): the default integer of
    NumPy on 64-bit Linux is int64, and ``np.prod(())`` = 1.0 still gives ``int(1.0)`` = 1; a None spatial
    size raises TypeError with or without it (a bug, not pinned here: channels-last input of unknown height or
    width cannot be built).
  * build 82 93 (``trainable=None`` for the moving statistics): add_weight only truth-tests it.
  * forward 10 (``x.size / C`` for ``//``): the count is a whole number; 1/count is the same float either way.
  * forward 84 (β in float64 added in place into a float32 y): the in-place add casts back to float32, and
    float64 addition of two float32 values rounded to float32 is the correctly rounded float32 sum (53 ≥ 2·24 + 2
    bits: no double-rounding error), so the result is bit-identical.
Rounding only (float64 where the original computes in the input's dtype, then cast back; last-ulp differences
of 1/√(σ² + ε), below any tolerance a float64 reference can justify): forward 46 (moving variance in float64 in
inference).
"""

import numpy as np
import pytest

import numpynet as nn
from numpynet.gradcheck import check_layer
from numpynet.layers import BatchNormalization

EPS = 0.01
MOMENTUM = 0.8


def data(shape, seed=0, dtype=np.float64):
    return (np.random.default_rng(seed).standard_normal(shape) * 2.0 + 0.5).astype(dtype)


def built(input_shape, dtype=np.float64, seed=2, **kwargs):
    """A built layer with non-trivial γ, β and moving statistics (returned in float64 for the references)."""
    layer = BatchNormalization(momentum=MOMENTUM, epsilon=EPS, name="bn", **kwargs)
    layer.dtype = dtype
    layer.build((None,) + tuple(input_shape[1:]))
    c = input_shape[layer.axis]
    rng = np.random.default_rng(seed)
    gamma, beta = rng.uniform(0.5, 2.0, c), rng.uniform(-1.0, 1.0, c)
    mov_mean, mov_var = rng.uniform(-1.0, 1.0, c), rng.uniform(0.5, 2.0, c)
    layer.set_weights([w for w, keep in ((gamma, layer.scale), (beta, layer.center), (mov_mean, True),
                                         (mov_var, True)) if keep])
    g = gamma if layer.scale else np.ones(c)
    b = beta if layer.center else np.zeros(c)
    return layer, g, b, mov_mean, mov_var


def channel_shape(ndim, axis):
    shape = [1] * ndim
    shape[axis % ndim] = -1
    return shape


def ref_forward(x, axis, g, b, mean=None, var=None):
    """y = γ·(x − μ)/√(σ² + ε) + β per channel; μ and the biased σ² over every other axis unless given."""
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    if mean is None:
        mean = x.sum(axis=axes) / (x.size // x.shape[axis])
        var = ((x - mean.reshape(channel_shape(x.ndim, axis))) ** 2).sum(axis=axes) / (x.size // x.shape[axis])
    s = channel_shape(x.ndim, axis)
    y = g.reshape(s) * (x - mean.reshape(s)) / np.sqrt(var.reshape(s) + EPS) + b.reshape(s)
    return y, mean, var


def ref_backward_training(x, dy, axis, g):
    """dx = (1/√(σ² + ε))·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = γ·dy, means over every axis but the channel."""
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    s = channel_shape(x.ndim, axis)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    x_hat = (x - mean) / np.sqrt(var + EPS)
    dxh = dy * g.reshape(s)
    return (dxh - dxh.mean(axis=axes, keepdims=True) - x_hat * (dxh * x_hat).mean(axis=axes, keepdims=True)) \
        / np.sqrt(var + EPS)


def assert_gradcheck(report, expected):
    """Every entry of the report: present, finite (a NaN fails) and small."""
    assert set(report.errors) == expected
    for key, err in report.errors.items():
        assert np.isfinite(err) and err < 1e-6, (key, report.table())


# ------------------------------------------------------------------------------------------------------- tests

@pytest.mark.parametrize("shape,axis", [((6, 3), -1), ((4, 2, 3, 2), -1), ((4, 3, 2), 1)])
def test_forward_without_training_argument_is_inference(shape, axis):
    layer, g, b, mov_mean, mov_var = built(shape, axis=axis)
    x = data(shape, seed=1)
    y = layer.forward(x)                                   # no ``training``: inference, as Keras outside fit
    np.testing.assert_allclose(y, ref_forward(x, axis, g, b, mov_mean, mov_var)[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.params["moving_mean"], mov_mean)        # left alone
    np.testing.assert_array_equal(layer.params["moving_variance"], mov_var)
    # and its gradient is the affine map's: dx = γ·dy/√(σ²_mov + ε)
    dy = data(shape, seed=2)
    s = channel_shape(len(shape), axis)
    np.testing.assert_allclose(layer.backward(dy), dy * (g / np.sqrt(mov_var + EPS)).reshape(s), rtol=1e-12)


@pytest.mark.parametrize("first,second", [((4, 4), (6, 4)), ((4, 4), (3, 4)), ((1, 2, 2, 4), (3, 2, 2, 4))])
def test_batch_with_as_many_rows_as_channels_then_another_size(first, second):
    """m (values per channel) = C on the first batch, then a batch of another size: statistics, moving averages
    and gradients of the second batch follow the textbook formulas."""
    layer, g, b, mov_mean, mov_var = built(first)
    c = first[-1]
    x1 = data(first, seed=3)
    assert x1.size // c == c
    y1 = layer.forward(x1, training=True)
    want1, mu1, var1 = ref_forward(x1, -1, g, b)
    np.testing.assert_allclose(y1, want1, rtol=1e-12, atol=1e-12)
    dy1 = data(first, seed=4)
    np.testing.assert_allclose(layer.backward(dy1), ref_backward_training(x1, dy1, -1, g), rtol=1e-9, atol=1e-11)
    mm = MOMENTUM * mov_mean + (1.0 - MOMENTUM) * mu1
    mv = MOMENTUM * mov_var + (1.0 - MOMENTUM) * var1

    x2 = data(second, seed=5)
    y2 = layer.forward(x2, training=True)
    want2, mu2, var2 = ref_forward(x2, -1, g, b)
    np.testing.assert_allclose(y2, want2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.params["moving_mean"], MOMENTUM * mm + (1.0 - MOMENTUM) * mu2, rtol=1e-12)
    np.testing.assert_allclose(layer.params["moving_variance"], MOMENTUM * mv + (1.0 - MOMENTUM) * var2,
                               rtol=1e-12)
    dy2 = data(second, seed=6)
    np.testing.assert_allclose(layer.backward(dy2), ref_backward_training(x2, dy2, -1, g), rtol=1e-9, atol=1e-11)
    axes = tuple(range(len(second) - 1))
    x_hat = (x2 - mu2) / np.sqrt(var2 + EPS)
    np.testing.assert_allclose(layer.grads["gamma"], (dy2 * x_hat).sum(axis=axes), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["beta"], dy2.sum(axis=axes), rtol=1e-10, atol=1e-12)


def test_gradcheck_after_a_batch_with_as_many_rows_as_channels():
    layer = BatchNormalization(epsilon=EPS)
    layer.dtype = np.float64
    layer.build((None, 4))
    layer.forward(data((4, 4), seed=7), training=True)
    x = data((7, 4), seed=8)
    assert_gradcheck(check_layer(layer, x, training=True), {"input", "gamma", "beta"})


def test_float32_batch_after_float64_batch_of_the_same_size_stays_float32():
    """As after ``Model.to_dtype``: the same layer sees a float64 batch, then a float32 one of the same size."""
    shape = (5, 2, 2, 3)
    layer, g, b, _, _ = built(shape)
    x64 = data(shape, seed=9)
    layer.forward(x64, training=True)
    layer.backward(data(shape, seed=10))
    x32 = data(shape, seed=11, dtype=np.float32)
    y = layer.forward(x32, training=True)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref_forward(x32, -1, g, b)[0], rtol=1e-4, atol=1e-4)
    dy = data(shape, seed=12, dtype=np.float32)
    dx = layer.backward(dy)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, ref_backward_training(x32, dy, -1, g), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("center,scale", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("shape,axis", [((6, 3), -1), ((4, 2, 3, 2), -1), ((4, 3, 2), 1)])
def test_float32_output_and_input_gradient_for_every_center_scale(shape, axis, training, center, scale):
    layer, g, b, mov_mean, mov_var = built(shape, dtype=np.float32, axis=axis, center=center, scale=scale)
    x = data(shape, seed=13, dtype=np.float32)
    y = layer.forward(x, training=training)
    assert y.dtype == np.float32 and y.shape == shape
    want = ref_forward(x, axis, g, b) if training else ref_forward(x, axis, g, b, mov_mean, mov_var)
    np.testing.assert_allclose(y, want[0], rtol=1e-5, atol=1e-5)
    dy = data(shape, seed=14, dtype=np.float32)
    dx = layer.backward(dy)
    assert dx.dtype == np.float32 and dx.shape == shape
    if training:
        want_dx = ref_backward_training(x, dy, axis, g)
    else:
        want_dx = dy * (g / np.sqrt(mov_var + EPS)).reshape(channel_shape(len(shape), axis))
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-5)
    for key in layer.grads:
        assert layer.grads[key].dtype == np.float32


def test_frozen_layer_input_gradient_keeps_float32():
    """Keras: a frozen layer (trainable=False) runs in inference mode, also when called with training=True."""
    shape = (6, 3)
    layer, g, b, mov_mean, mov_var = built(shape, dtype=np.float32, trainable=False)
    x = data(shape, seed=15, dtype=np.float32)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref_forward(x, -1, g, b, mov_mean, mov_var)[0], rtol=1e-5, atol=1e-5)
    dy = data(shape, seed=16, dtype=np.float32)
    dx = layer.backward(dy)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, dy * g / np.sqrt(mov_var + EPS), rtol=1e-5, atol=1e-6)


def test_unknown_height_and_width_work_for_every_image_size():
    """Channels-last input whose H and W are unknown when the layer is built (an Input((None, None, C)) model): the
    per-channel rows are tiled to each batch's own size. It used to fail in build with a raw TypeError."""
    layer, g, b, _, _ = built((None, None, None, 3))
    for shape, seed in (((4, 5, 5, 3), 11), ((2, 7, 6, 3), 12), ((3, 1, 2, 3), 13)):
        x, dy = data(shape, seed=seed), data(shape, seed=seed + 10)
        want, _, _ = ref_forward(x, -1, g, b)
        np.testing.assert_allclose(layer.forward(x, training=True), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.backward(dy), ref_backward_training(x, dy, -1, g), rtol=1e-9, atol=1e-11)
        assert_gradcheck(check_layer(layer, x, training=True), {"input", "gamma", "beta"})


def test_a_graph_with_unknown_image_size_builds_and_predicts():
    L = nn.layers
    inp = nn.Input((None, None, 3))
    out = L.GlobalAveragePooling2D()(L.BatchNormalization()(L.Conv2D(4, 3, padding="same")(inp)))
    model = nn.Model(inp, out)
    for hw in ((5, 5), (7, 6)):
        assert model.predict(data((2,) + hw + (3,), dtype=np.float32)).shape == (2, 4)
