"""The functional API: graphs, merge layers, shared layers, Keras's layer order, errors, save/load."""

import numpy as np
import pytest

import numpynet as nn
from numpynet.errors import DataError, ShapeError, SpecError
from numpynet.gradcheck import check_layer, check_model
from numpynet.layers import Add, Average, Concatenate, Dense, Multiply, Subtract

L = nn.layers


def data(n=16, d=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, rng.integers(0, classes, n)


def residual_model(seed=0, dtype="float64", reg="l2(l2=0.01)"):
    inp = nn.Input((4,))
    h = Dense(5, activation="tanh", kernel_regularizer=reg)(inp)
    skip = Dense(5, kernel_regularizer="l1(l1=0.01)")(inp)
    y = Add()([h, skip])
    y = Dense(5, activation="elu")(y)
    y = Concatenate()([y, Multiply()([h, skip]), Subtract()([h, skip]), Average()([h, y])])
    out = Dense(3)(y)
    model = nn.Model(inputs=inp, outputs=out, seed=seed, dtype=dtype)
    model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy", metrics=["accuracy"])
    return model


# ------------------------------------------------------------------------------------------------ merge layers

@pytest.mark.parametrize("layer, k", [(Add(), 2), (Add(), 3), (Subtract(), 2), (Multiply(), 2), (Multiply(), 3),
                                      (Average(), 3), (Concatenate(), 2), (Concatenate(axis=1), 3)])
def test_merge_layer_gradients(layer, k):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((4, 3, 5)) for _ in range(k)]
    assert check_layer(layer, xs) < 1e-7


def test_merge_layer_forward_formulas():
    a, b, c = (np.arange(6.0).reshape(2, 3) + i for i in range(3))
    np.testing.assert_allclose(Add()([a, b, c]), a + b + c)
    np.testing.assert_allclose(Subtract()([a, b]), a - b)
    np.testing.assert_allclose(Multiply()([a, b, c]), a * b * c)
    np.testing.assert_allclose(Average()([a, b, c]), (a + b + c) / 3)
    np.testing.assert_allclose(Concatenate()([a, b]), np.concatenate([a, b], axis=-1))


def test_merge_shape_errors_name_layer_and_shapes_when_the_graph_is_written():
    x, y = nn.Input((8, 8, 16)), nn.Input((8, 8, 24))
    with pytest.raises(ShapeError, match=r"Add.*\(batch, 8, 8, 16\), \(batch, 8, 8, 24\)"):
        Add(name="shortcut")([x, y])
    with pytest.raises(ShapeError, match="Concatenate.*other axes must match"):
        Concatenate(axis=-1)([x, nn.Input((8, 4, 24))])
    assert Concatenate()([x, y]).shape == (None, 8, 8, 40)
    with pytest.raises(ShapeError, match="exactly 2"):
        Subtract()([x, x, x])
    with pytest.raises(ShapeError, match="at least 2 inputs, got 1"):
        Add()(x)


def test_wrong_rank_fails_when_the_graph_is_written_or_the_model_is_made():
    inp = nn.Input((8,))
    with pytest.raises(ShapeError, match=r"Conv2D.*\(batch, 8\)"):
        out = L.Conv2D(4, 3)(inp)
        nn.Model(inp, out)


# ------------------------------------------------------------------------------------------------ graphs

def test_residual_graph_gradients_match_central_differences():
    X, y = data()
    model = residual_model()
    assert check_model(model, X, y) < 1e-6


def test_shared_layer_shares_weights_and_its_gradients_add_up():
    shared = Dense(4, activation="tanh", name="shared")
    inp = nn.Input((4,))
    out = Dense(3)(Add()([shared(inp), shared(shared(inp))]))
    model = nn.Model(inp, out, seed=0, dtype="float64")
    model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy")
    assert [layer.name for layer in model.layers].count("shared") == 1
    assert model.count_params() == 4 * 4 + 4 + 4 * 3 + 3
    X, y = data()
    assert check_model(model, X, y) < 1e-6
    # the same function written without sharing (a copy with equal weights) gives the same outputs
    before = model.predict(X)
    W, b = shared.get_weights()
    h = np.tanh(X @ W + b)
    z = (h + np.tanh(h @ W + b)) @ model.layers[-1].params["W"] + model.layers[-1].params["b"]
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(before, p / p.sum(1, keepdims=True), rtol=1e-10)


def test_keras_layer_order_deepest_first_then_walk_order():
    # measured in Keras 3: Add()([c2(x), c1(x)]) lists c2 before c1
    x = nn.Input((3,))
    c1, c2 = Dense(2, name="c1"), Dense(2, name="c2")
    a, b = c1(x), c2(x)
    model = nn.Model(x, Add(name="add")([b, a]))
    assert [layer.name for layer in model.layers] == ["c2", "c1", "add"]
    # branches long1 -> long2 and short: the long branch's first layer is deepest
    x = nn.Input((3,))
    long1, long2, short = Dense(2, name="long1"), Dense(2, name="long2"), Dense(2, name="short")
    l2, s = long2(long1(x)), short(x)
    assert [lyr.name for lyr in nn.Model(x, Add(name="a1")([s, l2])).layers] == ["long1", "short", "long2", "a1"]
    assert [lyr.name for lyr in nn.Model(x, Add(name="a2")([l2, s])).layers] == ["long1", "long2", "short", "a2"]


def test_three_hundred_layer_chain_needs_no_recursion():
    x = inp = nn.Input((3,))
    for _ in range(300):
        x = Dense(3, activation="tanh", kernel_initializer="orthogonal")(x)
    model = nn.Model(inp, x, seed=0)
    model.compile(optimizer="sgd(lr=0.01)", loss="mse")
    X = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    loss, grads = model.compute_gradients(X, X)
    assert np.isfinite(loss) and len(grads) == 600 and all(np.isfinite(g).all() for g in grads)


def test_forward_releases_every_intermediate_array_after_its_last_reader():
    model = residual_model()
    released = [s for step in model._steps for s in step.release]
    assert len(released) == len(set(released))
    assert set(released) == set(range(model._n_slots)) - set(model._output_slots)


def test_multi_input_multi_output_fit_evaluate_predict():
    rng = np.random.default_rng(0)
    a, b = nn.Input((4,), name="a"), nn.Input((2,), name="b")
    h = Concatenate()([Dense(6, activation="relu")(a), b])
    cls, reg = Dense(3, name="cls")(h), Dense(1, name="reg")(h)
    model = nn.Model([a, b], [cls, reg], seed=0)
    model.compile(optimizer="adam(lr=0.01)", loss=["softmax_cross_entropy", "mse"], metrics=["accuracy"])
    Xa, Xb = rng.standard_normal((64, 4)), rng.standard_normal((64, 2))
    yc, yr = (Xa[:, 0] > 0).astype(int), Xb[:, :1]
    hist = model.fit([Xa, Xb], [yc, yr], epochs=30, batch_size=16, verbose=0, validation_data=([Xa, Xb], [yc, yr]))
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert "cls_accuracy" in hist.history and "val_reg_accuracy" in hist.history
    p, r = model.predict({"a": Xa, "b": Xb})
    assert p.shape == (64, 3) and r.shape == (64, 1)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    res = model.evaluate([Xa, Xb], [yc, yr])
    assert res["cls_accuracy"] > 0.8
    with pytest.raises(DataError, match="2 inputs"):
        model.predict(Xa)


def test_model_losses_lists_each_penalty_in_keras_order():
    model = residual_model()
    W0, W1 = model.layers[0].params["W"], model.layers[1].params["W"]
    assert model.layers[0].name == "dense" and model.layers[1].name == "dense_1"
    np.testing.assert_allclose(model.losses, [0.01 * np.sum(W0 ** 2), 0.01 * np.sum(np.abs(W1))])
    X, y = data()
    total = model.compute_loss(X, y)
    data_only = residual_model(reg=None)
    data_only.set_weights(model.get_weights())
    assert total == pytest.approx(data_only.compute_loss(X, y) + 0.01 * np.sum(W0 ** 2), rel=1e-12)


def test_model_call_and_layer_call_on_arrays():
    model = residual_model()
    X, _ = data()
    np.testing.assert_allclose(model(X[:8], training=False), model.predict(X[:8]))
    dense = Dense(2, seed=0)
    out = dense(np.ones((3, 4)))
    assert out.shape == (3, 2) and dense.built and out.dtype == np.float64


def test_graph_errors():
    a, b = nn.Input((4,)), nn.Input((4,))
    out = Dense(2)(Add()([a, b]))
    with pytest.raises(SpecError, match="not in inputs"):
        nn.Model(a, out)
    with pytest.raises(SpecError, match="not connected"):
        nn.Model([a, b, nn.Input((4,))], out)
    with pytest.raises(SpecError, match="both named 'twin'"):
        nn.Model(a, Dense(2, name="twin")(Dense(2, name="twin")(a)))
    with pytest.raises(SpecError, match="inputs"):
        nn.Model(outputs=out)
    with pytest.raises(SpecError, match="symbolic tensor"):
        nn.Model(np.ones((2, 4)), out)
    with pytest.raises(SpecError, match="one input"):
        Dense(2)([a, b])


def test_sequential_with_input_or_input_shape_is_built_at_once():
    s1 = nn.Sequential([nn.Input((4,)), Dense(3)], seed=0)
    s2 = nn.Sequential([Dense(3, input_shape=(4,))], seed=0)
    for s in (s1, s2):
        assert s.built and s.input_shape == (None, 4) and s.count_params() == 15
    np.testing.assert_array_equal(s1.get_weights()[0], s2.get_weights()[0])
    with pytest.raises(SpecError, match="input_shape"):
        Dense(3, input_shape="four")
    with pytest.raises(SpecError, match="several inputs"):
        nn.Sequential([Add()])


def test_save_load_round_trip_of_a_graph(tmp_path):
    model = residual_model(dtype="float32")
    X, y = data()
    model.fit(X, y, epochs=2, verbose=0)
    model.save(tmp_path / "g.npz")
    loaded = nn.load_model(tmp_path / "g.npz")
    assert isinstance(loaded, nn.Model) and [lyr.name for lyr in loaded.layers] == [lyr.name for lyr in model.layers]
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)
    assert loaded.optimizer.iterations == model.optimizer.iterations


def test_shared_and_multi_output_graph_round_trip(tmp_path):
    shared = Dense(3, name="shared")
    a, b = nn.Input((3,), name="a"), nn.Input((3,), name="b")
    out1, out2 = Dense(2, name="o1")(shared(a)), Dense(1, name="o2")(shared(b))
    model = nn.Model([a, b], [out1, out2], seed=0)
    model.compile(loss=["softmax_cross_entropy", "mse"])
    model.save(tmp_path / "s.npz")
    loaded = nn.load_model(tmp_path / "s.npz")
    X = [np.ones((2, 3)), np.zeros((2, 3))]
    for got, want in zip(loaded.predict(X), model.predict(X)):
        np.testing.assert_allclose(got, want)


@nn.layers.register("times_two_test")
class TimesTwo(nn.layers.Layer):
    """y = 2x, dx = 2dy: a user layer registered by name."""

    def __init__(self, name=None):
        super().__init__(name=name)

    def forward(self, x, training=False):
        return 2 * x

    def backward(self, dy):
        return 2 * dy


class Shift(nn.layers.Layer):
    """y = x + c (not registered: loaded through custom_objects)."""

    def __init__(self, c=1.0, name=None):
        super().__init__(name=name)
        self.c = c

    def forward(self, x, training=False):
        return x + self.c

    def backward(self, dy):
        return dy


def test_user_layers_round_trip_by_registry_or_custom_objects(tmp_path):
    inp = nn.Input((3,))
    model = nn.Model(inp, Dense(2)(Shift(0.5)(TimesTwo()(inp))), seed=0)
    model.compile(loss="mse")
    model.save(tmp_path / "u.npz")
    with pytest.raises(SpecError, match="custom_objects"):
        nn.load_model(tmp_path / "u.npz")
    loaded = nn.load_model(tmp_path / "u.npz", custom_objects={"Shift": Shift})
    X = np.ones((2, 3))
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    assert isinstance(loaded.layers[0], TimesTwo) and loaded.layers[1].c == 0.5
    with pytest.raises(SpecError, match="Layer subclass"):
        nn.load_model(tmp_path / "u.npz", custom_objects={"Shift": print})


def test_inference_batch_bounds_the_cached_outputs_of_big_conv_nets():
    from numpynet.model import INFERENCE_BATCH, INFERENCE_MEMORY
    small = residual_model()
    assert small._inference_batch() == INFERENCE_BATCH
    mobile = nn.applications.mobilenet_v2(input_shape=(32, 32, 1), classes=10, width=0.5, seed=0)
    per_image = sum(2 * np.prod(step.layer.output_shape[1:]) * 4 for step in mobile._steps)
    assert mobile._inference_batch() < INFERENCE_BATCH
    assert mobile._inference_batch() * per_image <= INFERENCE_MEMORY
    X = np.random.default_rng(0).random((40, 32, 32, 1))
    np.testing.assert_allclose(mobile.predict(X), mobile.predict(X, batch_size=7), rtol=1e-5, atol=1e-6)
