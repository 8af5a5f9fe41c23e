"""Model files taken apart and put back together, for the tests that hand ``load_model`` damaged or hostile files
(test_safety_io.py, test_mutation_kills_io.py): a saved model is a zip of ``.npy`` entries, the JSON header in
``__config__.npy``."""

import io
import json
import zipfile

import numpy as np


def read_entries(path):
    """``{entry name: bytes}`` of the zip file at ``path``."""
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def write_entries(path, entries, compress=zipfile.ZIP_STORED):
    """A zip file at ``path`` holding ``entries`` (name → bytes); returns ``path``."""
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def npy_bytes(array, allow_pickle=False):
    """``array`` in the .npy format, as ``np.save`` writes it."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=allow_pickle)
    return buf.getvalue()


def config_of(path):
    """The JSON header of a saved model, as a dict."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["__config__"]))


def with_config(path, out, header):
    """A copy of the model file ``path`` at ``out`` with the header replaced by ``header`` (a dict, or the JSON text
    itself); returns ``out``."""
    entries = read_entries(path)
    entries["__config__.npy"] = npy_bytes(np.array(header if isinstance(header, str) else json.dumps(header)))
    return write_entries(out, entries)
