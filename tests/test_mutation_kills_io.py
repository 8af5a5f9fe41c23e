"""Model files (numpynet/core/io.py, saving.py, serialization.py): behaviour the mutation run (issue 13) found untested.

Pinned here: round trips of graph models (shared layers, merge layers, several inputs and outputs), uncompiled
Sequential models, DFNs with every constructor argument, user layers passed as ``custom_objects``, Nadam's scalar
state and every random stream (a layer's own generator at index 0, a bit generator other than the model's); what
each refused file is told (the DataError names the file and the problem: duplicate, encrypted or missing entries,
bad ``.npy`` headers, CRC errors past the header, a non-text or too long ``__config__``, NaN/Infinity/1e999 in the
JSON, weight and optimizer entries that do not fit the config, random states that do not fit the model); that the
header of an entry is all the loader reads before the sizes are checked; and the exact limits of the config checks
(shape rank 32, sizes 1 .. 2**62 - 1, 10,000 layers/inputs/hidden sizes, 4,000,000 config characters).

Expected values come from the models themselves (weights, predictions, ``get_config()`` before saving), NumPy's
own generators, or the limits the modules document — never from the loader's own output.

Survivors of the mutation run left alive, 39 of 404 (io.py 20 of 175, saving.py 12 of 60, serialization.py 7 of
169; names as in mutmut's list). No test can tell these from the original:
  io.py
  * _read_array 7 8: ``allow_pickle`` / ``max_header_size`` left at NumPy's defaults, which are the values passed
    (False, 10,000); 9 (``allow_pickle=True``): _npy_header refuses object dtypes before any entry is read.
  * _read_array 10 11 12 13 14: the "bytes after the array data" check cannot fire: _npy_header already required
    the entry to be exactly header + data, so ``fh.read(1)``, ``read(2)`` and ``read(None)`` all return b"".
  * _read_config 15: ``itemsize / 4`` vs ``// 4``: a text dtype's itemsize is always a multiple of 4.
  * _manifest 3: ``bad = ""`` instead of None: both are falsy, nothing else reads it.
  * _plan 14: ``_dry_build([], [])`` for a model without an input shape returns ([], []), as the shortcut does.
  * _dry_build 10: getattr default None instead of False, both falsy.
  * _check_optimizer_entries 32: ``dtype.kind in "XXiuXX"``: kinds are single letters, none is "X".
  * _restore_generators 59: ``getattr(model, attr)`` without a default: every model gets both generators in
    its constructor.
  * _guard 2: the "label already in the message" branch: no guarded call nests another, so a message holds the
    label only when a layer's name spells the file's own path.
  * load_model 79 80 85 86 (the set_weights guard's label and text): set_weights cannot fail there, because every
    weight's count, shape and dtype was checked against the config's plan first; 89: ``set_weights([])`` on a
    model without weights does nothing, the same as skipping it.
  saving.py
  * save_model 31: ``allow_nan=None`` is falsy, the same as False.
  * _umask 8: codec "ASCII" is "ascii". (_umask 2 4, the locale encoding instead of "ascii", showed a real bug: a
    non-ASCII process name made the read fail and the umask fall back to 022; the file is now read with
    errors="replace", pinned by the last test of this file, and those mutants may survive as equivalent on a UTF-8
    locale.)
  * _fsync_directory 15: ``O_RDONLY & O_DIRECTORY`` is 0, i.e. O_RDONLY, which opens a directory on Linux too;
    the path is always a directory.
  * _generator_states 3 8 9: the shuffle generator is never any layer's generator, so leaving it out of
    ``shared`` changes nothing; 7 14 31 40: getattr without a default, on models and layers that always have the
    attribute from their constructors.
  serialization.py
  * _stack 27: ``_dfn(dict(config))`` vs ``dict(config, input_shape=None)``: _dfn never reads ``input_shape``.
  * model_from_config 87 88 (a DFN compiled a second time with the same optimizer, loss and metrics before it is
    built) and 93 94 95 (``Model.build`` of a functional model is a no-op kept for the Keras habit).
  * _graph 101 (every layer called with the list of its inputs): a single-input layer treats a one-element list
    as its tensor; it differs only for a node that lists two or more inputs for a single-input layer, which the
    original silently reads as its first input and the mutant refuses. The mutant is better there (reported),
    so it is not pinned.
"""

import io
import json
import os
import stat
import struct
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from npz_files import config_of, npy_bytes, read_entries, with_config, write_entries

import numpynet as nn
from numpynet.core import saving
from numpynet.core import serialization as ser
from numpynet.core.io import MAX_CONFIG_CHARS
from numpynet.errors import DataError, SpecError

L = nn.layers
DENSE = {"activation": "linear", "use_bias": True}


# ------------------------------------------------------------------------------------------------------- helpers

def replaced(src, dst, **changes):
    """``src``'s entries with ``name=bytes`` replaced (``name=None`` removes it); names use / for __."""
    entries = read_entries(src)
    for key, value in changes.items():
        name = key.replace("__", "/") + ".npy" if key != "__config__" else "__config__.npy"
        if value is None:
            entries.pop(name)
        else:
            entries[name] = value
    return write_entries(dst, entries)


def refusal(path, **kwargs):
    """The DataError message of loading ``path``; every one names the file."""
    with pytest.raises(DataError) as info:
        nn.load_model(path, **kwargs)
    message = str(info.value)
    assert f"cannot load model file {str(path)!r}" in message or f"cannot read model file {str(path)!r}" in message
    return message


def flip_byte_near_end(path, entry, dst):
    """A copy of ``path`` with one byte of ``entry``'s data flipped 16 bytes before its end (the zip's CRC is
    then wrong, and only a reader that reads the whole entry can notice)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(entry)
    n, m = struct.unpack("<HH", raw[info.header_offset + 26: info.header_offset + 30])
    raw[info.header_offset + 30 + n + m + info.compress_size - 16] ^= 0xFF
    dst.write_bytes(bytes(raw))
    return dst


def stack(units=(2,), n_in=4, name="stack", seed=0, dtype="float32", compile=None, build=True):
    model = nn.Sequential([L.Dense(u, name=f"d{i}") for i, u in enumerate(units)], seed=seed, dtype=dtype, name=name)
    if compile:
        model.compile(**compile)
    if build:
        model.build((None, n_in))
    return model


def trained_stack(tmp_path, optimizer="adam(lr=0.01)", units=(2,), name="m.npz"):
    model = stack(units, compile=dict(optimizer=optimizer, loss="mse"))
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.standard_normal((5, 4)), rng.standard_normal((5, units[-1])))
    path = tmp_path / name
    model.save(path)
    return model, path


def same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(wa, wb))


class Affine(L.Layer):
    """y = x·K (not registered: loaded through custom_objects only)."""

    def __init__(self, units=1, name=None):
        super().__init__(name=name)
        self.units = units

    def build(self, input_shape):
        self.add_weight("K", (input_shape[-1], self.units), "glorot_uniform")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False):
        self.x = x
        return x @ self.params["K"]

    def backward(self, dy):
        self.grads["K"][...] = self.x.T @ dy
        return dy @ self.params["K"].T


class Fussy(L.Layer):
    """A user layer whose constructor refuses ``strict=True`` with a bare ValueError (no message)."""

    def __init__(self, strict=False, name=None):
        super().__init__(name=name)
        if strict:
            raise ValueError
        self.strict = strict

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy


# ================================================================================================== round trips

def twin_graph():
    a, b = nn.Input((3,), name="a"), nn.Input((3,), name="b")
    shared = L.Dense(3, name="shared")
    s1, s2 = shared(a), shared(b)
    o1 = L.Dense(2, name="o1")(L.Add(name="add")([s1, s2]))
    o2 = L.Dense(1, name="o2")(s2)
    model = nn.Model([a, b], [o1, o2], seed=7, dtype="float64", name="twin")
    model.compile(optimizer="adam(lr=0.01)", loss=["softmax_cross_entropy", "mse"])
    return model


def twin_data(seed):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((6, 3)), rng.standard_normal((6, 3))]
    return X, [rng.integers(0, 2, 6), rng.standard_normal((6, 1))]


def test_graph_with_a_shared_and_a_merge_layer_round_trips_exactly(tmp_path):
    model = twin_graph()
    model.train_on_batch(*twin_data(0))
    model.save(tmp_path / "g.npz")
    loaded = nn.load_model(tmp_path / "g.npz")
    assert type(loaded) is nn.Model and loaded.get_config() == model.get_config()
    assert loaded.name == "twin" and loaded.seed == 7 and loaded.dtype == np.float64
    assert [t.node.layer.name for t in loaded._inputs] == ["a", "b"]
    assert same_weights(model, loaded)
    X, y = twin_data(1)
    for got, want in zip(loaded.predict(X), model.predict(X)):
        assert np.array_equal(got, want)
    # the optimizer state (Adam moments of the shared layer included) came back: training continues identically
    model.train_on_batch(X, y)
    loaded.train_on_batch(X, y)
    assert same_weights(model, loaded)


def test_single_input_graph_round_trips_as_single_input(tmp_path):
    inp = nn.Input((4,), name="x")
    model = nn.Model(inp, L.Dense(2, name="out")(L.Dense(3, name="hidden")(inp)), seed=1, name="plain")
    model.compile(optimizer="sgd(lr=0.1)", loss="mse")
    model.save(tmp_path / "p.npz")
    loaded = nn.load_model(tmp_path / "p.npz")
    assert loaded.get_config() == model.get_config()
    X = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    out = loaded.predict(X)
    assert isinstance(out, np.ndarray) and np.array_equal(out, model.predict(X))


def test_uncompiled_sequential_round_trips_with_its_name_and_seed(tmp_path):
    model = stack((3, 2), name="tower", seed=3)
    model.save(tmp_path / "s.npz")
    loaded = nn.load_model(tmp_path / "s.npz")
    assert loaded.optimizer is None and loaded.loss is None
    assert loaded.get_config() == model.get_config()
    assert loaded.name == "tower" and loaded.seed == 3 and same_weights(model, loaded)


def test_dfn_round_trip_keeps_every_constructor_argument(tmp_path):
    model = nn.DFN(hidden_dims=(5,), n_classes=3, activation="tanh", optimizer="sgd(lr=0.2)", init_w="he_normal",
                   init_b="ones", loss="mse", metrics=["mae"], seed=11, dtype="float64", name="mynet")
    model.build((None, 4))
    model.save(tmp_path / "d.npz")
    loaded = nn.load_model(tmp_path / "d.npz")
    assert loaded.get_config() == model.get_config()
    assert (loaded.name, loaded.seed, loaded.init_w, loaded.init_b) == ("mynet", 11, "he_normal", "ones")
    assert str(loaded.loss) == str(model.loss) and loaded.metrics == ["mae"]
    assert same_weights(model, loaded)


def test_a_dfn_config_without_a_name_gets_the_dfn_default():
    dfn = {"hidden_dims": [3], "n_classes": 2, "activation": "relu", "regularizer": None,
           "init_w": "glorot_uniform", "init_b": "zeros", "dropout": 0.0}
    model = ser.model_from_config({"class": "DFN", "dfn": dfn, "seed": 4})
    assert model.name == nn.DFN().name == "dfn" and model.seed == 4


def test_user_layers_round_trip_through_custom_objects(tmp_path):
    seq = nn.Sequential([Affine(3, name="aff"), L.Dense(2, name="d")], seed=0)
    seq.build((None, 4))
    inp = nn.Input((4,), name="x")
    graph = nn.Model(inp, L.Dense(2, name="d")(Affine(3, name="aff")(inp)), seed=0)
    X = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    for i, model in enumerate((seq, graph)):
        path = tmp_path / f"u{i}.npz"
        model.save(path)
        with pytest.raises(DataError, match="unknown layer 'Affine'"):
            nn.load_model(path)
        loaded = nn.load_model(path, custom_objects={"Affine": Affine})
        assert isinstance(loaded.layers[0], Affine) and loaded.layers[0].units == 3
        assert loaded.layers[0].params["K"].shape == (4, 3)
        assert same_weights(model, loaded) and np.array_equal(loaded.predict(X), model.predict(X))
        assert loaded.get_config() == model.get_config()


def test_custom_objects_must_map_names_to_layer_classes(tmp_path):
    model = nn.Sequential([Affine(2, name="aff")], seed=0)
    model.build((None, 3))
    model.save(tmp_path / "u.npz")
    with pytest.raises(SpecError, match=r"custom_objects\['Affine'\] must be a Layer subclass, got <built-in "
                                        r"function print>"):
        nn.load_model(tmp_path / "u.npz", custom_objects={"Affine": print})
    # the same check when a config is turned into a layer directly
    with pytest.raises(SpecError, match=r"custom_objects\['Affine'\] must be a Layer subclass, got <class 'int'>"):
        ser.layer_from_json({"name": "Affine", "config": {}}, {"Affine": int})
    layer = ser.layer_from_json({"name": "Affine", "config": {"units": 5}}, {"Affine": Affine})
    assert type(layer) is Affine and layer.units == 5


def test_nadam_scalar_state_round_trips_and_training_continues(tmp_path):
    model, path = trained_stack(tmp_path, optimizer="nadam(learning_rate=0.01)")
    loaded = nn.load_model(path)
    assert loaded.optimizer.u_product == model.optimizer.u_product != 1.0
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    model.train_on_batch(X, y)
    loaded.train_on_batch(X, y)
    assert same_weights(model, loaded)


def test_the_first_layers_own_generator_is_restored(tmp_path):
    def make():
        model = nn.Sequential([L.GaussianNoise(0.5, seed=1, name="noise"), L.Dense(2, name="d")], seed=2)
        model.compile(optimizer="sgd(lr=0.1)", loss="mse")
        model.build((None, 3))
        return model

    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    model = make()
    model.train_on_batch(X, y)             # the noise layer (index 0) has drawn from its own stream
    model.save(tmp_path / "n.npz")
    assert config_of(tmp_path / "n.npz")["random_state"]["layers"][0][0] == 0
    loaded = nn.load_model(tmp_path / "n.npz")
    assert loaded.layers[0]._rng.bit_generator.state == model.layers[0]._rng.bit_generator.state
    model.train_on_batch(X, y)
    loaded.train_on_batch(X, y)
    assert same_weights(model, loaded)


def test_a_stream_of_another_bit_generator_is_restored_as_that_generator(tmp_path):
    model, path = trained_stack(tmp_path)
    header = config_of(path)
    mt = np.random.Generator(np.random.MT19937(5))
    mt.random(3)
    state = mt.bit_generator.state
    state["state"]["key"] = state["state"]["key"].tolist()      # JSON has lists, not arrays
    header["random_state"]["shuffle"] = state
    loaded = nn.load_model(with_config(path, tmp_path / "mt.npz", header))
    assert isinstance(loaded._shuffle_rng.bit_generator, np.random.MT19937)
    assert np.array_equal(loaded._shuffle_rng.permutation(50), mt.permutation(50))


def test_random_state_layers_may_be_absent_but_must_fit_the_model(tmp_path):
    model, path = trained_stack(tmp_path)
    header = config_of(path)
    del header["random_state"]["layers"]
    assert same_weights(model, nn.load_model(with_config(path, tmp_path / "nolayers.npz", header)))
    header["random_state"]["layers"] = 5
    message = refusal(with_config(path, tmp_path / "five.npz", header))
    assert message.endswith("'random_state.layers' must be a list")
    header["random_state"]["layers"] = [[1, header["random_state"]["model"]]]      # the model has 1 layer
    message = refusal(with_config(path, tmp_path / "index.npz", header))
    assert "entries must be [layer index, state] with an index below 1, got [1, {" in message


def test_bad_generator_states_name_the_file_and_the_stream(tmp_path):
    _, path = trained_stack(tmp_path)
    header = config_of(path)
    header["random_state"]["layers"] = [[0, "x"]]
    message = refusal(with_config(path, tmp_path / "l.npz", header))
    assert message.endswith("the random state of layer 0 must be a NumPy bit generator state (one of PCG64, "
                            "PCG64DXSM, Philox, SFC64, MT19937), got 'x'")
    header["random_state"]["layers"] = []
    header["random_state"]["shuffle"] = {"bit_generator": "PCG64", "state": "nope"}
    message = refusal(with_config(path, tmp_path / "s.npz", header))
    assert "the random state of the model's shuffle stream is malformed: " in message
    header["random_state"]["shuffle"] = 7
    message = refusal(with_config(path, tmp_path / "t.npz", header))
    assert "the random state of the model's shuffle stream must be a NumPy bit generator state" in message


# ============================================================================================ the zip's entries

def test_file_objects_are_named_by_their_name_or_as_a_file_object(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with open(tmp_path / "junk.npz", "rb") as fh, pytest.raises(DataError) as info:
        nn.load_model(fh)
    assert str(info.value).startswith(f"cannot load model file {str(tmp_path / 'junk.npz')!r}: not a readable zip")
    with pytest.raises(DataError) as info:
        nn.load_model(io.BytesIO(b"not a zip at all"))
    assert str(info.value).startswith("cannot load model file <file object>: not a readable zip")
    model, path = trained_stack(tmp_path)
    with open(path, "rb") as fh:
        assert same_weights(model, nn.load_model(fh))


def test_duplicate_encrypted_and_missing_entries_are_refused(tmp_path):
    model, path = trained_stack(tmp_path)
    entries = read_entries(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)          # zipfile warns about the duplicate name
        with zipfile.ZipFile(tmp_path / "dup.npz", "w") as zf:
            for name, data in entries.items():
                zf.writestr(name, data)
            zf.writestr("weight/0.npy", entries["weight/0.npy"])
    assert refusal(tmp_path / "dup.npz").endswith("it has an entry 'weight/0.npy' which appears twice")
    # the "encrypted" flag on an entry (zipfile can read the bit but not write encrypted data)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weight/1.npy")
    raw[info.header_offset + 6] |= 0x1
    central = raw.index(b"PK\x01\x02")
    while raw[central + 46: central + 46 + len("weight/1.npy")] != b"weight/1.npy":
        central = raw.index(b"PK\x01\x02", central + 4)
    raw[central + 8] |= 0x1
    (tmp_path / "enc.npz").write_bytes(bytes(raw))
    assert refusal(tmp_path / "enc.npz").endswith("it has an entry 'weight/1.npy' which is encrypted")
    # an entry save_model does not write
    message = refusal(replaced(path, tmp_path / "extra.npz", payload=b"x"))
    assert message.endswith("it has an entry 'payload.npy' which save_model does not write (expected __config__, "
                            "weight/<i>, optimizer/<state>)")
    message = refusal(replaced(path, tmp_path / "noconfig.npz", __config__=None))
    assert message.endswith("it is not a numpynet model file (no __config__ entry)")


# ============================================================================================ headers and sizes

def test_bad_npy_headers_name_the_entry_and_the_file(tmp_path):
    _, path = trained_stack(tmp_path)
    message = refusal(replaced(path, tmp_path / "w.npz", weight__1=b"\x93NUMPY garbage" + b"\0" * 40))
    assert "entry 'weight/1' has no valid .npy header: " in message
    message = refusal(replaced(path, tmp_path / "c.npz", __config__=b"garbage"))
    assert "entry '__config__' has no valid .npy header: " in message
    message = refusal(replaced(path, tmp_path / "o.npz", optimizer__momentum__0=b"garbage"))
    assert "entry 'optimizer/momentum/0' has no valid .npy header: " in message


def test_only_the_header_of_an_entry_is_read_before_its_size_is_checked(tmp_path):
    _, path = trained_stack(tmp_path)
    big = np.zeros((4, 1 << 20), np.float32)          # 16 MiB where the config declares (4, 2)
    replaced(path, tmp_path / "big.npz", weight__0=npy_bytes(big))
    del big
    tracemalloc.start()
    try:
        message = refusal(tmp_path / "big.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "weight/0 (d0/W) should be float32 of shape (4, 2), the file declares float32 of shape (4, 1048576)" \
        in message
    assert peak < 4 << 20


def test_a_crc_error_past_the_header_is_found_when_the_entry_is_read(tmp_path):
    model = stack((128, 2), n_in=128, compile=dict(optimizer="sgd(lr=0.1, momentum=0.9)", loss="mse"))
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.standard_normal((3, 128)), rng.standard_normal((3, 2)))
    model.save(tmp_path / "m.npz")                    # weight/0 and momentum/0 are 64 KiB
    for entry in ("weight/0", "optimizer/momentum/0"):
        message = refusal(flip_byte_near_end(tmp_path / "m.npz", entry + ".npy", tmp_path / "crc.npz"))
        assert f"entry {entry!r} cannot be read: BadZipFile: Bad CRC-32" in message
    # the same for a config longer than the part the header check reads
    long_name = stack((2,), name="n" * 5000)
    long_name.save(tmp_path / "long.npz")
    message = refusal(flip_byte_near_end(tmp_path / "long.npz", "__config__.npy", tmp_path / "crc.npz"))
    assert "entry '__config__' cannot be read: BadZipFile: Bad CRC-32" in message


def test_config_must_be_a_text_scalar(tmp_path):
    _, path = trained_stack(tmp_path)
    text = json.dumps(config_of(path))
    message = refusal(replaced(path, tmp_path / "vec.npz", __config__=npy_bytes(np.array([text]))))
    assert message.endswith(f"__config__ must be a text scalar, got shape (1,) of <U{len(text)}")
    message = refusal(replaced(path, tmp_path / "num.npz", __config__=npy_bytes(np.array(1.5))))
    assert message.endswith("__config__ must be a text scalar, got shape () of float64")


def test_config_of_exactly_the_maximum_length_loads_and_one_more_is_refused(tmp_path):
    model, path = trained_stack(tmp_path)
    text = json.dumps(config_of(path))
    padded = text + " " * (MAX_CONFIG_CHARS - len(text))     # JSON allows trailing white space
    assert same_weights(model, nn.load_model(with_config(path, tmp_path / "max.npz", padded)))
    message = refusal(with_config(path, tmp_path / "over.npz", padded + " "))
    assert message.endswith(f"__config__ declares {MAX_CONFIG_CHARS + 1} characters; at most {MAX_CONFIG_CHARS} "
                            f"are accepted")


@pytest.mark.parametrize("value, words", [
    ("NaN", "the JSON holds NaN, which no config value may be"),
    ("-Infinity", "the JSON holds -Infinity, which no config value may be"),
    ("1e999", "the JSON holds the number 1e999, too large for a float"),
])
def test_non_finite_numbers_in_the_json_are_refused_wherever_they_are(tmp_path, value, words):
    _, path = trained_stack(tmp_path)
    text = json.dumps(config_of(path))
    text = text[:-1] + f', "note": {value}}}'         # a key the loader otherwise ignores
    message = refusal(with_config(path, tmp_path / "bad.npz", text))
    assert message.endswith(f": __config__ is not valid JSON: ValueError: {words}")


def test_json_errors_and_wrong_formats_are_described(tmp_path):
    _, path = trained_stack(tmp_path)
    message = refusal(with_config(path, tmp_path / "j.npz", "{not json"))
    assert ": __config__ is not valid JSON: JSONDecodeError: Expecting property name" in message
    header = config_of(path)
    message = refusal(with_config(path, tmp_path / "f.npz", dict(header, format="other")))
    assert message.endswith("it is not a numpynet model file (format 'other', expected 'numpynet-model')")
    message = refusal(with_config(path, tmp_path / "l.npz", [1, 2]))
    assert message.endswith("it is not a numpynet model file (format 'list', expected 'numpynet-model')")


# =================================================================================================== weights

def named_stack(n_weights):
    """A float32 Sequential on 4 features with ``n_weights`` weight arrays, layers l0, l1, ..."""
    layers = [L.Dense(2, name=f"l{i}") for i in range(n_weights // 2)]
    if n_weights % 2:
        layers.append(L.Dense(2, use_bias=False, name=f"l{n_weights // 2}"))
    model = nn.Sequential(layers, seed=0)
    model.build((None, 4))
    return model


def weight_list(model):
    return [f"{layer.name}/{key} {value.shape}" for layer in model.layers for key, value in layer.params.items()]


@pytest.mark.parametrize("n, keep, shown, held", [
    (8, [0, 1, 2, 3, 4, 5, 6], 6, "7 (weight/0, weight/1, weight/2, weight/3, weight/4, weight/5, ...)"),
    (6, [0, 1, 2, 3, 4, 6], 6, "6 (weight/0, weight/1, weight/2, weight/3, weight/4, weight/6)"),
    (7, [0, 1, 2, 3, 4, 5], 6, "6 (weight/0, weight/1, weight/2, weight/3, weight/4, weight/5)"),
    (4, [1], 4, "1 (weight/1)"),
])
def test_the_weights_a_file_lacks_are_listed(tmp_path, n, keep, shown, held):
    model = named_stack(n)
    model.save(tmp_path / "m.npz")
    entries = read_entries(tmp_path / "m.npz")
    entries = {k: v for k, v in entries.items() if k == "__config__.npy"} | {
        f"weight/{i}.npy": npy_bytes(w) for i, w in enumerate(model.get_weights()) if i in keep}
    if n == 6:
        entries["weight/6.npy"] = npy_bytes(model.get_weights()[5])
    message = refusal(write_entries(tmp_path / "less.npz", entries))
    listed = ", ".join(weight_list(model)[:shown]) + (", ..." if n > 6 else "")
    assert message.endswith(f"its config declares {n} weight arrays ({listed}), but the file holds {held}; a model "
                            f"file must hold exactly the weights its config declares")


def test_weights_for_a_model_without_any_are_refused(tmp_path):
    model = stack(build=False)
    model.save(tmp_path / "m.npz")
    entries = read_entries(tmp_path / "m.npz")
    entries["weight/0.npy"] = npy_bytes(np.zeros((4, 2), np.float32))
    message = refusal(write_entries(tmp_path / "w.npz", entries))
    assert message.endswith("its config declares 0 weight arrays, but the file holds 1 (weight/0); a model file "
                            "must hold exactly the weights its config declares")


# ========================================================================================= optimizer entries

KNOWN_ADAM = "its state is iterations, momentum/<i>, velocity/<i> for 2 trainable weights"


def test_optimizer_state_without_an_optimizer_is_refused(tmp_path):
    _, path = trained_stack(tmp_path)
    header = config_of(path)
    header["model"]["compile"] = None
    message = refusal(with_config(path, tmp_path / "noopt.npz", header))
    assert message.endswith("it holds optimizer state but its config has no optimizer")


def test_iterations_must_be_an_integer_scalar(tmp_path):
    _, path = trained_stack(tmp_path)
    for bad, shown in ((np.array(3.0), "float64 of shape ()"), (np.array([3, 4]), "int64 of shape (2,)")):
        message = refusal(replaced(path, tmp_path / "it.npz", optimizer__iterations=npy_bytes(bad)))
        assert f"optimizer entry 'iterations' ({shown}) does not fit optimizer adam(" in message
        assert message.endswith(f": expected an integer scalar; {KNOWN_ADAM}")


def test_scalar_state_must_be_a_known_float_scalar(tmp_path):
    _, path = trained_stack(tmp_path, optimizer="nadam(learning_rate=0.01)")
    known = "its state is iterations, momentum/<i>, u_product, velocity/<i> for 2 trainable weights"
    for bad, shown in ((np.array([0.5, 0.5]), "float64 of shape (2,)"), (np.array(1, np.int64), "int64 of shape ()")):
        message = refusal(replaced(path, tmp_path / "u.npz", optimizer__u_product=npy_bytes(bad)))
        assert f"optimizer entry 'u_product' ({shown}) does not fit optimizer nadam(" in message
        assert message.endswith(f": expected a float scalar; {known}")
    _, path = trained_stack(tmp_path)
    message = refusal(replaced(path, tmp_path / "b.npz", optimizer__bogus=npy_bytes(np.array(0.5))))
    assert "optimizer entry 'bogus' (float64 of shape ()) does not fit optimizer adam(" in message
    assert message.endswith(f": expected a float scalar; {KNOWN_ADAM}")


def test_slot_entries_must_fit_a_trainable_weight(tmp_path):
    _, path = trained_stack(tmp_path)
    message = refusal(replaced(path, tmp_path / "i.npz", optimizer__momentum__2=npy_bytes(np.zeros(2, np.float32))))
    assert message.endswith(f"optimizer entry 'momentum/2' (float32 of shape (2,)) does not fit optimizer "
                            f"adam(learning_rate=0.01): expected one of 2 trainable weights; {KNOWN_ADAM}")
    message = refusal(replaced(path, tmp_path / "s.npz", optimizer__momentum__0=npy_bytes(np.zeros(2, np.float32))))
    assert message.endswith(f"optimizer entry 'momentum/0' (float32 of shape (2,)) does not fit optimizer "
                            f"adam(learning_rate=0.01): expected a float array of shape (4, 2); {KNOWN_ADAM}")


def test_optimizer_state_that_set_state_refuses_is_a_data_error(tmp_path):
    _, path = trained_stack(tmp_path)
    message = refusal(replaced(path, tmp_path / "noit.npz", optimizer__iterations=None))
    assert ": the optimizer state does not fit: Adam.set_state: the state has no 'iterations' entry" in message


# ============================================================================================ bad model configs

def test_config_errors_are_reported_once_with_their_stage(tmp_path):
    _, path = trained_stack(tmp_path)
    header = config_of(path)
    header["model"]["class"] = "Evil"
    message = refusal(with_config(path, tmp_path / "c.npz", header))
    assert message.endswith(": bad model config: model class must be 'Sequential', 'DFN' or 'Model', got 'Evil'")
    header = config_of(path)
    header["model"]["compile"]["loss"] = "nope"                # only building the model compiles the loss
    message = refusal(with_config(path, tmp_path / "l.npz", header))
    assert ": the model config cannot be built: " in message and "nope" in message
    header = config_of(path)
    header["model"]["layers"][0]["name"] = "evil_layer"
    with pytest.raises(DataError) as info:
        nn.load_model(with_config(path, tmp_path / "u.npz", header))
    assert str(info.value).startswith(f"cannot load model file {str(tmp_path / 'u.npz')!r}: unknown layer "
                                      f"'evil_layer'")


def test_an_exception_without_a_message_is_named_by_its_type(tmp_path):
    model = nn.Sequential([Fussy(name="f"), L.Dense(2, name="d")], seed=0)
    model.build((None, 3))
    model.save(tmp_path / "m.npz")
    header = config_of(tmp_path / "m.npz")
    header["model"]["layers"][0]["config"]["strict"] = True
    message = refusal(with_config(tmp_path / "m.npz", tmp_path / "f.npz", header), custom_objects={"Fussy": Fussy})
    assert message.endswith(": bad model config: ValueError: ValueError")


# ======================================================================================= configs (serialization)

def dfn_config(**dfn):
    base = {"hidden_dims": [3], "n_classes": 2, "activation": "relu", "regularizer": None,
            "init_w": "glorot_uniform", "init_b": "zeros", "dropout": 0.0}
    return {"class": "DFN", "dfn": dict(base, **dfn)}


def graph_config(**changes):
    config = {"class": "Model", "name": "g", "inputs": [{"name": "x", "shape": [4]}],
              "layers": [{"name": "dense", "config": dict(DENSE, units=2, name="d")}],
              "nodes": [{"layer": "d", "inputs": [["x", 0]]}], "outputs": [["d", 0]]}
    config.update(changes)
    return config


def refused(config, match):
    with pytest.raises(DataError, match=match):
        ser.config_tensors(config)


def test_model_class_and_list_lengths():
    refused({"class": "Evil"}, r"model class must be 'Sequential', 'DFN' or 'Model', got 'Evil'$")
    refused([1], r"model class must be 'Sequential', 'DFN' or 'Model', got 'list'$")
    with pytest.raises(DataError, match=r"got 'list'$"):
        ser.model_from_config([1])
    refused({"class": "Sequential", "layers": "dense"}, r"^'layers' must be a list of at most 10000 entries$")
    refused(graph_config(nodes={"layer": "d"}), r"^'nodes' must be a list of at most 10000 entries$")
    # 10,000 entries pass the length check (the first one is then found malformed); 10,001 do not
    refused({"class": "Sequential", "layers": [{}] * 10_000}, r"^a layer entry must be an object with a 'name'")
    refused({"class": "Sequential", "layers": [{}] * 10_001}, r"^'layers' must be a list of at most 10000")
    refused(graph_config(inputs=[{}] * 10_000), r"^an input entry must be an object with a 'name' and a 'shape'")
    refused(graph_config(inputs=[{}] * 10_001), r"^'inputs' must be a non-empty list$")
    with pytest.raises(SpecError, match=r"hidden_dims\[9999\]' must be an integer >= 1, got 0"):
        ser.config_tensors(dfn_config(hidden_dims=[2] * 9_999 + [0]))
    refused(dfn_config(hidden_dims=[2] * 10_001), r"^'hidden_dims' must be a list of at most 10000 sizes")


def test_layer_entries_must_be_named_objects():
    refused({"class": "Sequential", "layers": [{"config": {}}]},
            r"^a layer entry must be an object with a 'name', got \{'config': \{\}\}$")
    refused({"class": "Sequential", "layers": [5]}, r"^a layer entry must be an object with a 'name', got 5$")
    refused({"class": "Sequential", "layers": [{"name": "dense", "config": 5}]},
            r"^the config of layer 'dense' must be an object, got 5$")


@pytest.mark.parametrize("shape, ok", [
    ([1], True), ([1] * 32, True), ([2 ** 62 - 1], True), ([None, 3], True),
    ([], False), (5, False), ([0], False), ([1] * 33, False), ([2 ** 62], False), ([2 ** 63], False), ([True], False),
])
def test_input_shapes_are_1_to_32_sizes_from_1_to_2_pow_62(shape, ok):
    config = graph_config(layers=[], nodes=[], outputs=[["x", 0]], inputs=[{"name": "x", "shape": shape}])
    if ok:
        (inp,), (out,) = ser.config_tensors(config)
        assert inp is out and inp.shape == (None,) + tuple(shape)
    else:
        refused(config, r"^the shape of input 'x' must be a list of positive integers \(or null\), got ")


def test_sequential_input_shape_errors_name_the_argument():
    config = {"class": "Sequential", "layers": [{"name": "dense", "config": dict(DENSE, units=2)}]}
    refused(dict(config, input_shape=[None, 0]), r"^'input_shape' must be a list of positive integers \(or null\), got")
    refused(dict(config, layers=[], input_shape=[None, 3]), r"^the model has an input shape but no layers$")


def test_an_input_layer_must_come_first_and_fixes_the_input_shape():
    dense = {"name": "dense", "config": dict(DENSE, units=2, name="d")}
    first = {"class": "Sequential", "layers": [{"name": "input_layer", "config": {"shape": [3]}}, dense]}
    (inp,), (out,) = ser.config_tensors(first)
    assert inp.shape == (None, 3) and out.shape == (None, 2)
    model = ser.model_from_config(first)
    assert model.built and model.get_weights()[0].shape == (3, 2)
    after = {"class": "Sequential", "layers": [dense, {"name": "input_layer", "config": {"shape": [3]}}]}
    refused(after, r"^an input layer can only come first in a Sequential model$")


def test_dfn_configs_need_their_dfn_object():
    refused({"class": "DFN"}, r"^a DFN config needs a 'dfn' object$")
    refused(dfn_config(hidden_dims="12"), r"^'hidden_dims' must be a list of at most 10000 sizes, got '12'$")


def test_tensor_references_are_name_and_call_number():
    for ref in (["x", "0"], [1, 0], ["x", 0, 1], "x0"):
        config = graph_config(nodes=[{"layer": "d", "inputs": [ref]}])
        refused(config, r"^a tensor reference must be \[layer name, call number\], got ")
        refused(graph_config(outputs=[ref]), r"^a tensor reference must be \[layer name, call number\], got ")


def test_graph_inputs_nodes_and_outputs_are_checked():
    two = [{"name": "dense", "config": dict(DENSE, units=2, name="d")}] * 2
    refused(graph_config(layers=two), r"^two layers are named 'd'$")
    refused(graph_config(inputs=[]), r"^'inputs' must be a non-empty list$")
    refused(graph_config(inputs=5), r"^'inputs' must be a non-empty list$")
    refused(graph_config(inputs=[{"shape": [4]}]), r"^an input entry must be an object with a 'name' and a 'shape', "
                                                    r"got \{'shape': \[4\]\}$")
    refused(graph_config(inputs=[5]), r"^an input entry must be an object with a 'name' and a 'shape', got 5$")
    node = r"^a node must name a layer of the model and list its inputs, got "
    refused(graph_config(nodes=[{"layer": "d", "inputs": 5}]), node)
    refused(graph_config(nodes=[{"layer": "ghost", "inputs": [["x", 0]]}]), node)
    refused(graph_config(nodes=[5]), node)
    refused(graph_config(nodes=[{"layer": "d", "inputs": [["nowhere", 0]]}]),
            r"^node of layer 'd' reads a tensor no earlier node made: \[\['nowhere', 0\]\]$")
    refused(graph_config(nodes=[{"layer": "d", "inputs": []}]), r"^node of layer 'd' reads a tensor no earlier node "
                                                                 r"made: \[\]$")
    refused(graph_config(nodes=[{"layer": "d", "inputs": [["x", 0], ["x", 0]]}]),
            r"^node of layer 'd' lists 2 inputs, but the layer takes one$")
    outputs = r"^'outputs' must be a non-empty list of tensors the nodes made, got "
    refused(graph_config(outputs=[["ghost", 0]]), outputs + r"\[\['ghost', 0\]\]$")
    refused(graph_config(outputs=[]), outputs + r"\[\]$")
    refused(graph_config(outputs=5), outputs + "5$")


def test_a_layer_called_twice_gets_call_numbers_0_and_1():
    config = graph_config(inputs=[{"name": "x", "shape": [2]}],
                          nodes=[{"layer": "d", "inputs": [["x", 0]]}, {"layer": "d", "inputs": [["d", 0]]},
                                 {"layer": "d", "inputs": [["d", 1]]}], outputs=[["d", 2], ["d", 0]])
    (inp,), (last, first) = ser.config_tensors(config)
    assert last is not first and last.shape == first.shape == (None, 2)
    model = ser.model_from_config(dict(config, multi_output=True))
    X = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    W, b = model.get_weights()
    got_last, got_first = model.predict(X)
    np.testing.assert_allclose(got_first, X @ W + b, rtol=1e-6)
    np.testing.assert_allclose(got_last, ((X @ W + b) @ W + b) @ W + b, rtol=1e-5)


# ========================================================================================================= saving

class BytesPath:
    """An os.PathLike whose __fspath__ gives bytes (allowed by os.fspath)."""

    def __init__(self, path):
        self.path = os.fsencode(path)

    def __fspath__(self):
        return self.path


def test_paths_may_be_bytes_or_bytes_path_likes(tmp_path):
    model, _ = trained_stack(tmp_path)
    for path in (os.fsencode(tmp_path / "b.npz"), BytesPath(tmp_path / "p.npz")):
        model.save(path)
        assert same_weights(model, nn.load_model(path))
    assert sorted(os.listdir(tmp_path)) == ["b.npz", "m.npz", "p.npz"]


def test_bad_paths_are_spec_errors_naming_save_model(tmp_path):
    model = stack()
    with pytest.raises(SpecError, match=r"^save_model: argument 'path' must be a file path \(str or os.PathLike\), "
                                        r"got int$"):
        model.save(5)
    with pytest.raises(SpecError, match=r"^save_model: argument 'path' must not be empty$"):
        model.save("")
    with pytest.raises(SpecError, match=r"^load_model: argument 'path' must not be empty$"):
        nn.load_model(b"")


def test_a_config_the_loader_would_refuse_is_never_written(tmp_path):
    model = nn.Sequential([Affine(2, name="aff")], seed=0)
    model.layers[0].units = float("nan")       # a user layer whose config holds NaN
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        model.save(tmp_path / "nan.npz")
    assert os.listdir(tmp_path) == []


def test_the_temporary_file_is_a_hidden_sibling_of_the_target(tmp_path, monkeypatch):
    moves = []
    real_replace = os.replace

    def replace(src, dst):
        moves.append((os.fspath(src), os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(saving.os, "replace", replace)
    stack().save(tmp_path / "m.npz")
    (src, dst), = moves
    assert dst == str(tmp_path / "m.npz") and os.path.dirname(src) == str(tmp_path)
    name = os.path.basename(src)
    assert name.startswith(".m.npz.") and name.endswith(".tmp") and len(name) > len(".m.npz..tmp")
    assert os.listdir(tmp_path) == ["m.npz"]


def test_the_file_and_then_its_directory_are_fsynced(tmp_path, monkeypatch):
    kinds = []
    real_fsync = os.fsync

    def fsync(fd):
        kinds.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(saving.os, "fsync", fsync)
    stack().save(tmp_path / "m.npz")
    assert kinds == ["file", "dir"]
    # a system without O_DIRECTORY (Windows) cannot open a directory: the save succeeds without that fsync
    monkeypatch.delattr(saving.os, "O_DIRECTORY")
    kinds.clear()
    model = stack()
    model.save(tmp_path / "w.npz")
    assert kinds == ["file"] and same_weights(model, nn.load_model(tmp_path / "w.npz"))


def test_a_file_system_that_refuses_chmod_still_gets_the_file(tmp_path, monkeypatch):

    def chmod(path, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(saving.os, "chmod", chmod)
    model = stack()
    model.save(tmp_path / "m.npz")
    assert same_weights(model, nn.load_model(tmp_path / "m.npz")) and os.listdir(tmp_path) == ["m.npz"]


def test_a_failed_save_reports_its_own_error_even_when_the_temporary_is_gone(tmp_path, monkeypatch):

    def savez(fh, **arrays):
        for name in os.listdir(tmp_path):  # the temporary file vanished (cleaned up by someone else)
            os.unlink(tmp_path / name)
        raise RuntimeError("disk went away")

    monkeypatch.setattr(saving.np, "savez", savez)
    with pytest.raises(RuntimeError, match="disk went away"):
        stack().save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_overwriting_keeps_the_files_permissions(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    stack().save(path)
    assert os.stat(path).st_mode & 0o7777 == 0o640


def test_a_new_file_gets_the_permissions_the_umask_allows(tmp_path, monkeypatch):
    old = os.umask(0o077)
    try:
        stack().save(tmp_path / "private.npz")
        os.umask(0o027)
        stack().save(tmp_path / "group.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "private.npz").st_mode & 0o7777 == 0o600
    assert os.stat(tmp_path / "group.npz").st_mode & 0o7777 == 0o640

    def no_proc(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(saving, "open", no_proc, raising=False)     # a system without /proc: the usual 022
    assert saving._umask() == 0o022


def test_layers_sharing_the_models_stream_keep_sharing_it(tmp_path):
    def make():
        model = nn.Sequential([L.Dense(6, name="d0"), L.Dropout(0.5, name="drop0"), L.Dense(6, name="d1"),
                               L.Dropout(0.5, name="drop1"), L.Dense(2, name="d2")], seed=8)
        model.compile(optimizer="sgd(lr=0.1)", loss="mse")
        model.build((None, 3))
        return model

    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    model = make()
    model.train_on_batch(X, y)
    model.save(tmp_path / "m.npz")
    assert config_of(tmp_path / "m.npz")["random_state"]["layers"] == []
    loaded = nn.load_model(tmp_path / "m.npz")
    for _ in range(2):
        model.train_on_batch(X, y)
        loaded.train_on_batch(X, y)
    assert same_weights(model, loaded)


def test_the_umask_is_read_also_when_the_process_name_is_not_ascii(monkeypatch, tmp_path):
    # /proc/self/status starts with the process name, which prctl can set to any bytes; the Umask line is ASCII
    from numpynet.core import saving
    status = tmp_path / "status"
    status.write_bytes("Name:\tnöt-äscii\nUmask:\t0077\nState:\tR (running)\n".encode())
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(status if path == "/proc/self/status"
                                                                            else path, *a, **k))
    assert saving._umask() == 0o077
