"""Batch normalization (Ioffe & Szegedy, 2015) with Keras's semantics."""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import ShapeError, SpecError
from ..spec import check_bool, check_number
from .base import Layer, registry


@registry.register("batch_normalization", "batchnormalization", "batchnorm", "batch_norm", "bn")
class BatchNormalization(Layer):
    """Normalize each feature (the ``axis`` channel) over the batch, then scale and shift it.

    Statistics are taken over every axis except ``axis``: for (N, F) input over the batch, for (N, H, W, C) over
    batch and pixels (m values per channel). In training mode (biased variance, as Keras)::

        μ = (1/m) Σ x          σ² = (1/m) Σ (x − μ)²          x̂ = (x − μ) / √(σ² + ε)
        y = γ · x̂ + β
        moving_mean ← moving_mean · momentum + μ · (1 − momentum)     (same for moving_variance with σ²)

    Backward through the batch statistics (the full formula; every x moves μ and σ²)::

        dβ = Σ dy       dγ = Σ dy · x̂       dx̂ = γ · dy
        dx = (1 / √(σ² + ε)) · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂))

    In inference mode — or when the layer is frozen (``trainable=False``), as in Keras — the moving statistics
    replace μ and σ², so the layer is the affine map y = γ·(x − μ_mov)/√(σ²_mov + ε) + β and dx = γ·dy/√(σ²_mov + ε).

    Parameters, in Keras's ``get_weights()`` order: "gamma" (if ``scale``), "beta" (if ``center``), then the
    non-trainable "moving_mean" and "moving_variance".
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise SpecError(f"BatchNormalization: argument 'axis' must be an integer, got {axis!r}")
        self.axis = int(axis)
        self.momentum = check_number("BatchNormalization", "momentum", momentum, minimum=0.0, maximum=1.0)
        self.epsilon = check_number("BatchNormalization", "epsilon", epsilon, minimum=0.0, strict=True)
        self.center = check_bool("BatchNormalization", "center", center)
        self.scale = check_bool("BatchNormalization", "scale", scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer = beta_regularizer
        self.gamma_regularizer = gamma_regularizer
        self.beta_constraint = beta_constraint
        self.gamma_constraint = gamma_constraint

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        ndim = len(input_shape)
        if ndim < 2:
            raise ShapeError(f"layer {self.name!r} (BatchNormalization) needs inputs with a batch axis and at least "
                             f"one more, got input shape {input_shape}")
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ShapeError(f"layer {self.name!r} (BatchNormalization): axis={self.axis} is not a feature axis of "
                             f"input shape {input_shape} (valid: 1..{ndim - 1} or -1..{-(ndim - 1)})")
        channel_axis = self.axis % ndim
        features = input_shape[channel_axis]
        if features is None:
            raise ShapeError(f"layer {self.name!r} (BatchNormalization): the size of axis {self.axis} must be known, "
                             f"got input shape {input_shape}")
        self._reduce = tuple(a for a in range(ndim) if a != channel_axis)
        self._last = channel_axis == ndim - 1
        self._channels = features
        self._reps = 1        # channels-last: values per channel in one sample, set by _flat from each input
        self._ones = None
        # Parameters of shape (F,) broadcast against x through this shape: F on the channel axis, 1 elsewhere.
        self._bshape = tuple(features if a == channel_axis else 1 for a in range(ndim))
        if self.scale:
            self.add_weight("gamma", (features,), self.gamma_initializer, self.gamma_regularizer,
                            self.gamma_constraint)
        if self.center:
            self.add_weight("beta", (features,), self.beta_initializer, self.beta_regularizer, self.beta_constraint)
        self.add_weight("moving_mean", (features,), self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", (features,), self.moving_variance_initializer, trainable=False)
        super().build(input_shape)

    # Layout. For channels-last input (the usual case) x is handled as (N, R) rows, R = every value of a sample,
    # and per-channel vectors (C,) are tiled to a whole row: NumPy's inner loops then run over R values instead of
    # C (e.g. 6) at a time, several times faster. Channel sums are a vector-matrix product ones · x(m, C), which
    # BLAS does far faster than np.sum(axis=0) on a tall, narrow matrix. Other axes use plain broadcasting.

    def _flat(self, a):
        if not self._last:
            return a
        flat = a.reshape(a.shape[0], -1)
        self._reps = flat.shape[1] // self._channels   # from the input itself: H and W may be unknown at build
        return flat

    def _per_channel(self, v):
        """A per-channel vector (C,) in a shape that broadcasts against ``_flat(x)``."""
        return np.tile(v, self._reps) if self._last else v.reshape(self._bshape)

    def _sum(self, a):
        """Σ over every axis but the channel axis of ``a`` (in the ``_flat`` layout), as a (C,) vector."""
        if not self._last:
            return a.sum(axis=self._reduce)
        cols = a.reshape(-1, self._channels)
        ones = self._ones
        if ones is None or ones.shape[0] != cols.shape[0] or ones.dtype != cols.dtype:
            ones = self._ones = np.ones(cols.shape[0], dtype=cols.dtype)
        return ones @ cols

    def _vector(self, key, fill, dtype):
        """Parameter ``key`` as a (C,) vector in ``dtype``, or the constant ``fill`` when the layer has none."""
        if key in self.params:
            return self.params[key].astype(dtype, copy=False)
        return np.full(self._channels, fill, dtype=dtype)

    def forward(self, x, training=False):
        self.check_input(x)
        t = x.dtype.type
        xf = self._flat(x)
        self.batch_stats = bool(training) and self.trainable
        self.count = x.size // self._channels      # m values per channel: the statistics' sample size
        if self.batch_stats:
            mean = self._sum(xf) * t(1.0 / self.count)
            centered = xf - self._per_channel(mean)
            var = self._sum(np.square(centered)) * t(1.0 / self.count)
            self._update_moving(mean, var)
        else:
            centered = xf - self._per_channel(self._vector("moving_mean", 0.0, x.dtype))
            var = self._vector("moving_variance", 1.0, x.dtype)
        self.inv_std = (1.0 / np.sqrt(var + t(self.epsilon))).astype(x.dtype, copy=False)
        self.x_hat = x_hat = centered * self._per_channel(self.inv_std)
        if self.scale:
            y = x_hat * self._per_channel(self._vector("gamma", 1.0, x.dtype))
            if self.center:
                y += self._per_channel(self._vector("beta", 0.0, x.dtype))
        elif self.center:
            y = x_hat + self._per_channel(self._vector("beta", 0.0, x.dtype))
        else:
            y = x_hat.copy()         # never hand out the cached x̂ itself
        return y.reshape(x.shape)

    def _update_moving(self, mean, var):
        """Keras's exponential moving averages, written into the existing arrays (never replaced)."""
        m = self.momentum
        for key, batch in (("moving_mean", mean), ("moving_variance", var)):
            moving = self.params[key]
            moving[...] = moving * m + batch * (1.0 - m)

    def backward(self, dy):
        x_hat = self.x_hat
        dyf = self._flat(dy)
        # dβ = Σ dy and dγ = Σ dy·x̂ are also the two sums the input gradient needs (Σ dx̂ = γ·dβ, Σ dx̂·x̂ = γ·dγ).
        sum_dy = self._sum(dyf)
        sum_dy_xhat = self._sum(dyf * x_hat)
        if "gamma" in self.grads:
            self.grads["gamma"][...] = sum_dy_xhat
        if "beta" in self.grads:
            self.grads["beta"][...] = sum_dy
        if not self.needs_input_grad:
            return None
        gain = self._per_channel(self.inv_std * self._vector("gamma", 1.0, dy.dtype))     # γ/σ
        if not self.batch_stats:
            return (dyf * gain).reshape(dy.shape)
        # Through the batch statistics: remove the parts of dy that move the mean and the variance.
        scale = dy.dtype.type(1.0 / self.count)
        dx = x_hat * self._per_channel(sum_dy_xhat * scale)
        np.subtract(dyf, dx, out=dx)
        dx -= self._per_channel(sum_dy * scale)
        dx *= gain
        return dx.reshape(dy.shape)


BatchNorm = BatchNormalization

__all__ = ["BatchNormalization", "BatchNorm"]
