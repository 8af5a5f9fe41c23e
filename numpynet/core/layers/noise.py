"""The dropout family: Dropout, AlphaDropout, GaussianNoise, GaussianDropout.

All four are regularizers that act only while training: at inference they are the identity. Each draws its noise
from ``layer.rng`` (the model's generator, or the layer's own when created with ``seed=``), so a seed reproduces
the masks exactly.

MC dropout (Gal & Ghahramani, 2016): ``model.predict(X, mc_samples=T)`` keeps the noise on at prediction time and
averages the T passes, p̂ = (1/T)·Σₜ f(x; maskₜ). The switch is public, so your own layer can take part:

* the class says ``stochastic = True`` — ``predict`` looks for that attribute on every layer of the model;
* ``predict`` sets the instance attribute ``mc_active = True`` on those layers for the T passes and back to
  ``False`` afterwards;
* ``forward`` applies its noise when ``is_active(training)`` is true, i.e. ``training or mc_active``.

Subclassing :class:`StochasticLayer` gives all three (and ``uniform`` / ``normal`` draws from the layer's seeded
generator)::

    class MyMCDropout(nn.layers.StochasticLayer):
        def forward(self, x, training=False):
            if not self.is_active(training):
                return x
            ...

A layer that subclasses :class:`~numpynet.layers.Layer` directly sets ``stochastic = True`` and reads
``training or getattr(self, "mc_active", False)`` itself.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import ShapeError, SpecError
from ..spec import check_number
from .base import Layer, registry

#: SELU's constants (Klambauer et al., 2017) and the value α' = −λ·α that a dropped SELU unit is set to.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ALPHA_PRIME = -SELU_ALPHA * SELU_SCALE


def _rate(owner, rate):
    """A drop rate in [0, 1); 1 would drop everything (and divide by zero)."""
    rate = check_number(owner, "rate", rate, minimum=0.0, maximum=1.0)
    if rate == 1.0:
        raise SpecError(f"{owner}: argument 'rate' must be in [0, 1) (the fraction of units dropped), got {rate!r}")
    return rate


class StochasticLayer(Layer):
    """Base of the noise layers, public for your own: identity unless training or MC prediction.

    ``stochastic = True`` (class attribute) marks the layer for ``predict(mc_samples=T)``, which sets
    ``mc_active`` (instance attribute, False otherwise) for the T passes. ``forward`` should apply its noise when
    :meth:`is_active` says so. The input shape is unchanged (override ``compute_output_shape`` if yours differs).
    """

    stochastic = True

    def __init__(self, name=None, seed=None):
        super().__init__(name=name, seed=seed)
        self.mc_active = False

    def is_active(self, training):
        """Whether the noise is on: ``training or mc_active`` (training, or an MC-dropout prediction)."""
        return bool(training) or bool(self.mc_active)

    #: the name before ``is_active`` was public; kept so that layers written against it keep working
    active = is_active

    def uniform(self, shape, dtype):
        """U[0, 1) draws in ``dtype`` (float32 stays float32) from the layer's generator."""
        dtype = np.dtype(dtype)
        if dtype in (np.float32, np.float64):
            return self.rng.random(shape, dtype=dtype)
        return self.rng.random(shape)

    def normal(self, shape, dtype):
        dtype = np.dtype(dtype)
        if dtype in (np.float32, np.float64):
            return self.rng.standard_normal(shape, dtype=dtype)
        return self.rng.standard_normal(shape)


def _noise_shape(layer, noise_shape, x):
    """The mask's shape: ``noise_shape`` with None entries taken from x (Keras's convention), else x.shape."""
    if noise_shape is None:
        return x.shape
    if len(noise_shape) != x.ndim:
        raise ShapeError(f"layer {layer.name!r}: noise_shape {tuple(noise_shape)} has {len(noise_shape)} axes but "
                         f"the input has {x.ndim} (shape {x.shape})")
    shape = tuple(d if s is None else int(s) for s, d in zip(noise_shape, x.shape))
    if any(s not in (1, d) for s, d in zip(shape, x.shape)):
        raise ShapeError(f"layer {layer.name!r}: noise_shape {tuple(noise_shape)} does not broadcast against input "
                         f"shape {x.shape} (each entry must be None, 1 or the input's size)")
    return shape


def _check_noise_shape(owner, noise_shape):
    if noise_shape is None:
        return None
    if not isinstance(noise_shape, (tuple, list)) or not all(
            s is None or (isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1)
            for s in noise_shape):
        raise SpecError(f"{owner}: argument 'noise_shape' must be None or a tuple of positive integers/None, "
                        f"got {noise_shape!r}")
    return tuple(noise_shape)


@registry.register("dropout")
class Dropout(StochasticLayer):
    """Inverted dropout: ``y = x · m / (1 − r)`` with m ~ Bernoulli(1 − r) per unit, in training only.

    Dividing the kept units by the keep probability makes E[y] = x, so nothing changes at inference (y = x).
    Backward: dx = dy · m / (1 − r) (the same mask). ``noise_shape`` shares one mask along axes given as 1,
    e.g. (None, 1, 1, None) drops whole feature maps of an NHWC batch.
    """

    def __init__(self, rate, noise_shape=None, seed=None, name=None):
        super().__init__(name=name, seed=seed)
        self.rate = _rate("Dropout", rate)
        self.noise_shape = _check_noise_shape("Dropout", noise_shape)

    def forward(self, x, training=False):
        self.mask = None
        if not self.is_active(training) or self.rate == 0.0:
            return x
        keep = self.uniform(_noise_shape(self, self.noise_shape, x), x.dtype) >= self.rate
        scale = x.dtype.type(1.0 / (1.0 - self.rate))
        self.mask = keep * scale          # bool · float scalar -> the float dtype of x
        return x * self.mask

    def backward(self, dy):
        return dy if self.mask is None else dy * self.mask


@registry.register("alpha_dropout", "alphadropout")
class AlphaDropout(StochasticLayer):
    """Dropout for self-normalizing (SELU) networks: keeps the mean and variance of its input.

    A dropped unit is set to α' = −λ·α ≈ −1.7581 (SELU's lower limit) instead of 0, and an affine correction
    restores zero mean and unit variance for standard-normal input (Keras's constants)::

        a = ((1 − r) · (1 + r · α'²))^(−1/2)        b = −a · α' · r
        y = a · (x · m + α' · (1 − m)) + b          m ~ Bernoulli(1 − r)

    Backward: dx = a · m · dy. Identity at inference.
    """

    def __init__(self, rate, noise_shape=None, seed=None, name=None):
        super().__init__(name=name, seed=seed)
        self.rate = _rate("AlphaDropout", rate)
        self.noise_shape = _check_noise_shape("AlphaDropout", noise_shape)

    def coefficients(self):
        """(a, b) of the affine correction for this rate."""
        r = self.rate
        a = ((1.0 - r) * (1.0 + r * ALPHA_PRIME ** 2)) ** -0.5
        return a, -a * ALPHA_PRIME * r

    def forward(self, x, training=False):
        self.grad_mask = None
        if not self.is_active(training) or self.rate == 0.0:
            return x
        keep = self.uniform(_noise_shape(self, self.noise_shape, x), x.dtype) >= self.rate
        a, b = self.coefficients()
        t = x.dtype.type
        # y = a·x·m + (a·α'·(1 − m) + b): a scaled copy of x plus a per-unit offset that depends on the mask only.
        self.grad_mask = keep * t(a)
        offset = np.where(keep, t(b), t(a * ALPHA_PRIME + b))
        return x * self.grad_mask + offset

    def backward(self, dy):
        return dy if self.grad_mask is None else dy * self.grad_mask


@registry.register("gaussian_noise", "gaussiannoise")
class GaussianNoise(StochasticLayer):
    """Additive zero-mean noise, in training only: ``y = x + ε``, ε ~ N(0, stddev²); dx = dy."""

    def __init__(self, stddev, seed=None, name=None):
        super().__init__(name=name, seed=seed)
        self.stddev = check_number("GaussianNoise", "stddev", stddev, minimum=0.0)

    def forward(self, x, training=False):
        if not self.is_active(training) or self.stddev == 0.0:
            return x
        noise = self.normal(x.shape, x.dtype)
        noise *= x.dtype.type(self.stddev)
        return x + noise

    def backward(self, dy):
        return dy


@registry.register("gaussian_dropout", "gaussiandropout")
class GaussianDropout(StochasticLayer):
    """Multiplicative Gaussian noise with mean 1, in training only (Srivastava et al., 2014)::

        y = x · ε,   ε ~ N(1, r / (1 − r))        dx = dy · ε

    The variance r/(1 − r) is that of inverted Bernoulli dropout with rate r, so the two regularize alike.
    """

    def __init__(self, rate, seed=None, name=None):
        super().__init__(name=name, seed=seed)
        self.rate = _rate("GaussianDropout", rate)

    def forward(self, x, training=False):
        self.noise = None
        if not self.is_active(training) or self.rate == 0.0:
            return x
        noise = self.normal(x.shape, x.dtype)
        noise *= x.dtype.type(np.sqrt(self.rate / (1.0 - self.rate)))
        noise += 1
        self.noise = noise
        return x * noise

    def backward(self, dy):
        return dy if self.noise is None else dy * self.noise


__all__ = ["StochasticLayer", "Dropout", "AlphaDropout", "GaussianNoise", "GaussianDropout", "ALPHA_PRIME"]
