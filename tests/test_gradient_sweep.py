"""One gradient sweep over every registered layer, activation, loss and regularizer (float64 central differences).

Each family has a table of cases and a test that the table covers the whole registry: a new entry without a case
fails here, so nothing registered goes without a gradient check. The deeper per-family tests (kinks, ties,
shapes, strides) stay in the family's own test file; this is the floor every entry must pass.
"""

import numpy as np
import pytest

import numpynet as nn
from numpynet import gradcheck

TOL = 1e-6
RNG = np.random.default_rng(0)


def images(shape=(2, 6, 6, 3), seed=1):
    return np.random.default_rng(seed).normal(size=shape)


# name -> (constructor kwargs, input or list of inputs); inputs avoid kinks (x = 0 for relu, ties for max pool)
LAYERS = {
    "activation": ({"activation": "tanh"}, RNG.normal(size=(4, 5))),
    "add": ({}, [RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))]),
    "alpha_dropout": ({"rate": 0.3, "seed": 1}, RNG.normal(size=(4, 6))),
    "average": ({}, [RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))]),
    "average_pooling2d": ({"pool_size": 2}, images()),
    "batch_normalization": ({}, RNG.normal(size=(6, 4))),
    "concatenate": ({"axis": -1}, [RNG.normal(size=(3, 2)), RNG.normal(size=(3, 4))]),
    "conv2d": ({"filters": 2, "kernel_size": 3, "padding": "same", "activation": "tanh"}, images()),
    "dense": ({"units": 3, "activation": "sigmoid", "kernel_regularizer": "l2(lambd=0.1)"}, RNG.normal(size=(4, 5))),
    "depthwise_conv2d": ({"kernel_size": 3, "strides": 2, "padding": "same"}, images()),
    "dropout": ({"rate": 0.4, "seed": 1}, RNG.normal(size=(4, 6))),
    "flatten": ({}, images()),
    "gaussian_dropout": ({"rate": 0.3, "seed": 1}, RNG.normal(size=(4, 6))),
    "gaussian_noise": ({"stddev": 0.2, "seed": 1}, RNG.normal(size=(4, 6))),
    "global_average_pooling2d": ({}, images()),
    "max_pool2d": ({"pool_size": 2}, images() + np.arange(216).reshape(2, 6, 6, 3) * 1e-2),   # no ties
    "multiply": ({}, [RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))]),
    "relu": ({"max_value": 6.0, "negative_slope": 0.1},
             RNG.uniform(0.1, 5.0, size=(4, 5)) * RNG.choice([-1, 1], (4, 5))),      # away from 0 and 6
    "reshape": ({"target_shape": (4, 27)}, images()),
    "separable_conv2d": ({"filters": 2, "kernel_size": 3, "padding": "valid"}, images()),
    "subtract": ({}, [RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))]),
    "zero_padding2d": ({"padding": 1}, images()),
}
#: registered but without a backward pass of their own: the graph's entry point
NO_GRADIENT = {"input_layer"}

ACTIVATIONS = {name: {} for name in nn.activations.registry.names()}
ACTIVATIONS["leaky_relu"] = {"negative_slope": 0.2}
ACTIVATIONS["elu"] = {"alpha": 0.7}

LOSSES = {
    "binary_crossentropy": lambda: (RNG.uniform(0.05, 0.95, (5, 3)), (RNG.random((5, 3)) > 0.5).astype(float)),
    "categorical_crossentropy": lambda: (RNG.dirichlet(np.ones(4), 5), np.eye(4)[RNG.integers(0, 4, 5)]),
    "huber": lambda: (RNG.normal(size=(5, 2)) * 2, RNG.normal(size=(5, 2))),
    "mae": lambda: (RNG.normal(size=(5, 2)), RNG.normal(size=(5, 2)) + 3),      # no zero residual
    "mse": lambda: (RNG.normal(size=(5, 2)), RNG.normal(size=(5, 2))),
    "softmax_cross_entropy": lambda: (RNG.normal(size=(5, 4)), RNG.integers(0, 4, 5)),
    "sparse_categorical_crossentropy": lambda: (RNG.dirichlet(np.ones(4), 5), RNG.integers(0, 4, 5)),
}

REGULARIZERS = {"l1": "l1(l1=0.01)", "l2": "l2(lambd=0.1)", "l1l2": "l1l2(l1=0.01, l2=0.02)"}


@pytest.mark.parametrize("family, table, registry, skip", [
    ("layer", LAYERS, nn.layers.registry, NO_GRADIENT), ("activation", ACTIVATIONS, nn.activations.registry, set()),
    ("loss", LOSSES, nn.losses.registry, set()), ("regularizer", REGULARIZERS, nn.regularizers.registry, set())])
def test_the_sweep_covers_every_registered_entry(family, table, registry, skip):
    # numpynet's own entries: other test files register throwaway layers in the same (global) registries
    ours = {name for name in registry.names() if registry.lookup(name).__module__.startswith("numpynet.")}
    assert ours                      # the filter keeps the built-in entries
    missing = sorted(ours - set(table) - skip)
    assert not missing, f"registered {family}(s) without a gradient case in the sweep: {missing}"


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("training", [True, False])
def test_layer_gradients(name, training):
    kwargs, x = LAYERS[name]
    layer = nn.layers.registry.build(name, (), kwargs)
    assert gradcheck.check_layer(layer, x, training=training) < TOL


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradients(name):
    act = nn.activations.registry.build(name, (), ACTIVATIONS[name])
    x = RNG.uniform(0.1, 2.0, size=(4, 5)) * RNG.choice([-1.0, 1.0], size=(4, 5))   # away from the kinks at 0
    if name == "hard_sigmoid":
        x = np.clip(x, -2.0, 2.0) * 0.9                                            # away from ±2.5 too
    assert gradcheck.check_function(act.forward, lambda x, dy: act.backward(dy, x, act.forward(x)), x) < TOL


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradients(name):
    y_pred, y_true = LOSSES[name]()
    assert gradcheck.check_loss(name, y_pred, y_true) < TOL


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_regularizer_gradients(name):
    w = RNG.uniform(0.05, 1.0, size=(4, 3)) * RNG.choice([-1.0, 1.0], size=(4, 3))   # no w = 0 (|w| has a kink)
    assert gradcheck.check_regularizer(REGULARIZERS[name], w) < TOL


def test_a_nan_error_anywhere_fails_the_gradient_report():
    # Python's max skips a NaN unless it comes first: a layer with an all-NaN kernel gradient used to pass its check
    from numpynet.gradcheck import GradReport
    report = GradReport({"input": 1e-9, "W": float("nan"), "b": 1e-10})
    assert not report < 1e-6
    assert GradReport({"input": 1e-9, "W": 3e-8}) == 3e-8
