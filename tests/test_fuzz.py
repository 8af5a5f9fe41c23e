"""Property-based tests (Hypothesis): whatever text, arguments or file bytes come in, numpynet returns an object
or raises one of its three errors (SpecError, ShapeError, DataError), and never executes anything.

Each property runs a bounded number of examples so that the module stays within the suite's time budget (about
20 s); ``NUMPYNET_FUZZ_EXAMPLES=5000`` raises the number for an exhaustive run (then with fresh randomness each
run instead of the fixed, derandomized sequence used in CI).
"""

import inspect
import io
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numpynet as nn
from numpynet import activations, constraints, initializers, losses, metrics, optimizers, regularizers, schedules
from numpynet.errors import DataError, ShapeError, SpecError
from numpynet.layers import base as layer_base

EXHAUSTIVE = os.environ.get("NUMPYNET_FUZZ_EXAMPLES")
ALLOWED = (SpecError, ShapeError, DataError)


def fuzz(examples):
    """Hypothesis settings: ``examples`` per property (NUMPYNET_FUZZ_EXAMPLES overrides), no deadline, no database
    (nothing written into the work tree), derandomized unless exhaustive."""
    n = int(EXHAUSTIVE) if EXHAUSTIVE else examples
    return settings(max_examples=n, deadline=None, database=None, derandomize=not EXHAUSTIVE,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


REGISTRIES = {
    "layer": layer_base.registry, "activation": activations.registry, "loss": losses.registry,
    "regularizer": regularizers.registry, "initializer": initializers.registry, "optimizer": optimizers.registry,
    "constraint": constraints.registry, "schedule": schedules.registry, "metric": metrics.registry,
}

# ------------------------------------------------------------------------------------------------ strategies

SENTINEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "FUZZ_SENTINEL_EXECUTED")
PAYLOADS = [
    f"__import__('os').system('touch {SENTINEL}')",
    f"open('{SENTINEL}', 'w')",
    "exec('x=1')", "eval('1')", "lambda: 0", "[x for x in ()]", "os.system", "().__class__.__base__",
    "__builtins__", "1 if True else 2", "a.b", "f()", "{1: 2}", "{1}", "*a", "x := 1", "f'{1}'", "1 + 2",
]

literals = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10 ** 30, max_value=10 ** 30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner),
    max_leaves=6)


def _text_of(value):
    if isinstance(value, float):
        if value != value:
            return "float('nan')"       # not a literal: must be refused as a call
        if value in (float("inf"), float("-inf")):
            return "1e999" if value > 0 else "-1e999"
    if isinstance(value, tuple):
        return "(" + ", ".join(_text_of(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_text_of(v) for v in value) + "]"
    return repr(value)


# Mostly plausible values (so that many specs build and the checks after the parser are exercised), some attacks.
arg_texts = (st.sampled_from(["1", "2", "0.5", "1e-3", "10", "-1", "0", "(2, 2)", "'relu'", "'same'", "True", "None"])
             | literals.map(_text_of) | st.sampled_from(PAYLOADS))


@st.composite
def spec_strings(draw, registry):
    """Mostly well-formed calls of known names with plausible keywords, some garbage, some attacks."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=40))
    if kind == 1:
        return draw(st.sampled_from(PAYLOADS))
    names = registry.aliases()
    name = draw(st.sampled_from(names) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True))
    if draw(st.booleans()) and kind > 6:
        return name
    keywords = []
    cls = registry._table.get(name.lower())
    if cls is not None:
        keywords = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "args", "kwargs")]
    key = st.sampled_from(keywords) if keywords else st.from_regex(r"[a-z_]{1,8}", fullmatch=True)
    positional = draw(st.lists(arg_texts, max_size=2))
    named = draw(st.dictionaries(key, arg_texts, max_size=3))
    parts = positional + [f"{k}={v}" for k, v in named.items()]
    return f"{name}({', '.join(parts)})"


def _no_execution():
    assert not os.path.exists(SENTINEL), "a spec string executed code"


# ------------------------------------------------------------------------------------------------ spec strings

@pytest.mark.parametrize("family", sorted(REGISTRIES))
def test_spec_strings_give_an_object_or_one_of_three_errors(family):
    registry = REGISTRIES[family]

    @fuzz(40)
    @given(text=spec_strings(registry))
    def check(text):
        try:
            obj = registry.get(text)
        except ALLOWED:
            pass
        else:
            assert obj is None or isinstance(obj, registry.base)
        _no_execution()

    check()


@fuzz(100)
@given(text=st.text(max_size=80) | st.sampled_from(PAYLOADS))
def test_parser_on_arbitrary_text(text):
    try:
        name, kwargs = nn.spec.parse(text)
    except SpecError:
        pass
    else:
        assert isinstance(name, str) and isinstance(kwargs, dict)
    _no_execution()


# ------------------------------------------------------------------------------------------------ constructors

LAYER_CLASSES = sorted({cls for cls in layer_base.registry._table.values()}, key=lambda c: c.__name__)


@st.composite
def constructor_calls(draw):
    cls = draw(st.sampled_from(LAYER_CLASSES))
    params = [p for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    kwargs = {}
    for p in params:
        if p.default is inspect.Parameter.empty or draw(st.integers(0, 3)) == 0:
            kwargs[p.name] = draw(literals | st.sampled_from([1, 2, 3, 0.5, "relu", "l2", "ones", (2, 2), "same"]))
    return cls, kwargs


@fuzz(200)
@given(call=constructor_calls())
def test_layer_constructors_give_a_layer_or_one_of_three_errors(call):
    cls, kwargs = call
    try:
        layer = cls(**kwargs)
    except ALLOWED:
        return
    assert isinstance(layer, nn.layers.Layer)
    # what was accepted is valid: the config round-trips through the registry
    assert type(nn.layers.get({"name": layer_base.registry.name_of(cls), "config": layer.get_config()})) is cls


@fuzz(60)
@given(call=constructor_calls(), shape=st.lists(st.integers(1, 6), min_size=1, max_size=3))
def test_building_an_accepted_layer_gives_one_of_three_errors(call, shape):
    cls, kwargs = call
    try:
        layer = cls(**kwargs)
    except ALLOWED:
        return
    if layer.multi_input:
        return
    try:
        layer(np.ones([2] + shape))
    except ALLOWED:
        pass


# ------------------------------------------------------------------------------------------------ model files

def _model_files(directory):
    """Bytes of three saved models: a trained DFN, a Sequential with conv/BN/dropout, a graph Model."""
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64)), rng.integers(0, 10, 40)
    L = nn.layers
    dfn = nn.DFN(hidden_dims=(6,), n_classes=10, optimizer="adam(lr=0.01)", dropout=0.1, seed=0)
    dfn.fit(X, y, epochs=1, verbose=0)
    seq = nn.Sequential([L.Reshape((8, 8, 1)), L.Conv2D(2, 3, padding="same"), L.BatchNormalization(),
                         L.Dropout(0.2, seed=3), L.Flatten(), L.Dense(10)], seed=1)
    seq.compile(optimizer="sgd(lr=0.1, momentum=0.9)")
    seq.build((None, 64))
    inp = nn.Input((4,))
    a, b = L.Dense(3)(inp), L.Dense(3, activation="tanh")(inp)
    graph = nn.Model(inp, L.Dense(2)(L.Add()([a, b])), seed=2)
    graph.compile(optimizer="rmsprop", loss="mse")
    out = []
    for model in (dfn, seq, graph):
        path = os.path.join(directory, f"{model.name}.npz")
        model.save(path)
        with open(path, "rb") as fh:
            out.append(fh.read())
    return out


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    return _model_files(str(tmp_path_factory.mktemp("fuzz")))


def _load_bytes(raw):
    try:
        model = nn.load_model(io.BytesIO(raw))
    except DataError:
        return None
    assert isinstance(model, nn.Model)
    return model


@st.composite
def corruptions(draw, n_files):
    which = draw(st.integers(0, n_files - 1))
    kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "zero_run"]))
    return which, kind, draw(st.integers(0, 2 ** 31)), draw(st.integers(1, 64)), draw(st.binary(min_size=1,
                                                                                                   max_size=32))


def _corrupt(raw, kind, pos, count, junk):
    pos = pos % len(raw)
    b = bytearray(raw)
    if kind == "truncate":
        return bytes(b[:pos])
    if kind == "flip":
        for k in range(min(count, 8)):
            i = (pos + k * 997) % len(b)
            b[i] ^= 1 << (k % 8)
        return bytes(b)
    if kind == "overwrite":
        b[pos:pos + len(junk)] = junk
        return bytes(b[:len(raw)])
    if kind == "insert":
        return bytes(b[:pos] + junk + b[pos:])
    b[pos:pos + count] = bytes(min(count, len(b) - pos))
    return bytes(b)


def test_corrupted_model_files_load_or_raise_data_error(model_files):
    @fuzz(150)
    @given(c=corruptions(len(model_files)))
    def check(c):
        which, kind, pos, count, junk = c
        _load_bytes(_corrupt(model_files[which], kind, pos, count, junk))

    check()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 20, 10 ** 20) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _replace(value, path, new):
    if not path:
        return new
    value = json.loads(json.dumps(value))
    target = value
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return value


def test_mutated_configs_load_or_raise_data_error(model_files):
    """Valid zips (CRCs right) with one value of the JSON replaced: the loader must still only say DataError."""
    parsed = []
    for raw in model_files:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            entries = {i.filename: zf.read(i) for i in zf.infolist()}
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            header = json.loads(str(data["__config__"]))
        parsed.append((entries, header, list(_paths(header))))

    @fuzz(150)
    @given(which=st.integers(0, len(parsed) - 1), index=st.integers(0, 10 ** 6), new=json_values)
    def check(which, index, new):
        entries, header, paths = parsed[which]
        mutated = _replace(header, paths[index % len(paths)], new)
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.array(json.dumps(mutated)))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for name, data in entries.items():
                zf.writestr(name, buf.getvalue() if name == "__config__.npy" else data)
        _load_bytes(out.getvalue())

    check()
