"""Experiment grids, part 2: the data a grid trains on (:class:`Data`, :func:`load_data`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..core.errors import DataError
from ..core.spec import check_choice, check_int, check_number
from . import datasets as _datasets

#: Dataset names understood by :func:`load_data` ("auto" = Fashion-MNIST when it is found, else digits).
DATASETS = ("auto", "digits", "fashion-mnist", "mnist")


@dataclasses.dataclass
class Data:
    """Training, validation and test arrays of one dataset (``y`` are integer labels)."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_classes(self):
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def describe(self):
        n_val = 0 if self.X_val is None else len(self.X_val)
        feat = "x".join(str(d) for d in self.X_train.shape[1:])
        return (f"{self.name}: {len(self.X_train):,} training / {n_val:,} validation / {len(self.X_test):,} test "
                f"images of {feat}, {self.n_classes} classes")

    @classmethod
    def from_arrays(cls, train, test, val=None, validation_split=0.1, name="arrays"):
        """From ``(X, y)`` pairs; without ``val``, the last ``validation_split`` of the training rows."""
        (X, y), (Xt, yt) = train, test
        if val is not None:
            Xv, yv = val
        elif validation_split:
            n_val = _n_val(len(X), validation_split)
            X, y, Xv, yv = X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]
        else:
            Xv = yv = None
        return cls(name, np.asarray(X), np.asarray(y), Xv, yv, np.asarray(Xt), np.asarray(yt))


def _n_val(n, validation_split):
    validation_split = check_number("load_data", "validation_split", validation_split, minimum=0.0,
                                    maximum=1.0, strict=True)
    n_val = max(1, int(round(n * validation_split)))
    if n_val >= n:
        raise DataError(f"validation_split={validation_split} leaves no training images out of {n}")
    return n_val


def resolve_data_name(name):
    """``"auto"`` → "fashion-mnist" when its files are found (no download), else "digits"; others checked."""
    name = check_choice("load_data", "data", name, DATASETS)
    if name != "auto":
        return name
    try:
        _datasets.find_dataset("fashion-mnist", download=False)
    except DataError:
        return "digits"
    return "fashion-mnist"


def to_image_size(X, size):
    """NHWC images ``X`` brought to ``size`` × ``size``: scaled up by the largest whole factor that fits (each pixel
    repeated, nearest neighbour) and then zero-padded equally on every side (one pixel more at the bottom/right
    when the rest is odd).

    Fashion-MNIST / MNIST 28x28 → 32x32 is a 2-pixel zero border (factor 1), as in the MobileNetV2 experiment;
    the 8x8 digits → 32x32 are each pixel repeated 4×4 (factor 4, no border), so that a digit covers the frame as a
    Fashion-MNIST item does rather than sitting as a speck in a wide black border.
    """
    X = np.asarray(X)
    size = check_int("to_image_size", "size", size, minimum=1)
    if X.ndim != 4:
        raise DataError(f"to_image_size: expected NHWC images (N, height, width, channels), got shape {X.shape}")
    h, w = X.shape[1:3]
    if h > size or w > size:
        raise DataError(f"to_image_size: images of {h}x{w} do not fit in {size}x{size} (only enlarging is done)")
    factor = min(size // h, size // w)
    if factor > 1:
        X = np.repeat(np.repeat(X, factor, axis=1), factor, axis=2)
        h, w = h * factor, w * factor
    top, left = (size - h) // 2, (size - w) // 2
    if top or left or h < size or w < size:
        X = np.pad(X, ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0)))
    return np.ascontiguousarray(X)


def load_data(name="digits", n_train=None, validation_split=0.1, n_test=None, flatten=True, dtype=np.float32,
              image_size=None):
    """Load a dataset as :class:`Data`.

    ``n_train``: training images (None: all but the validation images). The validation set is
    ``validation_split · n_train`` further images (``validation_split`` of all when ``n_train`` is None) that
    follow the training images in the file, so it never overlaps them; ``validation_split=0``: no validation set.
    ``"auto"`` is Fashion-MNIST when its files are found locally, else digits. Nothing is downloaded.
    ``image_size``: NHWC images brought to ``image_size`` × ``image_size`` by :func:`to_image_size` (zero border,
    after a whole-factor upscaling when that fits: 28x28 → 32x32 pads 2 pixels, 8x8 → 32x32 repeats each pixel
    4×4); implies ``flatten=False``.
    """
    name = resolve_data_name(name)
    if image_size is not None:
        image_size = check_int("load_data", "image_size", image_size, minimum=1)
        flatten = False
    if n_train is not None:
        n_train = check_int("load_data", "n_train", n_train, minimum=1)
    validation_split = check_number("load_data", "validation_split", validation_split, minimum=0.0, maximum=1.0,
                                    strict=True) if validation_split else 0.0
    n_val = None if n_train is None else (max(1, round(n_train * validation_split)) if validation_split else 0)
    kwargs = {"flatten": flatten, "dtype": dtype}
    if name == "digits":
        (X, y), (Xt, yt) = _datasets.load_digits(**kwargs)
        Xt, yt = (Xt, yt) if n_test is None else (Xt[:n_test], yt[:n_test])
    else:
        loader = _datasets.load_fashion_mnist if name == "fashion-mnist" else _datasets.load_mnist
        wanted = None if n_train is None else n_train + n_val
        if wanted is not None and wanted > 60000:
            raise DataError(f"{name} has 60,000 training images; n_train={n_train:,} plus {n_val:,} for "
                            f"validation do not fit (lower n_train or validation_split)")
        (X, y), (Xt, yt) = loader(n_train=wanted, n_test=n_test, download=False, **kwargs)
    if n_train is None:
        n_val = max(1, round(len(X) * validation_split)) if validation_split else 0
        n_train = len(X) - n_val
    if n_train < 1 or n_train + n_val > len(X):
        raise DataError(f"{name} has {len(X):,} training images; n_train={n_train:,} plus {n_val:,} for "
                        f"validation do not fit (lower n_train or validation_split)")
    X, y = X[:n_train + n_val], y[:n_train + n_val]
    if image_size is not None:
        X, Xt = to_image_size(X, image_size), to_image_size(Xt, image_size)
    val = (X[n_train:n_train + n_val], y[n_train:n_train + n_val]) if n_val else (None, None)
    return Data(name, X[:n_train], y[:n_train], *val, Xt, yt)


def as_data(data):
    if isinstance(data, Data):
        return data
    if isinstance(data, str):
        return load_data(data)
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        return Data.from_arrays(data[0], data[-1], val=data[1] if len(data) == 3 else None)
    raise DataError(f"cannot use {type(data).__name__} as grid data; expected a Data, a dataset name "
                    f"({', '.join(DATASETS)}) or ((X_train, y_train), (X_test, y_test))")

