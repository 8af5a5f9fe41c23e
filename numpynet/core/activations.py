"""Activation functions: the forward formula and its derivative, written out with NumPy.

An activation maps the pre-activation z of a layer to its output y = f(z). In backpropagation it receives
dL/dy and returns dL/dz. For an elementwise f that is the chain rule entry by entry,

    dL/dz = dL/dy ⊙ f'(z),

and f'(z) can usually be written with the *output* y, which the layer already keeps from the forward pass:
σ' = y·(1 − y), tanh' = 1 − y², exp' = y. ``backward(dy, x, y)`` gets both the input x and the cached output y and
uses whichever is cheaper, so nothing is computed twice. Softmax is not elementwise: its Jacobian is
diag(y) − y·yᵀ and the product with dy collapses to y ⊙ (dy − Σ_j dy_j·y_j).

Formulas, defaults and the derivative at kinks follow Keras 3 on TensorFlow (relu'(0) = 0, leaky_relu'(0) = slope,
elu'(0) = α, selu'(0) = λ, hard_sigmoid' = 0 at ±3, ...), so a numpynet model and its Keras twin agree to rounding.

=================  ===================================================  =========================================
name               f(x)                                                 f'(x) as computed
=================  ===================================================  =========================================
``linear``         x                                                    1
``relu``           max(x, 0)                                            [x > 0]
``relu6``          min(max(x, 0), 6)                                    [0 < x < 6]
``leaky_relu``     x if x > 0 else s·x            (s = 0.2)             1 if x > 0 else s
``elu``            x if x > 0 else α·(eˣ − 1)     (α = 1)               1 if x > 0 else y + α  (= α·eˣ)
``selu``           λ·elu(x, α)   (α ≈ 1.6733, λ ≈ 1.0507)               λ if x ≥ 0 else y + λ·α
``gelu``           x·Φ(x) = ½·x·erfc(−x/√2)                             Φ(x) + x·φ(x),  Φ = y/x
``gelu`` (approx)  ½·x·(1 + t), t = tanh(√(2/π)·(x + 0.044715·x³))       ½(1 + t) + ½·x·(1 − t²)·dt/dx
``sigmoid``        1 / (1 + e⁻ˣ)                                        y·(1 − y)
``hard_sigmoid``   relu6(x + 3) / 6                                     [−3 < x < 3] / 6
``tanh``           tanh(x)                                              1 − y²
``softmax``        eˣⁱ / Σ_j eˣʲ   (along ``axis``)                     y ⊙ (dy − Σ dy·y)  (vector-Jacobian)
``softplus``       log(1 + eˣ)                                          σ(x) = 1 − e⁻ʸ
``softsign``       x / (1 + |x|)                                        1 / (1 + |x|)²
``silu``/``swish`` x·σ(x)                                               σ + y·(1 − σ)
``exponential``    eˣ                                                   y
=================  ===================================================  =========================================

Every function keeps the dtype of its input (float32 stays float32); integer input is converted to the default
float type. Constants are Python floats so that NumPy's promotion rules never upcast a float32 array.

Also here: :func:`erf` and :func:`erfc` (SciPy's, installed with scikit-learn), which the exact GELU needs.
"""

from __future__ import annotations

import numpy as np
from scipy import special as _special

from .config import floatx
from .errors import SpecError
from .spec import Configurable, Registry, check_int, check_number, to_json

__all__ = ["Activation", "Linear", "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "GELU", "Sigmoid", "HardSigmoid",
           "Tanh", "Softmax", "Softplus", "Softsign", "SiLU", "Exponential", "registry", "get", "serialize",
           "erf", "erfc", "normal_cdf", "expm1_of_negative_part"]


# ---------------------------------------------------------------------------------------------------- helpers

def _as_float(x):
    """``x`` as a floating array without copying; integers/bools/lists become the default float type."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(floatx())
    return x


def _into(out, value):
    """Return ``value``, written into ``out`` when one is given (the in-place protocol of ``out=``)."""
    if out is None:
        return value
    out[...] = value
    return out


def _scale_by(dy, d, out):
    """dy ⊙ d, reusing the buffer ``d`` (a fresh array the caller owns) when no ``out`` is given.

    Reuse only when the dtypes agree: writing a float64 product into a float32 buffer would silently round.
    """
    if out is None and d.dtype == np.result_type(dy, d):
        out = d
    return np.multiply(dy, d, out=out)


# A note on speed: ``np.where(mask, a, b)`` with an irregular mask costs about 30x an arithmetic ufunc on CPU
# (branch mispredictions), and so do ufuncs with ``where=``. The hot activations therefore select with exact
# arithmetic instead: multiplying by a boolean mask gives v·1 = v or v·0 = 0 exactly, and adding 0 changes nothing,
# so ``a·m + b·(1 − m)`` is the selection itself, bit for bit (for finite a and b).

def _ratio(y, x, at_zero):
    """y / x, with ``at_zero`` where |x| < 1e-30 (below float16's smallest normal number for float16).

    Used to recover the gate g = y / x of gated activations (y = x·g: GELU, SiLU) from the cached output instead of
    evaluating g again. y = x·g is one rounding, so y / x is g to within two ulps. Near x = 0 (where g = g(0) far
    below rounding) the divisor is x + 1 and y ≈ 0, so the result is ``at_zero`` to within |y|.
    """
    tiny = np.abs(x) < max(1e-30, np.finfo(x.dtype).tiny)   # float16: 1e-30 would round to 0 and give 0/0
    g = np.divide(y, x + tiny)
    g += np.multiply(tiny, at_zero, dtype=g.dtype)
    return g


def _sigmoid(x):
    """σ(x) = 1 / (1 + e⁻ˣ) in four passes.

    This form is accurate to an ulp or two for every x (for x ≪ 0, e⁻ˣ is huge and the reciprocal is exact
    relative to it). Where e⁻ˣ overflows (x < −88.7 in float32, −709.8 in float64) it becomes inf and 1/(1 + inf)
    is 0, the right limit, so the overflow warning is silenced rather than prevented; NaN stays NaN.
    ``np.divide(1, z)`` rather than ``np.reciprocal``: the same IEEE quotient, but the reciprocal loop is ~1.7x
    slower in NumPy 2.
    """
    z = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(z, out=z)
    z += 1.0
    return np.divide(1.0, z, out=z)


_ZEROS = {}   # dtype -> the read-only zero buffer of _zeros_like


def _zeros_like(x):
    """Read-only zeros of ``x``'s shape and dtype, the other operand of ``np.maximum(x, 0)`` / ``np.minimum``.

    Why not the literal 0.0: NumPy 2's maximum/minimum loops use SIMD only when both operands are arrays; a scalar
    operand (broadcast with stride 0) takes the element-by-element loop, about 5x slower (13 µs against 2.7 µs for a
    128×300 float32 batch). One buffer per dtype, grown when a larger batch comes, serves every call.
    """
    zeros = _ZEROS.get(x.dtype)
    if zeros is None or zeros.size < x.size:
        zeros = np.zeros(x.size, dtype=x.dtype)
        zeros.flags.writeable = False
        _ZEROS[x.dtype] = zeros
    return zeros[:x.size].reshape(x.shape)


# ---------------------------------------------------------------------------------------------------- expm1
#: float32 arguments below this give expm1 = −1 exactly; clipping there keeps e^x a normal number for Kahan's form
_EXPM1_FLOOR = -80.0


def expm1_of_negative_part(x):
    """expm1(min(x, 0)) = e^min(x, 0) − 1, elementwise: the negative branch of ELU and SELU, in x's float dtype.

    float64 uses ``np.expm1``. For float32 NumPy's expm1 is a scalar loop (~15 ns an entry, ~6x ``np.exp``); here
    it is Kahan's form, built from the vectorized exp and log:

        u = e^x,   expm1(x) = (u − 1)·x / log(u)   (x itself where u rounds to 1, i.e. |x| < 2⁻²⁵)

    The rounding error of u cancels between u − 1 and log(u), so the quotient is accurate to a few ulps (≤ 5 over a
    sweep of 10⁷ float32 arguments, against ≤ 1 for ``np.expm1``) where the plain e^x − 1 loses all digits near 0.
    Where u rounds to 1 the quotient is 0/0 = NaN, and ``fmax(quotient, x)`` gives x there (fmax skips a NaN)
    while keeping the quotient everywhere else (expm1(x) ≥ x for every x). Arguments are clipped to [−80, 0]
    first: min(x, 0) itself, with e^x kept a normal number (expm1(−80) already rounds to −1). ~2.7x faster than
    ``np.expm1(np.minimum(x, 0))`` on a 128×300 float32 batch; NaN stays NaN.
    """
    x = _as_float(x)
    if x.dtype != np.float32:
        return np.expm1(np.minimum(x, _zeros_like(x)))
    xc = np.clip(x, _EXPM1_FLOOR, 0.0)
    u = np.exp(xc)
    log_u = np.log(u)
    u -= 1.0
    u *= xc
    with np.errstate(invalid="ignore"):
        u /= log_u
    return np.fmax(u, xc, out=u)


# ---------------------------------------------------------------------------------------------------- erf / erfc
_INV_SQRT2 = 0.70710678118654752440      # 1/√2
_INV_SQRT_2PI = 0.39894228040143267794   # 1/√(2π)


def erf(x):
    """Error function erf(x) = (2/√π) ∫₀ˣ e^(−t²) dt, elementwise; keeps the dtype (SciPy's ufunc: float32 and
    float64 loops; float16 is computed in float64 and rounded)."""
    x = _as_float(x)
    return _special.erf(x).astype(x.dtype, copy=False)   # SciPy has no float16 loop: it would return float64


def erfc(x):
    """Complementary error function erfc(x) = 1 − erf(x), elementwise, accurate also where it is tiny (x ≫ 1)."""
    x = _as_float(x)
    return _special.erfc(x).astype(x.dtype, copy=False)


def normal_cdf(x):
    """Φ(x) = P(N(0, 1) ≤ x) = ½·erfc(−x/√2), accurate in both tails."""
    x = _as_float(x)
    return 0.5 * erfc(x * -_INV_SQRT2)


# ---------------------------------------------------------------------------------------------------- base

class Activation(Configurable):
    """y = f(x), with the gradient written out.

    * ``forward(x) -> y`` (also ``act(x)``);
    * ``backward(dy, x, y, out=None) -> dx``: dL/dx from dL/dy, the input x and the output y of ``forward(x)``
      (whichever of x, y is cheaper is used; the forward pass is never recomputed). ``out``, when given, receives
      the result and may be ``dy`` itself (in-place).

    Elementwise activations (``elementwise = True``) also have ``derivative(x, y, out=None) -> f'(x)``, a new
    array (or ``out``), and ``backward = dy ⊙ derivative``; some override ``backward`` with a fused formula.
    """

    #: True when f acts entry by entry (its Jacobian is diagonal and ``derivative`` is defined)
    elementwise = True

    def __init__(self):
        """No arguments (subclasses with hyper-parameters define their own); an explicit signature lets the spec
        parser reject unknown keywords by name."""

    def forward(self, x):
        raise NotImplementedError

    def check_rank(self, ndim, where="the input"):
        """Raise a SpecError if this activation cannot act on arrays of ``ndim`` axes (called when a layer learns
        its input shape); elementwise activations fit every rank."""

    def __call__(self, x):
        return self.forward(x)

    def derivative(self, x, y, out=None):
        raise NotImplementedError(f"{type(self).__name__} has no elementwise derivative; use backward()")

    def backward(self, dy, x, y, out=None):
        return _scale_by(dy, self.derivative(x, y), out)


registry = Registry("activation", Activation)


# ---------------------------------------------------------------------------------------------------- classes

@registry.register("linear", "identity")
class Linear(Activation):
    """Identity: y = x, f' = 1. ``forward`` returns x itself and ``backward`` returns dy itself (no copies)."""

    def forward(self, x):
        return _as_float(x)

    def derivative(self, x, y, out=None):
        return _into(out, np.ones_like(x))

    def backward(self, dy, x, y, out=None):
        return _into(out, dy)


@registry.register("relu")
class ReLU(Activation):
    """Rectified linear unit: y = max(x, 0); f'(x) = 1 for x > 0, else 0 (also at x = 0, as TensorFlow)."""

    def forward(self, x):
        x = _as_float(x)
        return np.maximum(x, _zeros_like(x))

    def derivative(self, x, y, out=None):
        return _into(out, (x > 0).astype(x.dtype))

    def backward(self, dy, x, y, out=None):
        return np.multiply(dy, x > 0, out=out)


@registry.register("relu6")
class ReLU6(Activation):
    """ReLU capped at 6: y = min(max(x, 0), 6); f'(x) = 1 for 0 < x < 6, else 0 (0 at both kinks)."""

    def forward(self, x):
        return np.clip(_as_float(x), 0.0, 6.0)

    def derivative(self, x, y, out=None):
        return _into(out, ((x > 0) & (x < 6)).astype(x.dtype))

    def backward(self, dy, x, y, out=None):
        return np.multiply(dy, (x > 0) & (x < 6), out=out)


@registry.register("leaky_relu", "leakyrelu")
class LeakyReLU(Activation):
    """Leaky ReLU: y = x for x > 0, else s·x; f'(x) = 1 for x > 0, else s (s at x = 0, as TensorFlow).

    Default slope s = 0.2, Keras's ``leaky_relu`` function default (the ``LeakyReLU`` *layer* defaults to 0.3).
    """

    def __init__(self, negative_slope=0.2):
        self.negative_slope = check_number("LeakyReLU", "negative_slope", negative_slope, minimum=0.0)

    def forward(self, x):
        x = _as_float(x)
        y = np.multiply(x, self.negative_slope)
        # for s <= 1, max(s·x, x) is x for x > 0 and s·x otherwise; for s > 1 it is the min
        return np.maximum(y, x, out=y) if self.negative_slope <= 1.0 else np.minimum(y, x, out=y)

    def derivative(self, x, y, out=None):
        d = np.multiply(x <= 0, self.negative_slope, dtype=x.dtype, out=out)   # s where x <= 0, else 0
        d += x > 0                                                              # 1 where x > 0
        return d


@registry.register("elu")
class ELU(Activation):
    """Exponential linear unit: y = x for x > 0, else α·(eˣ − 1).

    f'(x) = 1 for x > 0, else α·eˣ = y + α (read off the output; α at x = 0, as TensorFlow).
    """

    def __init__(self, alpha=1.0):
        self.alpha = check_number("ELU", "alpha", alpha, minimum=0.0)

    def forward(self, x):
        x = _as_float(x)
        # max(x, 0) + α·expm1(min(x, 0)): each entry takes one branch exactly (the other term is 0), and expm1
        # never sees a positive argument (it could overflow) and is accurate near 0 (unlike exp(x) − 1)
        y = expm1_of_negative_part(x)
        if self.alpha != 1.0:
            y *= self.alpha
        y += np.maximum(x, _zeros_like(x))
        return y

    def derivative(self, x, y, out=None):
        # min(y, 0) + α is y + α = α·eˣ where x <= 0 and α where x > 0 (y may be inf there; min keeps it finite),
        # so with the Keras default α = 1 it is the whole derivative in two passes; otherwise the x > 0 entries
        # are moved from α to 1.
        d = np.minimum(y, _zeros_like(y), out=out)
        d += self.alpha
        if self.alpha != 1.0:
            d += np.multiply(x > 0, 1.0 - self.alpha, dtype=d.dtype)
        return d


@registry.register("selu")
class SELU(Activation):
    """Scaled ELU (self-normalizing networks): y = λ·x for x > 0, else λ·α·(eˣ − 1), with Klambauer et al.'s
    α = 1.6732632423543772 and λ = 1.0507009873554805 (fixed, as in Keras).

    f'(x) = λ for x ≥ 0, else λ·α·eˣ = y + λ·α. At the kink x = 0 TensorFlow takes the right-hand slope λ
    (unlike ELU, whose Keras form gives α there), and so do we. Pair SELU with ``lecun_normal`` weights and
    ``AlphaDropout``.
    """

    ALPHA = 1.6732632423543772848170429916717
    SCALE = 1.0507009873554804934193349852946

    def forward(self, x):
        x = _as_float(x)
        y = expm1_of_negative_part(x)    # as ELU: one branch per entry, the other term is exactly 0
        y *= self.ALPHA * self.SCALE
        pos = np.maximum(x, _zeros_like(x))
        pos *= self.SCALE
        y += pos
        return y

    def derivative(self, x, y, out=None):
        d = np.minimum(y, _zeros_like(y), out=out)
        d += self.ALPHA * self.SCALE
        d *= x < 0                                          # λ·α·eˣ = y + λ·α where x < 0
        d += np.multiply(x >= 0, self.SCALE, dtype=d.dtype)  # λ where x >= 0
        return d


@registry.register("gelu")
class GELU(Activation):
    """Gaussian error linear unit.

    Exact (default, as Keras 3): y = x·Φ(x) = ½·x·erfc(−x/√2), Φ the standard normal CDF;
    f'(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π). Φ(x) is recovered from the output as y/x.

    ``approximate=True``: y = ½·x·(1 + t), t = tanh(k·(x + c·x³)), k = √(2/π), c = 0.044715;
    f'(x) = ½·(1 + t) + ½·x·(1 − t²)·k·(1 + 3c·x²). With s = y/x = ½(1 + t) that is s + 2·x·s·(1 − s)·k·(1 + 3c·x²).
    """

    _K = 0.79788456080286535588   # √(2/π)
    _C = 0.044715

    def __init__(self, approximate=False):
        if not isinstance(approximate, (bool, np.bool_)):
            raise SpecError(f"GELU: argument 'approximate' must be True or False, got {approximate!r}")
        self.approximate = bool(approximate)

    def forward(self, x):
        x = _as_float(x)
        if self.approximate:
            xc = np.clip(x, -100.0, 100.0)   # tanh is ±1 long before; avoids overflow of x³ for huge |x|
            t = np.tanh(self._K * (xc + self._C * xc * xc * xc))
            t += 1.0
            t *= x
            t *= 0.5
            return t
        y = erfc(x * -_INV_SQRT2)
        y *= x
        y *= 0.5
        return y

    def derivative(self, x, y, out=None):
        s = _ratio(y, x, 0.5)                  # Φ(x), or ½(1 + t) for the tanh form
        xc = np.clip(x, -40.0, 40.0)           # φ(40) underflows to 0: no inf·0 for huge |x|
        if self.approximate:
            extra = xc * s * (1.0 - s)
            extra *= 2.0 * self._K
            extra *= 1.0 + 3.0 * self._C * xc * xc
        else:
            extra = np.exp(-0.5 * xc * xc)
            extra *= xc
            extra *= _INV_SQRT_2PI
        s += extra
        return _into(out, s)


@registry.register("sigmoid", "logistic")
class Sigmoid(Activation):
    """Logistic sigmoid: y = 1/(1 + e⁻ˣ), computed without overflow for any x; f'(x) = y·(1 − y)."""

    def forward(self, x):
        return _sigmoid(_as_float(x))

    def derivative(self, x, y, out=None):
        d = np.subtract(1.0, y, out=out)
        d *= y
        return d

    def backward(self, dy, x, y, out=None):
        d = np.subtract(1.0, y)
        d *= y
        return _scale_by(dy, d, out)


@registry.register("hard_sigmoid", "hardsigmoid")
class HardSigmoid(Activation):
    """Piecewise-linear sigmoid, Keras 3's definition: y = relu6(x + 3)/6, i.e. 0 for x ≤ −3, 1 for x ≥ 3,
    x/6 + ½ between; f'(x) = 1/6 for −3 < x < 3, else 0 (0 at the kinks)."""

    def forward(self, x):
        z = _as_float(x) + 3.0
        np.clip(z, 0.0, 6.0, out=z)
        z /= 6.0
        return z

    def derivative(self, x, y, out=None):
        z = x + 3.0                        # the kinks as Keras sees them: relu6's 0 and 6 of x + 3
        inside = (z > 0) & (z < 6)
        return np.multiply(inside, 1.0 / 6.0, dtype=x.dtype, out=out)


@registry.register("tanh")
class Tanh(Activation):
    """Hyperbolic tangent: y = tanh(x); f'(x) = 1 − y²."""

    def forward(self, x):
        return np.tanh(_as_float(x))

    def derivative(self, x, y, out=None):
        d = np.multiply(y, y, out=out)
        np.subtract(1.0, d, out=d)
        return d

    def backward(self, dy, x, y, out=None):
        d = y * y
        np.subtract(1.0, d, out=d)
        return _scale_by(dy, d, out)


@registry.register("softmax")
class Softmax(Activation):
    """Softmax along ``axis`` (default the last): y_i = e^(x_i − m) / Σ_j e^(x_j − m), m = max_j x_j.

    Subtracting the max changes nothing mathematically and keeps exp from overflowing. The Jacobian
    ∂y_i/∂x_j = y_i·(δ_ij − y_j) is not diagonal; its product with dy is dx = y ⊙ (dy − Σ_j dy_j·y_j).
    (With a cross-entropy loss the model fuses the two and uses the simpler logits gradient (p − y)/N.)
    """

    elementwise = False

    def __init__(self, axis=-1):
        self.axis = check_int("Softmax", "axis", axis)

    def check_rank(self, ndim, where="the input"):
        if not -ndim <= self.axis < ndim:
            raise SpecError(f"softmax: argument 'axis' is {self.axis}, but {where} has {ndim} axes "
                            f"(batch included), so axis must be in {-ndim}..{ndim - 1}")

    def forward(self, x):
        x = _as_float(x)
        self.check_rank(x.ndim)
        e = x - np.max(x, axis=self.axis, keepdims=True)
        np.exp(e, out=e)
        e /= np.sum(e, axis=self.axis, keepdims=True)
        return e

    def backward(self, dy, x, y, out=None):
        inner = np.sum(dy * y, axis=self.axis, keepdims=True)
        dx = np.subtract(dy, inner, out=out)
        dx *= y
        return dx


@registry.register("softplus")
class Softplus(Activation):
    """Softplus (smooth ReLU): y = log(1 + eˣ), computed as log1p(e^(−|x|)) + max(x, 0) (no overflow, no loss of
    precision for large |x|); f'(x) = σ(x) = 1 − e^(−y), read off the output."""

    def forward(self, x):
        x = _as_float(x)
        y = np.exp(-np.abs(x))
        np.log1p(y, out=y)
        y += np.maximum(x, _zeros_like(x))
        return y

    def derivative(self, x, y, out=None):
        d = np.negative(y, out=out)
        np.expm1(d, out=d)
        np.negative(d, out=d)
        return d


@registry.register("softsign")
class Softsign(Activation):
    """Softsign: y = x/(1 + |x|); f'(x) = 1/(1 + |x|)²."""

    def forward(self, x):
        x = _as_float(x)
        return x / (np.abs(x) + 1.0)

    def derivative(self, x, y, out=None):
        d = np.abs(x, out=out)
        d += 1.0
        np.multiply(d, d, out=d)
        np.reciprocal(d, out=d)
        return d


@registry.register("silu", "swish")
class SiLU(Activation):
    """Sigmoid-weighted linear unit (swish): y = x·σ(x); f'(x) = σ + x·σ·(1 − σ) = σ + y·(1 − σ), with σ = y/x
    recovered from the output."""

    def forward(self, x):
        x = _as_float(x)
        y = _sigmoid(x)
        y *= x
        return y

    def derivative(self, x, y, out=None):
        s = _ratio(y, x, 0.5)
        d = np.subtract(1.0, s)
        d *= y
        d += s
        return _into(out, d)


@registry.register("exponential", "exp")
class Exponential(Activation):
    """y = eˣ; f'(x) = eˣ = y."""

    def forward(self, x):
        return np.exp(_as_float(x))

    def derivative(self, x, y, out=None):
        return y.copy() if out is None else _into(out, y)

    def backward(self, dy, x, y, out=None):
        return np.multiply(dy, y, out=out)


# ---------------------------------------------------------------------------------------------------- lookup

def get(identifier):
    """An activation from a spec (``"relu"``, ``"leaky_relu(negative_slope=0.1)"``), a ``{"name", "config"}`` dict,
    an :class:`Activation` instance or class. ``None`` (and ``"none"``) mean no activation: :class:`Linear`."""
    if identifier is None or (isinstance(identifier, str) and identifier.strip().lower() == "none"):
        return Linear()
    return registry.get(identifier)


def serialize(obj):
    """``{"name": ..., "config": {...}}`` (what :func:`get` reads back)."""
    return to_json(obj)
