"""Weight initializers: where training starts.

An initializer is called with a shape, a dtype and a random generator and returns a fresh array::

    W = get("he_normal")((784, 300), dtype=np.float32, rng=np.random.default_rng(0))

Why the scale matters: a unit that sums n inputs of variance v, weighted by weights of variance s², has output
variance n·s²·v. Keeping that equal to v through many layers needs s² ≈ 1/n ("LeCun"), 2/n for ReLU which zeroes
half its inputs ("He"), or 2/(n_in + n_out) as a compromise between the forward and the backward pass ("Glorot" /
"Xavier"). :class:`VarianceScaling` is the general rule, with σ² = scale / n where n is chosen by ``mode``:

=============================  =======  ========  =======================================================
name                           scale    mode      distribution
=============================  =======  ========  =======================================================
``glorot_uniform`` (xavier)    1        fan_avg   U(−L, L),  L = √(3·scale/n)
``glorot_normal``              1        fan_avg   truncated normal, σ = √(scale/n) / 0.87962566103423978
``he_uniform``                 2        fan_in    uniform, as above
``he_normal``                  2        fan_in    truncated normal, as above
``lecun_uniform``              1        fan_in    uniform
``lecun_normal``               1        fan_in    truncated normal
=============================  =======  ========  =======================================================

The truncated normal re-draws every value beyond two standard deviations; that leaves a distribution whose
standard deviation is 0.87962566103423978·σ, so σ is divided by that factor beforehand and the weights end up with
the intended variance (Keras's correction). Fans follow Keras (:func:`compute_fans`).

Randomness comes only from the ``np.random.Generator`` passed in: the same generator state gives the same values.
Values are drawn in float64 and rounded to the requested dtype, so float32 and float64 weights from the same state
agree to float32 rounding.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import ShapeError, SpecError
from .spec import Configurable, Registry, check_choice, check_number, to_json

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "StdNormal", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
           "LecunUniform", "LecunNormal", "Orthogonal", "compute_fans", "registry", "get", "serialize"]

#: Standard deviation of a standard normal truncated to [−2, 2]: √(1 − 4·φ(2)/(2Φ(2) − 1)).
TRUNCATION_STD = 0.87962566103423978


# ---------------------------------------------------------------------------------------------------- helpers

def _as_shape(shape):
    """A tuple of non-negative ints from an int or a sequence of ints, else a ShapeError."""
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if dims is None or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0
                               for d in dims):
        raise ShapeError(f"an initializer needs a shape: a tuple of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def _as_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or not np.issubdtype(dt, np.floating):
        raise SpecError(f"initializer argument 'dtype' must be a float type such as np.float32, got {dtype!r}")
    return dt


def _as_rng(rng):
    """The generator to draw from: a Generator as is, None -> a fresh unseeded one, an int -> seeded."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise SpecError(f"initializer argument 'rng' must be a np.random.Generator, an int seed or None, got {rng!r}")


def compute_fans(shape, input_axes=None, output_axes=None):
    """(fan_in, fan_out) of a weight shape, as Keras computes them.

    * scalar: (1, 1); 1-D (n,): (n, n); 2-D Dense kernel (in, out): (in, out);
    * N-D convolution kernel (k1, ..., c_in, c_out): with receptive field r = k1·...·k_{N−2},
      fan_in = c_in·r and fan_out = c_out·r;
    * with both ``input_axes`` and ``output_axes`` given: the products of the sizes along those axes.
    """
    shape = _as_shape(shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def truncated_standard_normal(rng, shape):
    """Standard normal samples with every value outside [−2, 2] re-drawn until none is left (float64)."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():       # each round keeps ~95% of what it draws: a handful of rounds at most
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return z


def _axes(owner, arg, value):
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),)
    if isinstance(value, (list, tuple)) and all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                                for v in value):
        return tuple(int(v) for v in value)
    raise SpecError(f"{owner}: argument '{arg}' must be None or a list of axis indices, got {value!r}")


# ---------------------------------------------------------------------------------------------------- base

class Initializer(Configurable):
    """``init(shape, dtype=np.float32, rng=None) -> ndarray`` of that shape and dtype.

    ``rng`` is a ``np.random.Generator`` (None: a fresh unseeded one). Subclasses implement
    ``generate(shape, dtype, rng)`` with a checked shape tuple and numpy dtype.
    """

    def __init__(self):
        """No arguments (subclasses with hyper-parameters define their own); an explicit signature lets the spec
        parser reject unknown keywords by name."""

    def __call__(self, shape, dtype=np.float32, rng=None):
        return self.generate(_as_shape(shape), _as_dtype(dtype), _as_rng(rng))

    def generate(self, shape, dtype, rng):
        raise NotImplementedError


registry = Registry("initializer", Initializer)


# ---------------------------------------------------------------------------------------------------- constants

@registry.register("zeros", "zero")
class Zeros(Initializer):
    """All zeros (the default for biases)."""

    def generate(self, shape, dtype, rng):
        return np.zeros(shape, dtype=dtype)


@registry.register("ones", "one")
class Ones(Initializer):
    """All ones (the default for BatchNormalization's γ and moving variance)."""

    def generate(self, shape, dtype, rng):
        return np.ones(shape, dtype=dtype)


@registry.register("constant")
class Constant(Initializer):
    """Every entry equal to ``value``."""

    def __init__(self, value=0.0):
        self.value = check_number("Constant", "value", value)

    def generate(self, shape, dtype, rng):
        return np.full(shape, self.value, dtype=dtype)


# ---------------------------------------------------------------------------------------------------- random

@registry.register("std_normal", "standard_normal")
class StdNormal(Initializer):
    """N(0, scale²); with the default scale = 1 the plain standard normal of the classic textbook code.

    (With hundreds of inputs per unit that is far too large for sigmoid units — they saturate — which is exactly
    what the variance-scaling initializers fix; kept because the reference experiments start from it.)
    """

    def __init__(self, scale=1.0):
        self.scale = check_number("StdNormal", "scale", scale, minimum=0.0)

    def generate(self, shape, dtype, rng):
        return (self.scale * rng.standard_normal(shape)).astype(dtype, copy=False)


@registry.register("random_normal", "normal")
class RandomNormal(Initializer):
    """N(mean, stddev²)."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean = check_number("RandomNormal", "mean", mean)
        self.stddev = check_number("RandomNormal", "stddev", stddev, minimum=0.0)

    def generate(self, shape, dtype, rng):
        return (self.mean + self.stddev * rng.standard_normal(shape)).astype(dtype, copy=False)


@registry.register("random_uniform", "uniform")
class RandomUniform(Initializer):
    """U(minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval = check_number("RandomUniform", "minval", minval)
        self.maxval = check_number("RandomUniform", "maxval", maxval, minimum=self.minval)

    def generate(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, shape).astype(dtype, copy=False)


@registry.register("truncated_normal")
class TruncatedNormal(Initializer):
    """N(mean, stddev²) with every value more than 2·stddev from the mean re-drawn.

    The result lies in [mean − 2·stddev, mean + 2·stddev] and its standard deviation is ≈ 0.8796·stddev.
    """

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean = check_number("TruncatedNormal", "mean", mean)
        self.stddev = check_number("TruncatedNormal", "stddev", stddev, minimum=0.0)

    def generate(self, shape, dtype, rng):
        return (self.mean + self.stddev * truncated_standard_normal(rng, shape)).astype(dtype, copy=False)


@registry.register("variance_scaling")
class VarianceScaling(Initializer):
    """Weights of variance scale/n, n = fan_in, fan_out or their mean (``mode``), from ``distribution``:

    * ``"truncated_normal"`` (also ``"normal"``): truncated normal with σ = √(scale/n) / 0.87962566103423978
      (the division undoes the variance lost to the truncation);
    * ``"untruncated_normal"``: N(0, scale/n);
    * ``"uniform"``: U(−L, L) with L = √(3·scale/n) (a uniform on [−L, L] has variance L²/3).

    n is never taken below 1. ``input_axes``/``output_axes`` (Keras 3) pick the axes the fans are counted on.
    """

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", input_axes=None,
                 output_axes=None):
        self.scale = check_number("VarianceScaling", "scale", scale, minimum=0.0, strict=True)
        self.mode = check_choice("VarianceScaling", "mode", mode, self.MODES)
        if isinstance(distribution, str) and distribution.lower() == "normal":
            distribution = "truncated_normal"   # Keras's alias
        self.distribution = check_choice("VarianceScaling", "distribution", distribution, self.DISTRIBUTIONS)
        self.input_axes = _axes("VarianceScaling", "input_axes", input_axes)
        self.output_axes = _axes("VarianceScaling", "output_axes", output_axes)

    def variance(self, shape):
        """scale / max(1, n): the variance the weights of ``shape`` are drawn with."""
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def generate(self, shape, dtype, rng):
        var = self.variance(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            values = rng.uniform(-limit, limit, shape)
        elif self.distribution == "untruncated_normal":
            values = math.sqrt(var) * rng.standard_normal(shape)
        else:
            values = (math.sqrt(var) / TRUNCATION_STD) * truncated_standard_normal(rng, shape)
        return values.astype(dtype, copy=False)


@registry.register("glorot_uniform", "xavier_uniform")
class GlorotUniform(VarianceScaling):
    """Glorot/Xavier uniform: U(−L, L), L = √(6/(fan_in + fan_out)); Keras's default for Dense and Conv kernels.

    A fixed ``variance_scaling(scale=1.0, mode='fan_avg', distribution='uniform')``; it takes no arguments.
    """

    def __init__(self):
        super().__init__(scale=1.0, mode="fan_avg", distribution="uniform")


@registry.register("glorot_normal", "xavier_normal")
class GlorotNormal(VarianceScaling):
    """Glorot/Xavier normal: truncated normal with variance 2/(fan_in + fan_out).

    A fixed ``variance_scaling(scale=1.0, mode='fan_avg', distribution='truncated_normal')``; it takes no arguments.
    """

    def __init__(self):
        super().__init__(scale=1.0, mode="fan_avg", distribution="truncated_normal")


@registry.register("he_uniform", "kaiming_uniform")
class HeUniform(VarianceScaling):
    """He uniform, for ReLU units: U(−L, L), L = √(6/fan_in).

    A fixed ``variance_scaling(scale=2.0, mode='fan_in', distribution='uniform')``; it takes no arguments.
    """

    def __init__(self):
        super().__init__(scale=2.0, mode="fan_in", distribution="uniform")


@registry.register("he_normal", "kaiming_normal")
class HeNormal(VarianceScaling):
    """He normal, for ReLU units: truncated normal with variance 2/fan_in.

    A fixed ``variance_scaling(scale=2.0, mode='fan_in', distribution='truncated_normal')``; it takes no arguments.
    """

    def __init__(self):
        super().__init__(scale=2.0, mode="fan_in", distribution="truncated_normal")


@registry.register("lecun_uniform")
class LecunUniform(VarianceScaling):
    """LeCun uniform: U(−L, L), L = √(3/fan_in).

    A fixed ``variance_scaling(scale=1.0, mode='fan_in', distribution='uniform')``; it takes no arguments.
    """

    def __init__(self):
        super().__init__(scale=1.0, mode="fan_in", distribution="uniform")


@registry.register("lecun_normal")
class LecunNormal(VarianceScaling):
    """LeCun normal: truncated normal with variance 1/fan_in (pair it with SELU).

    A fixed ``variance_scaling(scale=1.0, mode='fan_in', distribution='truncated_normal')``; it takes no arguments.
    """

    def __init__(self):
        super().__init__(scale=1.0, mode="fan_in", distribution="truncated_normal")


@registry.register("orthogonal")
class Orthogonal(Initializer):
    """A (scaled) orthogonal matrix, as Keras builds it.

    The shape is viewed as a matrix of rows = prod(shape[:-1]) and cols = shape[-1]. A standard normal matrix A of
    shape (max(rows, cols), min(rows, cols)) is factored A = Q·R; multiplying column j of Q by sign(R_jj) makes the
    result uniformly distributed over orthogonal matrices (Haar measure). Q has orthonormal columns; it is transposed
    when rows < cols (then the rows are orthonormal), multiplied by ``gain`` and reshaped.
    """

    def __init__(self, gain=1.0):
        self.gain = check_number("Orthogonal", "gain", gain)

    def generate(self, shape, dtype, rng):
        if len(shape) < 2:
            raise ShapeError(f"orthogonal initializer needs a shape of at least 2 dimensions, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.where(np.diag(r) < 0, -1.0, 1.0)   # sign(0) taken as +1: never flips a column to zero
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------------------- lookup

def get(identifier):
    """An initializer from a spec (``"he_normal"``, ``"random_normal(stddev=0.1)"``), a ``{"name", "config"}``
    dict or an :class:`Initializer` instance or class."""
    return registry.get(identifier)


def serialize(obj):
    """``{"name": ..., "config": {...}}`` (what :func:`get` reads back)."""
    return to_json(obj)
