"""Activations: gradients against central differences, known values, kinks, dtypes, stability, specs."""

import json
import math

import numpy as np
import pytest

from numpynet import activations
from numpynet.errors import SpecError
from numpynet.gradcheck import check_function

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

#: every registered activation, plus the variants with non-default arguments
SPECS = sorted(activations.registry.names()) + [
    "leaky_relu(negative_slope=0.05)", "leaky_relu(negative_slope=1.5)", "elu(alpha=0.5)",
    "gelu(approximate=True)", "softmax(axis=0)"]


def points(shape=(6, 7), seed=0, low=-5.0, high=5.0):
    """Random float64 points kept at least 0.1 away from every kink (0, ±3, 6)."""
    x = np.random.default_rng(seed).uniform(low, high, shape)
    for kink in (0.0, 3.0, -3.0, 6.0):
        near = np.abs(x - kink) < 0.1
        x[near] += 0.25
    return x


def sigma(v):
    return 1.0 / (1.0 + math.exp(-v))


def test_the_registry_has_every_keras_name():
    assert set(activations.registry.names()) == {
        "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid", "tanh",
        "softmax", "softplus", "softsign", "silu", "exponential"}


# ---------------------------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("spec", SPECS)
def test_backward_matches_central_differences(spec):
    act = activations.get(spec)
    x = points()
    report = check_function(act.forward, lambda x, dy: act.backward(dy, x, act.forward(x)), x)
    assert report < 1e-7, f"{spec}: {report.table()}"


@pytest.mark.parametrize("spec", ["sigmoid", "tanh", "softplus", "silu", "gelu", "gelu(approximate=True)", "elu",
                                  "selu", "softsign"])
def test_gradients_of_smooth_activations_also_far_out(spec):
    act = activations.get(spec)
    x = points(low=-12.0, high=12.0, seed=3)
    assert check_function(act.forward, lambda x, dy: act.backward(dy, x, act.forward(x)), x) < 1e-6


@pytest.mark.parametrize("spec", [s for s in SPECS if not s.startswith("softmax")])
def test_backward_is_dy_times_derivative(spec):
    act = activations.get(spec)
    x = points(seed=1)
    y = act.forward(x)
    dy = np.random.default_rng(2).standard_normal(x.shape)
    np.testing.assert_allclose(act.backward(dy, x, y), dy * act.derivative(x, y), rtol=1e-14, atol=1e-300)


def test_softmax_backward_is_the_jacobian_product():
    act = activations.get("softmax")
    x = points((4, 5))
    y = act.forward(x)
    dy = np.random.default_rng(4).standard_normal(x.shape)
    for row in range(4):
        jac = np.diag(y[row]) - np.outer(y[row], y[row])      # ∂y_i/∂x_j = y_i(δ_ij − y_j)
        np.testing.assert_allclose(act.backward(dy, x, y)[row], jac.T @ dy[row], rtol=1e-12, atol=1e-15)
    with pytest.raises(NotImplementedError, match="backward"):
        act.derivative(x, y)


# ---------------------------------------------------------------------------------------------------- values

def test_known_values():
    get = activations.get
    x = np.array([-2.0, -1.0, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(get("linear")(x), x)
    np.testing.assert_array_equal(get("relu")(x), [0, 0, 0.5, 1, 2])
    np.testing.assert_array_equal(get("relu6")(np.array([-1.0, 3.0, 6.0, 7.0])), [0, 3, 6, 6])
    np.testing.assert_allclose(get("leaky_relu")(x), [-0.4, -0.2, 0.5, 1, 2], rtol=1e-15)      # Keras slope 0.2
    np.testing.assert_allclose(get("leaky_relu(negative_slope=0.5)")(x), [-1, -0.5, 0.5, 1, 2], rtol=1e-15)
    np.testing.assert_allclose(get("elu")(x), [math.expm1(-2), math.expm1(-1), 0.5, 1, 2], rtol=1e-15)
    np.testing.assert_allclose(get("elu(alpha=0.5)")(x)[:2], [0.5 * math.expm1(-2), 0.5 * math.expm1(-1)],
                               rtol=1e-15)
    np.testing.assert_allclose(get("sigmoid")(x), [sigma(v) for v in x], rtol=1e-15)
    np.testing.assert_allclose(get("tanh")(x), np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(get("softplus")(x), [math.log1p(math.exp(v)) for v in x], rtol=1e-15)
    np.testing.assert_allclose(get("softsign")(x), [-2 / 3, -0.5, 0.5 / 1.5, 0.5, 2 / 3], rtol=1e-15)
    np.testing.assert_allclose(get("silu")(x), [v * sigma(v) for v in x], rtol=1e-15)
    np.testing.assert_allclose(get("swish")(x), get("silu")(x), rtol=0)
    np.testing.assert_allclose(get("exponential")(x), np.exp(x), rtol=1e-15)


def test_selu_constants():
    selu = activations.get("selu")
    assert (selu.ALPHA, selu.SCALE) == (SELU_ALPHA, SELU_SCALE)
    np.testing.assert_allclose(selu(np.array([1.0, 2.0])), [SELU_SCALE, 2 * SELU_SCALE], rtol=1e-15)
    np.testing.assert_allclose(selu(np.array([-1.0, -50.0])),
                               [SELU_SCALE * SELU_ALPHA * math.expm1(-1.0), -SELU_SCALE * SELU_ALPHA], rtol=1e-15)


def test_gelu_exact_and_approximate():
    gelu = activations.get("gelu")
    for v in (-3.0, -1.0, -0.25, 0.0, 1.0, 2.5):
        exact = 0.5 * v * math.erfc(-v / math.sqrt(2))     # = ½·x·(1 + erf(x/√2)), without the cancellation
        assert gelu(np.array([v]))[0] == pytest.approx(exact, rel=4e-15, abs=1e-300)
    assert gelu(np.array([1.0]))[0] == pytest.approx(0.8413447460685429, rel=1e-15)       # Φ(1)
    # far left tail: x·Φ(x) is tiny but still accurate in relative terms (erfc, not 1 + erf)
    assert gelu(np.array([-10.0]))[0] == pytest.approx(-10 * 0.5 * math.erfc(10 / math.sqrt(2)), rel=1e-13)
    approx = activations.get("gelu(approximate=True)")
    for v in (-2.0, -0.5, 1.0, 3.0):
        tanh_form = 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
        assert approx(np.array([v]))[0] == pytest.approx(tanh_form, rel=1e-14)
    assert abs(approx(np.array([1.0]))[0] - gelu(np.array([1.0]))[0]) > 1e-5   # really two different functions


def test_hard_sigmoid_is_relu6_of_x_plus_3_over_6():
    hs = activations.get("hard_sigmoid")
    np.testing.assert_allclose(hs(np.array([-4.0, -3.0, -1.0, 0.0, 2.5, 3.0, 4.0])),
                               [0, 0, 1 / 3, 0.5, 11 / 12, 1, 1], rtol=1e-15)


def test_softmax_rows_sum_to_one_and_ignore_shifts():
    sm = activations.get("softmax")
    x = points((5, 4))
    y = sm(x)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(sm(x + 700.0), y, rtol=1e-13)          # stable: exp(700+) would overflow
    np.testing.assert_allclose(activations.get("softmax(axis=0)")(x).sum(axis=0), 1.0, rtol=1e-15)


def test_derivatives_at_the_kinks_follow_tensorflow():
    zero = np.zeros(1)

    def slope(spec, at):
        act = activations.get(spec)
        x = np.array([at])
        return act.backward(np.ones(1), x, act.forward(x))[0]

    assert slope("relu", 0.0) == 0.0
    assert slope("relu6", 0.0) == 0.0 and slope("relu6", 6.0) == 0.0
    assert slope("leaky_relu", 0.0) == pytest.approx(0.2)
    assert slope("elu(alpha=0.5)", 0.0) == 0.5 and slope("elu", 0.0) == 1.0
    assert slope("selu", 0.0) == pytest.approx(SELU_SCALE)
    assert slope("hard_sigmoid", -3.0) == 0.0 and slope("hard_sigmoid", 3.0) == 0.0
    assert slope("hard_sigmoid", 0.0) == pytest.approx(1 / 6)
    assert slope("gelu", 0.0) == 0.5 and slope("silu", 0.0) == 0.5
    assert activations.get("relu").derivative(zero, zero)[0] == 0.0


# ---------------------------------------------------------------------------------------------------- erf

def test_erf_and_erfc_are_float64_accurate():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-6, 6, 2000), rng.uniform(-0.6, 0.6, 500),
                        [0.0, 0.46875, -0.46875, 4.0, -4.0, 1e-300, -1e-12, 0.5, 5.0]])
    ref = np.array([math.erf(v) for v in x])
    refc = np.array([math.erfc(v) for v in x])
    # SciPy's erf/erfc (Cephes): a few ulps, 3.7e-15 relative at worst on these points (the C library's ~1e-16)
    assert np.max(np.abs(activations.erf(x) - ref) / np.maximum(np.abs(ref), 1e-300)) < 1e-14
    assert np.max(np.abs(activations.erfc(x) - refc) / refc) < 1e-14
    tail = np.array([6.0, 10.0, 20.0, 26.0])        # erfc tiny: relative accuracy kept (no 1 − erf)
    np.testing.assert_allclose(activations.erfc(tail), [math.erfc(v) for v in tail], rtol=1e-14)
    np.testing.assert_array_equal(activations.erf(np.array([np.inf, -np.inf, 30.0])), [1.0, -1.0, 1.0])
    np.testing.assert_array_equal(activations.erfc(np.array([np.inf, -np.inf, 40.0])), [0.0, 2.0, 0.0])
    assert np.isnan(activations.erf(np.array([np.nan]))).all() and np.isnan(activations.erfc(np.nan))
    np.testing.assert_allclose(activations.normal_cdf(np.array([-1.0, 0.0, 1.0])),
                               [0.15865525393145707, 0.5, 0.8413447460685429], rtol=1e-15)


def test_erf_keeps_float32():
    x = np.linspace(-5, 5, 101, dtype=np.float32)
    out = activations.erf(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [math.erf(v) for v in x.astype(np.float64)], atol=2e-7)


# ---------------------------------------------------------------------------------------------------- dtypes

@pytest.mark.parametrize("spec", SPECS)
def test_float32_stays_float32(spec):
    act = activations.get(spec)
    x = points((3, 4)).astype(np.float32)
    y = act.forward(x)
    dx = act.backward(np.ones_like(x), x, y)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert y.shape == x.shape and dx.shape == x.shape
    np.testing.assert_allclose(y, act.forward(x.astype(np.float64)), rtol=2e-6, atol=1e-6)


def test_integer_and_list_input_become_floats():
    y = activations.get("relu")([-1, 2])
    assert np.issubdtype(y.dtype, np.floating)
    np.testing.assert_array_equal(y, [0.0, 2.0])


# ---------------------------------------------------------------------------------------------------- stability

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", [s for s in SPECS if s != "exponential"])
def test_no_overflow_at_plus_minus_1000(spec, dtype):
    act = activations.get(spec)
    x = np.array([[-1000.0, 1000.0, -50.0, 50.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = act.forward(x)
        dx = act.backward(np.ones_like(x), x, y)
    assert np.isfinite(y).all() and np.isfinite(dx).all(), (y, dx)


def test_saturating_limits():
    x = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):
        np.testing.assert_array_equal(activations.get("sigmoid")(x), [0.0, 1.0])
        np.testing.assert_array_equal(activations.get("softplus")(x), [0.0, 1000.0])
        np.testing.assert_array_equal(activations.get("tanh")(x), [-1.0, 1.0])
        np.testing.assert_array_equal(activations.get("gelu")(x), [0.0, 1000.0])
        np.testing.assert_array_equal(activations.get("silu")(x), [0.0, 1000.0])
        np.testing.assert_array_equal(activations.get("elu")(x), [-1.0, 1000.0])
    small = activations.get("sigmoid")(np.array([-30.0, -700.0]))
    np.testing.assert_allclose(small, [math.exp(-30) / (1 + math.exp(-30)), math.exp(-700)], rtol=1e-14)


def test_nan_propagates():
    x = np.array([np.nan, 1.0])
    for spec in ("sigmoid", "relu", "elu", "gelu", "softplus", "silu"):
        assert np.isnan(activations.get(spec)(x)[0]), spec


# ---------------------------------------------------------------------------------------------------- in place

@pytest.mark.parametrize("spec", SPECS)
def test_out_receives_the_gradient_and_may_be_dy(spec):
    act = activations.get(spec)
    x = points((3, 5), seed=5)
    y = act.forward(x)
    dy = np.random.default_rng(6).standard_normal(x.shape)
    expected = act.backward(dy.copy(), x, y)
    buf = np.empty_like(x)
    assert act.backward(dy, x, y, out=buf) is buf
    np.testing.assert_array_equal(buf, expected)
    in_place = dy.copy()
    assert act.backward(in_place, x, y, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, expected)
    if act.elementwise:
        d = np.empty_like(x)
        assert act.derivative(x, y, out=d) is d
        np.testing.assert_array_equal(d, act.derivative(x, y))


def test_backward_does_not_touch_its_inputs():
    for spec in SPECS:
        act = activations.get(spec)
        x = points((3, 5), seed=7)
        y = act.forward(x)
        dy = np.ones_like(x)
        copies = [x.copy(), y.copy(), dy.copy()]
        act.backward(dy, x, y)
        if act.elementwise:
            act.derivative(x, y)
        for before, after in zip(copies, (x, y, dy)):
            np.testing.assert_array_equal(before, after, err_msg=spec)


# ---------------------------------------------------------------------------------------------------- specs

@pytest.mark.parametrize("spec", SPECS + activations.registry.aliases())
def test_spec_round_trip(spec):
    act = activations.get(spec)
    assert isinstance(act, activations.Activation)
    assert activations.get(str(act)) == act
    assert activations.get(json.loads(json.dumps(activations.serialize(act)))) == act


def test_round_trip_keeps_arguments():
    act = activations.get("leaky_relu(negative_slope=0.1)")
    assert str(act) == "leaky_relu(negative_slope=0.1)"
    assert activations.get(str(act)).negative_slope == 0.1
    assert activations.get("leaky_relu(0.1)") == act               # positional follows the constructor
    assert activations.get("LeakyReLU(negative_slope=0.1)") == act   # names are case-insensitive, aliases work
    assert act != activations.get("leaky_relu")
    assert str(activations.get("gelu(approximate=True)")) == "gelu(approximate=True)"
    assert str(activations.get("relu")) == "relu"


def test_get_none_is_linear_and_instances_pass_through():
    assert activations.get(None) == activations.Linear()
    assert activations.get("none") == activations.Linear()
    relu = activations.ReLU()
    assert activations.get(relu) is relu
    assert activations.get(activations.Tanh) == activations.Tanh()
    assert activations.get({"name": "elu", "config": {"alpha": 0.5}}) == activations.ELU(0.5)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(SpecError, match="Did you mean 'relu'"):
        activations.get("rellu")
    with pytest.raises(SpecError, match="unknown activation"):
        activations.get("nonsense_function")


@pytest.mark.parametrize("spec, words", [
    ("leaky_relu(negative_slope=-0.1)", ["LeakyReLU", "negative_slope", ">= 0"]),
    ("elu(alpha='big')", ["ELU", "alpha", "number"]),
    ("gelu(approximate=1)", ["GELU", "approximate", "True or False"]),
    ("softmax(axis=1.5)", ["Softmax", "axis", "integer"]),
    ("relu(alpha=1)", ["relu", "alpha"]),
])
def test_bad_arguments_are_spec_errors(spec, words):
    with pytest.raises(SpecError) as info:
        activations.get(spec)
    for word in words:
        assert word in str(info.value)


def _ulps(a, b):
    """Distance in float32 units in the last place (both arrays non-positive or zero)."""
    return np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))


def test_expm1_of_negative_part_float32_is_within_5_ulps_of_the_exact_value():
    # the reference: expm1 in float64 (exact to float32 precision), rounded once
    x = np.concatenate([-np.logspace(-45, 2.1, 200_001), np.linspace(-100.0, 0.0, 200_001),
                        -20.0 * np.random.default_rng(0).random(200_000)]).astype(np.float32)
    exact = np.expm1(x.astype(np.float64)).astype(np.float32)
    got = activations.expm1_of_negative_part(x)
    assert got.dtype == np.float32
    assert _ulps(got, exact).max() <= 5
    assert got.min() >= -1.0                              # never beyond ELU's bound −α
    tiny = np.float32(-1e-30)                             # e^x rounds to 1 there: the result is x itself
    assert activations.expm1_of_negative_part(np.array([tiny]))[0] == tiny


def test_expm1_of_negative_part_takes_the_negative_part_and_keeps_special_values():
    for dtype in (np.float32, np.float64):
        x = np.array([3.0, 0.0, -0.0, -1.0, -1e4, -np.inf, np.nan, np.inf], dtype)
        got = activations.expm1_of_negative_part(x)
        assert got.dtype == dtype
        np.testing.assert_allclose(got[:4], [0.0, 0.0, 0.0, math.expm1(-1.0)], rtol=1e-6)
        assert got[4] == -1.0 and got[5] == -1.0 and np.isnan(got[6]) and got[7] == 0.0
    x64 = np.linspace(-30.0, 5.0, 1001)
    assert np.array_equal(activations.expm1_of_negative_part(x64), np.expm1(np.minimum(x64, 0.0)))


@pytest.mark.parametrize("spec", ["elu", "elu(alpha=0.5)", "selu"])
def test_elu_family_float32_matches_the_plain_expm1_form(spec):
    # the plain textbook line: max(x, 0) + α·expm1(min(x, 0)), in float64, rounded to float32
    act = activations.get(spec)
    x = np.random.default_rng(1).normal(0.0, 3.0, (64, 50)).astype(np.float32)
    alpha = getattr(act, "alpha", act.ALPHA if hasattr(act, "ALPHA") else 1.0)
    scale = getattr(act, "SCALE", 1.0)
    x64 = x.astype(np.float64)
    plain = scale * (np.maximum(x64, 0.0) + alpha * np.expm1(np.minimum(x64, 0.0)))
    got = act.forward(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, plain, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("spec", ["gelu", "gelu(approximate=True)", "silu", "elu", "selu", "softplus", "sigmoid",
                                  "tanh", "softsign", "leaky_relu"])
def test_float16_keeps_its_dtype_and_has_finite_derivatives_at_zero(spec):
    """float16: SciPy's erfc has no float16 loop (exact GELU came back float64), and the gate y/x of GELU/SiLU
    was 0/0 at x = 0 because the 'near zero' threshold 1e-30 rounds to 0 in float16."""
    act = activations.get(spec)
    x64 = np.array([-3.0, -0.5, -1e-6, 0.0, 1e-6, 0.5, 3.0])
    x16 = x64.astype(np.float16)
    y16 = act(x16)
    d16 = act.backward(np.ones_like(x16), x16, y16)
    assert y16.dtype == np.float16 and d16.dtype == np.float16
    y64 = act(x16.astype(np.float64))
    d64 = act.backward(np.ones_like(y64), x16.astype(np.float64), y64)
    np.testing.assert_allclose(y16.astype(np.float64), y64, rtol=4e-3, atol=1e-3)
    np.testing.assert_allclose(d16.astype(np.float64), d64, rtol=4e-3, atol=1e-3)
    assert np.all(np.isfinite(d16))


def test_erf_and_erfc_keep_the_dtype():
    for dtype in (np.float16, np.float32, np.float64):
        x = np.linspace(-2, 2, 9).astype(dtype)
        assert activations.erf(x).dtype == dtype and activations.erfc(x).dtype == dtype
        np.testing.assert_allclose(activations.erf(x) + activations.erfc(x), 1.0, rtol=2e-3 if dtype == np.float16
                                   else 1e-6)
