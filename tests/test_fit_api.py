"""fit / evaluate / predict as Keras users call them: argument checks before anything changes, sample and class
weights, streams of batches, the NaN guard, and the regressions that mutation testing found unguarded."""

import warnings

import numpy as np
import pytest

import numpynet as nn
from numpynet.errors import DataError, ShapeError, SpecError


def blobs(n=120, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(size=(n, d)) + y[:, None]
    return X, y


def small_model(seed=0, dtype="float64", **kw):
    return nn.DFN(hidden_dims=(6,), n_classes=3, activation="tanh", optimizer="sgd(lr=0.1)", seed=seed,
                  dtype=dtype, **kw)


def unchanged(model, before):
    return all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


# ---------------------------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("kwargs, error", [
    ({"batch_size": 0}, SpecError), ({"batch_size": 2.7}, SpecError), ({"batch_size": "16"}, SpecError),
    ({"batch_size": True}, SpecError), ({"batch_size": 2.0}, SpecError),
    ({"epochs": -3}, SpecError), ({"epochs": 2.5}, SpecError), ({"epochs": 0}, SpecError),
    ({"shuffle": "no"}, SpecError), ({"shuffle": 1}, SpecError),
    ({"validation_split": "0.1"}, SpecError), ({"validation_split": 1.5}, SpecError),
    ({"callbacks": [1]}, SpecError), ({"callbacks": "early"}, SpecError),
    ({"verbose": 3}, SpecError), ({"verbose": True}, SpecError), ({"verbose": "2"}, SpecError),
    ({"initial_epoch": 5, "epochs": 2}, SpecError), ({"steps_per_epoch": 0}, SpecError),
    ({"validation_data": (np.ones((4, 7)), np.zeros(4))}, ShapeError),
    ({"validation_data": (np.ones((4, 5)),)}, DataError),
    ({"validation_data": (np.ones((4, 5)), np.array([0, 1, 2, 3]))}, DataError),
    ({"sample_weight": np.ones(7)}, ShapeError),
    ({"sample_weight": -np.ones(120)}, DataError),
    ({"sample_weight": np.full(120, np.nan)}, DataError),
    ({"class_weight": {0: 1.0, 1: 2.0}}, DataError),          # class 2 has no weight
    ({"class_weight": {0: 1, 1: 1, 2: 1}, "sample_weight": np.ones(120)}, SpecError),
    ({"class_weight": [1, 2, 3]}, SpecError),
    ({"class_weight": {0: 1, 1: -1, 2: 1}}, SpecError),
])
def test_fit_refuses_bad_arguments_before_any_weight_changes(kwargs, error):
    X, y = blobs()
    model = small_model()
    model.build(X.shape)
    before = model.get_weights()
    with pytest.raises(error) as info:
        model.fit(X, y, **{"epochs": 1, "verbose": 0, **kwargs})
    assert unchanged(model, before)
    named = [k for k in kwargs if k != "epochs"] or ["epochs"]
    assert any(k in str(info.value) for k in named), str(info.value)


def test_fit_accepts_keras_verbose_values_and_numpy_integers():
    X, y = blobs()
    model = small_model()
    for verbose in (0, "auto", np.int64(0)):
        model.fit(X, y, epochs=np.int32(1), batch_size=np.int64(16), verbose=verbose)
    assert model.history.history["loss"]


@pytest.mark.parametrize("call", [
    lambda m, X, y: m.evaluate(X, y, batch_size=-1), lambda m, X, y: m.evaluate(X, y, batch_size=1.5),
    lambda m, X, y: m.evaluate(X, y, verbose=5), lambda m, X, y: m.predict(X, mc_samples=2.9),
    lambda m, X, y: m.predict(X, batch_size=0), lambda m, X, y: m.predict(X, mc_samples=True),
    lambda m, X, y: m.predict(X, mc_samples=3, return_std="yes"),
    lambda m, X, y: m.compute_gradients(X, y, split="yes"),
])
def test_evaluate_and_predict_refuse_bad_arguments(call):
    X, y = blobs()
    model = small_model()
    with pytest.raises(SpecError):
        call(model, X, y)


@pytest.mark.parametrize("kwargs", [{"hidden_dims": "12"}, {"hidden_dims": (2.7,)}, {"hidden_dims": (0,)},
                                    {"hidden_dims": (True,)}, {"n_classes": True}, {"n_classes": 2.0},
                                    {"seed": -1}, {"seed": "abc"}, {"seed": 1.5}, {"dropout": "0.1"},
                                    {"dropout": 1.0}])
def test_dfn_constructor_is_strictly_typed(kwargs):
    with pytest.raises(SpecError) as info:
        nn.DFN(**kwargs)
    assert next(iter(kwargs)) in str(info.value)


def test_metrics_may_be_one_string():
    model = nn.DFN(hidden_dims=(4,), n_classes=3, seed=0, metrics="accuracy")
    assert model.metrics == ["accuracy"]
    with pytest.raises(SpecError):
        model.compile(optimizer="sgd", loss="mse", metrics=5)


def test_buffers_are_sized_by_the_data_not_the_batch_size():
    import tracemalloc
    X, y = blobs(n=60)
    model = small_model()
    model.build(X.shape)
    tracemalloc.start()
    model.fit(X, y, epochs=1, batch_size=10**7, verbose=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 2**20          # 10**7 rows of 5 float64 would be 400 MB


# ---------------------------------------------------------------------------------------------------- weights
def per_sample_losses(model, X, y):
    p = model.predict(X)
    return -np.log(p[np.arange(len(y)), y])


def test_sample_weight_is_keras_weighted_sum_over_batch_size():
    X, y = blobs()
    w = np.random.default_rng(1).uniform(0, 3, size=len(y))
    model = small_model()
    model.build(X.shape)
    ell = per_sample_losses(model, X, y)
    result = model.evaluate(X, y, sample_weight=w, batch_size=50)      # 50 + 50 + 20: a short last batch
    assert result["data_loss"] == pytest.approx(np.sum(w * ell) / len(y), rel=1e-12)
    assert model.evaluate(X, y)["data_loss"] == pytest.approx(ell.mean(), rel=1e-12)


def test_sample_weight_gradient_equals_weighted_per_sample_gradients():
    X, y = blobs(n=12)
    w = np.random.default_rng(2).uniform(0, 2, size=12)
    model = small_model()
    model.build(X.shape)
    # L_w = (1/N) Σ w_n ℓ_n: its gradient is Σ_n (w_n / N) ∇ℓ_n, each ∇ℓ_n from a batch of one sample
    expected = None
    for n in range(12):
        _, g = model.compute_gradients(X[n:n + 1], y[n:n + 1])
        expected = [w[n] / 12 * gi for gi in g] if expected is None else [e + w[n] / 12 * gi
                                                                          for e, gi in zip(expected, g)]
    lw = nn.Model.train_on_batch   # the weighted gradient is what one weighted step applies
    lr = 0.1
    before = model.get_weights()
    lw(model, X, y, sample_weight=w)
    for b, a, e in zip(before, model.get_weights(), expected):
        np.testing.assert_allclose((b - a) / lr, e, rtol=1e-9, atol=1e-12)


def test_unit_weights_change_nothing_and_class_weight_is_a_sample_weight():
    X, y = blobs()
    a, b, c = small_model(), small_model(), small_model()
    a.fit(X, y, epochs=2, batch_size=16, verbose=0)
    b.fit(X, y, epochs=2, batch_size=16, verbose=0, sample_weight=np.ones(len(y)))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-13, atol=1e-15)
    cw = {0: 0.5, 1: 2.0, 2: 1.0}
    b = small_model()
    b.fit(X, y, epochs=2, batch_size=16, verbose=0, class_weight=cw)
    c.fit(X, y, epochs=2, batch_size=16, verbose=0, sample_weight=np.array([cw[k] for k in y]))
    for wb, wc in zip(b.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wb, wc)
    assert not np.allclose(a.get_weights()[0], b.get_weights()[0])


def test_class_weight_reads_one_hot_targets():
    X, y = blobs()
    cw = {0: 3.0, 1: 1.0, 2: 1.0}
    a, b = small_model(), small_model()
    a.fit(X, y, epochs=1, verbose=0, class_weight=cw)
    b.fit(X, np.eye(3)[y], epochs=1, verbose=0, class_weight=cw)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12)


# ---------------------------------------------------------------------------------------------------- data order
def test_validation_split_holds_out_the_last_rows():
    X, y = blobs()
    model = small_model()
    hist = model.fit(X, y, epochs=1, validation_split=0.25, shuffle=False, verbose=0)
    assert hist.history["val_loss"][0] == pytest.approx(model.evaluate(X[90:], y[90:])["loss"], rel=1e-12)
    assert hist.history["val_loss"][0] != pytest.approx(model.evaluate(X[:30], y[:30])["loss"], rel=1e-6)


def test_evaluate_averages_per_sample_with_a_short_last_batch():
    X, y = blobs(n=101)
    model = small_model()
    model.build(X.shape)
    whole = model.evaluate(X, y, batch_size=101)
    batched = model.evaluate(X, y, batch_size=50)       # 50, 50, 1
    for key in whole:
        assert batched[key] == pytest.approx(whole[key], rel=1e-12), key


# ---------------------------------------------------------------------------------------------------- streams
def batches_of(X, y, size):
    for start in range(0, len(X), size):
        yield X[start:start + size], y[start:start + size]


class Reiterable:
    def __init__(self, X, y, size):
        self.X, self.y, self.size = X, y, size

    def __iter__(self):
        return batches_of(self.X, self.y, self.size)

    def __len__(self):
        return -(-len(self.X) // self.size)


def test_a_stream_of_batches_trains_like_the_same_arrays_unshuffled():
    X, y = blobs()
    a, b = small_model(), small_model()
    ha = a.fit(X, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    hb = b.fit(Reiterable(X, y, 16), epochs=3, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-12)
    np.testing.assert_allclose(ha.history["accuracy"], hb.history["accuracy"], rtol=1e-12)


def test_an_endless_generator_with_steps_per_epoch():
    X, y = blobs()

    def forever():
        while True:
            yield from batches_of(X, y, 20)

    model = small_model()
    hist = model.fit(forever(), steps_per_epoch=6, epochs=2, verbose=0, validation_data=(X[:30], y[:30]))
    assert len(hist.history["loss"]) == 2 and "val_loss" in hist.history


def test_a_one_shot_generator_that_runs_out_is_a_clear_error_and_weights_go_back():
    X, y = blobs()
    model = small_model()
    model.build(X.shape)
    before = model.get_weights()
    with pytest.raises(DataError, match="ran out in epoch 2"):
        model.fit(batches_of(X, y, 20), epochs=2, verbose=0)
    assert unchanged(model, before)
    with pytest.raises(DataError, match="ran out in epoch 1 after 6 of steps_per_epoch=10"):
        model.fit(batches_of(X, y, 20), steps_per_epoch=10, epochs=1, verbose=0)
    assert unchanged(model, before)


def test_a_stream_batch_of_the_wrong_shape_names_the_batch_and_changes_nothing():
    X, y = blobs()
    model = small_model()
    model.build(X.shape)
    before = model.get_weights()

    def stream():
        yield X[:10], y[:10]
        yield X[10:20], y[10:20]
        yield X[20:30, :4], y[20:30]

    with pytest.raises(ShapeError, match="batch 3"):
        model.fit(stream(), epochs=1, verbose=0)
    assert unchanged(model, before)

    def labels_out_of_range():
        yield X[:10], y[:10] + 5

    with pytest.raises(DataError, match="batch 1"):
        model.fit(labels_out_of_range(), epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"tuple \(x, y\)"):
        model.fit(iter([X[:10]]), epochs=1, verbose=0)
    with pytest.raises(SpecError, match="come from it"):
        model.fit(stream(), y, epochs=1, verbose=0)


def test_stream_batches_may_carry_sample_weights():
    X, y = blobs()
    w = np.linspace(0.1, 2.0, len(y))
    a, b = small_model(), small_model()
    a.fit(X, y, epochs=1, batch_size=30, shuffle=False, sample_weight=w, verbose=0)
    b.fit(iter([(X[i:i + 30], y[i:i + 30], w[i:i + 30]) for i in range(0, 120, 30)]), epochs=1, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# ---------------------------------------------------------------------------------------------------- NaN guard
def test_a_diverging_fit_leaves_a_model_that_predicts_finite_values():
    X, y = nn.datasets.load_digits()[0]
    X, y = X[:64], y[:64]
    model = nn.DFN(hidden_dims=(32,), activation="relu", optimizer="sgd(lr=1e30)", seed=0)
    with pytest.warns(RuntimeWarning, match="last\\s+finite") as caught:
        hist = model.fit(X, y, epochs=1, verbose=0)
    ours = [w for w in caught if "finite ones" in str(w.message)]
    assert len(ours) == 1 and ours[0].filename == __file__      # it points at the user's call to fit
    assert np.isfinite(model.predict(X)).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert hist.stopped_reason
    model = nn.DFN(hidden_dims=(32,), activation="relu", optimizer="sgd(lr=1e30)", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, epochs=5, verbose=0, callbacks=[nn.callbacks.TerminateOnNaN()])
    assert np.isfinite(model.predict(X)).all()


def test_the_nan_rollback_restores_the_optimizer_state_too():
    X, y = blobs()
    model = small_model()
    model.compile(optimizer="adam(learning_rate=1e30)", loss="softmax_cross_entropy")
    model.fit(X, y, epochs=1, verbose=0, batch_size=120)    # one finite step: the moments are finite
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, epochs=3, verbose=0, batch_size=8)
    state = model.optimizer.get_state()
    assert all(np.isfinite(v).all() for v in state.values())


# ---------------------------------------------------------------------------------------------------- misc
def test_layers_of_a_compiled_model_in_a_new_uncompiled_model_output_what_they_say():
    X, y = blobs()
    dense = nn.layers.Dense(3, activation="softmax")
    first = nn.Sequential([nn.layers.Dense(4), dense], seed=0)
    first.compile(optimizer="sgd", loss="categorical_crossentropy")   # fuses softmax into the loss
    first.fit(X, y, epochs=1, verbose=0)
    second = nn.Sequential(first.layers)
    p = second.predict(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)          # probabilities, not logits
    np.testing.assert_allclose(first.predict(X), p, rtol=1e-6)


def test_split_gradients_add_up_to_the_unsplit_ones():
    X, y = blobs(n=20)
    model = nn.Sequential([nn.layers.Dense(6, activation="tanh", kernel_regularizer="l2(lambd=0.1)",
                                           bias_regularizer="l1(l1=0.01)", activity_regularizer="l2(l2=0.05)"),
                           nn.layers.Dense(3, kernel_regularizer="l1(l1=0.02)")], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    _, total = model.compute_gradients(X, y)
    parts = model.compute_gradients(X, y, split=True)
    assert set(parts) == {"data", "penalty", "total"}
    for d, p, t, ref in zip(parts["data"], parts["penalty"], parts["total"], total):
        np.testing.assert_array_equal(d + p, t)
        np.testing.assert_allclose(t, ref, rtol=1e-12, atol=1e-15)
    # the data part is the gradient of the model without any penalty
    plain = nn.Sequential([nn.layers.Dense(6, activation="tanh"), nn.layers.Dense(3)], seed=0, dtype="float64")
    plain.compile(optimizer="sgd", loss="softmax_cross_entropy")
    plain.build(X.shape)
    plain.set_weights(model.get_weights())
    for d, ref in zip(parts["data"], plain.compute_gradients(X, y)[1]):
        np.testing.assert_allclose(d, ref, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------------- bad data
def test_data_that_is_wrong_is_refused_before_training():
    X, y = blobs()
    model = small_model(dtype="float32")
    model.build(X.shape)
    before = model.get_weights()
    big = X.copy()
    big[7, 2] = 1e39                       # finite in float64, inf in float32
    with pytest.raises(DataError, match="float32 range"):
        model.fit(big, y, verbose=0)
    rows = np.eye(3)[y]
    rows[100] = [1.5, -0.5, 0.0]           # a negative "probability" in a late batch
    with pytest.raises(DataError, match=">= 0"):
        model.fit(X, rows, verbose=0)
    with pytest.raises(DataError, match="real numbers"):
        model.fit(X + 1j, y, verbose=0)
    assert unchanged(model, before)
    binary = nn.Sequential([nn.layers.Dense(1, activation="sigmoid")], seed=0)
    binary.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        binary.fit(X, np.where(y > 0, 1.0, -1.0), verbose=0)


def test_a_3d_input_on_a_dense_model_blames_x_not_y():
    X, y = blobs()
    model = small_model()
    with pytest.raises(ShapeError, match="Flatten"):
        model.fit(X.reshape(120, 5, 1), y, verbose=0)


def test_gradcheck_leaves_the_model_as_it_found_it():
    X, y = blobs(n=20)
    model = small_model(dtype="float32")
    model.fit(X, y, epochs=1, verbose=0)
    before = model.get_weights()
    state = model.optimizer.get_state()
    with pytest.raises(ShapeError):
        nn.gradcheck.check_model(model, X[:, :3], y)
    assert model.dtype == np.float32
    report = nn.gradcheck.check_model(model, X, y)
    assert report < 1e-5
    assert model.dtype == np.float32 and all(w.dtype == np.float32 for w in model.get_weights())
    assert unchanged(model, before)
    for key, value in model.optimizer.get_state().items():
        np.testing.assert_array_equal(value, state[key])
