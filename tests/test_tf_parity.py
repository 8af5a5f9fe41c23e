"""TensorFlow / Keras 3 parity: numpynet gives the same numbers as Keras, family by family.

Every comparison builds the Keras counterpart explicitly (not through numpynet.keras_bridge, which has its own
tests), copies weights with ``set_weights`` and checks

    max|numpynet − keras| / max|keras|  <  1e-6 (float64)  or  1e-4 (float32)

Float64 runs use ``keras.config.set_floatx("float64")`` and hyper-parameters exactly representable in float32
(0.5, 0.125, 2**-7, ...), because Keras passes Python floats through float32 on the way in. Initializers are
random, so they are compared by their statistics (mean, std, bounds) instead.

TensorFlow is optional: without it this module is skipped, unless ``NUMPYNET_REQUIRE_TF=1`` (CI) turns a missing
TensorFlow into a failure. ``NUMPYNET_TF_DEVICE=GPU`` runs the Keras side on a GPU with TF32 disabled.
The worst relative difference per family and dtype is written to ``<pytest basetemp>/tf_parity_worst.json``
(or ``$NUMPYNET_PARITY_REPORT``) and printed in the terminal summary (tests/conftest.py).
"""

import json
import os
import time

import numpy as np
import pytest
from tf_parity_common import DEVICE, keras, rel_diff, tf  # skips the module without TensorFlow; sets the device

import numpynet as nn
from numpynet.callbacks import EarlyStopping
from numpynet.keras_bridge import keras_dtype
from numpynet.layers import Dense

TOL = {"float64": 1e-6, "float32": 1e-4}
#: family -> {dtype: worst relative difference}; printed by tests/conftest.py and written to JSON
PARITY_WORST = {}
DTYPES = ["float64", "float32"]


# ============================================================================================ helpers

def check(family, dtype, ours, theirs, what="", tol=None):
    """Assert parity and record the worst relative difference of ``family`` in ``dtype``."""
    r = rel_diff(ours, theirs)
    slot = PARITY_WORST.setdefault(family, {})
    slot[dtype] = max(slot.get(dtype, 0.0), r)
    limit = TOL[dtype] if tol is None else tol
    assert r < limit, f"{family} {what} ({dtype}): relative difference {r:.3e} >= {limit:g}"


def np_dtype(dtype):
    return np.float64 if dtype == "float64" else np.float32


@pytest.fixture(scope="module", autouse=True)
def parity_report(tmp_path_factory):
    start = time.perf_counter()
    yield
    report = {"device": DEVICE, "seconds": round(time.perf_counter() - start, 2),
              "tolerance": TOL, "worst_relative_difference": PARITY_WORST}
    path = os.environ.get("NUMPYNET_PARITY_REPORT") or tmp_path_factory.getbasetemp() / "tf_parity_worst.json"
    with open(path, "w") as fh:
        json.dump(report, fh, indent=2, sort_keys=True)


@pytest.fixture(params=DTYPES)
def dtype(request):
    """Run the test in float64 and in float32, with Keras set accordingly (floatx and the global dtype policy,
    which Keras otherwise keeps from the first layer ever built; both restored afterwards)."""
    with keras_dtype(request.param):
        yield request.param


@pytest.fixture
def float64():
    with keras_dtype("float64"):
        yield "float64"


def tape_grad(fn, x):
    """(value, d value/dx) of a scalar TensorFlow function by tf.GradientTape."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x)
    return value.numpy(), tape.gradient(value, x).numpy()


# ============================================================================================ activations

# numpynet spec -> (Keras activation name, keyword arguments)
ACTIVATIONS = {
    "linear": ("linear", {}), "relu": ("relu", {}), "relu6": ("relu6", {}),
    "leaky_relu": ("leaky_relu", {}), "leaky_relu(negative_slope=0.125)": ("leaky_relu", {"negative_slope": 0.125}),
    "elu": ("elu", {}), "elu(alpha=0.5)": ("elu", {"alpha": 0.5}), "selu": ("selu", {}),
    "gelu": ("gelu", {}), "gelu(approximate=True)": ("gelu", {"approximate": True}),
    "sigmoid": ("sigmoid", {}), "hard_sigmoid": ("hard_sigmoid", {}), "tanh": ("tanh", {}),
    "softmax": ("softmax", {}), "softplus": ("softplus", {}), "softsign": ("softsign", {}),
    "silu": ("silu", {}), "exponential": ("exponential", {}),
}


def activation_input(dtype, name):
    """Points in [-7, 7] plus a few large ones, kept away from the kinks at 0, ±3 and 6."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-7, 7, size=(12, 10))
    for kink in (0.0, 3.0, -3.0, 6.0):
        near = np.abs(x - kink) < 0.05
        x[near] += 0.1
    if name != "exponential":
        x[0, :4] = [-30.0, 30.0, -15.0, 15.0]
    return x.astype(np_dtype(dtype))


def test_every_activation_has_a_parity_case():
    covered = {nn.activations.get(spec).spec_name for spec in ACTIVATIONS}
    assert set(nn.activations.registry.names()) <= covered, \
        f"activations without a Keras parity case: {set(nn.activations.registry.names()) - covered}"


@pytest.mark.parametrize("spec", list(ACTIVATIONS))
def test_activation_output_and_gradient(spec, dtype):
    act = nn.activations.get(spec)
    kname, kwargs = ACTIVATIONS[spec]
    kfn = getattr(keras.activations, kname)
    x = activation_input(dtype, kname)
    dy = np.random.default_rng(2).standard_normal(x.shape).astype(x.dtype)
    y = act.forward(x)
    assert y.dtype == x.dtype
    ky, kdx = tape_grad(lambda t: tf.reduce_sum(kfn(t, **kwargs) * dy), x)
    check("activations", dtype, y, kfn(tf.constant(x), **kwargs).numpy(), f"{spec} output")
    dx = act.backward(dy, x, y)
    assert dx.dtype == x.dtype
    check("activations", dtype, dx, kdx, f"{spec} gradient")


# ============================================================================================ losses

def _probabilities(rng, n, k, dtype):
    p = rng.uniform(0.05, 1.0, size=(n, k))
    p /= p.sum(axis=1, keepdims=True)
    return p.astype(dtype)


def loss_case(kind, dtype, n=10, k=4):
    """(y_pred, numpynet y_true, keras y_true) for a kind of loss input; probabilities include values that Keras
    clips (exact 0 and 1, also on the true class) and rows that do not sum to one (Keras renormalizes)."""
    rng = np.random.default_rng(3)
    dt = np_dtype(dtype)
    labels = rng.integers(0, k, n)
    onehot = np.eye(k, dtype=dt)[labels]
    if kind == "logits_sparse":
        return (rng.normal(0, 3, (n, k)).astype(dt), labels, labels)
    if kind == "logits_onehot":
        return (rng.normal(0, 3, (n, k)).astype(dt), onehot, onehot)
    if kind in ("probs_sparse", "probs_onehot", "probs_sparse_as_onehot"):
        p = _probabilities(rng, n, k, dt)
        p[0] = 0.0
        p[0, labels[0]] = 1.0                                  # perfectly right: clipped at 1 − 1e-7
        p[1, labels[1]] = 0.0                                  # true class 0: clipped at 1e-7 -> loss 16.118
        p[1] /= p[1].sum()
        p[2] *= 1.5                                            # not normalized: Keras renormalizes
        if kind == "probs_onehot":
            return p, onehot, onehot
        if kind == "probs_sparse_as_onehot":
            return p, labels, onehot
        return p, labels, labels
    if kind == "binary_probs":
        t = rng.integers(0, 2, (n, 3)).astype(dt)
        p = rng.uniform(0.02, 0.98, (n, 3)).astype(dt)
        p[0] = [0.0, 1.0, 0.5]                                 # clipped on both ends
        t[0] = [1.0, 0.0, 1.0]
        return p, t, t
    if kind == "binary_logits":
        t = rng.integers(0, 2, (n, 3)).astype(dt)
        z = rng.normal(0, 4, (n, 3)).astype(dt)
        z[0, :2] = [60.0, -60.0]
        return z, t, t
    if kind == "regression":
        t = rng.normal(0, 1, (n, 3)).astype(dt)
        z = (t + rng.normal(0, 1.5, (n, 3))).astype(dt)
        return z, t, t
    raise AssertionError(kind)


# numpynet spec -> (Keras loss factory, input kind)
LOSSES = {
    "softmax_cross_entropy": (lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                              "logits_sparse"),
    "softmax_cross_entropy/onehot": (lambda: keras.losses.CategoricalCrossentropy(from_logits=True),
                                     "logits_onehot"),
    "categorical_crossentropy": (lambda: keras.losses.CategoricalCrossentropy(), "probs_onehot"),
    "categorical_crossentropy/sparse": (lambda: keras.losses.CategoricalCrossentropy(), "probs_sparse_as_onehot"),
    "categorical_crossentropy(from_logits=True)": (
        lambda: keras.losses.CategoricalCrossentropy(from_logits=True), "logits_onehot"),
    "categorical_crossentropy(label_smoothing=0.125)": (
        lambda: keras.losses.CategoricalCrossentropy(label_smoothing=0.125), "probs_onehot"),
    "sparse_categorical_crossentropy": (lambda: keras.losses.SparseCategoricalCrossentropy(), "probs_sparse"),
    "sparse_categorical_crossentropy(from_logits=True)": (
        lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True), "logits_sparse"),
    "binary_crossentropy": (lambda: keras.losses.BinaryCrossentropy(), "binary_probs"),
    "binary_crossentropy(from_logits=True)": (lambda: keras.losses.BinaryCrossentropy(from_logits=True),
                                              "binary_logits"),
    "binary_crossentropy(label_smoothing=0.25)": (
        lambda: keras.losses.BinaryCrossentropy(label_smoothing=0.25), "binary_probs"),
    "mse": (lambda: keras.losses.MeanSquaredError(), "regression"),
    "mae": (lambda: keras.losses.MeanAbsoluteError(), "regression"),
    "huber": (lambda: keras.losses.Huber(), "regression"),
    "huber(delta=0.5)": (lambda: keras.losses.Huber(delta=0.5), "regression"),
}


def test_every_loss_has_a_parity_case():
    covered = {nn.losses.get(spec.split("/")[0]).spec_name for spec in LOSSES}
    assert set(nn.losses.registry.names()) <= covered, \
        f"losses without a Keras parity case: {set(nn.losses.registry.names()) - covered}"


@pytest.mark.parametrize("spec", list(LOSSES))
def test_loss_value_and_gradient(spec, dtype):
    loss = nn.losses.get(spec.split("/")[0])
    factory, kind = LOSSES[spec]
    y_pred, y_true, k_true = loss_case(kind, dtype)
    kloss = factory()
    kvalue, kgrad = tape_grad(lambda t: kloss(k_true, t), y_pred)
    value = loss.forward(y_pred, y_true)
    grad = loss.backward(y_pred, y_true)
    check("losses", dtype, value, kvalue, f"{spec} value")
    check("losses", dtype, grad, kgrad, f"{spec} gradient")
    assert grad.dtype == y_pred.dtype
    fb_value, fb_grad = loss.forward_backward(y_pred, y_true)   # what the trainer calls
    check("losses", dtype, fb_value, kvalue, f"{spec} forward_backward value")
    check("losses", dtype, fb_grad, kgrad, f"{spec} forward_backward gradient")


def test_probability_clipping_matches_keras(float64):
    """A zero probability on the true class costs −log(1e-7) in both (Keras clips to [1e-7, 1 − 1e-7])."""
    p = np.array([[0.0, 1.0], [0.5, 0.5]])
    y = np.array([0, 1])
    ours = nn.losses.get("sparse_categorical_crossentropy").forward(p, y)
    theirs = float(keras.losses.SparseCategoricalCrossentropy()(y, p))
    assert theirs == pytest.approx((-np.log(1e-7) - np.log(0.5)) / 2, rel=1e-6)
    check("losses", "float64", ours, theirs, "clipping")


# ============================================================================================ regularizers

REGULARIZERS = {
    "l2(lambd=0.25)": lambda: keras.regularizers.L2(0.125),        # textbook ½·λ·Σw² = Keras L2(λ/2)
    "l2(l2=0.125)": lambda: keras.regularizers.L2(0.125),          # Keras keyword, Keras meaning
    "l2(lambd=0.5)": lambda: keras.regularizers.L2(0.25),
    "l1(lambd=0.125)": lambda: keras.regularizers.L1(0.125),
    "l1(l1=0.25)": lambda: keras.regularizers.L1(0.25),
    "l1l2(l1=0.125, l2=0.25)": lambda: keras.regularizers.L1L2(l1=0.125, l2=0.25),
    "l1l2(l2=0.5)": lambda: keras.regularizers.L1L2(l2=0.5),
}


def test_every_regularizer_has_a_parity_case():
    covered = {nn.regularizers.get(spec).spec_name for spec in REGULARIZERS}
    assert set(nn.regularizers.registry.names()) <= covered


@pytest.mark.parametrize("spec", list(REGULARIZERS))
def test_regularizer_penalty_and_gradient(spec, dtype):
    reg = nn.regularizers.get(spec)
    w = np.random.default_rng(4).normal(0, 1, (7, 5)).astype(np_dtype(dtype))
    w[0, :2] = 0.0                                                 # sign(0) = 0 for L1, as TensorFlow's abs'
    kreg = REGULARIZERS[spec]()
    kvalue, kgrad = tape_grad(lambda t: kreg(t), w)
    check("regularizers", dtype, reg.loss(w), kvalue, f"{spec} penalty")
    grad = reg.grad(w)
    assert grad.dtype == w.dtype
    check("regularizers", dtype, grad, kgrad, f"{spec} gradient")


# ============================================================================================ constraints

CONSTRAINTS = {
    "max_norm(max_value=0.5)": lambda: keras.constraints.MaxNorm(0.5),
    "max_norm(max_value=0.5, axis=1)": lambda: keras.constraints.MaxNorm(0.5, axis=1),
    "max_norm": lambda: keras.constraints.MaxNorm(),
    "non_neg": lambda: keras.constraints.NonNeg(),
    "unit_norm": lambda: keras.constraints.UnitNorm(),
    "unit_norm(axis=1)": lambda: keras.constraints.UnitNorm(axis=1),
    "min_max_norm(min_value=0.25, max_value=0.75, rate=0.5)":
        lambda: keras.constraints.MinMaxNorm(min_value=0.25, max_value=0.75, rate=0.5),
    "min_max_norm": lambda: keras.constraints.MinMaxNorm(),
}


def test_every_constraint_has_a_parity_case():
    covered = {nn.constraints.get(spec).spec_name for spec in CONSTRAINTS}
    assert set(nn.constraints.registry.names()) <= covered


@pytest.mark.parametrize("spec", list(CONSTRAINTS))
def test_constraint(spec, dtype):
    rng = np.random.default_rng(5)
    w = (rng.normal(0, 1, (6, 5)) * np.array([0.05, 0.2, 0.5, 1.0, 3.0])).astype(np_dtype(dtype))
    con = nn.constraints.get(spec)
    out = con(w.copy())
    assert out.shape == w.shape and out.dtype == w.dtype
    check("constraints", dtype, out, CONSTRAINTS[spec]()(tf.constant(w)).numpy(), spec)


def test_max_norm_on_a_conv_kernel(dtype):
    w = np.random.default_rng(6).normal(0, 0.5, (3, 3, 2, 4)).astype(np_dtype(dtype))
    out = nn.constraints.get("max_norm(max_value=0.5, axis=(0, 1, 2))")(w.copy())
    check("constraints", dtype, out, keras.constraints.MaxNorm(0.5, axis=[0, 1, 2])(tf.constant(w)).numpy(),
          "max_norm conv kernel")


# ============================================================================================ schedules

SCHEDULES = {
    "exponential_decay(0.5, 4, 0.5)": lambda: keras.optimizers.schedules.ExponentialDecay(0.5, 4, 0.5),
    "exponential_decay(0.5, 4, 0.5, staircase=True)":
        lambda: keras.optimizers.schedules.ExponentialDecay(0.5, 4, 0.5, staircase=True),
    "piecewise_constant_decay([5, 10], [0.5, 0.25, 0.125])":
        lambda: keras.optimizers.schedules.PiecewiseConstantDecay([5, 10], [0.5, 0.25, 0.125]),
    "inverse_time_decay(0.5, 4, 0.5)": lambda: keras.optimizers.schedules.InverseTimeDecay(0.5, 4, 0.5),
    "inverse_time_decay(0.5, 4, 0.5, staircase=True)":
        lambda: keras.optimizers.schedules.InverseTimeDecay(0.5, 4, 0.5, staircase=True),
    "cosine_decay(0.5, 16, alpha=0.25)": lambda: keras.optimizers.schedules.CosineDecay(0.5, 16, alpha=0.25),
    "cosine_decay(0.25, 16, warmup_target=0.5, warmup_steps=4)":
        lambda: keras.optimizers.schedules.CosineDecay(0.25, 16, warmup_target=0.5, warmup_steps=4),
}


def test_every_schedule_has_a_parity_case():
    covered = {nn.schedules.get(spec).spec_name for spec in SCHEDULES}
    assert set(nn.schedules.registry.names()) <= covered


@pytest.mark.parametrize("spec", list(SCHEDULES))
def test_schedule_values(spec, float64):
    ours = nn.schedules.get(spec)
    theirs = SCHEDULES[spec]()
    steps = list(range(0, 30))
    check("schedules", "float64", [ours(s) for s in steps], [float(theirs(s)) for s in steps], spec)


# ============================================================================================ optimizers

K = keras.optimizers
# Keras casts β1, β2 (and AdamW's default weight decay) from Python floats through float32 even for float64
# variables (ops.cast(self.beta_2, variable.dtype)): float64 cases use exactly representable values; the Keras
# defaults (β2 = 0.999, ...) are compared in float32 by test_optimizer_defaults_float32.
OPTIMIZERS = {
    "sgd(learning_rate=0.125)": lambda: K.SGD(0.125),
    "sgd(learning_rate=0.125, momentum=0.5)": lambda: K.SGD(0.125, momentum=0.5),
    "sgd(learning_rate=0.125, momentum=0.5, nesterov=True)": lambda: K.SGD(0.125, momentum=0.5, nesterov=True),
    "adam(learning_rate=0.125, beta_1=0.875, beta_2=0.9375)": lambda: K.Adam(0.125, beta_1=0.875, beta_2=0.9375),
    "adam(learning_rate=0.125, beta_1=0.5, beta_2=0.75, amsgrad=True)":
        lambda: K.Adam(0.125, beta_1=0.5, beta_2=0.75, amsgrad=True),
    "adamw(learning_rate=0.125, weight_decay=0.25, beta_1=0.875, beta_2=0.9375)":
        lambda: K.AdamW(0.125, weight_decay=0.25, beta_1=0.875, beta_2=0.9375),
    "adamw(learning_rate=0.125, weight_decay=0.0625, beta_1=0.75, beta_2=0.875, amsgrad=True)":
        lambda: K.AdamW(0.125, weight_decay=0.0625, beta_1=0.75, beta_2=0.875, amsgrad=True),
    "nadam(learning_rate=0.125, beta_1=0.875, beta_2=0.9375)": lambda: K.Nadam(0.125, beta_1=0.875, beta_2=0.9375),
    "nadam(learning_rate=0.125, beta_1=0.5, beta_2=0.75)": lambda: K.Nadam(0.125, beta_1=0.5, beta_2=0.75),
    "rmsprop(learning_rate=0.125, rho=0.875)": lambda: K.RMSprop(0.125, rho=0.875),
    "rmsprop(learning_rate=0.125, rho=0.875, momentum=0.5)": lambda: K.RMSprop(0.125, rho=0.875, momentum=0.5),
    "rmsprop(learning_rate=0.125, rho=0.875, centered=True)": lambda: K.RMSprop(0.125, rho=0.875, centered=True),
    "rmsprop(learning_rate=0.125, rho=0.5, momentum=0.5, centered=True)":
        lambda: K.RMSprop(0.125, rho=0.5, momentum=0.5, centered=True),
    "adagrad(learning_rate=0.125)": lambda: K.Adagrad(0.125),
    "adagrad(learning_rate=0.125, initial_accumulator_value=0.5)":
        lambda: K.Adagrad(0.125, initial_accumulator_value=0.5),
    "sgd(learning_rate=0.125, clipnorm=0.5)": lambda: K.SGD(0.125, clipnorm=0.5),
    "sgd(learning_rate=0.125, clipvalue=0.25)": lambda: K.SGD(0.125, clipvalue=0.25),
    "sgd(learning_rate=0.125, global_clipnorm=0.5)": lambda: K.SGD(0.125, global_clipnorm=0.5),
    "adam(learning_rate=0.125, beta_1=0.875, beta_2=0.9375, clipnorm=0.5)":
        lambda: K.Adam(0.125, beta_1=0.875, beta_2=0.9375, clipnorm=0.5),
    "rmsprop(learning_rate=0.125, rho=0.875, global_clipnorm=0.5)":
        lambda: K.RMSprop(0.125, rho=0.875, global_clipnorm=0.5),
    "sgd(learning_rate=0.125, momentum=0.5, weight_decay=0.25)":
        lambda: K.SGD(0.125, momentum=0.5, weight_decay=0.25),
    "adam(learning_rate=0.125, beta_1=0.875, beta_2=0.9375, weight_decay=0.25)":
        lambda: K.Adam(0.125, beta_1=0.875, beta_2=0.9375, weight_decay=0.25),
    "sgd(learning_rate=0.125, clipvalue=0.25, weight_decay=0.5)":
        lambda: K.SGD(0.125, clipvalue=0.25, weight_decay=0.5),
    "sgd(learning_rate='exponential_decay(0.5, 4, 0.5)')":
        lambda: K.SGD(K.schedules.ExponentialDecay(0.5, 4, 0.5)),
    "sgd(learning_rate='exponential_decay(0.5, 4, 0.5, staircase=True)', momentum=0.5)":
        lambda: K.SGD(K.schedules.ExponentialDecay(0.5, 4, 0.5, staircase=True), momentum=0.5),
    "adam(learning_rate='piecewise_constant_decay([5, 10], [0.5, 0.25, 0.125])', beta_1=0.875, beta_2=0.9375)":
        lambda: K.Adam(K.schedules.PiecewiseConstantDecay([5, 10], [0.5, 0.25, 0.125]), beta_1=0.875,
                       beta_2=0.9375),
    "rmsprop(learning_rate='inverse_time_decay(0.5, 4, 0.5)', rho=0.875)":
        lambda: K.RMSprop(K.schedules.InverseTimeDecay(0.5, 4, 0.5), rho=0.875),
    "sgd(learning_rate='cosine_decay(0.5, 16, alpha=0.25)')":
        lambda: K.SGD(K.schedules.CosineDecay(0.5, 16, alpha=0.25)),
    "adamw(learning_rate='cosine_decay(0.25, 16, warmup_target=0.5, warmup_steps=4)', weight_decay=0.125, "
    "beta_1=0.875, beta_2=0.9375)":
        lambda: K.AdamW(K.schedules.CosineDecay(0.25, 16, warmup_target=0.5, warmup_steps=4), weight_decay=0.125,
                        beta_1=0.875, beta_2=0.9375),
}
# every optimizer with Keras's default hyper-parameters (float32 only, see above)
DEFAULT_OPTIMIZERS = {"sgd": lambda: K.SGD(), "adam": lambda: K.Adam(), "adamw": lambda: K.AdamW(),
                      "nadam": lambda: K.Nadam(), "rmsprop": lambda: K.RMSprop(), "adagrad": lambda: K.Adagrad()}
N_STEPS = 24


def test_every_optimizer_has_a_parity_case():
    covered = {nn.optimizers.get(spec).spec_name for spec in OPTIMIZERS}
    assert set(nn.optimizers.registry.names()) <= covered


def _gradients(weights, step):
    """Gradient of ½·Σ a·(w − t)² plus a fixed per-step perturbation: depends on the current weights, so any
    difference in the updates would compound over the steps."""
    out = []
    for i, w in enumerate(weights):
        rng = np.random.default_rng(100 * i + step)
        a = np.linspace(0.5, 3.0, w.size).reshape(w.shape)
        out.append((a * (w - 1.5) + rng.normal(0, 2.0, w.shape)).astype(w.dtype))
    return out


def run_optimizers(spec, kopt, dtype, family="optimizers"):
    dt = np_dtype(dtype)
    rng = np.random.default_rng(7)
    init = [rng.normal(0, 1, (3, 4)).astype(dt), rng.normal(0, 1, (4,)).astype(dt)]
    ours = [w.copy() for w in init]
    opt = nn.optimizers.get(spec)
    opt.build(ours)
    kvars = [keras.Variable(w, dtype=dtype) for w in init]
    for step in range(N_STEPS):
        opt.apply_gradients(ours, _gradients(ours, step))
        kopt.apply_gradients(zip([tf.constant(g) for g in _gradients([v.numpy() for v in kvars], step)], kvars))
    assert all(w.dtype == dt for w in ours)
    for i, (w, v) in enumerate(zip(ours, kvars)):
        check(family, dtype, w, v.numpy(), f"{spec} weight {i} after {N_STEPS} steps")
    assert int(opt.iterations) == int(kopt.iterations.numpy()) == N_STEPS


@pytest.mark.parametrize("spec", list(OPTIMIZERS))
def test_optimizer_trajectory(spec, dtype):
    run_optimizers(spec, OPTIMIZERS[spec](), dtype)


@pytest.mark.parametrize("spec", list(DEFAULT_OPTIMIZERS))
def test_optimizer_defaults_float32(spec):
    with keras_dtype("float32"):
        run_optimizers(spec, DEFAULT_OPTIMIZERS[spec](), "float32", family="optimizers (Keras defaults)")


# ============================================================================================ initializers

# numpynet spec -> (Keras initializer factory, bounded distribution?)
INITIALIZERS = {
    "zeros": (lambda: keras.initializers.Zeros(), True),
    "ones": (lambda: keras.initializers.Ones(), True),
    "constant(value=0.5)": (lambda: keras.initializers.Constant(0.5), True),
    "std_normal": (lambda: keras.initializers.RandomNormal(0.0, 1.0), False),
    "std_normal(scale=0.5)": (lambda: keras.initializers.RandomNormal(0.0, 0.5), False),
    "random_normal": (lambda: keras.initializers.RandomNormal(), False),
    "random_normal(mean=0.5, stddev=0.25)": (lambda: keras.initializers.RandomNormal(0.5, 0.25), False),
    "random_uniform": (lambda: keras.initializers.RandomUniform(), True),
    "random_uniform(minval=-0.25, maxval=0.5)": (lambda: keras.initializers.RandomUniform(-0.25, 0.5), True),
    "truncated_normal": (lambda: keras.initializers.TruncatedNormal(), True),
    "truncated_normal(mean=0.5, stddev=0.25)": (lambda: keras.initializers.TruncatedNormal(0.5, 0.25), True),
    "variance_scaling": (lambda: keras.initializers.VarianceScaling(), True),
    "variance_scaling(scale=2.0, mode='fan_avg', distribution='uniform')":
        (lambda: keras.initializers.VarianceScaling(2.0, "fan_avg", "uniform"), True),
    "variance_scaling(mode='fan_out', distribution='untruncated_normal')":
        (lambda: keras.initializers.VarianceScaling(mode="fan_out", distribution="untruncated_normal"), False),
    "glorot_uniform": (lambda: keras.initializers.GlorotUniform(), True),
    "glorot_normal": (lambda: keras.initializers.GlorotNormal(), True),
    "he_uniform": (lambda: keras.initializers.HeUniform(), True),
    "he_normal": (lambda: keras.initializers.HeNormal(), True),
    "lecun_uniform": (lambda: keras.initializers.LecunUniform(), True),
    "lecun_normal": (lambda: keras.initializers.LecunNormal(), True),
    "orthogonal": (lambda: keras.initializers.Orthogonal(), False),
    "orthogonal(gain=0.5)": (lambda: keras.initializers.Orthogonal(gain=0.5), False),
}


def test_every_initializer_has_a_parity_case():
    covered = {nn.initializers.get(spec).spec_name for spec in INITIALIZERS}
    missing = set(nn.initializers.registry.names()) - covered
    assert not missing, f"initializers without a Keras parity case: {missing}"


@pytest.mark.parametrize("shape", [(300, 200), (3, 3, 64, 128)], ids=["dense", "conv"])
@pytest.mark.parametrize("spec", list(INITIALIZERS))
def test_initializer_statistics(spec, shape, float64):
    """Mean, standard deviation and (for bounded distributions) the extreme values agree with Keras's."""
    factory, bounded = INITIALIZERS[spec]
    ours = nn.initializers.get(spec)(shape, dtype=np.float64, rng=np.random.default_rng(8))
    theirs = np.asarray(factory()(shape, dtype="float64"))
    assert ours.shape == theirs.shape and ours.dtype == np.float64
    sd = theirs.std()
    if sd == 0:
        np.testing.assert_array_equal(ours, theirs)
        return
    n = ours.size
    # the difference of two sample means has standard error sd·√(2/n): allow 5 of them
    assert abs(ours.mean() - theirs.mean()) < 5 * sd * np.sqrt(2 / n), (ours.mean(), theirs.mean())
    r = abs(ours.std() / sd - 1)
    PARITY_WORST.setdefault("initializers (std, statistical)", {})
    slot = PARITY_WORST["initializers (std, statistical)"]
    slot["float64"] = max(slot.get("float64", 0.0), r)
    assert r < 0.03 if n > 1000 else r < 0.15, f"{spec}: std {ours.std():.5f} vs Keras {sd:.5f}"
    if bounded:
        width = theirs.max() - theirs.min()
        assert abs(ours.max() - theirs.max()) < 0.02 * width, f"{spec}: max {ours.max()} vs {theirs.max()}"
        assert abs(ours.min() - theirs.min()) < 0.02 * width, f"{spec}: min {ours.min()} vs {theirs.min()}"
    if spec.startswith("orthogonal"):
        gain = 0.5 if "gain" in spec else 1.0
        flat = ours.reshape(-1, shape[-1])
        small = flat if flat.shape[0] >= flat.shape[1] else flat.T
        np.testing.assert_allclose(small.T @ small, gain ** 2 * np.eye(small.shape[1]), atol=1e-10)


# ============================================================================================ Dense layer

def dense_pair(dtype, layers_np, layers_k, loss_np, loss_k, optimizer_np, optimizer_k, n_in, seed=0, metrics=()):
    """A compiled numpynet model and the Keras model with the same weights."""
    model = nn.Sequential(layers_np, seed=seed, dtype=dtype)
    model.compile(optimizer=optimizer_np, loss=loss_np, metrics=list(metrics))
    model.build((None, n_in))
    kmodel = keras.Sequential([keras.Input((n_in,), dtype=dtype)] + layers_k)
    kmodel.compile(optimizer=optimizer_k, loss=loss_k, metrics=list(metrics))
    kmodel.set_weights(model.get_weights())
    return model, kmodel


def keras_loss_and_grads(kmodel, kloss, X, y, training=False):
    with tf.GradientTape() as tape:
        out = kmodel(X, training=training)
        total = kloss(y, out)
        for penalty in kmodel.losses:
            total = total + penalty
    grads = tape.gradient(total, kmodel.trainable_weights)
    return out.numpy(), float(total), [g.numpy() for g in grads]


def blobs(n=48, d=6, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(0, 1, (n, d))).astype(dtype), y


DENSE_OPTIONS = {
    "activation+bias": ({"activation": "tanh"}, {"activation": "tanh"}),
    "no_bias": ({"activation": "elu", "use_bias": False}, {"activation": "elu", "use_bias": False}),
    "initializers": ({"activation": "relu", "kernel_initializer": "he_normal", "bias_initializer": "ones"},
                     {"activation": "relu"}),
    "regularizers": ({"activation": "sigmoid", "kernel_regularizer": "l2(lambd=0.25)",
                      "bias_regularizer": "l1(l1=0.125)"},
                     {"activation": "sigmoid", "kernel_regularizer": keras.regularizers.L2(0.125),
                      "bias_regularizer": keras.regularizers.L1(0.125)}),
    "l1l2": ({"activation": "softplus", "kernel_regularizer": "l1l2(l1=0.125, l2=0.25)",
              "bias_regularizer": "l2(l2=0.5)"},
             {"activation": "softplus", "kernel_regularizer": keras.regularizers.L1L2(0.125, 0.25),
              "bias_regularizer": keras.regularizers.L2(0.5)}),
    "constraints": ({"activation": "tanh", "kernel_constraint": "max_norm(max_value=0.5)",
                     "bias_constraint": "non_neg"},
                    {"activation": "tanh", "kernel_constraint": keras.constraints.MaxNorm(0.5),
                     "bias_constraint": keras.constraints.NonNeg()}),
    "unit_norm+min_max_norm": ({"activation": "selu", "kernel_constraint": "unit_norm",
                                "bias_constraint": "min_max_norm(min_value=0.25, max_value=0.75, rate=0.5)"},
                               {"activation": "selu", "kernel_constraint": keras.constraints.UnitNorm(),
                                "bias_constraint": keras.constraints.MinMaxNorm(0.25, 0.75, 0.5)}),
}


@pytest.mark.parametrize("option", list(DENSE_OPTIONS))
def test_dense_forward_gradients_and_training(option, dtype):
    """Dense → Dense(3) with softmax cross-entropy: outputs, total loss (data + penalties), every gradient, and
    the weights after 5 training steps (constraints applied after each update) agree with Keras."""
    np_kw, k_kw = DENSE_OPTIONS[option]
    X, y = blobs(dtype=np_dtype(dtype))
    model, kmodel = dense_pair(
        dtype, [Dense(5, **np_kw), Dense(3)], [keras.layers.Dense(5, **k_kw), keras.layers.Dense(3, "softmax")],
        "softmax_cross_entropy", keras.losses.SparseCategoricalCrossentropy(), "sgd(learning_rate=0.5, momentum=0.5)",
        keras.optimizers.SGD(0.5, momentum=0.5), X.shape[1])
    if "bias_initializer" in np_kw:
        assert np.all(model.get_weights()[1] == 1.0)
    out, total, grads = keras_loss_and_grads(kmodel, kmodel.loss, X, y)
    check("dense", dtype, model.predict(X), out, f"{option} output")
    ours_total, ours_grads = model.compute_gradients(X, y)
    check("dense", dtype, ours_total, total, f"{option} total loss")
    for i, (g, kg) in enumerate(zip(ours_grads, grads)):
        check("dense", dtype, g, kg, f"{option} gradient {i}")
    for _ in range(5):
        ours_loss = model.train_on_batch(X, y)
        k_loss = kmodel.train_on_batch(X, y)
        check("dense", dtype, ours_loss, k_loss, f"{option} train_on_batch loss")
    for i, (w, kw) in enumerate(zip(model.get_weights(), kmodel.get_weights())):
        check("dense", dtype, w, kw, f"{option} weight {i} after 5 steps")


def test_dense_activity_regularizer(dtype):
    """Keras 3 divides an activity penalty by the batch size: total = data + R(activations)/N."""
    X, y = blobs(dtype=np_dtype(dtype))
    model, kmodel = dense_pair(
        dtype, [Dense(5, activation="tanh", activity_regularizer="l2(l2=0.125)"),
                Dense(3, activity_regularizer="l1(l1=0.25)")],
        [keras.layers.Dense(5, activation="tanh", activity_regularizer=keras.regularizers.L2(0.125)),
         keras.layers.Dense(3, activity_regularizer=keras.regularizers.L1(0.25))],
        "mse", keras.losses.MeanSquaredError(), "sgd(learning_rate=0.125)", keras.optimizers.SGD(0.125),
        X.shape[1])
    target = np.eye(3, dtype=X.dtype)[y]
    _, total, grads = keras_loss_and_grads(kmodel, kmodel.loss, X, target)
    ours_total, ours_grads = model.compute_gradients(X, target)
    check("dense", dtype, ours_total, total, "activity regularizer total loss")
    for i, (g, kg) in enumerate(zip(ours_grads, grads)):
        check("dense", dtype, g, kg, f"activity regularizer gradient {i}")


@pytest.mark.parametrize("case", ["softmax+categorical", "softmax+sparse", "sigmoid+binary"])
def test_fused_probability_output(case, dtype):
    """A softmax / sigmoid output layer followed by the probability cross-entropy is computed from the logits on
    both sides (no clipping): with logits of ±60 the loss is far above −log(1e-7) = 16.1."""
    X, _ = blobs(n=16, dtype=np_dtype(dtype))
    units, act, loss, kloss = {
        "sigmoid+binary": (1, "sigmoid", "binary_crossentropy", keras.losses.BinaryCrossentropy()),
        "softmax+sparse": (3, "softmax", "sparse_categorical_crossentropy",
                           keras.losses.SparseCategoricalCrossentropy()),
        "softmax+categorical": (3, "softmax", "categorical_crossentropy", keras.losses.CategoricalCrossentropy()),
    }[case]
    model, kmodel = dense_pair(dtype, [Dense(4, activation="tanh"), Dense(units, activation=act)],
                               [keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(units, activation=act)],
                               loss, kloss, "sgd(learning_rate=0.125)", keras.optimizers.SGD(0.125), X.shape[1])
    weights = model.get_weights()
    weights[2] = np.sign(weights[2]) * 20.0          # |logits| up to 80: probabilities round to 0 and 1
    model.set_weights(weights)
    kmodel.set_weights(weights)
    p = model.predict(X)
    if case == "sigmoid+binary":                     # every target is the unlikely side
        target = (p < 0.5).astype(X.dtype)
    else:
        target = p.argmin(axis=1)
        if case == "softmax+categorical":
            target = np.eye(3, dtype=X.dtype)[target]
    out, total, grads = keras_loss_and_grads(kmodel, kmodel.loss, X, target)
    ours_total, ours_grads = model.compute_gradients(X, target)
    assert total > 16.2                              # Keras did not clip
    check("fit", dtype, ours_total, total, f"fused {case} loss")
    check("fit", dtype, model.predict(X), out, f"fused {case} output")
    for i, (g, kg) in enumerate(zip(ours_grads, grads)):
        check("fit", dtype, g, kg, f"fused {case} gradient {i}")


# ============================================================================================ fit

def fit_models(dtype, optimizer_np, optimizer_k):
    X, y = blobs(n=100, d=6, k=3, seed=1, dtype=np_dtype(dtype))
    Xv, yv = blobs(n=30, d=6, k=3, seed=2, dtype=np_dtype(dtype))
    model, kmodel = dense_pair(
        dtype,
        [Dense(16, activation="tanh", kernel_regularizer="l2(lambd=0.0625)"),
         Dense(8, activation="relu", kernel_regularizer="l1(l1=0.0078125)", bias_regularizer="l2(l2=0.125)"),
         Dense(3, kernel_regularizer="l1l2(l1=0.0078125, l2=0.015625)")],
        [keras.layers.Dense(16, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.03125)),
         keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L1(0.0078125),
                            bias_regularizer=keras.regularizers.L2(0.125)),
         keras.layers.Dense(3, activation="softmax",
                            kernel_regularizer=keras.regularizers.L1L2(0.0078125, 0.015625))],
        "softmax_cross_entropy", keras.losses.SparseCategoricalCrossentropy(), optimizer_np, optimizer_k,
        X.shape[1], seed=3, metrics=["accuracy"])
    return model, kmodel, (X, y), (Xv, yv)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_fit_two_epochs(opt, dtype):
    """model.fit for 2 epochs (batches of 32 with a last one of 4, no shuffling, validation data, penalties on
    every layer): per-epoch loss / accuracy / val_loss / val_accuracy and the final weights equal Keras's."""
    if opt == "sgd":
        pair = ("sgd(learning_rate=0.25, momentum=0.5, nesterov=True)",
                keras.optimizers.SGD(0.25, momentum=0.5, nesterov=True))
    else:
        pair = ("adam(learning_rate=0.015625, beta_1=0.875, beta_2=0.9375, clipnorm=1.0)",
                keras.optimizers.Adam(0.015625, beta_1=0.875, beta_2=0.9375, clipnorm=1.0))
    model, kmodel, (X, y), (Xv, yv) = fit_models(dtype, *pair)
    hist = model.fit(X, y, epochs=2, batch_size=32, shuffle=False, validation_data=(Xv, yv), verbose=0)
    khist = kmodel.fit(X, y, epochs=2, batch_size=32, shuffle=False, validation_data=(Xv, yv), verbose=0)
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        assert len(hist.history[key]) == 2
        check("fit", dtype, hist.history[key], khist.history[key], f"{opt} history {key}")
    # the penalty really is part of the totals (so the check above covers data + penalty)
    assert min(hist.history["reg_loss"]) > 0.01 * max(hist.history["loss"])
    for i, (w, kw) in enumerate(zip(model.get_weights(), kmodel.get_weights())):
        check("fit", dtype, w, kw, f"{opt} final weight {i}")
    check("fit", dtype, model.evaluate(Xv, yv)["loss"], kmodel.evaluate(Xv, yv, verbose=0)[0], f"{opt} evaluate")


@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_fit_with_sample_and_class_weights(weighting, dtype):
    """fit with per-sample weights (L = Σ w_n·ℓ_n / N, Keras's weighted sum_over_batch_size) or class weights:
    history and final weights equal Keras's; evaluate(sample_weight=) too."""
    model, kmodel, (X, y), (Xv, yv) = fit_models(dtype, "sgd(learning_rate=0.25, momentum=0.5)",
                                                 keras.optimizers.SGD(0.25, momentum=0.5))
    w = np.random.default_rng(8).uniform(0.0, 2.0, size=len(y))
    kw = {"sample_weight": w} if weighting == "sample_weight" else {"class_weight": {0: 0.5, 1: 2.0, 2: 1.25}}
    hist = model.fit(X, y, epochs=2, batch_size=32, shuffle=False, verbose=0, **kw)
    khist = kmodel.fit(X, y, epochs=2, batch_size=32, shuffle=False, verbose=0, **kw)
    check("fit", dtype, hist.history["loss"], khist.history["loss"], f"{weighting} history loss")
    for i, (a, b) in enumerate(zip(model.get_weights(), kmodel.get_weights())):
        check("fit", dtype, a, b, f"{weighting} final weight {i}")
    wv = np.linspace(0.0, 3.0, len(yv))
    check("fit", dtype, model.evaluate(Xv, yv, sample_weight=wv)["loss"],
          kmodel.evaluate(Xv, yv, sample_weight=wv, verbose=0)[0], f"{weighting} weighted evaluate")


# ============================================================================================ EarlyStopping

def _early_stopping_run(monitor, min_delta, patience, lr):
    X, y = blobs(n=40, d=6, k=3, seed=4)
    rng = np.random.default_rng(5)
    y = np.where(rng.random(y.size) < 0.3, rng.integers(0, 3, y.size), y)     # noisy labels
    Xv, yv = blobs(n=12, d=6, k=3, seed=6)
    model, kmodel = dense_pair(
        "float64", [Dense(12, activation="tanh"), Dense(3)],
        [keras.layers.Dense(12, activation="tanh"), keras.layers.Dense(3, activation="softmax")],
        "softmax_cross_entropy", keras.losses.SparseCategoricalCrossentropy(),
        f"sgd(learning_rate={lr}, momentum=0.5)", keras.optimizers.SGD(lr, momentum=0.5), X.shape[1], seed=7)
    ours_cb = EarlyStopping(monitor=monitor, min_delta=min_delta, patience=patience, restore_best_weights=True)
    keras_cb = keras.callbacks.EarlyStopping(monitor=monitor, min_delta=min_delta, patience=patience,
                                             restore_best_weights=True)
    hist = model.fit(X, y, epochs=40, batch_size=8, shuffle=False, validation_data=(Xv, yv), verbose=0,
                     callbacks=[ours_cb])
    khist = kmodel.fit(X, y, epochs=40, batch_size=8, shuffle=False, validation_data=(Xv, yv), verbose=0,
                       callbacks=[keras_cb])
    return model, kmodel, hist, khist, ours_cb, keras_cb


@pytest.mark.parametrize("monitor,min_delta,patience,lr", [("val_loss", 0.0, 2, 1.0), ("loss", 0.05, 1, 0.25)])
def test_early_stopping_same_epoch_and_restored_weights(monitor, min_delta, patience, lr, float64):
    model, kmodel, hist, khist, ours_cb, keras_cb = _early_stopping_run(monitor, min_delta, patience, lr)
    n_epochs = len(khist.history["loss"])
    assert 2 < n_epochs < 40, "the run must stop early for this test to mean something"
    assert len(hist.history["loss"]) == n_epochs
    assert ours_cb.stopped_epoch == keras_cb.stopped_epoch > 0
    assert ours_cb.best_epoch == keras_cb.best_epoch
    check("early_stopping", "float64", hist.history[monitor], khist.history[monitor], f"{monitor} history")
    for i, (w, kw) in enumerate(zip(model.get_weights(), kmodel.get_weights())):
        check("early_stopping", "float64", w, kw, f"{monitor} restored weight {i}")
