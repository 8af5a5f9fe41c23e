"""Hardening of files and arguments: atomic saves, bounded and validated loads, exact resumption, IDX bombs,
constructor checks and the CLI's early refusals (issue 13)."""

import gzip
import io
import json
import os
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest
from npz_files import config_of, npy_bytes, read_entries, with_config, write_entries

import numpynet as nn
from numpynet import cli
from numpynet import io as nnio
from numpynet.core import saving
from numpynet.errors import DataError, ShapeError, SpecError


def digits(n=120):
    (X, y), _ = nn.datasets.load_digits(dtype=np.float64)
    return X[:n], y[:n]


def small_dfn(dtype="float64", **kw):
    args = dict(hidden_dims=(8,), n_classes=10, activation="relu", optimizer="adam(lr=0.01)", seed=0, dtype=dtype)
    args.update(kw)
    model = nn.DFN(**args)
    model.build((None, 64))
    return model


def leftovers(directory):
    return sorted(p for p in os.listdir(directory) if p.endswith(".tmp") or ".tmp" in p)


# ============================================================================================================ save

def test_concurrent_saves_always_leave_a_loadable_file(tmp_path):
    path = tmp_path / "race.npz"
    models = [small_dfn(seed=s) for s in range(3)]
    expected = [[w.copy() for w in m.get_weights()] for m in models]
    errors, loaded = [], []

    def writer(model):
        try:
            for _ in range(15):
                model.save(path)
        except Exception as exc:      # pragma: no cover - the assertion below reports it
            errors.append(exc)

    def reader(stop):
        while not stop.is_set():
            if path.exists():
                try:
                    loaded.append(nn.load_model(path).get_weights())
                except Exception as exc:   # pragma: no cover
                    errors.append(exc)

    stop = threading.Event()
    threads = [threading.Thread(target=writer, args=(m,)) for m in models]
    watcher = threading.Thread(target=reader, args=(stop,))
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert not errors, errors
    final = nn.load_model(path).get_weights()
    # every file ever seen is one complete model, never a mixture of two
    for weights in loaded + [final]:
        assert any(all(np.array_equal(a, b) for a, b in zip(weights, ws)) for ws in expected)
    assert leftovers(tmp_path) == []


def test_save_to_a_directory_is_refused_and_leaves_nothing(tmp_path):
    target = tmp_path / "adir"
    target.mkdir()
    with pytest.raises(SpecError, match="is a directory"):
        small_dfn().save(target)
    assert os.listdir(target) == [] and sorted(os.listdir(tmp_path)) == ["adir"]
    with pytest.raises(SpecError, match="does not exist"):
        small_dfn().save(tmp_path / "missing" / "m.npz")
    assert sorted(os.listdir(tmp_path)) == ["adir"]


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError(28, "No space left on device")])
def test_an_interrupted_save_keeps_the_old_file_and_removes_its_temporary(tmp_path, monkeypatch, failure):
    path = tmp_path / "m.npz"
    old = small_dfn(seed=1)
    old.save(path)
    before = path.read_bytes()

    def broken_fsync(fd):
        raise failure

    monkeypatch.setattr(nnio.os, "fsync", broken_fsync)
    with pytest.raises(type(failure) if isinstance(failure, Exception) else failure):
        small_dfn(seed=2).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_failure_while_writing_arrays_leaves_no_temporary(tmp_path, monkeypatch):
    def exploding_savez(fh, **arrays):
        fh.write(b"partial")
        raise RuntimeError("boom")

    monkeypatch.setattr(nnio.np, "savez", exploding_savez)
    with pytest.raises(RuntimeError, match="boom"):
        small_dfn().save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_saved_file_has_the_usual_permissions(tmp_path):
    path = tmp_path / "m.npz"
    small_dfn().save(path)
    assert os.stat(path).st_mode & 0o600 == 0o600
    assert os.stat(path).st_mode & 0o077 == 0o666 & ~saving._umask() & 0o077


def test_float64_weights_round_trip_bit_identical(tmp_path):
    model = small_dfn(dtype="float64")
    rng = np.random.default_rng(7)
    model.set_weights([rng.standard_normal(w.shape) * np.pi for w in model.get_weights()])
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        assert data["weight/0"].dtype == np.float64
    loaded = nn.load_model(tmp_path / "m.npz")
    assert loaded.dtype == np.float64
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert b.dtype == np.float64 and np.array_equal(a, b)
        assert a.tobytes() == b.tobytes()


# ============================================================================================================ resume

def _train(model, X, y, epochs):
    model.fit(X, y, epochs=epochs, batch_size=16, shuffle=True, verbose=0)


def assert_resume_is_exact(make, path, check_loaded=None):
    """Two epochs of ``make()`` without a break give bit for bit the weights of one epoch, save to ``path``, load
    and one more epoch; ``check_loaded(saved, loaded)`` runs on the loaded model before it trains."""
    X, y = digits()
    straight = make()
    _train(straight, X, y, 2)
    first = make()
    _train(first, X, y, 1)
    first.save(path)
    resumed = nn.load_model(path)
    if check_loaded is not None:
        check_loaded(first, resumed)
    _train(resumed, X, y, 1)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("optimizer", ["sgd(lr=0.05, momentum=0.9)", "adam(lr=0.01)",
                                       "sgd(learning_rate='exponential_decay(initial_learning_rate=0.1, "
                                       "decay_steps=3, decay_rate=0.5)')"])
def test_save_load_continue_is_bit_identical_dfn(tmp_path, optimizer):
    def make():
        return nn.DFN(hidden_dims=(16,), n_classes=10, activation="relu", dropout=0.3, optimizer=optimizer, seed=3,
                      dtype="float64")

    def same_step_count(saved, loaded):
        assert loaded.optimizer.iterations == saved.optimizer.iterations

    assert_resume_is_exact(make, tmp_path / "half.npz", same_step_count)


def test_save_load_continue_is_bit_identical_with_seeded_noise_layers(tmp_path):
    L = nn.layers

    def make():
        model = nn.Sequential([L.Dense(16, activation="tanh"), L.Dropout(0.2, seed=11), L.GaussianNoise(0.1),
                               L.Dense(10)], seed=5, dtype="float64")
        model.compile(optimizer="sgd(lr=0.05, momentum=0.9)", loss="softmax_cross_entropy")
        model.build((None, 64))
        return model

    assert_resume_is_exact(make, tmp_path / "half.npz")


def test_files_without_random_state_still_load(tmp_path):
    path = tmp_path / "m.npz"
    model = small_dfn()
    model.save(path)
    header = config_of(path)
    del header["random_state"]           # what files written before the streams were saved look like
    loaded = nn.load_model(with_config(path, tmp_path / "old.npz", header))
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)


def test_bad_random_state_in_a_file_is_a_data_error(tmp_path):
    path = tmp_path / "m.npz"
    small_dfn().save(path)
    header = config_of(path)
    for bad in ("x", {"bit_generator": "PCG64", "state": "nope"}, {"bit_generator": "os.system"}):
        header["random_state"]["shuffle"] = bad
        with pytest.raises(DataError, match="random state"):
            nn.load_model(with_config(path, tmp_path / "bad.npz", header))
    header["random_state"] = {"layers": [[99, {}]]}
    with pytest.raises(DataError, match="layer index"):
        nn.load_model(with_config(path, tmp_path / "bad.npz", header))


# ============================================================================================================ load

@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "good.npz"
    X, y = digits(40)
    model = small_dfn()
    model.fit(X, y, epochs=1, verbose=0)
    model.save(path)
    return path


def test_not_a_zip_truncated_and_bad_crc(saved, tmp_path):
    raw = saved.read_bytes()
    (tmp_path / "text.npz").write_bytes(b"hello")
    with pytest.raises(DataError, match=r"text\.npz.*not a readable zip"):
        nn.load_model(tmp_path / "text.npz")
    (tmp_path / "short.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"short\.npz"):
        nn.load_model(tmp_path / "short.npz")
    # flip one byte inside weight/0's data: the zip's CRC catches it
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("weight/0.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    bad = bytearray(raw)
    bad[start] ^= 0xFF
    (tmp_path / "crc.npz").write_bytes(bytes(bad))
    with pytest.raises(DataError, match=r"crc\.npz.*weight/0"):
        nn.load_model(tmp_path / "crc.npz")
    with pytest.raises(DataError, match="cannot read model file"):
        nn.load_model(tmp_path / "absent.npz")


def test_unexpected_entries_are_refused_before_they_are_read(saved, tmp_path, monkeypatch):
    entries = read_entries(saved)
    entries["payload.npy"] = b"x" * 100
    write_entries(tmp_path / "extra.npz", entries)
    reads = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: reads.append(name) or
                        real_open(self, name, *a, **k))
    with pytest.raises(DataError, match="'payload.npy' which save_model does not write"):
        nn.load_model(tmp_path / "extra.npz")
    assert reads == []


def test_a_compressed_bomb_entry_is_refused_without_inflating_it(saved, tmp_path):
    entries = read_entries(saved)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        zf.writestr(zipfile.ZipInfo("optimizer/velocity/7.npy"), b"\0" * (64 << 20),
                    compress_type=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="'optimizer/velocity/7.npy' which is compressed"):
            nn.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_huge_config_without_weights_is_refused_without_allocating(saved, tmp_path):
    header = config_of(saved)
    header["model"]["dfn"]["hidden_dims"] = [40_000_000]
    entries = {"__config__.npy": npy_bytes(np.array(json.dumps(header)))}
    write_entries(tmp_path / "huge.npz", entries)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"declares 4 weight arrays.*\(40000000,\).*holds none"):
            nn.load_model(tmp_path / "huge.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20          # a 40M-wide layer would need 7 GB: refused before any allocation


def test_weights_that_do_not_match_the_config_are_refused(saved, tmp_path):
    entries = read_entries(saved)
    # too few weights (file claims a bigger hidden layer than it holds)
    header = config_of(saved)
    header["model"]["dfn"]["hidden_dims"] = [4000]
    with pytest.raises(DataError, match=r"weight/0 .*float64 of shape \(64, 4000\).*\(64, 8\)"):
        nn.load_model(with_config(saved, tmp_path / "big.npz", header))
    # a missing weight
    del entries["weight/3.npy"]
    write_entries(tmp_path / "missing.npz", entries)
    with pytest.raises(DataError, match="declares 4 weight arrays.*holds 3"):
        nn.load_model(tmp_path / "missing.npz")
    # a float32 array in a float64 model: never silently converted
    entries = read_entries(saved)
    entries["weight/1.npy"] = npy_bytes(np.zeros(8, np.float32))
    write_entries(tmp_path / "f32.npz", entries)
    with pytest.raises(DataError, match="weight/1.*float64.*float32"):
        nn.load_model(tmp_path / "f32.npz")
    # object arrays are never unpickled
    entries = read_entries(saved)
    entries["weight/1.npy"] = npy_bytes(np.array([object()] * 8, dtype=object), allow_pickle=True)
    write_entries(tmp_path / "obj.npz", entries)
    with pytest.raises(DataError, match="Python objects"):
        nn.load_model(tmp_path / "obj.npz")
    # an entry whose header declares more data than the entry holds
    entries = read_entries(saved)
    entries["weight/1.npy"] = npy_bytes(np.zeros(8))[:-16]
    write_entries(tmp_path / "short.npz", entries)
    with pytest.raises(DataError, match="weight/1.*holds"):
        nn.load_model(tmp_path / "short.npz")
    # optimizer state of the wrong shape
    entries = read_entries(saved)
    entries["optimizer/momentum/0.npy"] = npy_bytes(np.zeros((3, 3)))
    write_entries(tmp_path / "opt.npz", entries)
    with pytest.raises(DataError, match="optimizer entry 'momentum/0'"):
        nn.load_model(tmp_path / "opt.npz")


@pytest.mark.parametrize("mutate, words", [
    (lambda h: "not json {", "not valid JSON"),
    (lambda h: [1, 2], "not a numpynet model file"),
    (lambda h: dict(h, format="other"), "not a numpynet model file"),
    (lambda h: dict(h, version=99), "version 99"),
    (lambda h: dict(h, model=5), "no 'model'"),
    (lambda h: dict(h, model=dict(h["model"], **{"class": "Evil"})), "model class"),
    (lambda h: dict(h, model=dict(h["model"], dfn=dict(h["model"]["dfn"], hidden_dims="12"))), "hidden_dims"),
    (lambda h: dict(h, model=dict(h["model"], dfn=dict(h["model"]["dfn"], hidden_dims=[2.5]))), "bad model config"),
    (lambda h: dict(h, model=dict(h["model"], dfn=dict(h["model"]["dfn"], activation=7))), "bad model config"),
    (lambda h: dict(h, model=dict(h["model"], dtype="float16")), "dtype"),
    (lambda h: dict(h, model=dict(h["model"], input_shape=[None, -3])), "input_shape"),
    (lambda h: dict(h, model={k: v for k, v in h["model"].items() if k != "dfn"}), "'dfn'"),
    (lambda h: dict(h, model=dict(h["model"], compile=dict(h["model"]["compile"], optimizer="nope"))),
     "unknown optimizer"),
    (lambda h: dict(h, random_state=3), "random_state"),
])
def test_malformed_configs_are_data_errors_naming_the_file(saved, tmp_path, mutate, words):
    header = mutate(config_of(saved))
    text = header if isinstance(header, str) else json.dumps(header)
    entries = read_entries(saved)
    entries["__config__.npy"] = npy_bytes(np.array(text))
    write_entries(tmp_path / "bad.npz", entries)
    with pytest.raises(DataError) as info:
        nn.load_model(tmp_path / "bad.npz")
    assert "bad.npz" in str(info.value) and words in str(info.value)


def test_unknown_layer_names_and_graph_configs(tmp_path):
    inp = nn.Input((5,))
    model = nn.Model(inp, nn.layers.Dense(3)(nn.layers.Dense(4, activation="relu")(inp)), seed=0)
    model.compile(loss="mse")
    model.save(tmp_path / "g.npz")
    header = config_of(tmp_path / "g.npz")
    header["model"]["layers"][0]["name"] = "evil_layer"
    with pytest.raises(DataError, match="unknown layer 'evil_layer'") as info:
        nn.load_model(with_config(tmp_path / "g.npz", tmp_path / "u.npz", header))
    assert isinstance(info.value, SpecError)     # the remedy is an argument: custom_objects=
    header = config_of(tmp_path / "g.npz")
    header["model"]["nodes"][0]["inputs"] = [["nowhere", 0]]
    with pytest.raises(DataError, match="g2.npz"):
        nn.load_model(with_config(tmp_path / "g.npz", tmp_path / "g2.npz", header))
    header = config_of(tmp_path / "g.npz")
    header["model"]["inputs"][0]["shape"] = [100_000_000]
    with pytest.raises(DataError, match=r"\(100000000, 4\)"):
        nn.load_model(with_config(tmp_path / "g.npz", tmp_path / "g3.npz", header))
    with pytest.raises(SpecError, match="custom_objects"):
        nn.load_model(tmp_path / "g.npz", custom_objects=["Dense"])


def test_a_model_without_weights_is_refused_but_an_unbuilt_one_loads(tmp_path):
    path = tmp_path / "m.npz"
    small_dfn().save(path)
    entries = {k: v for k, v in read_entries(path).items() if k == "__config__.npy"}
    write_entries(tmp_path / "noweights.npz", entries)
    with pytest.raises(DataError, match="declares 4 weight arrays.*holds none"):
        nn.load_model(tmp_path / "noweights.npz")
    unbuilt = nn.DFN(hidden_dims=(4,), n_classes=3, seed=0)
    unbuilt.save(tmp_path / "unbuilt.npz")
    assert not nn.load_model(tmp_path / "unbuilt.npz").built


# ============================================================================================================ IDX

def _idx_header(code, shape):
    return bytes((0, 0, code, len(shape))) + np.asarray(shape, dtype=">u4").tobytes()


def test_idx_gzip_bomb_is_refused_from_its_header():
    # 3 GiB declared, a few bytes of stream: refused before anything is decompressed
    raw = gzip.compress(_idx_header(0x08, (3, 1024, 1024, 1024)) + b"\0" * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="at most 1073741824 bytes"):
            nn.datasets.read_idx(io.BytesIO(raw))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_idx_stream_longer_than_declared_is_not_inflated():
    raw = gzip.compress(_idx_header(0x08, (100,)) + b"\0" * (200 << 20))
    assert len(raw) < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="extra bytes.*100 bytes, got more than"):
            nn.datasets.read_idx(io.BytesIO(raw))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    with pytest.raises(DataError, match="at most 50 bytes"):
        nn.datasets.read_idx(io.BytesIO(gzip.compress(_idx_header(0x08, (100,)) + b"\0" * 100)), max_bytes=50)


def test_dataset_headers_are_checked_against_the_dataset_before_the_payload(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    nn.datasets.write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 29), np.uint8))
    nn.datasets.write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    nn.datasets.write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    nn.datasets.write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    with pytest.raises(DataError, match=r"\(4, 28, 29\).*28x28"):
        nn.datasets.load_fashion_mnist(path=d, download=False)
    # 60,001 training images declared (and a stream that stops right after the header)
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_header(0x08, (60_001, 28, 28))))
    with pytest.raises(DataError, match="at most 60000 images"):
        nn.datasets.load_fashion_mnist(path=d, download=False)


# ============================================================================================================ args

@pytest.mark.parametrize("make, words", [
    (lambda: nn.layers.Dense(4, use_bias="no"), "'use_bias' must be True or False"),
    (lambda: nn.layers.Dense(True), "'units'"),
    (lambda: nn.layers.Dense(2.0), "'units'"),
    (lambda: nn.layers.Dense("4"), "'units'"),
    (lambda: nn.layers.Dense(4, seed=-1), "'seed'"),
    (lambda: nn.layers.Dense(4, seed="abc"), "'seed'"),
    (lambda: nn.layers.Dropout(0.2, seed=1.5), "'seed'"),
    (lambda: nn.layers.Dense(4, kernel_regularizer=123), "'kernel_regularizer'"),
    (lambda: nn.layers.Dense(4, kernel_regularizer="l9"), "'kernel_regularizer'"),
    (lambda: nn.layers.Dense(4, bias_initializer="nope"), "'bias_initializer'"),
    (lambda: nn.layers.Dense(4, kernel_constraint="max_norm(max_value=-1)"), "'kernel_constraint'"),
    (lambda: nn.layers.Dense(4, activity_regularizer="l2(lambd='x')"), "'activity_regularizer'"),
    (lambda: nn.layers.Dense(4, activation="nope"), "'activation'"),
    (lambda: nn.layers.Dense(4, trainable="yes"), "'trainable'"),
    (lambda: nn.layers.Dense(4, name=3), "'name'"),
    (lambda: nn.layers.Conv2D(4, 3, use_bias=1), "'use_bias'"),
    (lambda: nn.layers.Conv2D(4, 3, kernel_initializer="nope"), "'kernel_initializer'"),
    (lambda: nn.layers.DepthwiseConv2D(3, depthwise_regularizer="l2(lambd=-1)"), "'depthwise_regularizer'"),
    (lambda: nn.layers.BatchNormalization(center="no"), "'center'"),
    (lambda: nn.layers.BatchNormalization(gamma_constraint="nope"), "'gamma_constraint'"),
    (lambda: nn.layers.GlobalAveragePooling2D(keepdims="no"), "'keepdims'"),
    (lambda: nn.activations.get("softmax(axis=1.5)"), "'axis'"),
])
def test_layer_arguments_are_checked_at_construction(make, words):
    with pytest.raises(SpecError, match=words):
        make()


def test_softmax_axis_is_checked_when_the_shape_is_known():
    layer = nn.layers.Dense(4, activation="softmax(axis=1000)")
    with pytest.raises(SpecError, match="axis.*1000.*-2..1"):
        nn.Sequential([layer]).build((None, 3))
    assert not layer.params                       # refused before any weight was made
    with pytest.raises(SpecError, match="axis"):
        nn.layers.Activation("softmax(axis=2)")(np.ones((2, 3)))
    with pytest.raises(SpecError, match="axis"):
        nn.activations.get("softmax(axis=-3)")(np.ones((2, 3)))
    nn.Sequential([nn.layers.Dense(4, activation="softmax(axis=1)")]).build((None, 3))


def test_spec_parser_refuses_a_bare_name_as_a_value():
    with pytest.raises(SpecError, match="variable name"):
        nn.layers.get("dense(4, activation=relu)")
    with pytest.raises(SpecError, match="variable name"):
        nn.regularizers.get("l2(lambd=x)")
    assert nn.layers.get("dense(4, activation='relu')").units == 4


def test_numeric_arguments_never_overflow():
    with pytest.raises(SpecError, match="finite"):
        nn.spec.check_number("L2", "lambd", 10 ** 400)
    with pytest.raises(SpecError, match="integer"):
        nn.spec.check_int("X", "n", 2.0)
    with pytest.raises(SpecError, match="True or False"):
        nn.spec.check_bool("X", "flag", 1)
    assert nn.spec.check_bool("X", "flag", np.bool_(True)) is True
    for bad in ("(", 5, True, {"a": 1}, "float16", ">f8"):
        with pytest.raises(SpecError, match="dtype"):
            nn.config.as_float_dtype(bad)


# ============================================================================================================ CLI

def run_cli(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, *words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("numpynet: error: ") and "Traceback" not in err, err
    for word in words:
        assert word in lines[0]


def test_cli_gradcheck_on_a_broken_model_file(tmp_path, capsys):
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 broken")
    code, _, err = run_cli(["gradcheck", "--model", str(tmp_path / "broken.npz")], capsys)
    assert_one_line(code, err, "broken.npz")


def test_cli_refuses_bad_outputs_before_training(tmp_path, capsys):
    code, out, err = run_cli(["train", "--epochs", "1", "--n-train", "50", "--save",
                              str(tmp_path / "missing" / "m.npz")], capsys)
    assert_one_line(code, err, "--save", "does not exist")
    assert "trained" not in out
    code, out, err = run_cli(["train", "--epochs", "1", "--n-train", "50", "--plot", str(tmp_path / "c.xyz")],
                             capsys)
    assert_one_line(code, err, "--plot", ".xyz")
    assert "trained" not in out
    code, out, err = run_cli(["train", "--epochs", "1", "--n-train", "50", "--save", str(tmp_path)], capsys)
    assert_one_line(code, err, "is a directory")


def test_errors_are_the_three_types():
    assert issubclass(nnio.UnknownLayerError, DataError) and issubclass(nnio.UnknownLayerError, SpecError)
    assert all(issubclass(e, ValueError) for e in (DataError, ShapeError, SpecError))


@pytest.mark.parametrize("bit_generator", ["MT19937", "Philox", "SFC64"])
def test_other_bit_generators_save_and_resume_exactly(tmp_path, bit_generator):
    """Their states hold ndarrays (saved as lists), and on loading the new generator replaces the model's default
    one in every layer that shared it, so dropout keeps drawing from the model's stream."""
    def make():
        model = nn.DFN(hidden_dims=(16,), n_classes=10, activation="relu", dropout=0.3, optimizer="adam(lr=0.01)",
                       seed=3, dtype="float64")
        model.build((None, 64))
        old = model._init_rng
        new = np.random.Generator(getattr(np.random, bit_generator)(7))
        for holder, name in [(model, "_shuffle_rng"), (model, "_init_rng")] + [(la, "_rng") for la in model.layers]:
            if getattr(holder, name, None) is old:
                setattr(holder, name, new)
        return model

    def shares_the_restored_stream(saved, loaded):
        assert type(loaded._init_rng.bit_generator).__name__ == bit_generator
        assert all(la._rng is loaded._init_rng for la in loaded.layers if getattr(la, "_rng", None) is not None)
        loaded.save(tmp_path / "again.npz")            # a loaded model saves again

    assert_resume_is_exact(make, tmp_path / "half.npz", shares_the_restored_stream)
