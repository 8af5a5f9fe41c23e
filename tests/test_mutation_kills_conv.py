"""numpynet/core/layers/{conv,depthwise,pooling,windows,core}.py behaviour that the mutation run (issue 13) found
untested: every argument error names its layer and argument, shape errors name the layer, the kind and the
offending size, get_config writes the compact attribute forms back, output shapes keep the batch axis (None too),
the 1×1 fast path of Conv2D is taken only for 1×1 stride-1 kernels, non-elementwise activations (softmax over the
channels) on every Conv2D path, "same" padding on one side only and per-axis strides, regularizers, constraints and
seeds reaching every weight, float32 kept and mixed dtypes promoted, frozen layers, scratch buffers reused between
passes, results that never depend on uninitialized memory (np.empty poisoned with NaN), and Activation/Dense/Flatten.
Gradient checks assert every entry of the report: GradReport's worst value (``max`` over the entries) skips a NaN
entry that is not the first one, so ``report < 1e-6`` alone passes a layer whose kernel gradient is all NaN.

Every expected value comes from plain float64 loops written below (cross-correlation, pooling over the windows
Keras/TensorFlow define for "valid" and "same") or from central differences (numpynet.gradcheck.check_layer),
never from the code's own output.

Survivors judged equivalent (mutant names as in the run, ``x…__mutmut_N`` / ``xǁClassǁmethod__mutmut_N``; module
prefix numpynet.core.layers.): no test can tell them apart from the original.
  * ``output_logits = None`` for ``False`` (only ever truth-tested): core Activation.__init__ 13, Dense.__init__ 56,
    conv Conv2D.__init__ 118, depthwise _DepthwiseBase._setup_window 78.
  * ``training=True`` as a forward default: nothing here reads it except MaxPool2D, where it only picks the
    contiguous-copy path over the strided views (same maxima): core Activation.forward 1, Flatten.forward 1,
    Dense.forward 1, conv Conv2D.forward 1, pooling MaxPool2D.forward 1, AveragePooling2D.forward 1,
    GlobalAveragePooling2D.forward 1, depthwise DepthwiseConv2D.forward 1, SeparableConv2D.forward 1.
  * ``padding="VALID"`` as a default: the argument is lower-cased (conv Conv2D.__init__ 3, pooling _Pool2D.__init__ 3,
    depthwise DepthwiseConv2D.__init__ 3, SeparableConv2D.__init__ 3); the inner stride-1 window of
    depthwise_input_grad is only used for its row_view, which never reads the padding (depthwise_input_grad 110
    117 118).
  * ``reshape(-2, …)`` for ``reshape(-1, …)``, the same in NumPy 2, and ``reshape(None)``, a no-op: core
    Flatten.forward 9, Dense.backward 16 25, conv Conv2D.forward 34, _dz 13 26, _pointwise_backward 7 25,
    _col2im 16, depthwise DepthwiseConv2D.backward 16, SeparableConv2D.forward 19.
  * upper-case einsum subscripts, the same contraction: depthwise depthwise_forward 24 37, depthwise_kernel_grad 10,
    depthwise_input_grad 128.
  * ``reshape(-2, …)`` and ``reshape(None)`` in SeparableConv2D.backward 16 24 31 (the (C·M, F) product assigned
    into the (1, 1, C·M, F) gradient broadcasts to the same values).
  * ``copy=`` None / True / default on ``astype`` of a kernel nothing writes to: depthwise _DepthwiseBase._depthwise
    52 54 55, _depthwise_backward 24 26 27, SeparableConv2D.forward 21 23 28, backward 44 46 47.
  * memory layout only (C-ordered vs channels-outer; every consumer handles both, values identical):
    windows _channels_outer 1 2 3, _like 6 8; conv _offset_major 3-7 9-14 (which im2col layout is faster);
    pooling MaxPool2D.forward 16 18 66 69, AveragePooling2D.forward 14 16, _Pool2D._scatter 69 73 (copy order).
  * scratch buffers: reused or fresh, or kept under another (still distinct) name — only speed changes:
    windows pad_border 15, _scratch 1 2; conv Conv2D.__init__ 120, _padded 3 6, _col2im_rows 21 24 25 59 62 63;
    pooling MaxPool2D.forward 35 38 39 51 54 55, _Pool2D._scatter 6 7 13 15 17 39; core Dense._scaled_buffer 1-6,
    depthwise _DepthwiseBase._setup_window 80 81 82, _depthwise 27 30, _depthwise_backward 22,
    depthwise_input_grad 41 44 47 (dU padded into a fresh array, or into the phases' buffer: never the same shape)
    59 64 (phases in a fresh array, or in the buffer also for stride 1); core Dense._ones_like_batch 1 2 7 8
    (the ones vector rebuilt every time) and 15 (ones are exact in any dtype),
    Dense.backward 45 48 (a fresh s·dz array).
  * core Dense.backward 73: ``db_from`` is never read in that branch (it is the no-bias one).
  * a float64 scratch that only holds values of the input's dtype exactly, cast back before it is returned:
    windows _like 19 21 27 29, conv _col2im_rows 17, pooling _inverse_counts 18 20, depthwise
    depthwise_input_grad 68 (strided phases, copied into a dx of dU's dtype).
  * depthwise: depthwise_input_grad 45 46 (more zeros after dU than any window reads), 51 (stride 1 also through
    the general phase-and-interleave path, exact), 83 (a phase with kernel rows but no kernel columns is computed
    by an einsum over an empty axis, i.e. zeros, instead of being zeroed), _DepthwiseBase._depthwise 38
    (``result_type(kernel.dtype)``: einsum promotes a float64 input with a float32 kernel anyway).
  * ``writeable=None`` for ``writeable=False`` in as_strided (falsy: read-only either way): windows _Window.view 18,
    _Window.row_view 34.
  * windows _compact 3: ``pair[1]`` where ``pair[0] == pair[1]``.
  * conv Conv2D.forward 79: im2col columns in the input's own dtype (float32 values copied exactly); the product
    with a float64 kernel still promotes to float64.
  * windows _Window.pads 5 7: "valid" padding with an extra bottom row / right column that no window reads.
  * conv _col2im_rows 8 (a wider zero margin than the last shift needs), 41 42 (junk in the tail of the widened
    rows, which only reaches columns that are cropped, as the method's docstring says).
  * pooling _Pool2D._scatter 29 32 (``oh / sh == H`` is false whenever ``oh * sh == H`` with s > 1: only extra
    zeroing), 50 51 60 61 (``write`` ignores its rows/cols arguments).
Rounding only (float64 where the original computes in float32, last-ulp differences): pooling _inverse_counts 35,
core Dense._ones_like_batch 18 20, Dense._scaled_buffer 8 (a float64 s·dz for float32 layers),
Dense.backward 40 41 (which of s·(xᵀ·dz) = xᵀ·(s·dz) = (s·x)ᵀ·dz is used).
"""

import re

import numpy as np
import pytest
from test_layers_conv import built, images  # the same data and build helpers as the conv layers' own tests

import numpynet as nn
from numpynet.errors import ShapeError, SpecError
from numpynet.gradcheck import check_layer
from numpynet.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Flatten,
    GlobalAveragePooling2D,
    MaxPool2D,
    SeparableConv2D,
)

TIGHT = 1e-12


def randomize(layer, seed=5):
    """Non-trivial weights (a zero bias hides bias bugs)."""
    g = np.random.default_rng(seed)
    for value in layer.params.values():
        value[...] = g.standard_normal(value.shape)
    return layer


# ------------------------------------------------------------------------------------------ textbook references

def keras_geometry(n, k, stride, dilation, padding):
    """(output length, pad before) for one axis, as Keras/TensorFlow define "valid" and "same"."""
    k_eff = (k - 1) * dilation + 1
    if padding == "valid":
        return (n - k_eff) // stride + 1, 0
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return out, total // 2


def window_taps(x_hw, kernel, strides, padding, dilation):
    """``(oh, ow, taps)``: the output size and every ``(r, q, i, j, row, col)`` where kernel offset (i, j) of output
    pixel (r, q)'s window reads input pixel (row, col) = (r·sh + i·dh − top, q·sw + j·dw − left); padding pixels
    (outside the input) are left out."""
    (h, w), (kh, kw) = x_hw, kernel
    oh, top = keras_geometry(h, kh, strides[0], dilation[0], padding)
    ow, left = keras_geometry(w, kw, strides[1], dilation[1], padding)
    taps = [(r, q, i, j, row, col)
            for r in range(oh) for q in range(ow) for i in range(kh) for j in range(kw)
            for row, col in [(r * strides[0] + i * dilation[0] - top, q * strides[1] + j * dilation[1] - left)]
            if 0 <= row < h and 0 <= col < w]
    return oh, ow, taps


def ref_conv(x, W, b, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """z[n, r, q, o] = b[o] + Σ_{i, j, c} x[n, r·sh + i·dh − top, q·sw + j·dw − left, c]·W[i, j, c, o] (0 outside)."""
    oh, ow, taps = window_taps(x.shape[1:3], W.shape[:2], strides, padding, dilation)
    out = np.zeros((x.shape[0], oh, ow, W.shape[3]))
    for r, q, i, j, row, col in taps:
        out[:, r, q, :] += x[:, row, col, :] @ W[i, j]
    return out if b is None else out + b


def ref_conv_input_grad(x_shape, W, dz, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """dL/dx of ref_conv: every output pixel adds W·dz to the input pixels its window read."""
    _, _, taps = window_taps(x_shape[1:3], W.shape[:2], strides, padding, dilation)
    dx = np.zeros(x_shape)
    for r, q, i, j, row, col in taps:
        dx[:, row, col, :] += dz[:, r, q, :] @ W[i, j].T
    return dx


def ref_depthwise(x, W, b, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """u[n, r, q, c·M + m] = b[c·M + m] + Σ_{i, j} x[n, r·sh + i·dh − top, q·sw + j·dw − left, c]·W[i, j, c, m]."""
    n, _, _, c = x.shape
    m = W.shape[3]
    oh, ow, taps = window_taps(x.shape[1:3], W.shape[:2], strides, padding, dilation)
    out = np.zeros((n, oh, ow, c, m))
    for r, q, i, j, row, col in taps:
        out[:, r, q] += x[:, row, col, :, None] * W[i, j]
    out = out.reshape(n, oh, ow, c * m)
    return out if b is None else out + b


def ref_depthwise_input_grad(x_shape, W, du, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """dL/dx of ref_depthwise: every output pixel hands du·W back to the input pixels its window read."""
    n, _, _, c = x_shape
    _, oh, ow, _ = du.shape
    _, _, taps = window_taps(x_shape[1:3], W.shape[:2], strides, padding, dilation)
    du = du.reshape(n, oh, ow, c, W.shape[3])
    dx = np.zeros(x_shape)
    for r, q, i, j, row, col in taps:
        dx[:, row, col, :] += (du[:, r, q] * W[i, j]).sum(axis=-1)
    return dx


def ref_pool(x, pool, strides, padding, kind):
    """Pooling over the real pixels of each window (TensorFlow's rule for "same" for both kinds)."""
    n, h, w, c = x.shape
    oh, top = keras_geometry(h, pool[0], strides[0], 1, padding)
    ow, left = keras_geometry(w, pool[1], strides[1], 1, padding)
    out = np.zeros((n, oh, ow, c))
    for r in range(oh):
        for q in range(ow):
            r0, q0 = r * strides[0] - top, q * strides[1] - left
            win = x[:, max(r0, 0):min(r0 + pool[0], h), max(q0, 0):min(q0 + pool[1], w), :]
            out[:, r, q, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


def ref_pool_input_grad(x, dy, pool, strides, padding, kind):
    """dL/dx by loops: max pooling hands dy to the first maximum of the window (row-major), average pooling
    shares it equally among the window's real pixels; overlapping windows add up."""
    n, h, w, c = x.shape
    _, oh, ow, _ = dy.shape
    top = keras_geometry(h, pool[0], strides[0], 1, padding)[1]
    left = keras_geometry(w, pool[1], strides[1], 1, padding)[1]
    dx = np.zeros_like(x, dtype=np.float64)
    for s in range(n):
        for r in range(oh):
            for q in range(ow):
                r0, q0 = r * strides[0] - top, q * strides[1] - left
                r1, q1 = min(r0 + pool[0], h), min(q0 + pool[1], w)
                r0, q0 = max(r0, 0), max(q0, 0)
                for ch in range(c):
                    win = x[s, r0:r1, q0:q1, ch]
                    if kind == "max":
                        i, j = np.unravel_index(np.argmax(win), win.shape)
                        dx[s, r0 + i, q0 + j, ch] += dy[s, r, q, ch]
                    else:
                        dx[s, r0:r1, q0:q1, ch] += dy[s, r, q, ch] / win.size
    return dx


def ref_softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def assert_gradients_ok(report, tol=1e-6):
    """Every entry of a gradcheck report finite and small (the report's own worst value skips NaN entries that do
    not come first, so a NaN gradient could hide behind it)."""
    assert all(np.isfinite(v) and v < tol for v in report.errors.values()), report.table()


def raises_exactly(exc, message):
    """pytest.raises for a message that starts with ``message`` (owner and argument names included)."""
    return pytest.raises(exc, match="^" + re.escape(message))


# ------------------------------------------------------------------------------------------ arguments (windows.py)

PAIR_ARGS = [
    (lambda v: Conv2D(2, v), "Conv2D", "kernel_size"),
    (lambda v: Conv2D(2, 3, strides=v), "Conv2D", "strides"),
    (lambda v: Conv2D(2, 3, dilation_rate=v), "Conv2D", "dilation_rate"),
    (lambda v: DepthwiseConv2D(v), "DepthwiseConv2D", "kernel_size"),
    (lambda v: DepthwiseConv2D(3, strides=v), "DepthwiseConv2D", "strides"),
    (lambda v: SeparableConv2D(2, 3, dilation_rate=v), "SeparableConv2D", "dilation_rate"),
    (lambda v: MaxPool2D(v), "MaxPool2D", "pool_size"),
    (lambda v: MaxPool2D(2, strides=v), "MaxPool2D", "strides"),
    (lambda v: AveragePooling2D(v), "AveragePooling2D", "pool_size"),
    (lambda v: AveragePooling2D(2, strides=v), "AveragePooling2D", "strides"),
]


@pytest.mark.parametrize("make,owner,arg", PAIR_ARGS, ids=[f"{o}-{a}" for _, o, a in PAIR_ARGS])
def test_window_arguments_name_layer_and_argument(make, owner, arg):
    bads = [True, 2.0, "2", (2,), (2, 2, 2), [2, True], (2, 2.0), (np.float64(2), 2)]
    if not (arg == "strides" and "Pool" in owner):
        bads.append(None)                                 # (a pooling layer's strides=None follow the pool size)
    for bad in bads:
        with raises_exactly(SpecError, f"{owner}: argument '{arg}' must be an integer or a pair of integers, "
                                       f"got {bad!r}"):
            make(bad)
    for bad, shown in ((0, (0, 0)), (-3, (-3, -3)), ((1, 0), (1, 0)), ((0, 1), (0, 1)), ([2, -1], (2, -1))):
        with raises_exactly(SpecError, f"{owner}: argument '{arg}' must be >= 1, got {shown!r}"):
            make(bad)


def test_window_arguments_accept_numpy_integers_lists_and_give_plain_int_pairs():
    layer = Conv2D(2, [np.int64(2), 3], strides=np.int32(1), dilation_rate=[1, np.int16(2)])
    assert layer.window.kernel == (2, 3) and layer.window.strides == (1, 1) and layer.window.dilation == (1, 2)
    assert all(type(v) is int for v in layer.window.kernel + layer.window.strides + layer.window.dilation)
    assert layer.window.k_eff == (2, 5)        # (k − 1)·d + 1 per axis
    pool = MaxPool2D([3, 2], strides=(1, 2))
    assert pool.window.kernel == (3, 2) and pool.window.strides == (1, 2) and pool.window.dilation == (1, 1)


def test_config_writes_square_pairs_as_one_number_and_keeps_the_rest():
    cfg = Conv2D(2, (3, 3), strides=[2, 2], padding="SAME", dilation_rate=(1, 1)).get_config()
    assert (cfg["kernel_size"], cfg["strides"], cfg["dilation_rate"], cfg["padding"]) == (3, 2, 1, "same")
    cfg = Conv2D(2, (3, 5), strides=(1, 2)).get_config()
    assert cfg["kernel_size"] == (3, 5) and cfg["strides"] == (1, 2)
    cfg = DepthwiseConv2D((2, 2), strides=(1, 3), dilation_rate=1, depth_multiplier=2).get_config()
    assert (cfg["kernel_size"], cfg["strides"], cfg["dilation_rate"], cfg["depth_multiplier"]) == (2, (1, 3), 1, 2)
    pool = MaxPool2D((2, 2))
    assert pool.get_config()["pool_size"] == 2 and pool.get_config()["strides"] is None   # strides follow the pool
    assert pool.window.strides == (2, 2)
    pool = AveragePooling2D((2, 3), strides=(3, 3), padding="Same")
    cfg = pool.get_config()
    assert cfg["pool_size"] == (2, 3) and cfg["strides"] == 3 and cfg["padding"] == "same"
    assert pool.window.strides == (3, 3) and pool.window.kernel == (2, 3)
    for layer in (Conv2D(3, (1, 4), strides=(2, 1), padding="same", name="c"), MaxPool2D((3, 1), strides=(1, 2)),
                  DepthwiseConv2D(3, dilation_rate=(2, 1)), SeparableConv2D(4, (2, 3), depth_multiplier=3)):
        again = nn.layers.get(str(layer))
        assert again == layer and again.window.kernel == layer.window.kernel
        assert again.window.strides == layer.window.strides and again.window.dilation == layer.window.dilation


@pytest.mark.parametrize("make,owner", [(lambda p: Conv2D(2, 3, padding=p), "Conv2D"),
                                        (lambda p: DepthwiseConv2D(3, padding=p), "DepthwiseConv2D"),
                                        (lambda p: SeparableConv2D(2, 3, padding=p), "SeparableConv2D"),
                                        (lambda p: MaxPool2D(padding=p), "MaxPool2D"),
                                        (lambda p: AveragePooling2D(padding=p), "AveragePooling2D")])
def test_padding_argument(make, owner):
    for bad in (1, None, ("same",)):
        with raises_exactly(SpecError, f"{owner}: argument 'padding' must be one of ['valid', 'same'], got {bad!r}"):
            make(bad)
    with raises_exactly(SpecError, f"{owner}: argument 'padding' must be one of ['valid', 'same'], got 'full'"):
        make("full")
    assert make("SAME").padding == "same" and make("Valid").padding == "valid"
    assert make("SAME").window.padding == "same"


def test_strides_and_dilation_together_are_refused_as_keras_does():
    for make, owner in ((lambda s, d: Conv2D(2, 3, strides=s, dilation_rate=d), "Conv2D"),
                        (lambda s, d: DepthwiseConv2D(3, strides=s, dilation_rate=d), "DepthwiseConv2D"),
                        (lambda s, d: SeparableConv2D(2, 3, strides=s, dilation_rate=d), "SeparableConv2D")):
        for s, d in (((1, 2), 2), (2, (2, 1)), ((2, 1), (1, 2))):
            with raises_exactly(SpecError, f"{owner}: strides > 1 cannot be combined with dilation_rate > 1 (as in "
                                           f"Keras); got strides={s!r}, dilation_rate={d!r}"):
                make(s, d)
        for s, d in ((1, 2), (2, 1), (1, 1), ((1, 1), (3, 2)), ((2, 3), (1, 1))):
            layer = make(s, d)
            assert layer.window.strides == ((s, s) if isinstance(s, int) else s)


def test_positive_integer_arguments():
    for bad in (0, -1, 2.0, True, "3", None):
        with raises_exactly(SpecError, f"Conv2D: argument 'filters' must be a positive integer, got {bad!r}"):
            Conv2D(bad, 3)
        with raises_exactly(SpecError, f"SeparableConv2D: argument 'filters' must be a positive integer, "
                                       f"got {bad!r}"):
            SeparableConv2D(bad, 3)
        with raises_exactly(SpecError, f"DepthwiseConv2D: argument 'depth_multiplier' must be a positive integer, "
                                       f"got {bad!r}"):
            DepthwiseConv2D(3, depth_multiplier=bad)
        with raises_exactly(SpecError, f"SeparableConv2D: argument 'depth_multiplier' must be a positive integer, "
                                       f"got {bad!r}"):
            SeparableConv2D(2, 3, depth_multiplier=bad)
    for one in (1, np.int64(1)):
        assert Conv2D(one, 1).filters == 1 and type(Conv2D(one, 1).filters) is int
        assert SeparableConv2D(one, 1).filters == 1 and type(SeparableConv2D(one, 1).filters) is int
        assert DepthwiseConv2D(1, depth_multiplier=one).depth_multiplier == 1
        assert type(DepthwiseConv2D(1, depth_multiplier=one).depth_multiplier) is int


@pytest.mark.parametrize("make,owner", [(lambda **k: Conv2D(2, 3, **k), "Conv2D"),
                                        (lambda **k: DepthwiseConv2D(3, **k), "DepthwiseConv2D"),
                                        (lambda **k: SeparableConv2D(2, 3, **k), "SeparableConv2D"),
                                        (lambda **k: Dense(2, **k), "Dense")])
def test_activation_and_use_bias_errors_name_the_layer(make, owner):
    with raises_exactly(SpecError, f"{owner}: argument 'activation': unknown activation 'nope'"):
        make(activation="nope")
    with raises_exactly(SpecError, f"{owner}: argument 'use_bias' must be True or False, got 1 (int)"):
        make(use_bias=1)
    assert make(use_bias=np.bool_(False)).use_bias is False
    assert str(make(activation="tanh").activation) == "tanh"


def test_other_layer_arguments_name_the_layer():
    with raises_exactly(SpecError, "Activation: argument 'activation': unknown activation 'nope'"):
        Activation("nope")
    with raises_exactly(SpecError, "GlobalAveragePooling2D: argument 'keepdims' must be True or False, got 1 (int)"):
        GlobalAveragePooling2D(keepdims=1)
    with raises_exactly(SpecError, "Dense: argument 'units' must be an integer >= 1, got 0"):
        Dense(0)
    for make in (lambda: GlobalAveragePooling2D(name="g"), lambda: MaxPool2D(name="g"), lambda: Flatten(name="g"),
                 lambda: Activation("relu", name="g"), lambda: AveragePooling2D(name="g"),
                 lambda: Conv2D(1, 1, name="g"), lambda: DepthwiseConv2D(1, name="g"), lambda: Dense(1, name="g")):
        assert make().name == "g" and make().get_config()["name"] == "g"


# ------------------------------------------------------------------------------------------ shapes and their errors

WINDOWED = [(lambda **k: Conv2D(2, 3, name="c", **k), "Conv2D"),
            (lambda **k: DepthwiseConv2D(3, name="c", **k), "DepthwiseConv2D"),
            (lambda **k: SeparableConv2D(2, 3, name="c", **k), "SeparableConv2D"),
            (lambda **k: MaxPool2D(3, name="c", **k), "MaxPool2D"),
            (lambda **k: AveragePooling2D(3, name="c", **k), "AveragePooling2D")]


@pytest.mark.parametrize("make,kind", WINDOWED, ids=[k for _, k in WINDOWED])
def test_build_shape_errors_name_layer_kind_and_size(make, kind):
    with raises_exactly(ShapeError, f"layer 'c' ({kind}) needs 4-D NHWC input (batch, height, width, channels), "
                                    f"got input shape (None, 8)"):
        make().build((None, 8))
    with raises_exactly(ShapeError, f"layer 'c' ({kind}) needs 4-D NHWC input (batch, height, width, channels), "
                                    f"got input shape (None, 8, 8, 1, 1)"):
        make().build([None, 8, 8, 1, 1])
    for shape, axis, n in (((None, 2, 8, 1), "height", 2), ((None, 8, 2, 1), "width", 2),
                           ((None, None, 1, 1), "width", 1), ((None, 1, None, 1), "height", 1)):
        with raises_exactly(ShapeError, f"layer 'c' ({kind}): the {axis} of the input ({n}) is smaller than the window "
                                        f"(3, dilation included) with padding='valid'; use padding='same' or a smaller "
                                        f"kernel"):
            make().build(shape)
    make().build((None, 3, 3, 1))                       # a window that just fits
    make().build((None, None, None, 2))                 # sizes known only at run time
    make(padding="same").build((None, 1, 2, 1))         # "same" pads any size
    layer = make()
    layer.build((None, None, None, 2))
    for x_shape, axis, n in (((1, 2, 5, 2), "height", 2), ((1, 5, 2, 2), "width", 2)):
        with raises_exactly(ShapeError, f"layer 'c' ({kind}): the {axis} of the input ({n}) is smaller than the window "
                                        f"(3, dilation included)"):
            layer.forward(images(x_shape))
    stride = layer.window.strides[1]            # 1 for the kernels, the pool size for pooling
    assert layer.forward(images((1, 3, 4, 2))).shape[1:3] == (1, (4 - 3) // stride + 1)


@pytest.mark.parametrize("make,kind", WINDOWED, ids=[k for _, k in WINDOWED])
def test_input_errors_name_layer_kind_and_shape(make, kind):
    layer = built(make(), (None, 5, 5, 3))
    with raises_exactly(ShapeError, f"layer 'c' ({kind}) needs 4-D NHWC input (batch, height, width, channels), "
                                    f"got an array of shape (2, 5, 5)"):
        layer.forward(images((2, 5, 5)))
    with raises_exactly(ShapeError, f"layer 'c' ({kind}) was built for 3 input channels, got input of shape "
                                    f"(2, 5, 5, 1) with 1 channels"):
        layer.forward(images((2, 5, 5, 1)))


def test_dilated_window_size_in_fit_errors():
    with raises_exactly(ShapeError, "layer 'c' (Conv2D): the height of the input (6) is smaller than the window (7, "
                                    "dilation included)"):
        Conv2D(2, 3, dilation_rate=(3, 1), name="c").build((None, 6, 6, 1))
    with raises_exactly(ShapeError, "layer 'c' (DepthwiseConv2D): the width of the input (4) is smaller than the "
                                    "window (5, dilation included)"):
        DepthwiseConv2D((1, 3), dilation_rate=2, name="c").build((None, 9, 4, 1))
    Conv2D(2, 3, dilation_rate=(3, 1), name="c").build((None, 7, 3, 1))


def test_channels_must_be_known_for_kernels_but_not_for_pooling():
    for make, kind in WINDOWED[:3]:
        with raises_exactly(ShapeError, f"layer 'c' ({kind}): the number of input channels must be known, got input "
                                        f"shape (None, 8, 8, None)"):
            make().build((None, 8, 8, None))
    for cls in (MaxPool2D, AveragePooling2D):
        pool = built(cls(2), (None, None, None, None))
        assert pool.forward(images((1, 4, 4, 5))).shape == (1, 2, 2, 5)    # any channels
        assert pool.forward(images((1, 4, 4, 2))).shape == (1, 2, 2, 2)
    unbuilt = MaxPool2D(2)
    assert unbuilt.forward(images((1, 4, 4, 3))).shape == (1, 2, 2, 3)


def test_global_average_pooling_shapes_and_errors():
    with raises_exactly(ShapeError, "layer 'g' (GlobalAveragePooling2D) needs 4-D NHWC input, got input shape "
                                    "(None, 8)"):
        GlobalAveragePooling2D(name="g").build([None, 8])
    layer = built(GlobalAveragePooling2D(name="g"), (None, 4, 4, 3))
    assert layer.input_shape == (None, 4, 4, 3) and layer.output_shape == (None, 3)
    with raises_exactly(ShapeError, "layer 'g' (GlobalAveragePooling2D) needs 4-D NHWC input (batch, height, width, "
                                    "channels), got an array of shape (2, 4, 3)"):
        layer.forward(images((2, 4, 3)))
    with raises_exactly(ShapeError, "layer 'g' (GlobalAveragePooling2D) was built for 3 input channels"):
        layer.forward(images((2, 4, 4, 2)))
    assert GlobalAveragePooling2D().compute_output_shape((7, 4, 5, 3)) == (7, 3)
    assert GlobalAveragePooling2D(keepdims=True).compute_output_shape((7, 4, 5, 3)) == (7, 1, 1, 3)
    x32 = images((2, 3, 5, 4)).astype(np.float32)
    layer = GlobalAveragePooling2D(keepdims=True)
    y = layer.forward(x32, training=True)
    assert y.shape == (2, 1, 1, 4) and np.allclose(y, x32.astype(np.float64).mean(axis=(1, 2), keepdims=True),
                                                       atol=1e-6)
    dy = images((2, 1, 1, 4), seed=3).astype(np.float32)
    dx = layer.backward(dy)
    assert dx.dtype == np.float32 and dx.shape == x32.shape
    assert np.allclose(dx, np.broadcast_to(dy / 15.0, x32.shape), rtol=1e-6)


def test_output_shapes_keep_the_batch_axis_and_unknown_sizes():
    for batch in (None, 7):
        assert Conv2D(4, 3).compute_output_shape((batch, 9, 8, 2)) == (batch, 7, 6, 4)
        assert Conv2D(4, 3, strides=2, padding="same").compute_output_shape((batch, 9, 8, 2)) == (batch, 5, 4, 4)
        assert Conv2D(4, 3).compute_output_shape((batch, None, None, 2)) == (batch, None, None, 4)
        assert Conv2D(4, (1, 3), dilation_rate=2).compute_output_shape((batch, 9, 8, 2)) == (batch, 9, 4, 4)
        assert MaxPool2D(2).compute_output_shape((batch, 9, 8, 2)) == (batch, 4, 4, 2)
        assert AveragePooling2D(3, strides=(1, 2), padding="same").compute_output_shape((batch, 9, 8, 5)) == (
            batch, 9, 4, 5)
        assert MaxPool2D((2, 3), strides=1).compute_output_shape((batch, None, 8, 2)) == (batch, None, 6, 2)
        assert DepthwiseConv2D(3, depth_multiplier=2).compute_output_shape((batch, 9, 8, 3)) == (batch, 7, 6, 6)
        assert SeparableConv2D(5, 3, strides=2).compute_output_shape((batch, 9, 8, 3)) == (batch, 4, 3, 5)
        assert DepthwiseConv2D(3, padding="same").compute_output_shape((batch, None, 8, 3)) == (batch, None, 8, 3)


# ------------------------------------------------------------------------------------------ Conv2D values

CONV_PATHS = [
    # (input shape, kwargs): 1×1 stride 1 is one matrix product over the pixels; every other kernel goes through
    # im2col, offset-major for one channel and a wide image, pixel-major for several channels
    ((2, 5, 6, 3), dict(kernel_size=1)),
    ((2, 5, 6, 3), dict(kernel_size=1, padding="same", use_bias=False)),
    ((2, 5, 6, 3), dict(kernel_size=1, strides=2)),
    ((2, 5, 7, 3), dict(kernel_size=1, strides=(1, 2))),
    ((2, 6, 5, 3), dict(kernel_size=1, strides=(2, 1), padding="same")),
    ((2, 5, 6, 3), dict(kernel_size=(1, 3))),
    ((2, 5, 6, 3), dict(kernel_size=(3, 1), padding="same")),
    ((2, 5, 9, 1), dict(kernel_size=3, padding="same")),
    ((2, 6, 5, 4), dict(kernel_size=2, strides=2, use_bias=False)),
]


def conv_ids(case):
    return f"{case[0]}-" + ",".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("shape,kwargs", CONV_PATHS, ids=[conv_ids(c) for c in CONV_PATHS])
def test_conv2d_every_path_matches_loops_with_softmax_over_the_filters(shape, kwargs):
    """softmax is not elementwise: it must run over the filter axis of NHWC z on every path."""
    x = images(shape, seed=11)
    layer = randomize(built(Conv2D(4, activation="softmax", **kwargs), shape))
    z = ref_conv(x, layer.params["W"], layer.params.get("b"), layer.window.strides, layer.padding,
                 layer.window.dilation)
    y = layer.forward(x, training=True)
    assert y.shape == z.shape and np.max(np.abs(layer.z - z)) < TIGHT
    assert np.max(np.abs(y - ref_softmax(z))) < TIGHT
    report = check_layer(layer, x)
    assert_gradients_ok(report)


@pytest.mark.parametrize("shape,kwargs", CONV_PATHS[:5], ids=[conv_ids(c) for c in CONV_PATHS[:5]])
def test_conv2d_one_by_one_kernels_logits_and_frozen_layers(shape, kwargs):
    x = images(shape, seed=12)
    layer = randomize(built(Conv2D(3, activation="relu", **kwargs), shape))
    b = layer.params.get("b")
    z = ref_conv(x, layer.params["W"], b, layer.window.strides, layer.padding, layer.window.dilation)
    assert np.max(np.abs(layer.forward(x) - np.maximum(z, 0))) < TIGHT
    report = check_layer(layer, x)          # relu: kinks are measure-zero for these random values
    assert_gradients_ok(report)
    layer.output_logits = True              # fused-loss mode: forward returns z, backward takes dL/dz
    assert np.max(np.abs(layer.forward(x, training=True) - z)) < TIGHT
    dz = images(z.shape, seed=13)
    dx = layer.backward(dz)
    assert np.max(np.abs(layer.grads["W"] - np.einsum("nhwc,nhwf->cf", layer_input_at(x, layer), dz)
                         .reshape(layer.params["W"].shape))) < TIGHT
    if b is not None:
        assert np.max(np.abs(layer.grads["b"] - dz.sum(axis=(0, 1, 2)))) < TIGHT
    expected_dx = ref_conv_input_grad(x.shape, layer.params["W"], dz, layer.window.strides, layer.padding,
                                      layer.window.dilation)
    assert np.max(np.abs(dx - expected_dx)) < TIGHT
    frozen = built(Conv2D(3, trainable=False, **kwargs), shape)
    frozen.set_weights(layer.get_weights())
    assert frozen.grads == {} and frozen.trainable_names == []
    frozen.forward(x, training=True)
    assert np.max(np.abs(frozen.backward(dz) - expected_dx)) < TIGHT
    frozen.needs_input_grad = False
    frozen.forward(x, training=True)
    assert frozen.backward(dz) is None


def layer_input_at(x, layer):
    """The input pixels a 1×1 kernel reads for each output pixel (top/left offset of "same", the strides)."""
    s = layer.window.strides
    _, top = keras_geometry(x.shape[1], 1, s[0], 1, layer.padding)
    _, left = keras_geometry(x.shape[2], 1, s[1], 1, layer.padding)
    return x[:, top::s[0], left::s[1]]


# ------------------------------------------------------------------------------------------ pooling values

POOLS = [
    # (input shape, pool, strides, padding): "same" pads that leave the last window short, overlapping windows,
    # windows that skip pixels, odd pool sizes (|window| = ph·pw, not ph + pw)
    ((2, 7, 7, 2), 3, 2, "same"),
    ((2, 6, 6, 2), 3, 2, "same"),
    ((1, 5, 7, 3), (2, 3), (1, 2), "same"),
    ((2, 7, 8, 2), 3, None, "valid"),
    ((2, 5, 5, 2), 2, None, "same"),
    ((1, 8, 7, 2), (3, 1), (2, 3), "valid"),
    ((2, 6, 6, 1), 2, 1, "valid"),
]


@pytest.mark.parametrize("kind,cls", [("max", MaxPool2D), ("avg", AveragePooling2D)])
@pytest.mark.parametrize("shape,pool,strides,padding", POOLS, ids=[f"{p[0]}-{p[1]}-{p[2]}-{p[3]}" for p in POOLS])
def test_pooling_repeated_passes_match_loops(kind, cls, shape, pool, strides, padding):
    """Three forward/backward passes on one layer (scratch buffers reused, training and inference forwards),
    each compared with the loops; then float32 in, float32 out."""
    layer = built(cls(pool, strides=strides, padding=padding), shape)
    p, s = layer.window.kernel, layer.window.strides
    for seed, training in ((1, True), (2, False), (3, True)):
        x = images(shape, seed=20 + seed)
        if seed == 2:
            x = np.round(x)                       # ties: the first maximum in row-major order wins
        y = layer.forward(x, training=training)
        expected = ref_pool(x, p, s, padding, kind)
        assert y.shape == expected.shape and np.max(np.abs(y - expected)) < TIGHT
        assert y.flags.c_contiguous
        dy = images(y.shape, seed=30 + seed)
        dx = layer.backward(dy)
        assert dx.shape == x.shape and np.max(np.abs(dx - ref_pool_input_grad(x, dy, p, s, padding, kind))) < TIGHT
    x32 = images(shape, seed=40).astype(np.float32)
    y32 = layer.forward(x32, training=True)
    dx32 = layer.backward(np.ones_like(y32))
    assert y32.dtype == dx32.dtype == np.float32
    assert np.allclose(y32, ref_pool(x32.astype(np.float64), p, s, padding, kind), atol=1e-6)
    assert np.allclose(dx32, ref_pool_input_grad(x32.astype(np.float64), np.ones(y32.shape), p, s, padding, kind),
                       atol=1e-6)


def test_max_pool_backward_after_each_forward_mode_on_channels_outer_input():
    x = np.round(images((3, 6, 6, 2), seed=3) * 2)
    co = np.ascontiguousarray(x.transpose(3, 0, 1, 2)).transpose(1, 2, 3, 0)
    for pool, strides in ((2, None), (3, 1), (2, 3)):
        layer = built(MaxPool2D(pool, strides=strides), x.shape)
        p, s = layer.window.kernel, layer.window.strides
        for inp in (co, x):
            for training in (True, False):
                y = layer.forward(inp, training=training)
                dy = images(y.shape, seed=4)
                assert np.max(np.abs(y - ref_pool(x, p, s, "valid", "max"))) < TIGHT
                dx = layer.backward(dy)
                assert np.max(np.abs(dx - ref_pool_input_grad(x, dy, p, s, "valid", "max"))) < TIGHT


# ------------------------------------------------------------------------------------------ Dense, Activation, Flatten

def test_activation_layer_values_gradients_and_logits_mode():
    x = images((3, 4), seed=6)
    layer = Activation("relu")
    assert np.array_equal(layer.forward(x), np.maximum(x, 0))
    dy = images((3, 4), seed=7)
    assert np.array_equal(layer.backward(dy), dy * (x > 0))
    soft = Activation("softmax")
    assert np.max(np.abs(soft.forward(x) - ref_softmax(x))) < TIGHT
    report = check_layer(Activation("softmax"), x)
    assert_gradients_ok(report, 1e-7)
    assert layer.output_logits is False and soft.output_logits is False
    layer.output_logits = True                     # the model's fused-loss mode: identity both ways
    assert layer.forward(x) is x and layer.backward(dy) is dy
    assert Activation("tanh").forward(x, training=False).tolist() == np.tanh(x).tolist()
    assert nn.layers.get(str(Activation("sigmoid"))).get_config()["activation"] == "sigmoid"


def test_flatten_shapes_and_round_trip():
    layer = Flatten()
    assert layer.compute_output_shape((None, 3, 4, 2)) == (None, 24)
    assert layer.compute_output_shape((5, 3, 4)) == (5, 12)
    assert layer.compute_output_shape((5, 3, None, 2)) == (5, None)
    assert layer.compute_output_shape((5, None, 3)) == (5, None)
    assert layer.compute_output_shape((5, 7)) == (5, 7)
    x = images((2, 3, 4, 2))
    y = layer.forward(x)
    assert y.shape == (2, 24) and np.array_equal(y[1], x[1].ravel())
    assert layer.backward(y * 2).shape == x.shape and np.array_equal(layer.backward(y * 2), 2 * x)


def test_dense_on_three_axes_and_changing_batches():
    with raises_exactly(ShapeError, "layer 'd' (Dense) needs inputs with a batch and a feature axis, got shape (4,)"):
        Dense(3, name="d").build([4])
    layer = randomize(built(Dense(3, activation="tanh"), (None, 5, 4)))
    assert layer.output_shape == (None, 5, 3) and layer.compute_output_shape((7, 2, 4)) == (7, 2, 3)
    W, b = layer.params["W"], layer.params["b"]
    for n in (4, 2, 4):                           # the cached ones vector of db follows the batch size
        x = images((n, 5, 4), seed=n)
        y = layer.forward(x, training=True)
        assert np.max(np.abs(y - np.tanh(x @ W + b))) < TIGHT
        dy = images(y.shape, seed=10 + n)
        dz = dy * (1 - np.tanh(x @ W + b) ** 2)
        dx = layer.backward(dy)
        assert np.max(np.abs(dx - dz @ W.T)) < TIGHT
        assert np.max(np.abs(layer.grads["W"] - np.einsum("nti,ntu->iu", x, dz))) < TIGHT
        assert np.max(np.abs(layer.grads["b"] - dz.sum(axis=(0, 1)))) < TIGHT
    report = check_layer(Dense(2, activation="softmax"), images((3, 2, 4)))
    assert_gradients_ok(report)


# ------------------------------------------------------------------------------------------ window views (windows.py)

def test_row_view_elements_and_its_guard_against_reading_past_the_rows():
    """row_view's element [n, oh, i, j, q, g] is a[n, oh·sh + i·dh, q // C + j·dw, (q % C)·groups + g]; an
    as_strided view that does not fit would read outside the array, so every unfit request is refused."""
    from numpynet.core.layers.windows import _Window
    a = images((2, 7, 6, 4), seed=3)
    window = _Window((2, 3), (2, 1), (1, 2), "valid")
    oh, ow = 3, 2                                # (6 − 5) // 1 + 1 output columns; the last one reaches column 5
    for groups in (1, 2, 4):
        v = window.row_view(a, oh, ow, groups=groups)
        c = 4 // groups
        assert v.shape == (2, oh, 2, 3, ow * c, groups) and not v.flags.writeable
        for n, r, i, j, q, g in np.ndindex(v.shape):
            assert v[n, r, i, j, q, g] == a[n, r * 2 + i, q // c + j * 2, (q % c) * groups + g]
    message = "row_view needs a width stride of 1, rows of contiguous pixels and windows that fit"
    with raises_exactly(ValueError, message):
        window.row_view(a, oh, ow + 1)                               # column 6 does not exist
    with raises_exactly(ValueError, message):
        _Window((1, 1), (1, 2), (1, 1), "valid").row_view(a, 7, 3)   # width stride 2
    with raises_exactly(ValueError, message):
        window.row_view(a[:, :, ::2], oh, 1)                         # pixels of a row not contiguous
    with raises_exactly(ValueError, message):
        window.row_view(a, oh, ow, groups=3)                         # 4 channels are not 3 groups
    two = np.ascontiguousarray(a[..., :2])                          # rows of contiguous pixels again
    assert _Window((1, 1), (1, 1), (1, 1), "valid").row_view(two, 7, 6).shape == (2, 7, 1, 1, 12, 1)


def test_window_view_elements_in_both_layouts():
    from numpynet.core.layers.windows import _Window
    xp = images((2, 8, 9, 3), seed=4)
    for kernel, strides, dilation in (((2, 3), (2, 3), (1, 1)), ((3, 2), (1, 1), (2, 3))):
        window = _Window(kernel, strides, dilation, "valid")
        oh, ow = window.output_hw(8, 9)
        pixel, offset = window.view(xp, oh, ow), window.view(xp, oh, ow, offset_major=True)
        assert pixel.shape == (2, oh, ow) + kernel + (3,) and offset.shape == kernel + (3, 2, oh, ow)
        assert not pixel.flags.writeable and not offset.flags.writeable
        for n, r, q, i, j, c in np.ndindex(pixel.shape):
            value = xp[n, r * strides[0] + i * dilation[0], q * strides[1] + j * dilation[1], c]
            assert pixel[n, r, q, i, j, c] == value and offset[i, j, c, n, r, q] == value
        for (rows, cols), (i, j) in zip(window.offsets(oh, ow), np.ndindex(kernel)):
            assert np.array_equal(xp[:, rows, cols], pixel[:, :, :, i, j])


def test_same_padding_and_output_length_follow_keras():
    from numpynet.core.layers.windows import output_length, same_padding
    for n in range(1, 12):
        for k_eff in range(1, 8):
            for stride in (1, 2, 3):
                out, before = keras_geometry(n, k_eff, stride, 1, "same")
                total = max((out - 1) * stride + k_eff - n, 0)
                assert same_padding(n, k_eff, stride) == (before, total - before)
                assert output_length(n, k_eff, stride, "same") == out
                if k_eff <= n:
                    assert output_length(n, k_eff, stride, "valid") == keras_geometry(n, k_eff, stride, 1, "valid")[0]
    assert output_length(None, 3, 2, "same") is None and output_length(None, 3, 1, "valid") is None


def test_pad_border_fills_only_the_border_of_a_reused_buffer():
    """pad_border (public in conv) writes ``fill`` around the image and the image inside, whatever a reused
    buffer held before — also when the pads are wider than the image, and with padding on one side only."""
    from numpynet.core.layers.base import ScratchBuffer
    from numpynet.layers.conv import pad_border
    x = images((2, 1, 2, 3), seed=8)
    assert pad_border(x, ((0, 0), (0, 0))) is x
    for pads in (((2, 3), (4, 1)), ((0, 1), (0, 0)), ((1, 0), (0, 0)), ((0, 0), (0, 1)), ((0, 0), (2, 0)),
                 ((0, 2), (0, 3))):
        (pt, pb), (pl, pr) = pads
        for dtype in (np.float64, np.float32):
            xd = x.astype(dtype)
            expected = np.full((2, 1 + pt + pb, 2 + pl + pr, 3), -7.0)
            expected[:, pt:pt + 1, pl:pl + 2] = xd
            buffer = ScratchBuffer()
            buffer.get(expected.shape, dtype)[...] = np.nan        # what an earlier batch left there
            for buf in (None, buffer):
                xp = pad_border(xd, pads, buf, fill=-7.0)
                assert xp.dtype == dtype and xp.shape == expected.shape and np.array_equal(xp, expected)
            assert pad_border(xd, pads).dtype == dtype


@pytest.mark.parametrize("kernel,strides", [((2, 1), 1), ((1, 2), 1), ((1, 3), (1, 2)), ((3, 1), (2, 1)),
                                            ((3, 3), (2, 1)), ((3, 2), (1, 2))])
def test_one_sided_and_per_axis_same_padding_for_every_windowed_layer(kernel, strides):
    """"same" padding that only adds a row at the bottom (or a column on the right), and row and column strides
    that differ: each axis gets the padding of its own size and stride."""
    x = images((2, 6, 7, 2), seed=9)
    conv = randomize(built(Conv2D(3, kernel, strides=strides, padding="same"), x.shape))
    z = ref_conv(x, conv.params["W"], conv.params["b"], conv.window.strides, "same")
    assert np.max(np.abs(conv.forward(x, training=True) - z)) < TIGHT
    dz = images(z.shape, seed=10)
    dx = ref_conv_input_grad(x.shape, conv.params["W"], dz, conv.window.strides, "same")
    assert np.max(np.abs(conv.backward(dz) - dx)) < TIGHT
    dw = randomize(built(DepthwiseConv2D(kernel, strides=strides, padding="same", depth_multiplier=2), x.shape))
    u = ref_depthwise(x, dw.params["W"], dw.params["b"], dw.window.strides, "same")
    assert np.max(np.abs(dw.forward(x, training=True) - u)) < TIGHT
    report = check_layer(dw, x)
    assert_gradients_ok(report)
    for kind, cls in (("max", MaxPool2D), ("avg", AveragePooling2D)):
        pool = built(cls(kernel, strides=strides, padding="same"), x.shape)
        p, s = pool.window.kernel, pool.window.strides
        y = pool.forward(x, training=True)
        assert np.max(np.abs(y - ref_pool(x, p, s, "same", kind))) < TIGHT
        dy = images(y.shape, seed=11)
        assert np.max(np.abs(pool.backward(dy) - ref_pool_input_grad(x, dy, p, s, "same", kind))) < TIGHT


def test_channel_check_when_built_without_image_sizes():
    for layer, kind in ((Conv2D(2, 3, name="c"), "Conv2D"), (DepthwiseConv2D(3, name="c"), "DepthwiseConv2D"),
                        (MaxPool2D(2, name="c"), "MaxPool2D"), (GlobalAveragePooling2D(name="c"),
                                                                "GlobalAveragePooling2D")):
        built(layer, (None, None, None, 3))
        with raises_exactly(ShapeError, f"layer 'c' ({kind}) was built for 3 input channels, got input of shape "
                                        f"(1, 5, 5, 2) with 2 channels"):
            layer.forward(images((1, 5, 5, 2)))
        built(layer, (None, 5, None, 3))
        with raises_exactly(ShapeError, f"layer 'c' ({kind}) was built for 3 input channels"):
            layer.forward(images((1, 5, 5, 4)))


def test_pool_defaults_are_keras():
    for cls in (MaxPool2D, AveragePooling2D):
        layer = cls()
        assert layer.window.kernel == (2, 2) and layer.window.strides == (2, 2) and layer.padding == "valid"
        assert layer.get_config()["pool_size"] == 2 and layer.get_config()["strides"] is None


def poison_uninitialized_memory(monkeypatch):
    """Make np.empty / np.empty_like return NaN-filled arrays: an entry that the code forgets to write (a pixel no
    window covers, a padding column of a scratch row) then shows up as NaN instead of whatever memory held."""
    empty, empty_like = np.empty, np.empty_like

    def poisoned(a):
        a.fill(np.nan if a.dtype.kind in "fc" else 1)
        return a

    monkeypatch.setattr(np, "empty", lambda *args, **kwargs: poisoned(empty(*args, **kwargs)))
    monkeypatch.setattr(np, "empty_like", lambda *args, **kwargs: poisoned(empty_like(*args, **kwargs)))


@pytest.mark.parametrize("cls", [MaxPool2D, AveragePooling2D])
@pytest.mark.parametrize("shape,pool,strides", [((2, 5, 4, 4), 2, None), ((2, 4, 5, 4), 2, None),
                                                ((1, 4, 4, 2), (1, 2), 2), ((1, 4, 4, 2), (2, 1), 2),
                                                ((1, 7, 6, 2), 2, 3)])
def test_pixels_no_window_covers_get_zero_gradient(cls, shape, pool, strides, monkeypatch):
    poison_uninitialized_memory(monkeypatch)
    layer = built(cls(pool, strides=strides), shape)
    p, s = layer.window.kernel, layer.window.strides
    x = images(shape, seed=12)
    kind = "max" if cls is MaxPool2D else "avg"
    for seed in range(3):
        y = layer.forward(x, training=bool(seed % 2))
        dy = images(y.shape, seed=seed)
        dx = layer.backward(dy)
        assert not np.isnan(dx).any()
        assert np.max(np.abs(dx - ref_pool_input_grad(x, dy, p, s, "valid", kind))) < TIGHT


@pytest.mark.parametrize("shape,kwargs", [((1, 6, 6, 1), dict(kernel_size=5)), ((2, 4, 6, 2), dict(kernel_size=(3, 5))),
                                          ((1, 3, 7, 2), dict(kernel_size=(1, 3), dilation_rate=3)),
                                          ((2, 5, 6, 1), dict(kernel_size=5, padding="same")),
                                          ((1, 7, 7, 2), dict(kernel_size=3, strides=2)),
                                          ((1, 2, 2, 1), dict(kernel_size=5, strides=2, padding="same")),
                                          ((2, 5, 6, 2), dict(kernel_size=1, strides=2)),
                                          ((1, 7, 7, 2), dict(kernel_size=4, strides=3, padding="same")),
                                          ((1, 7, 5, 2), dict(kernel_size=(2, 1), strides=(3, 2), padding="same"))],
                         ids=lambda v: str(v))
def test_conv_results_never_read_uninitialized_memory(shape, kwargs, monkeypatch):
    """Kernels almost as wide as the image (most of a scratch row is zero padding), and pads wider than the image."""
    poison_uninitialized_memory(monkeypatch)
    x = images(shape, seed=15)
    layer = randomize(built(Conv2D(2, **kwargs), shape))
    dw = randomize(built(DepthwiseConv2D(depth_multiplier=2, **kwargs), shape))
    s, d, padding = layer.window.strides, layer.window.dilation, layer.padding
    for _ in range(2):                      # the second pass reuses the scratch buffers of the first
        z = layer.forward(x, training=True)
        assert np.max(np.abs(z - ref_conv(x, layer.params["W"], layer.params["b"], s, padding, d))) < TIGHT
        dz = images(z.shape, seed=16)
        dx = layer.backward(dz)
        assert np.max(np.abs(dx - ref_conv_input_grad(x.shape, layer.params["W"], dz, s, padding, d))) < TIGHT
        u = dw.forward(x, training=True)
        assert np.max(np.abs(u - ref_depthwise(x, dw.params["W"], dw.params["b"], s, padding, d))) < TIGHT
        du = images(u.shape, seed=17)
        expected = ref_depthwise_input_grad(x.shape, dw.params["W"], du, s, padding, d)
        assert np.max(np.abs(dw.backward(du) - expected)) < TIGHT


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, padding="same"), dict(kernel_size=3, strides=2),
                                    dict(kernel_size=1, strides=2, padding="same")], ids=str)
def test_depthwise_keeps_float32(kwargs):
    x = images((2, 6, 5, 3), seed=18).astype(np.float32)
    for layer in (DepthwiseConv2D(depth_multiplier=2, **kwargs), SeparableConv2D(4, **kwargs)):
        layer = randomize(built(layer, x.shape, dtype=np.float32))
        y = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(y))
        assert y.dtype == dx.dtype == np.float32 and all(g.dtype == np.float32 for g in layer.grads.values())


def test_max_pool_keeps_float32_for_channels_outer_input():
    x = np.ascontiguousarray(images((2, 6, 6, 3), seed=13).astype(np.float32).transpose(3, 0, 1, 2))
    x = x.transpose(1, 2, 3, 0)
    for cls in (MaxPool2D, AveragePooling2D):
        for training in (True, False):
            layer = built(cls(2), x.shape, dtype=np.float32)
            y = layer.forward(x, training=training)
            kind = "max" if cls is MaxPool2D else "avg"
            assert y.dtype == np.float32 and np.allclose(y, ref_pool(x.astype(np.float64), (2, 2), (2, 2), "valid",
                                                                     kind), atol=1e-6)
            assert layer.backward(np.ones_like(y)).dtype == np.float32


# ------------------------------------------------------------------------------------------ weights: defaults,
# regularizers, constraints, seeds

KERNEL_LAYERS = [
    (lambda **k: Conv2D(2, 3, **k), {"W": "kernel", "b": "bias"}),
    (lambda **k: DepthwiseConv2D(3, **k), {"W": "depthwise", "b": "bias"}),
    (lambda **k: SeparableConv2D(2, 3, **k), {"depthwise_kernel": "depthwise", "pointwise_kernel": "pointwise",
                                              "b": "bias"}),
    (lambda **k: Dense(2, **k), {"W": "kernel", "b": "bias"}),
]


@pytest.mark.parametrize("make,weights", KERNEL_LAYERS, ids=["Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense"])
def test_regularizers_constraints_and_seeds_reach_every_weight(make, weights):
    defaults = make().get_config()
    if not isinstance(make(), Dense):                  # Keras's window defaults
        assert (defaults["strides"], defaults["padding"], defaults["dilation_rate"]) == (1, "valid", 1)
        assert defaults.get("depth_multiplier", 1) == 1
    assert defaults["use_bias"] is True and defaults["activation"] == "linear" and defaults["seed"] is None
    assert defaults["trainable"] is True and defaults["activity_regularizer"] is None
    for prefix in set(weights.values()):
        assert defaults[f"{prefix}_initializer"] == ("zeros" if prefix == "bias" else "glorot_uniform")
        assert defaults[f"{prefix}_regularizer"] is None and defaults[f"{prefix}_constraint"] is None
    coefficient = {name: 0.5 + i for i, name in enumerate(weights)}
    kwargs = {f"{prefix}_regularizer": f"l1(l1={coefficient[name]})" for name, prefix in weights.items()}
    kwargs.update({f"{prefix}_constraint": "non_neg" for prefix in weights.values()})
    kwargs.update(activity_regularizer="l2(lambd=0.1)", bias_initializer="ones", seed=3)
    layer = make(**kwargs)
    config = layer.get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    assert str(layer.activity_regularizer) == "l2(lambd=0.1)"
    shape = (None, 4) if isinstance(layer, Dense) else (None, 5, 5, 2)
    layer.dtype = np.float64
    layer.build(shape)
    again = make(**kwargs)
    again.dtype = np.float64
    again.set_rng(np.random.default_rng(99))           # its own seed wins over the model's generator
    again.build(shape)
    other = make(**dict(kwargs, seed=4))
    other.dtype = np.float64
    other.build(shape)
    assert set(layer.params) == set(weights)
    for name in weights:
        assert np.array_equal(layer.params[name], again.params[name])
        if name != "b":
            assert not np.array_equal(layer.params[name], other.params[name])
    assert np.all(layer.params["b"] == 1.0)
    expected = sum(coefficient[name] * np.abs(layer.params[name]).sum() for name in weights)
    assert layer.regularization_loss() == pytest.approx(expected, rel=1e-12)
    for value in layer.params.values():
        value[...] = -1.0
    layer.apply_constraints()
    assert all(np.all(value == 0.0) for value in layer.params.values())
    frozen = make(trainable=False)
    frozen.dtype = np.float64
    frozen.build(shape)
    assert frozen.trainable is False and frozen.trainable_names == [] and frozen.get_config()["trainable"] is False


@pytest.mark.parametrize("shape,kwargs", CONV_PATHS, ids=[conv_ids(c) for c in CONV_PATHS])
def test_conv2d_dtype_follows_input_and_kernel_on_every_path(shape, kwargs):
    """float32 stays float32 (input, kernel, output and gradients); mixed inputs promote as x @ W does."""
    x = images(shape, seed=14)
    layer = randomize(built(Conv2D(3, activation="tanh", **kwargs), shape, dtype=np.float32))
    for v in layer.params.values():
        assert v.dtype == np.float32
    y = layer.forward(x.astype(np.float32), training=True)
    z = ref_conv(x.astype(np.float32).astype(np.float64), layer.params["W"].astype(np.float64),
                 None if "b" not in layer.params else layer.params["b"].astype(np.float64), layer.window.strides,
                 layer.padding)
    assert y.dtype == np.float32 and np.allclose(y, np.tanh(z), atol=1e-5)
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == layer.grads["W"].dtype == np.float32
    assert layer.forward(x, training=True).dtype == np.result_type(x.dtype, np.float32) == np.float64
    wide = randomize(built(Conv2D(3, **kwargs), shape))
    assert wide.forward(x.astype(np.float32)).dtype == np.float64


def test_dense_logits_mode_relu_and_a_batch_the_size_of_the_units():
    layer = randomize(built(Dense(3, activation="relu"), (None, 4)))
    W, b = layer.params["W"], layer.params["b"]
    for n in (3, 5, 3):                    # first batch as long as the units: the ones of db must follow n
        x = images((n, 4), seed=n)
        z = x @ W + b
        assert np.max(np.abs(layer.forward(x, training=True) - np.maximum(z, 0))) < TIGHT
        dy = images((n, 3), seed=20 + n)
        dx = layer.backward(dy)            # relu's derivative reads z
        dz = dy * (z > 0)
        assert np.max(np.abs(dx - dz @ W.T)) < TIGHT
        assert np.max(np.abs(layer.grads["W"] - x.T @ dz)) < TIGHT
        assert np.max(np.abs(layer.grads["b"] - dz.sum(axis=0))) < TIGHT
    layer.output_logits = True             # fused-loss mode: z out, dL/dz in
    x = images((2, 4), seed=9)
    dz = images((2, 3), seed=10)
    assert np.max(np.abs(layer.forward(x) - (x @ W + b))) < TIGHT
    assert np.max(np.abs(layer.backward(dz) - dz @ W.T)) < TIGHT
    assert np.max(np.abs(layer.grads["b"] - dz.sum(axis=0))) < TIGHT


def test_activation_layer_keeps_its_activity_regularizer():
    layer = Activation("relu", activity_regularizer="l2(lambd=0.1)")
    assert str(layer.activity_regularizer) == "l2(lambd=0.1)"
    assert layer.get_config()["activity_regularizer"] == "l2(lambd=0.1)"
    assert Activation("relu").activity_regularizer is None


def test_only_dense_running_its_own_backward_takes_a_gradient_scale():
    from numpynet.core.layers.core import takes_grad_scale

    class Scaled(Dense):
        pass

    class Custom(Dense):
        def backward(self, dy):
            return super().backward(dy)

    class NotDense:
        backward = Dense.backward

    assert takes_grad_scale(Dense(2)) and takes_grad_scale(Scaled(2))
    assert not takes_grad_scale(Custom(2)) and not takes_grad_scale(Conv2D(2, 1)) and not takes_grad_scale(NotDense())
    patched = Dense(2)
    patched.backward = lambda dy: dy
    assert not takes_grad_scale(patched)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3), dict(kernel_size=(3, 2), strides=2, padding="same")], ids=str)
def test_depthwise_activation_and_mixed_dtypes(kwargs):
    """The activation runs by default (not the fused-loss logits mode); a float32 batch through a float64 layer is
    computed with the float64 kernel and promotes, as x @ W would."""
    x = images((2, 6, 7, 3), seed=19)
    layer = randomize(built(DepthwiseConv2D(depth_multiplier=2, activation="relu", **kwargs), x.shape))
    assert layer.output_logits is False
    u = ref_depthwise(x, layer.params["W"], layer.params["b"], layer.window.strides, layer.padding)
    assert np.max(np.abs(layer.forward(x, training=True) - np.maximum(u, 0))) < TIGHT
    du = images(u.shape, seed=20)
    expected = ref_depthwise_input_grad(x.shape, layer.params["W"], du * (u > 0), layer.window.strides, layer.padding)
    assert np.max(np.abs(layer.backward(du) - expected)) < TIGHT
    x32 = x.astype(np.float32)
    y = layer.forward(x32)
    u32 = ref_depthwise(x32.astype(np.float64), layer.params["W"], layer.params["b"], layer.window.strides,
                        layer.padding)
    assert y.dtype == np.float64 and np.max(np.abs(y - np.maximum(u32, 0))) < TIGHT
    sep = randomize(built(SeparableConv2D(4, activation="relu", **kwargs), x.shape))
    assert sep.output_logits is False and np.all(sep.forward(x) >= 0)


@pytest.mark.parametrize("make", [lambda: DepthwiseConv2D(3, padding="same"), lambda: SeparableConv2D(2, 3, strides=2)],
                         ids=["DepthwiseConv2D", "SeparableConv2D"])
def test_frozen_depthwise_layers_still_pass_the_input_gradient_on(make):
    x = images((2, 5, 6, 2), seed=21)
    layer = randomize(built(make(), x.shape))
    frozen = built(type(layer)(**dict(layer.get_config(), trainable=False)), x.shape)
    frozen.set_weights(layer.get_weights())
    assert frozen.grads == {}
    y = layer.forward(x, training=True)
    assert np.array_equal(frozen.forward(x, training=True), y)
    dy = images(y.shape, seed=22)
    assert np.max(np.abs(frozen.backward(dy) - layer.backward(dy))) < TIGHT
    assert_gradients_ok(check_layer(layer, x))


def test_depthwise_logits_mode_tanh_and_the_public_input_gradient():
    from numpynet.core.layers.windows import _Window
    from numpynet.layers.depthwise import depthwise_input_grad
    x = images((2, 6, 5, 2), seed=23)
    layer = randomize(built(DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="tanh"), x.shape))
    u = ref_depthwise(x, layer.params["W"], layer.params["b"], (1, 1), "same")
    assert np.max(np.abs(layer.forward(x, training=True) - np.tanh(u))) < TIGHT
    du = images(u.shape, seed=24)
    expected = ref_depthwise_input_grad(x.shape, layer.params["W"], du * (1 - np.tanh(u) ** 2), (1, 1), "same")
    assert np.max(np.abs(layer.backward(du) - expected)) < TIGHT       # tanh's derivative reads y
    layer.output_logits = True             # fused-loss mode: z out, dL/dz in
    assert np.max(np.abs(layer.forward(x, training=True) - u)) < TIGHT
    expected = ref_depthwise_input_grad(x.shape, layer.params["W"], du, (1, 1), "same")
    assert np.max(np.abs(layer.backward(du) - expected)) < TIGHT
    for strides, padding in (((2, 2), "same"), ((2, 1), "valid"), ((1, 1), "valid")):   # without scratch buffers
        window = _Window((3, 2), strides, (1, 1), padding)
        oh, ow = window.output_hw(7, 6)
        W = images((3, 2, 2, 3), seed=25)
        du = images((2, oh, ow, 6), seed=26)
        dx = depthwise_input_grad(du, W, window, (2, 7, 6, 2))
        assert np.max(np.abs(dx - ref_depthwise_input_grad((2, 7, 6, 2), W, du, strides, padding))) < TIGHT
