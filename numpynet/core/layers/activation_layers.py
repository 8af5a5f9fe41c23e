"""Activation layers with arguments of their own: ReLU(max_value, negative_slope, threshold), as Keras's layer.

(The plain ``Activation("relu")`` layer lives in core.py; this one adds the cap, the slope and the threshold that
MobileNet's ``ReLU(6.0)`` needs.)
"""

from __future__ import annotations

import numpy as np

from .. import activations as _activations
from ..spec import check_number
from .base import Layer, registry


@registry.register("relu", "relu_layer")
class ReLU(Layer):
    """Rectified linear unit with an optional cap, leak and threshold (Keras's ``ReLU`` layer, same rules).

    With t = threshold, s = negative_slope and M = max_value (None: no cap), elementwise on any shape::

        y = min(x, M)       if x > t
        y = 0               if x = t
        y = s · (x − t)     if x < t

    (at x = t the output is 0, not min(t, M): Keras computes ``where(x > t, x, 0)`` and subtracts
    ``s · relu(t − x)``, both 0 there). Gradient, the subgradient tf.GradientTape gives on Keras's layer::

        dx = dy · ( [t < x ≤ M] + s · [x < t] )

    with two exceptions that follow Keras's special cases: for t = 0 and M = 6 it uses ``relu6``, whose
    gradient is 0 at x = 6 ([0 < x < 6]); for t = 0, M = None and s > 0 it uses ``leaky_relu``, whose gradient
    is s at x = 0. ``ReLU()`` is max(x, 0) with gradient [x > 0]; ``ReLU(6.0)`` is MobileNet's relu6.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, name=None, activity_regularizer=None):
        super().__init__(name=name, activity_regularizer=activity_regularizer)
        self.max_value = check_number("ReLU", "max_value", max_value, minimum=0.0, allow_none=True)
        self.negative_slope = check_number("ReLU", "negative_slope", negative_slope, minimum=0.0)
        self.threshold = check_number("ReLU", "threshold", threshold, minimum=0.0)
        # Keras's branches: plain/capped ReLU (t = 0, s = 0), leaky ReLU (t = 0, no cap, s > 0), general
        self._plain = self.threshold == 0.0 and self.negative_slope == 0.0
        self._leaky = self.threshold == 0.0 and self.max_value is None and self.negative_slope > 0.0
        # TensorFlow's relu6 kernel excludes x = 6 from the gradient; clip_by_value includes x = M
        self._cap_open = self.threshold == 0.0 and self.max_value == 6.0
        # Keras's special cases are the activation functions themselves: relu, relu6, leaky_relu
        self._function = (_activations.get("relu") if self._plain and self.max_value is None
                          else _activations.get("relu6") if self._plain and self._cap_open
                          else _activations.LeakyReLU(self.negative_slope) if self._leaky else None)

    def forward(self, x, training=False):
        self.x = x
        if self._function is not None:
            self.y = self._function.forward(x)
            return self.y
        t, s, cap = self.threshold, self.negative_slope, self.max_value
        # Keras: relu(x) for t = 0 (a NaN passes through), where(x > t, x, 0) above it (a NaN becomes 0)
        y = np.maximum(x, x.dtype.type(0)) if t == 0.0 else np.where(x > t, x, x.dtype.type(0))
        if cap is not None:
            np.minimum(y, cap, out=y)
        if s:
            y += s * np.minimum(x - t, 0.0)      # s·(x − t) below the threshold, exactly −s·relu(t − x)
        return y

    def _passes(self, x):
        """The mask [t < x ≤ M] ([0 < x < 6] for relu6) of the inputs whose gradient is dy."""
        mask = x > self.threshold
        cap = self.max_value
        if cap is not None:
            mask &= (x < cap) if self._cap_open else (x <= cap)
        return mask

    def backward(self, dy):
        x = self.x
        if self._function is not None:
            return self._function.backward(dy, x, self.y)
        s = self.negative_slope
        dx = np.multiply(dy, self._passes(x), dtype=dy.dtype)
        if s and not self._plain:
            dx += s * np.multiply(dy, x < self.threshold, dtype=dy.dtype)
        return dx


__all__ = ["ReLU"]
