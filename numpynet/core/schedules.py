"""Learning-rate schedules: the learning rate as a function of the optimizer step (Keras 3 formulas).

A schedule is called with ``step`` = the optimizer's ``iterations`` *before* the update it is used for, so the very
first update uses ``schedule(0)``::

    >>> sched = get("exponential_decay(0.1, 100, 0.96)")
    >>> sched(0), sched(100)           # 0.1, 0.096
    >>> nn.optimizers.get("sgd(learning_rate='cosine_decay(0.1, 1000)')")   # inside an optimizer spec

Every schedule returns a Python float. Writing η₀ for ``initial_learning_rate``, s for the step and S for
``decay_steps``:

================================  ==============================================================================
``exponential_decay``             η₀ · r^(s/S)            (``staircase=True``: r^⌊s/S⌋)
``inverse_time_decay``            η₀ / (1 + r · s/S)      (``staircase=True``: ⌊s/S⌋)
``piecewise_constant_decay``      values[0] while s ≤ b₀, values[i] while b_{i−1} < s ≤ b_i, values[−1] after b_last
``cosine_decay``                  η₀ · ((1 − α) · ½(1 + cos(π · min(s, S)/S)) + α)
================================  ==============================================================================

``cosine_decay`` with ``warmup_target`` first rises linearly from η₀ to the target over ``warmup_steps``
(η₀ + (target − η₀)·s/W for s < W) and then decays from the target as above with s − W in place of s.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import SpecError
from .spec import Configurable, Registry, check_bool, check_number, to_json

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "InverseTimeDecay", "CosineDecay",
           "registry", "get", "serialize"]


class LearningRateSchedule(Configurable):
    """Base class: ``schedule(step) -> float``, the learning rate to use for the update at optimizer step ``step``
    (0 for the first update)."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")


registry = Registry("schedule", LearningRateSchedule)


# ---------------------------------------------------------------------------------------------------- validation

def _check_count(owner, arg, value, *, strict):
    """A step count: a number > 0 (``strict``) or >= 0; integers stay integers so ``str()`` reads ``100``."""
    number = check_number(owner, arg, value, minimum=0, strict=strict)
    return int(value) if isinstance(value, numbers.Integral) else number


def _step(owner, step):
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, numbers.Real):
        raise SpecError(f"{owner}: the step must be a number (the optimizer's iterations), got {step!r}")
    return float(step)


# ---------------------------------------------------------------------------------------------------- schedules

class _RateDecay(LearningRateSchedule):
    """What exponential and inverse-time decay share: η₀, S, r, ``staircase`` and the progress p = s/S (⌊s/S⌋)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        owner = type(self).__name__
        self.initial_learning_rate = check_number(owner, "initial_learning_rate", initial_learning_rate, minimum=0)
        self.decay_steps = _check_count(owner, "decay_steps", decay_steps, strict=True)
        self.decay_rate = check_number(owner, "decay_rate", decay_rate, minimum=0)
        self.staircase = check_bool(owner, "staircase", staircase)

    def _progress(self, step):
        p = _step(type(self).__name__, step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return p


@registry.register("exponential_decay", "exponentialdecay")
class ExponentialDecay(_RateDecay):
    """η(s) = η₀ · r^(s/S); with ``staircase=True`` the exponent is ⌊s/S⌋, so η drops by a factor r every S steps.

    ``initial_learning_rate`` η₀ >= 0, ``decay_steps`` S > 0, ``decay_rate`` r >= 0.
    """

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


@registry.register("piecewise_constant_decay", "piecewiseconstantdecay", "piecewise_constant")
class PiecewiseConstantDecay(LearningRateSchedule):
    """A step function: ``values[0]`` while s ≤ ``boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1]`` < s ≤ ``boundaries[i]``, and ``values[-1]`` once s > ``boundaries[-1]``.

    ``boundaries``: strictly increasing numbers (at least one); ``values``: one more learning rate (>= 0) than
    boundaries. Note the boundary step itself still uses the earlier value (Keras's ``step <= boundary``).
    """

    def __init__(self, boundaries, values):
        owner = type(self).__name__
        if not isinstance(boundaries, (list, tuple)) or not boundaries:
            raise SpecError(f"{owner}: argument 'boundaries' must be a non-empty list of steps, got {boundaries!r}")
        if not isinstance(values, (list, tuple)):
            raise SpecError(f"{owner}: argument 'values' must be a list of learning rates, got {values!r}")
        bounds = [_keep_type(check_number(owner, "boundaries", b), b) for b in boundaries]
        if any(b >= c for b, c in zip(bounds, bounds[1:])):
            raise SpecError(f"{owner}: argument 'boundaries' must be strictly increasing, got {list(boundaries)!r}")
        if len(values) != len(bounds) + 1:
            raise SpecError(f"{owner}: argument 'values' must have one more entry than 'boundaries' "
                            f"({len(bounds) + 1}), got {len(values)}: {list(values)!r}")
        # lists, as Keras's get_config has them (the spec round trip treats lists and tuples alike)
        self.boundaries = bounds
        self.values = [_keep_type(check_number(owner, "values", v, minimum=0), v) for v in values]

    def __call__(self, step):
        s = _step(type(self).__name__, step)
        for boundary, value in zip(self.boundaries, self.values):
            if s <= boundary:
                return float(value)
        return float(self.values[-1])


def _keep_type(number, original):
    return int(original) if isinstance(original, numbers.Integral) else number


@registry.register("inverse_time_decay", "inversetimedecay", "inverse_time")
class InverseTimeDecay(_RateDecay):
    """η(s) = η₀ / (1 + r · s/S); with ``staircase=True``, ⌊s/S⌋ in place of s/S.

    ``initial_learning_rate`` η₀ >= 0, ``decay_steps`` S > 0, ``decay_rate`` r >= 0.
    """

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


@registry.register("cosine_decay", "cosinedecay", "cosine")
class CosineDecay(LearningRateSchedule):
    """Cosine decay (SGDR without restarts), with an optional linear warmup.

    Without warmup (``warmup_target=None``), from η₀ down to α·η₀ over S = ``decay_steps`` steps, then flat::

        η(s) = η₀ · ((1 − α) · ½(1 + cos(π · min(s, S) / S)) + α)

    With ``warmup_target`` T and W = ``warmup_steps``: η(s) = η₀ + (T − η₀) · s/W for s < W, then the decay above
    from T instead of η₀, at step min(s, W + S) − W.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        owner = type(self).__name__
        self.initial_learning_rate = check_number(owner, "initial_learning_rate", initial_learning_rate, minimum=0)
        self.decay_steps = _check_count(owner, "decay_steps", decay_steps, strict=True)
        self.alpha = check_number(owner, "alpha", alpha, minimum=0, maximum=1)
        self.warmup_target = check_number(owner, "warmup_target", warmup_target, minimum=0, allow_none=True)
        self.warmup_steps = _check_count(owner, "warmup_steps", warmup_steps, strict=False)

    def _decay(self, step, start):
        cosine = 0.5 * (1.0 + math.cos(math.pi * (step / self.decay_steps)))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        s = _step(type(self).__name__, step)
        if self.warmup_target is None:
            # Keras ignores warmup_steps when there is no warmup target
            return self._decay(min(s, self.decay_steps), self.initial_learning_rate)
        s = min(s, self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            return (self.warmup_target - self.initial_learning_rate) * (s / self.warmup_steps) \
                + self.initial_learning_rate
        return self._decay(s - self.warmup_steps, self.warmup_target)


# ---------------------------------------------------------------------------------------------------- lookup

def get(identifier):
    """A schedule from a spec string (``"cosine_decay(0.1, 1000)"``), a ``{"name", "config"}`` dict or an
    instance (returned as is)."""
    return registry.get(identifier)


def serialize(obj):
    """``{"name": ..., "config": {...}}`` of a schedule (JSON-safe)."""
    return to_json(obj)
