"""Initializers: statistics and bounds on large samples, fans, orthogonality, determinism, specs."""

import json
import math

import numpy as np
import pytest

from numpynet import initializers
from numpynet.errors import ShapeError, SpecError

TRUNC = 0.87962566103423978
NAMES = initializers.registry.names()
BIG = (400, 500)          # 200,000 draws: sample std within ~0.5% of the true one


def draw(spec, shape=BIG, seed=0, dtype=np.float64):
    return initializers.get(spec)(shape, dtype=dtype, rng=np.random.default_rng(seed))


def test_the_registry_has_every_name():
    assert set(NAMES) == {"zeros", "ones", "constant", "std_normal", "random_normal", "random_uniform",
                          "truncated_normal", "variance_scaling", "glorot_uniform", "glorot_normal", "he_uniform",
                          "he_normal", "lecun_uniform", "lecun_normal", "orthogonal"}


# ---------------------------------------------------------------------------------------------------- fans

@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)), ((7,), (7, 7)), ((3, 4), (3, 4)), ((3, 3, 64, 128), (576, 1152)), ((5, 16, 32), (80, 160)),
    ((2, 3, 4, 5, 6), (120, 144))])
def test_compute_fans_follows_keras(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_compute_fans_with_explicit_axes():
    assert initializers.compute_fans((2, 3, 4), input_axes=[0, 1], output_axes=[2]) == (6, 4)


# ---------------------------------------------------------------------------------------------------- constants

def test_constants():
    np.testing.assert_array_equal(draw("zeros", (3, 2)), np.zeros((3, 2)))
    np.testing.assert_array_equal(draw("ones", (4,)), np.ones(4))
    np.testing.assert_array_equal(draw("constant(value=0.25)", (2, 2)), np.full((2, 2), 0.25))
    np.testing.assert_array_equal(draw("constant", (2,)), [0.0, 0.0])


# ---------------------------------------------------------------------------------------------------- statistics

def assert_moments(w, mean, std, rel=0.01):
    n = w.size
    assert abs(w.mean() - mean) < 5 * std / math.sqrt(n), (w.mean(), mean)
    assert w.std() == pytest.approx(std, rel=rel), (w.std(), std)


@pytest.mark.parametrize("spec, mean, std", [
    ("std_normal", 0.0, 1.0), ("std_normal(scale=0.5)", 0.0, 0.5), ("random_normal", 0.0, 0.05),
    ("random_normal(mean=0.5, stddev=0.25)", 0.5, 0.25)])
def test_normal_statistics(spec, mean, std):
    w = draw(spec)
    assert_moments(w, mean, std)
    assert np.abs(w - mean).max() > 3.5 * std       # untruncated: the tails are there


@pytest.mark.parametrize("spec, low, high", [
    ("random_uniform", -0.05, 0.05), ("random_uniform(minval=-0.25, maxval=0.5)", -0.25, 0.5)])
def test_uniform_statistics_and_bounds(spec, low, high):
    w = draw(spec)
    assert low <= w.min() < low + 0.001 * (high - low) and high - 0.001 * (high - low) < w.max() <= high
    assert_moments(w, (low + high) / 2, (high - low) / math.sqrt(12))


@pytest.mark.parametrize("spec, mean, stddev", [("truncated_normal", 0.0, 0.05),
                                                ("truncated_normal(mean=0.5, stddev=0.25)", 0.5, 0.25)])
def test_truncated_normal_is_cut_at_two_stddev(spec, mean, stddev):
    w = draw(spec)
    assert np.abs(w - mean).max() <= 2 * stddev
    assert np.abs(w - mean).max() > 1.99 * stddev
    assert_moments(w, mean, TRUNC * stddev)


def fan_n(shape, mode):
    fan_in, fan_out = initializers.compute_fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


# name -> (scale, mode, distribution)
PRESETS = {"glorot_uniform": (1.0, "fan_avg", "uniform"), "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
           "he_uniform": (2.0, "fan_in", "uniform"), "he_normal": (2.0, "fan_in", "truncated_normal"),
           "lecun_uniform": (1.0, "fan_in", "uniform"), "lecun_normal": (1.0, "fan_in", "truncated_normal"),
           "variance_scaling": (1.0, "fan_in", "truncated_normal"),
           "variance_scaling(scale=2.0, mode='fan_avg', distribution='uniform')": (2.0, "fan_avg", "uniform"),
           "variance_scaling(mode='fan_out', distribution='untruncated_normal')":
               (1.0, "fan_out", "untruncated_normal"),
           "variance_scaling(scale=0.5, mode='fan_out', distribution='normal')": (0.5, "fan_out", "truncated_normal")}


@pytest.mark.parametrize("shape", [(300, 200), (3, 3, 64, 128)], ids=["dense", "conv"])
@pytest.mark.parametrize("spec", list(PRESETS))
def test_variance_scaling_family(spec, shape):
    scale, mode, distribution = PRESETS[spec]
    var = scale / max(1.0, fan_n(shape, mode))
    w = draw(spec, shape)
    assert w.shape == shape
    assert_moments(w, 0.0, math.sqrt(var), rel=0.015)      # the truncation correction gives the full variance
    if distribution == "uniform":
        limit = math.sqrt(3 * var)
        assert w.max() <= limit and w.min() >= -limit and w.max() > 0.99 * limit
    elif distribution == "truncated_normal":
        bound = 2 * math.sqrt(var) / TRUNC
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    else:
        assert np.abs(w).max() > 4 * math.sqrt(var)


def test_glorot_uniform_limit_by_hand():
    w = draw("xavier_uniform", (300, 200))
    limit = math.sqrt(6 / (300 + 200))
    assert limit * 0.999 < np.abs(w).max() <= limit


def test_he_normal_on_a_conv_kernel():
    w = draw("he_normal", (5, 5, 32, 64))
    assert w.std() == pytest.approx(math.sqrt(2 / (5 * 5 * 32)), rel=0.015)


def test_small_fans_are_not_divided_below_one():
    w = draw("variance_scaling(mode='fan_in', distribution='uniform')", (0, 10))
    assert w.shape == (0, 10)
    assert initializers.get("variance_scaling").variance((0, 5)) == 1.0


# ---------------------------------------------------------------------------------------------------- orthogonal

@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (3, 3, 4, 8), (16, 16)])
def test_orthogonal_is_orthogonal(shape):
    w = draw("orthogonal", shape)
    assert w.shape == shape
    flat = w.reshape(-1, shape[-1])
    if flat.shape[0] >= flat.shape[1]:
        np.testing.assert_allclose(flat.T @ flat, np.eye(flat.shape[1]), atol=1e-12)   # orthonormal columns
    else:
        np.testing.assert_allclose(flat @ flat.T, np.eye(flat.shape[0]), atol=1e-12)   # orthonormal rows


def test_orthogonal_gain_and_rank():
    w = draw("orthogonal(gain=0.5)", (30, 10))
    np.testing.assert_allclose(w.T @ w, 0.25 * np.eye(10), atol=1e-12)
    with pytest.raises(ShapeError, match="at least 2"):
        draw("orthogonal", (5,))


def test_orthogonal_is_spread_over_both_signs():
    """The sign correction makes Q Haar-distributed: the diagonal of Q is not biased to one sign."""
    diag = np.array([np.diag(draw("orthogonal", (8, 8), seed=s)) for s in range(200)])
    assert abs(np.mean(diag > 0) - 0.5) < 0.05


# ---------------------------------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("spec", NAMES)
def test_same_generator_state_same_values(spec):
    a = draw(spec, (20, 30), seed=7)
    b = draw(spec, (20, 30), seed=7)
    np.testing.assert_array_equal(a, b)
    if spec not in ("zeros", "ones", "constant"):
        assert not np.array_equal(a, draw(spec, (20, 30), seed=8))


@pytest.mark.parametrize("spec", NAMES)
def test_dtype_is_respected(spec):
    w32 = draw(spec, (20, 30), seed=3, dtype=np.float32)
    w64 = draw(spec, (20, 30), seed=3, dtype=np.float64)
    assert w32.dtype == np.float32 and w64.dtype == np.float64
    np.testing.assert_array_equal(w32, w64.astype(np.float32))     # drawn in float64, then rounded
    assert initializers.get(spec)((4, 3)).dtype == np.float32      # the default dtype; rng=None works


def test_a_generator_advances_between_calls():
    rng = np.random.default_rng(0)
    init = initializers.get("glorot_uniform")
    assert not np.array_equal(init((5, 5), rng=rng), init((5, 5), rng=rng))


def test_string_dtype_and_int_shape():
    w = initializers.get("ones")(3, dtype="float64")
    assert w.shape == (3,) and w.dtype == np.float64


# ---------------------------------------------------------------------------------------------------- specs

@pytest.mark.parametrize("spec", NAMES + initializers.registry.aliases() + list(PRESETS) + [
    "constant(value=-1.5)", "random_uniform(minval=0.0, maxval=2.0)", "orthogonal(gain=2.0)",
    "variance_scaling(input_axes=[0], output_axes=[1])"])
def test_spec_round_trip(spec):
    init = initializers.get(spec)
    assert initializers.get(str(init)) == init
    assert initializers.get(json.loads(json.dumps(initializers.serialize(init)))) == init


def test_presets_take_no_arguments_and_differ_from_each_other():
    assert str(initializers.get("glorot_uniform")) == "glorot_uniform"
    assert initializers.get("glorot_uniform") != initializers.get("glorot_normal")
    with pytest.raises(SpecError, match="no argument 'scale'"):
        initializers.get("he_normal(scale=3.0)")


def test_instances_pass_through_and_unknown_names_are_refused():
    init = initializers.RandomNormal(stddev=0.1)
    assert initializers.get(init) is init
    with pytest.raises(SpecError, match="Did you mean 'he_normal'"):
        initializers.get("he_norml")


@pytest.mark.parametrize("spec, words", [
    ("random_normal(stddev=-1.0)", ["RandomNormal", "stddev", ">= 0"]),
    ("std_normal(scale=-2)", ["StdNormal", "scale"]),
    ("random_uniform(minval=1.0, maxval=0.0)", ["RandomUniform", "maxval"]),
    ("variance_scaling(mode='fan_x')", ["VarianceScaling", "mode", "fan_avg"]),
    ("variance_scaling(distribution='cauchy')", ["VarianceScaling", "distribution", "uniform"]),
    ("variance_scaling(scale=0.0)", ["VarianceScaling", "scale", "> 0"]),
    ("constant(value='a')", ["Constant", "value", "number"]),
])
def test_bad_arguments_are_spec_errors(spec, words):
    with pytest.raises(SpecError) as info:
        initializers.get(spec)
    for word in words:
        assert word in str(info.value)


def test_bad_calls():
    init = initializers.get("glorot_uniform")
    with pytest.raises(ShapeError, match="shape"):
        init((3, -1))
    with pytest.raises(ShapeError, match="shape"):
        init((3, 2.5))
    with pytest.raises(SpecError, match="dtype"):
        init((3, 3), dtype=np.int32)
    with pytest.raises(SpecError, match="rng"):
        init((3, 3), rng="seed")
