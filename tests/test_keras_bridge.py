"""numpynet.keras_bridge: to_keras / from_keras round trips, clear errors for what Keras or numpynet lacks, and
compare's table. TensorFlow is optional (skipped without it unless NUMPYNET_REQUIRE_TF=1), except for the check
that ``import numpynet`` does not import it."""

import os
import subprocess
import sys

import numpy as np
import pytest

import numpynet as nn
from numpynet.errors import SpecError
from numpynet.layers import Activation, Dense, Flatten

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def test_import_numpynet_does_not_import_tensorflow():
    code = ("import sys, numpynet, numpynet.keras_bridge; "
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.fixture(scope="module")
def keras():
    if os.environ.get("NUMPYNET_REQUIRE_TF"):
        import tensorflow  # noqa: F401
    else:
        pytest.importorskip("tensorflow")
    import keras as keras_module

    from numpynet.keras_bridge import configure_tensorflow
    configure_tensorflow()
    return keras_module


@pytest.fixture
def float64(keras):
    from numpynet.keras_bridge import keras_dtype
    with keras_dtype("float64"):
        yield


@pytest.fixture
def bridge(keras):
    from numpynet import keras_bridge
    return keras_bridge


def blobs(n=40, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (k, d))
    y = rng.integers(0, k, n)
    return centers[y] + rng.normal(0, 1, (n, d)), y


# Keras casts β1/β2 through float32 even for float64 weights: exactly representable values keep parity at 1e-15
ADAM = "adam(learning_rate=0.125, beta_1=0.875, beta_2=0.9375, clipnorm=0.5)"


def full_model(dtype="float64", optimizer=ADAM):
    model = nn.Sequential([
        Dense(8, activation="leaky_relu(negative_slope=0.125)", kernel_initializer="he_uniform",
              kernel_regularizer="l2(lambd=0.25)", bias_regularizer="l1(l1=0.125)",
              kernel_constraint="max_norm(max_value=2.0)", bias_constraint="non_neg"),
        Dense(6, activation="tanh", use_bias=False, kernel_regularizer="l1l2(l1=0.125, l2=0.25)",
              activity_regularizer="l2(l2=0.125)"),
        Activation("elu(alpha=0.5)"),
        Dense(3, kernel_regularizer="l2(l2=0.0625)"),
    ], seed=0, dtype=dtype)
    model.compile(optimizer=optimizer, loss="softmax_cross_entropy", metrics=["accuracy"])
    model.build((None, 6))
    return model


# ============================================================================================ to_keras

def test_to_keras_translates_every_dense_option(bridge, keras, float64):
    model = full_model()
    kmodel = bridge.to_keras(model)
    d1, d2, act, d3 = kmodel.layers
    assert isinstance(d1.kernel_regularizer, keras.regularizers.L2)
    assert float(d1.kernel_regularizer.l2) == 0.125            # l2(lambd=0.25) = Keras L2(0.125)
    assert isinstance(d1.bias_regularizer, keras.regularizers.L1) and float(d1.bias_regularizer.l1) == 0.125
    assert isinstance(d1.kernel_constraint, keras.constraints.MaxNorm) and d1.kernel_constraint.max_value == 2.0
    assert isinstance(d1.bias_constraint, keras.constraints.NonNeg)
    assert isinstance(d1.kernel_initializer, keras.initializers.HeUniform)
    assert d1.activation.__name__ == "leaky_relu"
    assert isinstance(d2.kernel_regularizer, keras.regularizers.L1L2) and not d2.use_bias
    assert float(d2.kernel_regularizer.l1) == 0.125 and float(d2.kernel_regularizer.l2) == 0.25
    assert isinstance(d2.activity_regularizer, keras.regularizers.L2)
    assert float(d3.kernel_regularizer.l2) == 0.0625            # l2(l2=λ) = Keras L2(λ)
    assert keras.activations.serialize(d3.activation) == "softmax"     # fused output gets the softmax
    assert isinstance(kmodel.loss, keras.losses.SparseCategoricalCrossentropy)
    opt = kmodel.optimizer
    assert isinstance(opt, keras.optimizers.Adam)
    assert float(opt.learning_rate) == 0.125 and opt.clipnorm == 0.5
    for w, kw in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_array_equal(w, kw)
    X, _ = blobs()
    np.testing.assert_allclose(model.predict(X), kmodel.predict(X, verbose=0), rtol=1e-12, atol=1e-15)


def test_to_keras_one_hot_labels_and_schedules(bridge, keras, float64):
    model = full_model(optimizer="sgd(learning_rate='exponential_decay(0.5, 4, 0.5)', momentum=0.5, "
                                 "nesterov=True, weight_decay=0.125)")
    kmodel = bridge.to_keras(model, labels="one_hot")
    assert isinstance(kmodel.loss, keras.losses.CategoricalCrossentropy)
    opt = kmodel.optimizer
    assert isinstance(opt, keras.optimizers.SGD) and opt.nesterov and opt.momentum == 0.5
    assert opt.weight_decay == 0.125
    sched = opt._learning_rate
    assert isinstance(sched, keras.optimizers.schedules.ExponentialDecay)
    assert (sched.initial_learning_rate, sched.decay_steps, sched.decay_rate) == (0.5, 4, 0.5)


def test_to_keras_appends_softmax_after_a_nonlinear_output(bridge, keras, float64):
    model = nn.Sequential([Dense(4, activation="tanh"), Dense(3, activation="relu")], seed=1, dtype="float64")
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    model.build((None, 5))
    kmodel = bridge.to_keras(model)
    assert [type(layer).__name__ for layer in kmodel.layers] == ["Dense", "Dense", "Activation"]
    X = np.random.default_rng(0).normal(size=(7, 5))
    np.testing.assert_allclose(model.predict(X), kmodel.predict(X, verbose=0), rtol=1e-12)


def test_to_keras_sets_floatx_with_a_warning(bridge, keras):
    with bridge.keras_dtype("float32"):
        keras.layers.Dense(2)                   # Keras now caches a float32 global dtype policy
        with pytest.warns(UserWarning, match="floatx"):
            kmodel = bridge.to_keras(full_model("float64"))
        assert keras.config.floatx() == "float64"
        assert kmodel.get_weights()[0].dtype == np.float64
        assert keras.layers.Dense(2).dtype == "float64"    # new layers follow: the cached policy was reset


def test_keras_dtype_context_restores_floatx_and_policy(bridge, keras):
    with bridge.keras_dtype("float32"):
        keras.layers.Dense(2)
        with bridge.keras_dtype("float64"):
            assert keras.config.floatx() == "float64"
            assert keras.layers.Dense(2).dtype == "float64"
        assert keras.config.floatx() == "float32"
        assert keras.layers.Dense(2).dtype == "float32"


def test_to_keras_needs_a_built_model(bridge, float64):
    model = nn.Sequential([Dense(3)], dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(SpecError, match="not built"):
        bridge.to_keras(model)


def test_to_keras_converts_each_family_object(bridge, keras):
    assert float(bridge.keras_regularizer("l2(lambd=0.5)").l2) == 0.25
    assert float(bridge.keras_regularizer("l2(l2=0.5)").l2) == 0.5
    assert bridge.keras_regularizer(None) is None
    assert isinstance(bridge.keras_loss("huber(delta=0.5)"), keras.losses.Huber)
    assert bridge.keras_loss("binary_crossentropy(from_logits=True)").get_config()["from_logits"]
    with pytest.raises(SpecError, match="label_smoothing"):
        bridge.keras_loss("categorical_crossentropy(label_smoothing=0.125)", labels="sparse")
    init = bridge.keras_initializer("std_normal(scale=0.5)")
    assert isinstance(init, keras.initializers.RandomNormal) and init.stddev == 0.5
    sched = bridge.keras_schedule("piecewise_constant_decay([5, 10], [0.5, 0.25, 0.125])")
    assert [float(sched(s)) for s in (0, 5, 6, 11)] == [0.5, 0.5, 0.25, 0.125]
    assert isinstance(bridge.keras_optimizer("rmsprop(momentum=0.5, centered=True)"), keras.optimizers.RMSprop)
    assert bridge.keras_activation("relu") == "relu"


# ============================================================================================ from_keras

def test_round_trip_numpynet_keras_numpynet(bridge, keras, float64):
    model = full_model()
    back = bridge.from_keras(bridge.to_keras(model))
    X, y = blobs()
    assert back.dtype == np.float64
    assert [type(layer).__name__ for layer in back.layers] == ["Dense", "Dense", "Activation", "Dense"]
    for w, w2 in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(w, w2)
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-12)
    assert back.compute_loss(X, y) == pytest.approx(model.compute_loss(X, y), rel=1e-12)
    _, g1 = model.compute_gradients(X, y)
    _, g2 = back.compute_gradients(X, y)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    first = back.layers[0]
    assert str(first.activation) == "leaky_relu(negative_slope=0.125)"
    assert first.regularizers["W"] == nn.regularizers.get("l2(l2=0.125)")   # Keras L2(λ) -> l2(l2=λ)
    assert str(back.optimizer) == str(nn.optimizers.get(ADAM))
    assert back.loss.spec_name == "sparse_categorical_crossentropy" and back.metrics == ["accuracy"]


def test_from_keras_of_a_keras_built_model(bridge, keras, float64):
    kmodel = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(10, activation="relu", kernel_regularizer=keras.regularizers.L2(0.125)),
        keras.layers.Dropout(0.25, seed=3),
        keras.layers.Dense(3, activation="softmax", kernel_constraint=keras.constraints.UnitNorm()),
    ])
    kmodel.compile(optimizer=keras.optimizers.RMSprop(0.001, rho=0.5, momentum=0.25, centered=True),
                   loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.125), metrics=["accuracy"])
    model = bridge.from_keras(kmodel)
    dense, drop, out = model.layers
    assert dense.units == 10 and str(dense.activation) == "relu"
    assert dense.regularizers["W"] == nn.regularizers.get("l2(l2=0.125)")
    assert drop.rate == 0.25 and drop.seed == 3
    assert out.constraints["W"] == nn.constraints.get("unit_norm")
    assert str(model.optimizer) == str(nn.optimizers.get("rmsprop(learning_rate=0.001, rho=0.5, momentum=0.25, "
                                                          "centered=True)"))
    assert model.loss == nn.losses.get("categorical_crossentropy(label_smoothing=0.125)")
    X, y = blobs()
    np.testing.assert_allclose(model.predict(X), kmodel.predict(X, verbose=0), rtol=1e-12)
    again = bridge.to_keras(model)
    assert isinstance(again.loss, keras.losses.CategoricalCrossentropy)
    assert again.loss.get_config()["label_smoothing"] == 0.125
    assert again.optimizer.get_config()["centered"] and again.optimizer.get_config()["rho"] == 0.5


def test_round_trip_of_a_conv_net(bridge, keras, float64):
    from numpynet.layers import AveragePooling2D, BatchNormalization, Conv2D, GlobalAveragePooling2D, MaxPool2D
    model = nn.Sequential([
        Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer="l2(lambd=0.125)"),
        BatchNormalization(),
        MaxPool2D(2),
        Conv2D(6, (2, 2), strides=1, padding="valid", activation="tanh"),
        AveragePooling2D(pool_size=2, strides=1),
        GlobalAveragePooling2D(),
        Dense(3),
    ], seed=2, dtype="float64")
    model.compile(optimizer="sgd(learning_rate=0.125, momentum=0.5)", loss="softmax_cross_entropy")
    X = np.random.default_rng(1).normal(size=(8, 8, 8, 2))
    y = np.arange(8) % 3
    model.build(X.shape)
    kmodel = bridge.to_keras(model)
    assert [type(layer).__name__ for layer in kmodel.layers] == [
        "Conv2D", "BatchNormalization", "MaxPooling2D", "Conv2D", "AveragePooling2D", "GlobalAveragePooling2D",
        "Dense"]
    np.testing.assert_allclose(model.predict(X), kmodel.predict(X, verbose=0), rtol=1e-10)
    back = bridge.from_keras(kmodel)
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-12)
    table = bridge.compare(model, X, y, print_table=False)
    assert table.worst_rel < 1e-9, table.format()


def test_flatten_and_noise_layers_round_trip(bridge, keras, float64):
    from numpynet.layers import AlphaDropout, Dropout, GaussianDropout, GaussianNoise
    model = nn.Sequential([Flatten(), Dense(5, activation="selu"), AlphaDropout(0.125), GaussianNoise(0.5),
                           GaussianDropout(0.25), Dropout(0.5), Dense(2, activation="sigmoid")], dtype="float64")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.build((None, 3, 2))
    kmodel = bridge.to_keras(model)
    kinds = [type(layer).__name__ for layer in kmodel.layers]
    assert kinds == ["Flatten", "Dense", "AlphaDropout", "GaussianNoise", "GaussianDropout", "Dropout", "Dense"]
    assert kmodel.layers[3].stddev == 0.5 and kmodel.layers[4].rate == 0.25
    back = bridge.from_keras(kmodel)
    assert [type(layer).__name__ for layer in back.layers] == [
        "Flatten", "Dense", "AlphaDropout", "GaussianNoise", "GaussianDropout", "Dropout", "Dense"]
    X = np.random.default_rng(2).normal(size=(5, 3, 2))
    np.testing.assert_allclose(back.predict(X), kmodel.predict(X, verbose=0), rtol=1e-12)


def test_from_keras_rejects_what_numpynet_lacks(bridge, keras, float64):
    lstm = keras.Sequential([keras.Input((4, 3)), keras.layers.LSTM(2)])
    with pytest.raises(SpecError, match="LSTM"):
        bridge.from_keras(lstm)
    mish = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="mish")])
    with pytest.raises(SpecError, match="mish"):
        bridge.from_keras(mish)
    channels_first = keras.Sequential([keras.Input((3, 4, 4)), keras.layers.Flatten(data_format="channels_first")])
    with pytest.raises(SpecError, match="data_format"):
        bridge.from_keras(channels_first)
    inp = keras.Input((3,))
    functional = keras.Model(inp, keras.layers.Dense(2)(inp))
    with pytest.raises(SpecError, match="Sequential"):
        bridge.from_keras(functional)
    adamax = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    adamax.compile(optimizer=keras.optimizers.Adamax(), loss="mse")
    with pytest.raises(SpecError, match="Adamax"):
        bridge.from_keras(adamax)
    kld = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    kld.compile(optimizer="sgd", loss=keras.losses.KLDivergence())
    with pytest.raises(SpecError, match="KLDivergence"):
        bridge.from_keras(kld)
    ortho = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        2, kernel_regularizer=keras.regularizers.OrthogonalRegularizer())])
    with pytest.raises(SpecError, match="OrthogonalRegularizer"):
        bridge.from_keras(ortho)


# ============================================================================================ compare

def test_compare_table(bridge, keras, capsys):
    model = full_model()
    X, y = blobs(n=32)
    before = model.get_weights()
    floatx = keras.config.floatx()
    table = bridge.compare(model, X, y)
    printed = capsys.readouterr().out
    names = [row["name"] for row in table]
    n_weights = len(model.get_weights())
    assert names[:2] == ["output", "loss"]
    assert len(table) == 2 + 2 * n_weights
    assert names[2] == "grad dense/W" and names[-1].startswith("after step ")
    assert table.worst_rel < 1e-10, table.format()
    assert table["loss"]["max_rel"] < 1e-12
    assert "numpynet vs Keras (float64)" in printed and "after step dense/W" in printed and "worst" in printed
    for w, w0 in zip(model.get_weights(), before):          # compare trains a copy
        np.testing.assert_array_equal(w, w0)
    assert int(model.optimizer.iterations) == 0
    assert keras.config.floatx() == floatx                  # restored


def test_compare_in_float32_with_one_hot_labels(bridge, keras):
    model = nn.Sequential([Dense(8, activation="sigmoid", kernel_regularizer="l2(lambd=0.01)"),
                           Dense(3, activation="softmax")], seed=4, dtype="float32")
    model.compile(optimizer="nadam(learning_rate=0.01)", loss="categorical_crossentropy", metrics=["accuracy"])
    X, y = blobs(n=32)
    table = bridge.compare(model, X, np.eye(3)[y], print_table=False)
    assert table.dtype == "float32"
    assert table.worst_rel < 1e-4, table.format()
    assert table.worst_rel > 0                               # float32 rounding really shows


def test_compare_marks_random_layers_and_detects_a_wrong_gradient(bridge, keras, float64):
    from numpynet.layers import Dropout
    model = nn.Sequential([Dense(8, activation="relu"), Dropout(0.5), Dense(3)], seed=5, dtype="float64")
    model.compile(optimizer="sgd(learning_rate=0.5)", loss="softmax_cross_entropy")
    X, y = blobs(n=16)
    table = bridge.compare(model, X, y, print_table=False)
    assert all(row["note"] for row in table if row["name"].startswith("after step"))
    assert table.worst_rel < 1e-10                           # outputs, loss, gradients in inference mode agree
    dense = model.layers[0]
    original = dense.backward

    def doubled(dy):
        out = original(dy)
        dense.grads["W"] *= 2.0
        return out
    dense.backward = doubled
    broken = bridge.compare(model, X, y, print_table=False)
    assert broken["grad dense/W"]["max_rel"] > 0.5
    assert broken["grad dense/b"]["max_rel"] < 1e-10
