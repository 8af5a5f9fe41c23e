"""Merge layers: called on a list of tensors, they return one. ``Add()([y, x])`` is the residual shortcut.

A merge layer's ``forward`` takes a list of k arrays and ``backward`` returns a list of k gradients, one per input
(the model sums gradients where a tensor feeds several layers). Inputs must have the same shape (the batch axis
may differ in None-ness only), except Concatenate, which joins along ``axis``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import ShapeError, SpecError
from .base import Layer, registry


def _describe(shapes):
    from ..graph import shape_text
    return shape_text([tuple(s) for s in shapes])


def _sum(xs):
    """x_0 + x_1 + ... in one new array (the inputs are never written)."""
    y = xs[0] + xs[1]
    for x in xs[2:]:
        y += x
    return y


class _Merge(Layer):
    """Shared parts: argument checks and the equal-shape rule."""

    multi_input = True
    min_inputs, max_inputs = 2, None

    def __init__(self, name=None):
        super().__init__(name=name)

    def check_input_shape(self, input_shapes):
        kind = type(self).__name__
        if not isinstance(input_shapes, (list, tuple)) or not all(isinstance(s, tuple) for s in input_shapes):
            raise ShapeError(f"layer {self.label!r} ({kind}) must be called on a list of tensors, e.g. "
                             f"{kind}()([a, b])")
        k = len(input_shapes)
        if k < self.min_inputs or (self.max_inputs is not None and k > self.max_inputs):
            wanted = (f"exactly {self.min_inputs}" if self.min_inputs == self.max_inputs
                      else f"at least {self.min_inputs}")
            raise ShapeError(f"layer {self.label!r} ({kind}) takes {wanted} inputs, got {k}")
        self._check_shapes([tuple(s) for s in input_shapes])

    def _check_shapes(self, shapes):
        first = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(first) or any(a is not None and b is not None and a != b
                                           for a, b in zip(first[1:], s[1:])):
                raise ShapeError(f"layer {self.label!r} ({type(self).__name__}) needs inputs of the same shape, "
                                 f"got {_describe(shapes)}")

    def build(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        self.check_input_shape(shapes)
        self.input_shape = shapes
        self.output_shape = tuple(self.compute_output_shape(shapes))
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def _check_arrays(self, xs):
        if not isinstance(xs, (list, tuple)):
            raise ShapeError(f"layer {self.label!r} ({type(self).__name__}) must be given a list of arrays")
        self.check_input_shape([tuple(x.shape) for x in xs])
        batch = {x.shape[0] for x in xs}
        if len(batch) > 1:
            raise ShapeError(f"layer {self.label!r} ({type(self).__name__}): inputs have different batch sizes "
                             f"{sorted(batch)}")


@registry.register("add")
class Add(_Merge):
    """Element-wise sum ``y = Σ_i x_i``; each input receives the whole gradient, ``dx_i = dy``."""

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        self.k = len(xs)
        return _sum(xs)

    def backward(self, dy):
        return [dy] * self.k


@registry.register("subtract")
class Subtract(_Merge):
    """``y = x_0 − x_1`` (exactly two inputs); ``dx_0 = dy``, ``dx_1 = −dy``."""

    min_inputs = max_inputs = 2

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        return xs[0] - xs[1]

    def backward(self, dy):
        return [dy, -dy]


@registry.register("multiply")
class Multiply(_Merge):
    """Element-wise product ``y = Π_i x_i``; ``dx_i = dy · Π_{j≠i} x_j``."""

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        self.xs = list(xs)
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y *= x
        return y

    def backward(self, dy):
        grads = []
        for i in range(len(self.xs)):
            g = dy
            for j, x in enumerate(self.xs):
                if j != i:
                    g = g * x
            grads.append(g)
        return grads


@registry.register("average")
class Average(_Merge):
    """Element-wise mean ``y = (1/k) Σ_i x_i``; ``dx_i = dy / k``."""

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        self.k = len(xs)
        y = _sum(xs)
        y *= y.dtype.type(1.0 / self.k)
        return y

    def backward(self, dy):
        share = dy * dy.dtype.type(1.0 / self.k)
        return [share] * self.k


@registry.register("concatenate", "concat")
class Concatenate(_Merge):
    """Join along ``axis`` (default the last, the channels): ``y = [x_0 | x_1 | ...]``; ``dx_i`` is the slice of
    ``dy`` that ``x_i`` filled. The other axes must match."""

    def __init__(self, axis=-1, name=None):
        super().__init__(name=name)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise SpecError(f"Concatenate: argument 'axis' must be an integer, got {axis!r}")
        self.axis = int(axis)

    def _axis(self, ndim):
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= axis < ndim:
            raise ShapeError(f"layer {self.label!r} (Concatenate): axis {self.axis} is out of range for inputs of "
                             f"rank {ndim} (axis 0, the batch, cannot be joined)")
        return axis

    def _check_shapes(self, shapes):
        ranks = {len(s) for s in shapes}
        if len(ranks) > 1:
            raise ShapeError(f"layer {self.label!r} (Concatenate) needs inputs of the same rank, got "
                             f"{_describe(shapes)}")
        axis = self._axis(len(shapes[0]))
        for s in shapes[1:]:
            if any(a is not None and b is not None and a != b
                   for d, (a, b) in enumerate(zip(shapes[0], s)) if d not in (0, axis)):
                raise ShapeError(f"layer {self.label!r} (Concatenate) along axis {self.axis}: the other axes must "
                                 f"match, got {_describe(shapes)}")

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        axis = self._axis(len(shapes[0]))
        sizes = [s[axis] for s in shapes]
        joined = None if any(n is None for n in sizes) else sum(sizes)
        return shapes[0][:axis] + (joined,) + shapes[0][axis + 1:]

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        axis = self._axis(xs[0].ndim)
        self.split_at = np.cumsum([x.shape[axis] for x in xs])[:-1]
        self.axis_ = axis
        return np.concatenate(xs, axis=axis)

    def backward(self, dy):
        return np.split(dy, self.split_at, axis=self.axis_)


__all__ = ["Add", "Subtract", "Multiply", "Average", "Concatenate"]
