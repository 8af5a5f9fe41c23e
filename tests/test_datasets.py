"""Tests for numpynet.datasets: the IDX reader/writer, load_digits, the Fashion-MNIST/MNIST search order and the
(fake, file://) download. Nothing here touches the network: every dataset is a few small IDX files written to
tmp_path, the download mirrors are monkeypatched to file:// URLs, and pooch's HTTP downloader to one that copies
them (pooch itself still streams, verifies and renames)."""

import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
import warnings

import numpy as np
import pytest

from numpynet import datasets
from numpynet.errors import DataError, SpecError

# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------


def make_dataset(directory, n_train=12, n_test=5, gz=True, seed=0, side=28):
    """Write a tiny MNIST-style dataset (random pixels, labels 0..9) and return its arrays."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, side, side), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=n_train).astype(np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, side, side), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=n_test).astype(np.uint8),
    }
    for role, base in datasets.IDX_FILES.items():
        datasets.write_idx(os.path.join(directory, base + (".gz" if gz else "")), arrays[role])
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No NUMPYNET_DATA, HOME in tmp_path, no Debian package, no network: only what a test writes is found."""
    monkeypatch.delenv("NUMPYNET_DATA", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(datasets, "DEBIAN_DATA_DIRS", {"fashion-mnist": (str(tmp_path / "debian-absent"),)})
    monkeypatch.setattr(datasets, "DPKG_INFO_DIR", str(tmp_path / "dpkg-absent"))
    dead = (tmp_path / "no-mirror").as_uri() + "/"
    monkeypatch.setattr(datasets, "MIRRORS", {"fashion-mnist": (dead,), "mnist": (dead,)})
    monkeypatch.setattr(datasets, "_downloader", lambda filename: copy_file_url)
    return tmp_path


def copy_file_url(url, output_file, pooch):
    """Stands in for pooch's HTTP downloader (same call): copies a file:// URL into ``output_file``."""
    with open(urllib.request.url2pathname(urllib.parse.urlparse(url).path), "rb") as src, \
            open(output_file, "wb") as out:
        out.write(src.read())


def digest_of(path, algorithm="sha256"):
    with open(path, "rb") as fh:
        return f"{algorithm}:" + hashlib.new(algorithm, fh.read()).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------------------------

IDX_CASES = [
    (np.uint8, (7,)),
    (np.uint8, (4, 28, 28)),
    (np.int8, (3, 5)),
    (np.int16, (2, 3, 4)),
    (np.int32, (6, 1, 2, 1)),
    (np.float32, (5, 3)),
    (np.float64, (2, 2, 2, 2, 2)),
]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype,shape", IDX_CASES)
def test_idx_round_trip(tmp_path, dtype, shape, gz):
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        a = rng.standard_normal(shape).astype(dtype)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    datasets.write_idx(path, a)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == gz
    b = datasets.read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == shape
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable


def test_idx_layout_is_big_endian_with_magic_header(tmp_path):
    path = tmp_path / "x.idx"
    datasets.write_idx(path, np.array([[1, 2, 3], [4, 5, 258]], dtype=np.int16))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0B, 2])
    assert raw[4:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3])
    assert raw[12:] == b"\x00\x01\x00\x02\x00\x03\x00\x04\x00\x05\x01\x02"


def test_idx_reads_file_objects_and_sniffs_gzip_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    buf = io.BytesIO()
    datasets.write_idx(buf, a)
    np.testing.assert_array_equal(datasets.read_idx(io.BytesIO(buf.getvalue())), a)
    np.testing.assert_array_equal(datasets.read_idx(io.BytesIO(gzip.compress(buf.getvalue()))), a)
    # gzipped content under a plain name, and plain content under a .gz name, both read fine
    (tmp_path / "plain-name").write_bytes(gzip.compress(buf.getvalue()))
    (tmp_path / "gz-name.gz").write_bytes(buf.getvalue())
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "plain-name"), a)
    np.testing.assert_array_equal(datasets.read_idx(str(tmp_path / "gz-name.gz")), a)


def _idx_bytes(a):
    buf = io.BytesIO()
    datasets.write_idx(buf, a)
    return buf.getvalue()


def test_idx_bad_magic():
    raw = bytearray(_idx_bytes(np.zeros(3, np.uint8)))
    raw[1] = 0x01
    with pytest.raises(DataError, match="bad magic number.*0x00 0x01 0x08 0x01"):
        datasets.read_idx(io.BytesIO(bytes(raw)))


def test_idx_unknown_dtype_code():
    raw = bytearray(_idx_bytes(np.zeros(3, np.uint8)))
    raw[2] = 0x0A
    with pytest.raises(DataError, match=r"unknown dtype code 0x0A.*0x08 \(uint8\)"):
        datasets.read_idx(io.BytesIO(bytes(raw)))


def test_idx_truncated_payload_says_expected_and_got(tmp_path):
    raw = _idx_bytes(np.zeros((4, 5), np.float32))
    path = tmp_path / "short.idx"
    path.write_bytes(raw[:-3])
    with pytest.raises(DataError, match=r"short\.idx.*truncated.*80 bytes, got 77 bytes"):
        datasets.read_idx(path)


def test_idx_extra_bytes_says_expected_and_got():
    raw = _idx_bytes(np.zeros((2, 3), np.int32)) + b"\x00\x00"
    with pytest.raises(DataError, match="extra bytes.*24 bytes, got 26 bytes"):
        datasets.read_idx(io.BytesIO(raw))


def test_idx_truncated_inside_gzip_payload():
    raw = gzip.compress(_idx_bytes(np.arange(100, dtype=np.uint8))[:-1])
    with pytest.raises(DataError, match="100 bytes, got 99"):
        datasets.read_idx(io.BytesIO(raw))


def test_idx_corrupt_gzip_stream():
    raw = gzip.compress(_idx_bytes(np.arange(1000, dtype=np.uint8)))
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        datasets.read_idx(io.BytesIO(raw[: len(raw) // 2]))


def test_idx_truncated_header_and_tiny_file():
    with pytest.raises(DataError, match="too short for a header"):
        datasets.read_idx(io.BytesIO(b"\x00\x00"))
    with pytest.raises(DataError, match="truncated in its header"):
        datasets.read_idx(io.BytesIO(bytes([0, 0, 8, 3, 0, 0, 0, 1])))


def test_idx_huge_declared_size_is_a_size_error_not_a_crash():
    raw = bytes([0, 0, 0x0E, 3]) + b"\xff\xff\xff\xff" * 3 + b"\x00" * 8
    with pytest.raises(DataError, match="got 8 bytes"):
        datasets.read_idx(io.BytesIO(raw))


def test_idx_text_mode_and_wrong_type():
    with pytest.raises(DataError, match="binary mode"):
        datasets.read_idx(io.StringIO("abc"))
    with pytest.raises(DataError, match="path or a binary file object"):
        datasets.read_idx(12)


def test_write_idx_refuses_unsupported_dtypes_and_ranks(tmp_path):
    with pytest.raises(DataError, match="cannot store dtype int64"):
        datasets.write_idx(tmp_path / "a", np.arange(3))
    with pytest.raises(DataError, match="cannot store dtype bool"):
        datasets.write_idx(tmp_path / "a", np.ones(3, bool))
    with pytest.raises(DataError, match="1 to 255 dimensions"):
        datasets.write_idx(tmp_path / "a", np.float32(1.0))


# --------------------------------------------------------------------------------------------------------------
# load_digits
# --------------------------------------------------------------------------------------------------------------


def test_load_digits_shapes_dtypes_ranges():
    (X, y), (Xt, yt) = datasets.load_digits()
    assert X.shape == (1347, 64) and Xt.shape == (450, 64)
    assert X.dtype == np.float32 and Xt.dtype == np.float32
    assert y.dtype == np.int64 and yt.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0 and Xt.max() <= 1.0
    assert set(np.unique(y)) == set(range(10))
    (X4, _), (Xt4, _) = datasets.load_digits(flatten=False, normalize=False, dtype="float64")
    assert X4.shape == (1347, 8, 8, 1) and Xt4.shape == (450, 8, 8, 1) and X4.dtype == np.float64
    assert X4.max() == 16.0
    # same split, same pixel order: NHWC images flatten to the rows, /16 exactly
    np.testing.assert_array_equal(X4.reshape(len(X4), -1) / 16.0, X.astype(np.float64))


def test_load_digits_is_stratified():
    (_, y), (_, yt) = datasets.load_digits(test_size=0.25, seed=3)
    total = np.bincount(np.concatenate([y, yt]), minlength=10)
    test_counts = np.bincount(yt, minlength=10)
    # each class keeps its share: within one sample of 25% of its count
    assert np.all(np.abs(test_counts - 0.25 * total) <= 1.0)


def test_load_digits_is_deterministic_and_seed_dependent():
    a = datasets.load_digits(seed=7)
    b = datasets.load_digits(seed=7)
    c = datasets.load_digits(seed=8)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    np.testing.assert_array_equal(a[1][1], b[1][1])
    assert not np.array_equal(a[0][1], c[0][1])


def test_load_digits_test_size_and_n_train():
    (X, y), (Xt, _) = datasets.load_digits(test_size=0.5, n_train=100)
    assert X.shape == (100, 64) and y.shape == (100,)
    assert len(Xt) in (898, 899)
    (X_all, y_all), _ = datasets.load_digits(test_size=0.5)
    np.testing.assert_array_equal(X, X_all[:100])
    (_, _), (Xt, _) = datasets.load_digits(test_size=200)
    assert len(Xt) == 200


@pytest.mark.parametrize("kwargs,match", [
    ({"test_size": 1.5}, "test_size"),
    ({"test_size": 0.0}, "test_size"),
    ({"test_size": 3}, "test_size"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"n_train": 0}, "n_train"),
    ({"flatten": "yes"}, "flatten"),
    ({"dtype": np.int32}, "dtype"),
])
def test_load_digits_bad_arguments(kwargs, match):
    with pytest.raises(SpecError, match=match):
        datasets.load_digits(**kwargs)


def test_load_digits_n_train_too_large():
    with pytest.raises(DataError, match="n_train=5000 but only 1347"):
        datasets.load_digits(n_train=5000)


# --------------------------------------------------------------------------------------------------------------
# Fashion-MNIST / MNIST: loading and search order
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_path_shapes_scaling_and_order(isolated, gz):
    arrays = make_dataset(isolated / "d", gz=gz)
    (X, y), (Xt, yt) = datasets.load_fashion_mnist(path=isolated / "d", download=False)
    assert X.shape == (12, 784) and Xt.shape == (5, 784) and X.dtype == np.float32
    assert y.dtype == np.int64 and yt.dtype == np.int64
    np.testing.assert_array_equal(y, arrays["train_labels"])
    np.testing.assert_array_equal(yt, arrays["test_labels"])
    np.testing.assert_allclose(X, arrays["train_images"].reshape(12, 784) / np.float32(255), rtol=0, atol=0)
    assert 0.0 <= X.min() and X.max() <= 1.0
    (X4, y4), (Xt4, _) = datasets.load_mnist(path=str(isolated / "d"), flatten=False, normalize=False,
                                             n_train=4, n_test=2, dtype=np.float64, download=False)
    assert X4.shape == (4, 28, 28, 1) and Xt4.shape == (2, 28, 28, 1) and X4.dtype == np.float64
    np.testing.assert_array_equal(X4[..., 0], arrays["train_images"][:4])
    np.testing.assert_array_equal(y4, arrays["train_labels"][:4])


def test_path_may_hold_a_name_subdirectory(isolated):
    arrays = make_dataset(isolated / "root" / "mnist")
    (_, y), _ = datasets.load_mnist(path=isolated / "root", download=False)
    np.testing.assert_array_equal(y, arrays["train_labels"])


def test_path_without_files_names_the_path_and_does_not_fall_back(isolated, monkeypatch):
    make_dataset(isolated / "env" / "fashion-mnist")  # a valid dataset elsewhere must NOT be used
    monkeypatch.setenv("NUMPYNET_DATA", str(isolated / "env"))
    empty = isolated / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=re.escape(f"path='{empty}'") + ".*train-images-idx3-ubyte"):
        datasets.load_fashion_mnist(path=empty)


def test_path_with_some_files_lists_the_missing_ones(isolated):
    make_dataset(isolated / "d")
    os.remove(isolated / "d" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError) as info:
        datasets.load_fashion_mnist(path=isolated / "d")
    assert "t10k-labels-idx1-ubyte" in str(info.value)
    assert "train-images" not in str(info.value)


def _train_labels(**kwargs):
    (_, y), _ = datasets.load_fashion_mnist(download=False, **kwargs)
    return y


def test_search_order_env_then_home_then_debian(isolated, monkeypatch):
    # three different datasets (different seeds) in the three places; labels tell which one was loaded
    env_set = make_dataset(isolated / "env" / "fashion-mnist", seed=1)
    home_set = make_dataset(isolated / "home" / ".numpynet" / "datasets" / "fashion-mnist", seed=2)
    deb_set = make_dataset(isolated / "debian", seed=3, gz=True)
    monkeypatch.setattr(datasets, "DEBIAN_DATA_DIRS", {"fashion-mnist": (str(isolated / "debian"),)})
    monkeypatch.setenv("NUMPYNET_DATA", str(isolated / "env"))
    np.testing.assert_array_equal(_train_labels(), env_set["train_labels"])
    monkeypatch.delenv("NUMPYNET_DATA")
    np.testing.assert_array_equal(_train_labels(), home_set["train_labels"])
    for f in os.listdir(isolated / "home" / ".numpynet" / "datasets" / "fashion-mnist"):
        os.remove(isolated / "home" / ".numpynet" / "datasets" / "fashion-mnist" / f)
    np.testing.assert_array_equal(_train_labels(), deb_set["train_labels"])
    # an explicit path beats everything
    path_set = make_dataset(isolated / "explicit", seed=4)
    np.testing.assert_array_equal(_train_labels(path=isolated / "explicit"), path_set["train_labels"])


def test_env_dir_with_incomplete_files_is_skipped(isolated, monkeypatch):
    make_dataset(isolated / "env" / "mnist", seed=1)
    os.remove(isolated / "env" / "mnist" / "train-images-idx3-ubyte.gz")
    home_set = make_dataset(isolated / "home" / ".numpynet" / "datasets" / "mnist", seed=2)
    monkeypatch.setenv("NUMPYNET_DATA", str(isolated / "env"))
    (_, y), _ = datasets.load_mnist(download=False)
    np.testing.assert_array_equal(y, home_set["train_labels"])


def test_debian_dir_found_through_dpkg_file_list(isolated, monkeypatch):
    moved = isolated / "usr" / "share" / "somewhere-else" / "fashion-mnist"
    deb_set = make_dataset(moved, seed=5)
    info = isolated / "dpkg-info"
    info.mkdir()
    (info / "dataset-fashion-mnist.list").write_text(
        "/.\n/usr\n" + "".join(f"{moved}/{base}.gz\n" for base in datasets.IDX_FILES.values())
        + "/usr/share/doc/dataset-fashion-mnist/copyright\n"
    )
    monkeypatch.setattr(datasets, "DPKG_INFO_DIR", str(info))
    assert str(moved) in datasets._debian_dirs("fashion-mnist")
    np.testing.assert_array_equal(_train_labels(), deb_set["train_labels"])


def test_mnist_never_looks_at_the_fashion_debian_package(isolated, monkeypatch):
    make_dataset(isolated / "debian", seed=3)
    monkeypatch.setattr(datasets, "DEBIAN_DATA_DIRS", {"fashion-mnist": (str(isolated / "debian"),)})
    with pytest.raises(DataError, match="MNIST not found"):
        datasets.load_mnist(download=False)


def test_offline_not_found_lists_places_and_remedies(isolated, monkeypatch):
    monkeypatch.setenv("NUMPYNET_DATA", str(isolated / "env"))
    with pytest.raises(DataError) as info:
        datasets.load_fashion_mnist()  # download=True, but the only mirror is a dead file:// URL
    msg = str(info.value)
    assert "Fashion-MNIST not found" in msg
    assert str(isolated / "env" / "fashion-mnist") in msg
    assert str(isolated / "home" / ".numpynet" / "datasets" / "fashion-mnist") in msg
    assert str(isolated / "debian-absent") in msg and "not installed" in msg
    assert "could not download train-images-idx3-ubyte.gz" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "NUMPYNET_DATA" in msg and "path=" in msg
    # nothing half-written was left in the cache
    assert os.listdir(isolated / "home" / ".numpynet" / "datasets" / "fashion-mnist") == []


def test_download_false_says_so(isolated):
    with pytest.raises(DataError, match=r"(?s)NUMPYNET_DATA is not set.*download=False"):
        datasets.load_mnist(download=False)


def test_images_labels_count_mismatch(isolated):
    make_dataset(isolated / "d")
    datasets.write_idx(isolated / "d" / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    with pytest.raises(DataError, match="12 images .* but 11 labels"):
        datasets.load_fashion_mnist(path=isolated / "d")


def test_wrong_file_content_is_reported(isolated):
    make_dataset(isolated / "d")
    datasets.write_idx(isolated / "d" / "t10k-labels-idx1-ubyte.gz", np.zeros((5, 2), np.uint8))
    with pytest.raises(DataError, match=r"labels of shape \(N,\)"):
        datasets.load_fashion_mnist(path=isolated / "d")
    datasets.write_idx(isolated / "d" / "t10k-labels-idx1-ubyte.gz", np.full(5, 10, np.uint8))
    with pytest.raises(DataError, match="must be 0..9, found 10"):
        datasets.load_fashion_mnist(path=isolated / "d")


def test_n_train_n_test_validation(isolated):
    make_dataset(isolated / "d")
    with pytest.raises(DataError, match="n_test=6 but only 5"):
        datasets.load_mnist(path=isolated / "d", n_test=6)
    with pytest.raises(SpecError, match="n_train"):
        datasets.load_mnist(path=isolated / "d", n_train=0)
    with pytest.raises(SpecError, match="download"):
        datasets.load_mnist(path=isolated / "d", download="no")


# --------------------------------------------------------------------------------------------------------------
# downloading (file:// mirrors; never the network)
# --------------------------------------------------------------------------------------------------------------


def _mirror(isolated, seed=9):
    """A directory of .gz files served as a file:// mirror, and the arrays in it."""
    arrays = make_dataset(isolated / "mirror", seed=seed)
    return (isolated / "mirror").as_uri() + "/", arrays


def _cache(isolated, name="fashion-mnist"):
    return isolated / "home" / ".numpynet" / "datasets" / name


def test_download_with_matching_checksums(isolated, monkeypatch):
    url, arrays = _mirror(isolated)
    sums = {base + ".gz": digest_of(isolated / "mirror" / (base + ".gz"), alg)
            for base, alg in zip(datasets.IDX_FILES.values(), ("sha256", "md5", "sha256", "md5"))}
    dead = (isolated / "dead").as_uri() + "/"
    monkeypatch.setattr(datasets, "MIRRORS", {"fashion-mnist": (dead, url)})  # first mirror fails, second works
    monkeypatch.setattr(datasets, "CHECKSUMS", {"fashion-mnist": sums})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every file has a digest: no "unverified" warning
        (X, y), (Xt, yt) = datasets.load_fashion_mnist()
    np.testing.assert_array_equal(y, arrays["train_labels"])
    np.testing.assert_array_equal(Xt.reshape(-1, 28, 28) * 255, arrays["test_images"])
    cached = sorted(os.listdir(_cache(isolated)))
    assert cached == sorted(base + ".gz" for base in datasets.IDX_FILES.values())
    for name in cached:
        assert (_cache(isolated) / name).read_bytes() == (isolated / "mirror" / name).read_bytes()
        assert os.stat(_cache(isolated) / name).st_mode & 0o777 == 0o644
    # second call: served from the cache, the mirror is not needed any more
    monkeypatch.setattr(datasets, "MIRRORS", {"fashion-mnist": (dead,)})
    (_, y2), _ = datasets.load_fashion_mnist()
    np.testing.assert_array_equal(y2, y)


def test_download_checksum_mismatch_leaves_nothing(isolated, monkeypatch):
    url, _ = _mirror(isolated)
    monkeypatch.setattr(datasets, "MIRRORS", {"fashion-mnist": (url,)})
    # the real published MD5s cannot match our random files
    with pytest.raises(DataError) as info:
        datasets.load_fashion_mnist()
    msg = str(info.value)
    assert "checksum mismatch for train-images-idx3-ubyte.gz" in msg
    assert "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in msg
    assert os.listdir(_cache(isolated)) == []  # no final file, no .part file


def test_download_unknown_checksum_warns_and_proceeds(isolated, monkeypatch):
    url, arrays = _mirror(isolated)
    monkeypatch.setattr(datasets, "MIRRORS", {"mnist": (url,)})
    monkeypatch.setattr(datasets, "CHECKSUMS", {})
    with pytest.warns(UserWarning, match="no published checksum known"):
        (_, y), _ = datasets.load_mnist()
    np.testing.assert_array_equal(y, arrays["train_labels"])
    assert len(os.listdir(_cache(isolated, "mnist"))) == 4


def test_download_fetches_only_missing_files(isolated, monkeypatch):
    url, arrays = _mirror(isolated)
    cache = _cache(isolated, "mnist")
    # the cache already has a *plain* train-images file with different content: it must be kept, not replaced
    mine = np.zeros((12, 28, 28), np.uint8)
    os.makedirs(cache)
    datasets.write_idx(cache / "train-images-idx3-ubyte", mine)
    monkeypatch.setattr(datasets, "MIRRORS", {"mnist": (url,)})
    monkeypatch.setattr(datasets, "CHECKSUMS", {"mnist": {
        base + ".gz": digest_of(isolated / "mirror" / (base + ".gz")) for base in datasets.IDX_FILES.values()}})
    (X, y), _ = datasets.load_mnist()
    assert X.max() == 0.0
    np.testing.assert_array_equal(y, arrays["train_labels"])
    assert not (cache / "train-images-idx3-ubyte.gz").exists()


def test_fetch_is_atomic_on_interruption(isolated, monkeypatch):
    url, _ = _mirror(isolated)
    target = isolated / "target"
    target.mkdir()

    def interrupted(url, output_file, pooch):
        with open(output_file, "wb") as out:
            out.write(b"\x1f\x8b partial")
        raise KeyboardInterrupt  # interrupted mid-download

    monkeypatch.setattr(datasets, "_downloader", lambda filename: interrupted)
    with pytest.raises(KeyboardInterrupt):
        datasets._fetch(url + "train-labels-idx1-ubyte.gz", str(target), "train-labels-idx1-ubyte.gz",
                        digest_of(isolated / "mirror" / "train-labels-idx1-ubyte.gz"))
    assert os.listdir(target) == []


def test_downloads_use_pooch_imported_only_to_download(monkeypatch):
    code = ("import sys, numpynet as nn; nn.datasets.load_digits(); from numpynet import experiments, cli; "
            "print('pooch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    import pooch
    downloader = datasets._downloader("train-images-idx3-ubyte.gz")
    assert isinstance(downloader, pooch.HTTPDownloader)
    assert downloader.kwargs["timeout"] == datasets.DOWNLOAD_TIMEOUT
    drawn = []

    class Bar:
        def update(self, value):
            drawn.append(value)

        def finish(self):
            drawn.append("done")

    monkeypatch.setattr(datasets, "_progress_bar", lambda label, total: drawn.append((label, total)) or Bar())
    bar = downloader.progressbar            # driven the way pooch drives it: total, update(chunk)..., reset, close
    bar.total = 2500
    for _ in range(3):
        bar.update(1024)
    bar.reset()
    bar.update(2500)
    bar.close()
    assert drawn == [("train-images-idx3-ubyte.gz", 2500), 1024, 2048, 2500, 2500, "done"]


def test_find_dataset_unknown_name():
    with pytest.raises(SpecError, match="unknown dataset 'cifar'"):
        datasets.find_dataset("cifar")


# --------------------------------------------------------------------------------------------------------------
# the real Fashion-MNIST, when the Debian package is installed (both branches assert; neither is skipped)
# --------------------------------------------------------------------------------------------------------------


def test_real_fashion_mnist_from_debian_package_or_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMPYNET_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # only the Debian package can supply the data
    if datasets._debian_dirs("fashion-mnist") and any(
            not datasets._find_files(d)[1] for d in datasets._debian_dirs("fashion-mnist")):
        (X, y), (Xt, yt) = datasets.load_fashion_mnist(n_train=2000, download=False)
        assert X.shape == (2000, 784) and Xt.shape == (10000, 784) and X.dtype == np.float32
        assert 0.0 == X.min() and X.max() == 1.0
        np.testing.assert_array_equal(np.bincount(yt), np.full(10, 1000))
        np.testing.assert_array_equal(y[:10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])  # the dataset's well-known head
    else:
        with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
            datasets.load_fashion_mnist(download=False)
