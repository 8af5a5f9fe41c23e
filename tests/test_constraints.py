"""Constraints: the Keras formulas on hand-made weights, axes, dtypes, specs."""

import json

import numpy as np
import pytest

from numpynet import constraints
from numpynet.errors import ShapeError, SpecError

EPS = 1e-7


def columns(*norms, rows=4, seed=0):
    """A (rows, len(norms)) kernel whose column j has Euclidean norm norms[j]."""
    w = np.random.default_rng(seed).standard_normal((rows, len(norms)))
    return w / np.linalg.norm(w, axis=0) * np.array(norms)


def test_the_registry_has_every_name():
    assert set(constraints.registry.names()) == {"max_norm", "non_neg", "unit_norm", "min_max_norm"}


# ---------------------------------------------------------------------------------------------------- max_norm

def test_max_norm_caps_long_columns_and_leaves_short_ones():
    w = columns(5.0, 0.5, 2.0)
    out = constraints.get("max_norm(max_value=2.0)")(w)
    norms = np.linalg.norm(out, axis=0)
    np.testing.assert_allclose(norms, [2.0 * 5 / (5 + EPS), 0.5 * 0.5 / (0.5 + EPS), 2.0 * 2 / (2 + EPS)],
                               rtol=1e-14)
    np.testing.assert_allclose(out[:, 1], w[:, 1], rtol=1e-6)        # short column: unchanged but for ε
    np.testing.assert_allclose(out[:, 0] / np.linalg.norm(out[:, 0]), w[:, 0] / 5.0, rtol=1e-14)  # direction kept


def test_max_norm_formula_exactly():
    w = columns(3.0, 0.25, 1.0, seed=1)
    n = np.sqrt(np.sum(w ** 2, axis=0, keepdims=True))
    expected = w * (np.clip(n, 0, 0.75) / (EPS + n))
    np.testing.assert_allclose(constraints.get("max_norm(0.75)")(w), expected, rtol=1e-15)


def test_max_norm_default_is_two_over_axis_zero():
    con = constraints.get("maxnorm")
    assert (con.max_value, con.axis) == (2.0, 0)
    out = con(columns(4.0, 1.0))
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [2.0, 1.0], rtol=1e-6)


def test_max_norm_along_axis_one_caps_rows():
    w = columns(3.0, 0.5).T                     # rows have norms 3 and 0.5
    out = constraints.get("max_norm(max_value=1.0, axis=1)")(w)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), [1.0, 0.5], rtol=1e-6)


def test_max_norm_on_a_conv_kernel_caps_each_filter():
    w = np.random.default_rng(2).normal(0, 1, (3, 3, 2, 4)) * np.array([0.01, 0.05, 1.0, 2.0])
    for axis in ((0, 1, 2), [0, 1, 2]):
        out = constraints.get(constraints.MaxNorm(max_value=0.5, axis=axis))(w)
        before = np.sqrt(np.sum(w ** 2, axis=(0, 1, 2)))
        after = np.sqrt(np.sum(out ** 2, axis=(0, 1, 2)))
        np.testing.assert_allclose(after, np.minimum(before, 0.5), rtol=1e-5)


def test_all_zero_columns_stay_zero():
    w = np.zeros((3, 2))
    for spec in ("max_norm", "unit_norm", "min_max_norm(min_value=0.5)"):
        out = constraints.get(spec)(w)
        assert np.isfinite(out).all() and not out.any(), spec


# ---------------------------------------------------------------------------------------------------- others

def test_non_neg_zeroes_negatives_only():
    w = np.array([[-1.5, 0.0, 2.0], [3.0, -1e-9, 0.25]])
    np.testing.assert_array_equal(constraints.get("nonneg")(w), [[0.0, 0.0, 2.0], [3.0, 0.0, 0.25]])


def test_unit_norm_gives_unit_columns():
    w = columns(5.0, 0.5, 1.0)
    out = constraints.get("unit_norm")(w)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [5 / (5 + EPS), 0.5 / (0.5 + EPS), 1 / (1 + EPS)],
                               rtol=1e-14)
    rows = constraints.get("unit_norm(axis=1)")(w)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)


def test_min_max_norm_moves_norms_into_the_interval():
    w = columns(0.1, 0.5, 3.0)
    out = constraints.get("min_max_norm(min_value=0.25, max_value=1.0)")(w)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [0.25, 0.5, 1.0], rtol=1e-5)


def test_min_max_norm_rate_goes_part_of_the_way():
    w = columns(0.1, 0.5, 3.0)
    out = constraints.get("min_max_norm(min_value=0.25, max_value=1.0, rate=0.5)")(w)
    n = np.array([0.1, 0.5, 3.0])
    desired = 0.5 * np.clip(n, 0.25, 1.0) + 0.5 * n        # halfway to the interval
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), desired * n / (n + EPS), rtol=1e-14)
    unchanged = constraints.get("min_max_norm(min_value=0.25, max_value=1.0, rate=0.0)")(w)
    np.testing.assert_allclose(unchanged, w, rtol=1e-6)


# ---------------------------------------------------------------------------------------------------- generic

ALL = ["max_norm", "max_norm(max_value=0.5, axis=1)", "non_neg", "unit_norm", "unit_norm(axis=1)", "min_max_norm",
       "min_max_norm(min_value=0.25, max_value=0.75, rate=0.5)", "max_norm(max_value=1.5, axis=(0, 1))"]


@pytest.mark.parametrize("spec", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_dtype_are_kept_and_the_input_is_not_modified(spec, dtype):
    w = np.random.default_rng(3).normal(0, 1, (5, 4)).astype(dtype)
    before = w.copy()
    out = constraints.get(spec)(w)
    assert out.shape == w.shape and out.dtype == dtype
    assert out is not w
    np.testing.assert_array_equal(w, before)


@pytest.mark.parametrize("spec", [s for s in ALL if "rate=0.5" not in s])   # rate < 1 is not a projection
def test_projection_is_idempotent(spec):
    """Applying a (rate 1) projection twice changes nothing more (up to the ε)."""
    w = np.random.default_rng(4).normal(0, 1, (5, 4))
    con = constraints.get(spec)
    once = con(w)
    np.testing.assert_allclose(con(once), once, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("spec", ALL + constraints.registry.aliases())
def test_spec_round_trip(spec):
    con = constraints.get(spec)
    assert constraints.get(str(con)) == con
    assert constraints.get(json.loads(json.dumps(constraints.serialize(con)))) == con


def test_none_means_no_constraint():
    assert constraints.get(None) is None
    assert constraints.get("none") is None
    assert constraints.get("None") is None
    assert constraints.serialize(None) is None


def test_instances_pass_through_and_axis_lists_become_tuples():
    con = constraints.MaxNorm(1.0, axis=[0, 1, 2])
    assert constraints.get(con) is con
    assert con.axis == (0, 1, 2)
    assert str(con) == "max_norm(max_value=1.0, axis=(0, 1, 2))"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(SpecError, match="Did you mean 'max_norm'"):
        constraints.get("max_nrom")


@pytest.mark.parametrize("spec, words", [
    ("max_norm(max_value=-1.0)", ["MaxNorm", "max_value", ">= 0"]),
    ("max_norm(axis='rows')", ["MaxNorm", "axis", "int"]),
    ("unit_norm(axis=1.5)", ["UnitNorm", "axis"]),
    ("min_max_norm(min_value=2.0, max_value=1.0)", ["MinMaxNorm", "max_value", ">= 2.0"]),
    ("min_max_norm(rate=1.5)", ["MinMaxNorm", "rate", "<= 1.0"]),
    ("non_neg(strength=1)", ["non_neg", "strength"]),
])
def test_bad_arguments_are_spec_errors(spec, words):
    with pytest.raises(SpecError) as info:
        constraints.get(spec)
    for word in words:
        assert word in str(info.value)


def test_an_axis_the_weights_lack_is_a_shape_error():
    with pytest.raises(ShapeError, match="MaxNorm.*axis 2.*shape \\(3, 4\\)"):
        constraints.get("max_norm(axis=2)")(np.ones((3, 4)))
