"""Keras 3 parity of the split gradient: ``compute_gradients(X, y, split=True)`` against ``tf.GradientTape`` over the
data loss and over ``sum(model.losses)`` separately (float64, relative 1e-9).

Each numpynet model gets its Keras twin from ``numpynet.keras_bridge.to_keras`` (same layers, same weights). On the
Keras side, in one persistent tape::

    data    = loss(y, kmodel(X, training))        the compiled loss: mean over the batch
    penalty = Σ kmodel.losses                       kernel, bias and activity penalties (activity ones / N)

and ``tape.gradient(data, w)``, ``tape.gradient(penalty, w)`` (zero where a weight has no penalty upstream) are
compared with numpynet's ``data`` and ``penalty`` parts, weight by weight, as max|a − b| / max|b| — with a floor
of 1e-6 of the largest gradient, so that an array that is zero in exact arithmetic (rounding noise on both sides)
is not divided by its own noise. Regularization factors are powers of two (Keras passes them through float32).

TensorFlow is optional: without it this module is skipped, unless ``NUMPYNET_REQUIRE_TF=1``.
"""

import numpy as np
import pytest
from tf_parity_common import rel_diff, tf  # skips the module without TensorFlow; sets the device

import numpynet as nn
from numpynet.keras_bridge import keras_dtype, keras_loss, to_keras
from numpynet.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    GlobalAveragePooling2D,
    MaxPool2D,
    SeparableConv2D,
)

TOL = 1e-9
#: family -> {"float64": worst relative difference}; printed by tests/conftest.py
PARITY_WORST = {}


@pytest.fixture(autouse=True)
def float64():
    with keras_dtype("float64"):
        yield


def check(family, ours, theirs, what, floor=0.0):
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    r = rel_diff(a, b) if scale >= floor else float(np.max(np.abs(a - b))) / floor
    slot = PARITY_WORST.setdefault(family, {})
    slot["float64"] = max(slot.get("float64", 0.0), r)
    assert r < TOL, f"{family} {what}: relative difference {r:.3e} >= {TOL:g}"


def dense_model():
    model = nn.Sequential([
        Dense(7, activation="tanh", kernel_regularizer="l2(lambd=0.25)", bias_regularizer="l1(l1=0.125)",
              activity_regularizer="l2(l2=0.0625)"),
        Dense(6, activation="sigmoid", kernel_regularizer="l1l2(l1=0.0625, l2=0.125)",
              activity_regularizer="l1(l1=0.03125)"),
        Dense(5, activation="relu", bias_regularizer="l2(l2=0.5)"),
        Dense(3, kernel_regularizer="l1(l1=0.0625)"),
    ], seed=0, dtype="float64")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 6)), rng.integers(0, 3, 16)
    return model, X, y


def conv_model():
    model = nn.Sequential([
        Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer="l2(l2=0.0625)",
               bias_regularizer="l1(l1=0.0625)", activity_regularizer="l2(l2=0.0078125)"),
        BatchNormalization(gamma_regularizer="l2(l2=0.125)", beta_regularizer="l1(l1=0.125)"),
        MaxPool2D(2),
        DepthwiseConv2D(3, padding="same", activation="tanh", depthwise_regularizer="l1(l1=0.03125)"),
        SeparableConv2D(5, 3, padding="same", depthwise_regularizer="l2(l2=0.0625)",
                        pointwise_regularizer="l1l2(l1=0.03125, l2=0.0625)", bias_regularizer="l2(l2=0.25)"),
        GlobalAveragePooling2D(),
        Dense(3, kernel_regularizer="l2(lambd=0.125)"),
    ], seed=1, dtype="float64")
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(6, 8, 8, 2)), rng.integers(0, 3, 6)
    return model, X, y


def graph_model():
    inp = nn.Input((6,))
    h = Dense(5, activation="tanh", kernel_regularizer="l2(lambd=0.25)", activity_regularizer="l2(l2=0.0625)")(inp)
    g = Dense(5, activation="elu", bias_regularizer="l1(l1=0.125)")(inp)
    s = nn.layers.Add()([h, g])
    out = Dense(3, kernel_regularizer="l1l2(l1=0.0625, l2=0.0625)")(nn.layers.Concatenate()([s, h]))
    model = nn.Model(inp, out, seed=2, dtype="float64")
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(12, 6)), rng.integers(0, 3, 12)
    return model, X, y


MODELS = {"dense": dense_model, "conv_bn_depthwise_separable": conv_model, "graph": graph_model}


def keras_split(kmodel, kloss, X, y, training):
    """(data loss, penalty, data gradients, penalty gradients), gradients in get_weights() order (zeros for the
    non-trainable moving statistics and for weights no penalty reaches)."""
    with tf.GradientTape(persistent=True) as tape:
        out = kmodel(tf.constant(X), training=training)
        data = kloss(tf.constant(y), out)
        penalty = tf.add_n(list(kmodel.losses))
    variables = kmodel.trainable_weights
    gd = dict(zip([v.path for v in variables], tape.gradient(data, variables)))
    gp = dict(zip([v.path for v in variables], tape.gradient(penalty, variables)))
    del tape

    def ordered(grads):
        # None: the weight does not reach that loss (no penalty on it or after it)
        return [grads[v.path].numpy() if grads.get(v.path) is not None else np.zeros(v.shape)
                for v in kmodel.weights]
    return float(data), float(penalty), ordered(gd), ordered(gp)


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("name", list(MODELS))
def test_split_gradients_match_keras(name, training):
    model, X, y = MODELS[name]()
    model.compile(optimizer="sgd(lr=0.125)", loss="softmax_cross_entropy")
    model.build(X.shape)
    kmodel = to_keras(model, compile=False)
    weights = model.get_weights()
    parts = model.compute_gradients(X, y, split=True, training=training)
    model.set_weights(weights)
    result = model.evaluate(X, y, batch_size=len(X)) if not training else None
    kdata, kpenalty, kgd, kgp = keras_split(kmodel, keras_loss(model.loss, dtype="float64"), X, y, training)
    family = f"split_gradients_{name}"
    if result is not None:       # the losses themselves (inference mode: evaluate's pass is the same)
        check(family, result["data_loss"], kdata, "data loss")
        check(family, result["reg_loss"], kpenalty, "penalty")
    floor_d = 1e-6 * max(float(np.max(np.abs(g))) for g in kgd)
    floor_p = 1e-6 * max(float(np.max(np.abs(g))) for g in kgp)
    for wname, d, p, t, kd, kp in zip(model.weight_names(), parts["data"], parts["penalty"], parts["total"],
                                      kgd, kgp):
        check(family, d, kd, f"data gradient of {wname}", floor=floor_d)
        check(family, p, kp, f"penalty gradient of {wname}", floor=floor_p)
        assert np.array_equal(d + p, t)
    assert any(np.any(g != 0) for g in kgp)
