"""Convolution and pooling on NHWC images: Conv2D, MaxPool2D, AveragePooling2D, GlobalAveragePooling2D.

Notation: a batch ``x`` of shape (N, H, W, C); a kernel of size (kh, kw) with strides (sh, sw) and dilation
(dh, dw), whose *effective* size is k_eff = (k − 1)·d + 1. The output has (OH, OW) pixels:

    padding="valid":  OH = ⌊(H − kh_eff) / sh⌋ + 1            (no padding)
    padding="same":   OH = ⌈H / sh⌉, with P = max((OH − 1)·sh + kh_eff − H, 0) zeros added, ⌊P/2⌋ on the top
                      and the rest (the extra one, if P is odd) on the bottom — Keras/TensorFlow's rule

and likewise for the width. Window (oh, ow) reads the padded input at rows oh·sh + i·dh and columns ow·sw + j·dw
for kernel offsets i < kh, j < kw.

Everything is vectorized: a window is a *strided view* of the (padded) input, so no pixel is copied before it is
used. Conv2D copies the windows once into a column matrix (im2col) and does one matrix product per direction;
pooling loops only over the few kernel offsets (kh·kw, typically 4), never over the batch or the pixels.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import ShapeError, SpecError
from ..spec import check_bool, check_choice
from .base import Layer, ScratchBuffer, activation_arg, registry

# ---------------------------------------------------------------------------------------------------- helpers


def _pair(owner, arg, value, minimum=1):
    """An int or a pair of ints (each >= minimum) as a 2-tuple; a SpecError naming the argument otherwise."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        value = (int(value[0]), int(value[1]))
    else:
        raise SpecError(f"{owner}: argument '{arg}' must be an integer or a pair of integers, got {value!r}")
    if min(value) < minimum:
        raise SpecError(f"{owner}: argument '{arg}' must be >= {minimum}, got {value!r}")
    return value


def _compact(pair):
    """(3, 3) -> 3, (3, 5) -> (3, 5): the attribute form, so that ``str(layer)`` stays short and round-trips."""
    return pair[0] if pair[0] == pair[1] else pair


def _padding(owner, value):
    if not isinstance(value, str):
        raise SpecError(f"{owner}: argument 'padding' must be one of ['valid', 'same'], got {value!r}")
    return check_choice(owner, "padding", value.lower(), ("valid", "same"))


def output_length(n, k_eff, stride, padding):
    """Number of output positions along one axis of length ``n`` (None stays None)."""
    if n is None:
        return None
    if padding == "same":
        return -(-n // stride)
    return (n - k_eff) // stride + 1


def same_padding(n, k_eff, stride):
    """(before, after) zeros for Keras "same" padding: total max((⌈n/s⌉ − 1)·s + k_eff − n, 0), extra after."""
    total = max((-(-n // stride) - 1) * stride + k_eff - n, 0)
    return total // 2, total - total // 2


def _offset_slice(start, stride, count):
    """The slice that picks ``count`` positions start, start + stride, ... (one kernel offset, every window)."""
    return slice(start, start + stride * (count - 1) + 1, stride)


class _Window:
    """Geometry of a sliding window over (H, W): kernel, strides, dilation, padding, and the derived sizes.

    It gives the pads and output sizes for an input size, and the strided-view and offset-slice tools that Conv2D
    and the pooling layers share.
    """

    def __init__(self, kernel, strides, dilation, padding):
        self.kernel, self.strides, self.dilation, self.padding = kernel, strides, dilation, padding
        self.k_eff = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))

    def output_hw(self, h, w):
        return (output_length(h, self.k_eff[0], self.strides[0], self.padding),
                output_length(w, self.k_eff[1], self.strides[1], self.padding))

    def pads(self, h, w):
        if self.padding == "valid":
            return (0, 0), (0, 0)
        return same_padding(h, self.k_eff[0], self.strides[0]), same_padding(w, self.k_eff[1], self.strides[1])

    def offsets(self, oh, ow):
        """For each kernel offset (i, j): the (row slice, column slice) of the padded input it touches."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides, self.dilation
        return [(_offset_slice(i * dh, sh, oh), _offset_slice(j * dw, sw, ow)) for i in range(kh) for j in range(kw)]

    def view(self, xp, oh, ow, offset_major=False):
        """Read-only strided view of the windows of the padded input ``xp`` — no copy.

        Pixel-major (default): shape (N, OH, OW, kh, kw, C), element [n, oh, ow, i, j, c] =
        xp[n, oh·sh + i·dh, ow·sw + j·dw, c]. Offset-major: the same elements as (kh, kw, C, N, OH, OW).
        """
        n, _, _, c = xp.shape
        s_n, s_h, s_w, s_c = xp.strides
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides, self.dilation
        if offset_major:
            shape, strides = (kh, kw, c, n, oh, ow), (s_h * dh, s_w * dw, s_c, s_n, s_h * sh, s_w * sw)
        else:
            shape, strides = (n, oh, ow, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
        return np.lib.stride_tricks.as_strided(xp, shape=shape, strides=strides, writeable=False)

    def row_view(self, a, oh, ow, groups=1):
        """Read-only view (N, OH, kh, kw, OW·C, groups) of an NHWC array whose (W, C) block is contiguous, for a
        width stride of 1 — no copy.

        The C = c_total / groups channels of ``a`` are taken as (C, groups); element [n, oh, i, j, q, g] =
        a[n, oh·sh + i·dh, q // C + j·dw, (q % C)·groups + g]: for one kernel offset (i, j) the OW output columns
        and C channels of an output row form the single axis q, one contiguous run of the input row (stepping
        over the groups), so loops over it are long and SIMD-friendly.
        """
        n, _, w, c_total = a.shape
        s_n, s_h, s_w, s_c = a.strides
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides, self.dilation
        if sw != 1 or s_w != c_total * s_c or c_total % groups or (ow - 1) + (kw - 1) * dw >= w:
            raise ValueError("row_view needs a width stride of 1, rows of contiguous pixels and windows that fit")
        shape = (n, oh, kh, kw, ow * (c_total // groups), groups)
        strides = (s_n, s_h * sh, s_h * dh, s_w * dw, s_c * groups, s_c)
        return np.lib.stride_tricks.as_strided(a, shape=shape, strides=strides, writeable=False)


def _check_image(layer, x, kind):
    """Raise a ShapeError unless x is a 4-D NHWC batch with the channels the layer was built for."""
    if x.ndim != 4:
        raise ShapeError(f"layer {layer.name!r} ({kind}) needs 4-D NHWC input (batch, height, width, channels), "
                         f"got an array of shape {x.shape}")
    built = layer.input_shape
    if built is not None and built[-1] is not None and x.shape[-1] != built[-1]:
        raise ShapeError(f"layer {layer.name!r} ({kind}) was built for {built[-1]} input channels, got input of "
                         f"shape {x.shape} with {x.shape[-1]} channels")


def _check_fits(layer, kind, window, h, w):
    """With "valid" padding the (effective) kernel must fit inside the image."""
    if window.padding != "valid":
        return
    for name, n, k in (("height", h, window.k_eff[0]), ("width", w, window.k_eff[1])):
        if n is not None and n < k:
            raise ShapeError(f"layer {layer.name!r} ({kind}): the {name} of the input ({n}) is smaller than the "
                             f"window ({k}, dilation included) with padding='valid'; use padding='same' or a "
                             f"smaller kernel")


def _channels_outer(a):
    """Whether the NHWC array ``a`` lies in memory channel by channel, each channel a C-ordered (N, H, W) block
    (what Conv2D's offset-major product writes, and what the pooling layers keep)."""
    return a.ndim == 4 and a.transpose(3, 0, 1, 2).flags.c_contiguous


def _like(a, shape=None):
    """An uninitialized array in ``a``'s memory layout (C-ordered NHWC or channels-outer), of ``a``'s or the given
    NHWC shape: elementwise operations between arrays of one layout run in long contiguous loops."""
    shape = a.shape if shape is None else tuple(shape)
    if _channels_outer(a) and not a.flags.c_contiguous:
        n, h, w, c = shape
        return np.empty((c, n, h, w), dtype=a.dtype).transpose(1, 2, 3, 0)
    return np.empty(shape, dtype=a.dtype)


def pad_border(x, pads, buffer=None, fill=0):
    """The NHWC batch ``x`` with ``pads`` = ((top, bottom), (left, right)) rows/columns of ``fill`` around it (zeros
    for convolutions, −inf for max pooling: a pad never wins the max).

    Without padding ``x`` itself comes back (no copy). With a :class:`_Buffer` the result lives in its array,
    reused from batch to batch: the interior is overwritten and only the border re-zeroed (cheap, and safe when a
    new image size moves the interior inside a same-size buffer); without one it is a fresh array.
    """
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    n, h, w, c = x.shape
    shape = (n, h + pt + pb, w + pl + pr, c)
    xp = np.empty(shape, dtype=x.dtype) if buffer is None else buffer.get(shape, x.dtype)
    xp[:, :pt], xp[:, pt + h:], xp[:, :, :pl], xp[:, :, pl + w:] = fill, fill, fill, fill
    xp[:, pt:pt + h, pl:pl + w, :] = x
    return xp


def _scratch(layer, name):
    """The layer's :class:`_Buffer` called ``name``, made on first use (a per-layer attribute, so that a shared
    layer's second executor, which gets fresh buffers, never writes into the first one's)."""
    buffer = layer.__dict__.get(name)
    if buffer is None:
        buffer = layer.__dict__[name] = _Buffer()
    return buffer


#: the scratch buffers of this module (an alias: the class lives in base.py, where pickling and shared layers
#: give each copy a fresh one)
_Buffer = ScratchBuffer


# ---------------------------------------------------------------------------------------------------- Conv2D

def input_channels(layer, kind, input_shape):
    """Check a build shape for a windowed layer (4-D NHWC, channels known, the window fits) and return the number
    of input channels."""
    if len(input_shape) != 4:
        raise ShapeError(f"layer {layer.name!r} ({kind}) needs 4-D NHWC input (batch, height, width, channels), "
                         f"got input shape {input_shape}")
    if input_shape[-1] is None:
        raise ShapeError(f"layer {layer.name!r} ({kind}): the number of input channels must be known, "
                         f"got input shape {input_shape}")
    _check_fits(layer, kind, layer.window, input_shape[1], input_shape[2])
    return input_shape[-1]


@registry.register("conv2d", "convolution2d", "conv")
class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every framework) over NHWC images.

    Forward, for output pixel (n, oh, ow) and filter o, with xp the padded input and W of shape (kh, kw, C, F)::

        z[n, oh, ow, o] = b[o] + Σ_{i, j, c} xp[n, oh·sh + i·dh, ow·sw + j·dw, c] · W[i, j, c, o]
        y = act(z)

    Written as one matrix product: the windows of xp are copied into a column matrix X_col of shape
    (N·OH·OW, kh·kw·C) (im2col), and ``Z = X_col · W_mat + b`` with W_mat = W reshaped to (kh·kw·C, F).

    Backward, with dZ = act'(z) ⊙ dy reshaped to (N·OH·OW, F)::

        dW_mat = X_colᵀ · dZ          db = Σ_rows dZ          dX_col = dZ · W_matᵀ

    and dX_col is scattered back onto the padded input (col2im: each kernel offset adds its slice; overlapping
    windows accumulate), then the padding is cropped off. In code, a column of ones appended to X_col carries
    the bias through the same products (db is then the last row of the dW product). Two faster forms of the same
    formulas: with offset-major columns the forward product is computed transposed, Zᵀ = W_matᵀ · X_colᵀ, so z and
    y come out channels-outer (see ``_channels_outer``); with stride 1, dX is computed as in ``_col2im_rows``.
    The tests compare both with plain loops (``naive_conv``, ``naive_conv_input_grad``).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 name=None, trainable=True, seed=None):
        super().__init__(name=name, trainable=trainable, seed=seed, activity_regularizer=activity_regularizer)
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters < 1:
            raise SpecError(f"Conv2D: argument 'filters' must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        kernel = _pair("Conv2D", "kernel_size", kernel_size)
        strides_ = _pair("Conv2D", "strides", strides)
        dilation = _pair("Conv2D", "dilation_rate", dilation_rate)
        if max(strides_) > 1 and max(dilation) > 1:
            # Keras refuses this combination too (TensorFlow has no kernel for it); keeping the same rule keeps
            # every numpynet Conv2D convertible to Keras.
            raise SpecError(f"Conv2D: strides > 1 cannot be combined with dilation_rate > 1 (as in Keras); got "
                            f"strides={strides!r}, dilation_rate={dilation_rate!r}")
        self.kernel_size, self.strides, self.dilation_rate = _compact(kernel), _compact(strides_), _compact(dilation)
        self.padding = _padding("Conv2D", padding)
        self.activation = activation_arg("Conv2D", activation)
        self.use_bias = check_bool("Conv2D", "use_bias", use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.window = _Window(kernel, strides_, dilation, self.padding)
        # As Dense: the model sets this on the last layer when a fused loss takes the logits z.
        self.output_logits = False
        self._xp = _Buffer()
        self._cols = _Buffer()
        self._dxp = _Buffer()

    # ------------------------------------------------------------------ shapes
    def build(self, input_shape):
        input_shape = tuple(input_shape)
        c_in = input_channels(self, "Conv2D", input_shape)
        kh, kw = self.window.kernel
        self.add_weight("W", (kh, kw, c_in, self.filters), self.kernel_initializer, self.kernel_regularizer,
                        self.kernel_constraint)
        if self.use_bias:
            self.add_weight("b", (self.filters,), self.bias_initializer, self.bias_regularizer, self.bias_constraint)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        oh, ow = self.window.output_hw(input_shape[1], input_shape[2])
        return (input_shape[0], oh, ow, self.filters)

    # ------------------------------------------------------------------ passes
    def _padded(self, x):
        """x with its "same" zeros, in a buffer reused from batch to batch."""
        return pad_border(x, self.window.pads(x.shape[1], x.shape[2]), self._xp)

    def _offset_major(self, c, ow):
        """Which im2col layout copies faster: the one whose innermost contiguous run is longer.

        Pixel-major rows (N·OH·OW, kh·kw·C) copy runs of kw·C input values (one kernel row, when undilated);
        offset-major rows (kh·kw·C, N·OH·OW) copy runs of OW (one output row, when the stride is 1). A first
        layer (C = 1, kw = 5, OW = 28) prefers the second, a deeper one (C = 6, OW = 10) the first.
        """
        (_, kw), (_, sw), (_, dw) = self.window.kernel, self.window.strides, self.window.dilation
        pixel_run = kw * c if dw == 1 else c
        offset_run = ow if sw == 1 else 1
        return offset_run > pixel_run

    def _pointwise(self):
        """A 1×1 kernel with stride 1 needs no windows: the convolution is one matrix product over the pixels,
        Z = X·W with X the (N·H·W, C) pixel rows — a Dense layer applied to every pixel (no im2col copy)."""
        return self.window.kernel == (1, 1) and self.window.strides == (1, 1)

    def forward(self, x, training=False):
        _check_image(self, x, "Conv2D")
        n, h, w, _ = x.shape
        _check_fits(self, "Conv2D", self.window, h, w)
        if self._pointwise():
            kernel = self.params["W"]
            z = x.reshape(-1, x.shape[-1]) @ kernel.reshape(kernel.shape[2], self.filters)
            if self.use_bias:
                z += self.params["b"]
            self.x, self.z = x, z.reshape(n, h, w, self.filters)
            self.y = self.z if self.output_logits else self.activation.forward(self.z)
            return self.y
        oh, ow = self.window.output_hw(h, w)
        xp = self._padded(x)
        kernel = self.params["W"]
        kh, kw, c, f = kernel.shape
        k, m = kh * kw * c, n * oh * ow
        dtype = np.result_type(xp.dtype, kernel.dtype)
        extra = 1 if self.use_bias else 0
        # im2col: the one copy of the windows, into a reused buffer. With a bias, the column matrix gets one
        # more column of ones and the kernel one more row (b): the same product then adds the bias, and in
        # backward the same transposed product yields db next to dW (the "bias trick").
        if self._offset_major(c, ow):
            buf = self._cols.get((k + extra, m), dtype)
            buf[:k].reshape(kh, kw, c, n, oh, ow)[...] = self.window.view(xp, oh, ow, offset_major=True)
            if extra:
                buf[k] = 1
            cols = buf.T
        else:
            buf = self._cols.get((m, k + extra), dtype)
            row = buf.strides[0]
            item = buf.itemsize
            target = np.lib.stride_tricks.as_strided(
                buf, shape=(n, oh, ow, kh, kw, c),
                strides=(oh * ow * row, ow * row, row, kw * c * item, c * item, item))
            target[...] = self.window.view(xp, oh, ow)
            if extra:
                buf[:, k] = 1
            cols = buf
        weights = kernel.reshape(k, f)
        if extra:
            weights = np.concatenate([weights, self.params["b"].reshape(1, f).astype(weights.dtype)])
        self.cols, self.xp_shape, self.x_shape, self.out_hw = cols, xp.shape, x.shape, (oh, ow)
        if cols is buf:
            self.z = (cols @ weights).reshape(n, oh, ow, f)
            self.y = self.z if self.output_logits else self.activation.forward(self.z)
            return self.y
        # Offset-major columns: Zᵀ = W_matᵀ · X_colᵀ, an (F, N·OH·OW) product whose long side is contiguous in
        # both operands (1.7-1.9x faster in OpenBLAS than X_col · W_mat with X_col transposed). z and y are the
        # NHWC views of that channel-major memory ("channels-outer"); an elementwise activation runs on the
        # contiguous (F, N·OH·OW) array, and the layers after this one keep the layout (see _like).
        zt = weights.T @ buf
        self.z = zt.T.reshape(n, oh, ow, f)
        if self.output_logits:
            self.y = self.z
        elif self.activation.elementwise:
            self.y = self.activation.forward(zt).T.reshape(n, oh, ow, f)
        else:
            self.y = self.activation.forward(self.z)
        return self.y

    def _dz(self, dy):
        """dZ = act'(z) ⊙ dy as an (N·OH·OW, F) matrix — a view when dy's memory allows (C- or channel-major)."""
        if self.output_logits:
            dz = dy
        elif self.activation.elementwise and _channels_outer(self.z) and _channels_outer(self.y):
            f = self.filters
            as_t = [a.reshape(-1, f).T for a in (dy, self.z, self.y)]   # (F, M) views, contiguous when channels-outer
            return self.activation.backward(*as_t).T
        else:
            dz = self.activation.backward(dy, self.z, self.y)
        return dz.reshape(-1, self.filters)

    def backward(self, dy):
        """dW, db into ``grads``; returns dx — for stride 1 a view into this layer's scratch buffer, valid until
        its next ``backward`` (the model sums gradients out of place, so nothing holds on to it longer)."""
        dz2 = self._dz(dy)
        kernel = self.params["W"]
        if self._pointwise():
            return self._pointwise_backward(dz2, kernel)
        k = kernel.shape[0] * kernel.shape[1] * kernel.shape[2]
        if "W" in self.grads:
            grad = self.cols.T @ dz2      # (k [+ 1], F): dW, then db in the bias-trick row
            self.grads["W"][...] = grad[:k].reshape(kernel.shape)
            if self.use_bias:
                self.grads["b"][...] = grad[k]
        if not self.needs_input_grad:
            return None
        if self.window.strides == (1, 1):
            return self._col2im_rows(dz2, kernel)
        # Column gradients in offset-major layout (kh, kw, C, N, OH, OW): each kernel offset's block is then a
        # contiguous (C, N, OH, OW) array, so col2im adds whole output rows.
        dcols = kernel.reshape(k, self.filters) @ dz2.T
        return self._col2im(dcols)

    def _pointwise_backward(self, dz2, kernel):
        """dW = Xᵀ·dZ, db = 1ᵀ·dZ, dX = dZ·Wᵀ over the (N·H·W) pixel rows (as Dense)."""
        x2 = self.x.reshape(-1, self.x.shape[-1])
        w2 = kernel.reshape(kernel.shape[2], self.filters)
        if "W" in self.grads:
            np.matmul(x2.T, dz2, out=self.grads["W"].reshape(w2.shape))
            if self.use_bias:
                self.grads["b"][...] = dz2.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return (dz2 @ w2.T).reshape(self.x.shape)

    def _col2im(self, dcols):
        """Scatter-add the column gradients back onto the input: one strided add per kernel offset (kh·kw).

        The sum runs in a (C, N, H, W) buffer, matching the layout of the blocks of ``dcols``; dx is its
        transpose back to NHWC, with the "same" padding cropped off.
        """
        n, _, _, c = self.x_shape
        oh, ow = self.out_hw
        _, hp, wp, _ = self.xp_shape
        blocks = dcols.reshape(-1, c, n, oh, ow)
        dxp = self._dxp.get((c, n, hp, wp), dcols.dtype)
        dxp[...] = 0
        for block, (rows, cols) in zip(blocks, self.window.offsets(oh, ow)):
            dxp[:, :, rows, cols] += block
        return self._crop(dxp)

    def _col2im_rows(self, dz2, kernel):
        """dx for stride 1: a product over (kernel column j, filter f), then one contiguous add per kernel row i.

        dxp[c, n, h, w] = Σ_{i, j, f} W[i, j, c, f] · dZ[n, h − i·dh, w − j·dw, f]  (dZ = 0 outside its range).

        Lay dZ out channel-major with every row widened to U = Wp + L columns, L = (kw − 1)·dw zeros on the left:
        D[f, n, oh, L + ow] = dZ[n, oh, ow, f]. Flattened per filter, the shift w − j·dw is then one contiguous
        slice of D, so the (kw·F, N·OH·U) column matrix S[(j, f), (n, oh, w)] = D[f, n, oh, w − j·dw + L] is kw
        contiguous copies (columns w ≥ Wp run into the next row: junk, which stays in columns that are cropped).
        One product G = W_r · S with W_r[(i, c), (j, f)] = W[i, j, c, f] does the sum over j and f; the sum over i
        adds G's block i, shifted down i·dh rows, i.e. by i·dh·U in the flattened (Hp·U) image. Compared with
        im2col's col2im (dX_col = dZ·W_matᵀ, then kh·kw adds of whole blocks) this is kh adds of (C, N·OH·U)
        blocks: LeNet-5's second layer adds 0.17 M values instead of 0.67 M (the plain col2im is the test's
        reference).
        """
        n, _, _, c = self.x_shape
        oh, ow = self.out_hw
        _, hp, wp, _ = self.xp_shape
        f = self.filters
        (kh, kw), (dh, dw) = self.window.kernel, self.window.dilation
        left = (kw - 1) * dw
        u = wp + left
        run = n * oh * u
        d = _scratch(self, "_dz_wide").get((f, run + left), dz2.dtype)      # + left: room for the last shift
        rows = d[:, :run].reshape(f, n, oh, u)
        rows[..., :left] = 0
        rows[..., left + ow:] = 0
        d[:, run:] = 0
        rows[..., left:left + ow] = dz2.T.reshape(f, n, oh, ow)
        s_cols = _scratch(self, "_dz_cols").get((kw, f, run), dz2.dtype)
        for j in range(kw):
            s_cols[j] = d[:, left - j * dw:left - j * dw + run]
        w_r = kernel.transpose(0, 2, 1, 3).reshape(kh * c, kw * f)
        g = (w_r @ s_cols.reshape(kw * f, run)).reshape(kh, c, n, oh * u)
        flat = self._dxp.get((c, n, hp * u), g.dtype)
        flat[...] = 0
        for i in range(kh):
            flat[:, :, i * dh * u:i * dh * u + oh * u] += g[i]
        return self._crop(flat.reshape(c, n, hp, u))

    def _crop(self, dxp):
        """dx in NHWC from the (C, N, Hp, Wp) gradient of the padded input: drop the padding, transpose — both as
        views, no copy. dx is channels-outer (as this layer's offset-major output) and lives in a scratch buffer
        that the layer's next backward pass overwrites."""
        _, h, w, _ = self.x_shape
        (pt, _), (pl, _) = self.window.pads(h, w)
        return dxp[:, :, pt:pt + h, pl:pl + w].transpose(1, 2, 3, 0)


# ---------------------------------------------------------------------------------------------------- pooling

class _Pool2D(Layer):
    """Shared parts of the 2-D pooling layers: arguments, shapes, padding, and the scatter of the gradient."""

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name=name)
        owner = type(self).__name__
        pool = _pair(owner, "pool_size", pool_size)
        stride = pool if strides is None else _pair(owner, "strides", strides)
        self.pool_size = _compact(pool)
        self.strides = None if strides is None else _compact(stride)
        self.padding = _padding(owner, padding)
        self.window = _Window(pool, stride, (1, 1), self.padding)
        self._dxp = _Buffer()

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ShapeError(f"layer {self.name!r} ({type(self).__name__}) needs 4-D NHWC input (batch, height, "
                             f"width, channels), got input shape {input_shape}")
        _check_fits(self, type(self).__name__, self.window, input_shape[1], input_shape[2])
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        oh, ow = self.window.output_hw(input_shape[1], input_shape[2])
        return (input_shape[0], oh, ow, input_shape[3])

    def _prepare(self, x, fill):
        """Check x, pad it with ``fill`` for "same", and return (padded x, OH, OW)."""
        _check_image(self, x, type(self).__name__)
        n, h, w, c = x.shape
        _check_fits(self, type(self).__name__, self.window, h, w)
        oh, ow = self.window.output_hw(h, w)
        (pt, pb), (pl, pr) = self.window.pads(h, w)
        self.x_shape, self.out_hw, self.pad_tl = x.shape, (oh, ow), (pt, pl)
        xp = pad_border(x, ((pt, pb), (pl, pr)), fill=fill)
        self.xp_shape, self.xp = xp.shape, xp
        return xp, oh, ow

    def _scatter(self, dtype, write):
        """dx assembled from ``write(k, rows, cols, out)``, which puts kernel offset k's share of the gradient,
        an (N, OH, OW, C) array, into ``out``. Disjoint windows write straight into dx; overlapping ones add up."""
        n, h, w, c = self.x_shape
        oh, ow = self.out_hw
        padded = self.xp_shape != self.x_shape
        dxp = self._dxp.get(self.xp_shape, dtype) if padded else _like(self.xp).astype(dtype, copy=False)
        (ph, pw), (sh, sw) = self.window.kernel, self.window.strides
        overlap = ph > sh or pw > sw
        # Windows that tile the input exactly write every pixel once, so dx needs no zeroing; otherwise
        # overlapping windows accumulate and uncovered pixels must read 0.
        if not (ph == sh and pw == sw and oh * sh == dxp.shape[1] and ow * sw == dxp.shape[2]):
            dxp[...] = 0
        share = _like(dxp, (n, oh, ow, c)) if overlap else None
        for k, (rows, cols) in enumerate(self.window.offsets(oh, ow)):
            if overlap:
                write(k, rows, cols, share)
                dxp[:, rows, cols, :] += share
            else:
                write(k, rows, cols, dxp[:, rows, cols, :])
        if not padded:
            return dxp
        pt, pl = self.pad_tl
        return dxp[:, pt:pt + h, pl:pl + w, :].copy(order="K")


@registry.register("max_pool2d", "maxpool2d", "max_pooling2d", "maxpooling2d")
class MaxPool2D(_Pool2D):
    """Max pooling: ``y[n, oh, ow, c] = max_{i, j} xp[n, oh·sh + i, ow·sw + j, c]``.

    The gradient goes entirely to the arg-max of each window (dy at that pixel, 0 elsewhere; overlapping windows
    add up). Ties go to the *first* maximum in row-major window order, as TensorFlow does. "same" padding pads
    with −∞ so padded cells never win.
    """

    def forward(self, x, training=False):
        xp, oh, ow = self._prepare(x, -np.inf)
        views = [xp[:, rows, cols, :] for rows, cols in self.window.offsets(oh, ow)]
        if training:
            # One strided copy per kernel offset gathers its values into a contiguous block (the input's memory
            # layout, C-ordered NHWC or channels-outer): the maxima below and the masks of backward then run as
            # contiguous SIMD loops, ~3x faster than on the strided views (the plain version: blocks = views).
            c, n = x.shape[3], x.shape[0]
            if _channels_outer(xp) and not xp.flags.c_contiguous:
                blocks = _scratch(self, "_blocks").get((len(views), c, n, oh, ow), x.dtype).transpose(0, 2, 3, 4, 1)
            else:
                blocks = _scratch(self, "_blocks").get((len(views), n, oh, ow, c), x.dtype)
            for block, view in zip(blocks, views):
                np.copyto(block, view)
        else:
            blocks = views
        # The output handed on is C-ordered NHWC (a copy only for a channels-outer input, a quarter of its size
        # for 2×2 pooling); the layer keeps y in the blocks' layout for backward.
        y = blocks[0].copy(order="K")
        for block in blocks[1:]:
            np.maximum(y, block, out=y)
        self.y, self.blocks = y, blocks
        return np.ascontiguousarray(y)

    def backward(self, dy):
        # Offset k (row-major order) receives dy where it holds the window's maximum and no earlier offset did:
        # that is TensorFlow's "first maximum wins" rule for ties. Masks are rebuilt here from the cached blocks
        # and output, which is cheaper than tracking arg-max indices during the forward pass.
        y, blocks = self.y, self.blocks
        taken = None     # pixels whose maximum an earlier offset already claimed

        def write(k, rows, cols, out):
            nonlocal taken
            first = np.equal(blocks[k], y)
            if taken is None:
                taken = first
            else:
                np.greater(first, taken, out=first)        # first ∧ ¬taken (booleans)
                np.logical_or(taken, first, out=taken)
            np.multiply(dy, first, out=out)

        return self._scatter(dy.dtype, write)


@registry.register("average_pooling2d", "avgpool2d", "avg_pool2d", "averagepooling2d", "avgpooling2d")
class AveragePooling2D(_Pool2D):
    """Average pooling: ``y[n, oh, ow, c] = (1/|window|) Σ_{i, j} xp[n, oh·sh + i, ow·sw + j, c]``.

    With "same" padding the padded cells are not counted: |window| is the number of real pixels in the window
    (TensorFlow's rule). Backward: each pixel of a window receives dy / |window|.
    """

    def forward(self, x, training=False):
        xp, oh, ow = self._prepare(x, 0)
        (rows, cols), *rest = self.window.offsets(oh, ow)
        y = xp[:, rows, cols, :].copy(order="K")
        for rows, cols in rest:
            y += xp[:, rows, cols, :]
        self.inv_count = self._inverse_counts(x.shape, oh, ow, x.dtype)
        y *= self.inv_count
        return np.ascontiguousarray(y)

    def _inverse_counts(self, shape, oh, ow, dtype):
        """1/|window| as a scalar, or with padding as an (OH, OW, C) array (repeated over the channels so that the
        broadcast over the batch runs in long contiguous rows)."""
        _, h, w, c = shape
        (pt, pb), (pl, pr) = self.window.pads(h, w)
        ph, pw = self.window.kernel
        if not (pt or pb or pl or pr):
            return dtype.type(1.0 / (ph * pw))
        real = np.zeros((h + pt + pb, w + pl + pr), dtype=dtype)
        real[pt:pt + h, pl:pl + w] = 1
        counts = sum(real[rows, cols] for rows, cols in self.window.offsets(oh, ow))
        return np.repeat((1.0 / counts)[:, :, None], c, axis=2).astype(dtype)

    def backward(self, dy):
        share = dy * self.inv_count

        def write(k, rows, cols, out):
            out[...] = share

        return self._scatter(dy.dtype, write)


@registry.register("global_average_pooling2d", "globalaveragepooling2d", "global_avg_pool2d", "gap2d")
class GlobalAveragePooling2D(Layer):
    """Mean over the spatial axes: ``y[n, c] = (1/(H·W)) Σ_{h, w} x[n, h, w, c]``; dx = dy / (H·W) everywhere.

    ``keepdims=True`` keeps the output as (N, 1, 1, C), as Keras's argument of that name.
    """

    def __init__(self, keepdims=False, name=None):
        super().__init__(name=name)
        self.keepdims = check_bool(type(self).__name__, "keepdims", keepdims)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ShapeError(f"layer {self.name!r} (GlobalAveragePooling2D) needs 4-D NHWC input, "
                             f"got input shape {input_shape}")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[3])
        return (input_shape[0], input_shape[3])

    def forward(self, x, training=False):
        _check_image(self, x, "GlobalAveragePooling2D")
        self.x_shape = x.shape
        return x.mean(axis=(1, 2), keepdims=self.keepdims)

    def backward(self, dy):
        n, h, w, c = self.x_shape
        dx = np.empty(self.x_shape, dtype=dy.dtype)
        dx[...] = dy.reshape(n, 1, 1, c) * dy.dtype.type(1.0 / (h * w))
        return dx


MaxPooling2D = MaxPool2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D

__all__ = ["Conv2D", "MaxPool2D", "MaxPooling2D", "AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "output_length", "same_padding", "pad_border"]
