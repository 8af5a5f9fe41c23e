"""Regularizers: the two L2 conventions, L1 with sign(0) = 0, L1L2, gradients, specs, validation and dtypes."""

import numpy as np
import pytest

from numpynet import regularizers
from numpynet.errors import SpecError
from numpynet.gradcheck import check_regularizer
from numpynet.regularizers import L1, L1L2, L2, Regularizer, RegularizerBase


def weights(shape=(6, 4), seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(0.0, 1.0, shape).astype(dtype)


def weights_away_from_zero(shape=(6, 4), seed=0):
    """|w| ≥ 0.1 everywhere, so central differences never straddle the kink of |w| at 0."""
    w = weights(shape, seed)
    return np.where(np.abs(w) < 0.1, np.copysign(0.1, w) + w, w)


# ------------------------------------------------------------------------------------------------- formulas

def test_l2_lambd_is_half_lambda_sum_of_squares():
    w = weights()
    lam = 0.3
    reg = L2(lambd=lam)
    expected = 0.5 * lam * sum(float(v) ** 2 for v in w.ravel())
    assert reg.loss(w) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(reg.grad(w), lam * w, rtol=1e-15)
    assert reg.keras_l2 == pytest.approx(lam / 2)


def test_l2_keras_keyword_is_lambda_sum_of_squares():
    w = weights()
    lam = 0.3
    reg = L2(l2=lam)
    expected = lam * sum(float(v) ** 2 for v in w.ravel())
    assert reg.loss(w) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(reg.grad(w), 2 * lam * w, rtol=1e-15)
    assert reg.keras_l2 == pytest.approx(lam)


def test_l2_default_means_lambd():
    assert L2() == L2(lambd=0.01)
    assert L2().lambd == 0.01 and L2().l2 is None
    assert L2(l2=0.5).lambd is None and L2(l2=0.5).l2 == 0.5


def test_l1_both_keywords_mean_lambda_sum_of_abs():
    w = weights()
    expected = 0.2 * sum(abs(float(v)) for v in w.ravel())
    for reg in (L1(lambd=0.2), L1(l1=0.2), regularizers.get("l1(lambd=0.2)"), regularizers.get("l1(l1=0.2)")):
        assert reg.loss(w) == pytest.approx(expected, rel=1e-12)
        np.testing.assert_array_equal(reg.grad(w), 0.2 * np.sign(w))


def test_l1_gradient_at_zero_is_zero():
    w = np.array([[0.0, -0.0, 2.0], [-3.0, 0.0, 1e-30]])
    g = L1(l1=0.5).grad(w)
    np.testing.assert_array_equal(g, [[0.0, 0.0, 0.5], [-0.5, 0.0, 0.5]])
    g = L1L2(l1=0.5, l2=0.25).grad(w)
    np.testing.assert_array_equal(g[0, :2], [0.0, 0.0])


def test_l1l2_is_keras_elastic_net():
    w = weights()
    reg = L1L2(l1=0.1, l2=0.2)
    expected = 0.1 * np.abs(w).sum() + 0.2 * (w ** 2).sum()
    assert reg.loss(w) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(reg.grad(w), 0.1 * np.sign(w) + 0.4 * w, rtol=1e-14)
    # each half alone
    np.testing.assert_allclose(L1L2(l1=0.1).grad(w), 0.1 * np.sign(w), rtol=1e-15)
    np.testing.assert_allclose(L1L2(l2=0.2).grad(w), 0.4 * w, rtol=1e-15)


def test_l1l2_defaults_to_zero_penalty():
    w = weights()
    reg = regularizers.get("l1l2")
    assert reg.l1 == 0.0 and reg.l2 == 0.0
    assert reg.loss(w) == 0.0
    np.testing.assert_array_equal(reg.grad(w), np.zeros_like(w))


def test_call_is_loss_and_alias_is_base():
    w = weights()
    reg = L2(lambd=0.1)
    assert reg(w) == reg.loss(w)
    assert Regularizer is RegularizerBase
    assert isinstance(reg, RegularizerBase)


# ------------------------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("spec", ["l2", "l2(lambd=0.7)", "l2(l2=0.7)", "l2(lambd=1.5)", "l1", "l1(lambd=0.3)",
                                  "l1(l1=0.3)", "l1l2(l1=0.2, l2=0.3)", "l1l2(l2=0.5)", "l1l2(l1=0.5)",
                                  "elastic_net(l1=0.1, l2=0.1)"])
def test_gradient_matches_central_differences(spec):
    err = check_regularizer(spec, weights_away_from_zero((5, 3), seed=1))
    assert err < 1e-7, f"{spec}: relative error {err:.2e}"


def test_every_registered_regularizer_is_gradient_checked():
    for name in regularizers.registry.names():
        assert check_regularizer(name, weights_away_from_zero((3, 2), seed=2)) < 1e-7, name


# ------------------------------------------------------------------------------------------------- dtype, out=

@pytest.mark.parametrize("spec", ["l2(lambd=0.1)", "l2(l2=0.1)", "l1(lambd=0.1)", "l1l2(l1=0.1, l2=0.1)",
                                  "l1l2(l2=0.1)"])
def test_float32_stays_float32_and_loss_is_a_python_float(spec):
    reg = regularizers.get(spec)
    w32 = weights(dtype=np.float32)
    g = reg.grad(w32)
    assert g.dtype == np.float32 and g.shape == w32.shape
    value = reg.loss(w32)
    assert type(value) is float
    assert value == pytest.approx(reg.loss(w32.astype(np.float64)), rel=1e-5)


@pytest.mark.parametrize("spec", ["l2(lambd=0.1)", "l1(lambd=0.1)", "l1l2(l1=0.1, l2=0.1)", "l1l2(l2=0.1)"])
def test_grad_writes_into_out(spec):
    reg = regularizers.get(spec)
    w = weights()
    out = np.full_like(w, np.nan)
    result = reg.grad(w, out=out)
    assert result is out
    np.testing.assert_allclose(out, reg.grad(w), rtol=1e-15)


def test_grad_does_not_modify_weights():
    w = weights()
    before = w.copy()
    for spec in ("l2", "l1", "l1l2(l1=0.1, l2=0.1)"):
        regularizers.get(spec).grad(w)
    np.testing.assert_array_equal(w, before)


def test_non_contiguous_weights():
    w = weights((6, 8))[:, ::2]
    assert L2(l2=0.5).loss(w) == pytest.approx(0.5 * float((w ** 2).sum()), rel=1e-12)
    np.testing.assert_allclose(L2(l2=0.5).grad(w), w, rtol=1e-15)


# ------------------------------------------------------------------------------------------------- specs

@pytest.mark.parametrize("name", regularizers.registry.aliases())
def test_round_trip_every_registered_name(name):
    reg = regularizers.get(name)
    again = regularizers.get(str(reg))
    assert again == reg
    assert str(again) == str(reg)


@pytest.mark.parametrize("spec", ["l2(lambd=0.125)", "l2(l2=0.125)", "l1(lambd=0.5)", "l1(l1=0.5)",
                                  "l1l2(l1=0.1, l2=0.2)", "l1l2(l2=0.2)", "elastic_net(l1=0.3)"])
def test_round_trip_with_arguments_and_json(spec):
    reg = regularizers.get(spec)
    assert regularizers.get(str(reg)) == reg
    assert regularizers.get(regularizers.serialize(reg)) == reg


def test_str_keeps_the_keyword_given():
    assert str(L2(l2=0.1)) == "l2(l2=0.1)"
    assert str(L2(lambd=0.1)) == "l2(lambd=0.1)"
    assert str(L1(l1=0.1)) == "l1(l1=0.1)"
    assert L2(l2=0.1) != L2(lambd=0.1)     # different penalties: λΣw² vs ½λΣw²


def test_aliases_and_none():
    assert regularizers.get("L1_L2(l1=0.1)") == L1L2(l1=0.1)
    assert regularizers.get("elastic_net(l1=0.1, l2=0.2)") == L1L2(l1=0.1, l2=0.2)
    assert regularizers.get(None) is None
    assert regularizers.get("none") is None
    assert regularizers.serialize(None) is None


@pytest.mark.parametrize("spec, words", [
    ("l2(lambd=-0.1)", ["L2", "lambd", ">= 0", "-0.1"]),
    ("l2(l2=-1)", ["L2", "l2", "-1"]),
    ("l1(lambd=-0.5)", ["L1", "lambd", "-0.5"]),
    ("l1(l1=-2.0)", ["L1", "l1", "-2.0"]),
    ("l1l2(l1=-0.1)", ["L1L2", "l1", "-0.1"]),
    ("l1l2(l2=-0.1)", ["L1L2", "l2", "-0.1"]),
    ("l2(lambd='big')", ["L2", "lambd", "number", "big"]),
    ("l2(lambd=True)", ["L2", "lambd", "number"]),
    ("l2(lambd=0.1, l2=0.1)", ["L2", "lambd", "l2"]),
    ("l1(lambd=0.1, l1=0.1)", ["L1", "lambd", "l1"]),
    ("l2(lamda=0.1)", ["lamda", "lambd"]),
    ("l1l2(l3=0.1)", ["l3"]),
    ("l3(0.1)", ["l3", "l2"]),
])
def test_bad_specs_raise_spec_error_with_details(spec, words):
    with pytest.raises(SpecError) as info:
        regularizers.get(spec)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_constructor_validation_without_spec_strings():
    with pytest.raises(SpecError, match="lambd"):
        L2(lambd=-1.0)
    with pytest.raises(SpecError, match="finite"):
        L1(l1=float("inf"))
    with pytest.raises(SpecError, match="l2"):
        L1L2(l2=None)


# ------------------------------------------------------------------------------------------------- bare numbers

@pytest.mark.parametrize("spec", ["l2(0.01)", "L2(0.01)", "l1(0.01)", "l1l2(0.01, 0.02)", "elastic_net(0.1)",
                                  "l1_l2(0.1, l2=0.2)"])
def test_a_bare_number_in_a_spec_is_refused_with_both_spellings(spec):
    with pytest.raises(SpecError) as info:
        regularizers.get(spec)
    text = str(info.value)
    assert spec.split("(")[0] in text and ("bare number" in text or "keyword-only" in text)
    if spec.lower().startswith("l2("):
        # both conventions, each with its formula: the whole point of the refusal
        for words in ("l2(lambd=0.01)", "½·λ·Σw²", "textbook", "l2(l2=0.01)", "λ·Σw²", "Keras", "l2(lambd=0.02)"):
            assert words in text, f"{words!r} missing from: {text}"
    elif spec.startswith("l1("):
        assert "l1(lambd=0.01)" in text and "l1(l1=0.01)" in text
    else:
        assert "l1l2(l1=a, l2=b)" in text and "l2(lambd=λ)" in text


@pytest.mark.parametrize("make", [lambda: L2(0.01), lambda: L1(0.01), lambda: L1L2(0.1, 0.2), lambda: L1L2(0.1)])
def test_a_bare_number_in_a_constructor_is_refused(make):
    with pytest.raises(SpecError, match="keyword|ambiguous"):
        make()


def test_the_l2_refusal_names_both_formulas_in_the_constructor_too():
    with pytest.raises(SpecError) as info:
        L2(0.5)
    assert "l2(lambd=0.5)" in str(info.value) and "l2(l2=0.5)" in str(info.value)


@pytest.mark.parametrize("make, arg", [
    (lambda: L2(lambd=10 ** 400), "lambd"),
    (lambda: L2(l2=10 ** 400), "l2"),
    (lambda: L1(l1=10 ** 400), "l1"),
    (lambda: L1L2(l1=10 ** 400), "l1"),
    (lambda: L1L2(l2=1e308), "l2"),          # finite, but the gradient factor 2·l2 would be inf
    (lambda: L2(l2=1.7e308), "l2"),
    (lambda: L2(lambd=float("-inf")), "lambd"),
    (lambda: L1L2(l1=float("nan")), "l1"),
    (lambda: L1(lambd=-1e-3), "lambd"),
])
def test_overflowing_non_finite_and_negative_strengths_are_spec_errors(make, arg):
    with pytest.raises(SpecError) as info:     # not OverflowError
        make()
    assert repr(arg) in str(info.value) or arg in str(info.value)


def test_huge_strengths_in_spec_strings_are_spec_errors():
    for spec in ("l2(lambd=1e999)", "l2(l2=1e308)", f"l1(l1={10 ** 30})"):
        with pytest.raises(SpecError):
            regularizers.get(spec)


def test_a_user_regularizer_without_out_works_and_its_bugs_surface():
    import numpynet as nn_

    class Quartic(nn_.RegularizerBase):
        def loss(self, W):
            return float(np.sum(W ** 4))

        def grad(self, W):                      # no out= argument
            return 4 * W ** 3

        def get_config(self):
            return {}

    class Broken(Quartic):
        def grad(self, W, out=None):
            raise TypeError("a bug inside grad")

    X = np.random.default_rng(0).normal(size=(10, 3))
    y = np.arange(10) % 2
    model = nn_.Sequential([nn_.layers.Dense(2, kernel_regularizer=Quartic())], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    assert nn_.gradcheck.check_model(model, X, y) < 1e-6
    broken = nn_.Sequential([nn_.layers.Dense(2, kernel_regularizer=Broken())], seed=0)
    broken.compile(optimizer="sgd", loss="softmax_cross_entropy")
    with pytest.raises(TypeError, match="a bug inside grad"):
        broken.fit(X, y, verbose=0)


# ------------------------------------------------------------------------------------------------- folded into a step

@pytest.mark.parametrize("reg, k", [(L2(lambd=0.3), 0.3), (L2(l2=0.3), 0.6), (L1L2(l2=0.25), 0.5),
                                    (L1L2(l1=0.1, l2=0.25), None), (L1(lambd=0.1), None), (L1L2(), 0.0)])
def test_linear_factor_is_k_of_grad_equal_k_w(reg, k):
    assert reg.linear_factor == k
    if k is not None:
        w = weights()
        np.testing.assert_allclose(reg.grad(w), k * w, rtol=1e-15)


class _DoubledL2(L2):
    """A subclass with its own gradient: its linear_factor must not be trusted."""

    def grad(self, W, out=None):
        return np.multiply(W, 4 * self.keras_l2, out=out)


class _NoOut(RegularizerBase):
    def loss(self, W):
        return float((W ** 4).sum())

    def grad(self, W):
        return 4 * W ** 3


@pytest.mark.parametrize("reg", [L2(lambd=0.3), L2(l2=0.3), L1(l1=0.2), L1L2(l1=0.1, l2=0.25), L1L2(l2=0.25),
                                 _DoubledL2(l2=0.1), _NoOut()], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scaled_grad_is_scale_times_grad_written_into_out(reg, dtype):
    w = weights(dtype=dtype)
    w[0, 0] = 0.0                                       # sign(0) = 0
    out = np.full_like(w, np.nan)
    kept = w.copy()
    result = reg.scaled_grad(w, -0.05, out)
    assert result is out and out.dtype == dtype
    np.testing.assert_allclose(out, -0.05 * reg.grad(w), rtol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(w, kept)


def test_a_subclass_with_its_own_grad_has_no_linear_factor():
    assert _DoubledL2(l2=0.1).linear_factor is None and _NoOut().linear_factor is None
