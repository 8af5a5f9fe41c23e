"""The Keras side of the bridge: lazy imports of TensorFlow and Keras, the device TensorFlow runs on, the dtype Keras
computes in, and the errors both directions raise.

Only public Keras 3 APIs are used: ``keras.config.floatx`` / ``set_floatx`` and ``keras.config.dtype_policy`` /
``set_dtype_policy``.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

from ...core.errors import SpecError

_INSTALL_HINT = ("numpynet.keras_bridge needs TensorFlow and Keras 3: pip install 'numpynet[keras]' "
                 "(or pip install tensorflow-cpu)")


def _keras():
    """Import Keras lazily, with an actionable message when it is missing."""
    try:
        import keras
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return keras


def _tensorflow():
    """Import TensorFlow lazily, with the same message as :func:`_keras` (not a bare ModuleNotFoundError)."""
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return tf


def configure_tensorflow(device=None):
    """Choose where TensorFlow runs: ``"CPU"`` (default; GPUs hidden) or ``"GPU"`` (TF32 disabled, so float32
    matrix products are true float32 and comparable with NumPy). ``device`` defaults to ``$NUMPYNET_TF_DEVICE``.

    Call it before TensorFlow runs its first operation; afterwards the visible devices can no longer change and a
    RuntimeWarning says so. Returns the device actually used ("CPU" or "GPU").
    """
    tf = _tensorflow()
    device = (device or os.environ.get("NUMPYNET_TF_DEVICE") or "CPU").upper()
    if device not in ("CPU", "GPU"):
        raise SpecError(f"configure_tensorflow: device must be 'CPU' or 'GPU', got {device!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if device == "GPU":
        if not gpus:
            raise RuntimeError("NUMPYNET_TF_DEVICE=GPU but TensorFlow sees no GPU")
        # TF32 rounds float32 matmul inputs to 10 mantissa bits: far from NumPy's float32 results.
        tf.config.experimental.enable_tensor_float_32_execution(False)
        return "GPU"
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:   # TensorFlow already initialised its devices
        if tf.config.get_visible_devices("GPU"):
            warnings.warn("configure_tensorflow: TensorFlow was already initialised with a visible GPU; "
                          "it keeps running there (TF32 disabled)", RuntimeWarning, stacklevel=2)
            tf.config.experimental.enable_tensor_float_32_execution(False)
            return "GPU"
    return "CPU"


# ============================================================================================ dtype

def _use_dtype(dtype):
    """Keras floatx = ``dtype``, and Keras's global dtype policy with it: Keras derives that policy from floatx when
    the first layer is built and then *keeps* it, so ``set_floatx`` alone no longer changes the dtype of new
    layers."""
    keras = _keras()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)


@contextlib.contextmanager
def keras_dtype(dtype):
    """Context manager: Keras computes in ``dtype`` ("float32" or "float64") inside, as before outside.

    Sets ``keras.config.set_floatx`` and ``keras.config.set_dtype_policy`` (Keras otherwise keeps the policy of the
    first layer ever built); both are restored on exit. (A policy Keras had not derived yet is restored as the one
    it would derive, ``DTypePolicy(floatx)``.)

    >>> with keras_dtype("float64"):                   # doctest: +SKIP
    ...     kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])   # float64 weights
    """
    keras = _keras()
    old_floatx, old_policy = keras.config.floatx(), keras.config.dtype_policy()
    _use_dtype(dtype)
    try:
        yield dtype
    finally:
        keras.config.set_floatx(old_floatx)
        keras.config.set_dtype_policy(old_policy)


def _keras_dtype_of(keras_model):
    """(dtype, weights) of a Keras model: the dtype of its first weight (floatx when it has none)."""
    keras = _keras()
    weights = keras_model.get_weights()
    dtype = weights[0].dtype if weights else np.dtype(keras.config.floatx())
    if dtype not in (np.float32, np.float64):
        raise _unsupported("dtype", str(dtype), "numpynet models are float32 or float64")
    return dtype, weights


# ============================================================================================ errors and values

def _no_keras_equivalent(what, name, supported=()):
    """The SpecError of the numpynet → Keras direction (:func:`_unsupported` is the other direction's)."""
    listed = f"; supported: {', '.join(sorted(supported))}" if supported else ""
    return SpecError(f"keras_bridge: {what} {name!r} has no Keras equivalent{listed}")


def _unsupported(what, name, detail=""):
    """The SpecError of the Keras → numpynet direction."""
    return SpecError(f"from_keras: {what} {name!r} is not supported by numpynet{': ' + detail if detail else ''}")


def _supported(names):
    return f"supported: {', '.join(sorted(names))}"


def _listify(value):
    """Tuples as lists (what Keras's constructors and configs hold)."""
    return list(value) if isinstance(value, tuple) else value


def _short(value):
    """Floats that Keras stored through float32 (0.0010000000474974513) back to their short form (0.001)."""
    if isinstance(value, float) and value == float(np.float32(value)):
        return float(str(np.float32(value)))
    if isinstance(value, list):
        return tuple(_short(v) for v in value)
    return value
