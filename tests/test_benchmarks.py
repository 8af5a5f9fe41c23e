"""Smoke tests of the benchmark harness (benchmarks/): it runs, and its JSON has the promised shape.

No timing is asserted here — speed is measured side by side by ``make bench``, never as a pass/fail test.
Only numpynet runs (on small synthetic data, so the tests need neither the dataset nor the peers).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import WORKLOADS, synthetic_data, workload  # noqa: E402
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
    assert [r["workload"] for r in report["results"]] == ["W1", "W2", "W3"]
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
    # Without peers there are no ratios; the GEMM and memory checks still appear, with positive values.
    assert quick_report["ratios"] == {"W1": {}, "W2": {}, "W3": {}}
    names = [c["check"] for c in quick_report["checks"]]
    assert names == ["W1 numpynet / its GEMM time", "W2 numpynet / its GEMM time",
                     "W2 fit peak memory (tracemalloc) / training data"]
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
    assert by_name["W1 numpynet/pytorch s/epoch"]["passed"] is True
    assert by_name["W1 numpynet / its GEMM time"]["value"] == pytest.approx(1.25)


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
