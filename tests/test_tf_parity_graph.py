"""Keras 3 parity for functional graphs (float64, relative 1e-6; measured around 1e-15).

* Layer order: Keras lists a functional model's layers — and so its get_weights() — by depth from the outputs,
  not by creation (KERAS_NOTES, "Functional models and the MobileNetV2 layers"). The same graphs are written
  with ``nn.Input``/``nn.layers`` and with ``keras.Input``/``keras.layers`` and both orders must agree: layer
  names, and the shapes of get_weights().
* A small MobileNetV2-like network (stem conv stride 2 → BN → ReLU6, a stride-2 bottleneck with
  ZeroPadding2D(((0, 1), (0, 1))) + DepthwiseConv2D "valid" stride 2, a residual bottleneck with Add, L1 and L2
  penalties, global average pooling, Dense) is written by hand on both sides — not through keras_bridge, which
  tests/test_keras_bridge.py checks on its own. Our weights are copied into Keras with set_weights; then the
  loss, every entry of ``model.losses``, every gradient (training-mode BatchNormalization; Keras's through
  ``tf.GradientTape`` over the loss plus ``sum(model.losses)``), and five training steps with SGD (momentum 0.9)
  and with Adam (``train_on_batch`` on both sides, weights compared after every step).
* The full ``nn.applications.mobilenet_v2(input_shape=(32, 32, 1), classes=10)`` against its Keras twin built
  by ``keras_bridge.to_keras``: parameter count, forward pass in inference and in training mode.

Hyper-parameters are float32 numbers (0.9 and 0.999 as ``float(np.float32(...))``): Keras passes Python floats
through float32 even for float64 weights (KERAS_NOTES), so other values would differ by ~1e-8 by construction.
Worst relative differences are recorded in ``PARITY_WORST`` (printed by tests/conftest.py).
"""

import numpy as np
import pytest
from tf_parity_common import keras, rel_diff, tf  # skips the module without TensorFlow; sets the device

import numpynet as nn

TOL = 1e-6
#: family -> {"float64": worst relative difference}; printed by tests/conftest.py
PARITY_WORST = {}


def f32(value):
    """``value`` rounded to float32 (as Keras stores a Python-float hyper-parameter), as a Python float."""
    return float(np.float32(value))


@pytest.fixture(autouse=True)
def float64():
    # floatx *and* Keras's cached global dtype policy: set_floatx alone leaves the policy of the first layer built
    from numpynet.keras_bridge import keras_dtype
    with keras_dtype("float64"):
        yield


def check(family, ours, theirs, what, floor=0.0):
    """Relative difference max|a − b| / max(max|b|, floor) below TOL, recorded for the summary."""
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    r = rel_diff(a, b) if scale >= floor else float(np.max(np.abs(a - b))) / floor
    slot = PARITY_WORST.setdefault(family, {})
    slot["float64"] = max(slot.get("float64", 0.0), r)
    assert r < TOL, f"{family} {what}: relative difference {r:.3e} >= {TOL:g}"


def check_all(family, names, ours, theirs, what):
    """``check`` for every array of a model (weights, or gradients), each relative to its own scale, but to
    no less than 1e-6 of the largest of them: an array that is zero in exact arithmetic — the gradient of a bias
    followed by training-mode BatchNormalization, the moving mean of a BatchNormalization whose input has zero
    batch mean — is rounding noise on both sides (~1e-17), not a scale to divide by."""
    floor = 1e-6 * max(float(np.max(np.abs(np.asarray(t)))) for t in theirs)
    for name, a, b in zip(names, ours, theirs):
        check(family, a, b, f"{what} {name}", floor=floor)


# ============================================================================================ layer order
#
# Each builder writes one graph with a given API: ``Input`` makes an input, ``L`` is the layers module
# (numpynet.layers or keras.layers, whose constructors take the same arguments here). Every layer is named so
# that the two sides can be compared name by name.

def siblings_in_a_merge(Input, L):
    """KERAS_NOTES: ``Add()([c2(x), c1(x)])`` lists c2 before c1 although c1 was created first."""
    x = Input((5,), name="x")
    c1, c2 = L.Dense(3, name="c1"), L.Dense(3, name="c2")
    return x, L.Add(name="add")([c2(x), c1(x)])


def short_branch_first(Input, L):
    """KERAS_NOTES: branches long1 → long2 and short; ``Add()([short, long2])`` lists long1, short, long2."""
    x = Input((4,), name="x")
    long2 = L.Dense(3, name="long2")(L.Dense(3, name="long1")(x))
    short = L.Dense(3, name="short")(x)
    return x, L.Add(name="add")([short, long2])


def long_branch_first(Input, L):
    """KERAS_NOTES: ``Add()([long2, short])`` lists long1, long2, short."""
    x = Input((4,), name="x")
    long2 = L.Dense(3, name="long2")(L.Dense(3, name="long1")(x))
    short = L.Dense(3, name="short")(x)
    return x, L.Add(name="add")([long2, short])


def two_inputs_two_outputs(Input, L):
    """Two inputs of different depth to the outputs, a Concatenate, a Subtract and two heads."""
    a, b = Input((4,), name="a"), Input((6,), name="b")
    ha = L.Dense(5, name="ha2")(L.Dense(5, name="ha1")(a))
    hb = L.Dense(5, name="hb")(b)
    joined = L.Concatenate(name="concat")([hb, ha])
    out1 = L.Dense(2, name="head1")(joined)
    out2 = L.Dense(3, name="head2")(L.Subtract(name="sub")([ha, hb]))
    return [a, b], [out2, out1]


def shared_layer_at_two_depths(Input, L):
    """One Dense called twice (depths 2 and 0 of its calls: Keras keeps the deepest), next to a branch."""
    x = Input((4,), name="x")
    shared = L.Dense(4, name="shared")
    side = L.Dense(4, name="side")(x)
    y = L.Dense(4, name="mid")(shared(x))
    return x, shared(L.Multiply(name="mul")([y, side]))


def conv_bn_residual(Input, L):
    """A residual block of the MobileNetV2 kind: Conv2D + BatchNormalization on both paths, ReLU, Add."""
    x = Input((6, 6, 2), name="image")
    stem = L.BatchNormalization(name="stem_bn")(L.Conv2D(4, 3, padding="same", name="stem")(x))
    y = L.ReLU(max_value=6.0, name="relu")(L.BatchNormalization(name="bn1")(L.Conv2D(4, 1, name="expand")(stem)))
    y = L.BatchNormalization(name="bn2")(L.Conv2D(4, 1, use_bias=False, name="project")(y))
    z = L.Average(name="avg")([L.Add(name="add")([y, stem]), stem])
    return x, L.Dense(3, name="head")(L.GlobalAveragePooling2D(name="gap")(z))


ORDER_CASES = [siblings_in_a_merge, short_branch_first, long_branch_first, two_inputs_two_outputs,
               shared_layer_at_two_depths, conv_bn_residual]


def both_sides(builder):
    ins, outs = builder(nn.Input, nn.layers)
    ours = nn.Model(ins, outs, seed=0, dtype="float64")
    kins, kouts = builder(lambda shape, name: keras.Input(shape, name=name), keras.layers)
    return ours, keras.Model(kins, kouts)


@pytest.mark.parametrize("builder", ORDER_CASES, ids=lambda b: b.__name__)
def test_layer_and_weight_order_match_keras(builder):
    ours, theirs = both_sides(builder)
    keras_names = [layer.name for layer in theirs.layers if type(layer).__name__ != "InputLayer"]
    assert [layer.name for layer in ours.layers] == keras_names
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert [name.split("/")[0] for name in ours.weight_names()] == _keras_weight_layers(theirs)


def _keras_weight_layers(kmodel):
    """The layer name of every Keras weight, in get_weights() order (our weight names are 'layer/key')."""
    return [layer.name for layer in kmodel.layers for _ in layer.weights]


@pytest.mark.parametrize("builder,expected", [
    (siblings_in_a_merge, ["c2", "c1", "add"]),
    (short_branch_first, ["long1", "short", "long2", "add"]),
    (long_branch_first, ["long1", "long2", "short", "add"]),
], ids=["siblings", "short-first", "long-first"])
def test_notes_examples_literally(builder, expected):
    """The orders KERAS_NOTES states, spelled out: Keras still does this, and so do we."""
    ours, theirs = both_sides(builder)
    assert [layer.name for layer in theirs.layers if type(layer).__name__ != "InputLayer"] == expected
    assert [layer.name for layer in ours.layers] == expected


# ============================================================================================ MobileNetV2-like

L1_STRENGTH, L2_STRENGTH = 2.0 ** -7, 2.0 ** -6


def mobilenet_like(Input, L, l1, l2):
    """Written once for both APIs: ``l1()`` / ``l2()`` give a fresh regularizer of the side being built."""
    bn = {"momentum": 0.875, "epsilon": 2.0 ** -10}
    inp = Input((16, 16, 1), name="image")
    # stem: conv 3x3 stride 2 "same" → BN → ReLU6                                            (8, 8, 8)
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, kernel_regularizer=l2(), name="stem")(inp)
    x = L.ReLU(max_value=6.0, name="stem_relu")(L.BatchNormalization(name="stem_bn", **bn)(x))
    # bottleneck, stride 2: expand 1x1 → pad bottom/right → depthwise 3x3 "valid" stride 2 → project 1x1  (4, 4, 8)
    y = L.Conv2D(16, 1, use_bias=False, kernel_regularizer=l1(), name="b1_expand")(x)
    y = L.ReLU(max_value=6.0, name="b1_expand_relu")(L.BatchNormalization(name="b1_expand_bn", **bn)(y))
    y = L.ZeroPadding2D(((0, 1), (0, 1)), name="b1_pad")(y)
    y = L.DepthwiseConv2D(3, strides=2, padding="valid", use_bias=False, depthwise_regularizer=l2(),
                          name="b1_depthwise")(y)
    y = L.ReLU(max_value=6.0, name="b1_depthwise_relu")(L.BatchNormalization(name="b1_depthwise_bn", **bn)(y))
    y = L.Conv2D(8, 1, use_bias=False, kernel_regularizer=l1(), name="b1_project")(y)
    x = L.BatchNormalization(name="b1_project_bn", **bn)(y)
    # residual bottleneck, stride 1: expand → depthwise "same" → project, + the block's input. (No bias before
    # BatchNormalization, as in MobileNetV2: its gradient is zero in exact arithmetic, and Adam would turn the
    # rounding noise of that zero into steps of either sign.)
    y = L.Conv2D(24, 1, use_bias=False, kernel_regularizer=l2(), name="b2_expand")(x)
    y = L.ReLU(max_value=6.0, name="b2_expand_relu")(L.BatchNormalization(name="b2_expand_bn", **bn)(y))
    y = L.DepthwiseConv2D(3, padding="same", use_bias=False, depthwise_regularizer=l1(), name="b2_depthwise")(y)
    y = L.ReLU(max_value=6.0, name="b2_depthwise_relu")(L.BatchNormalization(name="b2_depthwise_bn", **bn)(y))
    y = L.Conv2D(8, 1, use_bias=False, kernel_regularizer=l2(), name="b2_project")(y)
    y = L.BatchNormalization(name="b2_project_bn", **bn)(y)
    x = L.Add(name="b2_add")([y, x])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(5, kernel_regularizer=l1(), bias_regularizer=l2(), name="classifier")(x)
    return inp, out


def ours_mobilenet_like(optimizer):
    inp, out = mobilenet_like(nn.Input, nn.layers, lambda: f"l1(l1={L1_STRENGTH!r})",
                              lambda: f"l2(l2={L2_STRENGTH!r})")
    model = nn.Model(inp, out, seed=11, dtype="float64", name="mobilenet_like")
    model.compile(optimizer=optimizer, loss="softmax_cross_entropy")
    # BatchNormalization away from its identity start, so that gamma, beta and the moving statistics all matter
    rng = np.random.default_rng(12)
    for layer in model.layers:
        if isinstance(layer, nn.layers.BatchNormalization):
            c = layer.params["gamma"].shape
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0.0, 0.25, c), rng.normal(0.0, 0.25, c),
                               rng.uniform(0.5, 2.0, c)])
    return model


def keras_mobilenet_like(optimizer, ours):
    inp, out = mobilenet_like(lambda shape, name: keras.Input(shape, name=name), keras.layers,
                              lambda: keras.regularizers.L1(L1_STRENGTH), lambda: keras.regularizers.L2(L2_STRENGTH))
    kmodel = keras.Model(inp, out, name="mobilenet_like")
    kmodel.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert [layer.name for layer in ours.layers] == [
        layer.name for layer in kmodel.layers if type(layer).__name__ != "InputLayer"]
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in kmodel.get_weights()]
    kmodel.set_weights(ours.get_weights())
    return kmodel


def batch(seed=13, n=8):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 16, 16, 1)), rng.integers(0, 5, n)


def keras_loss_and_grads(kmodel, X, y):
    """Training-mode total loss (mean cross-entropy + Σ model.losses) and its gradient for every weight, in
    get_weights() order (zeros for the non-trainable moving statistics, as our compute_gradients)."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        logits = kmodel(X, training=True)
        data = loss_fn(y, logits)
        penalties = list(kmodel.losses)
        total = data + tf.add_n(penalties)
    grads = dict(zip([v.path for v in kmodel.trainable_weights], tape.gradient(total, kmodel.trainable_weights)))
    out = [grads[v.path].numpy() if v.path in grads else np.zeros(v.shape) for v in kmodel.weights]
    return float(total), [float(p) for p in penalties], out


def test_mobilenet_like_loss_penalties_and_gradients():
    ours = ours_mobilenet_like("sgd(learning_rate=0.125)")
    theirs = keras_mobilenet_like(keras.optimizers.SGD(0.125), ours)
    X, y = batch()
    family = "mobilenet_like_loss_and_gradients"
    check(family, ours.losses, [float(v) for v in theirs.losses], "model.losses before the pass")
    assert len(ours.losses) == len(theirs.losses) == 9
    loss, grads = ours.compute_gradients(X, y, training=True)
    kloss, kpenalties, kgrads = keras_loss_and_grads(theirs, X, y)
    check(family, loss, kloss, "training-mode total loss")
    check(family, ours.losses, kpenalties, "model.losses")
    check_all(family, ours.weight_names(), grads, kgrads, "gradient of")
    check_all(family, ours.weight_names(), ours.get_weights(), theirs.get_weights(),
              "after the training-mode pass (moving statistics):")
    check(family, ours.predict(X), keras.activations.softmax(theirs(X, training=False)).numpy(),
          "inference-mode probabilities")


# 0.9, 0.999 and 1e-7 rounded to float32, on both sides: Keras's Adam takes β2ᵗ from float32(β2) (ops.cast of a
# Python float) but 1 − β2 as a float64 Python number, so only a float32 β2 makes both the same number.
MOMENTUM, BETA_1, BETA_2, EPSILON = f32(0.9), f32(0.9), f32(0.999), f32(1e-7)
OPTIMIZERS = {
    "sgd_momentum": (f"sgd(learning_rate=0.0625, momentum={MOMENTUM!r})",
                     lambda: keras.optimizers.SGD(learning_rate=0.0625, momentum=MOMENTUM)),
    "adam": (f"adam(learning_rate=0.0078125, beta_1={BETA_1!r}, beta_2={BETA_2!r}, epsilon={EPSILON!r})",
             lambda: keras.optimizers.Adam(learning_rate=0.0078125, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON)),
}


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_mobilenet_like_trains_like_keras(opt):
    spec, make = OPTIMIZERS[opt]
    ours = ours_mobilenet_like(spec)
    theirs = keras_mobilenet_like(make(), ours)
    family = f"mobilenet_like_training_{opt}"
    X, y = batch(seed=14, n=24)
    for step in range(5):
        part = slice(8 * (step % 3), 8 * (step % 3) + 8)
        loss = ours.train_on_batch(X[part], y[part])
        kloss = float(theirs.train_on_batch(X[part], y[part]))
        check(family, loss, kloss, f"loss of step {step + 1}")
        check_all(family, ours.weight_names(), ours.get_weights(), theirs.get_weights(), f"after step {step + 1}:")
    check(family, ours.losses, [float(v) for v in theirs.losses], "model.losses after training")
    check(family, ours.predict(X), keras.activations.softmax(theirs(X, training=False)).numpy(),
          "predictions after training")


# ============================================================================================ MobileNetV2

def test_mobilenet_v2_forward_matches_its_keras_twin():
    from numpynet.keras_bridge import to_keras
    model = nn.applications.mobilenet_v2(input_shape=(32, 32, 1), classes=10, seed=0, dtype="float64")
    kmodel = to_keras(model, compile=False)
    assert model.count_params() == kmodel.count_params()
    assert [layer.name for layer in model.layers] == [
        layer.name for layer in kmodel.layers if type(layer).__name__ != "InputLayer"]
    X = np.random.default_rng(15).standard_normal((4, 32, 32, 1))
    family = "mobilenet_v2_forward"
    check(family, model(X, training=False), kmodel(X, training=False).numpy(), "inference-mode logits")
    check(family, model(X, training=True), kmodel(X, training=True).numpy(), "training-mode logits")
    check_all("mobilenet_v2_moving_statistics", model.weight_names(), model.get_weights(), kmodel.get_weights(),
              "after a training-mode pass:")
    check(family, model(X, training=False), kmodel(X, training=False).numpy(),
          "inference-mode logits with the updated moving statistics")
