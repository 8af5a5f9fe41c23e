"""Seeing backprop at work: nn.trace (one recorded step), nn.callbacks.GradientStats (per-layer statistics per epoch),
nn.plots.gradient_flow / weight_distributions, and the command line's --grad-stats / --penalty-share."""

import json
import math

import numpy as np
import pytest

import numpynet as nn
from numpynet import cli
from numpynet.errors import DataError, SpecError
from numpynet.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPool2D
from numpynet.tracing import Trace, layer_formula, penalty_share

pytest.importorskip("matplotlib")


def blobs(n=40, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (k, d))
    y = rng.integers(0, k, n)
    return centers[y] + rng.normal(0, 1, (n, d)), y


def two_layer(reg="l2(lambd=0.1)", dtype="float64"):
    model = nn.DFN(hidden_dims=(4,), n_classes=3, activation="sigmoid", regularizer=reg, seed=0, dtype=dtype)
    model.build((None, 5))
    return model


# ============================================================================================ trace

def test_trace_of_a_two_layer_network_matches_the_formulas_by_hand():
    X, y = blobs(n=4)
    model = two_layer()
    W1, b1, W2, b2 = model.get_weights()
    t = nn.trace(model, X, y)
    assert isinstance(t, Trace) and [r.name for r in t.layers] == ["dense", "dense_1"]
    hidden, out = t["dense"], t["dense_1"]
    # forward
    h = 1 / (1 + np.exp(-(X @ W1 + b1)))
    z = h @ W2 + b2
    np.testing.assert_allclose(hidden.x, X)
    np.testing.assert_allclose(hidden.y, h, rtol=1e-12)
    np.testing.assert_allclose(out.y, z, rtol=1e-12)
    # loss: mean cross-entropy + ½λ(‖W1‖² + ‖W2‖²)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    data = -np.mean(np.log(p[np.arange(4), y]))
    assert t.data_loss == pytest.approx(data, rel=1e-12)
    assert t.penalty == pytest.approx(0.05 * (np.sum(W1 ** 2) + np.sum(W2 ** 2)), rel=1e-12)
    assert t.total_loss == pytest.approx(t.data_loss + t.penalty)
    # backward: dz = (P − Y)/N, dW2 = hᵀdz, dh = dz·W2ᵀ, da = dh ⊙ h(1 − h), dW1 = Xᵀda, dX = da·W1ᵀ
    dz = p.copy()
    dz[np.arange(4), y] -= 1
    dz /= 4
    np.testing.assert_allclose(out.dy, dz, rtol=1e-10)
    np.testing.assert_allclose(out.dx, dz @ W2.T, rtol=1e-10)
    np.testing.assert_allclose(hidden.dy, dz @ W2.T, rtol=1e-10)
    da = (dz @ W2.T) * h * (1 - h)
    np.testing.assert_allclose(hidden.dx, da @ W1.T, rtol=1e-10)      # dL/dX: recorded for the first layer too
    grads = t.grads
    np.testing.assert_allclose(grads["dense_1/W"]["data"], h.T @ dz, rtol=1e-10)
    np.testing.assert_allclose(grads["dense_1/W"]["penalty"], 0.1 * W2, rtol=1e-14)
    np.testing.assert_allclose(grads["dense/W"]["data"], X.T @ da, rtol=1e-10)
    np.testing.assert_allclose(grads["dense/b"]["data"], da.sum(0), rtol=1e-10)
    assert np.all(grads["dense/b"]["penalty"] == 0)
    for rec in t.weights:
        assert np.array_equal(rec.data + rec.penalty, rec.total)
    # norms
    assert hidden.norms()["y"] == pytest.approx(np.linalg.norm(h), rel=1e-12)
    assert t["dense_1/W"].penalty_share == pytest.approx(
        np.linalg.norm(0.1 * W2) / (np.linalg.norm(h.T @ dz) + np.linalg.norm(0.1 * W2)), rel=1e-10)


def test_trace_table_markdown_and_html():
    X, y = blobs(n=4)
    t = nn.trace(two_layer(), X, y)
    text = str(t)
    for word in ("dense_1", "(4, 5)", "(4, 4)", "(4, 3)", "y = sigmoid(x·W + b)", "y = x·W + b", "‖dL/dy‖",
                 "l2(lambd=0.1)", "penalty share", "softmax_cross_entropy"):
        assert word in text, word
    md = t.to_markdown()
    assert sum(line.startswith("|---") for line in md.splitlines()) == 2 and "`y = sigmoid(x·W + b)`" in md
    html = t.to_html()
    assert html.count("<table") == 2 and "<td>dense/W</td>" in html and "&#x27;dfn&#x27;" in html
    assert t._repr_html_() == html
    assert "Trace 2 layer calls" in repr(t)


def conv_net(dtype="float64"):
    model = nn.Sequential([Conv2D(2, 3, padding="same", activation="relu", kernel_regularizer="l1(l1=0.01)"),
                           BatchNormalization(), MaxPool2D(2), Flatten(), Dropout(0.5, seed=3),
                           Dense(3, activity_regularizer="l2(l2=0.01)")], seed=0, dtype=dtype)
    model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy")
    return model


@pytest.mark.parametrize("training", [False, True])
def test_trace_leaves_weights_and_random_state_untouched(training):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(4, 6, 6, 1)), rng.integers(0, 3, 4)
    model = conv_net()
    model.build(X.shape)
    before = model.get_weights()
    state = model.get_layer("dropout").rng.bit_generator.state
    t = nn.trace(model, X, y, training=training)
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)          # also BatchNormalization's moving statistics
    assert model.get_layer("dropout").rng.bit_generator.state == state
    assert [r.kind for r in t.layers] == ["Conv2D", "BatchNormalization", "MaxPool2D", "Flatten", "Dropout",
                                          "Dense"]
    assert t["dense"].note.startswith("activity penalty")
    # the dropout mask of the recorded pass is the one the split gradients used: the sum is the same gradient
    total, grads = model.compute_gradients(X, y, training=False)
    if not training:
        for rec, g in zip(t.weights, grads):
            np.testing.assert_allclose(rec.total, g, rtol=1e-12, atol=1e-15)
    # an activity penalty on the output reaches earlier weights as a penalty gradient
    assert np.any(t.grads["dense/W"]["penalty"] != 0)
    # a trained model's training continues identically after a trace
    twin = conv_net()
    twin.build(X.shape)
    twin.set_weights(before)
    model.fit(X, y, epochs=2, batch_size=2, verbose=0)
    twin.fit(X, y, epochs=2, batch_size=2, verbose=0)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_trace_of_a_graph_with_a_shared_layer_and_formulas():
    inp = nn.Input((5,))
    shared = Dense(5, activation="tanh")
    out = Dense(3)(nn.layers.Add()([shared(inp), shared(shared(inp))]))
    model = nn.Model(inp, out, seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="softmax_cross_entropy")
    X, y = blobs(n=4)
    t = nn.trace(model, X, y)
    calls = [(r.name, r.call) for r in t.layers if r.name == "dense"]
    assert calls == [("dense", 0), ("dense", 1), ("dense", 2)]
    assert "dense (call 2)" in str(t)
    assert t["add"].formula == "y = Σ_i x_i" and t["add"].input_shape == "(4, 5) + (4, 5)"
    assert layer_formula(Conv2D(2, 3, activation="relu")).startswith("y = relu(x ⋆ W + b)")
    assert layer_formula(Activation("tanh")) == "y = tanh(x)"
    assert layer_formula(BatchNormalization()) == "y = γ·(x − μ)/√(σ² + ε) + β"

    class Scale(nn.layers.Layer):
        formula = "y = 2·x"
    assert layer_formula(Scale()) == "y = 2·x"


def test_trace_needs_a_compiled_model_and_good_data():
    with pytest.raises(SpecError, match="compile"):
        nn.trace(nn.Sequential([Dense(2)]), np.ones((2, 3)), np.zeros(2))
    with pytest.raises(SpecError, match="model"):
        nn.trace(object(), np.ones((2, 3)), np.zeros(2))
    with pytest.raises(DataError):
        nn.trace(two_layer(), np.full((2, 5), np.nan), np.zeros(2))


# ============================================================================================ GradientStats

def test_gradient_stats_keys_and_values():
    X, y = blobs(n=64)
    model = nn.DFN(hidden_dims=(6,), n_classes=3, activation="tanh", regularizer="l2(lambd=0.1)", seed=0,
                   dtype="float64")
    cb = nn.callbacks.GradientStats()
    hist = model.fit(X, y, epochs=3, batch_size=16, callbacks=[cb], verbose=0)
    h = hist.history
    for stat in ("grad_norm", "data_grad_norm", "penalty_grad_norm", "penalty_share", "weight_norm"):
        for name in ("dense/W", "dense/b", "dense_1/W", "dense_1/b"):
            assert len(h[f"{stat}/{name}"]) == 3, (stat, name)
    assert "saturated_share/dense" in h and "dead_share/dense" not in h
    assert all(0 < v < 1 for v in h["penalty_share/dense/W"])
    assert all(v == 0 for v in h["penalty_share/dense/b"])         # biases carry no penalty
    # weight norms after the last update; ‖g_pen‖ of ½λΣw² is λ‖W‖
    assert h["weight_norm/dense/W"][-1] == pytest.approx(np.linalg.norm(model.get_layer("dense").params["W"]))
    W2 = model.get_layer("dense_1").params["W"]
    assert h["penalty_grad_norm/dense_1/W"][-1] == pytest.approx(0.1 * np.linalg.norm(W2), rel=1e-12)
    assert cb.history == {k: v for k, v in h.items() if k in cb.history} and cb.seconds > 0


def test_gradient_stats_on_a_fixed_sample_matches_compute_gradients():
    X, y = blobs(n=64)
    model = nn.DFN(hidden_dims=(6,), n_classes=3, activation="relu", regularizer="l1(lambd=0.01)", seed=0,
                   dtype="float64")
    hist = model.fit(X, y, epochs=2, batch_size=16, verbose=0,
                     callbacks=[nn.callbacks.GradientStats(data=(X[:10], y[:10]))])
    parts = model.compute_gradients(X[:10], y[:10], split=True)
    for name, d, p, t in zip(model.weight_names(), parts["data"], parts["penalty"], parts["total"]):
        assert hist.history[f"data_grad_norm/{name}"][-1] == pytest.approx(np.linalg.norm(d), rel=1e-12)
        assert hist.history[f"penalty_grad_norm/{name}"][-1] == pytest.approx(np.linalg.norm(p), rel=1e-12)
        assert hist.history[f"grad_norm/{name}"][-1] == pytest.approx(np.linalg.norm(t), rel=1e-12)


def test_penalty_share_is_zero_without_regularizer_and_positive_with():
    X, y = blobs(n=48)
    shares = {}
    for reg in (None, "l2(lambd=0.1)", "l1(lambd=0.01)"):
        model = nn.DFN(hidden_dims=(5,), n_classes=3, activation="relu", regularizer=reg, seed=0)
        hist = model.fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[nn.callbacks.GradientStats()])
        shares[reg] = hist.history["penalty_share/dense/W"]
        assert math.isfinite(penalty_share(hist))
    assert all(v == 0 for v in shares[None]) and penalty_share({}) != penalty_share({})   # NaN without stats
    assert all(v > 0 for v in shares["l2(lambd=0.1)"]) and all(v > 0 for v in shares["l1(lambd=0.01)"])


def test_dead_relu_share_is_one_for_a_layer_forced_dead():
    X, y = blobs(n=32)
    model = nn.Sequential([Dense(6, activation="relu", bias_initializer="constant(value=-1000.0)"),
                           Dense(4, activation="relu"), Dense(3)], seed=0, dtype="float64")
    model.compile(optimizer="sgd(lr=0.01)", loss="softmax_cross_entropy")
    hist = model.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[nn.callbacks.GradientStats()])
    assert hist.history["dead_share/dense"] == [1.0, 1.0]
    # its input is all zeros, so z = b = 0: inactive too, and relu'(0) = 0 keeps b at 0
    assert hist.history["dead_share/dense_1"] == [1.0, 1.0]
    assert hist.history["grad_norm/dense/W"] == [0.0, 0.0]        # dead units: no gradient reaches their weights


def test_saturated_sigmoid_share():
    X, y = blobs(n=32)
    X = X * 100                                           # huge inputs: every pre-activation far beyond ±4
    model = nn.Sequential([Dense(5, activation="sigmoid", kernel_initializer="ones"), Activation("tanh"),
                           Dense(3)], seed=0, dtype="float64")
    model.compile(optimizer="sgd(lr=0.0)", loss="softmax_cross_entropy")
    cb = nn.callbacks.GradientStats(data=(X, y))
    hist = model.fit(X, y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    z = X @ np.ones((5, 5))
    assert hist.history["saturated_share/dense"][0] == pytest.approx(np.mean(np.abs(z) > 4))
    assert hist.history["saturated_share/activation"][0] == 0.0   # tanh of a sigmoid output in (0, 1)


def test_gradient_stats_every_k_epochs_records_nan_in_between():
    X, y = blobs(n=32)
    model = nn.DFN(hidden_dims=(4,), n_classes=3, seed=0)
    hist = model.fit(X, y, epochs=5, batch_size=8, verbose=0, callbacks=[nn.callbacks.GradientStats(every=2)])
    values = hist.history["grad_norm/dense/W"]
    assert len(values) == 5 and [math.isnan(v) for v in values] == [False, True, False, True, False]


def test_gradient_stats_changes_nothing_about_training():
    X, y = blobs(n=40)
    runs = []
    for callbacks in ([], [nn.callbacks.GradientStats()]):
        model = nn.DFN(hidden_dims=(6,), n_classes=3, dropout=0.2, regularizer="l2(lambd=0.01)", seed=1)
        model.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_gradient_stats_bad_arguments():
    for bad in ({"every": 0}, {"every": 1.5}, {"saturation": -1}):
        with pytest.raises(SpecError):
            nn.callbacks.GradientStats(**bad)
    with pytest.raises(DataError, match="data"):
        nn.callbacks.GradientStats(data=np.ones(3))


# ============================================================================================ plots

def test_gradient_flow_and_weight_distributions_return_figures(tmp_path):
    from matplotlib.figure import Figure
    X, y = blobs(n=48)
    models, hists = {}, {}
    for name, reg in (("none", None), ("L1", "l1(lambd=0.01)"), ("L2", "l2(lambd=0.1)")):
        model = nn.DFN(hidden_dims=(6, 5), n_classes=3, activation="relu", regularizer=reg, seed=0)
        hists[name] = model.fit(X, y, epochs=3, batch_size=16, verbose=0,
                                callbacks=[nn.callbacks.GradientStats(every=2)])
        models[name] = model
    fig = nn.plots.gradient_flow(hists["L1"], path=tmp_path / "flow.png", title="flow")
    assert isinstance(fig, Figure) and (tmp_path / "flow.png").stat().st_size > 1000
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4      # with dead-unit statistics
    assert isinstance(nn.plots.gradient_flow(hists["none"].history, params="dense_1/W"), Figure)
    fig = nn.plots.weight_distributions(models, path=tmp_path / "w.png")
    assert isinstance(fig, Figure) and len(fig.axes) == 9 and (tmp_path / "w.png").exists()
    assert len(nn.plots.weight_distributions(models["L2"], params=None).axes) == 6
    assert len(nn.plots.weight_distributions([models["L1"], models["L2"]]).axes) == 6
    with pytest.raises(DataError, match="GradientStats"):
        nn.plots.gradient_flow({"loss": [1.0]})
    with pytest.raises(DataError, match="params"):
        nn.plots.gradient_flow(hists["L1"], params="nothing")


# ============================================================================================ command line

def test_cli_train_grad_stats_writes_json_and_figure(tmp_path, capsys):
    code = cli.main(["train", "--data", "digits", "--n-train", "300", "--hidden", "8", "--epochs", "2", "--quiet",
                     "--regularizer", "l1(lambd=0.001)", "--grad-stats", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "penalty share" in out and "saturated" in out
    run = json.loads((tmp_path / "run.json").read_text())
    assert len(run["history"]["penalty_share/dense/W"]) == 2 and run["config"]["regularizer"] == "l1(lambd=0.001)"
    assert 0 < run["row"]["penalty_share"] < 1
    assert (tmp_path / "gradient_flow.png").stat().st_size > 1000


def test_cli_compare_penalty_share_column(capsys):
    code = cli.main(["compare", "--data", "digits", "--n-train", "200", "--configs", "none", "l2(lambd=0.01)",
                     "--epochs", "1", "--jobs", "1", "--penalty-share"])
    out, err = capsys.readouterr()
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("config"))
    assert header.rstrip().endswith("penalty share")
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines() if line.startswith(("none ", "l2("))}
    assert rows["none"] == "0.0%" and rows["l2(lambd=0.01)"] != "0.0%"


# ============================================================================================ benchmark harness

def test_gradstats_benchmark_harness_runs(tmp_path, capsys):
    """``python -m benchmarks.gradstats`` on small synthetic data: it runs, both models end identical, and the JSON
    has its fields (no timing is asserted: speed is measured, not tested)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import gradstats

    out = tmp_path / "gs.json"
    assert gradstats.main(["--workloads", "W1", "--epochs", "2", "--quick", "--data", "synthetic",
                           "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert row["same_weights"] and row["data"] == "synthetic"
    assert row["keys_per_epoch"] == 4 * 5 + 1      # 4 weights × 5 statistics, the sigmoid layer's saturation
    for key in ("ratio", "cpu_ratio", "callback_share", "stats_in_steps", "expected_ratio"):
        assert row[key] > 0, key
    assert "W1" in capsys.readouterr().out


def test_gradient_stats_in_training_mode_leaves_training_unchanged():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(64, 5)), np.arange(64) % 3

    def run(callbacks):
        model = nn.Sequential([nn.layers.Dense(8), nn.layers.BatchNormalization(), nn.layers.Activation("relu"),
                               nn.layers.Dropout(0.3), nn.layers.Dense(3)], seed=0, dtype="float64")
        model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy")
        model.fit(X, y, epochs=3, batch_size=16, verbose=0, callbacks=callbacks)
        return model.get_weights()      # moving statistics included

    for a, b in zip(run([]), run([nn.callbacks.GradientStats(training=True)])):
        np.testing.assert_array_equal(a, b)
