"""regularizers.py behaviour that the mutation run (`make mutate`) found untested: what the errors say (the owner,
the argument, both spellings of a bare number) and the elastic net with one of its two terms at zero."""

import numpy as np
import pytest

import numpynet as nn
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
