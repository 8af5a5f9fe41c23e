"""Loading models saved as ``.npz`` (arrays) + JSON (architecture, training configuration, random streams).

Nothing is pickled and nothing is executed on load: the JSON names layers, optimizers and losses by their
registered spec names, and the arrays are read with ``allow_pickle=False``. :func:`save_model` (atomic writes) lives
in :mod:`numpynet.core.saving` and is re-exported here; turning a config dict into a model is
:mod:`numpynet.core.serialization`'s part.

**Loading** never allocates more than the file justifies and never raises anything but :class:`DataError` for a
bad file (:class:`SpecError` for a bad argument):

1. the zip's directory is read and every entry is checked against the manifest that :func:`save_model` writes
   (``__config__``, ``weight/<i>``, ``optimizer/...``), stored uncompressed and lying inside the file, before any
   entry is read;
2. the config (at most :data:`MAX_CONFIG_CHARS` characters) is parsed, and the weight shapes the model it describes
   will have are computed *without allocating them* (its layers are built with ``Layer.shapes_only``); each weight
   entry's ``.npy`` header must declare exactly that shape, the model's dtype and a size that matches the entry; a
   file that lacks weights its config declares is refused;
3. only then is the model built, and the arrays read (their CRCs checked).

The file also records the state of every random generator of the model (shuffling, the model's stream that
dropout/noise layers draw from, and each layer's own generator when it was created with ``seed=``), so that
save → load → ``fit`` continues exactly as uninterrupted training would.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import math
import os
import re
import struct
import zipfile
import zlib

import numpy as np

from .errors import DataError, ShapeError, SpecError
from .saving import FORMAT, VERSION, _check_path, save_model
from .serialization import UnknownLayerError, config_tensors, model_from_config

#: Longest config JSON accepted (characters); a real config is a few kB, MobileNetV2's about 60 kB.
MAX_CONFIG_CHARS = 4_000_000
#: Longest ``.npy`` header read (NumPy writes < 200 bytes; its own reader refuses > 10,000 by default).
MAX_NPY_HEADER = 10_000
#: Bit generators whose state a file may restore (NumPy's; ``default_rng`` uses PCG64).
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")

_CONFIG_ENTRY = "__config__.npy"
_WEIGHT_ENTRY = re.compile(r"weight/(0|[1-9][0-9]{0,6})\.npy")
_OPTIMIZER_ENTRY = re.compile(r"optimizer/([A-Za-z_][A-Za-z0-9_]{0,63})(?:/(0|[1-9][0-9]{0,6}))?\.npy")

# What a damaged zip, .npy or JSON can make the standard library raise; every one becomes a DataError.
_FILE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError, TypeError,
                AttributeError, IndexError, ArithmeticError, RecursionError, NotImplementedError, struct.error,
                zlib.error, RuntimeError, UnicodeError)


# ============================================================================================================ load

def load_model(path, custom_objects=None):
    """Read a model written by :func:`save_model`; weights, optimizer state and random streams are restored.

    ``custom_objects`` maps the names of user-written layer classes that are not registered
    (``@nn.layers.register``) to the classes; nothing else is ever looked up or imported.

    Raises :class:`DataError` naming the file and the problem for anything wrong with the file (not a zip,
    truncated, bad CRC, entries that :func:`save_model` does not write, compressed entries, bad JSON or a config
    of the wrong types, weights missing or of the wrong shape or dtype, sizes the file does not justify), and
    :class:`SpecError` for bad arguments. A layer class the file names but the loader does not know raises
    :class:`UnknownLayerError`, which is both.
    """
    label = _label(path)
    custom_objects = _check_custom_objects(custom_objects)
    with _open_zip(path, label) as (zf, file_size):
        entries = _manifest(zf, file_size, label)
        header = _read_config(zf, entries, label)
        config = header["model"]
        plan = _plan(config, custom_objects, label)
        weight_infos = _check_weights(zf, entries, plan, label)
        optimizer_infos = _check_optimizer_entries(zf, entries, plan, label)
        model = _guard(label, "the model config cannot be built", lambda: _build(config, custom_objects))
        weights = [_read_array(zf, info, label) for info in weight_infos]
        state = {key: _read_array(zf, info, label) for key, info in optimizer_infos.items()}
    _guard(label, "the weights do not fit the model", lambda: model.set_weights(weights) if weights else None)
    if state:   # _check_optimizer_entries refused state without an optimizer in the config
        _guard(label, "the optimizer state does not fit", lambda: model.optimizer.set_state(state))
    _restore_generators(model, header.get("random_state"), label)
    return model


def _label(path):
    if isinstance(path, (str, bytes, os.PathLike)):
        return repr(os.fsdecode(path))
    name = getattr(path, "name", None)
    return repr(name) if isinstance(name, str) else "<file object>"


def _check_custom_objects(custom_objects):
    from .layers.base import Layer
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict):
        raise SpecError(f"load_model: argument 'custom_objects' must be a dict {{name: Layer subclass}} or None, "
                        f"got {type(custom_objects).__name__}")
    for key, cls in custom_objects.items():
        if not isinstance(key, str):
            raise SpecError(f"load_model: the keys of 'custom_objects' must be layer class names (str), got {key!r}")
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise SpecError(f"custom_objects[{key!r}] must be a Layer subclass, got {cls!r}")
    return dict(custom_objects)


def _guard(label, what, fn):
    """Run ``fn``; any error a malformed file can cause becomes a DataError naming the file."""
    try:
        return fn()
    except UnknownLayerError as exc:
        if label in str(exc):
            raise
        raise UnknownLayerError(f"cannot load model file {label}: {exc}") from None
    except _FILE_ERRORS as exc:
        detail = " ".join((str(exc) or type(exc).__name__).split())
        if not isinstance(exc, (DataError, SpecError, ShapeError)):
            detail = f"{type(exc).__name__}: {detail}"
        raise DataError(f"cannot load model file {label}: {what}: {detail}") from None


@contextlib.contextmanager
def _open_zip(path, label):
    """The open ZipFile and the file's real size (what every declared size is checked against)."""
    if isinstance(path, (str, bytes, os.PathLike)):
        path = _check_path(path, "load_model")
        try:
            fh = open(path, "rb")
        except OSError as exc:
            raise DataError(f"cannot read model file {label}: {exc.strerror or exc}") from None
        close = True
    elif hasattr(path, "read") and hasattr(path, "seek"):
        fh, close = path, False
    else:
        raise SpecError(f"load_model: argument 'path' must be a file path or a binary file object, got "
                        f"{type(path).__name__}")
    try:
        try:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(0)
            zf = zipfile.ZipFile(fh)
        except _FILE_ERRORS as exc:
            raise DataError(f"cannot load model file {label}: not a readable zip (.npz) archive "
                            f"({type(exc).__name__}: {exc})") from None
        with zf:
            yield zf, size
    finally:
        if close:
            fh.close()


def _manifest(zf, file_size, label):
    """``{entry name: ZipInfo}``, each checked against what save_model writes before anything is read."""
    entries = {}
    for info in zf.infolist():
        name = info.filename
        bad = None
        if name != _CONFIG_ENTRY and not _WEIGHT_ENTRY.fullmatch(name) and not _OPTIMIZER_ENTRY.fullmatch(name):
            bad = "which save_model does not write (expected __config__, weight/<i>, optimizer/<state>)"
        elif name in entries:
            bad = "which appears twice"
        elif info.flag_bits & 0x1:
            bad = "which is encrypted"
        elif info.compress_type != zipfile.ZIP_STORED:
            bad = (f"which is compressed (method {info.compress_type}); save_model stores entries uncompressed, "
                   f"so their sizes are bounded by the file's")
        elif info.file_size != info.compress_size:
            bad = f"whose sizes disagree ({info.file_size} bytes declared, {info.compress_size} stored)"
        elif info.header_offset + info.compress_size > file_size:
            bad = f"which declares {info.file_size} bytes, more than the file ({file_size} bytes) holds"
        if bad:
            raise DataError(f"cannot load model file {label}: it has an entry {name!r} {bad}")
        entries[name] = info
    if _CONFIG_ENTRY not in entries:
        raise DataError(f"cannot load model file {label}: it is not a numpynet model file (no __config__ entry)")
    return entries


def _npy_header(zf, info, label):
    """(shape, fortran_order, dtype, data offset) from the entry's ``.npy`` header, reading at most its header."""
    what = info.filename[:-len(".npy")]

    def read():
        with zf.open(info) as fh:
            head = fh.read(min(info.file_size, MAX_NPY_HEADER + 16))
        bio = _io.BytesIO(head)
        version = np.lib.format.read_magic(bio)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(bio, max_header_size=MAX_NPY_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(bio, max_header_size=MAX_NPY_HEADER)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
        return shape, fortran, dtype, bio.tell()

    shape, fortran, dtype, offset = _guard(label, f"entry {what!r} has no valid .npy header", read)
    if dtype.hasobject:
        raise DataError(f"cannot load model file {label}: entry {what!r} has dtype {dtype}, which holds Python "
                        f"objects; only numeric arrays are read (never pickles)")
    expected = offset + math.prod(shape) * dtype.itemsize
    if info.file_size != expected:
        raise DataError(f"cannot load model file {label}: entry {what!r} declares shape {shape} of {dtype} "
                        f"({expected} bytes with its header) but holds {info.file_size} bytes")
    return shape, fortran, dtype, offset


def _read_array(zf, info, label):
    """The entry's array (sizes already checked); the zip's CRC is verified by reading to the end."""
    def read():
        with zf.open(info) as fh:
            array = np.lib.format.read_array(fh, allow_pickle=False, max_header_size=MAX_NPY_HEADER)
            if fh.read(1):
                raise ValueError("bytes after the array data")
        return array
    return _guard(label, f"entry {info.filename[:-len('.npy')]!r} cannot be read", read)


def _parse_constant(name):
    raise ValueError(f"the JSON holds {name}, which no config value may be")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the JSON holds the number {text}, too large for a float")
    return value


def _read_config(zf, entries, label):
    info = entries[_CONFIG_ENTRY]
    shape, _, dtype, _ = _npy_header(zf, info, label)
    if shape != () or dtype.kind != "U":
        raise DataError(f"cannot load model file {label}: __config__ must be a text scalar, got shape {shape} of "
                        f"{dtype}")
    if dtype.itemsize // 4 > MAX_CONFIG_CHARS:
        raise DataError(f"cannot load model file {label}: __config__ declares {dtype.itemsize // 4} characters; "
                        f"at most {MAX_CONFIG_CHARS} are accepted")
    text = str(_read_array(zf, info, label))
    header = _guard(label, "__config__ is not valid JSON",
                    lambda: json.loads(text, parse_constant=_parse_constant, parse_float=_finite_float))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise DataError(f"cannot load model file {label}: it is not a numpynet model file (format {got!r}, "
                        f"expected {FORMAT!r})")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise DataError(f"cannot load model file {label}: format version {version!r} is not supported (this "
                        f"numpynet reads versions 1..{VERSION})")
    if not isinstance(header.get("model"), dict):
        raise DataError(f"cannot load model file {label}: the config has no 'model' object")
    return header


# --------------------------------------------------------------------------------------------- the weight plan

class _Plan:
    """What the config declares: the dtype, the weight shapes (get_weights order), the trainable ones'
    shapes, and the optimizer's state entries."""

    def __init__(self, dtype, weights, trainable, optimizer):
        self.dtype = dtype
        self.weights = weights            # [(name, shape)]
        self.trainable = trainable        # [shape]
        self.optimizer = optimizer        # Optimizer instance or None


def _plan(config, custom_objects, label):
    """Compute, without allocating a single weight, the shapes of the weights the config's model will have."""
    def run():
        from .config import as_float_dtype
        inputs, outputs = config_tensors(config, custom_objects)
        dtype = np.dtype(as_float_dtype(config.get("dtype")))
        weights, trainable = _dry_build(inputs, outputs, dtype) if inputs else ([], [])
        compile_cfg = config.get("compile")
        optimizer = None
        if isinstance(compile_cfg, dict) and compile_cfg.get("optimizer") is not None:
            from . import optimizers
            optimizer = optimizers.get(compile_cfg["optimizer"])
        return _Plan(dtype, weights, trainable, optimizer)
    return _guard(label, "bad model config", run)


def _dry_build(inputs, outputs, dtype):
    """([(name, shape)] of every weight in get_weights() order, [shape] of the trainable ones), found by building
    each layer with an ``add_weight`` that records the shape and returns a zero-stride view of one zero."""
    from .graph import walk
    from .layers import InputLayer
    execution, order = walk(inputs, outputs)
    for node in execution:
        layer = node.layer
        if node.is_input or getattr(layer, "_dry_built", False):
            continue
        layer.shapes_only = True          # a throw-away layer: its weights are zero-stride views (no memory)
        layer.dtype = dtype.type
        shapes = [t.shape for t in node.inputs]
        layer.build(shapes if layer.multi_input else shapes[0])
        layer._dry_built = True
    weights, trainable = [], []
    for layer in order:
        if isinstance(layer, InputLayer):
            continue
        weights += [(f"{layer.name}/{key}", tuple(value.shape)) for key, value in layer.params.items()]
        trainable += [tuple(layer.params[key].shape) for key in layer.trainable_names]
    return weights, trainable


def _check_weights(zf, entries, plan, label):
    """The weight entries' ZipInfos in order, after checking each header against the plan."""
    present = sorted(int(m.group(1)) for m in map(_WEIGHT_ENTRY.fullmatch, entries) if m)
    n = len(plan.weights)
    if present != list(range(n)):
        shown = ", ".join(f"{name} {shape}" for name, shape in plan.weights[:6]) + (", ..." if n > 6 else "")
        more = ", ..." if len(present) > 6 else ""
        have = f"{len(present)} (weight/{', weight/'.join(map(str, present[:6]))}{more})" if present else "none"
        raise DataError(f"cannot load model file {label}: its config declares {n} weight arrays"
                        f"{' (' + shown + ')' if n else ''}, but the file holds {have}; a model file must hold "
                        f"exactly the weights its config declares")
    infos = []
    for i, (name, shape) in enumerate(plan.weights):
        info = entries[f"weight/{i}.npy"]
        got_shape, _, got_dtype, _ = _npy_header(zf, info, label)
        if tuple(got_shape) != shape or got_dtype != plan.dtype:
            raise DataError(f"cannot load model file {label}: weight/{i} ({name}) should be {plan.dtype.name} of "
                            f"shape {shape}, the file declares {got_dtype} of shape {tuple(got_shape)}")
        infos.append(info)
    return infos


def _check_optimizer_entries(zf, entries, plan, label):
    """``{state key: ZipInfo}`` of the optimizer entries, each checked against the config's optimizer."""
    out = {}
    names = [name for name in entries if name.startswith("optimizer/")]
    if not names:
        return out
    opt = plan.optimizer
    if opt is None:
        raise DataError(f"cannot load model file {label}: it holds optimizer state but its config has no optimizer")
    slots = set(opt.slot_initial_values())
    scalars = set(opt._scalar_state())
    for name in names:
        key, slot, index = name[len("optimizer/"):-len(".npy")], *_OPTIMIZER_ENTRY.fullmatch(name).groups()
        shape, _, dtype, _ = _npy_header(zf, entries[name], label)
        if index is None:
            if slot == "iterations":
                ok = shape == () and dtype.kind in "iu"
            else:
                ok = slot in scalars and shape == () and dtype.kind == "f"
            expected = "an integer scalar" if slot == "iterations" else "a float scalar"
        else:
            i = int(index)
            ok = slot in slots and i < len(plan.trainable) and tuple(shape) == plan.trainable[i] \
                and dtype.kind == "f"
            expected = (f"a float array of shape {plan.trainable[i]}" if i < len(plan.trainable)
                        else f"one of {len(plan.trainable)} trainable weights")
        if not ok:
            known = sorted({"iterations"} | scalars | {f"{s}/<i>" for s in slots})
            raise DataError(f"cannot load model file {label}: optimizer entry {key!r} ({dtype} of shape "
                            f"{tuple(shape)}) does not fit optimizer {opt}: expected {expected}; its state is "
                            f"{', '.join(known)} for {len(plan.trainable)} trainable weights")
        out[key] = entries[name]
    return out


def _build(config, custom_objects):
    return model_from_config(config, custom_objects or None)


# --------------------------------------------------------------------------------------------- random streams

def _generator(state, what, label):
    """A new Generator with ``state`` (validated), else a DataError."""
    if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
        raise DataError(f"cannot load model file {label}: the random state of {what} must be a NumPy bit "
                        f"generator state (one of {', '.join(_BIT_GENERATORS)}), got {state!r:.200}")
    bitgen = getattr(np.random, state["bit_generator"])()

    def assign():
        bitgen.state = state
    _guard(label, f"the random state of {what} is malformed", assign)
    return np.random.Generator(bitgen)


def _restore_generators(model, states, label):
    """Put the saved generator states back, so shuffling and dropout continue where they stopped."""
    if states is None:
        return       # a file from before random states were saved: the streams restart from the seed
    if not isinstance(states, dict):
        raise DataError(f"cannot load model file {label}: 'random_state' must be an object, got {states!r:.200}")
    restored = {}
    for key, attr in (("shuffle", "_shuffle_rng"), ("model", "_init_rng")):
        if key in states:
            restored[attr] = _generator(states[key], f"the model's {key} stream", label)
    own = states.get("layers", [])
    if not isinstance(own, list):
        raise DataError(f"cannot load model file {label}: 'random_state.layers' must be a list")
    layer_gens = []
    for item in own:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)
                and not isinstance(item[0], bool) and 0 <= item[0] < len(model.layers)):
            raise DataError(f"cannot load model file {label}: 'random_state.layers' entries must be [layer index, "
                            f"state] with an index below {len(model.layers)}, got {item!r:.200}")
        layer_gens.append((model.layers[item[0]], _generator(item[1], f"layer {item[0]}", label)))
    # Everything validated: now change the model. A layer without a seed of its own draws from the model's stream
    # (the same Generator object): it is handed the restored one too, so that it keeps drawing from that stream.
    for attr, gen in restored.items():
        old = getattr(model, attr)
        for layer in model.layers:
            if layer._rng is old:
                layer._rng = gen
        setattr(model, attr, gen)
    for layer, gen in layer_gens:
        layer._rng = gen


__all__ = ["save_model", "load_model", "UnknownLayerError", "FORMAT", "VERSION"]
