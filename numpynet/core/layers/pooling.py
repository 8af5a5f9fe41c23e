"""Pooling on NHWC images: MaxPool2D, AveragePooling2D, GlobalAveragePooling2D (window geometry: :mod:`.windows`).

Pooling loops only over the few kernel offsets (kh·kw, typically 4), never over the batch or the pixels; each
offset's slice is a strided view of the (padded) input.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..spec import check_bool
from .base import Layer, registry
from .windows import (
    _Buffer,
    _channels_outer,
    _check_fits,
    _check_image,
    _compact,
    _like,
    _padding,
    _pair,
    _scratch,
    _Window,
    pad_border,
)


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

__all__ = ["MaxPool2D", "MaxPooling2D", "AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D", "GlobalAvgPool2D"]
