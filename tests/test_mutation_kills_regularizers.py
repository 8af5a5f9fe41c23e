"""regularizers.py behaviour that the mutation run (`make mutate`) found untested: what the errors say (the owner,
the argument, both spellings of a bare number) and the elastic net with one of its two terms at zero."""

# Mutants of the mutmut 3 run (old numpynet/regularizers.py) that no test can kill:
#   xǁL1L2ǁ__init____mutmut_8 (`_refuse_positional("L1L2", ...)`): equivalent, the kind is only compared with "l2"
#     and "l1" and is shown upper-cased, so "L1L2" and "l1l2" give the same message.
#   xǁL1L2ǁloss__mutmut_3 (`total = ...` for `total += ...` on the L1 term): equivalent, total is 0.0 there and
#     0.0 + x == x for every x the term can be (l1·Σ|w| is >= 0, inf or nan; l1 = -0.0 is falsy and skipped).
#   xǁ_RegularizerRegistryǁbuild__mutmut_6/9/12: moot, that subclass is gone (Registry.build's explain_positional
#     hook replaced it).
# Killed by the no-warning test below: x__strength__mutmut_17 (np.finfo(None) is float64's, with a DeprecationWarning
# that NumPy says will become an error).

import warnings

import numpy as np
import pytest

import numpynet as nn
from numpynet import spec
from numpynet.errors import SpecError


def message(make):
    with pytest.raises(SpecError) as exc:
        make()
    return str(exc.value)


def test_a_bare_l2_number_shows_what_was_given_and_both_spellings():
    text = message(lambda: nn.L2(0.5))
    assert text.startswith("L2(0.5): a bare number is ambiguous")
    assert "l2(lambd=0.5)" in text and "l2(l2=0.5)" in text and "the same as l2(lambd=1.0)" in text
    text = message(lambda: nn.regularizers.get("L2(0.5, 2)"))
    assert text.startswith("regularizer l2(0.5, 2): ")       # every positional value given is shown


def test_a_bare_value_that_is_no_number_is_shown_and_the_example_uses_the_default():
    text = message(lambda: nn.regularizers.get("l2('a')"))
    assert text.startswith("regularizer l2('a'): ")
    assert "l2(lambd=0.01)" in text and "l2(l2=0.01)" in text and "'a'·" not in text
    assert "l2(lambd=0.01)" in message(lambda: nn.regularizers.get("l2(True)"))


def test_bare_numbers_in_l1_and_l1l2_name_their_own_keywords():
    text = message(lambda: nn.L1(0.25))
    assert text.startswith("L1(0.25): ") and "l1(lambd=0.25) or l1(l1=0.25)" in text
    text = message(lambda: nn.L1L2(0.1))
    assert text.startswith("L1L2(0.1): ") and "l1l2(l1=a, l2=b)" in text
    assert message(lambda: nn.regularizers.get("elastic_net(0.1)")).startswith("regularizer elastic_net(0.1): ")


@pytest.mark.parametrize("make, start", [
    (lambda: nn.L1L2(l1=-1), "L1L2: argument 'l1' must be >= 0"),
    (lambda: nn.L1L2(l2=-1), "L1L2: argument 'l2' must be >= 0"),
    (lambda: nn.L1L2(l2=1e308), "L1L2: argument 'l2' must be at most 8.99e+307"),
    (lambda: nn.L1(lambd=-1), "L1: argument 'lambd' must be >= 0"),
    (lambda: nn.L1(l1=-1), "L1: argument 'l1' must be >= 0"),
    (lambda: nn.L2(l2=-1), "L2: argument 'l2' must be >= 0"),
    (lambda: nn.L2(lambd=1, l2=2), "L2: give only one of 'lambd' and 'l2'"),
    (lambda: nn.L1(lambd=1, l1=2), "L1: give only one of 'lambd' and 'l1'"),
])
def test_strength_errors_name_the_class_and_the_argument(make, start):
    assert message(make).startswith(start)


def test_elastic_net_with_one_term_at_zero_is_the_other_penalty():
    W = np.array([[1.5, -2.0], [0.0, 0.5]])
    only_l1, only_l2 = nn.L1L2(l1=0.3), nn.L1L2(l2=0.2)
    assert only_l1.loss(W) == pytest.approx(0.3 * 4.0) and only_l2.loss(W) == pytest.approx(0.2 * 6.5)
    np.testing.assert_allclose(only_l1.grad(W), 0.3 * np.sign(W))
    np.testing.assert_allclose(only_l2.grad(W), 0.4 * W)
    both = nn.L1L2(l1=0.3, l2=0.2)
    assert both.loss(W) == pytest.approx(0.3 * 4.0 + 0.2 * 6.5)
    np.testing.assert_allclose(both.grad(W), 0.3 * np.sign(W) + 0.4 * W)
    assert nn.L1L2().loss(W) == 0.0 and not nn.L1L2().grad(W).any()


def test_l1_keeps_the_keyword_given_as_its_attribute_and_defaults_to_a_hundredth():
    W = np.array([1.0, -3.0])
    default = nn.L1()
    assert default.lambd == 0.01 and default.l1 is None and default.keras_l1 == 0.01
    assert default.loss(W) == pytest.approx(0.04)
    textbook, keras = nn.L1(lambd=0.3), nn.L1(l1=0.3)
    assert (textbook.lambd, textbook.l1) == (0.3, None) and (keras.lambd, keras.l1) == (None, 0.3)
    assert textbook.get_config() == {"lambd": 0.3} and keras.get_config() == {"l1": 0.3}
    l2 = nn.L2(l2=0.3)
    assert (l2.lambd, l2.l2, l2.keras_l2) == (None, 0.3, 0.3) and nn.L2(lambd=0.3).keras_l2 == 0.15


def test_the_largest_strength_whose_gradient_stays_finite_is_accepted():
    big = nn.L2(l2=6e307)                 # 2·c is 1.2e308: still a float64
    assert np.isfinite(big.grad(np.ones(2))).all()
    assert nn.L1L2(l1=6e307, l2=6e307).l2 == 6e307


# ---------------------------------------------------------------------------------------------------- mutation run 2

def test_a_too_large_strength_is_refused_without_any_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = message(lambda: nn.L2(l2=1e308))
    assert [str(w.message) for w in caught] == []
    limit = np.finfo(np.float64).max / 2
    assert text == f"L2: argument 'l2' must be at most {limit:.3g} (the gradient 2·l2·w must stay finite), got 1e+308"
    assert message(lambda: nn.L1(lambd=10**400)) == "L1: argument 'lambd' must be finite, got inf"


def test_a_spec_with_a_bare_l2_number_shows_both_conventions_through_the_registry_hook():
    assert message(lambda: nn.regularizers.get("l2(0.01)")) == (
        "regularizer l2(0.01): a bare number is ambiguous — Keras reads l2(0.01) as 0.01·Σw², numpynet's textbook "
        "form as ½·0.01·Σw², half as strong. Name the convention: l2(lambd=0.01) = ½·λ·Σw², gradient λ·w "
        "(numpynet's textbook form), or l2(l2=0.01) = λ·Σw², gradient 2λ·w (Keras's L2(0.01), the same as "
        "l2(lambd=0.02))")
    # every spelling of every class goes through the hook, with the name as written (lower-cased)
    assert message(lambda: nn.regularizers.get("L1_L2(1)")).startswith(
        "regularizer l1_l2(1): regularizer strengths are keyword-only: write l1l2(l1=a, l2=b)")
    assert message(lambda: nn.regularizers.get("l1(2)")).startswith(
        "regularizer l1(2): regularizer strengths are keyword-only (a bare number in l2 is ambiguous, so it is "
        "refused in l1 too): write l1(lambd=2) or l1(l1=2)")
    assert "takes at most" not in message(lambda: nn.regularizers.get("l2(0.01, 0.02)"))


class Plain(nn.regularizers.RegularizerBase):
    """A regularizer without the hook: the registry's generic positional message applies."""

    def __init__(self, *, c=0.1):
        self.c = c


def test_a_regularizer_without_the_hook_gets_the_generic_positional_message():
    reg = spec.Registry("regularizer", nn.regularizers.RegularizerBase, allow_none=True)
    reg.register("plain")(Plain)
    assert message(lambda: reg.get("plain(0.1)")) == \
        "regularizer 'plain' takes at most 0 positional argument(s) (none), got 1"
    assert reg.get("plain(c=0.5)").c == 0.5


def test_penalties_and_gradients_follow_the_textbook_formulas_in_float64():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 4))
    W[0, 0] = 0.0                                          # sign(0) = 0: no L1 push on a zero weight
    sq, ab = float(np.sum(W ** 2)), float(np.sum(np.abs(W)))
    cases = [
        (nn.L2(lambd=0.3), 0.5 * 0.3 * sq, 0.3 * W),
        (nn.L2(l2=0.3), 0.3 * sq, 2 * 0.3 * W),
        (nn.L1(lambd=0.3), 0.3 * ab, 0.3 * np.sign(W)),
        (nn.L1(l1=0.3), 0.3 * ab, 0.3 * np.sign(W)),
        (nn.L1L2(l1=0.3, l2=0.2), 0.3 * ab + 0.2 * sq, 0.3 * np.sign(W) + 2 * 0.2 * W),
        (nn.L1L2(l1=0.3), 0.3 * ab, 0.3 * np.sign(W)),
    ]
    for reg, loss, grad in cases:
        assert reg.loss(W) == pytest.approx(loss, rel=1e-13) and reg(W) == reg.loss(W)
        got = reg.grad(W)
        assert got.dtype == np.float64 and got.shape == W.shape
        np.testing.assert_allclose(got, grad, rtol=1e-13, atol=0)
        assert got[0, 0] == 0.0
        out = np.empty_like(W)
        assert reg.grad(W, out=out) is out
        np.testing.assert_allclose(out, grad, rtol=1e-13, atol=0)
        eps = 1e-6                                         # central difference away from |w|'s kink
        i = (2, 3)
        step = np.zeros_like(W)
        step[i] = eps
        assert (reg.loss(W + step) - reg.loss(W - step)) / (2 * eps) == pytest.approx(grad[i], rel=1e-6)


# ---------------------------------------------------------------------------------------------- pre-scaled gradients
# What the pre-scaled SGD step asks of a penalty (optimizers.SGD._update_scaled): s·dR/dW written into the buffer
# it hands over, from the gradient the penalty really has.

def _weights():
    rng = np.random.default_rng(3)
    W = rng.normal(size=(7, 5))
    W[0, :2] = 0.0                                          # sign(0) = 0 must survive the scaling
    return W


def test_a_linear_penalty_scales_w_once_into_the_given_buffer():
    W, s = _weights(), -0.1
    reg = nn.regularizers.L2(l2=0.3)                         # dR/dW = 0.6·W: k = 0.6
    out = np.full_like(W, np.nan)
    got = reg.scaled_grad(W, s, out)
    assert got is out
    assert np.array_equal(out, W * (s * 0.6))               # one product W·(s·k), not (k·W)·s
    assert not np.array_equal(W * (s * 0.6), (W * 0.6) * s)  # (the two roundings differ on these weights)


def test_plain_l1_scaled_grad_is_s_lambda_sign_w_in_the_buffer():
    W, s = _weights(), -0.05
    reg = nn.regularizers.L1(l1=0.3)
    out = np.full_like(W, np.nan)
    assert reg.scaled_grad(W, s, out) is out
    assert np.array_equal(out, np.sign(W) * (s * 0.3))


class _SmoothL1(nn.regularizers.L1):
    """An L1 whose gradient is a smooth stand-in for sign (a user's subclass): the scaled step must use it."""

    def grad(self, W, out=None):
        return np.multiply(np.tanh(4.0 * W), 0.3, out=out)


def test_an_l1_subclass_with_its_own_gradient_is_scaled_through_that_gradient():
    W, s = _weights(), -0.05
    reg = _SmoothL1(l1=0.3)
    out = np.full_like(W, np.nan)
    got = reg.scaled_grad(W, s, out)
    assert got is out
    np.testing.assert_allclose(out, s * 0.3 * np.tanh(4.0 * W), rtol=1e-15, atol=0)
    assert not np.array_equal(out, np.sign(W) * (s * 0.3))
