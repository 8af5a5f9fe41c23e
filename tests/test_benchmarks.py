"""Smoke tests of the benchmark harness (benchmarks/): it runs, and its JSON has the promised shape.

No timing is asserted here — speed is measured side by side by ``make bench``, never as a pass/fail test.
The harness runs numpynet on small synthetic data (so the tests need neither the dataset nor the peers); W4's
MobileNetV2 peers (benchmarks/mobilenet.py) are checked against Keras — same parameters, same outputs in float64 —
and PyTorch's tests are skipped when it is not installed.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import WORKLOADS, load_data, mobilenet, synthetic_data, workload  # noqa: E402
from benchmarks import run as bench  # noqa: E402

ROW_KEYS = {"workload", "framework", "status", "data", "n_train", "n_test", "batch_size", "epochs", "epoch_seconds",
            "median_s", "min_s", "max_s", "measured_epochs", "rss_peak_delta_bytes", "rss_method", "train_bytes",
            "test_accuracy", "train_loss", "version", "note", "gemm_s", "gemm_ratio", "gemm_ratios", "gemm_floor_s",
            "gemm_epoch_seconds",
            "traced_peak_bytes", "steal_s", "loadavg_1min"}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    assert bench.main(["--quick", "--frameworks", "numpynet", "--data", "synthetic", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_quick_run_writes_the_schema(quick_report):
    report = quick_report
    assert report["schema"] == bench.SCHEMA
    assert {"created", "machine", "settings", "workloads", "results", "ratios", "checks"} <= set(report)
    assert report["settings"]["dtype"] == "float32" and report["settings"]["threads"] == 2
    assert report["settings"]["quick"] is True
    assert [r["workload"] for r in report["results"]] == ["W1", "W2", "W3", "W4"]
    for row in report["results"]:
        assert row["status"] == "ok", row.get("note")
        assert ROW_KEYS <= set(row), ROW_KEYS - set(row)
        assert row["framework"] == "numpynet" and row["data"] == "synthetic"
        assert row["n_train"] == workload(row["workload"], quick=True).n_train
        assert len(row["epoch_seconds"]) == row["epochs"] == 2
        assert row["measured_epochs"] == 1 and row["median_s"] == row["epoch_seconds"][1]   # first epoch dropped
        assert 0 < row["min_s"] <= row["median_s"] <= row["max_s"]
        assert row["gemm_s"] > 0 and row["gemm_floor_s"] > 0
        # one paired ratio per measured epoch: that epoch's seconds over the GEMM-only epoch run right after it
        assert len(row["gemm_ratios"]) == row["measured_epochs"]
        assert row["gemm_ratio"] == pytest.approx(row["median_s"] / row["gemm_s"])
        assert row["traced_peak_bytes"] > 0 and row["rss_peak_delta_bytes"] >= 0
        assert row["train_bytes"] > 0
        assert 0.0 <= row["test_accuracy"] <= 1.0
        assert np.isfinite(row["train_loss"])


def test_quick_run_learns_the_synthetic_classes(quick_report):
    # The synthetic classes are easy: a harness that trained nothing (or measured an untrained model) shows here.
    mlps = [r for r in quick_report["results"] if r["workload"] in ("W1", "W2")]
    assert all(r["test_accuracy"] > 0.5 for r in mlps), [(r["workload"], r["test_accuracy"]) for r in mlps]


def test_checks_and_table(quick_report):
    # Without peers there are no ratios; the memory check still appears, with a positive value.
    assert quick_report["ratios"] == {"W1": {}, "W2": {}, "W3": {}, "W4": {}}
    names = [c["check"] for c in quick_report["checks"]]
    assert names == ["W2 fit peak memory (tracemalloc) / training data"]
    assert all(c["value"] > 0 and isinstance(c["passed"], bool) for c in quick_report["checks"])
    table = bench.format_table(quick_report).splitlines()
    assert table[0].startswith("| workload | framework | median s/epoch")
    assert len(table) == 2 + len(quick_report["results"])


def test_unsupported_pair_is_skipped_with_a_note(tmp_path):
    out = tmp_path / "skip.json"
    bench.main(["--quick", "--workloads", "W3", "--frameworks", "sklearn", "--data", "synthetic", "--out", str(out)])
    (row,) = json.loads(out.read_text())["results"]
    assert row["status"] == "skipped" and "convolution" in row["note"]


def test_summarize_ratios_and_targets():
    rows = [{"workload": "W1", "framework": "numpynet", "status": "ok", "median_s": 0.1, "gemm_s": 0.08,
             "gemm_ratio": 1.25, "traced_peak_bytes": 1, "train_bytes": 10},
            {"workload": "W1", "framework": "pytorch", "status": "ok", "median_s": 0.2},
            {"workload": "W1", "framework": "keras", "status": "skipped"}]
    ratios, checks = bench.summarize(rows)
    assert ratios == {"W1": {"pytorch": pytest.approx(0.5)}}
    by_name = {c["check"]: c for c in checks}
    assert set(by_name) == {"W1 numpynet/pytorch s/epoch"}          # the GEMM bound is withdrawn (issue 15)
    assert (by_name["W1 numpynet/pytorch s/epoch"]["bound"], by_name["W1 numpynet/pytorch s/epoch"]["passed"]) == \
        (0.35, False)


def test_w4_is_checked_against_pytorch_and_keras():
    rows = [{"workload": "W4", "framework": "numpynet", "status": "ok", "median_s": 3.0, "gemm_ratio": 2.0,
             "traced_peak_bytes": 2**20, "rss_peak_delta_bytes": 2**21, "rss_method": "rss-hwm", "train_bytes": 10},
            {"workload": "W4", "framework": "pytorch", "status": "ok", "median_s": 2.5, "rss_peak_delta_bytes": 0,
             "rss_method": "rss-hwm"},
            {"workload": "W4", "framework": "keras", "status": "ok", "median_s": 2.0, "rss_peak_delta_bytes": 0,
             "rss_method": "rss-hwm"}]
    ratios, checks = bench.summarize(rows)
    assert ratios == {"W4": {"pytorch": pytest.approx(1.2), "keras": pytest.approx(1.5)}}
    by_name = {c["check"]: c for c in checks}
    assert set(by_name) == {"W4 numpynet/pytorch s/epoch", "W4 numpynet/keras s/epoch"}
    assert (by_name["W4 numpynet/pytorch s/epoch"]["bound"], by_name["W4 numpynet/pytorch s/epoch"]["passed"]) == \
        (1.0, False)
    assert (by_name["W4 numpynet/keras s/epoch"]["bound"], by_name["W4 numpynet/keras s/epoch"]["passed"]) == \
        (0.7, False)
    lines = bench.memory_lines(rows)      # peak memory of fit, every framework, numpynet's traced peak too
    assert len(lines) == 3 and "W4 numpynet: peak of fit 2 MB" in lines[0] and "tracemalloc" in lines[0]


def test_busy_host_rows_are_flagged():
    row = {"workload": "W1", "framework": "numpynet", "status": "ok", "epoch_seconds": [1.0, 1.0, 1.0]}
    assert bench.busy_host_warnings([dict(row, steal_s=0.01)]) == []
    (warning,) = bench.busy_host_warnings([dict(row, steal_s=0.5)])
    assert "W1 numpynet" in warning and "0.50 s" in warning


def test_epoch_stats_drop_the_first_epoch():
    stats = bench.epoch_stats([5.0, 1.0, 3.0, 2.0])
    assert stats == {"median_s": 2.0, "min_s": 1.0, "max_s": 3.0, "measured_epochs": 3}
    assert bench.epoch_stats([4.0])["median_s"] == 4.0


def test_gemm_products_skip_the_first_layers_input_gradient():
    wl = workload("W1", quick=True)
    model = bench.numpynet_model(wl)
    model.build((None, 784))
    products = bench.gemm_products(model, 64)
    shapes = [p[1:] for p in products]
    # dense(784->200): forward, dW, no dx; dense(200->10): forward, dW, dx
    assert shapes == [(64, 784, 200), (784, 64, 200), (64, 200, 10), (200, 64, 10), (64, 10, 200)]


def test_gemm_products_of_lenet_use_im2col_shapes():
    model = bench.numpynet_model(workload("W3", quick=True))
    model.build((None, 28, 28, 1))
    shapes = [p[1:] for p in bench.gemm_products(model, 2)]
    assert shapes[:2] == [(2 * 28 * 28, 25, 6), (25, 2 * 28 * 28, 6)]            # conv1 "same", no dx
    assert shapes[2:5] == [(2 * 10 * 10, 150, 16), (150, 2 * 10 * 10, 16), (2 * 10 * 10, 16, 150)]   # conv2


def test_synthetic_data_shapes_and_dtypes():
    (X, y), (Xt, yt) = synthetic_data(50, 20, image=True)
    assert X.shape == (50, 28, 28, 1) and Xt.shape == (20, 28, 28, 1)
    assert X.dtype == np.float32 and 0.0 <= X.min() and X.max() <= 1.0
    assert y.shape == (50,) and set(np.unique(np.concatenate([y, yt]))) <= set(range(10))


def test_workloads_follow_the_design_table():
    assert (WORKLOADS["W1"].hidden, WORKLOADS["W1"].activation, WORKLOADS["W1"].batch_size) == ((200,), "sigmoid", 64)
    assert (WORKLOADS["W2"].hidden, WORKLOADS["W2"].momentum, WORKLOADS["W2"].n_train) == ((300, 100), 0.9, 60_000)
    assert WORKLOADS["W3"].image and WORKLOADS["W3"].batch_size == 32 and WORKLOADS["W3"].n_train == 2_000
    w4 = WORKLOADS["W4"]
    assert (w4.network, w4.pad, w4.width, w4.n_train, w4.batch_size) == ("mobilenet_v2", 2, 1.0, 2_000, 32)
    assert (w4.lr, w4.momentum, w4.l2) == (0.05, 0.9, 0.0)
    assert workload("W2", epochs=3).epochs == 3 and workload("W2", quick=True).n_train < 60_000


def test_floor_bare_loop_trains_and_is_timed_next_to_numpynet():
    from benchmarks import floor

    (X, y), (Xt, yt) = synthetic_data(2000, 500, image=False)
    bare = floor.BareW1(batch_size=64, lr=0.1)
    first, second = bare.epoch(X, y), bare.epoch(X, y)
    assert np.isfinite(first) and second < first          # it learns (the same arithmetic as W1's numpynet model)
    assert bare.accuracy(Xt, yt) > 0.5

    result = floor.measure(epochs=2, data_source="synthetic")
    assert result["data"] == "synthetic"
    assert all(len(values) == 2 for values in result["seconds"].values())
    ratios = ("bare_over_gemm", "numpynet_over_gemm", "numpynet_over_bare")
    assert all(result[key] > 0 for key in ratios)
    seconds = result["seconds"]          # the first round is dropped: one ratio of the second round's epochs
    assert result["numpynet_over_bare"] == pytest.approx(seconds["numpynet"][1] / seconds["bare"][1])
    assert result["bare_test_accuracy"] > 0.5 and result["numpynet_test_accuracy"] > 0.5


def test_floor_bare_w2_loop_is_w2_and_is_timed_next_to_numpynet():
    from benchmarks import floor

    wl = workload("W2")
    bare = floor.bare_model(wl)
    assert [W.shape for W in bare.Ws] == [(784, 300), (300, 100), (100, 10)]
    assert (bare.batch_size, bare.lr, bare.momentum, bare.l2) == (128, 0.01, 0.9, 1e-4)
    for W in bare.Ws:                               # he_normal: truncated at 2σ, σ = √(2/fan_in)/0.8796 before
        sigma = np.sqrt(2.0 / W.shape[0]) / 0.87962566103423978
        assert np.abs(W).max() <= 2 * sigma and abs(W.std() / np.sqrt(2.0 / W.shape[0]) - 1) < 0.1
    (X, y), (Xt, yt) = synthetic_data(2048, 500, image=False)
    start = [W.copy() for W in bare.Ws]
    first, second = bare.epoch(X, y), bare.epoch(X, y)
    assert np.isfinite(first) and second < first and bare.accuracy(Xt, yt) > 0.5
    assert all(np.abs(W).sum() != np.abs(W0).sum() for W, W0 in zip(bare.Ws, start))

    # one step by hand: the loss includes the penalty l2·Σw², and the update is Keras's momentum step on the
    # data gradient plus 2·l2·w
    one = floor.BareW2(batch_size=4, lr=0.5, momentum=0.5, l2=0.1)
    Ws0, bs0 = [W.astype(np.float64) for W in one.Ws], [b.astype(np.float64) for b in one.bs]
    one.rng = np.random.default_rng(1)
    order = np.random.default_rng(1).permutation(4)
    loss = one.epoch(X[:4], y[:4])
    xb, yb = X[:4][order[:4]].astype(np.float64), y[:4][order[:4]]
    hs = [xb]
    for k, (W, b) in enumerate(zip(Ws0, bs0)):
        z = hs[-1] @ W + b
        hs.append(np.where(z > 0, z, np.expm1(np.minimum(z, 0))) if k < 2 else z)
    p = np.exp(hs[-1] - hs[-1].max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected_loss = -np.log(p[np.arange(4), yb]).mean() + 0.1 * sum((W ** 2).sum() for W in Ws0)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    dz = p.copy()
    dz[np.arange(4), yb] -= 1
    dz /= 4
    for k in (2, 1, 0):
        gW, gb = hs[k].T @ dz + 2 * 0.1 * Ws0[k], dz.sum(axis=0)
        np.testing.assert_allclose(one.Ws[k], Ws0[k] - 0.5 * gW, rtol=1e-4, atol=1e-6)   # m = −η·g on step 1
        np.testing.assert_allclose(one.bs[k], bs0[k] - 0.5 * gb, rtol=1e-4, atol=1e-6)
        if k:
            dz = (dz @ Ws0[k].T) * np.where(hs[k] > 0, 1.0, hs[k] + 1.0)

    result = floor.measure(epochs=2, data_source="synthetic", wid="W2", quick=True)
    assert result["workload"] == "W2" and all(len(v) == 2 for v in result["seconds"].values())
    assert result["numpynet_over_bare"] > 0 and result["bare_test_accuracy"] > 0.5


def test_w4_images_are_zero_padded_to_32x32():
    wl = workload("W4", quick=True)
    (X, y), (Xt, yt), name = load_data(wl, "synthetic")
    assert name == "synthetic" and X.dtype == np.float32
    assert X.shape == (wl.n_train, 32, 32, 1) and Xt.shape == (wl.n_test, 32, 32, 1)
    (X28, _), _ = synthetic_data(wl.n_train, wl.n_test, image=True)
    np.testing.assert_array_equal(X[:, 2:30, 2:30], X28)          # 2 zero pixels on every side, the image inside
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not X[:, border].any()


# ---------------------------------------------------------------------------------------------------- W4 peers
def test_mobilenet_plan():
    plan = mobilenet.plan(1.0)
    blocks = plan["blocks"]
    assert (plan["stem"], plan["first"], plan["head"], len(blocks)) == (32, 16, 1280, 16)
    assert [b[2] for b in blocks] == list(mobilenet.BLOCK_CHANNELS)
    assert [i for i, b in enumerate(blocks) if b[3] == 2] == [1, 3, 6, 13]
    assert all(b[1] == 6 * b[0] for b in blocks)
    assert [i for i, b in enumerate(blocks) if b[4]] == [4, 7, 8, 10, 11, 14]      # stride 1 and c_in == c_out
    assert [mobilenet.channels(c, 0.25) for c in (32, 16, 24, 96, 160, 1280)] == [8, 8, 8, 24, 40, 320]
    assert mobilenet.same_padding(32, 3, 2) == (0, 1) and mobilenet.same_padding(33, 3, 2) == (1, 1)
    assert mobilenet.penalty_coefficients(None) == (0.0, 0.0)
    assert mobilenet.penalty_coefficients("l2(lambd=0.01)") == (0.0, 0.005)      # ½·λ·Σw² is Keras's l2 = λ/2
    assert mobilenet.penalty_coefficients("l1l2(l1=0.1, l2=0.2)") == (0.1, 0.2)


def test_mobilenet_width_rounding_is_numpynets():
    from numpynet import applications

    for width in (0.1, 0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4, 2.0):
        for count in (16, 24, 32, 64, 96, 160, 320, 1280):
            assert mobilenet.channels(count, width) == applications.scaled_channels(count, width), (count, width)


@pytest.fixture(scope="module")
def keras():
    from tf_parity_common import keras  # TensorFlow on the CPU (skipped without it unless NUMPYNET_REQUIRE_TF=1)

    return keras


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


@pytest.fixture(scope="module")
def keras_w4(keras):
    """W4's network in Keras, full width, float64 (built once: a functional MobileNetV2 takes seconds)."""
    return mobilenet.keras_mobilenet_v2((32, 32, 1), 10, width=1.0, dtype="float64")


def _keras_param_count(model):
    return model.count_params(), sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_numpynet_mobilenet_has_the_keras_parameters(keras_w4, keras):
    import numpynet as nn

    for width, reference in ((1.0, keras_w4), (0.35, None)):
        ours = nn.applications.mobilenet_v2(input_shape=(32, 32, 1), classes=10, width=width)
        theirs = reference or mobilenet.keras_mobilenet_v2((32, 32, 1), 10, width=width)
        shapes = sorted(tuple(w.shape) for w in ours.get_weights())
        assert shapes == sorted(tuple(w.shape) for w in theirs.get_weights()), width
        total = ours.count_params() if hasattr(ours, "count_params") else sum(w.size for w in ours.get_weights())
        assert total == theirs.count_params(), width          # BatchNorm moving mean/variance included


def test_torch_mobilenet_has_the_keras_parameters(keras_w4, torch):
    model = mobilenet.torch_mobilenet_v2((32, 32, 1), 10, width=1.0)
    total, trainable = _keras_param_count(keras_w4)
    assert total == 2_270_218 and trainable == 2_236_106
    # PyTorch's parameters are Keras's trainable weights; its BatchNorm running statistics are buffers.
    assert sum(p.numel() for p in model.parameters()) == trainable
    assert mobilenet.torch_count_params(model) == total


def test_torch_mobilenet_forward_and_backward_at_a_tiny_width(torch):
    model = mobilenet.torch_mobilenet_v2((32, 32, 1), 10, width=0.25, regularizer="l2(l2=1e-3)")
    x = torch.rand(3, 1, 32, 32)
    logits = model(x)
    assert tuple(logits.shape) == (3, 10) and torch.isfinite(logits).all()
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])) + model.penalty()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert len(model.kernels()) == 1 + 2 + 16 * 3 + 1 + 2        # stem, first block, 16 bottlenecks, head, Dense W, b
    odd = mobilenet.torch_mobilenet_v2((33, 35, 3), 7, width=0.25).eval()
    with torch.no_grad():
        assert tuple(odd(torch.rand(2, 3, 33, 35)).shape) == (2, 7)


def _randomize_batchnorm(model, rng):
    """Non-trivial BatchNorm weights and moving statistics (fresh ones are 1, 0, 0, 1 and would hide a mistake)."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])


@pytest.mark.parametrize("input_shape, width", [((32, 32, 1), 1.0), ((33, 31, 2), 0.5)])
def test_torch_mobilenet_computes_what_keras_computes(keras_w4, keras, torch, input_shape, width):
    # Keras's weights copied into the PyTorch network: the same logits in float64, in inference (moving statistics)
    # and training mode (batch statistics). Odd sizes check Keras's asymmetric "same" padding of the stem.
    rng = np.random.default_rng(0)
    theirs = keras_w4 if (input_shape, width) == ((32, 32, 1), 1.0) else \
        mobilenet.keras_mobilenet_v2(input_shape, 10, width=width, dtype="float64")
    _randomize_batchnorm(theirs, rng)
    ours = mobilenet.torch_mobilenet_v2(input_shape, 10, width=width).double()
    assert mobilenet.copy_keras_weights(theirs, ours) == theirs.count_params()
    x = rng.random((4, *input_shape))
    x_nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    for training in (False, True):
        expected = np.asarray(theirs(x, training=training))
        ours.train(training)
        with torch.no_grad():
            got = ours(x_nchw).numpy()
        assert got.shape == (4, 10)
        assert np.max(np.abs(got - expected)) <= 1e-10 * max(1.0, np.max(np.abs(expected))), training


def test_w4_pytorch_runner(torch):
    # The PyTorch runner on a W4 cut down to 2 batches of 32 per epoch at width 0.25: it trains and reports.
    from dataclasses import replace

    from benchmarks import peers

    wl = replace(workload("W4", quick=True), n_train=64, n_test=32)
    (X, y), (Xt, yt), _ = load_data(wl, "synthetic")
    timer = bench.Timer()
    out = peers.run_pytorch(wl, ((X, y), (Xt, yt)), timer)
    assert len(timer.seconds) == wl.epochs == 2 and timer.rss_delta >= 0
    assert 0.0 <= out["test_accuracy"] <= 1.0 and np.isfinite(out["train_loss"])
