"""Losses: values computed independently, central-difference gradients, Keras's clipping, target forms and errors."""

import numpy as np
import pytest

from numpynet import losses
from numpynet.errors import DataError, ShapeError, SpecError
from numpynet.gradcheck import check_loss
from numpynet.losses import as_one_hot, class_indices

EPS = 1e-7
N, K = 7, 4


def rng(seed=0):
    return np.random.default_rng(seed)


def logits(seed=0, shape=(N, K)):
    return rng(seed).normal(0.0, 2.0, shape)


def labels(seed=0, n=N, k=K):
    return rng(seed + 100).integers(0, k, n)


def probabilities(seed=0, shape=(N, K)):
    """Rows well inside (ε, 1 − ε) that do not sum to one (Keras renormalizes, we must too)."""
    return rng(seed).uniform(0.05, 1.0, shape)


def log_softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


# ------------------------------------------------------------------------------------------------- gradient checks

CATEGORICAL_LOGITS = ["softmax_cross_entropy", "categorical_crossentropy(from_logits=True)",
                      "sparse_categorical_crossentropy(from_logits=True)",
                      "categorical_crossentropy(from_logits=True, label_smoothing=0.2)"]
CATEGORICAL_PROBS = ["categorical_crossentropy", "sparse_categorical_crossentropy",
                     "categorical_crossentropy(label_smoothing=0.1)"]
ELEMENTWISE = {  # spec -> input kind
    "binary_crossentropy": "probs",
    "binary_crossentropy(label_smoothing=0.3)": "probs",
    "binary_crossentropy(from_logits=True)": "logits",
    "binary_crossentropy(from_logits=True, label_smoothing=0.3)": "logits",
    "mse": "logits",
    "mae": "logits",
    "huber": "logits",
    "huber(delta=0.5)": "logits",
}


def target_forms(y):
    """The three accepted forms of the same categorical targets: (N,), (N, 1), one-hot (N, K)."""
    return {"labels": y, "column": y[:, None], "one_hot": np.eye(K)[y]}


@pytest.mark.parametrize("form", ["labels", "column", "one_hot", "soft"])
@pytest.mark.parametrize("spec", CATEGORICAL_LOGITS)
def test_categorical_from_logits_gradient(spec, form):
    y_true = target_forms(labels())[form] if form != "soft" else rng(5).dirichlet(np.ones(K), N)
    err = check_loss(spec, logits(), y_true)
    assert err < 1e-7, f"{spec} / {form}: {err:.2e}"


@pytest.mark.parametrize("form", ["labels", "column", "one_hot", "soft"])
@pytest.mark.parametrize("spec", CATEGORICAL_PROBS)
def test_categorical_from_probabilities_gradient(spec, form):
    y_true = target_forms(labels())[form] if form != "soft" else rng(5).dirichlet(np.ones(K), N)
    err = check_loss(spec, probabilities(), y_true)
    assert err < 1e-7, f"{spec} / {form}: {err:.2e}"


@pytest.mark.parametrize("spec", list(ELEMENTWISE))
def test_elementwise_losses_gradient(spec):
    shape = (N, 3)
    t = rng(1).integers(0, 2, shape).astype(float)
    if ELEMENTWISE[spec] == "probs":
        x = rng(2).uniform(0.05, 0.95, shape)
    else:
        x = logits(2, shape)
        if spec.startswith(("mse", "mae", "huber")):
            t = rng(3).normal(0.0, 1.0, shape)
    err = check_loss(spec, x, t)
    assert err < 1e-7, f"{spec}: {err:.2e}"


def test_every_registered_loss_is_gradient_checked():
    covered = {losses.get(spec).spec_name for spec in CATEGORICAL_LOGITS + CATEGORICAL_PROBS + list(ELEMENTWISE)}
    assert set(losses.registry.names()) <= covered


def test_gradients_on_three_dimensional_predictions():
    """(N, T, K) predictions: the mean runs over the N·T rows (Keras's sum_over_batch_size)."""
    z = logits(3, (3, 5, K))
    y = rng(4).integers(0, K, (3, 5))
    assert check_loss("softmax_cross_entropy", z, y) < 1e-7
    assert check_loss("sparse_categorical_crossentropy", np.abs(z) + 0.1, y) < 1e-7
    assert check_loss("mse", z, logits(5, (3, 5, K))) < 1e-7
    expected = -np.mean(np.take_along_axis(log_softmax(z), y[..., None], axis=-1))
    assert losses.get("softmax_cross_entropy").forward(z, y) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------------------------- values

def test_fused_softmax_cross_entropy_value_and_gradient():
    z, y = logits(), labels()
    loss = losses.get("softmax_cross_entropy")
    expected = -np.mean(log_softmax(z)[np.arange(N), y])
    assert loss.forward(z, y) == pytest.approx(expected, rel=1e-13)
    p = np.exp(log_softmax(z))
    np.testing.assert_allclose(loss.backward(z, y), (p - np.eye(K)[y]) / N, rtol=1e-12, atol=1e-15)


def test_fused_path_does_not_clip_large_logits():
    loss = losses.get("softmax_cross_entropy")
    assert loss.forward(np.array([[100.0, 0.0]]), np.array([1])) == 100.0
    assert loss.forward(np.array([[100.0, 0.0]]), np.array([[0.0, 1.0]])) == 100.0
    g = loss.backward(np.array([[1000.0, -1000.0]]), np.array([1]))
    np.testing.assert_allclose(g, [[1.0, -1.0]])
    assert loss.forward(np.array([[1000.0, -1000.0, 0.0]]), np.array([0])) == 0.0


def test_categorical_probabilities_renormalize_then_clip_like_keras():
    p = probabilities()
    y = labels()
    loss = losses.get("categorical_crossentropy")
    r = p / p.sum(axis=1, keepdims=True)
    assert loss.forward(p, y) == pytest.approx(-np.mean(np.log(r[np.arange(N), y])), rel=1e-13)
    assert loss.forward(3.0 * p, y) == pytest.approx(loss.forward(p, y), rel=1e-13)


def test_zero_probability_on_the_true_class_costs_minus_log_epsilon():
    p = np.array([[0.0, 1.0], [0.5, 0.5]])
    y = np.array([0, 1])
    expected = (-np.log(EPS) - np.log(0.5)) / 2
    for spec in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        for target in (y, np.eye(2)[y]):
            assert losses.get(spec).forward(p, target) == pytest.approx(expected, rel=1e-9), spec
    bce = losses.get("binary_crossentropy").forward(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    assert bce == pytest.approx(-np.log(EPS), rel=1e-6)


def test_clipped_entries_have_zero_gradient():
    p = np.array([[0.0, 1.0, 0.5], [0.2, 0.3, 0.5]])
    y = np.array([0, 2])
    g = losses.get("categorical_crossentropy").backward(p, y)
    np.testing.assert_array_equal(g[0], 0.0)              # ℓ depends only on the clipped r_y
    assert np.all(g[1] != 0.0)
    g = losses.get("sparse_categorical_crossentropy").backward(p, y)
    np.testing.assert_array_equal(g[0, :2], 0.0)          # clipped entries
    assert g[0, 2] == pytest.approx(1.0 / 1.5 / 2)        # ∂/∂c of log Σc, divided by N = 2
    g = losses.get("binary_crossentropy").backward(np.array([[0.0, 1.0, 0.5]]), np.array([[1.0, 0.0, 1.0]]))
    np.testing.assert_allclose(g, [[0.0, 0.0, (0.5 - 1.0) / 0.25 / 3]])


def test_sparse_categorical_renormalizes_after_clipping():
    """Keras's sparse path is log-softmax of log(clip(p)): ℓ = log Σ c − log c_y."""
    p = np.array([[0.0, 1.0, 0.5], [0.3, 0.3, 0.9]])
    y = np.array([0, 1])
    c = np.clip(p, EPS, 1 - EPS)
    expected = np.mean(np.log(c.sum(axis=1)) - np.log(c[np.arange(2), y]))
    assert losses.get("sparse_categorical_crossentropy").forward(p, y) == pytest.approx(expected, rel=1e-13)


def test_label_smoothing_matches_smoothed_targets():
    p, y = probabilities(), labels()
    alpha = 0.2
    smoothed = np.eye(K)[y] * (1 - alpha) + alpha / K
    r = p / p.sum(axis=1, keepdims=True)
    value = losses.get(f"categorical_crossentropy(label_smoothing={alpha})").forward(p, y)
    assert value == pytest.approx(-np.mean(np.sum(smoothed * np.log(r), axis=1)), rel=1e-12)
    t = rng(1).integers(0, 2, (N, 3)).astype(float)
    q = rng(2).uniform(0.05, 0.95, (N, 3))
    ts = t * (1 - alpha) + alpha / 2
    value = losses.get(f"binary_crossentropy(label_smoothing={alpha})").forward(q, t)
    assert value == pytest.approx(-np.mean(ts * np.log(q) + (1 - ts) * np.log(1 - q)), rel=1e-12)


def test_binary_crossentropy_from_logits_is_stable_and_consistent():
    t = np.array([[1.0, 0.0, 1.0, 0.0]])
    z = np.array([[-1000.0, 1000.0, 1000.0, -1000.0]])
    loss = losses.get("binary_crossentropy(from_logits=True)")
    assert loss.forward(z, t) == pytest.approx(500.0, rel=1e-12)     # (1000 + 1000 + 0 + 0) / 4
    np.testing.assert_allclose(loss.backward(z, t), [[-0.25, 0.25, 0.0, 0.0]])
    z = logits(1, (N, 3))
    t = rng(2).integers(0, 2, (N, 3)).astype(float)
    probs = losses.get("binary_crossentropy")
    assert loss.forward(z, t) == pytest.approx(probs.forward(1 / (1 + np.exp(-z)), t), rel=1e-9)


def test_regression_values():
    x, t = logits(1, (N, 3)), logits(2, (N, 3))
    d = x - t
    assert losses.get("mse").forward(x, t) == pytest.approx(np.mean(d ** 2), rel=1e-13)
    assert losses.get("mean_absolute_error").forward(x, t) == pytest.approx(np.mean(np.abs(d)), rel=1e-13)
    for delta in (1.0, 0.5):
        a = np.abs(d)
        huber = np.where(a <= delta, 0.5 * d ** 2, delta * a - 0.5 * delta ** 2)
        assert losses.get(f"huber(delta={delta})").forward(x, t) == pytest.approx(np.mean(huber), rel=1e-13)
    np.testing.assert_allclose(losses.get("mse").backward(x, t), 2 * d / d.size, rtol=1e-13)


def test_mae_gradient_sign_of_zero_is_zero():
    x = np.array([[1.0, 2.0, 3.0]])
    t = np.array([[1.0, 0.0, 5.0]])
    np.testing.assert_array_equal(losses.get("mae").backward(x, t), [[0.0, 1 / 3, -1 / 3]])


def test_regression_accepts_vector_targets_for_single_output():
    x = logits(1, (N, 1))
    t = logits(2, (N,))
    assert losses.get("mse").forward(x, t) == pytest.approx(np.mean((x[:, 0] - t) ** 2), rel=1e-13)
    assert losses.get("mse").backward(x, t).shape == (N, 1)


# ------------------------------------------------------------------------------------------------- target forms

@pytest.mark.parametrize("spec", CATEGORICAL_LOGITS[:3] + CATEGORICAL_PROBS[:2])
def test_label_forms_give_identical_results(spec):
    loss = losses.get(spec)
    x = logits() if "logits" in spec or spec == "softmax_cross_entropy" else probabilities()
    results = [loss.forward_backward(x, y) for y in target_forms(labels()).values()]
    float_labels = loss.forward_backward(x, labels().astype(np.float64))     # integral floats are labels too
    for value, grad in results[1:] + [float_labels]:
        assert value == pytest.approx(results[0][0], rel=1e-13)
        np.testing.assert_allclose(grad, results[0][1], rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("spec", CATEGORICAL_LOGITS + CATEGORICAL_PROBS + list(ELEMENTWISE))
def test_forward_backward_is_forward_and_backward(spec):
    loss = losses.get(spec)
    x = probabilities() if spec in CATEGORICAL_PROBS or ELEMENTWISE.get(spec) == "probs" else logits()
    y = labels() if spec in CATEGORICAL_PROBS + CATEGORICAL_LOGITS else rng(3).integers(0, 2, x.shape).astype(float)
    value, grad = loss.forward_backward(x, y)
    assert type(value) is float and value == loss.forward(x, y)
    np.testing.assert_array_equal(grad, loss.backward(x, y))
    assert grad.shape == x.shape


@pytest.mark.parametrize("spec", CATEGORICAL_LOGITS + CATEGORICAL_PROBS + list(ELEMENTWISE))
def test_float32_stays_float32(spec):
    loss = losses.get(spec)
    x = probabilities() if spec in CATEGORICAL_PROBS or ELEMENTWISE.get(spec) == "probs" else logits()
    x32 = x.astype(np.float32)
    for y in ((labels(), np.eye(K)[labels()]) if spec in CATEGORICAL_PROBS + CATEGORICAL_LOGITS
              else (rng(3).integers(0, 2, x.shape).astype(np.float64),)):
        value, grad = loss.forward_backward(x32, y)
        assert grad.dtype == np.float32, spec
        assert type(value) is float
        value64, grad64 = loss.forward_backward(x32.astype(np.float64), y)
        assert value == pytest.approx(value64, rel=1e-5)
        np.testing.assert_allclose(grad, grad64, rtol=1e-4, atol=1e-6)


def test_inputs_are_not_modified():
    z, p, y = logits(), probabilities(), labels()
    t = rng(3).integers(0, 2, (N, K)).astype(float)
    z0, p0, y0, t0 = z.copy(), p.copy(), y.copy(), t.copy()
    for spec in CATEGORICAL_LOGITS:
        losses.get(spec).forward_backward(z, y)
    for spec in CATEGORICAL_PROBS:
        losses.get(spec).forward_backward(p, y)
    for spec, kind in ELEMENTWISE.items():
        losses.get(spec).forward_backward(z if kind == "logits" else p / 4, t)
    for before, after in ((z0, z), (p0, p), (y0, y), (t0, t)):
        np.testing.assert_array_equal(after, before)


# ------------------------------------------------------------------------------------------------- output()

def test_output_is_what_predict_shows():
    z = logits()
    p = np.exp(log_softmax(z))
    for spec in ("softmax_cross_entropy", "categorical_crossentropy(from_logits=True)",
                 "sparse_categorical_crossentropy(from_logits=True)"):
        np.testing.assert_allclose(losses.get(spec).output(z), p, rtol=1e-13)
        assert losses.get(spec).from_logits is True
    np.testing.assert_allclose(losses.get("binary_crossentropy(from_logits=True)").output(z), 1 / (1 + np.exp(-z)),
                               rtol=1e-13)
    for spec in ("categorical_crossentropy", "binary_crossentropy", "mse", "mae", "huber"):
        assert losses.get(spec).output(z) is z
        assert losses.get(spec).from_logits is False
    big = losses.get("softmax_cross_entropy").output(np.array([[1000.0, 0.0]], dtype=np.float32))
    assert big.dtype == np.float32 and np.all(np.isfinite(big))
    assert np.isfinite(losses.sigmoid(np.array([-1000.0, 1000.0]))).all()


# ------------------------------------------------------------------------------------------------- bad targets

@pytest.mark.parametrize("spec", ["softmax_cross_entropy", "categorical_crossentropy",
                                  "sparse_categorical_crossentropy", "categorical_crossentropy(from_logits=True)"])
@pytest.mark.parametrize("bad, words", [
    (np.array([0, 1, 4, 2, 0, 1, 3]), ["y_true", "[0, 3]", "4", "index 2"]),
    (np.array([0, 1, -1, 2, 0, 1, 3]), ["y_true", "[0, 3]", "-1", "index 2"]),
    (np.array([0.0, 1.5, 2.0, 2.0, 0.0, 1.0, 3.0]), ["y_true", "integers", "1.5", "index 1"]),
    (np.array([0.0, 1.0, np.nan, 2.0, 0.0, 1.0, 3.0]), ["y_true", "integers", "nan"]),
    (np.array([0.0, 1.0, np.inf, 2.0, 0.0, 1.0, 3.0]), ["y_true", "inf"]),
    (np.array([["a"]] * N), ["y_true", "numeric"]),
])
def test_bad_labels_raise_data_error(spec, bad, words):
    x = probabilities()
    with pytest.raises(DataError) as info:
        losses.get(spec).forward_backward(x, bad)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


@pytest.mark.parametrize("spec", ["softmax_cross_entropy", "categorical_crossentropy",
                                  "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("bad, words", [
    (np.zeros((N, K + 1)), ["y_true", f"({N}, {K})", f"({N}, {K + 1})"]),      # wrong number of classes
    (np.zeros((N, 2, 1)), ["y_true"]),
    (np.zeros(N + 1, dtype=int), ["y_true", f"{N + 1}", f"{N}"]),             # batch size mismatch
    (np.zeros((N - 2, K)), ["y_true", f"{N - 2}", f"{N}"]),
    (np.float64(1.0), ["y_true", "scalar"]),
])
def test_mismatched_targets_raise_shape_error(spec, bad, words):
    with pytest.raises(ShapeError) as info:
        losses.get(spec).forward(probabilities(), bad)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


@pytest.mark.parametrize("spec", ["mse", "mae", "huber", "binary_crossentropy"])
def test_elementwise_shape_mismatch(spec):
    x = rng(0).uniform(0.1, 0.9, (N, 3))
    with pytest.raises(ShapeError, match="y_true"):
        losses.get(spec).forward(x, np.zeros((N, 2)))
    with pytest.raises(ShapeError, match="y_true"):
        losses.get(spec).forward(x, np.zeros((N + 1, 3)))


def test_bad_predictions():
    with pytest.raises(ShapeError, match="y_pred"):
        losses.get("softmax_cross_entropy").forward(np.zeros(K), np.array([1]))
    with pytest.raises(DataError, match="y_pred"):
        losses.get("mse").forward(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(DataError, match="y_pred"):
        losses.get("mse").forward([["x"]], [[1.0]])


# ------------------------------------------------------------------------------------------------- shared helpers

def test_class_indices_and_as_one_hot():
    y = labels()
    np.testing.assert_array_equal(class_indices(y, K), y)
    np.testing.assert_array_equal(class_indices(y[:, None], K), y)
    np.testing.assert_array_equal(class_indices(np.eye(K)[y], K), y)
    np.testing.assert_array_equal(class_indices(y.astype(np.float32), K), y)
    np.testing.assert_array_equal(as_one_hot(y, K), np.eye(K)[y])
    np.testing.assert_array_equal(as_one_hot(y[:, None], K, dtype=np.float32), np.eye(K)[y])
    assert as_one_hot(y, K, dtype=np.float32).dtype == np.float32
    soft = rng(1).dirichlet(np.ones(K), N)
    np.testing.assert_array_equal(as_one_hot(soft, K), soft)       # probability rows pass through
    with pytest.raises(DataError, match=r"labels.*\[0, 3\].*got 7"):
        class_indices(np.array([7]), K, name="labels")
    with pytest.raises(DataError, match="'y'"):
        as_one_hot(np.array([0.5]), K, name="y")


# ------------------------------------------------------------------------------------------------- specs

@pytest.mark.parametrize("name", losses.registry.aliases())
def test_round_trip_every_registered_name(name):
    loss = losses.get(name)
    assert losses.get(str(loss)) == loss
    assert losses.get(losses.serialize(loss)) == loss


@pytest.mark.parametrize("spec", ["categorical_crossentropy(from_logits=True, label_smoothing=0.1)",
                                  "sparse_categorical_crossentropy(from_logits=True)",
                                  "binary_crossentropy(label_smoothing=0.25)", "huber(delta=0.5)", "huber(2.0)"])
def test_round_trip_with_arguments(spec):
    loss = losses.get(spec)
    assert losses.get(str(loss)) == loss
    assert str(losses.get(str(loss))) == str(loss)


@pytest.mark.parametrize("spec, words", [
    ("categorical_crossentropy(label_smoothing=1.5)", ["CategoricalCrossentropy", "label_smoothing", "1.5"]),
    ("binary_crossentropy(label_smoothing=-0.1)", ["BinaryCrossentropy", "label_smoothing", "-0.1"]),
    ("binary_crossentropy(from_logits='yes')", ["BinaryCrossentropy", "from_logits", "True or False", "yes"]),
    ("sparse_categorical_crossentropy(from_logits=1)", ["from_logits", "True or False"]),
    ("huber(delta=0)", ["Huber", "delta", "> 0"]),
    ("huber(delta=-1.0)", ["Huber", "delta"]),
    ("mse(delta=1.0)", ["mse", "delta"]),
    ("sparse_categorical_crossentropy(label_smoothing=0.1)", ["label_smoothing"]),
    ("softmax_cross_entropy(from_logits=True)", ["from_logits"]),
    ("cross_entropy", ["cross_entropy"]),
])
def test_bad_loss_specs(spec, words):
    with pytest.raises(SpecError) as info:
        losses.get(spec)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_loss_is_required():
    with pytest.raises(SpecError):
        losses.get(None)
