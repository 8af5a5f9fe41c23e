"""Streams of mini-batches: shuffled, seeded, optionally augmented, without a second copy of the data.

``model.fit`` takes whole arrays, and it also takes any iterable of ``(x_batch, y_batch)`` pairs (Keras's
``PyDataset`` habit). :class:`BatchStream` is such an iterable over arrays you already hold::

    stream = nn.data.BatchStream(X, y, batch_size=32, seed=0,
                                 augment=[nn.data.RandomFlip(), nn.data.RandomShift(max_shift=2)])
    model.fit(stream, epochs=3)

* **one epoch per** ``iter()``: every pass over the stream draws a fresh permutation π of the N samples and
  yields the batches ``X[π[kB:(k+1)B]]``; ``len(stream)`` = ⌈N/B⌉ (⌊N/B⌋ with ``drop_remainder``).
* **no second copy**: the stream keeps a reference to ``X`` and ``y`` (never ``np.array(X)``); each batch is gathered
  on demand (``np.take``), so the memory beyond the data is one batch and its augmented version. A
  ``np.memmap`` works too: only the rows of the current batch are read. With ``shuffle=False`` the batches are
  read-only views of ``X`` and ``y``.
* **seeded**: ``seed`` fixes both the order and the augmentations. The two come from independent streams of
  ``np.random.default_rng`` (``SeedSequence(seed).spawn(2)``), so switching an augmentation on or off does not
  change the order of the batches. ``seed=None`` draws fresh entropy.
* **augmentations** are callables ``aug(x_batch, rng) -> new array`` applied in order to each batch. They never
  modify their input (the data stays as it was) — write your own with the same signature.

The augmentations here work on images in NHWC layout (batch, height, width, channels), as everything in numpynet.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import DataError, ShapeError, SpecError

__all__ = ["BatchStream", "RandomFlip", "RandomShift"]


def _check_images(owner, x):
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        shape = getattr(x, "shape", None)
        raise ShapeError(f"{owner}: expected a batch of NHWC images, shape (batch, height, width, channels), got "
                         f"{'shape ' + str(shape) if shape is not None else type(x).__name__}; flattened images "
                         f"need X.reshape(-1, height, width, channels) first")


class RandomFlip:
    """Mirror each image with probability ½, independently per image: ``horizontal`` reverses the width axis
    (left ↔ right), ``vertical`` the height axis (top ↔ bottom); with both, each axis is drawn on its own.

    ``flip(x_batch, rng)`` returns a new array of the same shape and dtype; ``x_batch`` is left untouched.
    """

    def __init__(self, horizontal=True, vertical=False):
        for name, value in (("horizontal", horizontal), ("vertical", vertical)):
            if not isinstance(value, (bool, np.bool_)):
                raise SpecError(f"RandomFlip: argument {name!r} must be True or False, got {value!r}")
        if not (horizontal or vertical):
            raise SpecError("RandomFlip: at least one of 'horizontal' and 'vertical' must be True "
                            "(got horizontal=False, vertical=False, which would flip nothing)")
        self.horizontal = bool(horizontal)
        self.vertical = bool(vertical)

    def __call__(self, x, rng):
        _check_images("RandomFlip", x)
        out = x.copy()
        n = x.shape[0]
        # axis 2 is the width (horizontal flip), axis 1 the height (vertical flip) in NHWC
        for on, axis in ((self.horizontal, 2), (self.vertical, 1)):
            if on:
                mask = rng.random(n) < 0.5
                out[mask] = np.flip(out[mask], axis=axis)
        return out

    def __repr__(self):
        return f"RandomFlip(horizontal={self.horizontal}, vertical={self.vertical})"


class RandomShift:
    """Translate each image by a random whole number of pixels, filling the uncovered border with zeros.

    Each image gets its own (Δh, Δw), each drawn uniformly from {−m, …, m} with m = ``max_shift``:

        out[i, r, c, :] = x[i, r − Δhᵢ, c − Δwᵢ, :]   where that pixel exists, else 0

    (a positive Δh moves the content down, a positive Δw to the right). Done as one gather from the zero-padded
    batch, without a Python loop over images. ``shift(x_batch, rng)`` returns a new array; ``max_shift=0`` copies.
    """

    def __init__(self, max_shift=2):
        if isinstance(max_shift, bool) or not isinstance(max_shift, numbers.Integral) or max_shift < 0:
            raise SpecError(f"RandomShift: argument 'max_shift' must be an integer >= 0 (pixels), got {max_shift!r}")
        self.max_shift = int(max_shift)

    def __call__(self, x, rng):
        _check_images("RandomShift", x)
        m = self.max_shift
        n, h, w, _ = x.shape
        if m >= h or m >= w:
            raise ShapeError(f"RandomShift: max_shift={m} must be smaller than the image size {h}x{w}")
        if m == 0:
            return x.copy()
        dh = rng.integers(-m, m + 1, size=n)
        dw = rng.integers(-m, m + 1, size=n)
        padded = np.pad(x, ((0, 0), (m, m), (m, m), (0, 0)))
        rows = np.arange(h)[None, :] - dh[:, None] + m          # (n, h): source row in the padded image
        cols = np.arange(w)[None, :] - dw[:, None] + m          # (n, w)
        return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift})"


class BatchStream:
    """An iterable of ``(x_batch, y_batch)``: one shuffled epoch per ``iter()``, seeded, optionally augmented.

    ``X`` and ``y`` are kept by reference (same first dimension N); ``batch_size`` B ≥ 1; ``shuffle=False`` keeps
    the order; ``drop_remainder`` drops a last batch smaller than B. ``augment`` is one callable or a list, each
    called as ``aug(x_batch, rng)`` on every batch. See the module docstring.
    """

    def __init__(self, X, y, batch_size=32, shuffle=True, seed=None, augment=None, drop_remainder=False):
        owner = "BatchStream"
        for name, value in (("X", X), ("y", y)):
            if not hasattr(value, "shape") or not hasattr(value, "__getitem__"):
                raise DataError(f"{owner}: argument {name!r} must be an array (np.ndarray or np.memmap), got "
                                f"{type(value).__name__}; np.asarray it first")
            if len(value.shape) == 0 or value.shape[0] == 0:
                raise DataError(f"{owner}: argument {name!r} must hold at least one sample, got shape {value.shape}")
        if X.shape[0] != y.shape[0]:
            raise DataError(f"{owner}: X and y must have the same number of samples, got {X.shape[0]} and "
                            f"{y.shape[0]}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise SpecError(f"{owner}: argument 'batch_size' must be a positive integer, got {batch_size!r}")
        for name, value in (("shuffle", shuffle), ("drop_remainder", drop_remainder)):
            if not isinstance(value, (bool, np.bool_)):
                raise SpecError(f"{owner}: argument {name!r} must be True or False, got {value!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            raise SpecError(f"{owner}: argument 'seed' must be None or an integer >= 0, got {seed!r}")
        if augment is None:
            augment = []
        elif callable(augment):
            augment = [augment]
        elif isinstance(augment, (list, tuple)):
            augment = list(augment)
        else:
            raise SpecError(f"{owner}: argument 'augment' must be None, a callable aug(x_batch, rng) or a list of "
                            f"them, got {type(augment).__name__}")
        for i, aug in enumerate(augment):
            if not callable(aug):
                raise SpecError(f"{owner}: argument 'augment'[{i}] must be a callable aug(x_batch, rng), got "
                                f"{aug!r}")
        if drop_remainder and batch_size > X.shape[0]:
            raise DataError(f"{owner}: batch_size={batch_size} with drop_remainder=True leaves no batch of the "
                            f"{X.shape[0]} samples")
        self.X = X
        self.y = y
        self.n = int(X.shape[0])
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = None if seed is None else int(seed)
        self.augment = augment
        self.drop_remainder = bool(drop_remainder)
        order_seq, augment_seq = np.random.SeedSequence(self.seed).spawn(2)
        self._order_rng = np.random.default_rng(order_seq)
        self._augment_rng = np.random.default_rng(augment_seq)

    def __len__(self):
        """Batches per epoch: ⌈N/B⌉, or ⌊N/B⌋ with ``drop_remainder``."""
        return self.n // self.batch_size if self.drop_remainder else -(-self.n // self.batch_size)

    def __iter__(self):
        order = self._order_rng.permutation(self.n) if self.shuffle else None
        for k in range(len(self)):
            start, stop = k * self.batch_size, min((k + 1) * self.batch_size, self.n)
            if order is None:
                # contiguous rows: views, no copy. Read-only, so that an augmentation that wrongly writes into its
                # input fails loudly instead of silently changing the data set
                xb, yb = self.X[start:stop].view(), self.y[start:stop].view()
                xb.flags.writeable = yb.flags.writeable = False
            else:
                # sorted indices read a memmap front to back; the batch order itself stays random
                idx = np.sort(order[start:stop])
                xb, yb = np.take(self.X, idx, axis=0), np.take(self.y, idx, axis=0)
            for aug in self.augment:
                xb = aug(xb, self._augment_rng)
            yield xb, yb

    def __repr__(self):
        return (f"BatchStream(n={self.n}, batch_size={self.batch_size}, batches={len(self)}, shuffle={self.shuffle}, "
                f"seed={self.seed}, augment={self.augment})")
