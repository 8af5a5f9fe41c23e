"""Experiment grids: configuration specs, data splits, determinism serial vs parallel, the table, the figures."""

import csv
import json

import numpy as np
import pytest
from extras import require

import numpynet as nn
from numpynet import experiments as ex
from numpynet.errors import DataError, SpecError

QUICK = ex.BASE.replace(hidden_dims=(16,), epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def data():
    return ex.load_data("digits", n_train=400)


@pytest.fixture(scope="module")
def configs():
    return ex.make_configs(["none", "l2(lambd=0.01)", "l1(lambd=1e-3)+dropout(0.2)"], base=QUICK)


@pytest.fixture(scope="module")
def serial(configs, data):
    return ex.run_grid(configs, data, jobs=1, verbose=0)


# ------------------------------------------------------------------------------------------------ configurations

def test_spec_string_applies_parts_to_the_base():
    c = ex.make_config("l2(lambd=0.01)+dropout(0.3)+batchnorm")
    assert c.regularizer == "l2(lambd=0.01)"
    assert c.dropout == 0.3 and c.batchnorm
    assert c.name == "l2(lambd=0.01)+dropout(0.3)+batchnorm"
    assert (c.hidden_dims, c.activation, c.optimizer, c.batch_size) == ((200,), "sigmoid", "sgd(lr=0.1)", 64)
    assert ex.make_config("dropout").dropout == 0.2
    assert ex.make_config("dropout(rate=0.5)").dropout == 0.5
    none = ex.make_config("none")
    assert none.regularizer is None and none.dropout == 0 and not none.batchnorm and none.spec == "none"


def test_spec_round_trips_and_plus_inside_parentheses_is_not_a_separator():
    c = ex.make_config("l1l2(l1=1e+0, l2=2.5e-3)+dropout(0.1)")
    assert c.regularizer == str(nn.regularizers.get("l1l2(l1=1.0, l2=0.0025)"))
    again = ex.make_config(c.spec)
    assert (again.regularizer, again.dropout, again.batchnorm) == (c.regularizer, c.dropout, c.batchnorm)
    assert ex.split_parts("a(1e+4)+b") == ["a(1e+4)", "b"]


@pytest.mark.parametrize("spec, words", [
    ("l3(lambd=0.1)", ["l3"]),                       # unknown regularizer: the registry names it
    ("l2(lambd=0.01)+l1(lambd=0.01)", ["two weight penalties", "l1l2"]),
    ("dropout(1.5)", ["rate", "1.5"]),
    ("batchnorm(0.9)", ["no arguments"]),
    ("l2+", ["empty part"]),
    ("__import__('os').system('ls')", ["plain name"]),
])
def test_bad_specs_raise_spec_error(spec, words):
    with pytest.raises(SpecError) as info:
        ex.make_config(spec)
    for word in words:
        assert word in str(info.value)


def test_config_validates_its_fields():
    with pytest.raises(SpecError, match="dropout"):
        ex.Config(dropout=1.0)
    with pytest.raises(SpecError, match="epochs"):
        ex.Config(epochs=0)
    with pytest.raises(SpecError, match="dtype"):
        ex.Config(dtype="int8")
    with pytest.raises(SpecError, match="unknown configuration field"):
        ex.make_config({"learning_rate": 0.1})
    with pytest.raises(SpecError, match="unique"):
        ex.make_configs(["none", "none"])
    assert ex.make_config({"epochs": 3}, name="x").epochs == 3


def test_presets_are_valid_and_have_budgets():
    reg = ex.PRESETS["regularizers"]
    names = [c.name for c in reg.configs]
    assert names[:4] == ["none", "l1", "l2", "l1l2"] and "dropout" in names and "batchnorm" in names
    by_name = {c.name: c for c in reg.configs}
    assert by_name["l1"].regularizer == "l1(lambd=0.0001)" and by_name["l2"].regularizer == "l2(lambd=0.01)"
    assert by_name["batchnorm"].batchnorm and by_name["dropout"].dropout == 0.2
    assert all(c.hidden_dims == (200,) and c.optimizer == "sgd(lr=0.1)" and c.batch_size == 64
               for c in reg.configs)
    assert {c.epochs for c in reg.configs_for("fashion-mnist")} == {20}
    assert {c.epochs for c in reg.configs_for("digits", epochs=3)} == {3}
    assert reg.n_train_for("fashion-mnist") == 20000 and reg.n_train_for("digits") is None


def test_build_model_layers():
    plain = ex.build_model(ex.make_config("l2(lambd=0.01)+dropout(0.5)"), 10, (None, 64))
    kinds = [type(layer).__name__ for layer in plain.layers]
    assert kinds == ["Dense", "Dropout", "Dense"]
    assert plain.get_weights()[0].shape == (64, 200)
    bn = ex.build_model(ex.make_config("batchnorm", base=QUICK), 10, (None, 64))
    kinds = [type(layer).__name__ for layer in bn.layers]
    assert kinds == ["Dense", "BatchNormalization", "Activation", "Dense"]
    assert not bn.layers[0].use_bias


# ------------------------------------------------------------------------------------------------ data

def test_load_data_splits_are_disjoint_and_sized(data):
    assert data.X_train.shape == (400, 64) and data.X_val.shape == (40, 64)
    assert data.X_train.dtype == np.float32 and data.n_classes == 10
    rows = {r.tobytes() for r in data.X_train}
    assert not any(r.tobytes() in rows for r in data.X_val)
    everything = ex.load_data("digits", validation_split=0)
    assert everything.X_val is None and len(everything.X_train) == 1347
    assert "digits: 400 training / 40 validation" in data.describe()
    with pytest.raises(DataError, match="do not fit"):
        ex.load_data("digits", n_train=1300)
    with pytest.raises(SpecError, match="data"):
        ex.load_data("cifar")


def test_auto_falls_back_to_digits_when_fashion_mnist_is_missing(monkeypatch):
    def missing(name, path=None, download=True):
        assert download is False   # auto never downloads
        raise DataError("not here")
    monkeypatch.setattr(nn.datasets, "find_dataset", missing)
    assert ex.resolve_data_name("auto") == "digits"
    monkeypatch.setattr(nn.datasets, "find_dataset", lambda name, path=None, download=True: "/somewhere")
    assert ex.resolve_data_name("auto") == "fashion-mnist"
    assert ex.resolve_data_name("MNIST") == "mnist"


# ------------------------------------------------------------------------------------------------ grids

def test_table_contents(serial, configs):
    assert serial.names == [c.name for c in configs]
    for row in serial:
        for key in ("train_accuracy", "val_accuracy", "test_accuracy", "zero_weights"):
            assert 0.0 <= row[key] <= 1.0
        assert row["epochs"] == 2 and row["seconds_per_epoch"] > 0 and row["data_loss"] > 0
    assert serial["none"]["reg_loss"] == 0.0
    assert serial["l2(lambd=0.01)"]["reg_loss"] > 0
    # the L2 row's penalty is ½·λ·Σw² over both kernels, as the last epoch ended (the history's last value)
    assert serial["l2(lambd=0.01)"]["reg_loss"] == serial.histories["l2(lambd=0.01)"]["reg_loss"][-1]
    assert serial.weights["none"].shape == (64, 16)
    assert serial["none"]["mean_abs_weight"] == pytest.approx(np.mean(np.abs(serial.weights["none"])))
    assert serial.best()["name"] in serial.names
    text = serial.format()
    assert all(name in text for name in serial.names)
    assert "test acc" in text and "%" in text


def test_training_beats_chance_and_is_reproducible(data):
    config = QUICK.replace(epochs=5, optimizer="adam(lr=0.01)")
    a, b = ex.train_config(config, data), ex.train_config(config, data)
    assert a["row"]["test_accuracy"] > 0.6
    np.testing.assert_array_equal(a["weights"], b["weights"])
    assert a["history"]["loss"] == b["history"]["loss"]


def _without_timing(rows):
    return [{k: v for k, v in row.items() if k not in ("seconds", "seconds_per_epoch")} for row in rows]


def test_grid_is_the_same_serial_and_in_parallel(serial, configs, data):
    parallel = ex.run_grid(configs, data, jobs=2, verbose=0)
    assert _without_timing(parallel.rows) == _without_timing(serial.rows)
    for name in serial.names:
        np.testing.assert_array_equal(parallel.weights[name], serial.weights[name])
        for key in ("loss", "data_loss", "reg_loss", "accuracy", "val_loss", "val_accuracy"):
            assert parallel.histories[name][key] == serial.histories[name][key]


def test_grid_on_a_dask_cluster_matches_serial(serial, configs, data):
    LocalCluster = require("dask.distributed").LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        on_dask = ex.run_grid(configs, data, scheduler=cluster.scheduler_address, verbose=0)
    assert _without_timing(on_dask.rows) == _without_timing(serial.rows)


def test_l1_makes_weights_sparser_and_l2_shrinks_them(data):
    base = QUICK.replace(epochs=15, optimizer="sgd(lr=0.5)")
    res = ex.run_grid(ex.make_configs(["none", "l1(lambd=3e-3)", "l2(lambd=0.05)"], base=base), data, verbose=0)
    assert res["l1(lambd=3e-3)"]["zero_weights"] > res["none"]["zero_weights"] + 0.2
    assert res["l2(lambd=0.05)"]["mean_abs_weight"] < 0.8 * res["none"]["mean_abs_weight"]


def test_verbose_prints_one_line_per_configuration_and_a_bar(configs, data, capfd):
    ex.run_grid(configs[:2], data, verbose=1)
    captured = capfd.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[1/2] none") and "test accuracy" in lines[1]
    assert "grid 2/2 configurations" in captured.err    # the progressbar2 bar, on stderr


def test_run_grid_argument_errors(data):
    with pytest.raises(SpecError, match="jobs"):
        ex.run_grid(["none"], data, jobs=0)
    with pytest.raises(SpecError, match="at least one"):
        ex.run_grid([], data)
    with pytest.raises(DataError, match="grid data"):
        ex.run_grid(["none"], 42)


# ------------------------------------------------------------------------------------------------ output files

def test_csv_and_json(serial, tmp_path):
    serial.to_csv(tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == serial.names
    assert float(rows[1]["test_accuracy"]) == pytest.approx(serial.rows[1]["test_accuracy"])
    assert rows[1]["regularizer"] == "l2(lambd=0.01)" and rows[0]["hidden_dims"] == "16"
    doc = json.loads(serial.to_json(tmp_path / "r.json"))
    assert doc == json.loads((tmp_path / "r.json").read_text())
    assert [r["name"] for r in doc["rows"]] == serial.names
    assert doc["histories"]["none"]["loss"] == serial.histories["none"]["loss"]
    assert doc["configs"][2]["dropout"] == 0.2


def _is_png(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_figures_are_written(serial, tmp_path):
    paths = serial.save(tmp_path / "out")
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert names == ["curves.png", "losses.png", "reg_penalty.png", "results.csv", "results.json", "weights.png"]
    for name in ("curves.png", "losses.png", "weights.png", "reg_penalty.png"):
        assert _is_png(tmp_path / "out" / name)
    from numpynet import plots
    fig = plots.plot_history(serial.histories["l2(lambd=0.01)"], tmp_path / "h.png", title="l2")
    assert _is_png(tmp_path / "h.png")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4   # loss, data, penalty, validation
    fig = plots.plot_weight_histograms(serial)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len(serial)


# ------------------------------------------------------------------------------------------------ every grid logs
#                                                                                 sum(model.losses) per epoch

def test_grids_log_the_penalty_after_each_epoch(serial):
    for name in serial.names:
        h = serial.histories[name]
        assert len(h["reg_penalty"]) == 2 and serial[name]["reg_penalty"] == h["reg_penalty"][-1]
    assert serial.histories["none"]["reg_penalty"] == [0.0, 0.0]
    assert all(v > 0 for v in serial.histories["l2(lambd=0.01)"]["reg_penalty"])
    assert serial.weights_label == "W1" and "|W1|<1e-3" in serial.format()
    assert serial["none"]["reg_penalty_initial"] == 0.0 and serial["l2(lambd=0.01)"]["reg_penalty_initial"] > 0
    text = serial.format_history("reg_penalty")
    assert "start" in text and "epoch 2" in text and all(name in text for name in serial.names)


# ------------------------------------------------------------------------------------------------ MobileNetV2


def test_to_image_size_pads_and_upscales():
    rng = np.random.default_rng(0)
    fashion = rng.random((3, 28, 28, 1), dtype=np.float32)
    out = ex.to_image_size(fashion, 32)
    assert out.shape == (3, 32, 32, 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 2:30, 2:30], fashion)     # a 2-pixel zero border
    assert out.sum() == pytest.approx(fashion.sum())
    digits = rng.random((2, 8, 8, 1))
    up = ex.to_image_size(digits, 32)                                # each pixel repeated 4x4
    np.testing.assert_array_equal(up[:, ::4, ::4], digits)
    np.testing.assert_array_equal(up[:, 3::4, 1::4], digits)
    odd = ex.to_image_size(np.ones((1, 5, 5, 1)), 12)               # factor 2 -> 10x10, then 1 pixel each side
    assert odd.sum() == 100 and odd[0, 0].sum() == 0 and odd[0, 1:11, 1:11].all()
    uneven = ex.to_image_size(np.ones((1, 7, 7, 1)), 10)            # 3 pixels of border: 1 top/left, 2 bottom/right
    assert uneven[0, 1:8, 1:8].all() and uneven.sum() == 49 and not uneven[0, 8:].any()
    with pytest.raises(DataError, match="do not fit"):
        ex.to_image_size(fashion, 16)
    with pytest.raises(DataError, match="NHWC"):
        ex.to_image_size(np.ones((2, 64)), 32)


def test_load_data_with_image_size():
    d = ex.load_data("digits", n_train=100, n_test=50, image_size=32)
    assert d.X_train.shape == (100, 32, 32, 1) and d.X_val.shape == (10, 32, 32, 1)
    assert d.X_test.shape == (50, 32, 32, 1) and "images of 32x32x1" in d.describe()
    flat = ex.load_data("digits", n_train=100, n_test=50)
    np.testing.assert_array_equal(d.X_train[:, ::4, ::4, 0].reshape(100, 64), flat.X_train)
    np.testing.assert_array_equal(d.y_test, flat.y_test)


def test_mobilenet_config_validation():
    c = ex.MOBILENET_BASE
    assert (c.architecture, c.width, c.hidden_dims, c.activation) == ("mobilenet_v2", 0.5, (), "relu6")
    assert "mobilenet_v2 width 0.5" in c.describe()
    assert ex.Config(architecture="MobileNet_V2").hidden_dims == ()     # the DFN default (200,) is dropped
    with pytest.raises(SpecError, match="architecture"):
        ex.Config(architecture="resnet50")
    with pytest.raises(SpecError, match="width"):
        ex.Config(width=0.5)                                           # width is for MobileNetV2 only
    with pytest.raises(SpecError, match="width"):
        c.replace(width=0)
    with pytest.raises(SpecError, match="hidden_dims"):
        c.replace(hidden_dims=(64,))
    with pytest.raises(SpecError, match="dropout"):
        ex.make_config("l2(l2=0.001)+dropout(0.2)", base=c)
    with pytest.raises(SpecError, match="activation"):
        c.replace(activation="tanh")


def test_mobilenet_preset_definition(monkeypatch):
    preset = ex.PRESETS["mobilenet"]
    assert [c.name for c in preset.configs] == ["none", "l1", "l2"]
    assert [c.regularizer for c in preset.configs] == [None, "l1(l1=0.001)", "l2(l2=0.001)"]
    assert all(c.architecture == "mobilenet_v2" and c.optimizer == "sgd(lr=0.01, momentum=0.9)"
               and c.batch_size == 32 for c in preset.configs)
    assert preset.data_options == {"image_size": 32} and preset.report == ("reg_penalty",)
    monkeypatch.delenv("NUMPYNET_FAST", raising=False)
    assert {c.width for c in preset.configs_for("fashion-mnist")} == {0.5}
    assert preset.n_train_for("fashion-mnist") == 2000 and preset.n_test_for("fashion-mnist") == 2000
    assert {c.epochs for c in preset.configs_for("digits", epochs=7)} == {7}
    monkeypatch.setenv("NUMPYNET_FAST", "1")
    fast = preset.configs_for("fashion-mnist")
    assert {c.width for c in fast} == {0.25} and {c.epochs for c in fast} == {2}
    assert preset.n_train_for("digits") <= 128
    # presets without a fast budget are unchanged by NUMPYNET_FAST
    assert ex.PRESETS["reference"].n_train_for("fashion-mnist") == 20000


def test_mobilenet_needs_images_and_sets_bn_momentum():
    with pytest.raises(DataError, match="image_size"):
        ex.build_model(ex.MOBILENET_BASE, 10, (None, 64))
    model = ex.build_model(ex.MOBILENET_BASE.replace(width=0.25, regularizer="l1(l1=0.001)"), 10, (5, 32, 32, 1))
    assert model.output_shape == (None, 10) and len(model.losses) > 50
    bns = [layer for layer in model.layers if isinstance(layer, nn.layers.BatchNormalization)]
    assert len(bns) == 52 and {layer.momentum for layer in bns} == {0.9}
    keras_default = ex.build_model(ex.MOBILENET_BASE.replace(width=0.25, bn_momentum=None), 10, (5, 32, 32, 1))
    assert {layer.momentum for layer in keras_default.layers
            if isinstance(layer, nn.layers.BatchNormalization)} == {0.99}
    dfn = ex.build_model(ex.make_config("batchnorm", base=QUICK.replace(bn_momentum=0.8)), 10, (None, 64))
    assert dfn.layers[1].momentum == 0.8
    with pytest.raises(SpecError, match="bn_momentum"):
        ex.Config(bn_momentum=1.5)


@pytest.fixture(scope="module")
def mobilenet_setup():
    preset = ex.PRESETS["mobilenet"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NUMPYNET_FAST", "1")
        configs = preset.configs_for("digits")
        data = ex.load_data("digits", n_train=preset.n_train_for("digits"), n_test=preset.n_test_for("digits"),
                            **preset.data_options)
    return configs, data


@pytest.fixture(scope="module")
def mobilenet_grid(mobilenet_setup):
    return ex.run_grid(*mobilenet_setup, jobs=1, verbose=0)


def test_mobilenet_grid_is_the_same_serial_and_in_parallel(mobilenet_setup, mobilenet_grid):
    # one BLAS thread per MobileNetV2 configuration, serial or in a worker: the same float32 sums
    configs, data = mobilenet_setup
    parallel = ex.run_grid(configs[1:], data, jobs=2, verbose=0)
    assert _without_timing(parallel.rows) == _without_timing(mobilenet_grid.rows[1:])
    for name in parallel.names:
        assert parallel.histories[name]["loss"] == mobilenet_grid.histories[name]["loss"]
        np.testing.assert_array_equal(parallel.weights[name], mobilenet_grid.weights[name])


def test_mobilenet_grid_rows_and_penalty_curves(mobilenet_grid):
    res = mobilenet_grid
    assert res.names == ["none", "l1", "l2"] and res.weights_label == "W"
    for row in res:
        assert row["epochs"] == 2 and row["seconds_per_epoch"] > 0 and row["data_loss"] > 0
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["params"] > 10000
    curves = {name: res.histories[name]["reg_penalty"] for name in res.names}
    assert curves["none"] == [0.0, 0.0]
    assert all(v > 0 for v in curves["l1"]) and all(v > 0 for v in curves["l2"])
    assert res["l1"]["reg_penalty"] == curves["l1"][-1] and res["none"]["reg_loss"] == 0.0
    # every kernel of the network is described, not only the first convolution
    assert res.weights["l1"].size > 10 * 3 * 3 * 8
    text = res.format()
    assert "|W|<1e-3" in text and all(name in text for name in res.names)


def test_mobilenet_grid_figures(mobilenet_grid, tmp_path):
    from numpynet import plots
    paths = mobilenet_grid.save(tmp_path)
    assert str(tmp_path / "reg_penalty.png") in paths
    assert _is_png(tmp_path / "reg_penalty.png") and _is_png(tmp_path / "weights.png")
    fig = plots.plot_reg_penalty(mobilenet_grid)
    assert [line.get_label() for line in fig.axes[0].lines] == ["none", "l1", "l2"]
    l1_line = fig.axes[0].lines[1]           # epoch 0 is the penalty before training, then one point per epoch
    assert list(l1_line.get_xdata()) == [0, 1, 2]
    assert list(l1_line.get_ydata()) == [mobilenet_grid["l1"]["reg_penalty_initial"]] + \
        mobilenet_grid.histories["l1"]["reg_penalty"]
    assert fig.axes[0].get_yscale() == "linear"     # a zero curve ("none") keeps the axis linear
    fig = plots.plot_reg_penalty({k: v for k, v in mobilenet_grid.histories.items() if k != "none"}, log=True)
    assert fig.axes[0].get_yscale() == "log"
