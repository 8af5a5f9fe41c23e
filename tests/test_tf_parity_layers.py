"""Keras 3 parity for the convolution, pooling, normalization and dropout layers (float64, relative 1e-6).

Each case builds the numpynet layer and its Keras counterpart, copies random weights with ``set_weights`` and
compares the output and the gradients of L = Σ y·dy with respect to the input and every trainable weight
(``tf.GradientTape`` on the Keras side), in training and in inference mode where the two differ. Dropout layers
are compared at inference and with rate 0 (their random masks cannot match); their training behaviour is checked
structurally (every Keras output is one of the values our formula allows) and statistically in
tests/test_layers_norm_dropout.py. Finally a small CNN is trained for a few SGD steps with ``train_on_batch`` on
both sides and the weights must agree.

Worst relative differences are recorded in ``PARITY_WORST`` (printed by tests/conftest.py).
"""

import numpy as np
import pytest
from tf_parity_common import keras, rel_diff, tf  # skips the module without TensorFlow; sets the device

import numpynet as nn
from numpynet.layers import (
    AlphaDropout,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    GlobalAveragePooling2D,
    MaxPool2D,
    ReLU,
    Reshape,
    SeparableConv2D,
    ZeroPadding2D,
)
from numpynet.layers.noise import ALPHA_PRIME

TOL = 1e-6
#: family -> {"float64": worst relative difference}; printed by tests/conftest.py
PARITY_WORST = {}


@pytest.fixture(autouse=True)
def float64():
    # floatx *and* Keras's cached global dtype policy: set_floatx alone leaves the policy of the first layer built
    from numpynet.keras_bridge import keras_dtype
    with keras_dtype("float64"):
        yield


def check(family, ours, theirs, what):
    r = rel_diff(ours, theirs)
    slot = PARITY_WORST.setdefault(family, {})
    slot["float64"] = max(slot.get("float64", 0.0), r)
    assert r < TOL, f"{family} {what}: relative difference {r:.3e} >= {TOL:g}"


def random_weights(keras_layer, rng):
    """Random values for every Keras weight; variances positive, gammas away from zero."""
    out = []
    for w in keras_layer.weights:
        name = w.path.rsplit("/", 1)[-1]
        if "variance" in name or "gamma" in name:
            out.append(rng.uniform(0.5, 2.0, w.shape))
        else:
            out.append(rng.normal(0.0, 0.5, w.shape))
    return out


def compare_layer(family, ours, theirs, x, training, seed=0):
    """Forward output, input gradient and weight gradients of ``ours`` and the Keras layer ``theirs``."""
    rng = np.random.default_rng(seed)
    theirs.build(x.shape)
    ours.dtype = np.float64
    ours.set_rng(np.random.default_rng(seed))
    ours.build((None,) + x.shape[1:])
    weights = random_weights(theirs, rng)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        yk = theirs(xt, training=training)
        dy = np.random.default_rng(seed + 1).standard_normal(tuple(yk.shape))
        loss = tf.reduce_sum(yk * dy)
    grads = tape.gradient(loss, [xt] + list(theirs.trainable_weights))
    y = ours.forward(x, training=training)
    ours.needs_input_grad = True
    dx = ours.backward(dy)
    mode = "training" if training else "inference"
    check(family, y, yk.numpy(), f"{ours} {mode} output")
    check(family, dx, grads[0].numpy(), f"{ours} {mode} input gradient")
    assert len(ours.trainable_names) == len(grads) - 1
    for key, g in zip(ours.trainable_names, grads[1:]):
        check(family, ours.grads[key], g.numpy(), f"{ours} {mode} d{key}")
    # weights after the pass: BatchNormalization's moving statistics move in training mode
    for w_ours, w_theirs in zip(ours.get_weights(), theirs.get_weights()):
        check(family, w_ours, w_theirs, f"{ours} {mode} weights after the pass")
    return y


def images(shape, seed=3):
    return np.random.default_rng(seed).standard_normal(shape)


# ============================================================================================ Conv2D

CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding="same", activation="relu"),
    dict(kernel_size=3, strides=2, padding="same", activation="tanh"),
    dict(kernel_size=(2, 3), strides=(2, 1)),
    dict(kernel_size=5, strides=(2, 3), padding="same"),
    dict(kernel_size=3, dilation_rate=2, padding="same"),
    dict(kernel_size=(3, 2), dilation_rate=(1, 2), use_bias=False),
]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kwargs", CONV_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv2d(kwargs, channels):
    x = images((3, 9, 11, channels))
    compare_layer("conv2d", Conv2D(4, **kwargs), keras.layers.Conv2D(4, **kwargs), x, training=False)


@pytest.mark.parametrize("kernel_size", [2, 3, 5])
@pytest.mark.parametrize("size", [(8, 8), (9, 9), (8, 9), (7, 10), (4, 4)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_conv2d_stride2_same_on_even_and_odd_sizes(size, kernel_size):
    """Keras puts the odd "same" pixel at the bottom/right; even sizes with an odd kernel pad (0, 1)."""
    x = images((2,) + size + (3,))
    kwargs = dict(kernel_size=kernel_size, strides=2, padding="same")
    compare_layer("conv2d", Conv2D(4, **kwargs), keras.layers.Conv2D(4, **kwargs), x, training=False)


# ============================================================================================ MobileNet layers

DEPTHWISE_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding="same", activation="relu6"),
    dict(kernel_size=3, strides=2, padding="same"),
    dict(kernel_size=3, strides=2, padding="valid", depth_multiplier=2),
    dict(kernel_size=(3, 2), padding="same", depth_multiplier=3, activation="tanh"),
    dict(kernel_size=(2, 5), strides=3, padding="same"),      # TensorFlow's depthwise kernel: equal strides only
    dict(kernel_size=3, dilation_rate=2, padding="same", depth_multiplier=2),
    dict(kernel_size=(2, 3), dilation_rate=(1, 2), use_bias=False),
]


@pytest.mark.parametrize("size", [(8, 8), (9, 7)], ids=["even", "odd"])
@pytest.mark.parametrize("kwargs", DEPTHWISE_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_depthwise_conv2d(kwargs, size):
    x = images((3,) + size + (3,))
    compare_layer("depthwise_conv2d", DepthwiseConv2D(**kwargs), keras.layers.DepthwiseConv2D(**kwargs), x,
                  training=False)


@pytest.mark.parametrize("size", [(8, 8), (9, 7)], ids=["even", "odd"])
@pytest.mark.parametrize("kwargs", DEPTHWISE_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_separable_conv2d(kwargs, size):
    x = images((3,) + size + (3,))
    compare_layer("separable_conv2d", SeparableConv2D(5, **kwargs), keras.layers.SeparableConv2D(5, **kwargs), x,
                  training=False)


@pytest.mark.parametrize("padding", [1, (2, 0), ((1, 2), (0, 3))], ids=str)
def test_zero_padding2d(padding):
    compare_layer("zero_padding2d", ZeroPadding2D(padding), keras.layers.ZeroPadding2D(padding),
                  images((2, 5, 4, 3)), training=False)


RELU_CASES = [dict(), dict(max_value=6.0), dict(max_value=2.5), dict(negative_slope=0.25),
              dict(negative_slope=1.5), dict(threshold=0.5), dict(max_value=6.0, negative_slope=0.1, threshold=1.0),
              dict(max_value=6.0, negative_slope=0.5), dict(max_value=0.5, threshold=1.0)]


@pytest.mark.parametrize("kwargs", RELU_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "relu")
def test_relu(kwargs):
    x = images((4, 3, 5, 2)) * 4
    compare_layer("relu", ReLU(**kwargs), keras.layers.ReLU(**kwargs), x, training=False)
    # the kinks themselves: values and the subgradient tf.GradientTape takes there
    kinks = np.array([-2.0, -0.0, 0.0, 0.5, 1.0, 2.0, 2.5, 5.0, 6.0, 7.0])
    compare_layer("relu", ReLU(**kwargs), keras.layers.ReLU(**kwargs), kinks.reshape(2, 5), training=False)


def test_relu_keras_notes_example():
    x = np.array([[-2.0, 0.5, 1.0, 3.0, 10.0]])
    y = ReLU(max_value=6, negative_slope=0.1, threshold=1.0).forward(x)
    yk = keras.layers.ReLU(max_value=6, negative_slope=0.1, threshold=1.0)(x).numpy()
    check("relu", y, yk, "KERAS_NOTES example")
    assert np.array_equal(y, yk)


@pytest.mark.parametrize("target,shape", [((6, 4), (3, 2, 3, 4)), ((-1,), (3, 2, 3, 4)), ((2, -1, 3), (3, 24))],
                         ids=str)
def test_reshape(target, shape):
    compare_layer("reshape", Reshape(target), keras.layers.Reshape(target), images(shape), training=False)


# ============================================================================================ pooling

POOL_CASES = [
    dict(pool_size=2),
    dict(pool_size=2, padding="same"),
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=(2, 3), strides=1),
    dict(pool_size=3, strides=1, padding="same"),
]


@pytest.mark.parametrize("kwargs", POOL_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_pooling(kwargs):
    x = images((2, 7, 9, 3))
    compare_layer("max_pool2d", MaxPool2D(**kwargs), keras.layers.MaxPooling2D(**kwargs), x, training=False)
    compare_layer("average_pooling2d", AveragePooling2D(**kwargs), keras.layers.AveragePooling2D(**kwargs), x,
                  training=False)


def test_max_pool_ties_route_to_the_same_pixel_as_tensorflow():
    x = np.zeros((1, 4, 4, 2))                       # all-zero windows and explicit ties
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 1.0
    x[0, 2, 3, 1] = x[0, 3, 2, 1] = x[0, 3, 3, 1] = 2.0
    for kwargs in (dict(pool_size=2), dict(pool_size=3, strides=1, padding="same")):
        compare_layer("max_pool2d", MaxPool2D(**kwargs), keras.layers.MaxPooling2D(**kwargs), x, training=False)


def test_global_average_pooling():
    x = images((3, 5, 4, 6))
    compare_layer("global_average_pooling2d", GlobalAveragePooling2D(), keras.layers.GlobalAveragePooling2D(), x,
                  training=False)


# ============================================================================================ BatchNormalization

BN_CASES = [
    ("dense", (8, 5), {}),
    ("image", (4, 5, 6, 3), {}),
    ("image-axis1", (4, 5, 6, 3), {"axis": 1}),
    ("options", (8, 5), {"momentum": 0.5, "epsilon": 0.125, "center": False}),
    ("no-scale", (4, 3, 3, 2), {"scale": False}),
]


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("name,shape,kwargs", BN_CASES, ids=[c[0] for c in BN_CASES])
def test_batch_normalization(name, shape, kwargs, training):
    x = images(shape) * 2.0 + 1.0
    compare_layer("batch_normalization", BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs),
                  x, training=training)


# ============================================================================================ dropout family

NOISE_PAIRS = [
    (lambda: Dropout(0.3), lambda: keras.layers.Dropout(0.3)),
    (lambda: AlphaDropout(0.2), lambda: keras.layers.AlphaDropout(0.2)),
    (lambda: GaussianNoise(0.5), lambda: keras.layers.GaussianNoise(0.5)),
    (lambda: GaussianDropout(0.3), lambda: keras.layers.GaussianDropout(0.3)),
]


@pytest.mark.parametrize("make", NOISE_PAIRS, ids=["dropout", "alpha_dropout", "gaussian_noise",
                                                   "gaussian_dropout"])
def test_noise_layers_at_inference(make):
    ours, theirs = make[0](), make[1]()
    compare_layer("dropout_family", ours, theirs, images((6, 7)), training=False)


@pytest.mark.parametrize("ours,theirs", [
    (Dropout, keras.layers.Dropout), (AlphaDropout, keras.layers.AlphaDropout),
    (GaussianNoise, keras.layers.GaussianNoise), (GaussianDropout, keras.layers.GaussianDropout),
], ids=["dropout", "alpha_dropout", "gaussian_noise", "gaussian_dropout"])
def test_noise_layers_with_rate_zero_in_training(ours, theirs):
    # Keras layers are created inside the test, after the fixture switched floatx to float64
    compare_layer("dropout_family", ours(0.0), theirs(0.0), images((6, 7)), training=True)


def test_dropout_training_outputs_have_our_form():
    """Keras's random masks differ from ours, but every Keras output must be 0 or x/(1 − r) (Dropout), or
    a·x + b or a·α' + b (AlphaDropout) with our constants."""
    x = images((200, 50))
    yk = keras.layers.Dropout(0.3)(x, training=True).numpy()
    kept = yk != 0.0
    assert 0.25 < 1 - kept.mean() < 0.35
    check("dropout_family", yk[kept], x[kept] / 0.7, "Dropout kept units")
    a, b = AlphaDropout(0.2).coefficients()
    yk = keras.layers.AlphaDropout(0.2)(x, training=True).numpy()
    dropped = np.isclose(yk, a * ALPHA_PRIME + b, rtol=1e-12, atol=0.0)
    assert 0.15 < dropped.mean() < 0.25
    check("dropout_family", yk[~dropped], a * x[~dropped] + b, "AlphaDropout kept units")


# ============================================================================================ a trained CNN

def _keras_cnn(input_shape, with_bn):
    layers = [keras.Input(input_shape),
              keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                                  kernel_regularizer=keras.regularizers.L2(0.125)),
              keras.layers.MaxPooling2D(2),
              keras.layers.Conv2D(6, 3, activation="tanh")]
    if with_bn:
        layers.append(keras.layers.BatchNormalization())
    layers += [keras.layers.AveragePooling2D(2) if with_bn else keras.layers.MaxPooling2D(2),
               keras.layers.Flatten(), keras.layers.Dense(5)]
    return keras.Sequential(layers)


def _numpynet_cnn(with_bn):
    layers = [Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer="l2(l2=0.125)"), MaxPool2D(2),
              Conv2D(6, 3, activation="tanh")]
    if with_bn:
        layers.append(BatchNormalization())
    layers += [AveragePooling2D(2) if with_bn else MaxPool2D(2), Flatten(), Dense(5)]
    return nn.Sequential(layers, seed=0, dtype="float64")


@pytest.mark.parametrize("with_bn", [False, True], ids=["conv-pool", "conv-bn-avgpool"])
def test_small_cnn_trained_with_sgd_matches_keras(with_bn):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((24, 10, 10, 1))
    y = rng.integers(0, 5, 24)
    ours = _numpynet_cnn(with_bn)
    ours.compile(optimizer="sgd(learning_rate=0.0625, momentum=0.5)", loss="softmax_cross_entropy")
    ours.build(X.shape)
    theirs = _keras_cnn(X.shape[1:], with_bn)
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0625, momentum=0.5),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    theirs.set_weights(ours.get_weights())
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    for step in range(4):
        batch = slice(8 * (step % 3), 8 * (step % 3) + 8)
        loss_ours = ours.train_on_batch(X[batch], y[batch])
        loss_theirs = float(theirs.train_on_batch(X[batch], y[batch]))
        check("cnn_training", loss_ours, loss_theirs, f"loss at step {step}")
    for name, w_ours, w_theirs in zip(ours.weight_names(), ours.get_weights(), theirs.get_weights()):
        check("cnn_training", w_ours, w_theirs, f"{name} after 4 SGD steps")
    check("cnn_training", ours.predict(X), keras.activations.softmax(theirs(X, training=False)).numpy(),
          "predictions after training")
