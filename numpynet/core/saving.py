"""Saving a model: ``.npz`` (arrays) + JSON (architecture, training configuration, random streams), atomically.

The file is written to a uniquely named temporary file in the target directory, flushed to disk, then moved over
the target with :func:`os.replace`. Concurrent saves to one path leave one complete file (the last to finish); a
failed or interrupted save (an exception, Ctrl-C, a full disk) removes its temporary file and leaves the old file
as it was. Reading the file back, with every check a file from elsewhere needs, is :mod:`numpynet.io`'s part.

The file holds ``__config__`` (the JSON header: format, version, ``model.get_config()``, the generators' states),
``weight/<i>`` (``get_weights()`` in order, each in its own dtype) and ``optimizer/<state>`` entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

import numpy as np

from .errors import SpecError

FORMAT = "numpynet-model"
VERSION = 1


def save_model(model, path):
    """Write ``model`` to ``path`` (a ``.npz`` file): config JSON, every weight, the optimizer state and the
    random generators' states.

    The write is atomic (temporary file in the same directory, ``fsync``, ``os.replace``): readers see the old
    file or the new one, never a mixture; on any failure the temporary file is removed and the old file is kept.
    A path that is a directory, or whose directory does not exist, is a :class:`SpecError` before anything is
    written.
    """
    target = _check_path(path, "save_model")
    if os.path.isdir(target):
        raise SpecError(f"save_model: argument 'path' must be a file name such as 'model.npz', got {target!r}, "
                        f"which is a directory")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise SpecError(f"save_model: argument 'path' {target!r} is in directory {directory!r}, which does not "
                        f"exist; create it first")
    header = {"format": FORMAT, "version": VERSION, "model": model.get_config(),
              "random_state": _generator_states(model)}
    arrays = {"__config__": np.array(json.dumps(header, allow_nan=False))}
    for i, w in enumerate(model.get_weights()):
        arrays[f"weight/{i}"] = w    # saved in its own dtype: float64 weights stay float64, bit for bit
    if model.optimizer is not None and model.built:
        for key, value in model.optimizer.get_state().items():
            arrays[f"optimizer/{key}"] = np.asarray(value)
    _atomic_write(target, directory, arrays)


def _check_path(path, owner):
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise SpecError(f"{owner}: argument 'path' must be a file path (str or os.PathLike), got "
                        f"{type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise SpecError(f"{owner}: argument 'path' must not be empty")
    return path


def _atomic_write(target, directory, arrays):
    # A unique name per call: concurrent savers never share (or delete) each other's temporary file.
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates the file readable by its owner only; keep the permissions a plain open() would give.
        with contextlib.suppress(OSError):
            os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    except BaseException:      # also KeyboardInterrupt/SystemExit: no temporary file may survive a failed save
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _file_mode(target):
    try:
        return os.stat(target).st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _umask():
    # os.umask can only be read by setting it, which races with other threads; Linux shows it in /proc.
    try:
        # errors="replace": the Name line may hold any bytes (prctl), and only the Umask line is read
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); best effort, not all systems can open a directory."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:
        return
    try:
        dfd = os.open(directory, os.O_RDONLY | flags)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _generator_states(model):
    """``{"shuffle": state, "model": state, "layers": [[index, state], ...]}`` of every distinct generator."""
    shared = {id(g) for g in (getattr(model, "_shuffle_rng", None), getattr(model, "_init_rng", None))}
    out = {}
    for key, attr in (("shuffle", "_shuffle_rng"), ("model", "_init_rng")):
        gen = getattr(model, attr, None)
        if isinstance(gen, np.random.Generator):
            out[key] = _json_state(gen.bit_generator.state)
    own = []
    for i, layer in enumerate(model.layers):
        gen = getattr(layer, "_rng", None)
        if isinstance(gen, np.random.Generator) and id(gen) not in shared:
            own.append([i, _json_state(gen.bit_generator.state)])
    out["layers"] = own
    return out


def _json_state(state):
    """A bit generator's state with its arrays as lists: MT19937, Philox and SFC64 keep theirs in ndarrays, which
    JSON cannot hold; NumPy's state setters take the lists back unchanged."""
    if isinstance(state, dict):
        return {key: _json_state(value) for key, value in state.items()}
    if isinstance(state, np.ndarray):
        return state.tolist()
    return state
