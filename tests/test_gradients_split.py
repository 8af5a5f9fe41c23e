"""compute_gradients(split=True): the data and penalty parts of the gradient, for every layer type and every kind of
penalty (kernel, bias, activity), in float64.

For each model of the sweep below:

* ``total`` is ``data + penalty`` exactly (that very addition);
* ``total`` equals the unsplit ``compute_gradients`` within 1e-12 relative (the two differ only in the order of
  additions: the unsplit pass adds the activity gradient to dL/dy before backpropagating);
* weights without any penalty upstream of them get a penalty part that is exactly zero;
* on small networks the two parts are checked separately against central differences of the data loss and of the
  penalty.
"""

import numpy as np
import pytest

import numpynet as nn
from numpynet.gradcheck import numerical_gradient, relative_error
from numpynet.layers import (
    Activation,
    Add,
    AlphaDropout,
    Average,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    GlobalAveragePooling2D,
    MaxPool2D,
    Multiply,
    ReLU,
    Reshape,
    SeparableConv2D,
    Subtract,
    ZeroPadding2D,
)

RTOL = 1e-12


def compiled(model):
    model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy")
    return model


def tabular(n=12, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, k, n)


def images(n=6, size=8, channels=2, k=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, size, size, channels)), rng.integers(0, k, n)


# ---------------------------------------------------------------------------------------------------- the sweep

def dense_every_penalty():
    return compiled(nn.Sequential([
        Dense(7, activation="tanh", kernel_regularizer="l2(lambd=0.1)", bias_regularizer="l1(lambd=0.05)",
              activity_regularizer="l2(l2=0.01)"),
        Dense(6, activation="sigmoid", kernel_regularizer="l1l2(l1=0.01, l2=0.02)", bias_regularizer="l2(l2=0.03)",
              activity_regularizer="l1(l1=0.02)"),
        Activation("elu", activity_regularizer="l1l2(l1=0.01, l2=0.01)"),
        Dense(3, kernel_regularizer="l1(l1=0.02)"),
    ], seed=0, dtype="float64")), tabular


def conv_and_pooling():
    return compiled(nn.Sequential([
        Conv2D(3, 3, padding="same", activation="relu", kernel_regularizer="l2(l2=0.01)",
               bias_regularizer="l1(l1=0.01)", activity_regularizer="l2(l2=0.001)"),
        MaxPool2D(2),
        Conv2D(4, 2, activation="tanh", kernel_regularizer="l1(l1=0.01)"),
        AveragePooling2D(2, padding="same"),
        Flatten(),
        Dense(3, kernel_regularizer="l2(lambd=0.1)", bias_regularizer="l2(l2=0.1)"),
    ], seed=1, dtype="float64")), images


def mobilenet_parts():
    return compiled(nn.Sequential([
        ZeroPadding2D(1),
        Conv2D(4, 3, strides=2, use_bias=False, kernel_regularizer="l2(l2=0.01)"),
        BatchNormalization(gamma_regularizer="l2(l2=0.05)", beta_regularizer="l1(l1=0.05)"),
        ReLU(6.0, activity_regularizer="l1(l1=0.001)"),
        DepthwiseConv2D(3, padding="same", depthwise_regularizer="l1(l1=0.01)", bias_regularizer="l2(l2=0.01)"),
        ReLU(negative_slope=0.1, threshold=0.05),
        SeparableConv2D(5, 3, padding="same", depthwise_regularizer="l2(l2=0.01)",
                        pointwise_regularizer="l1l2(l1=0.01, l2=0.01)", bias_regularizer="l1(l1=0.01)"),
        GlobalAveragePooling2D(),
        Dense(3, kernel_regularizer="l2(l2=0.01)"),
    ], seed=2, dtype="float64")), images


def merge_graph():
    inp = nn.Input((6,))
    shared = Dense(5, activation="tanh", kernel_regularizer="l2(lambd=0.2)", activity_regularizer="l2(l2=0.01)")
    a = shared(inp)
    b = shared(Dense(6, activation="sigmoid", bias_regularizer="l1(l1=0.05)")(inp))
    c = Dense(5, kernel_regularizer="l1(l1=0.02)")(inp)
    added = Add()([a, b])
    merged = Concatenate()([Subtract()([added, c]), Multiply()([a, c]), Average()([b, c])])
    reshaped = Flatten()(Reshape((3, 5))(merged))
    out = Dense(3, kernel_regularizer="l1l2(l1=0.01, l2=0.01)")(reshaped)
    return compiled(nn.Model(inp, out, seed=3, dtype="float64")), tabular


def noise_layers():
    return compiled(nn.Sequential([
        Dense(8, activation="selu", kernel_regularizer="l2(lambd=0.1)", activity_regularizer="l2(l2=0.01)"),
        AlphaDropout(0.2, seed=5),
        Dense(8, activation="relu", bias_regularizer="l2(l2=0.1)"),
        Dropout(0.3, seed=6),
        GaussianNoise(0.1, seed=7),
        Dense(6, activation="tanh", kernel_regularizer="l1(lambd=0.01)"),
        GaussianDropout(0.2, seed=8),
        Dense(3, kernel_regularizer="l2(l2=0.05)"),
    ], seed=4, dtype="float64")), tabular


SWEEP = {"dense_every_penalty": dense_every_penalty, "conv_and_pooling": conv_and_pooling,
         "mobilenet_parts": mobilenet_parts, "merge_graph": merge_graph, "noise_layers": noise_layers}


def random_states(model):
    """Snapshot of every generator a pass may draw from, and a function that puts them back: the split and the
    unsplit pass must see the same dropout masks."""
    gens = {id(g): g for g in (getattr(step.layer, "_rng", None) for step in model._steps) if g is not None}
    states = {k: g.bit_generator.state for k, g in gens.items()}

    def restore():
        for k, g in gens.items():
            g.bit_generator.state = states[k]
    return restore


def rel(a, b):
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-300)
    return float(np.max(np.abs(a - b))) / scale if a.size else 0.0


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("name", list(SWEEP))
def test_split_adds_up_and_matches_the_unsplit_gradient(name, training):
    model, data = SWEEP[name]()
    X, y = data()
    model.build(X.shape)
    weights = model.get_weights()
    restore = random_states(model)
    total_loss, unsplit = model.compute_gradients(X, y, training=training)
    model.set_weights(weights)       # BatchNormalization's moving statistics move in training mode
    restore()
    parts = model.compute_gradients(X, y, training=training, split=True)
    assert set(parts) == {"data", "penalty", "total"}
    for key in parts:
        assert [g.shape for g in parts[key]] == [w.shape for w in weights]
        assert all(g.dtype == np.float64 for g in parts[key])
    for wname, d, p, t, u in zip(model.weight_names(), parts["data"], parts["penalty"], parts["total"], unsplit):
        assert np.array_equal(d + p, t), f"{name}: {wname}: total is not data + penalty"
        assert rel(t, u) <= RTOL, f"{name}: {wname}: split total differs from the unsplit gradient by {rel(t, u):.2e}"
    # every model of the sweep has penalties that reach some weights
    assert any(np.any(p != 0) for p in parts["penalty"])
    assert any(np.any(d != 0) for d in parts["data"])


def test_no_penalty_means_an_exactly_zero_penalty_part():
    X, y = tabular()
    model = compiled(nn.Sequential([Dense(5, activation="relu"), Dense(3)], seed=0, dtype="float64"))
    parts = model.compute_gradients(X, y, split=True)
    assert all(np.all(p == 0) for p in parts["penalty"])
    assert all(np.array_equal(d, t) for d, t in zip(parts["data"], parts["total"]))


def test_weight_penalties_touch_only_their_own_weight_activity_penalties_flow_backwards():
    X, y = tabular()
    model = compiled(nn.Sequential([
        Dense(5, activation="tanh"),                                         # no penalty of its own
        Dense(4, activation="tanh", activity_regularizer="l2(l2=0.1)"),       # penalizes its output
        Dense(3, kernel_regularizer="l2(lambd=0.1)"),
    ], seed=0, dtype="float64"))
    penalty = model.compute_gradients(X, y, split=True)["penalty"]
    parts = dict(zip(model.weight_names(), penalty))
    assert len(penalty) == 6
    W3 = model.get_layer("dense_2").params["W"]
    np.testing.assert_array_equal(parts["dense_2/W"], 0.1 * W3)      # ½λΣw² → λ·W, nothing else
    assert np.all(parts["dense_2/b"] == 0)
    # the activity penalty of dense_1's output reaches dense_1's and dense's weights through backpropagation
    for key in ("dense/W", "dense/b", "dense_1/W", "dense_1/b"):
        assert np.any(parts[key] != 0), key


@pytest.mark.parametrize("name", ["dense_every_penalty", "merge_graph"])
def test_each_part_matches_central_differences_of_its_own_loss(name):
    """g_data = ∂(data loss)/∂W and g_penalty = ∂(weight + activity penalties)/∂W, each on its own."""
    model, data = SWEEP[name]()
    X, y = data()
    parts = model.compute_gradients(X, y, split=True)

    def data_loss():
        return model.evaluate(X, y, batch_size=len(X))["data_loss"]

    def penalty():
        return model.evaluate(X, y, batch_size=len(X))["reg_loss"]

    slots = [(layer, key) for layer in model.layers for key in layer.params]
    for (layer, key), d, p in zip(slots, parts["data"], parts["penalty"]):
        w = layer.params[key]
        err_d = relative_error(d, numerical_gradient(data_loss, w))
        num_p = numerical_gradient(penalty, w)
        err_p = relative_error(p, num_p) if np.any(num_p != 0) or np.any(p != 0) else 0.0
        assert err_d < 1e-6, f"{layer.name}/{key}: data part off by {err_d:.2e}"
        assert err_p < 1e-6, f"{layer.name}/{key}: penalty part off by {err_p:.2e}"


def test_split_does_not_change_the_weights_and_works_in_float32():
    X, y = tabular()
    model = compiled(nn.Sequential([Dense(5, activation="tanh", kernel_regularizer="l1(l1=0.01)",
                                          activity_regularizer="l2(l2=0.01)"),
                                    BatchNormalization(), Dense(3)], seed=0, dtype="float32"))
    model.build(X.shape)
    before = model.get_weights()
    parts = model.compute_gradients(X, y, split=True, training=True)
    # trainable weights unchanged (moving statistics move in training mode, as in every training-mode pass)
    for name, w, w0 in zip(model.weight_names(), model.get_weights(), before):
        if "moving" not in name:
            np.testing.assert_array_equal(w, w0)
    assert all(g.dtype == np.float32 for g in parts["total"])
    assert all(np.array_equal(d + p, t) for d, p, t in zip(parts["data"], parts["penalty"], parts["total"]))
