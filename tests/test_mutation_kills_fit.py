"""Direct tests for the two hand-made mutants of issue 13 that only slow, unrelated tests used to notice: a missing
bias-regularizer gradient (only the float64 TensorFlow parity saw it) and an unseeded shuffle (only the Dask grid
saw it). The other four of that list have their own tests: test_safety_io.py (a bare name as a spec value, float64
weights saved as float64) and test_fit_api.py (validation_split holds out the last rows, evaluate averages per
sample with a short last batch)."""

import numpy as np
import pytest

import numpynet as nn
from numpynet.layers import Dense


def blobs(n=48, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    return rng.normal(0, 3, (k, d))[y] + rng.normal(0, 1, (n, d)), y


@pytest.mark.parametrize("reg, grad_of", [
    ("l2(l2=0.5)", lambda b: 2 * 0.5 * b),
    ("l2(lambd=0.5)", lambda b: 0.5 * b),
    ("l1(l1=0.25)", lambda b: 0.25 * np.sign(b)),
])
def test_the_bias_regularizer_adds_its_gradient_to_the_bias_gradient(reg, grad_of):
    X, y = blobs()

    def model(**kw):
        m = nn.Sequential([Dense(5, activation="tanh", **kw), Dense(3)], seed=3, dtype="float64")
        m.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy")
        m.build(X.shape)
        return m

    plain, penalised = model(), model(bias_regularizer=reg)
    ws = plain.get_weights()
    ws[1] = np.array([0.5, -1.0, 0.0, 2.0, -0.25])       # a bias with both signs and a zero
    plain.set_weights(ws)
    penalised.set_weights(ws)
    loss0, g0 = plain.compute_gradients(X, y)
    loss1, g1 = penalised.compute_gradients(X, y)
    np.testing.assert_allclose(g1[1] - g0[1], grad_of(ws[1]), rtol=1e-12, atol=1e-15)
    for i in (0, 2, 3):                                   # kernels and the other bias are untouched
        np.testing.assert_array_equal(g1[i], g0[i])
    assert loss1 > loss0
    # and one SGD step moves the bias by exactly lr times that extra gradient
    plain.train_on_batch(X, y)
    penalised.train_on_batch(X, y)
    np.testing.assert_allclose(plain.get_weights()[1] - penalised.get_weights()[1], 0.1 * grad_of(ws[1]),
                               rtol=1e-9, atol=1e-15)


def fitted(seed, shuffle, epochs=2):
    X, y = blobs()
    model = nn.DFN(hidden_dims=(6,), n_classes=3, optimizer="sgd(lr=0.1)", seed=seed, dtype="float64")
    model.fit(X, y, epochs=epochs, batch_size=8, shuffle=shuffle, verbose=0)
    return model.get_weights()


def test_the_shuffle_is_seeded_by_the_model_seed():
    a, b = fitted(seed=7, shuffle=True), fitted(seed=7, shuffle=True)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)              # same seed: the same batches in the same order
    in_order = fitted(seed=7, shuffle=False)
    assert not all(np.array_equal(wa, wc) for wa, wc in zip(a, in_order))   # and it did shuffle


def test_the_shuffle_generator_depends_on_the_model_seed_only():
    X, y = blobs()
    states = []
    for seed in (11, 11, 12):
        model = nn.DFN(hidden_dims=(6,), n_classes=3, seed=seed)
        model.fit(X, y, epochs=1, batch_size=8, verbose=0)
        states.append(model._shuffle_rng.bit_generator.state)
    assert states[0] == states[1] and states[0] != states[2]
