"""Weight constraints: projections applied to a parameter after every optimizer step.

Where a regularizer *discourages* large weights through the loss, a constraint *enforces* a property by moving the
weights back into an allowed set after each update (projected gradient descent)::

    w ← step(w);  w ← constraint(w)

The norm constraints act on the weight vector of each unit: the vector ‖w‖ is taken over ``axis`` — 0 for a Dense
kernel (in, out), so each column (the incoming weights of one output unit) is handled on its own; ``(0, 1, 2)``
for a Conv2D kernel (kh, kw, c_in, c_out), one norm per filter. With n = ‖w‖ over the axis and ε = 1e-7 (Keras's
``backend.epsilon()``), exactly as Keras 3:

==========================================  ===========================================  ====================
spec                                        w ←                                          Keras
==========================================  ===========================================  ====================
``max_norm(max_value=2.0, axis=0)``         w · clip(n, 0, M) / (ε + n)                  ``MaxNorm``
``non_neg``                                 max(w, 0)                                    ``NonNeg``
``unit_norm(axis=0)``                       w / (ε + n)                                  ``UnitNorm``
``min_max_norm(min_value=0.0,               w · (r·clip(n, m, M) + (1 − r)·n) / (ε + n)  ``MinMaxNorm``
max_value=1.0, rate=1.0, axis=0)``
==========================================  ===========================================  ====================

Max-norm (Srebro et al. 2005; used with dropout by Hinton et al. 2012) caps each unit's incoming weight vector at
length M and leaves shorter ones (almost: the ε) alone. ``rate`` < 1 in min-max-norm moves the norm only part of
the way to the allowed interval per step. Every constraint returns a new array of the same shape and dtype.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ShapeError, SpecError
from .spec import Configurable, Registry, check_number, to_json

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "EPSILON", "registry", "get", "serialize"]

#: Keras's ``backend.epsilon()``: keeps the division finite for all-zero weight vectors.
EPSILON = 1e-7


def _check_axis(owner, axis):
    """An int, or a tuple of ints (lists are accepted and stored as tuples), else a SpecError."""
    def is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)
    if is_int(axis):
        return int(axis)
    if isinstance(axis, (list, tuple)) and axis and all(is_int(v) for v in axis):
        return tuple(int(v) for v in axis)
    raise SpecError(f"{owner}: argument 'axis' must be an int or a tuple of ints, got {axis!r}")


class Constraint(Configurable):
    """``con(w) -> projected w`` (a new array, same shape and dtype)."""

    def __init__(self):
        """No arguments (subclasses with hyper-parameters define their own); an explicit signature lets the spec
        parser reject unknown keywords by name."""

    def __call__(self, w):
        raise NotImplementedError


registry = Registry("constraint", Constraint, allow_none=True)


class _NormConstraint(Constraint):
    """Shared part of the norm constraints: the per-unit norms ‖w‖ over ``self.axis``, keeping dims."""

    def norms(self, w):
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        if any(not -w.ndim <= a < w.ndim for a in axes):
            raise ShapeError(f"{type(self).__name__}: axis {self.axis!r} does not exist for weights of shape "
                             f"{w.shape} ({w.ndim} dimensions)")
        return np.sqrt(np.sum(np.square(w), axis=self.axis, keepdims=True))


@registry.register("max_norm", "maxnorm")
class MaxNorm(_NormConstraint):
    """Caps the norm of each unit's weight vector at ``max_value``: w ← w · clip(n, 0, M) / (ε + n)."""

    def __init__(self, max_value=2.0, axis=0):
        self.max_value = check_number("MaxNorm", "max_value", max_value, minimum=0.0)
        self.axis = _check_axis("MaxNorm", axis)

    def __call__(self, w):
        w = np.asarray(w)
        n = self.norms(w)
        factor = np.clip(n, 0.0, self.max_value)
        factor /= n + EPSILON
        return w * factor


@registry.register("non_neg", "nonneg", "non_negative")
class NonNeg(Constraint):
    """Keeps weights non-negative: w ← max(w, 0)."""

    def __call__(self, w):
        return np.maximum(np.asarray(w), 0.0)


@registry.register("unit_norm", "unitnorm")
class UnitNorm(_NormConstraint):
    """Scales each unit's weight vector to length 1: w ← w / (ε + n)."""

    def __init__(self, axis=0):
        self.axis = _check_axis("UnitNorm", axis)

    def __call__(self, w):
        w = np.asarray(w)
        n = self.norms(w)
        n += EPSILON
        return w / n


@registry.register("min_max_norm", "minmaxnorm")
class MinMaxNorm(_NormConstraint):
    """Moves each unit's norm into [min_value, max_value] at ``rate``:
    w ← w · (r·clip(n, m, M) + (1 − r)·n) / (ε + n); rate 1 projects exactly, smaller rates part of the way."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = check_number("MinMaxNorm", "min_value", min_value, minimum=0.0)
        self.max_value = check_number("MinMaxNorm", "max_value", max_value, minimum=self.min_value)
        self.rate = check_number("MinMaxNorm", "rate", rate, minimum=0.0, maximum=1.0)
        self.axis = _check_axis("MinMaxNorm", axis)

    def __call__(self, w):
        w = np.asarray(w)
        n = self.norms(w)
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1.0 - self.rate) * n
        desired /= n + EPSILON
        return w * desired


def get(identifier):
    """A constraint from a spec (``"max_norm(max_value=3)"``), a ``{"name", "config"}`` dict or an instance;
    ``None`` / ``"none"`` give ``None`` (no constraint)."""
    return registry.get(identifier)


def serialize(obj):
    """``{"name": ..., "config": {...}}`` (what :func:`get` reads back); ``None`` stays ``None``."""
    return to_json(obj)
