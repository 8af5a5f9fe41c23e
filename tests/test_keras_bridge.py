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


@pytest.mark.parametrize("what", ["compare", "to_keras", "configure_tensorflow"])
def test_without_tensorflow_every_entry_point_gives_the_install_hint(what, monkeypatch):
    from numpynet import keras_bridge as kb
    monkeypatch.setitem(sys.modules, "tensorflow", None)    # what `import tensorflow` sees when it is missing
    monkeypatch.setitem(sys.modules, "keras", None)
    model = nn.Sequential([Dense(3)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model.build((None, 2))
    call = {"compare": lambda: kb.compare(model, np.zeros((2, 2)), np.zeros((2, 3))),
            "to_keras": lambda: kb.to_keras(model),
            "configure_tensorflow": kb.configure_tensorflow}[what]
    with pytest.raises(ImportError, match=r"pip install 'numpynet\[keras\]'"):
        call()


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


def _mobilenet_layers():
    from numpynet.layers import Conv2D, DepthwiseConv2D, ReLU, Reshape, SeparableConv2D, ZeroPadding2D
    return [
        ZeroPadding2D(((0, 1), (0, 1))),
        Conv2D(4, 3, strides=2, use_bias=False),
        ReLU(6.0),
        DepthwiseConv2D(3, padding="same", depth_multiplier=2, depthwise_initializer="he_uniform",
                        depthwise_regularizer="l2(lambd=0.25)", depthwise_constraint="max_norm(max_value=2.0)",
                        bias_regularizer="l1(l1=0.125)"),
        ReLU(max_value=6.0, negative_slope=0.125, threshold=0.5),
        SeparableConv2D(6, 3, strides=2, padding="same", activation="relu6", pointwise_regularizer="l2(l2=0.5)",
                        depthwise_regularizer="l1(l1=0.25)", pointwise_initializer="lecun_normal",
                        pointwise_constraint="non_neg"),
        ZeroPadding2D(1),
        Reshape((-1,)),
        Dense(3),
    ]


def test_mobilenet_layers_round_trip(bridge, keras, float64):
    model = nn.Sequential(_mobilenet_layers(), seed=3, dtype="float64")
    model.compile(optimizer="sgd(learning_rate=0.125, momentum=0.5)", loss="softmax_cross_entropy")
    X = np.random.default_rng(4).normal(size=(6, 9, 8, 2))
    y = np.arange(6) % 3
    model.build(X.shape)
    kmodel = bridge.to_keras(model)
    assert [type(layer).__name__ for layer in kmodel.layers] == [
        "ZeroPadding2D", "Conv2D", "ReLU", "DepthwiseConv2D", "ReLU", "SeparableConv2D", "ZeroPadding2D", "Reshape",
        "Dense"]
    pad, _, relu6, dw, relu, sep, pad1, reshape, _ = kmodel.layers
    assert tuple(map(tuple, pad.padding)) == ((0, 1), (0, 1)) and tuple(map(tuple, pad1.padding)) == ((1, 1), (1, 1))
    assert relu6.max_value == 6.0 and relu6.negative_slope == 0.0
    assert (relu.max_value, relu.negative_slope, relu.threshold) == (6.0, 0.125, 0.5)
    assert dw.depth_multiplier == 2 and dw.padding == "same"
    assert isinstance(dw.depthwise_initializer, keras.initializers.HeUniform)
    assert float(dw.depthwise_regularizer.l2) == 0.125                      # l2(lambd=0.25) = Keras L2(0.125)
    assert isinstance(dw.bias_regularizer, keras.regularizers.L1)
    assert isinstance(dw.depthwise_constraint, keras.constraints.MaxNorm)
    assert sep.filters == 6 and sep.strides == (2, 2) and float(sep.pointwise_regularizer.l2) == 0.5
    assert isinstance(sep.depthwise_regularizer, keras.regularizers.L1)
    assert isinstance(sep.pointwise_initializer, keras.initializers.LecunNormal)
    assert isinstance(sep.pointwise_constraint, keras.constraints.NonNeg)
    assert tuple(reshape.target_shape) == (-1,)
    for w, kw in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_array_equal(w, kw)
    np.testing.assert_allclose(model.predict(X), kmodel.predict(X, verbose=0), rtol=1e-10)
    # outputs, the loss with its four penalties, every gradient and one SGD step agree
    table = bridge.compare(model, X, y, print_table=False)
    assert table.worst_rel < 1e-9, table.format()
    back = bridge.from_keras(kmodel)
    assert [type(layer).__name__ for layer in back.layers] == [type(layer).__name__ for layer in model.layers]
    for ours, again in zip(model.layers, back.layers):
        for key in ("padding", "max_value", "negative_slope", "threshold", "kernel_size", "strides",
                    "depth_multiplier", "dilation_rate", "use_bias", "filters", "target_shape"):
            assert getattr(ours, key, None) == getattr(again, key, None), (ours, again, key)
    dw_back, sep_back = back.layers[3], back.layers[5]
    assert dw_back.regularizers["W"] == nn.regularizers.get("l2(l2=0.125)")
    assert dw_back.regularizers["b"] == nn.regularizers.get("l1(l1=0.125)")
    assert dw_back.constraints["W"] == nn.constraints.get("max_norm(max_value=2.0)")
    assert sep_back.regularizers["pointwise_kernel"] == nn.regularizers.get("l2(l2=0.5)")
    assert str(sep_back.activation) == "relu6"
    for w, w2 in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(w, w2)
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-12)
    assert back.compute_loss(X, y) == pytest.approx(model.compute_loss(X, y), rel=1e-12)


def test_from_keras_of_a_keras_built_mobilenet_block(bridge, keras, float64):
    kmodel = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.ZeroPadding2D(((1, 0), (0, 1))),
        keras.layers.Conv2D(8, 1, use_bias=False),
        keras.layers.ReLU(6.0),
        keras.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, use_bias=False,
                                     depthwise_regularizer=keras.regularizers.L2(0.125)),
        keras.layers.ReLU(max_value=4.0, threshold=0.25),
        keras.layers.SeparableConv2D(4, (3, 2), padding="same", activation="tanh", dilation_rate=(1, 2)),
        keras.layers.Reshape((4, -1)),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    kmodel.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model = bridge.from_keras(kmodel)
    dw = model.layers[3]
    assert type(dw).__name__ == "DepthwiseConv2D" and not dw.use_bias and dw.depth_multiplier == 2
    assert dw.regularizers["W"] == nn.regularizers.get("l2(l2=0.125)")
    relu = model.layers[4]
    assert (relu.max_value, relu.negative_slope, relu.threshold) == (4.0, 0.0, 0.25)
    assert model.layers[0].padding == ((1, 0), (0, 1)) and model.layers[6].target_shape == (4, -1)
    X = np.random.default_rng(5).normal(size=(5, 8, 8, 3)) * 3
    np.testing.assert_allclose(model.predict(X), kmodel.predict(X, verbose=0), rtol=1e-12)
    y = np.arange(5) % 3
    loss = float(kmodel.evaluate(X, y, verbose=0))
    assert model.evaluate(X, y)["loss"] == pytest.approx(loss, rel=1e-10)


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
    with_op = keras.Model(inp, keras.ops.add(keras.layers.Dense(3)(inp), inp))   # an op, not a layer
    with pytest.raises(SpecError, match="operation"):
        bridge.from_keras(with_op)
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


# ============================================================================================ functional graphs

def residual_model(dtype="float64", seed=0):
    """Conv stem → BN → two branches joined by Add (a residual block) → pooling → Dense, with penalties."""
    from numpynet.layers import Add, BatchNormalization, Conv2D, GlobalAveragePooling2D
    inp = nn.Input((6, 6, 2), name="image")
    x = Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer="l2(l2=0.125)")(inp)
    x = BatchNormalization()(x)
    y = Conv2D(4, 3, padding="same", activation="tanh", kernel_regularizer="l1(l1=0.0625)")(x)
    y = Conv2D(4, 1, use_bias=False)(y)
    x = Add()([y, x])
    out = Dense(3, bias_regularizer="l2(l2=0.25)")(GlobalAveragePooling2D()(x))
    model = nn.Model(inp, out, seed=seed, dtype=dtype, name="residual")
    model.compile(optimizer="sgd(learning_rate=0.125, momentum=0.5)", loss="softmax_cross_entropy",
                  metrics=["accuracy"])
    return model


def two_in_two_out_model(seed=1):
    from numpynet.layers import Average, Concatenate, Multiply, Subtract
    a, b = nn.Input((4,), name="a"), nn.Input((5,), name="b")
    ha = Dense(6, activation="relu", kernel_regularizer="l2(l2=0.125)")(a)
    hb = Dense(6, activation="tanh")(b)
    joined = Concatenate()([ha, Multiply()([ha, hb])])
    cls = Dense(3, name="cls")(joined)
    reg = Dense(2, name="reg")(Average()([Subtract()([ha, hb]), hb]))
    model = nn.Model([a, b], [cls, reg], seed=seed, dtype="float64", name="two_heads")
    model.compile(optimizer="adam(learning_rate=0.125, beta_1=0.875, beta_2=0.9375)",
                  loss=["softmax_cross_entropy", "mse"], metrics=["accuracy"])
    return model


def two_in_two_out_data(n=12):
    rng = np.random.default_rng(7)
    return [rng.normal(size=(n, 4)), rng.normal(size=(n, 5))], [rng.integers(0, 3, n), rng.normal(size=(n, 2))]


def keras_layer_names(kmodel):
    return [layer.name for layer in kmodel.layers if type(layer).__name__ != "InputLayer"]


def test_to_keras_of_a_residual_graph_is_a_functional_model(bridge, keras, float64):
    model = residual_model()
    kmodel = bridge.to_keras(model)
    assert not isinstance(kmodel, keras.Sequential)
    assert keras_layer_names(kmodel) == [layer.name for layer in model.layers]
    assert [layer.name for layer in kmodel.layers if type(layer).__name__ == "InputLayer"] == ["image"]
    add = kmodel.get_layer("add")
    assert isinstance(add, keras.layers.Add)
    assert [t._keras_history.operation.name for t in add._inbound_nodes[0].input_tensors] == [
        "conv2d_2", "batch_normalization"]
    assert keras.activations.serialize(kmodel.get_layer("dense").activation) == "softmax"   # fused output
    for w, kw in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_array_equal(w, kw)
    X = np.random.default_rng(0).normal(size=(8, 6, 6, 2))
    y = np.arange(8) % 3
    np.testing.assert_allclose(kmodel.predict(X, verbose=0), model.predict(X), rtol=1e-12, atol=1e-15)
    assert [float(v) for v in kmodel.losses] == pytest.approx(model.losses, rel=1e-12)
    table = bridge.compare(model, X, y, print_table=False)
    assert table.worst_rel < 1e-10, table.format()


def test_round_trip_of_a_residual_graph(bridge, keras, float64):
    model = residual_model()
    back = bridge.from_keras(bridge.to_keras(model))
    assert type(back) is nn.Model and back.name == "residual"
    assert [layer.name for layer in back.layers] == [layer.name for layer in model.layers]
    assert [type(layer).__name__ for layer in back.layers] == [type(layer).__name__ for layer in model.layers]
    assert back.inputs[0].node.layer.name == "image"
    for w, w2 in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(w, w2)
    X = np.random.default_rng(1).normal(size=(8, 6, 6, 2))
    y = np.arange(8) % 3
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-12, atol=1e-15)
    assert back.losses == pytest.approx(model.losses, rel=1e-12)
    _, g1 = model.compute_gradients(X, y, training=True)
    _, g2 = back.compute_gradients(X, y, training=True)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    assert back.metrics == ["accuracy"] and back.loss.spec_name == "sparse_categorical_crossentropy"


def test_graph_round_trip_in_float32(bridge, keras):
    model = residual_model(dtype="float32", seed=3)
    with bridge.keras_dtype("float32"):
        kmodel = bridge.to_keras(model)
        back = bridge.from_keras(kmodel)
    assert back.dtype == np.float32
    X = np.random.default_rng(2).normal(size=(8, 6, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(kmodel.predict(X, verbose=0), model.predict(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-6, atol=1e-7)


def test_two_inputs_two_outputs_round_trip(bridge, keras, float64):
    model = two_in_two_out_model()
    kmodel = bridge.to_keras(model)
    assert [t._keras_history.operation.name for t in kmodel.inputs] == ["a", "b"]
    assert len(kmodel.outputs) == 2
    assert keras_layer_names(kmodel) == [layer.name for layer in model.layers]
    assert isinstance(kmodel.loss, list) and isinstance(kmodel.loss[1], keras.losses.MeanSquaredError)
    assert kmodel.get_layer("concatenate").axis == -1
    X, y = two_in_two_out_data()
    ours, theirs = model.predict(X), kmodel.predict(X, verbose=0)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(t, o, rtol=1e-12, atol=1e-15)
    table = bridge.compare(model, X, y, print_table=False)
    assert [row["name"] for row in table][:3] == ["output cls", "output reg", "loss"]
    assert table.worst_rel < 1e-10, table.format()
    back = bridge.from_keras(kmodel)
    assert [t.node.layer.name for t in back.inputs] == ["a", "b"]
    assert [t.node.layer.name for t in back.outputs] == ["cls", "reg"]
    assert [type(loss).__name__ for loss in back.loss] == [type(nn.losses.get("sparse_categorical_crossentropy"))
                                                           .__name__, type(nn.losses.get("mse")).__name__]
    assert back.metrics == ["accuracy"]
    for o, b in zip(ours, back.predict(X)):
        np.testing.assert_allclose(b, o, rtol=1e-12, atol=1e-15)
    assert back.compute_loss(X, y) == pytest.approx(model.compute_loss(X, y), rel=1e-12)


def test_shared_layer_stays_one_layer_both_ways(bridge, keras, float64):
    inp = nn.Input((4,))
    shared = Dense(4, activation="tanh", kernel_regularizer="l2(l2=0.125)", name="shared")
    out = Dense(2)(shared(shared(inp)))
    model = nn.Model(inp, out, seed=2, dtype="float64")
    model.compile(optimizer="sgd(learning_rate=0.5)", loss="mse")
    kmodel = bridge.to_keras(model)
    assert keras_layer_names(kmodel) == ["shared", "dense"]
    assert len(kmodel.get_layer("shared")._inbound_nodes) == 2
    X = np.random.default_rng(3).normal(size=(9, 4))
    Y = np.random.default_rng(4).normal(size=(9, 2))
    np.testing.assert_allclose(kmodel.predict(X, verbose=0), model.predict(X), rtol=1e-12, atol=1e-15)
    table = bridge.compare(model, X, Y, print_table=False)     # the shared kernel's gradient sums both calls
    assert table.worst_rel < 1e-10, table.format()
    back = bridge.from_keras(kmodel)
    assert [layer.name for layer in back.layers] == ["shared", "dense"]
    assert [node.layer.name for node in back._nodes] == ["shared", "shared", "dense"]
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-12, atol=1e-15)


def test_from_keras_of_a_keras_built_graph_keeps_keras_order(bridge, keras, float64):
    """Add()([c2(x), c1(x)]) lists c2 first (KERAS_NOTES), and so must the converted model."""
    x = keras.Input((5,), name="x")
    c1 = keras.layers.Dense(3, name="c1", kernel_regularizer=keras.regularizers.L1(0.125))
    c2 = keras.layers.Dense(3, name="c2", activation="relu")
    out = keras.layers.Dense(2, activation="softmax", name="head")(keras.layers.Add(name="add")([c2(x), c1(x)]))
    kmodel = keras.Model(x, out, name="keras_graph")
    kmodel.compile(optimizer=keras.optimizers.SGD(0.125), loss="sparse_categorical_crossentropy")
    model = bridge.from_keras(kmodel)
    assert [layer.name for layer in model.layers] == keras_layer_names(kmodel) == ["c2", "c1", "add", "head"]
    assert model.get_layer("c1").regularizers["W"] == nn.regularizers.get("l1(l1=0.125)")
    for w, kw in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_array_equal(w, kw)
    X = np.random.default_rng(5).normal(size=(6, 5))
    np.testing.assert_allclose(model.predict(X), kmodel.predict(X, verbose=0), rtol=1e-12, atol=1e-15)
    assert model.losses == pytest.approx([float(v) for v in kmodel.losses], rel=1e-12)


def test_softmax_appended_after_every_output_keeps_the_order(bridge, keras, float64):
    """An output whose layer is not linear gets an Activation("softmax"); the other outputs then get a linear
    one, so that every depth grows by one and the get_weights order stays numpynet's."""
    inp = nn.Input((4,))
    h = Dense(5, activation="tanh")(inp)
    first = Dense(2, name="first")(h)
    second = Dense(3, activation="relu", name="second")(h)
    model = nn.Model(inp, [first, second], seed=6, dtype="float64")
    model.compile(optimizer="sgd(learning_rate=0.25)", loss=["mse", "softmax_cross_entropy"])
    kmodel = bridge.to_keras(model)
    assert keras_layer_names(kmodel) == ["dense", "first", "second", "first_linear", "second_softmax"]
    X = np.random.default_rng(8).normal(size=(7, 4))
    y = [np.random.default_rng(9).normal(size=(7, 2)), np.arange(7) % 3]
    table = bridge.compare(model, X, y, print_table=False)
    assert table.worst_rel < 1e-10, table.format()


def test_to_keras_refuses_a_weight_order_keras_would_not_share(bridge, keras, float64):
    model = residual_model()
    model.layers = model.layers[::-1]          # a numpynet order that is not Keras's
    with pytest.raises(SpecError, match="orders the weights of this graph differently"):
        bridge.to_keras(model)


def test_from_keras_rejects_nested_models_and_subclasses(bridge, keras, float64):
    inner_in = keras.Input((3,))
    inner = keras.Model(inner_in, keras.layers.Dense(3)(inner_in), name="inner")
    outer_in = keras.Input((3,))
    outer = keras.Model(outer_in, keras.layers.Dense(2)(inner(outer_in)))
    with pytest.raises(SpecError, match="nested model"):
        bridge.from_keras(outer)

    class Custom(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(SpecError, match="functional"):
        bridge.from_keras(Custom())


def test_compare_notes_arrays_that_are_zero_up_to_rounding(bridge, keras, float64):
    """A bias feeding a training-mode BatchNormalization has a zero gradient: after the step both sides hold
    rounding noise there, which compare notes instead of dividing one noise by the other."""
    from numpynet.layers import BatchNormalization
    inp = nn.Input((5,))
    x = BatchNormalization()(Dense(6, activation="tanh")(inp))
    x = BatchNormalization()(Dense(4, name="before_bn")(x))
    model = nn.Model(inp, Dense(3)(x), seed=4, dtype="float64")
    model.compile(optimizer="sgd(learning_rate=0.5)", loss="softmax_cross_entropy")
    X, y = blobs(n=16, d=5)
    table = bridge.compare(model, X, y, print_table=False)
    assert table["after step before_bn/b"]["note"] == "zero up to rounding"
    assert not table["after step before_bn/W"]["note"] and not table["grad before_bn/b"]["note"]
    assert table.worst_rel < 1e-10, table.format()


# ============================================================================================ the tables

# one non-default instance of every numpynet layer class of the layer table
TABLE_LAYERS = {
    "Dense": lambda L: L.Dense(3, activation="tanh", use_bias=False, kernel_initializer="he_normal",
                               kernel_regularizer="l2(l2=0.5)", kernel_constraint="non_neg"),
    "Activation": lambda L: L.Activation("relu"),
    "Flatten": lambda L: L.Flatten(),
    "Conv2D": lambda L: L.Conv2D(2, (3, 2), strides=(2, 1), padding="same", dilation_rate=1, activation="relu",
                                 bias_regularizer="l1(l1=0.25)"),
    "MaxPool2D": lambda L: L.MaxPool2D(pool_size=(2, 3), strides=(1, 2), padding="same"),
    "AveragePooling2D": lambda L: L.AveragePooling2D(pool_size=2, strides=1),
    "GlobalAveragePooling2D": lambda L: L.GlobalAveragePooling2D(keepdims=True),
    "BatchNormalization": lambda L: L.BatchNormalization(momentum=0.875, epsilon=0.0625, center=False,
                                                         gamma_regularizer="l2(l2=0.25)"),
    "Dropout": lambda L: L.Dropout(0.25, noise_shape=(None, 1, 4), seed=3),
    "AlphaDropout": lambda L: L.AlphaDropout(0.125, seed=2),
    "GaussianNoise": lambda L: L.GaussianNoise(0.5, seed=1),
    "GaussianDropout": lambda L: L.GaussianDropout(0.25, seed=4),
    "DepthwiseConv2D": lambda L: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                                   depthwise_constraint="max_norm(max_value=3.0)"),
    "SeparableConv2D": lambda L: L.SeparableConv2D(4, 3, activation="relu6", pointwise_initializer="lecun_normal"),
    "ZeroPadding2D": lambda L: L.ZeroPadding2D(((1, 0), (0, 2))),
    "ReLU": lambda L: L.ReLU(max_value=6.0, negative_slope=0.125, threshold=0.5),
    "Reshape": lambda L: L.Reshape((4, -1)),
    "Add": lambda L: L.Add(),
    "Subtract": lambda L: L.Subtract(),
    "Multiply": lambda L: L.Multiply(),
    "Average": lambda L: L.Average(),
    "Concatenate": lambda L: L.Concatenate(axis=1),
}


def test_the_layer_table_reads_both_ways():
    from numpynet.interop.keras_bridge import layers as table
    assert set(TABLE_LAYERS) == set(table._LAYERS)
    # one numpynet class per Keras class: no alias keys (they could never match type(layer).__name__)
    assert sorted(table._LAYERS_BACK.values()) == sorted(table._LAYERS)
    for name, (_, args) in table._LAYERS.items():
        layer = TABLE_LAYERS[name](nn.layers)
        assert type(layer).__name__ == name
        assert [key for key in args if not hasattr(layer, key)] == [], name


@pytest.mark.parametrize("name", sorted(TABLE_LAYERS))
def test_every_table_layer_converts_to_keras_and_back(bridge, keras, name):
    from numpynet.interop.keras_bridge import layers as table
    layer = TABLE_LAYERS[name](nn.layers)
    klayer = bridge.keras_layer(layer)
    assert type(klayer).__name__ == table._LAYERS[name][0]
    back = table._np_layer(klayer)
    assert type(back) is type(layer) and back.name == klayer.name
    for key in table._LAYERS[name][1]:
        ours, again = getattr(layer, key), getattr(back, key)
        if table._converters(key):
            assert str(again) == str(ours), (name, key)
        else:
            assert again == ours, (name, key)


def test_from_keras_names_an_unknown_layer(bridge, keras):
    kmodel = keras.Sequential([keras.Input((3, 4)), keras.layers.LayerNormalization(name="norm")])
    with pytest.raises(SpecError, match=r"layer 'norm \(LayerNormalization\)' is not supported.*supported: "
                                        r"Activation, .*MaxPooling2D"):
        bridge.from_keras(kmodel)


def test_from_keras_refuses_keras_only_options_that_are_on(bridge, keras):
    for klayer, option in [(keras.layers.Conv2D(4, 3, groups=2), "groups"),
                           (keras.layers.BatchNormalization(synchronized=True), "synchronized")]:
        kmodel = keras.Sequential([keras.Input((5, 5, 4)), klayer])
        with pytest.raises(SpecError, match=f"option {option}="):
            bridge.from_keras(kmodel)


def test_weightless_frozen_layer_and_keepdims_noise_shape_round_trip(bridge, keras, float64):
    from numpynet.layers import Conv2D, Dropout, GlobalAveragePooling2D
    model = nn.Sequential([Conv2D(4, 3, activation="relu"), Dropout(0.5, noise_shape=(None, 1, 1, 4)),
                           GlobalAveragePooling2D(keepdims=True), Flatten(), Dense(2)], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    X = np.random.default_rng(6).normal(size=(3, 5, 5, 2))
    model.build(X.shape)
    kmodel = bridge.to_keras(model)
    assert kmodel.layers[2].keepdims and tuple(kmodel.layers[1].noise_shape) == (None, 1, 1, 4)
    np.testing.assert_allclose(kmodel.predict(X, verbose=0), model.predict(X), rtol=1e-12)
    kmodel.layers[3].trainable = False          # Flatten has no weights: nothing to freeze, nothing refused
    back = bridge.from_keras(kmodel)
    assert back.layers[2].keepdims and back.layers[1].noise_shape == (None, 1, 1, 4)
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-12)


def test_keras_dtype_restores_a_mixed_policy(bridge, keras):
    with bridge.keras_dtype("float32"):
        keras.config.set_dtype_policy("mixed_float16")
        with bridge.keras_dtype("float64"):
            assert keras.layers.Dense(2).dtype_policy.name == "float64"
        assert keras.config.dtype_policy().name == "mixed_float16" and keras.config.floatx() == "float32"
    assert keras.config.dtype_policy().name != "mixed_float16"


def test_the_bridge_uses_no_private_keras_module():
    import pathlib
    package = pathlib.Path(nn.__file__).parent / "interop" / "keras_bridge"
    for path in package.glob("*.py"):
        assert "keras.src" not in path.read_text(), path.name
