"""nn.data: a seeded, shuffled, augmented batch stream that keeps no second copy of the data."""

import tracemalloc

import numpy as np
import pytest

import numpynet as nn
from numpynet.data import BatchStream, RandomFlip, RandomShift
from numpynet.errors import DataError, ShapeError, SpecError


def images(n=50, h=6, w=5, c=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, h, w, c)).astype(np.float32)


# ============================================================================================ the stream

def test_batches_cover_every_sample_once_per_epoch():
    X = np.arange(103, dtype=np.float64)[:, None] * np.ones((1, 3))
    y = np.arange(103)
    stream = BatchStream(X, y, batch_size=10, seed=0)
    assert len(stream) == 11
    for _ in range(2):
        batches = list(stream)
        assert len(batches) == 11
        assert [b[0].shape for b in batches] == [(10, 3)] * 10 + [(3, 3)]
        seen = np.concatenate([yb for _, yb in batches])
        assert sorted(seen) == list(range(103))
        for xb, yb in batches:                           # x and y stay paired
            np.testing.assert_array_equal(xb[:, 0], yb)


def test_drop_remainder_and_no_shuffle():
    X, y = np.arange(25.0)[:, None], np.arange(25)
    stream = BatchStream(X, y, batch_size=10, shuffle=False, drop_remainder=True)
    assert len(stream) == 2
    batches = list(stream)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), np.arange(20))
    assert np.shares_memory(batches[0][0], X)            # in order: views, not copies
    assert not batches[0][0].flags.writeable             # ... that nobody can write through


def test_each_epoch_is_a_fresh_permutation_and_the_seed_fixes_them():
    X, y = np.arange(40.0)[:, None], np.arange(40)

    def epochs(seed, n=3):
        stream = BatchStream(X, y, batch_size=8, seed=seed)
        return [np.concatenate([yb for _, yb in stream]) for _ in range(n)]

    a, b, c = epochs(0), epochs(0), epochs(1)
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)             # same seed, same epochs
    assert not np.array_equal(a[0], a[1])                # a new order every epoch
    assert not np.array_equal(a[0], c[0])                # another seed, another order


def test_the_stream_keeps_no_second_copy_of_the_data():
    X = np.random.default_rng(0).normal(size=(4000, 32, 32, 1)).astype(np.float32)    # 16 MB
    y = np.arange(4000)
    tracemalloc.start()
    try:
        stream = BatchStream(X, y, batch_size=64, seed=0, augment=[RandomFlip(), RandomShift(2)])
        assert stream.X is X and stream.y is y
        for xb, _ in stream:
            assert not np.shares_memory(xb, X)           # augmented batches are new arrays ...
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # ... of one batch each (plus the padded copy RandomShift gathers from): far below the 16 MB of X
    assert peak < 0.1 * X.nbytes, f"peak {peak / 1e6:.1f} MB for {X.nbytes / 1e6:.1f} MB of data"


def test_the_data_is_never_modified():
    X = images()
    y = np.arange(len(X))
    before = X.copy()
    for _ in BatchStream(X, y, batch_size=7, seed=3, augment=[RandomFlip(vertical=True), RandomShift(1)]):
        pass
    np.testing.assert_array_equal(X, before)


def test_augmentations_run_in_order_with_the_stream_generator():
    X, y = images(n=8), np.arange(8)
    calls = []

    def tag(x, rng):
        calls.append(type(rng).__name__)
        return x + 1.0

    out = [xb for xb, _ in BatchStream(X, y, batch_size=4, shuffle=False, augment=[tag, tag])]
    np.testing.assert_array_equal(out[0], (X[:4] + 1.0) + 1.0)
    assert calls == ["Generator"] * 4


def test_augmentation_does_not_change_the_order():
    X, y = images(n=30), np.arange(30)
    plain = [yb for _, yb in BatchStream(X, y, batch_size=4, seed=5)]
    flipped = [yb for _, yb in BatchStream(X, y, batch_size=4, seed=5, augment=RandomFlip())]
    for a, b in zip(plain, flipped):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"batch_size": 0}, SpecError, ["batch_size", "0"]),
    ({"batch_size": 2.5}, SpecError, ["batch_size"]),
    ({"batch_size": True}, SpecError, ["batch_size"]),
    ({"shuffle": "yes"}, SpecError, ["shuffle"]),
    ({"drop_remainder": 1}, SpecError, ["drop_remainder"]),
    ({"seed": -1}, SpecError, ["seed", "-1"]),
    ({"seed": 1.5}, SpecError, ["seed"]),
    ({"augment": "flip"}, SpecError, ["augment", "str"]),
    ({"augment": [RandomFlip(), 3]}, SpecError, ["augment", "[1]"]),
    ({"batch_size": 100, "drop_remainder": True}, DataError, ["batch_size", "drop_remainder"]),
])
def test_stream_arguments_are_checked(kwargs, error, words):
    X, y = images(n=20), np.arange(20)
    with pytest.raises(error) as info:
        BatchStream(X, y, **kwargs)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_stream_data_is_checked():
    with pytest.raises(DataError, match="same number of samples.*20.*19"):
        BatchStream(images(n=20), np.arange(19))
    with pytest.raises(DataError, match="'X'.*list"):
        BatchStream([[1.0]], np.arange(1))
    with pytest.raises(DataError, match="at least one sample"):
        BatchStream(np.zeros((0, 3)), np.zeros(0))


# ============================================================================================ augmentations

def _flip_reference(x, rng, horizontal, vertical):
    """A loop over images, drawing in the same order as RandomFlip (all horizontal coins, then all vertical)."""
    out = x.copy()
    h_coins = rng.random(len(x)) < 0.5 if horizontal else np.zeros(len(x), bool)
    v_coins = rng.random(len(x)) < 0.5 if vertical else np.zeros(len(x), bool)
    for i in range(len(x)):
        if h_coins[i]:
            out[i] = out[i][:, ::-1, :]
        if v_coins[i]:
            out[i] = out[i][::-1, :, :]
    return out


@pytest.mark.parametrize("horizontal, vertical", [(True, False), (False, True), (True, True)])
def test_random_flip_matches_a_loop(horizontal, vertical):
    x = images(n=40)
    got = RandomFlip(horizontal=horizontal, vertical=vertical)(x, np.random.default_rng(7))
    want = _flip_reference(x, np.random.default_rng(7), horizontal, vertical)
    np.testing.assert_array_equal(got, want)
    flipped = [not np.array_equal(g, xi) for g, xi in zip(got, x)]
    assert 5 < sum(flipped) < 40                        # about half of them


def _shift_reference(x, dh, dw):
    out = np.zeros_like(x)
    n, h, w, _ = x.shape
    for i in range(n):
        for r in range(h):
            for c in range(w):
                rs, cs = r - dh[i], c - dw[i]
                if 0 <= rs < h and 0 <= cs < w:
                    out[i, r, c] = x[i, rs, cs]
    return out


@pytest.mark.parametrize("max_shift", [1, 2, 3])
def test_random_shift_matches_a_loop(max_shift):
    x = images(n=30, h=7, w=6)
    got = RandomShift(max_shift)(x, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    dh = rng.integers(-max_shift, max_shift + 1, size=len(x))
    dw = rng.integers(-max_shift, max_shift + 1, size=len(x))
    np.testing.assert_array_equal(got, _shift_reference(x, dh, dw))
    assert got.dtype == x.dtype and got.shape == x.shape
    assert len(set(zip(dh, dw))) > 5                     # the shifts do vary


def test_random_shift_of_zero_is_a_copy():
    x = images(n=4)
    out = RandomShift(0)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("make, words", [
    (lambda: RandomFlip(horizontal=False), ["horizontal", "vertical"]),
    (lambda: RandomFlip(horizontal="yes"), ["horizontal"]),
    (lambda: RandomShift(-1), ["max_shift", "-1"]),
    (lambda: RandomShift(1.5), ["max_shift", "1.5"]),
])
def test_augmentation_arguments_are_checked(make, words):
    with pytest.raises(SpecError) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_augmentations_want_nhwc_images():
    rng = np.random.default_rng(0)
    with pytest.raises(ShapeError, match="NHWC.*reshape"):
        RandomFlip()(np.zeros((4, 64)), rng)
    with pytest.raises(ShapeError, match="max_shift=8"):
        RandomShift(8)(np.zeros((2, 8, 8, 1)), rng)


# ============================================================================================ with fit

def test_fit_trains_on_a_stream():
    (X, y), (Xt, yt) = nn.datasets.load_digits()
    X, Xt = X.reshape(-1, 8, 8, 1), Xt.reshape(-1, 8, 8, 1)
    model = nn.Sequential([nn.layers.Conv2D(4, 3, activation="relu"), nn.layers.Flatten(), nn.layers.Dense(10)],
                          seed=0)
    model.compile(optimizer="adam(lr=0.01)", loss="softmax_cross_entropy", metrics=["accuracy"])
    stream = nn.data.BatchStream(X, y, 32, seed=0, augment=[nn.data.RandomFlip()])
    hist = model.fit(stream, epochs=3, verbose=0)
    assert len(hist.history["loss"]) == 3
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert model.evaluate(Xt, yt)["accuracy"] > 0.5
