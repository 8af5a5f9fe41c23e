"""numpynet/core/activations.py behaviour that the mutation run (issue 13) found untested: the shared read-only zero
buffer behind max(x, 0) (right from a cold cache, one buffer per dtype), dtypes (integer input becomes floatx,
float32 derivatives stay float32, a float64 dy is never rounded to a float32 buffer), the exact kinks of relu6',
ELU with α ≠ 1, the approximate GELU on huge |x| (no overflow, no NaN), softmax's axis range and the text of every
error message, and that Exponential.derivative returns a new array.

Every expected value comes from a plain textbook formula below (float64, ``math``), never from the code's own output.

Survivors of the run judged equivalent, 26 of 70 — no test can tell them apart from the original (mutant names as in
the run, ``x_…__mutmut_N`` / ``xǁClassǁmethod__mutmut_N``):
  * 9 a fresh array instead of writing into a temporary that nothing else holds (allocation only):
    _sigmoid 15 18 (``out=None`` / no ``out``), LeakyReLU.forward 12 15 20 23 (same, both branches),
    _scale_by 5 7 8 (5 and 7 only ever drop the reuse of the caller's buffer ``d``, never reuse it wrongly; 8 never
    reuses it).
  * 1 _scale_by 4 (``np.result_type(None, d)``, None read as float64): it reuses ``d`` wrongly only when ``dy`` is
    wider than float64 (longdouble/complex), which no numpynet layer produces; float16/32/64 only lose the reuse.
  * 4 _ratio 3 10 15 18: ``<=`` for ``<`` 1e-30 and ``x − tiny`` for ``x + tiny`` only change entries with
    |x| ≤ 1e-30, where y/x and ``at_zero`` (0.5) agree exactly (|y| ≤ |x|/2 vanishes against 0.5); ``dtype=None``
    adds the same 0 or 0.5 in float64 and rounds back to the same float32 value.
  * 1 _zeros_like 11: ``flags.writeable = None`` is ``False``.
  * 2 SELU.derivative 20 23 (``dtype=None``): adds λ in float64 to an exact 0 and rounds back to float32(λ); the
    x < 0 entries add an exact 0.
  * 2 ELU.derivative 17 20 (``dtype=None``): rounding only — α + (1 − α) summed in float64 instead of float32 for
    x > 0; both forms are off from 1 by at most an ulp, each for different α.
  * 1 LeakyReLU.forward 16 (``< 1.0`` for ``<= 1.0``): at slope 1, min(x, x) = max(x, x).
  * 4 GELU bounds 100 → 101 and 40 → 41 (forward 11 12, derivative 17 18): tanh is exactly ±1 and
    e^(−x²/2) exactly 0 on both sides of either bound.
  * 2 Activation.check_rank 1 2: the base class's check_rank is a no-op, its ``where`` default is never read.
ELU.forward and SELU.forward changed after the run (now built on expm1_of_negative_part). Their only survivor,
``alpha != 2.0`` (ELU.forward 15 then, 6 in the regenerated mutants), still applies to the current source and is
killed below (α = 2). The 67 mutants of the new code (ELU.forward, SELU.forward, expm1_of_negative_part) all fail
tests/test_activations.py together with this file.
"""

import math
import warnings

import numpy as np
import pytest

from numpynet.core import activations as A
from numpynet.core import config
from numpynet.errors import SpecError


@pytest.fixture
def cold_zeros(monkeypatch):
    """An empty zero-buffer cache, as in a fresh process (whatever earlier tests left there)."""
    monkeypatch.setattr(A, "_ZEROS", {})


@pytest.fixture
def restore_floatx():
    before = config.floatx()
    yield
    config.set_floatx(before)


# ------------------------------------------------------------------------------------ the shared zero buffer

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_with_zero_from_a_cold_cache_keeps_dtype_and_values(cold_zeros, dtype):
    x = np.array([[-2.5, 0.0, 1.5], [3.0, -0.5, 7.0]], dtype=dtype)
    expected = [[max(v, 0.0) for v in row] for row in x.astype(np.float64).tolist()]
    for act in (A.ReLU(), A.ELU(), A.SELU(), A.Softplus()):
        y = act(x)
        assert y.dtype == dtype, type(act).__name__
    y = A.ReLU()(x)
    np.testing.assert_array_equal(y, np.array(expected, dtype=dtype))
    # a larger batch afterwards: the buffer grows
    big = np.full((5, 7), -1.0, dtype=dtype)
    big[0, 0] = 4.0
    y = A.ReLU()(big)
    assert y.dtype == dtype and y.shape == (5, 7)
    assert y[0, 0] == 4.0 and np.count_nonzero(y) == 1


def test_zero_buffer_is_read_only_shaped_and_shared_per_dtype(cold_zeros):
    a = A._zeros_like(np.ones((4, 5), dtype=np.float32))
    assert a.shape == (4, 5) and a.dtype == np.float32 and not a.any()
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0] = 1.0
    b = A._zeros_like(np.ones((2, 3), dtype=np.float32))        # smaller: a view of the same buffer
    c = A._zeros_like(np.ones((4, 5), dtype=np.float32))        # same size: still the same buffer
    assert b.shape == (2, 3) and np.shares_memory(a, b) and np.shares_memory(a, c)
    d = A._zeros_like(np.ones((4, 5), dtype=np.float64))        # another dtype: its own buffer
    assert d.dtype == np.float64 and not np.shares_memory(a, d) and not d.flags.writeable


# ------------------------------------------------------------------------------------ dtypes

@pytest.mark.parametrize("fx", ["float32", "float64"])
def test_integer_bool_and_list_input_becomes_floatx(restore_floatx, fx):
    config.set_floatx(fx)
    for raw in (np.array([3, -2, 0]), np.array([True, False]), [1, -1]):
        y = A.ReLU()(raw)
        assert y.dtype == np.dtype(fx)
        np.testing.assert_array_equal(y, np.maximum(np.asarray(raw, dtype=np.float64), 0.0))


@pytest.mark.parametrize("act", [A.ReLU(), A.ReLU6()], ids=["relu", "relu6"])
def test_relu_derivatives_keep_float32(act):
    x = np.array([-1.0, 0.5, 2.0, 7.0], dtype=np.float32)
    d = act.derivative(x, act(x))
    assert d.dtype == np.float32


@pytest.mark.parametrize("act", [A.Sigmoid(), A.Tanh(), A.Softsign()], ids=["sigmoid", "tanh", "softsign"])
@pytest.mark.parametrize("dy_dtype,x_dtype", [(np.float64, np.float32), (np.float32, np.float64),
                                              (np.float32, np.float32), (np.float64, np.float64)])
def test_backward_dtype_is_the_wider_of_dy_and_x(act, dy_dtype, x_dtype):
    """A float64 dy through a float32 layer must not be rounded into a float32 buffer."""
    x = np.array([-2.0, -0.3, 0.0, 0.7, 1.9], dtype=x_dtype)
    y = act(x)
    dy = np.array([1.0 + 1e-9, -0.25 + 1e-10, 0.5, 3.0 - 1e-9, -1.0], dtype=dy_dtype)
    xs = x.astype(np.float64).tolist()
    if isinstance(act, A.Sigmoid):
        f1 = [1.0 / (1.0 + math.exp(-v)) * (1.0 - 1.0 / (1.0 + math.exp(-v))) for v in xs]
    elif isinstance(act, A.Tanh):
        f1 = [1.0 - math.tanh(v) ** 2 for v in xs]
    else:
        f1 = [1.0 / (1.0 + abs(v)) ** 2 for v in xs]
    expected = dy.astype(np.float64) * np.array(f1)
    dx = act.backward(dy, x, y)
    assert dx.dtype == np.result_type(dy_dtype, x_dtype)
    rtol = 1e-12 if dx.dtype == np.float64 and x_dtype == np.float64 else 2e-6
    np.testing.assert_allclose(dx, expected, rtol=rtol, atol=0)


# ------------------------------------------------------------------------------------ kinks and α ≠ 1

def test_relu6_derivative_is_one_strictly_inside_zero_to_six():
    x = np.array([-1.0, 0.0, 1e-6, 3.0, 6.0 - 1e-6, 6.0, 6.5, 7.0, 100.0])
    act = A.ReLU6()
    expected = [1.0 if 0.0 < v < 6.0 else 0.0 for v in x.tolist()]
    np.testing.assert_array_equal(act.derivative(x, act(x)), expected)
    np.testing.assert_array_equal(act.backward(np.full(x.shape, 2.0), x, act(x)), 2.0 * np.array(expected))


def test_elu_with_alpha_two():
    act = A.ELU(alpha=2.0)
    x = np.array([-30.0, -2.0, -0.5, -1e-8, 0.0, 1e-8, 0.5, 3.0])
    y = act(x)
    xs = x.tolist()
    np.testing.assert_allclose(y, [v if v > 0 else 2.0 * math.expm1(v) for v in xs], rtol=1e-14, atol=0)
    # f'(x) = 1 for x > 0, α·eˣ otherwise (α at 0, as TensorFlow); read off y as y + α, so absolute accuracy
    np.testing.assert_allclose(act.derivative(x, y), [1.0 if v > 0 else 2.0 * math.exp(v) for v in xs],
                               rtol=1e-14, atol=1e-15)


# ------------------------------------------------------------------------------------ GELU on huge |x|

@pytest.mark.parametrize("approximate", [True, False], ids=["tanh", "exact"])
@pytest.mark.parametrize("dtype,big", [(np.float32, 1e20), (np.float64, 1e200)])
def test_gelu_on_huge_inputs_is_x_and_zero_without_overflow(approximate, dtype, big):
    act = A.GELU(approximate=approximate)
    x = np.array([big, -big, 50.0, -50.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # an overflow of x³ or x² would warn
        y = act(x)
        d = act.derivative(x, y)
    # x·Φ(x) → x and 0 in the tails; the derivative Φ(x) + x·φ(x) → 1 and 0
    np.testing.assert_array_equal(y, np.array([big, 0.0, 50.0, 0.0], dtype=dtype))
    np.testing.assert_array_equal(d, [1.0, 0.0, 1.0, 0.0])


# ------------------------------------------------------------------------------------ softmax axis

def ref_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_accepts_every_axis_from_minus_ndim_to_ndim_minus_one():
    x = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -0.5]])
    for axis in (-2, -1, 0, 1):
        act = A.Softmax(axis=axis)
        act.check_rank(2)
        np.testing.assert_allclose(act(x), ref_softmax(x, axis), rtol=1e-14)


@pytest.mark.parametrize("axis", [2, 3, -3])
def test_softmax_axis_out_of_range_is_a_spec_error(axis):
    msg = r"softmax: argument 'axis' is %d, but the input has 2 axes \(batch included\), so axis must be in -2\.\.1$"
    with pytest.raises(SpecError, match=msg % axis):
        A.Softmax(axis=axis)(np.ones((2, 3)))
    with pytest.raises(SpecError, match=r"but layer 'probs' output has 2 axes .* must be in -2\.\.1$"):
        A.Softmax(axis=axis).check_rank(2, where="layer 'probs' output")


def test_softmax_has_no_elementwise_derivative():
    with pytest.raises(NotImplementedError, match=r"^Softmax has no elementwise derivative; use backward\(\)"):
        A.Softmax().derivative(np.ones((2, 3)), np.full((2, 3), 1.0 / 3.0))


# ------------------------------------------------------------------------------------ argument errors

def test_negative_elu_alpha_is_rejected():
    with pytest.raises(SpecError, match=r"^ELU: argument 'alpha' must be >= 0(\.0)?, got -1\.0"):
        A.ELU(alpha=-1.0)
    assert A.ELU(alpha=0.0).alpha == 0.0


def test_negative_leaky_slope_is_rejected():
    with pytest.raises(SpecError, match=r"^LeakyReLU: argument 'negative_slope' must be >= 0(\.0)?, got -0\.1"):
        A.LeakyReLU(negative_slope=-0.1)


def test_softmax_axis_must_be_an_integer():
    with pytest.raises(SpecError, match=r"^Softmax: argument 'axis' must be an integer, got 1\.5"):
        A.Softmax(axis=1.5)


# ------------------------------------------------------------------------------------ Exponential

def test_exponential_derivative_is_a_new_array():
    act = A.Exponential()
    x = np.array([-1.0, 0.0, 2.0])
    y = act(x)
    d = act.derivative(x, y)
    np.testing.assert_allclose(d, [math.exp(v) for v in x.tolist()], rtol=1e-15)
    assert not np.shares_memory(d, y)
    d[...] = 0.0                                  # the caller owns it: the cached output is untouched
    np.testing.assert_allclose(y, [math.exp(v) for v in x.tolist()], rtol=1e-15)
    out = np.empty(3)
    assert act.derivative(x, y, out=out) is out
    np.testing.assert_array_equal(out, y)
