"""What the two Keras-parity modules share: TensorFlow (the module is skipped without it, unless
``NUMPYNET_REQUIRE_TF=1`` makes that a failure), the device (``NUMPYNET_TF_DEVICE``, TF32 off on a GPU) and the
relative difference they assert on."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("NUMPYNET_REQUIRE_TF"):
    import tensorflow as tf
else:
    tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (after TensorFlow, which may be skipped)

from numpynet.keras_bridge import configure_tensorflow  # noqa: E402

DEVICE = configure_tensorflow()

__all__ = ["tf", "keras", "DEVICE", "rel_diff"]


def rel_diff(ours, theirs):
    """max|a − b| / max|b| (the difference relative to the scale of the Keras array)."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: numpynet {a.shape}, keras {b.shape}"
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return diff / scale if scale > 0 else diff
