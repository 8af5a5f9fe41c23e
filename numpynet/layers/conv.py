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

from .. import activations as _activations
from ..errors import ShapeError, SpecError
from ..spec import check_choice
from .base import Layer, registry

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


def zero_pad(x, pads, buffer=None):
    """The NHWC batch ``x`` with ``pads`` = ((top, bottom), (left, right)) rows/columns of zeros around it.

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
    xp[:, :pt], xp[:, pt + h:], xp[:, :, :pl], xp[:, :, pl + w:] = 0, 0, 0, 0
    xp[:, pt:pt + h, pl:pl + w, :] = x
    return xp


class _Buffer:
    """A scratch array reused from batch to batch (a fresh large allocation costs page faults every time).

    Arrays above ``limit`` bytes (e.g. the columns of a 4096-image inference batch) are handed out fresh and not
    kept, so one big ``predict`` does not pin hundreds of megabytes for the rest of the session.
    """

    limit = 64 * 2**20

    def __init__(self):
        self.array = None

    def get(self, shape, dtype):
        """An array of this shape and dtype, with whatever the previous user left in it."""
        if self.array is not None and self.array.shape == shape and self.array.dtype == dtype:
            return self.array
        array = np.empty(shape, dtype=dtype)
        self.array = array if array.nbytes <= self.limit else None
        return array


# ---------------------------------------------------------------------------------------------------- Conv2D

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
    the bias through the same products (db is then the last row of the dW product).
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
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
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
        if len(input_shape) != 4:
            raise ShapeError(f"layer {self.name!r} (Conv2D) needs 4-D NHWC input (batch, height, width, channels), "
                             f"got input shape {input_shape}")
        c_in = input_shape[-1]
        if c_in is None:
            raise ShapeError(f"layer {self.name!r} (Conv2D): the number of input channels must be known, "
                             f"got input shape {input_shape}")
        _check_fits(self, "Conv2D", self.window, input_shape[1], input_shape[2])
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
        return zero_pad(x, self.window.pads(x.shape[1], x.shape[2]), self._xp)

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
        z = (cols @ weights).reshape(n, oh, ow, f)
        self.cols, self.xp_shape, self.x_shape, self.out_hw = cols, xp.shape, x.shape, (oh, ow)
        self.z = z
        self.y = z if self.output_logits else self.activation.forward(z)
        return self.y

    def backward(self, dy):
        dz = dy if self.output_logits else self.activation.backward(dy, self.z, self.y)
        dz2 = np.ascontiguousarray(dz).reshape(-1, self.filters)
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
        """col2im for stride 1, with one contiguous add per kernel offset.

        With stride 1, kernel offset (i, j) adds its (OH, OW) block at rows i·dh.. and columns j·dw.. of the
        padded input. Give each block the padded width Wp (zero gradient in columns OW..Wp−1, obtained for free by
        padding dZ before the product): then in the flattened (Hp·Wp) image the block is one contiguous run
        starting at i·dh·Wp + j·dw, and its zero columns only spill zeros into the next row.
        """
        n, _, _, c = self.x_shape
        oh, ow = self.out_hw
        _, hp, wp, _ = self.xp_shape
        f = self.filters
        (kh, kw), (dh, dw) = self.window.kernel, self.window.dilation
        if ow < wp:
            dz_wide = np.zeros((n, oh, wp, f), dtype=dz2.dtype)
            dz_wide[:, :, :ow] = dz2.reshape(n, oh, ow, f)
        else:
            dz_wide = dz2.reshape(n, oh, wp, f)
        blocks = (kernel.reshape(-1, f) @ dz_wide.reshape(-1, f).T).reshape(kh * kw, c, n, oh * wp)
        run = oh * wp
        flat = self._dxp.get((c, n, hp * wp + (kw - 1) * dw), blocks.dtype)   # room for the last spill
        flat[...] = 0
        for idx, block in enumerate(blocks):
            i, j = divmod(idx, kw)
            start = i * dh * wp + j * dw
            flat[:, :, start:start + run] += block
        return self._crop(flat[:, :, :hp * wp].reshape(c, n, hp, wp))

    def _crop(self, dxp):
        """dx in NHWC from the (C, N, Hp, Wp) gradient of the padded input: drop the padding, transpose."""
        _, h, w, _ = self.x_shape
        (pt, _), (pl, _) = self.window.pads(h, w)
        return np.ascontiguousarray(dxp[:, :, pt:pt + h, pl:pl + w].transpose(1, 2, 3, 0))


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
        if pt or pb or pl or pr:
            xp = np.full((n, h + pt + pb, w + pl + pr, c), fill, dtype=x.dtype)
            xp[:, pt:pt + h, pl:pl + w, :] = x
        else:
            xp = x
        self.xp_shape = xp.shape
        return xp, oh, ow

    def _scatter(self, dtype, write):
        """dx assembled from ``write(k, rows, cols, out)``, which puts kernel offset k's share of the gradient,
        an (N, OH, OW, C) array, into ``out``. Disjoint windows write straight into dx; overlapping ones add up."""
        n, h, w, c = self.x_shape
        oh, ow = self.out_hw
        padded = self.xp_shape != self.x_shape
        dxp = self._dxp.get(self.xp_shape, dtype) if padded else np.empty(self.x_shape, dtype)
        (ph, pw), (sh, sw) = self.window.kernel, self.window.strides
        overlap = ph > sh or pw > sw
        # Windows that tile the input exactly write every pixel once, so dx needs no zeroing; otherwise
        # overlapping windows accumulate and uncovered pixels must read 0.
        if not (ph == sh and pw == sw and oh * sh == dxp.shape[1] and ow * sw == dxp.shape[2]):
            dxp[...] = 0
        share = np.empty((n, oh, ow, c), dtype) if overlap else None
        for k, (rows, cols) in enumerate(self.window.offsets(oh, ow)):
            if overlap:
                write(k, rows, cols, share)
                dxp[:, rows, cols, :] += share
            else:
                write(k, rows, cols, dxp[:, rows, cols, :])
        if not padded:
            return dxp
        pt, pl = self.pad_tl
        return dxp[:, pt:pt + h, pl:pl + w, :].copy()


@registry.register("max_pool2d", "maxpool2d", "max_pooling2d", "maxpooling2d")
class MaxPool2D(_Pool2D):
    """Max pooling: ``y[n, oh, ow, c] = max_{i, j} xp[n, oh·sh + i, ow·sw + j, c]``.

    The gradient goes entirely to the arg-max of each window (dy at that pixel, 0 elsewhere; overlapping windows
    add up). Ties go to the *first* maximum in row-major window order, as TensorFlow does. "same" padding pads
    with −∞ so padded cells never win.
    """

    def forward(self, x, training=False):
        xp, oh, ow = self._prepare(x, -np.inf)
        (rows, cols), *rest = self.window.offsets(oh, ow)
        y = xp[:, rows, cols, :].copy()
        for rows, cols in rest:
            np.maximum(y, xp[:, rows, cols, :], out=y)
        self.xp, self.y = xp, y
        return y

    def backward(self, dy):
        # Offset k (row-major order) receives dy where it holds the window's maximum and no earlier offset did:
        # that is TensorFlow's "first maximum wins" rule for ties. Masks are rebuilt here from the cached input
        # and output, which is cheaper than tracking arg-max indices during the forward pass.
        xp, y = self.xp, self.y
        last = self.window.kernel[0] * self.window.kernel[1] - 1
        taken = []     # pixels whose maximum an earlier offset already claimed

        def write(k, rows, cols, out):
            first = xp[:, rows, cols, :] == y
            if taken:
                first &= ~taken[0]
            if k == 0:
                taken.append(first.copy())
            elif k < last:
                taken[0] |= first
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
        y = xp[:, rows, cols, :].copy()
        for rows, cols in rest:
            y += xp[:, rows, cols, :]
        self.inv_count = self._inverse_counts(x.shape, oh, ow, x.dtype)
        y *= self.inv_count
        return y

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
        self.keepdims = bool(keepdims)

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
           "GlobalAvgPool2D", "output_length", "same_padding", "zero_pad"]
