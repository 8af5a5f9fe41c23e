"""BatchNormalization and the dropout family: gradients, Keras semantics, statistics, seeds, MC dropout."""

import numpy as np
import pytest

import numpynet as nn
from numpynet.errors import ShapeError, SpecError
from numpynet.gradcheck import check_layer
from numpynet.layers import (
    AlphaDropout,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GaussianDropout,
    GaussianNoise,
)


def data(shape, seed=1, loc=0.0, scale=1.0):
    return loc + scale * np.random.default_rng(seed).standard_normal(shape)


def built(layer, input_shape, dtype=np.float64, seed=0):
    layer.dtype = dtype
    layer.set_rng(np.random.default_rng(seed))
    layer.build((None,) + tuple(input_shape[1:]))
    return layer


# ============================================================================================ BatchNormalization

BN_CASES = [
    ("dense", (6, 4), {}),
    ("image", (3, 4, 5, 3), {}),
    ("image-axis1", (3, 4, 5, 3), {"axis": 1}),
    ("no-center", (6, 4), {"center": False}),
    ("no-scale", (3, 3, 3, 2), {"scale": False}),
    ("small-epsilon", (5, 3), {"epsilon": 1e-5, "momentum": 0.5}),
]


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("name,shape,kwargs", BN_CASES, ids=[c[0] for c in BN_CASES])
def test_batchnorm_gradients(name, shape, kwargs, training):
    layer = BatchNormalization(**kwargs)
    x = data(shape, seed=7, loc=0.5, scale=2.0)
    layer.dtype = np.float64
    layer.build((None,) + shape[1:])
    rng = np.random.default_rng(8)
    for key in layer.params:   # non-trivial parameters and moving statistics
        low, high = (0.5, 2.0) if key in ("gamma", "moving_variance") else (-1.0, 1.0)
        layer.params[key][...] = rng.uniform(low, high, layer.params[key].shape)
    report = check_layer(layer, x, training=training)
    assert report < 1e-6, report.table()
    expected = {"input"} | ({"gamma"} if layer.scale else set()) | ({"beta"} if layer.center else set())
    assert set(report.errors) == expected


def test_batchnorm_training_forward_and_moving_statistics_follow_keras():
    x = data((8, 5, 5, 3), seed=2, loc=3.0, scale=2.0)
    layer = built(BatchNormalization(momentum=0.9, epsilon=1e-3), x.shape)
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    layer.params["gamma"][...], layer.params["beta"][...] = gamma, beta
    y = layer.forward(x, training=True)
    mean = x.mean(axis=(0, 1, 2))
    var = ((x - mean) ** 2).mean(axis=(0, 1, 2))          # biased, as Keras
    assert np.allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, rtol=1e-12, atol=1e-12)
    assert np.allclose(layer.params["moving_mean"], 0.0 * 0.9 + mean * 0.1, rtol=1e-12)
    assert np.allclose(layer.params["moving_variance"], 1.0 * 0.9 + var * 0.1, rtol=1e-12)
    # inference uses the moving statistics and changes nothing
    mm, mv = layer.params["moving_mean"].copy(), layer.params["moving_variance"].copy()
    y_inf = layer.forward(x, training=False)
    assert np.allclose(y_inf, gamma * (x - mm) / np.sqrt(mv + 1e-3) + beta, rtol=1e-12)
    assert np.array_equal(mm, layer.params["moving_mean"]) and np.array_equal(mv, layer.params["moving_variance"])


def test_batchnorm_weights_order_and_arrays_are_updated_in_place():
    layer = built(BatchNormalization(), (None, 4))
    assert list(layer.params) == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert layer.trainable_names == ["gamma", "beta"]
    arrays = [layer.params[k] for k in layer.params]
    grads = [layer.grads[k] for k in layer.trainable_names]
    layer.forward(data((10, 4)), training=True)
    layer.backward(data((10, 4), seed=3))
    assert all(a is layer.params[k] for a, k in zip(arrays, layer.params))
    assert all(g is layer.grads[k] for g, k in zip(grads, layer.trainable_names))
    assert list(built(BatchNormalization(center=False), (None, 4)).params) == ["gamma", "moving_mean",
                                                                               "moving_variance"]


def test_frozen_batchnorm_runs_in_inference_mode_like_keras():
    x = data((16, 3), seed=4, loc=5.0)
    layer = built(BatchNormalization(trainable=False), x.shape)
    y = layer.forward(x, training=True)
    assert np.allclose(y, x / np.sqrt(1.0 + 1e-3))         # moving mean 0, variance 1
    assert np.array_equal(layer.params["moving_mean"], np.zeros(3))
    assert layer.trainable_names == []


def test_batchnorm_keeps_float32_and_normalizes():
    x = data((64, 6), seed=5, loc=10.0, scale=3.0).astype(np.float32)
    layer = built(BatchNormalization(), x.shape, dtype=np.float32)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert np.allclose(y.mean(axis=0), 0.0, atol=1e-5) and np.allclose(y.std(axis=0), 1.0, atol=1e-3)
    assert np.allclose(dx, 0.0, atol=1e-4)                # a constant dy is absorbed by β


def test_batchnorm_errors():
    with pytest.raises(SpecError, match="momentum"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(SpecError, match="epsilon"):
        BatchNormalization(epsilon=0.0)
    with pytest.raises(SpecError, match="axis"):
        BatchNormalization(axis="channels")
    with pytest.raises(ShapeError, match="axis=0"):
        built(BatchNormalization(axis=0), (None, 4))
    with pytest.raises(ShapeError, match="axis=3"):
        built(BatchNormalization(axis=3), (None, 4, 4))
    layer = built(BatchNormalization(), (None, 4))
    with pytest.raises(ShapeError, match="expected input of shape"):
        layer.forward(data((3, 5)))


# ============================================================================================ the dropout family

NOISE_LAYERS = [
    Dropout(0.3), Dropout(0.5, noise_shape=(None, 1, 1, None)), AlphaDropout(0.2), AlphaDropout(0.1),
    GaussianNoise(0.5), GaussianDropout(0.3),
]


@pytest.mark.parametrize("layer", NOISE_LAYERS, ids=str)
def test_noise_layer_gradients_in_training_mode(layer):
    x = data((3, 4, 4, 2), seed=6)
    report = check_layer(layer, x, training=True)
    assert report < 1e-6, report.table()
    out = layer.forward(x, training=True)
    assert not np.allclose(out, x)                   # the noise really was applied


@pytest.mark.parametrize("layer", [Dropout(0.4), AlphaDropout(0.3), GaussianNoise(1.0), GaussianDropout(0.4),
                                   Dropout(0.0), AlphaDropout(0.0), GaussianNoise(0.0), GaussianDropout(0.0)],
                         ids=str)
def test_noise_layers_are_identity_at_inference(layer):
    x = data((20, 7), seed=7).astype(np.float32)
    built(layer, x.shape, dtype=np.float32)
    assert layer.stochastic is True and layer.mc_active is False
    y = layer.forward(x, training=False)
    assert np.array_equal(y, x) and y.dtype == np.float32
    dy = data((20, 7), seed=8).astype(np.float32)
    assert np.array_equal(layer.backward(dy), dy)
    if layer.get_config().get("rate", layer.get_config().get("stddev")) == 0.0:
        assert np.array_equal(layer.forward(x, training=True), x)     # rate 0: identity while training too


def test_dropout_statistics():
    x = np.full((400, 500), 2.0)
    layer = built(Dropout(0.3), x.shape, seed=1)
    y = layer.forward(x, training=True)
    dropped = np.mean(y == 0.0)
    assert abs(dropped - 0.3) < 0.005                 # 200k Bernoulli draws: σ ≈ 0.001
    assert np.allclose(y[y != 0.0], 2.0 / 0.7)        # inverted: kept units scaled by 1/(1 − r)
    assert abs(y.mean() - 2.0) < 0.01                 # so the mean is preserved
    dx = layer.backward(np.ones_like(y))
    assert np.array_equal(dx == 0.0, y == 0.0)        # the same mask in backward


def test_dropout_noise_shape_shares_the_mask():
    x = data((6, 5, 5, 4), seed=9) + 10.0            # strictly positive: zero only where dropped
    layer = built(Dropout(0.5, noise_shape=(None, 1, 1, None)), x.shape, seed=2)
    y = layer.forward(x, training=True)
    zero = y == 0.0
    assert np.array_equal(zero, np.broadcast_to(zero[:, :1, :1, :], zero.shape))   # whole feature maps
    assert 0 < zero.mean() < 1
    with pytest.raises(ShapeError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 2)).forward(data((3, 4)), training=True)
    with pytest.raises(SpecError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, -1))


def test_alpha_dropout_keeps_mean_and_variance_of_selu_activations():
    x = data((500, 400), seed=10)                     # standard normal: the fixed point of a SELU network
    layer = built(AlphaDropout(0.2), x.shape, seed=3)
    a, b = layer.coefficients()
    assert a == pytest.approx(0.878904, abs=1e-6) and b == pytest.approx(0.309040, abs=1e-6)
    y = layer.forward(x, training=True)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1.0) < 0.01
    dropped = np.isclose(y, a * nn.layers.noise.ALPHA_PRIME + b)
    assert abs(dropped.mean() - 0.2) < 0.005
    # Plain dropout does not: the variance grows by 1/(1 − r)
    plain = built(Dropout(0.2), x.shape, seed=3).forward(x, training=True)
    assert plain.var() > 1.2


def test_gaussian_noise_and_dropout_statistics():
    x = np.full((500, 400), 3.0)
    noisy = built(GaussianNoise(0.5), x.shape, seed=4).forward(x, training=True)
    assert abs(noisy.mean() - 3.0) < 0.01 and abs(noisy.std() - 0.5) < 0.01
    layer = built(GaussianDropout(0.2), x.shape, seed=5)
    y = layer.forward(x, training=True)
    assert abs(y.mean() - 3.0) < 0.01
    assert abs((y / 3.0).var() - 0.2 / 0.8) < 0.01    # multiplier ~ N(1, r/(1 − r))
    assert np.allclose(layer.backward(np.ones_like(y)), y / 3.0)


@pytest.mark.parametrize("cls,arg", [(Dropout, 0.4), (AlphaDropout, 0.4), (GaussianNoise, 0.7),
                                     (GaussianDropout, 0.4)])
def test_seed_reproducibility(cls, arg):
    x = data((50, 30), seed=11)
    a = cls(arg, seed=42)
    b = cls(arg, seed=42)
    c = cls(arg, seed=43)
    for layer in (a, b, c):
        layer.build((None, 30))
    ya, yb, yc = (layer.forward(x, training=True) for layer in (a, b, c))
    assert np.array_equal(ya, yb) and not np.array_equal(ya, yc)
    # successive batches draw fresh noise
    assert not np.array_equal(a.forward(x, training=True), ya)
    # a model's generator does not override a layer's own seed
    d = cls(arg, seed=42)
    d.set_rng(np.random.default_rng(0))
    d.build((None, 30))
    assert np.array_equal(d.forward(x, training=True), ya)


@pytest.mark.parametrize("make,match", [
    (lambda: Dropout(1.0), "rate"), (lambda: Dropout(-0.1), "rate"), (lambda: AlphaDropout(1.5), "rate"),
    (lambda: GaussianDropout("0.5"), "rate"), (lambda: GaussianNoise(-1.0), "stddev"),
])
def test_noise_bad_arguments(make, match):
    with pytest.raises(SpecError, match=match):
        make()


@pytest.mark.parametrize("layer", [
    BatchNormalization(), BatchNormalization(axis=1, momentum=0.9, center=False, gamma_regularizer="l2(l2=0.01)"),
    Dropout(0.25), Dropout(0.5, noise_shape=(None, 1, 1, None), seed=3), AlphaDropout(0.1),
    GaussianNoise(0.2, seed=1), GaussianDropout(0.3),
], ids=str)
def test_spec_round_trip(layer):
    again = nn.layers.get(str(layer))
    assert again == layer and type(again) is type(layer)
    assert nn.layers.get(nn.spec.to_json(layer)) == layer


# ============================================================================================ in a model

def test_mc_dropout_through_predict():
    X = data((40, 6), seed=12).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = nn.Sequential([Dense(32, activation="relu"), Dropout(0.5), Dense(2)], seed=0)
    model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy")
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    plain = model.predict(X)
    assert np.array_equal(plain, model.predict(X))                      # inference is deterministic
    mean, std = model.predict(X, mc_samples=30, return_std=True)
    assert mean.shape == std.shape == (40, 2)
    assert np.all(std.max(axis=1) > 0)                                   # dropout was active
    assert np.allclose(mean.sum(axis=1), 1.0, atol=1e-5)                 # averaged probabilities
    assert not np.allclose(mean, plain)
    assert model.layers[1].mc_active is False                            # switched off again
    assert np.array_equal(plain, model.predict(X))


def test_batchnorm_and_dropout_cnn_trains_and_gradcheck():
    (X, y), _ = nn.datasets.load_digits(flatten=False, n_train=300)
    model = nn.Sequential([Conv2D(6, 3, padding="same"), BatchNormalization(), nn.layers.Activation("relu"),
                           nn.layers.MaxPool2D(2), Flatten(), Dropout(0.2), Dense(10)], seed=0)
    model.compile(optimizer="adam(lr=0.01)", loss="softmax_cross_entropy", metrics=["accuracy"])
    hist = model.fit(X, y, epochs=4, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    bn = model.layers[1]
    assert not np.allclose(bn.params["moving_mean"], 0.0)                # moving statistics were updated
    # the whole model in training mode (BatchNorm batch statistics; dropout off for a deterministic check)
    small = nn.Sequential([Conv2D(2, 3, padding="same", activation="tanh"), BatchNormalization(), Flatten(),
                           Dense(3)], seed=1, dtype="float64")
    small.compile(optimizer="sgd", loss="softmax_cross_entropy")
    Xs, ys = data((4, 5, 5, 1), seed=13), np.array([0, 1, 2, 1])
    report = nn.gradcheck.check_model(small, Xs, ys, training=True)
    assert report < 1e-6, report.table()


def test_a_users_own_mc_layer_through_the_public_switch():
    class ScaleNoise(nn.layers.StochasticLayer):
        """Multiplies by a random factor in [0.5, 1.5) when active — training or MC prediction."""

        def forward(self, x, training=False):
            self.factor = self.uniform(x.shape, x.dtype) + x.dtype.type(0.5) if self.is_active(training) else None
            return x if self.factor is None else x * self.factor

        def backward(self, dy):
            return dy if self.factor is None else dy * self.factor

    X = data((30, 5), seed=3).astype(np.float32)
    model = nn.Sequential([Dense(8, activation="relu"), ScaleNoise(), Dense(2)], seed=0)
    model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy")
    model.build(X.shape)
    noise = model.layers[1]
    assert noise.stochastic is True and noise.mc_active is False and not noise.is_active(False)
    plain = model.predict(X)
    mean, std = model.predict(X, mc_samples=20, return_std=True)
    assert np.all(std.max(axis=1) > 0) and not np.allclose(mean, plain)     # the noise was on for MC ...
    assert noise.mc_active is False and np.array_equal(model.predict(X), plain)   # ... and only then
    assert noise.active(True) is True                                      # the old name still works
