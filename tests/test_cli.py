"""The ``numpynet`` command: train / compare / gradcheck, and one-line errors with exit status 2."""

import csv
import json
import os
import subprocess
import sys

import pytest
from extras import require

import numpynet as nn
from numpynet import cli
from numpynet.gradcheck import GradReport

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("numpynet: error: ") and "Traceback" not in err
    for word in words:
        assert word in lines[0]


def test_train_saves_a_model_and_a_plot(tmp_path, capsys):
    model_path, png = tmp_path / "m.npz", tmp_path / "curves.png"
    code, out, err = run(["train", "--data", "digits", "--hidden", "16", "--hidden", "8", "--epochs", "2",
                          "--n-train", "300", "--regularizer", "l2(lambd=0.01)", "--optimizer", "adam(lr=0.01)",
                          "--save", str(model_path), "--plot", str(png)], capsys)
    assert code == 0, err
    assert "test accuracy" in out and "validation accuracy" in out and "regularization loss" in out
    assert "Epoch 2/2" in err                      # the progress bar / epoch lines go to stderr
    model = nn.load_model(model_path)
    assert [w.shape for w in model.get_weights()] == [(64, 16), (16,), (16, 8), (8,), (8, 10), (10,)]
    assert png.read_bytes()[:4] == b"\x89PNG"
    (_, _), (Xt, yt) = nn.datasets.load_digits()
    reported = float(out.split("test accuracy")[1].split("%")[0]) / 100
    assert model.evaluate(Xt, yt)["accuracy"] == pytest.approx(reported, abs=5e-5)


def test_compare_two_configs_in_parallel_writes_files(tmp_path, capsys):
    out_dir = tmp_path / "grid"
    code, out, err = run(["compare", "--data", "digits", "--configs", "none", "l2(lambd=0.01)", "--jobs", "2",
                          "--epochs", "2", "--n-train", "300", "--hidden", "16", "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert "2 worker processes" in out and "test acc" in out
    table = out[out.index("config"):]
    assert "none" in table and "l2(lambd=0.01)" in table
    for name in ("results.csv", "results.json", "curves.png", "losses.png", "weights.png"):
        assert (out_dir / name).stat().st_size > 0
    with open(out_dir / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["none", "l2(lambd=0.01)"]
    assert {r["epochs"] for r in rows} == {"2"} and {r["hidden_dims"] for r in rows} == {"16"}
    doc = json.loads((out_dir / "results.json").read_text())
    assert len(doc["histories"]["none"]["loss"]) == 2
    assert doc["data"].startswith("digits: 300 training / 30 validation")


def test_compare_preset_uses_its_configurations(capsys):
    code, out, err = run(["compare", "--preset", "quick", "--data", "digits", "--jobs", "1"], capsys)
    assert code == 0, err
    assert "2 configurations, 2 epochs each" in out and "serially" in out
    assert "digits: 500 training" in out


def test_compare_preset_mobilenet_fast(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NUMPYNET_FAST", "1")
    out_dir = tmp_path / "mobilenet"
    code, out, err = run(["compare", "--preset", "mobilenet", "--data", "digits", "--jobs", "1",
                          "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert "3 configurations, mobilenet_v2 width 0.25, 2 epochs each, batch 32 (NUMPYNET_FAST budget)" in out
    assert "images of 32x32x1" in out and "grid 3/3 configurations" in err      # the progress bar
    table = out[out.index("config  "):out.index("regularization loss sum(model.losses)")]
    rows = [line.split()[0] for line in table.splitlines()[1:] if line.strip() and not line.startswith("-")]
    assert rows == ["none", "l1", "l2"] and "s/epoch" in table and "|W|<1e-3" in table
    curve = out[out.index("regularization loss sum(model.losses)"):]
    assert "epoch 1" in curve and "epoch 2" in curve
    assert curve.split("\nnone")[1].split()[:2] == ["0.0000", "0.0000"]
    png = (out_dir / "reg_penalty.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    doc = json.loads((out_dir / "results.json").read_text())
    penalties = {name: doc["histories"][name]["reg_penalty"] for name in ("none", "l1", "l2")}
    assert penalties["none"] == [0.0, 0.0]
    assert all(v > 0 for v in penalties["l1"] + penalties["l2"])
    assert [c["width"] for c in doc["configs"]] == [0.25] * 3
    assert {c["regularizer"] for c in doc["configs"]} == {None, "l1(l1=0.001)", "l2(l2=0.001)"}
    with open(out_dir / "results.csv", newline="") as f:
        assert [r["architecture"] for r in csv.DictReader(f)] == ["mobilenet_v2"] * 3


def test_compare_width_and_n_test_options(monkeypatch, capsys):
    monkeypatch.setenv("NUMPYNET_FAST", "1")
    code, out, err = run(["compare", "--preset", "mobilenet", "--data", "digits", "--jobs", "1", "--width", "0.3",
                          "--epochs", "1", "--n-train", "40", "--n-test", "30", "--validation-split", "0.25"],
                         capsys)
    assert code == 0, err
    assert "mobilenet_v2 width 0.3, 1 epoch each" in out
    assert "digits: 40 training / 10 validation / 30 test images of 32x32x1" in out


def test_compare_on_a_dask_scheduler(capsys):
    LocalCluster = require("dask.distributed").LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        code, out, err = run(["compare", "--preset", "quick", "--data", "digits", "--n-train", "200",
                              "--scheduler", cluster.scheduler_address], capsys)
    assert code == 0, err
    assert f"on the Dask cluster at {cluster.scheduler_address}" in out and "[2/2] l2" in out


def test_gradcheck_passes_and_prints_the_report(capsys):
    code, out, err = run(["gradcheck", "--hidden", "5", "--activation", "tanh", "--regularizer", "l2(lambd=0.1)",
                          "--samples", "8"], capsys)
    assert code == 0, err
    assert "dense/W" in out and "dense_1/b" in out and "OK" in out


def test_gradcheck_exit_code_1_when_a_gradient_is_wrong(monkeypatch, capsys):
    monkeypatch.setattr(nn.gradcheck, "check_model", lambda *a, **k: GradReport({"dense/W": 0.3, "dense/b": 1e-9}))
    code, out, _ = run(["gradcheck", "--samples", "4"], capsys)
    assert code == 1 and "FAILED" in out and "<-- check" in out


def test_gradcheck_on_a_saved_model(tmp_path, capsys):
    model = nn.DFN(hidden_dims=(4,), n_classes=3, activation="sigmoid", regularizer="l1(lambd=0.01)", seed=0)
    model.build((None, 6))
    model.save(tmp_path / "small.npz")
    code, out, err = run(["gradcheck", "--model", str(tmp_path / "small.npz"), "--samples", "5"], capsys)
    assert code == 0, err
    assert "random inputs" in out and "OK" in out


@pytest.mark.parametrize("argv, words", [
    (["train", "--regularizer", "l3(lambd=0.1)", "--epochs", "1"], ["l3"]),
    (["train", "--optimizer", "sgd(learning_rat=0.1)", "--epochs", "1"], ["learning_rat", "learning_rate"]),
    (["train", "--activation", "sigmod"], ["sigmod", "sigmoid"]),
    (["compare", "--configs", "none", "l2(lambd=0.01)+l1(lambd=0.01)"], ["two weight penalties"]),
    (["train", "--data", "cifar10"], ["--data", "cifar10"]),
    (["compare", "--data", "digits", "--preset", "nope"], ["--preset"]),
    (["train", "--epochs", "zero"], ["--epochs"]),
    (["bake"], ["bake"]),
    (["gradcheck", "--model", "/nonexistent/m.npz"], ["/nonexistent/m.npz"]),
    (["compare", "--preset", "quick", "--data", "digits", "--width", "0.5"], ["width", "mobilenet_v2"]),
    (["compare", "--preset", "mobilenet", "--data", "digits", "--width", "-1"], ["--width", "positive"]),
    (["compare", "--preset", "mobilenet", "--data", "digits", "--hidden", "32"], ["hidden_dims"]),
    (["train", "--data", "digits", "--n-train", "5000", "--epochs", "1"], ["do not fit"]),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, capsys):
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, *words)


def test_missing_fashion_mnist_is_a_one_line_error(monkeypatch, capsys):
    def missing(*args, **kwargs):
        raise nn.DataError("Fashion-MNIST not found; looked in:\n  - a\n  - b\nInstall it with ...")
    monkeypatch.setattr(nn.datasets, "load_fashion_mnist", missing)
    code, _, err = run(["train", "--data", "fashion-mnist", "--epochs", "1"], capsys)
    assert_one_line_error(code, err, "Fashion-MNIST not found", "looked in")


def test_python_dash_m_numpynet(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    ok = subprocess.run([sys.executable, "-m", "numpynet", "--help"], capture_output=True, text=True, env=env,
                        cwd=tmp_path, timeout=120)
    assert ok.returncode == 0 and "compare" in ok.stdout and "gradcheck" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "numpynet", "train", "--regularizer", "l2(lamda=0.01)"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "lambd" in bad.stderr


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    for text in ("(default: 20)", "(default: 64)", "(default: none)", "(default: float32)", "(default: 0.1)"):
        assert text in " ".join(out.split()), text


def test_gradcheck_progress_fits_where_it_goes(tmp_path, capsys, monkeypatch):
    # not a terminal (pytest's capture): one line saying how much work comes, no redrawn bar
    code, out, err = run(["gradcheck", "--hidden", "4", "--samples", "5"], capsys)
    assert code == 0 and "weight entries" in out and "loss evaluations" in out and "\r" not in err
    # a terminal: a bar, redrawn in place, and the model's compute_loss is its own method again afterwards
    monkeypatch.setenv("PROGRESSBAR_IS_TERMINAL", "1")
    model = nn.DFN(hidden_dims=(3,), n_classes=4, dtype="float64", seed=0)
    model.build((None, 6))
    model.save(tmp_path / "m.npz")
    code, out, err = run(["gradcheck", "--model", str(tmp_path / "m.npz"), "--samples", "4"], capsys)
    assert code == 0 and "central differences" in err and "100%" in err


def test_file_system_and_missing_package_errors_say_what_they_are(monkeypatch, capsys):
    def disk_full(args):
        raise OSError(28, "No space left on device", "/tmp/out.npz")

    def no_package(args):
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    for fail, words in ((disk_full, ("cannot access a file", "No space left", "/tmp/out.npz")),
                        (no_package, ("a package is missing", "matplotlib"))):
        monkeypatch.setitem(cli.COMMANDS, "train", fail)
        code, _, err = run(["train"], capsys)
        assert_one_line_error(code, err, *words)
