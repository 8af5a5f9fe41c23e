"""Weight penalties: L2 (ridge / weight decay), L1 (lasso) and L1L2 (elastic net).

A regularizer R(W) adds a penalty to the training loss,

    total = (1/N) Σ_n ℓ(out_n, y_n) + Σ_layers Σ_params R(W),

once per batch (not divided by the batch size, as in Keras), and its gradient dR/dW is added to the data gradient
of W before the optimizer step.

==============================  ===================  ==================  =====================
spec                            R(W)                 dR/dW               Keras equivalent
==============================  ===================  ==================  =====================
``l2(lambd=λ)``                 ½·λ·Σ w²             λ·w                 ``L2(λ/2)``
``l2(l2=λ)``                    λ·Σ w²               2·λ·w               ``L2(λ)``
``l1(lambd=λ)`` / ``l1(l1=λ)``  λ·Σ |w|              λ·sign(w)           ``L1(λ)``
``l1l2(l1=a, l2=b)``            a·Σ |w| + b·Σ w²     a·sign(w) + 2·b·w   ``L1L2(a, b)``
==============================  ===================  ==================  =====================

``lambd`` is the textbook convention (the ½ makes the gradient λ·w, so plain SGD shrinks every weight by the
factor 1 − η·λ: "weight decay"); ``l1``/``l2`` are Keras's keywords with Keras's meaning. sign(0) = 0, as the
subgradient TensorFlow uses for |w| at 0.

**Strengths are keywords only.** ``l2(0.01)`` reads as Keras's ``L2(0.01)`` = 0.01·Σw² to a Keras user and as the
textbook ½·0.01·Σw² to a reader of the seed code — a factor of two apart, silently. So a bare number is refused
(in a spec string and in the constructor, for ``l1``/``l2``/``l1l2`` alike) with a :class:`SpecError` that shows
both spellings; the keyword says the convention. Strengths must be finite, ≥ 0, and small enough that the
gradient factor 2·c stays finite (``L2(lambd=10**400)`` is a ``SpecError``, not an ``OverflowError``).

Penalties are returned as Python floats; gradients keep the dtype (and shape) of W.

**Folded into the optimizer step.** When the model lets a plain or momentum SGD step take the penalty itself
(:meth:`numpynet.optimizers.Optimizer.apply_scaled_gradients`), the step asks for s·dR/dW (s = −η) with
:meth:`RegularizerBase.scaled_grad` — one pass for L2 (``W·(s·2c)``) instead of dR/dW and then the scaling — and, for
a penalty whose gradient is k·W (L2; L1L2 without its L1 term), for :attr:`RegularizerBase.linear_factor` k, which lets
plain SGD shrink W in place: w ← (1 − η·k)·w − η·g, the same number as w − η·(g + k·w).
"""

from __future__ import annotations

import numpy as np

from .errors import SpecError
from .spec import Configurable, Registry, check_number, to_json

__all__ = ["RegularizerBase", "Regularizer", "L1", "L2", "L1L2", "registry", "get", "serialize"]


class RegularizerBase(Configurable):
    """A penalty R(W) on one parameter array.

    Subclasses implement ``loss(W) -> float`` and ``grad(W, out=None) -> ndarray`` (same shape and dtype as W;
    written into ``out`` when given). ``reg(W)`` is ``reg.loss(W)``.
    """

    def loss(self, W):
        raise NotImplementedError

    def grad(self, W, out=None):
        raise NotImplementedError

    #: k when dR/dW = k·W (a penalty c·Σw², k = 2c); None for any other penalty
    linear_factor = None

    def scaled_grad(self, W, scale, out):
        """``scale``·dR/dW written into ``out`` (same shape and dtype as W): one pass W·(scale·k) for a penalty with a
        :attr:`linear_factor` k, else :meth:`grad` followed by one scaling pass."""
        k = self.linear_factor
        if k is not None:
            return np.multiply(W, scale * k, out=out)
        return np.multiply(self.grad(W), scale, out=out)   # any grad(W), also one without out=

    def __call__(self, W):
        return self.loss(W)


#: Shorter name for the base class (what Keras calls ``keras.regularizers.Regularizer``).
Regularizer = RegularizerBase


# ---------------------------------------------------------------------------------------------------- helpers

def _sum_of_squares(W):
    """Σ w² as a Python float.

    ``np.dot`` of the flattened array with itself is one BLAS call with no temporary (about 7x faster than
    ``np.sum(W * W)``); float64 weights accumulate in float64, float32 weights to float32 precision, as Keras.
    """
    flat = np.ravel(W)
    return float(np.dot(flat, flat))


def _sum_of_abs(W):
    """Σ |w| as a Python float (NumPy's pairwise summation keeps the rounding error at O(log n)·eps)."""
    return float(np.abs(W).sum())


def _strength(owner, key, value):
    """Validate one penalty strength: a finite number ≥ 0 whose doubled value is finite too.

    ``check_number`` refuses NaN, ±inf and integers too large for a float (``10**400``) with a :class:`SpecError`;
    the doubling bound matters because the gradient of c·Σw² is 2c·w: a strength of 1e308 would make every
    gradient infinite.
    """
    value = check_number(owner, key, value, minimum=0.0)
    if not np.isfinite(2.0 * value):
        raise SpecError(f"{owner}: argument {key!r} must be at most {np.finfo(np.float64).max / 2:.3g} "
                        f"(the gradient 2·{key}·w must stay finite), got {value!r}")
    return value


def _bare_number_message(kind, given_name, args):
    """The text of the error for ``l2(0.01)`` and friends: a strength without the keyword that says its convention."""
    shown = ", ".join(repr(a) for a in args)
    x = args[0] if isinstance(args[0], (int, float)) and not isinstance(args[0], bool) else 0.01
    if kind == "l2":
        return (f"{given_name}({shown}): a bare number is ambiguous — Keras reads l2({x!r}) as {x!r}·Σw², numpynet's "
                f"textbook form as ½·{x!r}·Σw², half as strong. Name the convention: l2(lambd={x!r}) = ½·λ·Σw², "
                f"gradient λ·w (numpynet's textbook form), or l2(l2={x!r}) = λ·Σw², gradient 2λ·w (Keras's "
                f"L2({x!r}), the same as l2(lambd={2 * x!r}))")
    if kind == "l1":
        return (f"{given_name}({shown}): regularizer strengths are keyword-only (a bare number in l2 is ambiguous, "
                f"so it is refused in l1 too): write l1(lambd={x!r}) or l1(l1={x!r}) (Keras's keyword); both are "
                f"λ·Σ|w|, gradient λ·sign(w)")
    return (f"{given_name}({shown}): regularizer strengths are keyword-only: write l1l2(l1=a, l2=b) = a·Σ|w| + "
            f"b·Σw² (Keras's L1L2(a, b), no ½ on b); for the textbook ½·λ·Σw² use l2(lambd=λ)")


def _explain_positional(cls, name, args):
    """``Registry.build``'s hook: the spec ``l2(0.01)`` is refused with the message that shows both conventions.
    (The generic "takes at most 0 positional arguments" would not tell a Keras user why, or what to write.)"""
    return _bare_number_message(cls.spec_name, name, args)


def _refuse_positional(kind, args):
    if args:
        raise SpecError(_bare_number_message(kind, kind.upper(), args))


registry = Registry("regularizer", RegularizerBase, allow_none=True)


def _one_strength(owner, pairs, default):
    """Pick the single strength given among ``pairs`` (keyword -> value); none given -> ``default``."""
    given = [(key, value) for key, value in pairs if value is not None]
    if len(given) > 1:
        keys = " and ".join(repr(key) for key, _ in given)
        raise SpecError(f"{owner}: give only one of {keys}, they are alternative conventions for the same strength")
    if not given:
        return default
    key, value = given[0]
    return key, _strength(owner, key, value)


# ---------------------------------------------------------------------------------------------------- classes

@registry.register("l2")
class L2(RegularizerBase):
    """Squared-norm penalty (ridge / weight decay); the keyword chooses the convention.

    * ``L2(lambd=λ)``: R(W) = ½·λ·Σ w²,  dR/dW = λ·W  (textbook; default λ = 0.01)
    * ``L2(l2=λ)``: R(W) = λ·Σ w²,  dR/dW = 2·λ·W  (Keras's ``L2(λ)``)

    Both are c·Σ w² with gradient 2c·W; ``keras_l2`` is that c, the argument of the equivalent Keras ``L2``.
    ``str()`` keeps the keyword given: ``str(L2(l2=0.1)) == "l2(l2=0.1)"``. ``L2(0.01)`` (a bare number) is a
    :class:`SpecError`: the two conventions differ by a factor of two, so the keyword must say which.
    """

    explain_positional = classmethod(_explain_positional)   # the registry refuses "l2(0.01)" with both spellings

    def __init__(self, *args, lambd=None, l2=None):
        _refuse_positional("l2", args)
        key, value = _one_strength("L2", [("lambd", lambd), ("l2", l2)], default=("lambd", 0.01))
        self.lambd = value if key == "lambd" else None
        self.l2 = value if key == "l2" else None
        self._key = key
        # c in R(W) = c·Σw²; a Python float, so multiplying a float32 array keeps float32
        self._c = value / 2.0 if key == "lambd" else value
        self._two_c = 2.0 * self._c

    @property
    def keras_l2(self):
        """The Keras ``L2`` factor of this penalty: λ/2 for ``lambd=λ``, λ for ``l2=λ``."""
        return self._c

    def get_config(self):
        return {self._key: self.lambd if self._key == "lambd" else self.l2}

    def loss(self, W):
        return self._c * _sum_of_squares(W)

    def grad(self, W, out=None):
        return np.multiply(W, self._two_c, out=out)

    @property
    def linear_factor(self):
        """k = 2c of dR/dW = k·W (None in a subclass with its own ``grad``, which may be another function)."""
        return self._two_c if type(self).grad is L2.grad else None


@registry.register("l1")
class L1(RegularizerBase):
    """Absolute-value penalty (lasso): R(W) = λ·Σ |w|,  dR/dW = λ·sign(W), sign(0) = 0.

    ``L1(lambd=λ)`` and ``L1(l1=λ)`` (Keras's keyword) mean the same; default λ = 0.01. ``str()`` keeps the
    keyword given. The penalty drives small weights to exactly zero (sparse weights). A bare number
    (``L1(0.01)``) is refused like ``L2(0.01)``, so that no regularizer strength is ever read without its keyword.
    """

    explain_positional = classmethod(_explain_positional)

    def __init__(self, *args, lambd=None, l1=None):
        _refuse_positional("l1", args)
        key, value = _one_strength("L1", [("lambd", lambd), ("l1", l1)], default=("lambd", 0.01))
        self.lambd = value if key == "lambd" else None
        self.l1 = value if key == "l1" else None
        self._key = key
        self._lam = value

    @property
    def keras_l1(self):
        """The Keras ``L1`` factor of this penalty (λ, whichever keyword was used)."""
        return self._lam

    def get_config(self):
        return {self._key: self._lam}

    def loss(self, W):
        return self._lam * _sum_of_abs(W)

    def grad(self, W, out=None):
        out = np.sign(W, out=out)
        out *= self._lam
        return out

    def scaled_grad(self, W, scale, out):
        """scale·λ·sign(W) in ``out``, two passes and no temporary."""
        if type(self).grad is not L1.grad:
            return super().scaled_grad(W, scale, out)
        np.sign(W, out=out)
        out *= scale * self._lam
        return out


@registry.register("l1l2", "l1_l2", "elastic_net")
class L1L2(RegularizerBase):
    """Elastic net, Keras's meaning: R(W) = l1·Σ |w| + l2·Σ w²,  dR/dW = l1·sign(W) + 2·l2·W.

    Both strengths default to 0 (as Keras's ``L1L2``). Keyword only: ``L1L2(0.1, 0.2)`` is refused, since
    ``l2=`` here is Keras's λ·Σw² and never the textbook ½·λ·Σw².
    """

    explain_positional = classmethod(_explain_positional)

    def __init__(self, *args, l1=0.0, l2=0.0):
        _refuse_positional("l1l2", args)
        self.l1 = _strength("L1L2", "l1", l1)
        self.l2 = _strength("L1L2", "l2", l2)

    def loss(self, W):
        total = 0.0
        if self.l1:
            total += self.l1 * _sum_of_abs(W)
        if self.l2:
            total += self.l2 * _sum_of_squares(W)
        return total

    def grad(self, W, out=None):
        if self.l1:
            out = np.sign(W, out=out)
            out *= self.l1
            if self.l2:
                out += (2.0 * self.l2) * W   # one temporary: W itself must stay untouched
            return out
        return np.multiply(W, 2.0 * self.l2, out=out)

    @property
    def linear_factor(self):
        """2·l2 when there is no L1 term (dR/dW = 2·l2·W), else None (also in a subclass with its own ``grad``)."""
        return None if self.l1 or type(self).grad is not L1L2.grad else 2.0 * self.l2


# ---------------------------------------------------------------------------------------------------- lookup

def get(identifier):
    """A regularizer from a spec (``"l2(lambd=0.01)"``), a ``{"name", "config"}`` dict or an instance;
    ``None`` / ``"none"`` give ``None`` (no penalty)."""
    return registry.get(identifier)


def serialize(obj):
    """``{"name": ..., "config": {...}}`` (what :func:`get` reads back); ``None`` stays ``None``."""
    return to_json(obj)
