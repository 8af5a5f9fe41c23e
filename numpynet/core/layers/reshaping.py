"""Layers that only move values around: ZeroPadding2D and Reshape (Flatten is in core.py)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import ShapeError, SpecError
from .base import Layer, registry
from .windows import _check_image, pad_border


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _padding_pairs(value):
    """((top, bottom), (left, right)) from an int, a pair (rows, columns) or a pair of pairs; SpecError otherwise."""
    if _is_int(value):
        pads = ((value, value), (value, value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        pads = ((value[0], value[0]), (value[1], value[1]))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (tuple, list)) and len(v) == 2 and all(_is_int(p) for p in v) for v in value):
        pads = (tuple(value[0]), tuple(value[1]))
    else:
        raise SpecError(f"ZeroPadding2D: argument 'padding' must be an integer, a pair of integers (rows, columns) "
                        f"or a pair of pairs ((top, bottom), (left, right)), got {value!r}")
    pads = tuple(tuple(int(p) for p in pair) for pair in pads)
    if min(min(pair) for pair in pads) < 0:
        raise SpecError(f"ZeroPadding2D: argument 'padding' must not be negative, got {value!r}")
    return pads


@registry.register("zero_padding2d", "zeropadding2d", "zero_pad2d")
class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around NHWC images.

    ``padding``: an int p (p on every side), a pair (p_h, p_w) (p_h above and below, p_w left and right) or
    ((top, bottom), (left, right)), as Keras. Shapes: x (N, H, W, C), y (N, top + H + bottom, left + W + right, C).
    Forward ``y[:, top:top + H, left:left + W] = x``, zeros elsewhere; backward crops:
    ``dx = dy[:, top:top + H, left:left + W]``.
    """

    def __init__(self, padding=(1, 1), name=None):
        super().__init__(name=name)
        self.pads = _padding_pairs(padding)
        (top, bottom), (left, right) = self.pads
        # the attribute in its shortest form, so that str(layer) stays short and round-trips
        self.padding = (top, left) if (top == bottom and left == right) else self.pads

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ShapeError(f"layer {self.name!r} (ZeroPadding2D) needs 4-D NHWC input (batch, height, width, "
                             f"channels), got input shape {input_shape}")
        (top, bottom), (left, right) = self.pads
        n, h, w, c = input_shape
        return (n, None if h is None else h + top + bottom, None if w is None else w + left + right, c)

    def forward(self, x, training=False):
        _check_image(self, x, "ZeroPadding2D")
        self.x_shape = x.shape
        return pad_border(x, self.pads)

    def backward(self, dy):
        _, h, w, _ = self.x_shape
        (top, _), (left, _) = self.pads
        return np.ascontiguousarray(dy[:, top:top + h, left:left + w])


def _target(value):
    if _is_int(value):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value or not all(_is_int(v) for v in value):
        raise SpecError(f"Reshape: argument 'target_shape' must be a tuple of integers (the shape of one sample, "
                        f"without the batch axis; one entry may be -1), got {value!r}")
    value = tuple(int(v) for v in value)
    if any(v < 1 and v != -1 for v in value) or value.count(-1) > 1:
        raise SpecError(f"Reshape: argument 'target_shape' takes positive sizes and at most one -1, got {value!r}")
    return value


@registry.register("reshape")
class Reshape(Layer):
    """Reshapes every sample to ``target_shape`` (the batch axis excluded; one entry may be -1, inferred).

    Shapes: x (N, d1, d2, ...), y (N, *target_shape) with the same number of values per sample. Forward
    ``y = x.reshape(N, *target_shape)`` (no copy for contiguous x); backward ``dx = dy.reshape(x.shape)``.
    """

    def __init__(self, target_shape, name=None):
        super().__init__(name=name)
        self.target_shape = _target(target_shape)

    def _resolved(self, sample_shape):
        """The target for samples of ``sample_shape`` (-1 filled in; None where sizes are unknown), else a
        ShapeError naming the layer and both shapes."""
        target = self.target_shape
        if any(d is None for d in sample_shape):
            return tuple(None if t == -1 else t for t in target)
        size = math.prod(sample_shape)
        known = math.prod(t for t in target if t != -1)
        if (size % known if -1 in target else size != known):
            raise ShapeError(f"layer {self.name!r} (Reshape): cannot reshape samples of shape {tuple(sample_shape)} "
                             f"({size} values) to target_shape {target} ({'a multiple of ' if -1 in target else ''}"
                             f"{known} values)")
        return tuple(size // known if t == -1 else t for t in target)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(tuple(input_shape[1:]))

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.reshape((x.shape[0],) + self._resolved(x.shape[1:]))

    def backward(self, dy):
        return dy.reshape(self.x_shape)


__all__ = ["ZeroPadding2D", "Reshape"]
