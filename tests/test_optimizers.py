"""Optimizers: each update rule against its equations written out here (3 steps, float64, fixed gradients),
clipping / weight decay / schedules, per-parameter state, state save/restore, dtypes, specs and errors."""

import copy
import pickle

import numpy as np
import pytest

from numpynet import optimizers, regularizers, schedules
from numpynet.errors import DataError, ShapeError, SpecError

W0 = np.array([[0.5, -1.0, 2.0], [0.25, 1.5, -0.75]])
# three steps of fixed gradients; the large first step makes AMSGrad's max(v̂, v) matter, and the mix of large and
# small norms makes clipping act on some steps and not on others
GRADS = [np.array([[2.0, -3.0, 0.5], [1.0, 0.0, -4.0]]),
         np.array([[0.1, 0.2, -0.3], [0.05, -0.1, 0.2]]),
         np.array([[-0.5, 1.0, 0.25], [0.75, -0.5, 1.5]])]
TOL = dict(rtol=1e-12, atol=1e-15)


def run(spec, w0=W0, grads=GRADS):
    """Apply ``grads`` one step at a time to a copy of ``w0``; returns (weights, optimizer)."""
    opt = optimizers.get(spec)
    w = w0.copy()
    for g in grads:
        opt.apply_gradients([w], [g])
    assert opt.iterations == len(grads)
    return w, opt


# ---------------------------------------------------------------------------------------------------- SGD

def test_sgd_plain():
    w, _ = run("sgd(learning_rate=0.5)")
    expected = W0.copy()
    for g in GRADS:
        expected = expected - 0.5 * g
    np.testing.assert_allclose(w, expected, **TOL)


def test_sgd_default_learning_rate_is_keras_0_01():
    w, opt = run("sgd")
    assert opt.learning_rate == 0.01
    np.testing.assert_allclose(w, W0 - 0.01 * sum(GRADS), **TOL)


def test_sgd_momentum():
    lr, mu = 0.5, 0.75
    w, _ = run(f"sgd(learning_rate={lr}, momentum={mu})")
    expected, m = W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        m = mu * m - lr * g
        expected = expected + m
    np.testing.assert_allclose(w, expected, **TOL)


def test_sgd_nesterov():
    lr, mu = 0.5, 0.75
    w, _ = run(f"sgd(learning_rate={lr}, momentum={mu}, nesterov=True)")
    expected, m = W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        m = mu * m - lr * g
        expected = expected + mu * m - lr * g
    np.testing.assert_allclose(w, expected, **TOL)
    plain, _ = run(f"sgd(learning_rate={lr}, momentum={mu})")
    assert not np.allclose(w, plain)


# ---------------------------------------------------------------------------------------------------- Adam family

def adam_reference(lr, b1, b2, eps, amsgrad=False, wd=None, w0=W0, grads=GRADS):
    w, m, v, v_hat = w0.copy(), np.zeros_like(w0), np.zeros_like(w0), np.zeros_like(w0)
    for t, g in enumerate(grads, start=1):
        if wd is not None:
            w = w - lr * wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        if amsgrad:
            v_hat = np.maximum(v_hat, v)
            w = w - alpha * m / (np.sqrt(v_hat) + eps)
        else:
            w = w - alpha * m / (np.sqrt(v) + eps)
    return w


def test_adam():
    w, _ = run("adam(learning_rate=0.125, beta_1=0.875, beta_2=0.9375)")
    np.testing.assert_allclose(w, adam_reference(0.125, 0.875, 0.9375, 1e-7), **TOL)


def test_adam_defaults_are_keras():
    w, opt = run("adam")
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad) == (0.001, 0.9, 0.999, 1e-7, False)
    np.testing.assert_allclose(w, adam_reference(0.001, 0.9, 0.999, 1e-7), **TOL)


def test_adam_amsgrad():
    w, _ = run("adam(learning_rate=0.125, beta_1=0.5, beta_2=0.75, amsgrad=True)")
    np.testing.assert_allclose(w, adam_reference(0.125, 0.5, 0.75, 1e-7, amsgrad=True), **TOL)
    assert not np.allclose(w, adam_reference(0.125, 0.5, 0.75, 1e-7))     # the max really changed something


def test_adamw_decays_before_the_adam_step():
    w, opt = run("adamw(learning_rate=0.125, weight_decay=0.25, beta_1=0.875, beta_2=0.9375)")
    np.testing.assert_allclose(w, adam_reference(0.125, 0.875, 0.9375, 1e-7, wd=0.25), **TOL)
    assert optimizers.get("adamw").weight_decay == 0.004


def test_adamw_amsgrad():
    w, _ = run("adamw(learning_rate=0.125, weight_decay=0.0625, beta_1=0.75, beta_2=0.875, amsgrad=True)")
    np.testing.assert_allclose(w, adam_reference(0.125, 0.75, 0.875, 1e-7, amsgrad=True, wd=0.0625), **TOL)


def test_nadam_momentum_cache_schedule():
    lr, b1, b2, eps = 0.125, 0.875, 0.9375, 1e-7
    w, opt = run(f"nadam(learning_rate={lr}, beta_1={b1}, beta_2={b2})")
    expected, m, v, prod = W0.copy(), np.zeros_like(W0), np.zeros_like(W0), 1.0
    for t, g in enumerate(GRADS, start=1):
        u_t = b1 * (1 - 0.5 * 0.96 ** t)
        u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        prod = prod * u_t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat = u_next * m / (1 - prod * u_next) + (1 - u_t) * g / (1 - prod)
        v_hat = v / (1 - b2 ** t)
        expected = expected - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(w, expected, **TOL)
    assert opt.u_product == pytest.approx(prod, rel=1e-15)


# ---------------------------------------------------------------------------------------------------- RMSprop, Adagrad

def rmsprop_reference(lr, rho, mu=0.0, centered=False, eps=1e-7):
    w, v, avg, mom = W0.copy(), np.zeros_like(W0), np.zeros_like(W0), np.zeros_like(W0)
    for g in GRADS:
        v = rho * v + (1 - rho) * g ** 2
        if centered:
            avg = rho * avg + (1 - rho) * g
            step = lr * g / np.sqrt(v - avg ** 2 + eps)
        else:
            step = lr * g / np.sqrt(v + eps)
        if mu > 0:
            mom = mu * mom + step
            w = w - mom
        else:
            w = w - step
    return w


@pytest.mark.parametrize("options, kwargs", [
    ("", {}),
    (", momentum=0.5", {"mu": 0.5}),
    (", centered=True", {"centered": True}),
    (", momentum=0.5, centered=True", {"mu": 0.5, "centered": True}),
])
def test_rmsprop(options, kwargs):
    w, _ = run(f"rmsprop(learning_rate=0.125, rho=0.875{options})")
    np.testing.assert_allclose(w, rmsprop_reference(0.125, 0.875, **kwargs), **TOL)


def test_rmsprop_options_change_the_result():
    results = [run(f"rmsprop(learning_rate=0.125, rho=0.875{o})")[0]
               for o in ("", ", momentum=0.5", ", centered=True")]
    assert not np.allclose(results[0], results[1]) and not np.allclose(results[0], results[2])


@pytest.mark.parametrize("initial", [0.1, 0.5])
def test_adagrad(initial):
    w, _ = run(f"adagrad(learning_rate=0.125, initial_accumulator_value={initial})")
    expected, acc = W0.copy(), np.full_like(W0, initial)
    for g in GRADS:
        acc = acc + g ** 2
        expected = expected - 0.125 * g / np.sqrt(acc + 1e-7)
    np.testing.assert_allclose(w, expected, **TOL)


def test_epsilon_outside_the_root_for_adam_inside_for_rmsprop_and_adagrad():
    # with tiny gradients √v ≈ 1e-6 is comparable to √ε ≈ 3e-4 but not to ε = 1e-7: the placement shows
    g = np.full((2,), 1e-6)
    w = np.zeros(2)
    optimizers.get("adam(learning_rate=1.0)").apply_gradients([w], [g])
    # t = 1: m = 0.1·g, v = 0.001·g², α = √0.001 / 0.1; ε is added to the *uncorrected* √v (Keras), so the step
    # is about 0.24, not the 0.91 that ε added to √v̂ = |g| would give
    expected = -(np.sqrt(0.001) / 0.1) * (0.1 * 1e-6) / (np.sqrt(0.001 * 1e-12) + 1e-7)
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    assert abs(w[0] - (-1e-6 / (1e-6 + 1e-7))) > 0.5
    w = np.zeros(2)
    optimizers.get("rmsprop(learning_rate=1.0, rho=0.0)").apply_gradients([w], [g])
    np.testing.assert_allclose(w, -1e-6 / np.sqrt(1e-12 + 1e-7), rtol=1e-12)
    w = np.zeros(2)
    optimizers.get("adagrad(learning_rate=1.0, initial_accumulator_value=0.0)").apply_gradients([w], [g])
    np.testing.assert_allclose(w, -1e-6 / np.sqrt(1e-12 + 1e-7), rtol=1e-12)


# ---------------------------------------------------------------------------------------------------- clipping, decay

def test_clipnorm_scales_each_gradient_to_at_most_c():
    c = 1.0
    w, _ = run(f"sgd(learning_rate=0.5, clipnorm={c})")
    expected = W0.copy()
    for g in GRADS:
        norm = np.sqrt(np.sum(g ** 2))
        expected = expected - 0.5 * (g * c / max(norm, c))
    np.testing.assert_allclose(w, expected, **TOL)
    assert not np.allclose(w, run("sgd(learning_rate=0.5)")[0])


def test_clipnorm_is_per_parameter():
    a, b = W0.copy(), W0[0].copy()
    ga, gb = GRADS[0], np.array([0.3, 0.0, -0.4])          # norms 5.4... and 0.5
    optimizers.get("sgd(learning_rate=1.0, clipnorm=1.0)").apply_gradients([a, b], [ga, gb])
    np.testing.assert_allclose(a, W0 - ga / np.linalg.norm(ga), **TOL)
    np.testing.assert_allclose(b, W0[0] - gb, **TOL)       # small gradient untouched


def test_clipvalue_clips_each_entry():
    w, _ = run("sgd(learning_rate=0.5, clipvalue=0.25)")
    expected = W0.copy()
    for g in GRADS:
        expected = expected - 0.5 * np.clip(g, -0.25, 0.25)
    np.testing.assert_allclose(w, expected, **TOL)


def test_global_clipnorm_scales_all_gradients_together():
    c = 2.0
    opt = optimizers.get(f"sgd(learning_rate=0.5, global_clipnorm={c})")
    a, b = W0.copy(), W0[1].copy()
    ea, eb = W0.copy(), W0[1].copy()
    for g in GRADS:
        gb = g[0] * 0.5
        opt.apply_gradients([a, b], [g, gb])
        norm = np.sqrt(np.sum(g ** 2) + np.sum(gb ** 2))
        scale = c / norm if norm > c else 1.0
        ea, eb = ea - 0.5 * scale * g, eb - 0.5 * scale * gb
    np.testing.assert_allclose(a, ea, **TOL)
    np.testing.assert_allclose(b, eb, **TOL)
    # not the same as clipping each one on its own
    a2, b2 = W0.copy(), W0[1].copy()
    per = optimizers.get(f"sgd(learning_rate=0.5, clipnorm={c})")
    for g in GRADS:
        per.apply_gradients([a2, b2], [g, g[0] * 0.5])
    assert not np.allclose(b, b2)


def test_clipping_before_adam_update():
    w, _ = run("adam(learning_rate=0.125, beta_1=0.875, beta_2=0.9375, clipnorm=0.5)")
    clipped = [g * 0.5 / max(np.sqrt(np.sum(g ** 2)), 0.5) for g in GRADS]
    np.testing.assert_allclose(w, adam_reference(0.125, 0.875, 0.9375, 1e-7, grads=clipped), **TOL)


def test_weight_decay_before_the_momentum_update():
    lr, mu, wd = 0.125, 0.5, 0.25
    w, _ = run(f"sgd(learning_rate={lr}, momentum={mu}, weight_decay={wd})")
    expected, m = W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        expected = expected - lr * wd * expected
        m = mu * m - lr * g
        expected = expected + m
    np.testing.assert_allclose(w, expected, **TOL)


def test_clip_then_decay_then_update_with_rmsprop():
    lr, rho, wd, cv = 0.125, 0.875, 0.5, 0.25
    w, _ = run(f"rmsprop(learning_rate={lr}, rho={rho}, clipvalue={cv}, weight_decay={wd})")
    expected, v = W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        g = np.clip(g, -cv, cv)
        expected = expected * (1 - lr * wd)
        v = rho * v + (1 - rho) * g ** 2
        expected = expected - lr * g / np.sqrt(v + 1e-7)
    np.testing.assert_allclose(w, expected, **TOL)


@pytest.mark.parametrize("spec", ["sgd(learning_rate=0.5, clipnorm=1.0)", "adam(clipvalue=0.1)",
                                  "nadam(global_clipnorm=0.5)", "rmsprop(momentum=0.5, centered=True)",
                                  "adagrad(weight_decay=0.1)", "sgd(momentum=0.9, nesterov=True)"])
def test_caller_gradients_are_never_modified(spec):
    params = [W0.copy(), W0[0].copy()]
    grads = [GRADS[0].copy(), GRADS[0][1].copy()]
    kept = [g.copy() for g in grads]
    opt = optimizers.get(spec)
    for _ in range(3):
        opt.apply_gradients(params, grads)
    for g, k in zip(grads, kept):
        np.testing.assert_array_equal(g, k)


# ---------------------------------------------------------------------------------------------------- schedules

def test_sgd_with_exponential_decay_uses_the_value_at_each_step():
    w, opt = run("sgd(learning_rate='exponential_decay(0.5, 2, 0.5)')")
    expected = W0.copy()
    for step, g in enumerate(GRADS):
        expected = expected - 0.5 * 0.5 ** (step / 2) * g
    np.testing.assert_allclose(w, expected, **TOL)
    assert opt.learning_rate_at() == pytest.approx(0.5 * 0.5 ** 1.5, rel=1e-15)   # next step: iterations = 3
    assert opt.learning_rate_at(0) == 0.5


def test_weight_decay_uses_the_scheduled_rate():
    w, _ = run("adamw(learning_rate='piecewise_constant_decay([0], [0.5, 0.125])', weight_decay=0.25, "
               "beta_1=0.875, beta_2=0.9375)")
    expected, m, v = W0.copy(), np.zeros_like(W0), np.zeros_like(W0)
    for t, g in enumerate(GRADS, start=1):
        lr = 0.5 if t == 1 else 0.125
        expected = expected - lr * 0.25 * expected
        m = 0.875 * m + 0.125 * g
        v = 0.9375 * v + 0.0625 * g ** 2
        expected = expected - lr * np.sqrt(1 - 0.9375 ** t) / (1 - 0.875 ** t) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(w, expected, **TOL)


def test_learning_rate_accepts_schedule_objects_and_can_be_reassigned():
    sched = schedules.CosineDecay(0.1, 1000)
    opt = optimizers.SGD(learning_rate=sched)
    assert opt.learning_rate is sched and opt.get_config()["learning_rate"] == str(sched)
    opt.learning_rate = 0.25                     # what a LearningRateScheduler callback does
    assert opt.learning_rate_at() == 0.25 and opt.lr == 0.25
    opt.learning_rate = "exponential_decay(0.5, 10, 0.5)"
    assert isinstance(opt.learning_rate, schedules.ExponentialDecay)
    w = np.zeros(2)
    opt.apply_gradients([w], [np.ones(2)])
    np.testing.assert_array_equal(w, -0.5)


# ---------------------------------------------------------------------------------------------------- state

def test_state_is_per_parameter_and_never_shared():
    spec = "adam(learning_rate=0.125, beta_1=0.5, beta_2=0.75, amsgrad=True)"
    a, b = W0.copy(), W0.copy()                  # same shapes, different gradients
    opt = optimizers.get(spec)
    for g in GRADS:
        opt.apply_gradients([a, b], [g, -2.0 * g[::-1]])
    alone_a, _ = run(spec)
    alone_b, _ = run(spec, grads=[-2.0 * g[::-1] for g in GRADS])
    np.testing.assert_allclose(a, alone_a, **TOL)
    np.testing.assert_allclose(b, alone_b, **TOL)
    arrays = [v for k, v in opt.get_state().items() if k != "iterations"]
    assert len(arrays) == 6
    live = [x for slot in opt._slots.values() for x in slot]
    assert len(live) == 6 and not any(np.shares_memory(x, y) for i, x in enumerate(live) for y in live[i + 1:])


def test_updates_are_in_place():
    w = W0.copy()
    view = w                                     # layers keep the same array objects
    optimizers.get("nadam(learning_rate=0.1)").apply_gradients([w], [GRADS[0]])
    assert view is w and not np.allclose(view, W0)


STATEFUL = ["sgd(learning_rate=0.125, momentum=0.5, nesterov=True)", "sgd(learning_rate=0.125)",
            "adam(learning_rate=0.125, amsgrad=True)", "adamw(learning_rate=0.125, weight_decay=0.25)",
            "nadam(learning_rate=0.125)", "rmsprop(learning_rate=0.125, momentum=0.5, centered=True)",
            "adagrad(learning_rate=0.125)", "sgd(learning_rate='exponential_decay(0.5, 2, 0.5)', momentum=0.5)"]


@pytest.mark.parametrize("spec", STATEFUL)
def test_get_state_set_state_resumes_identically(spec):
    params = [W0.copy(), W0[0].copy()]
    opt = optimizers.get(spec)
    for g in GRADS:
        opt.apply_gradients(params, [g, g[1]])
    state = opt.get_state()
    twin_params = [p.copy() for p in params]
    twin = optimizers.get(str(opt))
    twin.build(twin_params)
    twin.set_state(state)
    late = optimizers.get(str(opt))              # set_state before build: applied when built
    late.set_state(state)
    late_params = [p.copy() for p in params]
    for g in GRADS[::-1]:
        for o, ps in ((opt, params), (twin, twin_params), (late, late_params)):
            o.apply_gradients(ps, [g, g[0]])
    for p, q, r in zip(params, twin_params, late_params):
        np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(p, r)
    assert opt.iterations == twin.iterations == late.iterations == 6


def test_state_names_are_deterministic():
    params = [W0.copy(), W0[0].copy()]
    names = {
        "sgd": {"iterations"},
        "sgd(momentum=0.5)": {"iterations", "momentum/0", "momentum/1"},
        "adam(amsgrad=True)": {"iterations"} | {f"{s}/{i}" for s in ("momentum", "velocity", "velocity_hat")
                                                for i in (0, 1)},
        "nadam": {"iterations", "u_product", "momentum/0", "momentum/1", "velocity/0", "velocity/1"},
        "rmsprop(centered=True)": {"iterations", "velocity/0", "velocity/1", "average_gradient/0",
                                   "average_gradient/1"},
        "adagrad": {"iterations", "accumulator/0", "accumulator/1"},
    }
    for spec, expected in names.items():
        opt = optimizers.get(spec)
        opt.build(params)
        state = opt.get_state()
        assert set(state) == expected, spec
        assert all(isinstance(v, np.ndarray) for v in state.values())
    acc = optimizers.get("adagrad(initial_accumulator_value=0.5)").build(params).get_state()
    np.testing.assert_array_equal(acc["accumulator/0"], np.full_like(W0, 0.5))


def test_get_state_returns_copies():
    w = W0.copy()
    opt = optimizers.get("sgd(momentum=0.5)")
    opt.apply_gradients([w], [GRADS[0]])
    state = opt.get_state()
    state["momentum/0"][...] = 99.0
    assert not np.any(opt.get_state()["momentum/0"] == 99.0)


def test_set_state_rejects_state_that_does_not_fit():
    opt = optimizers.get("adam").build([W0.copy()])
    good = opt.get_state()
    with pytest.raises(DataError, match="iterations"):
        opt.set_state({k: v for k, v in good.items() if k != "iterations"})
    with pytest.raises(DataError, match="missing"):
        opt.set_state({k: v for k, v in good.items() if k != "velocity/0"})
    with pytest.raises(DataError, match="unknown entries.*accumulator/0"):
        opt.set_state({**good, "accumulator/0": np.zeros_like(W0)})
    with pytest.raises(ShapeError, match="velocity/0"):
        opt.set_state({**good, "velocity/0": np.zeros(3)})
    nadam = optimizers.get("nadam").build([W0.copy()])
    state = nadam.get_state()
    del state["u_product"]
    with pytest.raises(DataError, match="u_product"):
        nadam.set_state(state)
    with pytest.raises(DataError, match="non-negative integer"):
        opt.set_state({**good, "iterations": np.array(1.5)})


def test_copies_and_pickles_continue_identically():
    w = W0.copy()
    opt = optimizers.get("nadam(learning_rate=0.1, clipnorm=1.0)")
    opt.apply_gradients([w], [GRADS[0]])
    for other in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        w1, w2 = w.copy(), w.copy()
        o1 = copy.deepcopy(opt)
        o1.apply_gradients([w1], [GRADS[1]])
        other.apply_gradients([w2], [GRADS[1]])
        np.testing.assert_array_equal(w1, w2)
    assert opt.iterations == 1                  # the copies did not advance the original


# ---------------------------------------------------------------------------------------------------- build, dtypes

@pytest.mark.parametrize("spec", ["sgd(momentum=0.9, nesterov=True)", "adam(amsgrad=True, clipnorm=1.0)",
                                  "adamw", "nadam(global_clipnorm=1.0)", "rmsprop(momentum=0.5, centered=True)",
                                  "adagrad(clipvalue=0.5)"])
def test_float32_stays_float32(spec):
    params = [W0.astype(np.float32), W0[0].astype(np.float32)]
    opt = optimizers.get(spec)
    for g in GRADS:
        opt.apply_gradients(params, [g.astype(np.float32), g[0].astype(np.float32)])
    assert all(p.dtype == np.float32 for p in params)
    assert all(v.dtype == np.float32 for k, v in opt.get_state().items() if k not in ("iterations", "u_product"))
    # and it is the same computation as in float64, up to float32 rounding
    ref = [W0.copy(), W0[0].copy()]
    opt64 = optimizers.get(spec)
    for g in GRADS:
        opt64.apply_gradients(ref, [g, g[0]])
    for p, r in zip(params, ref):
        np.testing.assert_allclose(p, r, rtol=1e-5, atol=1e-6)


def test_float64_gradients_for_float32_weights_keep_the_weights_float32():
    w = W0.astype(np.float32)
    optimizers.get("adam").apply_gradients([w], [GRADS[0]])
    assert w.dtype == np.float32


def test_rebuild_with_new_dtype_keeps_state_and_new_shapes_start_fresh():
    w32 = W0.astype(np.float32)
    opt = optimizers.get("sgd(learning_rate=0.5, momentum=0.5)")
    opt.apply_gradients([w32], [GRADS[0].astype(np.float32)])
    w64 = w32.astype(np.float64)                 # what model.to_dtype does, then it calls build again
    opt.build([w64])
    state = opt.get_state()
    assert state["momentum/0"].dtype == np.float64 and opt.iterations == 1
    np.testing.assert_allclose(state["momentum/0"], -0.5 * GRADS[0], rtol=1e-7)
    opt.build([np.zeros(5)])                      # other weights: a fresh start
    assert opt.iterations == 0 and not np.any(opt.get_state()["momentum/0"])


def test_lazy_build_and_empty_step():
    opt = optimizers.get("adam")
    assert not opt.built
    opt.apply_gradients([], [])
    assert opt.iterations == 0 and not opt.built          # nothing to apply: a no-op, as Keras
    w = W0.copy()
    opt.apply_gradients([w], [GRADS[0]])
    assert opt.built and opt.iterations == 1


def test_a_parameter_without_gradient_is_left_alone():
    a, b = W0.copy(), W0.copy()
    optimizers.get("sgd(learning_rate=0.5, weight_decay=0.5)").apply_gradients([a, b], [GRADS[0], None])
    np.testing.assert_array_equal(b, W0)
    assert not np.allclose(a, W0)


def test_shape_errors_leave_everything_untouched():
    opt = optimizers.get("sgd(momentum=0.5)")
    a, b = W0.copy(), W0[0].copy()
    opt.apply_gradients([a, b], [GRADS[0], GRADS[0][0]])
    before = [a.copy(), b.copy()], opt.get_state()
    with pytest.raises(ShapeError, match="gradient 1 has shape"):
        opt.apply_gradients([a, b], [GRADS[0], GRADS[0]])
    with pytest.raises(ShapeError, match="built for 2 parameters"):
        opt.apply_gradients([a], [GRADS[0]])
    with pytest.raises(ShapeError, match="2 parameters but 1 gradients"):
        opt.apply_gradients([a, b], [GRADS[0]])
    with pytest.raises(ShapeError, match="parameter 1 has shape"):
        opt.apply_gradients([a, W0.copy()], [GRADS[0], GRADS[0]])
    np.testing.assert_array_equal(a, before[0][0])
    np.testing.assert_array_equal(b, before[0][1])
    assert opt.iterations == 1
    np.testing.assert_array_equal(opt.get_state()["momentum/0"], before[1]["momentum/0"])


def test_parameters_must_be_float_arrays():
    with pytest.raises(DataError, match="parameter 0 must be a float ndarray"):
        optimizers.get("sgd").build([[1.0, 2.0]])
    with pytest.raises(DataError, match="int64"):
        optimizers.get("sgd").build([np.arange(3)])
    opt = optimizers.get("sgd").build([np.zeros(2)])
    with pytest.raises(DataError, match="parameter 0 must be an ndarray"):
        opt.apply_gradients([[0.0, 0.0]], [np.ones(2)])


# ---------------------------------------------------------------------------------------------------- specs

EXAMPLES = {
    "sgd": "sgd(learning_rate=0.125, momentum=0.5, nesterov=True, clipnorm=1.0)",
    "adam": "adam(0.5, beta_1=0.5, beta_2=0.75, epsilon=1e-8, amsgrad=True, weight_decay=0.01)",
    "adamw": "adamw(learning_rate='cosine_decay(0.1, 1000)', weight_decay=0.125, global_clipnorm=2.0)",
    "nadam": "nadam(learning_rate=0.002, beta_1=0.75, clipvalue=0.5)",
    "rmsprop": "rmsprop(rho=0.5, momentum=0.25, epsilon=1e-6, centered=True)",
    "adagrad": "adagrad(learning_rate='piecewise_constant_decay([5, 10], [0.5, 0.25, 0.125])', "
               "initial_accumulator_value=0.5)",
}


def test_every_registered_optimizer_has_an_example():
    assert set(optimizers.registry.names()) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_spec_round_trip(name):
    for spec in (name, EXAMPLES[name]):
        opt = optimizers.get(spec)
        assert opt.spec_name == name
        again = optimizers.get(str(opt))
        assert again == opt and str(again) == str(opt), spec
        assert optimizers.get(optimizers.serialize(opt)) == opt
        assert "lr" not in opt.get_config()
    assert optimizers.get(name) != optimizers.get(EXAMPLES[name])
    assert str(optimizers.get(name)) == name                 # defaults are not written out


def test_schedule_spec_inside_an_optimizer_spec():
    opt = optimizers.get("sgd(learning_rate=\"cosine_decay(0.1, 1000)\")")
    assert isinstance(opt.learning_rate, schedules.CosineDecay)
    assert opt.get_config()["learning_rate"] == "cosine_decay(initial_learning_rate=0.1, decay_steps=1000)"
    assert str(opt) == "sgd(learning_rate='cosine_decay(initial_learning_rate=0.1, decay_steps=1000)')"
    assert optimizers.serialize(opt)["config"]["learning_rate"] == opt.get_config()["learning_rate"]
    assert optimizers.get("sgd(learning_rate='cosine_decay(0.1, 999)')") != opt


def test_lr_is_an_alias_of_learning_rate():
    opt = optimizers.get("sgd(lr=0.1, momentum=0.9)")
    assert opt.learning_rate == 0.1 and opt.lr == 0.1
    assert str(opt) == "sgd(learning_rate=0.1, momentum=0.9)"
    assert optimizers.get("adam(lr='exponential_decay(0.1, 10, 0.5)')").learning_rate == \
        schedules.ExponentialDecay(0.1, 10, 0.5)
    assert optimizers.get("adam(0.25)").learning_rate == 0.25           # positional: learning_rate first
    assert optimizers.Adam(lr=0.5) == optimizers.Adam(learning_rate=0.5)


@pytest.mark.parametrize("spec", ["sgd(learning_rate=0.1, lr=0.1)", "sgd(learning_rate=0.01, lr=0.1)",
                                  "adam(0.5, lr=0.1)"])
def test_giving_both_learning_rate_and_lr_is_an_error(spec):
    # 0.01 is SGD's default value: still refused, because it was given
    with pytest.raises(SpecError, match="'lr' is an alias of 'learning_rate'"):
        optimizers.get(spec)


@pytest.mark.parametrize("spec, words", [
    ("sgd(learning_rate=-0.1)", ["SGD", "learning_rate", ">= 0", "-0.1"]),
    ("sgd(lr=-1)", ["SGD", "learning_rate"]),
    ("sgd(momentum=1.0)", ["SGD", "momentum", "[0, 1)", "1.0"]),
    ("sgd(momentum=-0.5)", ["momentum", ">= 0"]),
    ("sgd(nesterov='yes')", ["nesterov", "True or False"]),
    ("sgd(learning_rate=True)", ["learning_rate", "a number"]),
    ("sgd(learning_rate='fast')", ["SGD", "learning_rate", "schedule"]),
    ("sgd(learning_rate='exponential_decay(0.1, 0, 0.5)')", ["learning_rate", "decay_steps"]),
    ("adam(beta_1=1.0)", ["Adam", "beta_1", "[0, 1)"]),
    ("adam(beta_2=1.5)", ["beta_2"]),
    ("adam(epsilon=-1e-7)", ["epsilon"]),
    ("adam(amsgrad=1)", ["amsgrad"]),
    ("adamw(weight_decay=None)", ["AdamW", "weight_decay", "None"]),
    ("adamw(weight_decay=-0.1)", ["AdamW", "weight_decay", ">= 0"]),
    ("nadam(beta_1=-0.1)", ["Nadam", "beta_1"]),
    ("rmsprop(rho=1.0)", ["RMSprop", "rho"]),
    ("rmsprop(momentum=2)", ["RMSprop", "momentum"]),
    ("rmsprop(centered='no')", ["centered"]),
    ("adagrad(initial_accumulator_value=-0.1)", ["Adagrad", "initial_accumulator_value"]),
    ("sgd(clipnorm=-1.0)", ["clipnorm"]),
    ("sgd(clipnorm=1.0, clipvalue=0.5)", ["only one of", "clipnorm and clipvalue"]),
    ("adam(clipvalue=1.0, global_clipnorm=1.0)", ["only one of"]),
    ("sgd(momentun=0.9)", ["no argument 'momentun'", "momentum"]),
    ("sgd(learning_rat=0.1)", ["learning_rate"]),
    ("adamx", ["unknown optimizer", "adam"]),
])
def test_bad_specs_raise_spec_error(spec, words):
    with pytest.raises(SpecError) as info:
        optimizers.get(spec)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_get_passes_instances_and_classes_through():
    opt = optimizers.SGD(0.5)
    assert optimizers.get(opt) is opt
    assert optimizers.get(optimizers.RMSprop) == optimizers.RMSprop()
    with pytest.raises(SpecError):
        optimizers.get(None)


# ---------------------------------------------------------------------------------------------------- pre-scaled steps
# apply_scaled_gradients (G = s·g with s = gradient_scale() = −η, penalties folded in by the optimizer) against the
# textbook step apply_gradients(g + dR/dW) it replaces in a training step.

class SignOnly(regularizers.Regularizer):
    """A user penalty whose grad takes no out= (the generic scaled_grad path)."""

    def loss(self, W):
        return 0.1 * float(np.abs(W).sum())

    def grad(self, W):
        return 0.1 * np.sign(W)


PENALTIES = [None, "l2(lambd=0.05)", "l2(l2=0.02)", "l1(l1=0.03)", "l1l2(l2=0.02)", "l1l2(l1=0.01, l2=0.02)",
             SignOnly()]


def textbook_and_scaled(spec, penalty, dtype=np.float64, bias_penalty=None):
    """Weights and optimizer state after 3 steps of each path, from the same start."""
    reg = regularizers.get(penalty) if not isinstance(penalty, regularizers.Regularizer) else penalty
    breg = regularizers.get(bias_penalty)
    start = [W0.astype(dtype), W0[0].astype(dtype)]
    plain_w, scaled_w = [p.copy() for p in start], [p.copy() for p in start]
    plain, scaled = optimizers.get(spec), optimizers.get(spec)
    for g in GRADS:
        grads = [g.astype(dtype), g[0].astype(dtype)]
        total = [gr + (r.grad(w) if r is not None else 0) for gr, w, r in zip(grads, plain_w, (reg, breg))]
        plain.apply_gradients(plain_w, total)
        s = scaled.gradient_scale()
        scaled.apply_scaled_gradients(scaled_w, [s * gr for gr in grads], s, [reg, breg])
    return (plain_w, plain), (scaled_w, scaled)


@pytest.mark.parametrize("penalty", PENALTIES, ids=str)
@pytest.mark.parametrize("spec", ["sgd(learning_rate=0.5)", "sgd(learning_rate=0.5, momentum=0.75)",
                                  "sgd(learning_rate=0.5, momentum=0.75, nesterov=True)",
                                  "sgd(learning_rate='exponential_decay(0.5, 2, 0.5)', momentum=0.5)"])
def test_prescaled_sgd_step_is_the_textbook_step(spec, penalty):
    (plain_w, plain), (scaled_w, scaled) = textbook_and_scaled(spec, penalty, bias_penalty="l2(lambd=0.1)")
    for a, b in zip(plain_w, scaled_w):
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)
    for key, value in plain.get_state().items():
        np.testing.assert_allclose(scaled.get_state()[key], value, rtol=1e-12, atol=1e-15)
    assert scaled.iterations == 3


def test_prescaled_plain_sgd_with_l2_shrinks_the_weights_in_place():
    """w ← (1 − η·k)·w − η·g: the L2 step as one scaling of w, written out."""
    lr, lam = 0.5, 0.05
    (_, _), (scaled_w, _) = textbook_and_scaled(f"sgd(learning_rate={lr})", f"l2(lambd={lam})")
    w = W0.copy()
    for g in GRADS:
        w = (1 - lr * lam) * w - lr * g
    np.testing.assert_allclose(scaled_w[0], w, rtol=1e-14)


@pytest.mark.parametrize("spec", ["sgd(momentum=0.9)", "sgd(learning_rate=0.1)"])
def test_prescaled_float32_stays_float32_and_matches_float64(spec):
    (_, _), (w32, opt) = textbook_and_scaled(spec, "l2(l2=0.01)", dtype=np.float32)
    (_, _), (w64, _) = textbook_and_scaled(spec, "l2(l2=0.01)")
    assert all(w.dtype == np.float32 for w in w32)
    assert all(v.dtype == np.float32 for k, v in opt.get_state().items() if k != "iterations")
    for a, b in zip(w32, w64):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spec", ["adam", "rmsprop", "adagrad", "nadam", "adamw", "sgd(clipnorm=1.0)",
                                  "sgd(clipvalue=0.5)", "sgd(global_clipnorm=1.0)", "sgd(weight_decay=0.01)"])
def test_only_unclipped_sgd_takes_prescaled_gradients(spec):
    opt = optimizers.get(spec)
    assert opt.gradient_scale() is None
    w = W0.copy()
    with pytest.raises(DataError, match="no pre-scaled gradients"):
        opt.apply_scaled_gradients([w], [GRADS[0]], -0.01)
    np.testing.assert_array_equal(w, W0)


def test_prescaled_step_refuses_a_scale_of_another_step_and_leaves_everything_untouched():
    opt = optimizers.get("sgd(learning_rate='exponential_decay(0.5, 1, 0.5)', momentum=0.9)")
    assert opt.gradient_scale() == -0.5
    w = W0.copy()
    opt.apply_scaled_gradients([w], [-0.5 * GRADS[0]], -0.5)
    assert opt.gradient_scale() == -0.25                    # the schedule's next value
    before, state = w.copy(), opt.get_state()
    with pytest.raises(DataError, match=r"scaled by -0.5.*-0.25"):
        opt.apply_scaled_gradients([w], [GRADS[1]], -0.5)
    with pytest.raises(ShapeError, match="aligned"):
        opt.apply_scaled_gradients([w], [GRADS[1]], -0.25, [None, None])
    with pytest.raises(ShapeError, match="gradient 0 has shape"):
        opt.apply_scaled_gradients([w], [GRADS[1][0]], -0.25)
    np.testing.assert_array_equal(w, before)
    assert opt.iterations == 1 and np.array_equal(opt.get_state()["momentum/0"], state["momentum/0"])


def test_prescaled_gradients_are_not_modified_and_none_is_skipped():
    opt = optimizers.get("sgd(learning_rate=0.5, momentum=0.5, nesterov=True)")
    params, grads = [W0.copy(), W0[0].copy()], [-0.5 * GRADS[0], None]
    kept = grads[0].copy()
    opt.apply_scaled_gradients(params, grads, opt.gradient_scale(), [regularizers.get("l2(lambd=0.1)"), None])
    np.testing.assert_array_equal(grads[0], kept)
    np.testing.assert_array_equal(params[1], W0[0])         # no gradient: no step, as apply_gradients
    assert opt.iterations == 1
