"""MobileNet's layers: DepthwiseConv2D, SeparableConv2D, ZeroPadding2D, ReLU(max_value, negative_slope, threshold)
and Reshape — gradients (float64 central differences), naive-loop references, shapes, errors, specs, dtypes."""

import numpy as np
import pytest
from test_layers_conv import built, images  # the same two helpers: random images, a layer built for a shape

import numpynet as nn
from numpynet.errors import ShapeError, SpecError
from numpynet.gradcheck import check_layer
from numpynet.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    ReLU,
    Reshape,
    SeparableConv2D,
    ZeroPadding2D,
)
from numpynet.layers.conv import _Window
from numpynet.layers.depthwise import depthwise_input_grad


def ids(kwargs):
    return ",".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


def keras_pads(n, k, stride, dilation, padding):
    """(output size, pad before, pad after) by Keras's rule, written out independently of the library."""
    k_eff = (k - 1) * dilation + 1
    if padding == "valid":
        return (n - k_eff) // stride + 1, 0, 0
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return out, total // 2, total - total // 2


def naive_depthwise(x, W, b, strides, padding, dilation):
    """Textbook loops over every sample, output pixel, channel, multiplier and kernel offset."""
    n, h, w, c = x.shape
    kh, kw, _, m = W.shape
    (sh, sw), (dh, dw) = strides, dilation
    oh, top, bottom = keras_pads(h, kh, sh, dh, padding)
    ow, left, right = keras_pads(w, kw, sw, dw, padding)
    xp = np.zeros((n, h + top + bottom, w + left + right, c))
    xp[:, top:top + h, left:left + w] = x
    out = np.zeros((n, oh, ow, c * m))
    for s in range(n):
        for r in range(oh):
            for q in range(ow):
                for ch in range(c):
                    for k in range(m):
                        acc = 0.0 if b is None else b[ch * m + k]
                        for i in range(kh):
                            for j in range(kw):
                                acc += xp[s, r * sh + i * dh, q * sw + j * dw, ch] * W[i, j, ch, k]
                        out[s, r, q, ch * m + k] = acc
    return out


def naive_depthwise_input_grad(du, W, x_shape, strides, padding, dilation):
    """dx by the scatter loop: every output pixel hands du·W back to the inputs of its window."""
    n, h, w, c = x_shape
    kh, kw, _, m = W.shape
    (sh, sw), (dh, dw) = strides, dilation
    oh, top, bottom = keras_pads(h, kh, sh, dh, padding)
    ow, left, right = keras_pads(w, kw, sw, dw, padding)
    dxp = np.zeros((n, h + top + bottom, w + left + right, c))
    du5 = du.reshape(n, oh, ow, c, m)
    for r in range(oh):
        for q in range(ow):
            for i in range(kh):
                for j in range(kw):
                    dxp[:, r * sh + i * dh, q * sw + j * dw, :] += (du5[:, r, q] * W[i, j]).sum(axis=-1)
    return dxp[:, top:top + h, left:left + w]


# ============================================================================================ DepthwiseConv2D

DEPTHWISE_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding="same"),
    dict(kernel_size=3, strides=2),
    dict(kernel_size=3, strides=2, padding="same"),
    dict(kernel_size=3, padding="same", depth_multiplier=2),
    dict(kernel_size=(2, 3), strides=(1, 2), padding="same", depth_multiplier=3),
    dict(kernel_size=(3, 2), strides=(2, 1), padding="same"),
    dict(kernel_size=3, dilation_rate=2, padding="same"),
    dict(kernel_size=2, dilation_rate=(2, 1), depth_multiplier=2),
    dict(kernel_size=3, use_bias=False),
    dict(kernel_size=1, strides=2),
    dict(kernel_size=4, strides=3, padding="same"),
]


@pytest.mark.parametrize("size", [(7, 9), (8, 6)], ids=["odd", "even"])
@pytest.mark.parametrize("kwargs", DEPTHWISE_CASES, ids=ids)
def test_depthwise_gradients(kwargs, size):
    x = images((2,) + size + (3,))
    report = check_layer(DepthwiseConv2D(activation="tanh", **kwargs), x)
    assert report < 1e-6, report.table()
    assert set(report.errors) == ({"input", "W", "b"} if kwargs.get("use_bias", True) else {"input", "W"})


def test_depthwise_gradients_with_logits_output():
    layer = DepthwiseConv2D(3, padding="same", activation="sigmoid")
    layer.output_logits = True     # the model's fused-loss mode: forward returns z
    x = images((2, 5, 5, 2))
    report = check_layer(layer, x)
    assert report < 1e-6, report.table()
    assert np.allclose(layer.forward(x), layer.z)


@pytest.mark.parametrize("shape,kwargs", [
    ((2, 7, 8, 3), dict(kernel_size=3)),
    ((2, 7, 8, 3), dict(kernel_size=3, strides=2, padding="same")),
    ((2, 8, 8, 3), dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2)),
    ((1, 9, 7, 2), dict(kernel_size=(3, 2), strides=(2, 3), padding="same", depth_multiplier=3)),
    ((1, 9, 9, 2), dict(kernel_size=3, padding="same", dilation_rate=2)),
    ((2, 6, 7, 1), dict(kernel_size=(1, 4))),
    ((1, 4, 4, 2), dict(kernel_size=4, strides=3, padding="same")),
    ((1, 6, 5, 4), dict(kernel_size=5, padding="same", use_bias=False)),
], ids=lambda v: ids(v) if isinstance(v, dict) else str(v))
def test_depthwise_forward_and_input_gradient_match_naive_loops(shape, kwargs):
    x = images(shape, seed=2)
    layer = built(DepthwiseConv2D(**kwargs), shape)
    if layer.use_bias:
        layer.params["b"][...] = images(layer.params["b"].shape, seed=3)
    y = layer.forward(x)
    padding = kwargs.get("padding", "valid")
    expected = naive_depthwise(x, layer.params["W"], layer.params.get("b"), layer.window.strides, padding,
                               layer.window.dilation)
    assert y.shape == expected.shape and layer.output_shape[1:] == y.shape[1:]
    assert np.max(np.abs(y - expected)) < 1e-12
    du = images(y.shape, seed=4)
    dx = layer.backward(du)
    expected_dx = naive_depthwise_input_grad(du, layer.params["W"], shape, layer.window.strides, padding,
                                             layer.window.dilation)
    assert np.max(np.abs(dx - expected_dx)) < 1e-12


@pytest.mark.parametrize("h,w,kernel,strides,dilation,padding,m", [
    (7, 8, (3, 3), (2, 2), (1, 1), "same", 1),
    (8, 7, (3, 3), (2, 2), (1, 1), "valid", 2),
    (9, 9, (5, 5), (3, 3), (1, 1), "same", 1),
    (5, 6, (1, 1), (2, 2), (1, 1), "valid", 1),      # stride above the kernel: phases no window reads
    (4, 4, (3, 3), (4, 4), (1, 1), "same", 1),
    (7, 7, (3, 3), (1, 1), (2, 3), "same", 2),
])
def test_depthwise_input_gradient_phases(h, w, kernel, strides, dilation, padding, m):
    window = _Window(kernel, strides, dilation, padding)
    oh, ow = window.output_hw(h, w)
    W = images(kernel + (3, m), seed=5)
    du = images((2, oh, ow, 3 * m), seed=6)
    dx = depthwise_input_grad(du, W, window, (2, h, w, 3))
    assert dx.shape == (2, h, w, 3)
    expected = naive_depthwise_input_grad(du, W, (2, h, w, 3), strides, padding, dilation)
    assert np.max(np.abs(dx - expected)) < 1e-12


def test_depthwise_channel_layout_is_tensorflows():
    """Output channel c·M + m comes from input channel c: with a one-pixel kernel W[0, 0, c, m] = 10·c + m the
    output of an all-ones image lists 0, 1, 10, 11, 20, 21."""
    layer = built(DepthwiseConv2D(1, depth_multiplier=2, use_bias=False), (None, 2, 2, 3))
    layer.params["W"][0, 0] = [[0, 1], [10, 11], [20, 21]]
    y = layer.forward(np.ones((1, 2, 2, 3)))
    assert np.array_equal(y[0, 0, 0], [0, 1, 10, 11, 20, 21])


def test_depthwise_shapes_and_weights():
    layer = built(DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), (None, 9, 8, 5))
    assert layer.output_shape == (None, 5, 4, 10)
    assert list(layer.params) == ["W", "b"]
    assert layer.params["W"].shape == (3, 3, 5, 2) and layer.params["b"].shape == (10,)
    assert layer.count_params() == 3 * 3 * 5 * 2 + 10
    valid = built(DepthwiseConv2D((3, 5), use_bias=False), (None, 9, 9, 2))
    assert valid.output_shape == (None, 7, 5, 2) and list(valid.params) == ["W"]
    assert built(DepthwiseConv2D(3, padding="same"), (None, None, None, 4)).output_shape == (None, None, None, 4)


@pytest.mark.parametrize("limit", [None, 0], ids=["reused", "fresh"])
def test_depthwise_buffers_across_batch_and_image_sizes(limit, monkeypatch):
    """Scratch buffers are reused from batch to batch; other batch and image sizes must still be exact."""
    if limit is not None:
        monkeypatch.setattr(nn.layers.conv._Buffer, "limit", limit)
    for kwargs in (dict(padding="same"), dict(strides=2, padding="same", depth_multiplier=2)):
        layer = built(DepthwiseConv2D(3, **kwargs), (None, None, None, 2))
        for shape in ((3, 6, 6, 2), (1, 6, 6, 2), (2, 5, 7, 2), (3, 6, 6, 2)):
            x = images(shape, seed=sum(shape))
            y = layer.forward(x)
            expected = naive_depthwise(x, layer.params["W"], layer.params["b"], layer.window.strides, "same",
                                       (1, 1))
            assert np.max(np.abs(y - expected)) < 1e-12
            du = images(y.shape, seed=7)
            dx = layer.backward(du)
            expected_dx = naive_depthwise_input_grad(du, layer.params["W"], shape, layer.window.strides, "same",
                                                     (1, 1))
            assert np.max(np.abs(dx - expected_dx)) < 1e-12


def test_depthwise_first_layer_skips_input_gradient_and_fills_grads_in_place():
    layer = built(DepthwiseConv2D(3), (None, 6, 6, 2))
    layer.needs_input_grad = False
    gw, gb = layer.grads["W"], layer.grads["b"]
    y = layer.forward(images((2, 6, 6, 2)))
    assert layer.backward(np.ones_like(y)) is None
    assert layer.grads["W"] is gw and layer.grads["b"] is gb
    assert np.allclose(gb, np.full(2, y[..., 0].size))


# ============================================================================================ SeparableConv2D

SEPARABLE_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding="same", depth_multiplier=2),
    dict(kernel_size=3, strides=2, padding="same"),
    dict(kernel_size=(2, 3), strides=(2, 1), depth_multiplier=2),
    dict(kernel_size=3, dilation_rate=2, padding="same"),
    dict(kernel_size=3, use_bias=False),
]


@pytest.mark.parametrize("size", [(7, 9), (6, 6)], ids=["odd", "even"])
@pytest.mark.parametrize("kwargs", SEPARABLE_CASES, ids=ids)
def test_separable_gradients(kwargs, size):
    x = images((2,) + size + (3,))
    report = check_layer(SeparableConv2D(4, activation="tanh", **kwargs), x)
    assert report < 1e-6, report.table()
    keys = {"input", "depthwise_kernel", "pointwise_kernel"} | ({"b"} if kwargs.get("use_bias", True) else set())
    assert set(report.errors) == keys


@pytest.mark.parametrize("kwargs", SEPARABLE_CASES, ids=ids)
def test_separable_is_depthwise_then_pointwise(kwargs):
    """SeparableConv2D = DepthwiseConv2D without bias, then a 1x1 Conv2D with the bias."""
    x = images((2, 7, 8, 3), seed=8)
    sep = built(SeparableConv2D(4, activation="tanh", **kwargs), x.shape)
    if sep.use_bias:
        sep.params["b"][...] = images(4, seed=9)
    window_args = {k: v for k, v in kwargs.items() if k != "use_bias"}
    dw = built(DepthwiseConv2D(use_bias=False, **window_args), x.shape)
    dw.set_weights([sep.params["depthwise_kernel"]])
    pw = built(Conv2D(4, 1, activation="tanh", use_bias=sep.use_bias), (None,) + dw.output_shape[1:])
    pw.set_weights([sep.params["pointwise_kernel"]] + ([sep.params["b"]] if sep.use_bias else []))
    y = sep.forward(x)
    assert sep.output_shape[1:] == y.shape[1:]
    assert np.allclose(y, pw.forward(dw.forward(x)), rtol=1e-12, atol=1e-13)
    dy = images(y.shape, seed=10)
    dx = sep.backward(dy)
    assert np.allclose(dx, dw.backward(pw.backward(dy)), rtol=1e-12, atol=1e-13)
    assert np.allclose(sep.grads["depthwise_kernel"], dw.grads["W"], rtol=1e-12, atol=1e-13)
    assert np.allclose(sep.grads["pointwise_kernel"], pw.grads["W"], rtol=1e-12, atol=1e-13)


def test_separable_shapes_and_weights():
    layer = built(SeparableConv2D(7, 3, strides=2, padding="same", depth_multiplier=2), (None, 9, 8, 5))
    assert layer.output_shape == (None, 5, 4, 7)
    assert list(layer.params) == ["depthwise_kernel", "pointwise_kernel", "b"]       # Keras's order
    assert layer.params["depthwise_kernel"].shape == (3, 3, 5, 2)
    assert layer.params["pointwise_kernel"].shape == (1, 1, 10, 7)
    assert layer.params["b"].shape == (7,)


# ============================================================================================ ZeroPadding2D

@pytest.mark.parametrize("padding,pads", [
    (1, ((1, 1), (1, 1))),
    ((2, 0), ((2, 2), (0, 0))),
    (((1, 2), (3, 0)), ((1, 2), (3, 0))),
    ([[0, 1], [2, 1]], ((0, 1), (2, 1))),
    (0, ((0, 0), (0, 0))),
], ids=str)
def test_zero_padding(padding, pads):
    x = images((2, 4, 5, 3))
    layer = built(ZeroPadding2D(padding), x.shape)
    (top, bottom), (left, right) = pads
    y = layer.forward(x)
    assert y.shape == (2, 4 + top + bottom, 5 + left + right, 3) == (2,) + layer.output_shape[1:]
    assert np.array_equal(y, np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))))
    dy = images(y.shape, seed=2)
    assert np.array_equal(layer.backward(dy), dy[:, top:top + 4, left:left + 5])
    report = check_layer(ZeroPadding2D(padding), x)
    assert report < 1e-6, report.table()


def test_zero_padding_unknown_sizes_and_errors():
    assert built(ZeroPadding2D((1, 2)), (None, None, 7, 3)).output_shape == (None, None, 11, 3)
    with pytest.raises(ShapeError, match="4-D NHWC"):
        built(ZeroPadding2D(), (None, 8, 8))
    layer = built(ZeroPadding2D(), (None, 4, 4, 2))
    with pytest.raises(ShapeError, match="channels"):
        layer.forward(images((1, 4, 4, 3)))
    with pytest.raises(ShapeError, match="4-D NHWC"):
        layer.forward(images((1, 16)))


@pytest.mark.parametrize("padding", [-1, (1, -2), (1, 2, 3), ((1, 2), 3), 1.5, "same", True, ((1,), (2, 3))],
                         ids=str)
def test_zero_padding_bad_arguments(padding):
    with pytest.raises(SpecError, match="padding"):
        ZeroPadding2D(padding)


# ============================================================================================ ReLU

def test_relu_matches_the_keras_notes():
    layer = ReLU(max_value=6, negative_slope=0.1, threshold=1.0)
    y = layer.forward(np.array([-2.0, 0.5, 1.0, 3.0, 10.0]))
    np.testing.assert_allclose(y, [-0.3, -0.05, 0.0, 3.0, 6.0], rtol=1e-15, atol=1e-16)


# Values and gradients as tf.GradientTape gives them on keras.layers.ReLU (Keras 3.15, TensorFlow 2.21), kinks
# included; the parity module checks the same points against Keras itself.
KINK_X = [-2.0, -0.0, 0.0, 0.5, 1.0, 2.0, 5.0, 6.0, 7.0]
KINK_CASES = [
    (dict(), [0, 0, 0, 0.5, 1, 2, 5, 6, 7], [0, 0, 0, 1, 1, 1, 1, 1, 1]),
    (dict(max_value=6), [0, 0, 0, 0.5, 1, 2, 5, 6, 6], [0, 0, 0, 1, 1, 1, 1, 0, 0]),          # relu6: 0 at 6
    (dict(max_value=5), [0, 0, 0, 0.5, 1, 2, 5, 5, 5], [0, 0, 0, 1, 1, 1, 1, 0, 0]),          # clip: 1 at 5
    (dict(max_value=6, threshold=1.0), [0, 0, 0, 0, 0, 2, 5, 6, 6], [0, 0, 0, 0, 0, 1, 1, 1, 0]),
    (dict(negative_slope=0.5), [-1, 0, 0, 0.5, 1, 2, 5, 6, 7], [.5, .5, .5, 1, 1, 1, 1, 1, 1]),   # leaky: s at 0
    (dict(negative_slope=0.5, max_value=6), [-1, 0, 0, 0.5, 1, 2, 5, 6, 6], [.5, 0, 0, 1, 1, 1, 1, 0, 0]),
    (dict(negative_slope=0.5, threshold=1.0), [-1.5, -.5, -.5, -.25, 0, 2, 5, 6, 7],
     [.5, .5, .5, .5, 0, 1, 1, 1, 1]),
    (dict(negative_slope=2.0), [-4, 0, 0, 0.5, 1, 2, 5, 6, 7], [2, 2, 2, 1, 1, 1, 1, 1, 1]),
    (dict(max_value=0.5, threshold=1.0), [0, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5], [0] * 9),
    (dict(max_value=0.0), [0] * 9, [0] * 9),
]


@pytest.mark.parametrize("kwargs,y,g", KINK_CASES, ids=[ids(c[0]) for c in KINK_CASES])
def test_relu_values_and_subgradients_at_the_kinks(kwargs, y, g):
    layer = ReLU(**kwargs)
    x = np.array(KINK_X)
    np.testing.assert_array_equal(layer.forward(x), y)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), g)


@pytest.mark.parametrize("kwargs", [dict(), dict(max_value=6.0), dict(max_value=2.5), dict(negative_slope=0.3),
                                    dict(negative_slope=1.5), dict(threshold=0.5),
                                    dict(max_value=6.0, negative_slope=0.1, threshold=1.0),
                                    dict(negative_slope=0.2, max_value=6.0)], ids=ids)
def test_relu_gradients(kwargs):
    x = images((4, 3, 5)) * 4
    x[np.abs(x - kwargs.get("threshold", 0.0)) < 1e-3] += 0.01     # central differences across a kink fail
    x[np.abs(x - kwargs.get("max_value", 1e9)) < 1e-3] += 0.01
    report = check_layer(ReLU(**kwargs), x)
    assert report < 1e-6, report.table()


def test_relu_keeps_float32_and_shape():
    x = (images((2, 3, 4, 5)) * 5).astype(np.float32)
    for kwargs in (dict(), dict(max_value=6.0), dict(negative_slope=0.5), dict(max_value=6.0, threshold=1.0,
                                                                               negative_slope=0.25)):
        layer = ReLU(**kwargs)
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(y))
        assert y.dtype == dx.dtype == np.float32 and y.shape == dx.shape == x.shape
        assert np.array_equal(y, ReLU(**kwargs).forward(x.astype(np.float64)).astype(np.float32))


@pytest.mark.parametrize("kwargs,match", [
    (dict(max_value=-1), "max_value"), (dict(negative_slope=-0.1), "negative_slope"),
    (dict(threshold=-1.0), "threshold"), (dict(threshold=None), "threshold"), (dict(max_value="6"), "max_value"),
])
def test_relu_bad_arguments(kwargs, match):
    with pytest.raises(SpecError, match=match):
        ReLU(**kwargs)


# ============================================================================================ Reshape

@pytest.mark.parametrize("target,shape,out", [
    ((6, 4), (3, 2, 3, 4), (3, 6, 4)),
    ((-1,), (3, 2, 3, 4), (3, 24)),
    ((2, -1, 3), (3, 24), (3, 2, 4, 3)),
    ([4, 6], (2, 24), (2, 4, 6)),
    (24, (2, 4, 6), (2, 24)),
], ids=str)
def test_reshape(target, shape, out):
    x = images(shape)
    layer = built(Reshape(target), shape)
    y = layer.forward(x)
    assert y.shape == out and layer.output_shape == (None,) + out[1:]
    assert np.array_equal(y.reshape(-1), x.reshape(-1))
    assert layer.backward(y).shape == shape
    report = check_layer(Reshape(target), x)
    assert report < 1e-6, report.table()


def test_reshape_errors():
    with pytest.raises(ShapeError, match=r"'to_5x5'.*\(4, 6\).*\(5, 5\)"):
        built(Reshape((5, 5), name="to_5x5"), (None, 4, 6))
    with pytest.raises(ShapeError, match="multiple of 5"):
        built(Reshape((5, -1)), (None, 4, 6))
    layer = built(Reshape((-1, 2)), (None, None, 4))
    assert layer.output_shape == (None, None, 2)
    with pytest.raises(ShapeError, match="Reshape"):
        layer.forward(images((2, 3, 3)))                 # 9 values per sample: not a multiple of 2
    for bad in ((-1, -1), (0, 4), (2.5,), (), "4", (True, 2)):
        with pytest.raises(SpecError, match="target_shape"):
            Reshape(bad)


# ============================================================================================ errors and specs

@pytest.mark.parametrize("cls,kwargs,match", [
    (DepthwiseConv2D, dict(kernel_size=0), "kernel_size"),
    (DepthwiseConv2D, dict(kernel_size=(3, 3, 3)), "kernel_size"),
    (DepthwiseConv2D, dict(kernel_size=3, strides=0), "strides"),
    (DepthwiseConv2D, dict(kernel_size=3, padding="full"), "padding"),
    (DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=0), "depth_multiplier"),
    (DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=1.5), "depth_multiplier"),
    (DepthwiseConv2D, dict(kernel_size=3, dilation_rate=(1, 0)), "dilation_rate"),
    (DepthwiseConv2D, dict(kernel_size=3, strides=2, dilation_rate=2), "dilation_rate"),
    (DepthwiseConv2D, dict(kernel_size=3, activation="no_such_activation"), "no_such_activation"),
    (SeparableConv2D, dict(filters=0, kernel_size=3), "filters"),
    (SeparableConv2D, dict(filters=True, kernel_size=3), "filters"),
    (SeparableConv2D, dict(filters=2, kernel_size=3, depth_multiplier=-1), "depth_multiplier"),
    (SeparableConv2D, dict(filters=2, kernel_size=3, strides=(2, 1), dilation_rate=(1, 2)), "dilation_rate"),
])
def test_bad_arguments(cls, kwargs, match):
    with pytest.raises(SpecError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("make", [lambda: DepthwiseConv2D(3, name="dw"), lambda: SeparableConv2D(2, 3, name="dw")],
                         ids=["depthwise", "separable"])
def test_wrong_rank_channels_and_sizes(make):
    with pytest.raises(ShapeError, match=r"'dw'.*4-D NHWC.*\(None, 28, 28\)"):
        built(make(), (None, 28, 28))
    with pytest.raises(ShapeError, match="channels must be known"):
        built(make(), (None, 8, 8, None))
    with pytest.raises(ShapeError, match="smaller than the window"):
        built(make(), (None, 2, 8, 1))
    layer = built(make(), (None, 8, 8, 3))
    with pytest.raises(ShapeError, match=r"'dw'.*built for 3 input channels.*\(2, 8, 8, 1\)"):
        layer.forward(images((2, 8, 8, 1)))
    with pytest.raises(ShapeError, match=r"4-D NHWC.*\(2, 64\)"):
        layer.forward(images((2, 64)))
    anywhere = built(make(), (None, None, None, 3))
    with pytest.raises(ShapeError, match="height of the input"):
        anywhere.forward(images((1, 2, 5, 3)))


@pytest.mark.parametrize("layer", [
    DepthwiseConv2D(3),
    DepthwiseConv2D((3, 5), strides=2, padding="same", depth_multiplier=2, activation="relu6", use_bias=False,
                    depthwise_initializer="he_normal", depthwise_regularizer="l2(lambd=0.01)",
                    depthwise_constraint="max_norm(max_value=2.0)", bias_regularizer="l1(l1=0.5)", name="dw"),
    DepthwiseConv2D(3, dilation_rate=2, activity_regularizer="l2(l2=0.25)", trainable=False, seed=3),
    SeparableConv2D(8, 3),
    SeparableConv2D(4, (1, 3), strides=(2, 1), padding="same", depth_multiplier=3, activation="tanh",
                    pointwise_initializer="lecun_normal", pointwise_regularizer="l2(l2=0.5)",
                    depthwise_regularizer="l1(l1=0.125)", pointwise_constraint="non_neg", bias_initializer="ones"),
    ZeroPadding2D(), ZeroPadding2D(2), ZeroPadding2D((1, 0)), ZeroPadding2D(((0, 1), (2, 3))),
    ReLU(), ReLU(6.0), ReLU(max_value=6.0, negative_slope=0.1, threshold=1.0), ReLU(negative_slope=0.25),
    Reshape((4, -1)), Reshape((3, 2, 1), name="r"),
], ids=str)
def test_spec_round_trip(layer):
    again = nn.layers.get(str(layer))
    assert again == layer and type(again) is type(layer)
    assert nn.layers.get(nn.spec.to_json(layer)) == layer


def test_registry_aliases():
    assert isinstance(nn.layers.get("depthwiseconv2d(3)"), DepthwiseConv2D)
    assert isinstance(nn.layers.get("DepthwiseConv2D(kernel_size=3)"), DepthwiseConv2D)
    assert isinstance(nn.layers.get("separableconv2d(4, 3)"), SeparableConv2D)
    assert isinstance(nn.layers.get("ZeroPadding2D(1)"), ZeroPadding2D)
    relu = nn.layers.get("relu(6.0)")
    assert isinstance(relu, ReLU) and relu.max_value == 6.0
    assert nn.layers.get("reshape((2, -1))").target_shape == (2, -1)
    assert ZeroPadding2D(1) == ZeroPadding2D((1, 1)) == ZeroPadding2D(((1, 1), (1, 1)))
    assert str(ZeroPadding2D()) == "zero_padding2d"


def test_float32_stays_float32():
    x = images((2, 8, 8, 3)).astype(np.float32)
    for layer in (DepthwiseConv2D(3, padding="same", activation="relu"), DepthwiseConv2D(3, strides=2,
                  depth_multiplier=2), SeparableConv2D(4, 3, strides=2, padding="same"), ZeroPadding2D(1),
                  ReLU(6.0), Reshape((-1, 3))):
        built(layer, x.shape, dtype=np.float32)
        y = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(y))
        assert y.dtype == dx.dtype == np.float32, layer
        assert all(g.dtype == np.float32 for g in layer.grads.values()), layer
        assert all(p.dtype == np.float32 for p in layer.params.values()), layer


# ============================================================================================ in a model

def _mobile_block(dtype="float64"):
    return nn.Sequential([
        ZeroPadding2D(((0, 1), (0, 1))),
        Conv2D(6, 3, strides=2, use_bias=False),
        BatchNormalization(),
        ReLU(6.0),
        DepthwiseConv2D(3, padding="same", use_bias=False, depthwise_regularizer="l2(l2=0.5)"),
        ReLU(6.0),
        SeparableConv2D(8, 3, strides=2, padding="same", depth_multiplier=2,
                        pointwise_regularizer="l1(l1=0.125)"),
        ReLU(max_value=6.0, negative_slope=0.1),
        Reshape((-1,)),
        Dense(3),
    ], seed=0, dtype=dtype)


def test_mobilenet_block_model_gradients_and_regularization():
    X = images((4, 8, 8, 2), seed=11) * 2
    y = np.array([0, 2, 1, 2])
    model = _mobile_block()
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    model.build(X.shape)
    assert model.output_shape == (None, 3)
    dw, sep = model.layers[4], model.layers[6]
    # the depthwise and pointwise regularizers are part of the model's penalty
    expected = 0.5 * np.sum(dw.params["W"] ** 2) + 0.125 * np.sum(np.abs(sep.params["pointwise_kernel"]))
    assert model.regularization_loss() == pytest.approx(expected, rel=1e-12)
    report = nn.gradcheck.check_model(model, X, y, training=True)
    assert report < 1e-6, report.table()


def test_mobilenet_block_trains_in_float32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 8, 8, 2)).astype(np.float32)
    y = (X[:, :4, :, 0].mean(axis=(1, 2)) > 0).astype(int) + (X[:, 4:, :, 1].mean(axis=(1, 2)) > 0)
    model = _mobile_block("float32")
    model.compile(optimizer="adam(learning_rate=0.01)", loss="softmax_cross_entropy", metrics=["accuracy"])
    hist = model.fit(X, y, epochs=15, batch_size=16, verbose=0)
    losses = hist.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses
    assert model.predict(X[:5]).dtype == np.float32


@pytest.mark.skipif(not hasattr(nn, "Input"), reason="functional API not available")
def test_in_a_graph_shapes_are_checked_when_the_graph_is_written():
    inp = nn.Input(shape=(8, 8, 3))
    y = ReLU(6.0)(DepthwiseConv2D(3, strides=2, depth_multiplier=2)(ZeroPadding2D(1)(inp)))
    y = SeparableConv2D(6, 3, padding="same")(y)
    assert y.shape == (None, 4, 4, 6)
    model = nn.Model(inputs=inp, outputs=Dense(2)(Reshape((-1,))(y)))
    assert model(np.ones((2, 8, 8, 3), np.float32)).shape == (2, 2)
    with pytest.raises(ShapeError, match=r"'dw'.*4-D NHWC"):
        DepthwiseConv2D(3, name="dw")(nn.Input(shape=(8, 8)))
    with pytest.raises(ShapeError, match=r"'sep'.*smaller than the window"):
        SeparableConv2D(2, 5, name="sep")(nn.Input(shape=(3, 8, 2)))
    with pytest.raises(ShapeError, match=r"'pad'.*4-D NHWC"):
        ZeroPadding2D(name="pad")(nn.Input(shape=(8,)))
    with pytest.raises(ShapeError, match=r"'r'.*\(4, 6\).*\(5, 5\)"):
        Reshape((5, 5), name="r")(nn.Input(shape=(4, 6)))
