"""Process-wide default float type (like ``keras.config.set_floatx``). Models and layers may override it."""

import numpy as np

from .errors import SpecError

_FLOATX = np.float32


def floatx():
    """The default dtype for new models: ``np.float32`` unless changed with :func:`set_floatx`."""
    return _FLOATX


def set_floatx(dtype):
    """Set the default dtype for models built afterwards: "float32" or "float64"."""
    global _FLOATX
    _FLOATX = as_float_dtype(dtype)


def as_float_dtype(dtype):
    """``np.float32`` or ``np.float64`` from a name or dtype, else a SpecError."""
    if dtype is None:
        return _FLOATX
    if isinstance(dtype, (dict, list, tuple)):
        dt = None         # structured-dtype descriptions: never a float type, and NumPy may parse them slowly
    else:
        try:
            dt = np.dtype(dtype)
        except (TypeError, ValueError, SyntaxError, KeyError, IndexError, OverflowError):
            dt = None
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise SpecError(f"argument 'dtype' must be 'float32' or 'float64', got {dtype!r}")
    return dt.type
