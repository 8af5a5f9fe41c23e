"""Learning-rate schedules: values against the formulas written out here, spec round trips, errors."""

import math

import numpy as np
import pytest

from numpynet import optimizers, schedules
from numpynet.errors import SpecError


def values(schedule, steps):
    return [schedule(s) for s in steps]


# ---------------------------------------------------------------------------------------------------- values

def test_exponential_decay():
    sched = schedules.get("exponential_decay(0.1, 100, 0.96)")
    steps = [0, 1, 50, 100, 150, 250, 1000]
    np.testing.assert_allclose(values(sched, steps), [0.1 * 0.96 ** (s / 100) for s in steps], rtol=1e-14)
    assert sched(0) == 0.1 and math.isclose(sched(100), 0.096, rel_tol=1e-14)


def test_exponential_decay_staircase_drops_every_decay_steps():
    sched = schedules.get("exponential_decay(0.5, 4, 0.5, staircase=True)")
    assert values(sched, [0, 1, 3, 4, 7, 8, 11, 12]) == [0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625]


def test_piecewise_constant_boundary_step_keeps_the_earlier_value():
    sched = schedules.get("piecewise_constant_decay([5, 10], [0.5, 0.25, 0.125])")
    steps = [0, 4, 5, 5.5, 6, 10, 11, 1000]
    assert values(sched, steps) == [0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125]


def test_piecewise_constant_single_boundary():
    sched = schedules.PiecewiseConstantDecay([0], [1.0, 0.5])
    assert values(sched, [0, 1, 2]) == [1.0, 0.5, 0.5]


def test_inverse_time_decay():
    sched = schedules.get("inverse_time_decay(0.5, 4, 0.5)")
    steps = [0, 1, 2, 4, 9, 40]
    np.testing.assert_allclose(values(sched, steps), [0.5 / (1 + 0.5 * s / 4) for s in steps], rtol=1e-14)
    stair = schedules.get("inverse_time_decay(0.5, 4, 0.5, staircase=True)")
    np.testing.assert_allclose(values(stair, steps), [0.5 / (1 + 0.5 * (s // 4)) for s in steps], rtol=1e-14)


def test_cosine_decay_reaches_alpha_and_stays():
    sched = schedules.get("cosine_decay(0.5, 16, alpha=0.25)")
    steps = [0, 1, 4, 8, 15, 16, 17, 100]

    def expected(s):
        s = min(s, 16)
        return 0.5 * ((1 - 0.25) * 0.5 * (1 + math.cos(math.pi * s / 16)) + 0.25)

    np.testing.assert_allclose(values(sched, steps), [expected(s) for s in steps], rtol=1e-14)
    assert sched(0) == 0.5
    assert math.isclose(sched(8), 0.5 * (0.75 * 0.5 + 0.25), rel_tol=1e-14)    # halfway: cos = 0
    assert math.isclose(sched(16), 0.125, rel_tol=1e-14) and sched(100) == sched(16)


def test_cosine_decay_default_alpha_goes_to_zero():
    sched = schedules.CosineDecay(0.1, 1000)
    assert sched(0) == 0.1 and abs(sched(1000)) < 1e-17 and abs(sched(5000)) < 1e-17


def test_cosine_decay_with_linear_warmup():
    sched = schedules.get("cosine_decay(0.25, 16, warmup_target=0.5, warmup_steps=4)")
    # linear rise from 0.25 to 0.5 over 4 steps ...
    np.testing.assert_allclose(values(sched, [0, 1, 2, 3]), [0.25, 0.3125, 0.375, 0.4375], rtol=1e-14)
    # ... then cosine from 0.5 at step 4 down to 0 at step 20, flat afterwards
    steps = [4, 5, 12, 19, 20, 30]
    expected = [0.5 * 0.5 * (1 + math.cos(math.pi * min(s - 4, 16) / 16)) for s in steps]
    np.testing.assert_allclose(values(sched, steps), expected, rtol=1e-14, atol=1e-17)


def test_cosine_decay_without_target_ignores_warmup_steps():
    with_steps = schedules.CosineDecay(0.5, 16, warmup_steps=8)
    plain = schedules.CosineDecay(0.5, 16)
    assert values(with_steps, range(20)) == values(plain, range(20))


def test_schedules_return_python_floats_for_numpy_steps():
    for spec in ("exponential_decay(0.1, 10, 0.5)", "piecewise_constant_decay([5], [0.5, 0.25])",
                 "inverse_time_decay(0.1, 10, 0.5)", "cosine_decay(0.1, 10)"):
        out = schedules.get(spec)(np.int64(3))
        assert type(out) is float, spec


# ---------------------------------------------------------------------------------------------------- specs

EXAMPLES = {
    "exponential_decay": "exponential_decay(0.1, 100, 0.96, staircase=True)",
    "piecewise_constant_decay": "piecewise_constant_decay([5, 10], [0.5, 0.25, 0.125])",
    "inverse_time_decay": "inverse_time_decay(0.5, 4, 0.5)",
    "cosine_decay": "cosine_decay(0.25, 16, alpha=0.1, warmup_target=0.5, warmup_steps=4)",
}


def test_every_registered_schedule_has_an_example():
    assert set(schedules.registry.names()) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_spec_round_trip(name):
    sched = schedules.get(EXAMPLES[name])
    assert sched.spec_name == name
    again = schedules.get(str(sched))
    assert again == sched and str(again) == str(sched)
    assert schedules.get(schedules.serialize(sched)) == sched
    assert values(again, range(25)) == values(sched, range(25))
    assert schedules.get(sched) is sched


def test_config_uses_keras_argument_names():
    assert schedules.get("exponential_decay(0.1, 100, 0.96)").get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.96, "staircase": False}
    assert schedules.get("piecewise_constant_decay((5, 10), (0.5, 0.25, 0.125))").get_config() == {
        "boundaries": [5, 10], "values": [0.5, 0.25, 0.125]}
    assert set(schedules.get("cosine_decay(0.1, 10)").get_config()) == {
        "initial_learning_rate", "decay_steps", "alpha", "warmup_target", "warmup_steps"}


def test_str_writes_integer_steps_as_integers():
    assert str(schedules.get("exponential_decay(0.1, 100, 0.96)")) == \
        "exponential_decay(initial_learning_rate=0.1, decay_steps=100, decay_rate=0.96)"


def test_aliases_and_case():
    assert isinstance(schedules.get("ExponentialDecay(0.1, 10, 0.5)"), schedules.ExponentialDecay)
    assert isinstance(schedules.get("cosine(0.1, 10)"), schedules.CosineDecay)
    assert isinstance(schedules.get("inverse_time(0.1, 10, 0.5)"), schedules.InverseTimeDecay)
    assert isinstance(schedules.get("piecewise_constant([1], [0.1, 0.01])"), schedules.PiecewiseConstantDecay)


@pytest.mark.parametrize("spec, words", [
    ("exponential_decay(0.1, 0, 0.5)", ["ExponentialDecay", "decay_steps", "> 0", "0"]),
    ("exponential_decay(-0.1, 10, 0.5)", ["ExponentialDecay", "initial_learning_rate", ">= 0"]),
    ("exponential_decay(0.1, 10, -0.5)", ["decay_rate"]),
    ("exponential_decay(0.1, 10, 0.5, staircase='yes')", ["staircase", "True or False", "'yes'"]),
    ("inverse_time_decay(0.1, 10, 0.5, staircase=1)", ["InverseTimeDecay", "staircase"]),
    ("piecewise_constant_decay([10, 5], [0.5, 0.25, 0.125])", ["boundaries", "strictly increasing"]),
    ("piecewise_constant_decay([5, 10], [0.5, 0.25])", ["values", "one more entry", "3", "2"]),
    ("piecewise_constant_decay([], [0.5])", ["boundaries", "non-empty"]),
    ("piecewise_constant_decay([5], [0.5, -0.25])", ["values", ">= 0"]),
    ("cosine_decay(0.1, 10, alpha=1.5)", ["CosineDecay", "alpha", "<= 1"]),
    ("cosine_decay(0.1, 10, warmup_steps=-1)", ["warmup_steps"]),
    ("cosine_decay(0.1, 10, warmup_target='high')", ["warmup_target", "a number"]),
    ("exponential_decy(0.1, 10, 0.5)", ["unknown schedule", "exponential_decay"]),
    ("cosine_decay(0.1, 10, alhpa=0.5)", ["no argument 'alhpa'", "alpha"]),
])
def test_bad_specs_raise_spec_error(spec, words):
    with pytest.raises(SpecError) as info:
        schedules.get(spec)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_step_must_be_a_number():
    with pytest.raises(SpecError, match="step"):
        schedules.CosineDecay(0.1, 10)("3")


# ---------------------------------------------------------------------------------------------------- in use

def test_sgd_follows_a_piecewise_schedule_step_by_step():
    # with g = 1 everywhere plain SGD moves w by exactly the learning rate of each step
    opt = optimizers.get("sgd(learning_rate='piecewise_constant_decay([2, 4], [0.5, 0.25, 0.125])')")
    w = np.zeros(3)
    seen = []
    for _ in range(7):
        before = w.copy()
        seen.append(opt.learning_rate_at())
        opt.apply_gradients([w], [np.ones(3)])
        np.testing.assert_array_equal(before - w, seen[-1])
    assert seen == [0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    assert opt.iterations == 7
