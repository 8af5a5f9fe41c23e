"""Pre-scaled training steps (issue 15): Dense's backward with ``grad_scale`` s stores s·dW and s·db (the scale applied
to the smaller batch-sized operand), and the optimizer's ``apply_scaled_gradients`` then folds the penalties in.
Both are compared with the textbook path: plain gradients, penalty gradients added, ``apply_gradients``."""

import numpy as np
import pytest

import numpynet as nn
from numpynet import losses, optimizers
from numpynet.core.layers.core import takes_grad_scale
from numpynet.layers import Dense


def two_dense(in_dim=5, hidden=7, use_bias=True, seed=0):
    first = Dense(hidden, activation="elu", use_bias=use_bias, kernel_regularizer="l2(l2=0.02)", seed=seed)
    second = Dense(3, use_bias=use_bias, kernel_regularizer="l1(l1=0.01)", bias_regularizer="l2(lambd=0.1)" if use_bias
                   else None, seed=seed + 1)
    first.build((None, in_dim))
    second.build((None, hidden))
    first.needs_input_grad = False
    second.output_logits = True
    for layer in (first, second):
        for key in layer.params:
            layer.params[key] = layer.params[key].astype(np.float64) + (0.1 if key == "b" else 0.0)
            layer.grads[key] = np.zeros_like(layer.params[key])
    return first, second


def backward(layers, x, y, scale=None):
    """Forward, softmax cross-entropy, backward; with ``scale`` the layers' grad_scale is set during backward.
    Returns dL/dx of the second layer (the first layer's output gradient) and copies of all gradients."""
    h = x
    for layer in layers:
        h = layer.forward(h, training=True)
    _, dout = losses.get("softmax_cross_entropy").forward_backward(h, y)
    for layer in layers:
        layer.grad_scale = scale
    try:
        d = layers[1].backward(dout)
        layers[0].backward(d)
    finally:
        for layer in layers:
            del layer.grad_scale
    return d, [layer.grads[key].copy() for layer in layers for key in layer.trainable_names]


def data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(16, 5)), rng.integers(0, 3, 16)


@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_with_grad_scale_stores_scaled_gradients_and_an_unscaled_input_gradient(use_bias):
    layers = two_dense(use_bias=use_bias)
    x, y = data()
    d_plain, plain = backward(layers, x, y)
    d_scaled, scaled = backward(layers, x, y, scale=-0.25)
    np.testing.assert_array_equal(d_scaled, d_plain)                 # dx = dz·Wᵀ is never scaled
    for p, s in zip(plain, scaled):
        np.testing.assert_allclose(s, -0.25 * p, rtol=1e-14, atol=1e-16)
    assert Dense.grad_scale is None and "grad_scale" not in vars(layers[0])


def test_dense_scales_the_input_when_it_is_the_smaller_operand():
    """Without a bias and with fewer inputs than units, dW = (s·x)ᵀ·dz (the scale on x, not on dz)."""
    layer = Dense(40, use_bias=False, seed=0)
    layer.build((None, 3))
    layer.params["W"] = layer.params["W"].astype(np.float64)
    layer.grads["W"] = layer.grads["W"].astype(np.float64)
    x, dy = np.random.default_rng(0).normal(size=(8, 3)), np.random.default_rng(1).normal(size=(8, 40))
    layer.forward(x, training=True)
    layer.backward(dy)
    plain = layer.grads["W"].copy()
    layer.grad_scale = 0.5
    dx = layer.backward(dy)
    np.testing.assert_allclose(layer.grads["W"], 0.5 * plain, rtol=1e-15)
    np.testing.assert_allclose(dx, dy @ layer.params["W"].T, rtol=1e-15)
    assert layer._scaled.array.shape == x.shape                      # the scratch held s·x


@pytest.mark.parametrize("spec", ["sgd(learning_rate=0.3)", "sgd(learning_rate=0.3, momentum=0.9)",
                                  "sgd(learning_rate=0.3, momentum=0.9, nesterov=True)"])
def test_three_prescaled_steps_of_two_dense_layers_are_the_textbook_steps(spec):
    x, y = data()
    textbook, fused = two_dense(), two_dense()
    opt_t, opt_f = optimizers.get(spec), optimizers.get(spec)
    def slots(layers, what):
        return [getattr(layer, what)[key] for layer in layers for key in layer.trainable_names]

    for _ in range(3):
        backward(textbook, x, y)
        for layer in textbook:
            layer.add_regularization_grads()
        opt_t.apply_gradients(slots(textbook, "params"), slots(textbook, "grads"))
        scale = opt_f.gradient_scale()
        backward(fused, x, y, scale=scale)
        penalties = [layer.regularizers.get(key) for layer in fused for key in layer.trainable_names]
        opt_f.apply_scaled_gradients(slots(fused, "params"), slots(fused, "grads"), scale, penalties)
    for a, b in zip(textbook, fused):
        for key in a.params:
            np.testing.assert_allclose(b.params[key], a.params[key], rtol=1e-13, atol=1e-15)


def test_takes_grad_scale_only_for_dense_running_its_own_backward():
    class Logged(Dense):
        def backward(self, dy):
            return super().backward(dy)

    plain, logged, patched = Dense(3), Logged(3), Dense(3)
    patched.backward = lambda dy: None
    assert takes_grad_scale(plain)
    assert not takes_grad_scale(logged) and not takes_grad_scale(patched)
    assert not takes_grad_scale(nn.layers.Conv2D(2, 3)) and not takes_grad_scale(nn.layers.BatchNormalization())


class TextbookDense(Dense):
    """A Dense whose backward is not Dense's own: a model of these always takes the textbook step."""

    def backward(self, dy):
        return super().backward(dy)


@pytest.mark.parametrize("optimizer", ["sgd(lr=0.1)", "sgd(lr=0.05, momentum=0.9)"])
def test_fit_gives_the_same_weights_whichever_step_the_model_takes(optimizer):
    """The same fit with Dense layers (the model may take pre-scaled steps) and with TextbookDense layers (it cannot):
    the weights agree to rounding, penalties (kernel, bias, activity) included."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(96, 6)), rng.integers(0, 3, 96)

    def model(cls):
        m = nn.Sequential([cls(8, activation="elu", kernel_regularizer="l2(l2=0.01)", bias_regularizer="l1(l1=0.01)",
                               activity_regularizer="l2(l2=0.001)"),
                           cls(3, kernel_regularizer="l2(lambd=0.02)")], seed=0, dtype="float64")
        m.compile(optimizer=optimizer, loss="softmax_cross_entropy")
        m.fit(X, y, epochs=3, batch_size=32, verbose=0, shuffle=False)
        return m

    for a, b in zip(model(Dense).get_weights(), model(TextbookDense).get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
