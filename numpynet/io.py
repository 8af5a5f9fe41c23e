"""Saving and loading models as ``.npz`` (arrays) + JSON (architecture and training configuration).

Nothing is pickled and nothing is executed on load: the JSON names layers, optimizers and losses by their
registered spec names, and the arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .errors import DataError

FORMAT = "numpynet-model"
VERSION = 1


def save_model(model, path):
    """Write ``model`` to ``path`` (a ``.npz`` file): config JSON, every weight, the optimizer state."""
    arrays = {"__config__": np.array(json.dumps({"format": FORMAT, "version": VERSION,
                                                  "model": model.get_config()}))}
    for i, w in enumerate(model.get_weights()):
        arrays[f"weight/{i}"] = w
    if model.optimizer is not None and model.built:
        for key, value in model.optimizer.get_state().items():
            arrays[f"optimizer/{key}"] = np.asarray(value)
    path = os.fspath(path)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_model(path, custom_objects=None):
    """Read a model written by :func:`save_model`; weights and optimizer state are restored.

    ``custom_objects`` maps the names of user-written layer classes that are not registered
    (``@nn.layers.register``) to the classes; nothing else is ever looked up or imported."""
    from .model import model_from_config
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            files = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read model file {os.fspath(path)!r}: {exc}") from None
    if "__config__" not in files:
        raise DataError(f"{os.fspath(path)!r} is not a numpynet model file (no __config__ entry)")
    header = json.loads(str(files["__config__"]))
    if header.get("format") != FORMAT:
        raise DataError(f"{os.fspath(path)!r} is not a numpynet model file (format {header.get('format')!r})")
    model = model_from_config(header["model"], custom_objects)
    n = sum(1 for k in files if k.startswith("weight/"))
    if n:
        model.set_weights([files[f"weight/{i}"] for i in range(n)])
    state = {k[len("optimizer/"):]: v for k, v in files.items() if k.startswith("optimizer/")}
    if state and model.optimizer is not None:
        model.optimizer.set_state(state)
    return model
