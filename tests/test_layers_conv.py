"""Conv2D, MaxPool2D, AveragePooling2D, GlobalAveragePooling2D: gradients, a naive reference, shapes, errors."""

import numpy as np
import pytest

import numpynet as nn
from numpynet.errors import ShapeError, SpecError
from numpynet.gradcheck import check_layer
from numpynet.layers import (
    AveragePooling2D,
    AvgPool2D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    MaxPool2D,
    MaxPooling2D,
)
from numpynet.layers.conv import same_padding


def images(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def built(layer, input_shape, dtype=np.float64, seed=0):
    layer.dtype = dtype
    layer.set_rng(np.random.default_rng(seed))
    layer.build((None,) + tuple(input_shape[1:]))
    return layer


def naive_conv(x, W, b, strides, padding, dilation):
    """Textbook loops over every output pixel, filter, kernel offset and channel (cross-correlation)."""
    n, h, w, c = x.shape
    kh, kw, _, f = W.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + eh - h, 0), max((ow - 1) * sw + ew - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - eh) // sh + 1, (w - ew) // sw + 1
    out = np.zeros((n, oh, ow, f))
    for s in range(n):
        for r in range(oh):
            for q in range(ow):
                for o in range(f):
                    acc = b[o]
                    for i in range(kh):
                        for j in range(kw):
                            for ch in range(c):
                                acc += x[s, r * sh + i * dh, q * sw + j * dw, ch] * W[i, j, ch, o]
                    out[s, r, q, o] = acc
    return out


def naive_pool(x, pool, strides, padding, kind):
    """Loops over windows; "same" windows only see real pixels (TensorFlow's rule for both kinds)."""
    n, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool, strides
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        top = max((oh - 1) * sh + ph - h, 0) // 2
        left = max((ow - 1) * sw + pw - w, 0) // 2
    else:
        oh, ow, top, left = (h - ph) // sh + 1, (w - pw) // sw + 1, 0, 0
    out = np.zeros((n, oh, ow, c))
    for r in range(oh):
        for q in range(ow):
            r0, q0 = r * sh - top, q * sw - left
            win = x[:, max(r0, 0):min(r0 + ph, h), max(q0, 0):min(q0 + pw, w), :]
            out[:, r, q, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


# --------------------------------------------------------------------------------------------- Conv2D gradients

CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding="same"),
    dict(kernel_size=3, strides=2),
    dict(kernel_size=3, strides=2, padding="same"),
    dict(kernel_size=(2, 3), strides=(1, 2), padding="same"),
    dict(kernel_size=3, dilation_rate=2),
    dict(kernel_size=2, dilation_rate=(2, 1), padding="same"),
    dict(kernel_size=3, use_bias=False),
    dict(kernel_size=1),
]


@pytest.mark.parametrize("channels", [1, 3], ids=["c1-offset-major", "c3-pixel-major"])
@pytest.mark.parametrize("kwargs", CONV_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv2d_gradients(kwargs, channels):
    # One input channel and a wide image take the offset-major im2col path, three channels the pixel-major one.
    x = images((2, 7, 9, channels))
    report = check_layer(Conv2D(4, activation="tanh", **kwargs), x)
    assert report < 1e-6, report.table()
    assert set(report.errors) == ({"input", "W", "b"} if kwargs.get("use_bias", True) else {"input", "W"})


def test_conv2d_gradients_with_logits_output():
    layer = Conv2D(3, 2, activation="sigmoid")
    layer.output_logits = True     # the model's fused-loss mode: forward returns z
    x = images((2, 5, 5, 2))
    report = check_layer(layer, x)
    assert report < 1e-6, report.table()
    assert np.allclose(layer.forward(x), layer.z)


# --------------------------------------------------------------------------------------------- Conv2D forward

@pytest.mark.parametrize("shape,kernel,strides,padding,dilation", [
    ((2, 9, 8, 3), 3, 1, "valid", 1),
    ((2, 9, 8, 3), 3, 2, "same", 1),
    ((1, 10, 10, 2), (3, 2), (2, 3), "same", 1),
    ((2, 11, 9, 1), 5, 1, "same", 1),
    ((1, 9, 9, 2), 3, 1, "same", 2),
    ((1, 12, 12, 6), 5, 1, "valid", 1),
    ((3, 6, 7, 1), (1, 4), 1, "valid", 1),
    ((1, 4, 4, 2), 4, 3, "same", 1),
])
def test_conv2d_forward_matches_naive_loops(shape, kernel, strides, padding, dilation):
    x = images(shape, seed=2)
    layer = built(Conv2D(3, kernel, strides=strides, padding=padding, dilation_rate=dilation), shape)
    layer.params["b"][...] = np.random.default_rng(3).standard_normal(3)
    y = layer.forward(x)
    expected = naive_conv(x, layer.params["W"], layer.params["b"], layer.window.strides, padding,
                          layer.window.dilation)
    assert y.shape == expected.shape and layer.output_shape[1:] == y.shape[1:]
    assert np.max(np.abs(y - expected)) < 1e-12


def test_conv2d_output_shape_follows_keras_same_rule():
    layer = built(Conv2D(4, 5, strides=2, padding="same"), (None, 28, 27, 1))
    assert layer.output_shape == (None, 14, 14, 4)
    assert same_padding(28, 5, 2) == (1, 2)      # total (14 − 1)·2 + 5 − 28 = 3: the extra one at the bottom
    assert same_padding(27, 5, 2) == (2, 2)
    assert same_padding(5, 1, 2) == (0, 0)
    valid = built(Conv2D(2, (3, 5), strides=(2, 1), dilation_rate=1), (None, 9, 9, 2))
    assert valid.output_shape == (None, 4, 5, 2)
    assert valid.params["W"].shape == (3, 5, 2, 2) and valid.params["b"].shape == (2,)
    assert list(valid.params) == ["W", "b"]


@pytest.mark.parametrize("limit", [None, 0], ids=["reused", "fresh"])
def test_conv2d_reuses_buffers_across_batch_sizes_and_paddings(limit, monkeypatch):
    """Scratch buffers are reused; a smaller last batch or a new image size must still give exact results.
    With limit 0 every scratch array is too big to keep, and each pass gets fresh ones."""
    if limit is not None:
        monkeypatch.setattr(nn.layers.conv._Buffer, "limit", limit)
    layer = built(Conv2D(2, 3, padding="same"), (None, 6, 6, 3))
    fresh = built(Conv2D(2, 3, padding="same"), (None, 6, 6, 3))
    fresh.set_weights(layer.get_weights())
    for n in (4, 1, 4, 3):
        x = images((n, 6, 6, 3), seed=n)
        dy = images((n, 6, 6, 2), seed=10 + n)
        y1 = layer.forward(x)
        dx1 = layer.backward(dy)
        g1 = layer.grads["W"].copy()
        y2 = fresh.forward(x)
        dx2 = fresh.backward(dy)
        assert np.array_equal(y1, y2) and np.array_equal(dx1, dx2) and np.array_equal(g1, fresh.grads["W"])
        fresh = built(Conv2D(2, 3, padding="same"), (None, 6, 6, 3))
        fresh.set_weights(layer.get_weights())
    # a different image size (the layer is fully convolutional)
    x = images((2, 9, 5, 3))
    expected = naive_conv(x, layer.params["W"], layer.params["b"], (1, 1), "same", (1, 1))
    assert np.max(np.abs(layer.forward(x) - expected)) < 1e-12
    # sizes 6 and 5 with stride 2 pad to the same 7x7 buffer, with the zeros in different places
    strided = built(Conv2D(2, 3, strides=2, padding="same"), (None, None, None, 1))
    for size in (6, 5, 6):
        x = images((1, size, size, 1), seed=size)
        expected = naive_conv(x, strided.params["W"], strided.params["b"], (2, 2), "same", (1, 1))
        assert np.max(np.abs(strided.forward(x) - expected)) < 1e-12


def test_conv2d_first_layer_skips_input_gradient_and_fills_grads_in_place():
    layer = built(Conv2D(3, 3), (None, 6, 6, 2))
    layer.needs_input_grad = False
    gw, gb = layer.grads["W"], layer.grads["b"]
    x = images((2, 6, 6, 2))
    y = layer.forward(x)
    assert layer.backward(np.ones_like(y)) is None
    assert layer.grads["W"] is gw and layer.grads["b"] is gb      # the optimizer may hold these arrays
    assert np.allclose(gb, np.full(3, y[..., 0].size))           # db = Σ dy over batch and pixels
    assert np.abs(gw).sum() > 0


def test_conv2d_keeps_float32():
    layer = built(Conv2D(4, 3, padding="same", activation="relu"), (None, 8, 8, 3), dtype=np.float32)
    x = images((2, 8, 8, 3)).astype(np.float32)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["W"].dtype == np.float32


# --------------------------------------------------------------------------------------------- pooling

POOL_CASES = [
    dict(pool_size=2),
    dict(pool_size=2, padding="same"),
    dict(pool_size=3, strides=1),
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=(2, 3), strides=(1, 2)),
    dict(pool_size=2, strides=3),
]


@pytest.mark.parametrize("cls", [MaxPool2D, AveragePooling2D])
@pytest.mark.parametrize("kwargs", POOL_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_pooling_gradients(cls, kwargs):
    x = images((2, 7, 8, 3))     # continuous values: no ties, so max pooling is differentiable here
    report = check_layer(cls(**kwargs), x)
    assert report < 1e-6, report.table()


@pytest.mark.parametrize("kind,cls", [("max", MaxPool2D), ("avg", AveragePooling2D)])
@pytest.mark.parametrize("kwargs", POOL_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_pooling_forward_matches_naive_loops(kind, cls, kwargs):
    x = images((2, 7, 8, 3), seed=4)
    layer = built(cls(**kwargs), x.shape)
    pool = layer.window.kernel
    expected = naive_pool(x, pool, layer.window.strides, kwargs.get("padding", "valid"), kind)
    y = layer.forward(x)
    assert y.shape == expected.shape == (2,) + layer.output_shape[1:]
    assert np.max(np.abs(y - expected)) < 1e-12


def test_max_pool_gradient_goes_to_the_first_maximum_on_ties():
    x = np.zeros((1, 4, 4, 1))
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 1.0            # window 1: tie at (0, 1) and (1, 0): row-major first is (0, 1)
    x[0, 3, 2, 0] = x[0, 3, 3, 0] = 2.0            # window 4: tie on the bottom row: (3, 2) first
    layer = built(MaxPool2D(2), x.shape)           # windows 2 and 3 are all zeros: their top-left cell wins
    y = layer.forward(x)
    assert np.array_equal(y[0, :, :, 0], [[1.0, 0.0], [0.0, 2.0]])
    dx = layer.backward(np.array([[[[10.0], [20.0]], [[30.0], [40.0]]]]))
    expected = np.zeros((4, 4))
    expected[0, 1], expected[0, 2], expected[2, 0], expected[3, 2] = 10.0, 20.0, 30.0, 40.0
    assert np.array_equal(dx[0, :, :, 0], expected)


def test_overlapping_max_pool_accumulates_gradient():
    x = np.zeros((1, 3, 3, 1))
    x[0, 1, 1, 0] = 5.0                           # the centre is the max of all four 2x2 windows
    layer = built(MaxPool2D(2, strides=1), x.shape)
    dx = layer.backward(np.ones_like(layer.forward(x)))
    assert dx[0, 1, 1, 0] == 4.0 and dx.sum() == 4.0


def test_average_pool_same_padding_counts_only_real_pixels():
    x = np.arange(25.0).reshape(1, 5, 5, 1)
    layer = built(AveragePooling2D(2, padding="same"), x.shape)
    y = layer.forward(x)[0, :, :, 0]
    # bottom-right window holds the single pixel 24; the right column windows hold two pixels each
    assert y[2, 2] == 24.0 and y[0, 2] == (4.0 + 9.0) / 2 and y[0, 0] == (0 + 1 + 5 + 6) / 4
    dx = layer.backward(np.ones((1, 3, 3, 1)))
    assert dx[0, 4, 4, 0] == 1.0 and dx[0, 0, 0, 0] == 0.25 and dx[0, 0, 4, 0] == 0.5
    assert dx.sum() == pytest.approx(9.0)        # each window hands on exactly its dy


def test_max_pool_same_padding_never_picks_padding():
    x = -np.ones((1, 3, 3, 1)) - np.arange(9.0).reshape(1, 3, 3, 1)   # all negative: zero padding would win
    layer = built(MaxPool2D(2, padding="same"), x.shape)
    assert np.array_equal(layer.forward(x)[0, :, :, 0], [[-1.0, -3.0], [-7.0, -9.0]])


def test_pool_strides_default_to_pool_size_and_aliases():
    assert MaxPooling2D is MaxPool2D and AvgPool2D is AveragePooling2D
    layer = built(MaxPool2D(3), (None, 10, 10, 2))
    assert layer.window.strides == (3, 3) and layer.output_shape == (None, 3, 3, 2)
    assert isinstance(nn.layers.get("maxpooling2d(2)"), MaxPool2D)
    assert isinstance(nn.layers.get("avg_pool2d(pool_size=3)"), AveragePooling2D)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling(keepdims):
    x = images((3, 4, 5, 2))
    layer = GlobalAveragePooling2D(keepdims=keepdims)
    report = check_layer(layer, x)
    assert report < 1e-6, report.table()
    y = layer.forward(x)
    expected = x.mean(axis=(1, 2), keepdims=keepdims)
    assert y.shape == expected.shape == (3,) + layer.output_shape[1:] and np.allclose(y, expected)


# --------------------------------------------------------------------------------------------- errors and specs

def test_kernel_larger_than_input_with_valid_padding():
    with pytest.raises(ShapeError, match="smaller than the window"):
        built(Conv2D(2, 5), (None, 4, 8, 1))
    with pytest.raises(ShapeError, match="smaller than the window"):
        built(Conv2D(2, 3, dilation_rate=3), (None, 6, 8, 1))       # effective kernel 7
    with pytest.raises(ShapeError, match="smaller than the window"):
        built(MaxPool2D(3), (None, 2, 2, 1))
    same = built(Conv2D(2, 5, padding="same"), (None, 4, 4, 1))     # fine with "same"
    assert same.forward(images((1, 4, 4, 1))).shape == (1, 4, 4, 2)
    layer = built(Conv2D(2, 3), (None, None, None, 1))
    with pytest.raises(ShapeError, match="height of the input"):
        layer.forward(images((1, 2, 5, 1)))


def test_wrong_rank_and_channels():
    with pytest.raises(ShapeError, match="4-D NHWC"):
        built(Conv2D(2, 3), (None, 28, 28))
    with pytest.raises(ShapeError, match="4-D NHWC"):
        built(MaxPool2D(), (None, 10))
    layer = built(Conv2D(2, 3), (None, 8, 8, 3))
    with pytest.raises(ShapeError, match="built for 3 input channels"):
        layer.forward(images((2, 8, 8, 1)))
    with pytest.raises(ShapeError, match="4-D NHWC"):
        layer.forward(images((2, 64)))
    pool = built(AveragePooling2D(), (None, 8, 8, 3))
    with pytest.raises(ShapeError, match="channels"):
        pool.forward(images((2, 8, 8, 4)))


@pytest.mark.parametrize("kwargs,match", [
    (dict(filters=0, kernel_size=3), "filters"),
    (dict(filters=2.5, kernel_size=3), "filters"),
    (dict(filters=2, kernel_size=0), "kernel_size"),
    (dict(filters=2, kernel_size=(3, 3, 3)), "kernel_size"),
    (dict(filters=2, kernel_size=3, strides=0), "strides"),
    (dict(filters=2, kernel_size=3, padding="full"), "padding"),
    (dict(filters=2, kernel_size=3, strides=2, dilation_rate=2), "dilation_rate"),
    (dict(filters=2, kernel_size=3, activation="no_such_activation"), "no_such_activation"),
])
def test_conv2d_bad_arguments(kwargs, match):
    with pytest.raises(SpecError, match=match):
        Conv2D(**kwargs)


def test_pool_bad_arguments():
    with pytest.raises(SpecError, match="pool_size"):
        MaxPool2D(pool_size=-1)
    with pytest.raises(SpecError, match="padding"):
        AveragePooling2D(padding="causal")
    with pytest.raises(SpecError, match="strides"):
        MaxPool2D(strides=(1, 2, 3))


@pytest.mark.parametrize("layer", [
    Conv2D(6, 5, padding="same", activation="relu"),
    Conv2D(4, (3, 5), strides=(2, 1), use_bias=False, kernel_regularizer="l2(lambd=0.01)",
           kernel_initializer="he_normal", kernel_constraint="max_norm(max_value=2.0)"),
    Conv2D(2, 3, dilation_rate=2, name="dilated"),
    MaxPool2D(), MaxPool2D(3, strides=2, padding="same"), AveragePooling2D((2, 3)),
    GlobalAveragePooling2D(), GlobalAveragePooling2D(keepdims=True),
], ids=str)
def test_spec_round_trip(layer):
    again = nn.layers.get(str(layer))
    assert again == layer and type(again) is type(layer)
    assert nn.layers.get(nn.spec.to_json(layer)) == layer


# --------------------------------------------------------------------------------------------- in a model

def test_small_cnn_trains_through_fit():
    (X, y), _ = nn.datasets.load_digits(flatten=False, n_train=400)
    model = nn.Sequential([Conv2D(8, 3, padding="same", activation="relu"), MaxPool2D(2),
                           Conv2D(8, 3, activation="relu"), Flatten(), Dense(10)], seed=0)
    model.compile(optimizer="sgd(lr=0.1, momentum=0.9)", loss="softmax_cross_entropy", metrics=["accuracy"])
    hist = model.fit(X, y, epochs=4, batch_size=32, verbose=0)
    losses = hist.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert hist.history["accuracy"][-1] > 0.5          # chance is 0.1
    assert model.predict(X[:5]).shape == (5, 10)


def test_cnn_model_gradient_check_with_regularized_kernels():
    X = images((3, 6, 6, 2), seed=5)
    y = np.array([0, 2, 1])
    model = nn.Sequential([Conv2D(3, 3, padding="same", activation="tanh", kernel_regularizer="l2(lambd=0.1)"),
                           AveragePooling2D(2), Conv2D(2, 2, strides=1, activation="sigmoid"), MaxPool2D(2),
                           Flatten(), Dense(3, kernel_regularizer="l1(l1=0.01)")], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    report = nn.gradcheck.check_model(model, X, y)
    assert report < 1e-6, report.table()
    assert len(report.errors) == 6


# --------------------------------------------------------------------------------------------- fast paths vs plain

def naive_conv_input_grad(x_shape, W, dz, strides, padding, dilation):
    """dL/dx of the convolution by the plain col2im loops: each output pixel adds W·dz to the window it read."""
    n, h, w, c = x_shape
    kh, kw, _, f = W.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    top = left = 0
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + eh - h, 0), max((ow - 1) * sw + ew - w, 0)
        top, left, hp, wp = ph // 2, pw // 2, h + ph, w + pw
    else:
        oh, ow, hp, wp = (h - eh) // sh + 1, (w - ew) // sw + 1, h, w
    dxp = np.zeros((n, hp, wp, c))
    for r in range(oh):
        for q in range(ow):
            for i in range(kh):
                for j in range(kw):
                    dxp[:, r * sh + i * dh, q * sw + j * dw, :] += dz[:, r, q, :] @ W[i, j].T
    return dxp[:, top:top + h, left:left + w, :]


def naive_max_pool_input_grad(x, dy, pool, strides):
    """dL/dx of "valid" max pooling by loops: each window's dy goes to its first maximum (row-major order)."""
    (ph, pw), (sh, sw) = pool, strides
    dx = np.zeros_like(x)
    for s in range(x.shape[0]):
        for r in range(dy.shape[1]):
            for q in range(dy.shape[2]):
                for ch in range(x.shape[3]):
                    win = x[s, r * sh:r * sh + ph, q * sw:q * sw + pw, ch]
                    i, j = np.unravel_index(np.argmax(win), win.shape)     # argmax: the first maximum
                    dx[s, r * sh + i, q * sw + j, ch] += dy[s, r, q, ch]
    return dx


def channels_outer(a):
    """The same NHWC values laid out channel by channel in memory (what Conv2D's offset-major product writes)."""
    return np.ascontiguousarray(a.transpose(3, 0, 1, 2)).transpose(1, 2, 3, 0)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=5, padding="same"), dict(kernel_size=3),
                                    dict(kernel_size=(2, 3), dilation_rate=(2, 1), padding="same"),
                                    dict(kernel_size=3, strides=2, padding="same")],
                         ids=["5x5-same", "3x3-valid", "dilated-same", "strided"])
@pytest.mark.parametrize("channels", [1, 3])
def test_conv2d_input_gradient_matches_plain_col2im(kwargs, channels):
    # Stride 1 runs _col2im_rows (a product over kernel columns, then one add per kernel row), stride 2 _col2im;
    # the reference is the plain scatter-add of W·dz over every window. Both layouts of dz are tried.
    x = images((2, 9, 8, channels), seed=7)
    layer = built(Conv2D(4, **kwargs), x.shape)
    z = layer.forward(x, training=True)
    dz = images(z.shape, seed=8)
    expected = naive_conv_input_grad(x.shape, layer.params["W"], dz, layer.window.strides, layer.padding,
                                     layer.window.dilation)
    for dz_layout in (dz, channels_outer(dz)):
        layer.forward(x, training=True)
        assert np.max(np.abs(layer.backward(dz_layout) - expected)) < 1e-12


def test_conv2d_channels_outer_output_and_input_give_the_same_numbers():
    # A one-channel first layer takes the offset-major product, whose z and y are channels-outer views; the next
    # layers read that layout and the results equal those of C-ordered arrays.
    x = images((3, 12, 12, 1), seed=2)
    first = built(Conv2D(4, 5, padding="same", activation="relu"), x.shape)
    y = first.forward(x, training=True)
    assert y.transpose(3, 0, 1, 2).flags.c_contiguous and not y.flags.c_contiguous
    expected = naive_conv(x, first.params["W"], first.params["b"], (1, 1), "same", (1, 1))
    assert np.max(np.abs(y - np.maximum(expected, 0))) < 1e-12
    for cls in (MaxPool2D, AveragePooling2D):
        layer = built(cls(2), y.shape)
        out_a, out_b = layer.forward(y, training=True), None
        dy = images(out_a.shape, seed=3)
        dx_a = layer.backward(channels_outer(dy)).copy()
        out_b = layer.forward(np.ascontiguousarray(y), training=True)
        dx_b = layer.backward(dy)
        assert out_a.flags.c_contiguous and np.array_equal(out_a, out_b) and np.array_equal(dx_a, dx_b)


@pytest.mark.parametrize("shape,pool,strides", [((2, 8, 8, 3), 2, None), ((2, 7, 9, 2), 2, None),
                                                ((1, 6, 6, 2), 3, 2), ((2, 6, 8, 1), (2, 3), (2, 1))])
@pytest.mark.parametrize("training", [True, False])
def test_max_pool_input_gradient_matches_plain_loops_with_ties(shape, pool, strides, training):
    # Rounded ReLU-like values: many ties (all-zero windows, repeated maxima). training=True takes the path that
    # gathers each kernel offset into a contiguous block; training=False (compute_gradients) the strided views.
    x = np.maximum(np.round(images(shape, seed=9)), 0)
    layer = built(MaxPool2D(pool, strides=strides), x.shape)
    y = layer.forward(channels_outer(x), training=training)
    dy = images(y.shape, seed=10)
    expected = naive_max_pool_input_grad(x, dy, layer.window.kernel, layer.window.strides)
    assert np.max(np.abs(layer.backward(dy) - expected)) < 1e-12    # overlapping windows: sums in another order
