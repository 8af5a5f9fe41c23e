"""Datasets: scikit-learn's 8x8 digits (offline, the default everywhere), Fashion-MNIST and MNIST.

Every loader returns ``(X_train, y_train), (X_test, y_test)`` with ``X`` in the requested float dtype and ``y`` as
int64 class labels.

* :func:`load_digits` -- the 1,797 8x8 digit images bundled with scikit-learn; needs no file and no network.
* :func:`load_fashion_mnist` / :func:`load_mnist` -- 60,000 + 10,000 28x28 grey images stored as four IDX files.
  They are looked for, in this order, in

  1. the ``path=`` argument (if given, nothing else is tried);
  2. ``$NUMPYNET_DATA/<name>/``;
  3. ``~/.numpynet/datasets/<name>/`` (the download cache);
  4. the data directory of the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``;
     Fashion-MNIST only, MNIST has no Debian package);
  5. a download of the four official ``.gz`` files into the cache of step 3 with `pooch <https://www.fatiando.org/pooch>`_
     (imported only then; each file's published checksum verified before it gets its final name).

  ``<name>`` is ``fashion-mnist`` or ``mnist``. Gzipped (``train-images-idx3-ubyte.gz``) and plain
  (``train-images-idx3-ubyte``) file names are both accepted.

The files are read by :func:`read_idx` (:mod:`numpynet.lab.idx`: the IDX format, header first, bounded), and each
header is checked against the dataset before its payload is read.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

from ..core.config import as_float_dtype
from ..core.errors import DataError, SpecError
from ..core.spec import check_bool, check_int, check_number
from .idx import IDX_DTYPES, MAX_IDX_BYTES, _describe_source, _read_idx, read_idx, write_idx

__all__ = [
    "load_digits", "load_fashion_mnist", "load_mnist", "read_idx", "write_idx", "find_dataset",
    "FASHION_MNIST_CLASSES", "MNIST_CLASSES", "IDX_DTYPES", "MAX_IDX_BYTES",
]

# --------------------------------------------------------------------------------------------------------------
# load_digits
# --------------------------------------------------------------------------------------------------------------


def _take_first(owner, arg, n, X, y):
    """The first ``n`` samples (all when n is None); asking for more than exist is a DataError."""
    n = check_int(owner, arg, n, minimum=1, allow_none=True)
    if n is None:
        return X, y
    if n > len(X):
        raise DataError(f"{owner}: {arg}={n} but only {len(X)} samples are available")
    return X[:n], y[:n]


def _to_float(X, dtype, scale):
    """Convert to ``dtype`` and divide by ``scale`` (None: no scaling) in that dtype, so float32 stays float32."""
    X = X.astype(dtype)
    if scale is not None:
        X /= dtype(scale)
    return X


def load_digits(test_size=0.25, seed=0, flatten=True, normalize=True, n_train=None, dtype=np.float32):
    """scikit-learn's bundled 8x8 handwritten digits, split into stratified train and test sets.

    Parameters
    ----------
    test_size : float in (0, 1) or int
        Fraction (or number) of the 1,797 images held out for testing.
    seed : int
        Seed of the shuffle before the split; the same seed gives the same split.
    flatten : bool
        ``True``: images as rows of 64 pixels, shape ``(N, 64)``; ``False``: NHWC images, shape ``(N, 8, 8, 1)``.
    normalize : bool
        Divide the pixel values (0..16) by 16 so they lie in [0, 1].
    n_train : int or None
        Keep only the first ``n_train`` training samples (after the shuffled split).
    dtype : float32 or float64
        dtype of the images.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        ``y`` are int64 labels 0..9. Every class has the same share in both sets (up to rounding).
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    owner = "load_digits"
    dtype = as_float_dtype(dtype)
    seed = check_int(owner, "seed", seed, minimum=0)
    flatten = check_bool(owner, "flatten", flatten)
    normalize = check_bool(owner, "normalize", normalize)
    bunch = _sk_load_digits()
    X, y = bunch.images, bunch.target.astype(np.int64)
    n_classes = len(np.unique(y))
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        # A stratified split needs at least one sample of every class on each side.
        test_size = check_int(owner, "test_size", test_size, minimum=n_classes, maximum=len(X) - n_classes)
    else:
        test_size = check_number(owner, "test_size", test_size, minimum=0.0, maximum=1.0, strict=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    X_train, y_train = _take_first(owner, "n_train", n_train, X_train, y_train)
    scale = 16.0 if normalize else None
    X_train, X_test = _to_float(X_train, dtype, scale), _to_float(X_test, dtype, scale)
    shape = (-1, 64) if flatten else (-1, 8, 8, 1)
    return (X_train.reshape(shape), y_train), (X_test.reshape(shape), y_test)


# --------------------------------------------------------------------------------------------------------------
# Fashion-MNIST / MNIST: where to look
# --------------------------------------------------------------------------------------------------------------

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(str(i) for i in range(10))

#: The four files of an MNIST-style dataset, by role (base names; ``.gz`` optional).
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: Most samples a split of MNIST / Fashion-MNIST holds (the official counts), and their image size: an IDX header
#: declaring more is refused before its payload is read.
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
IMAGE_SIDE = (28, 28)

#: Human-readable title of each dataset name.
TITLES = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}

#: Download locations, tried in order. Fashion-MNIST: the official GitHub repository and Zalando's S3 site
#: (both listed in the dataset's README); MNIST: the mirrors torchvision uses (LeCun's site is often offline).
MIRRORS = {
    "fashion-mnist": (
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
}

#: Published checksums of the official ``.gz`` files ("algorithm:hexdigest"). The MD5 sums are the ones the
#: datasets publish (Fashion-MNIST README, torchvision). A file missing here is downloaded unverified, with a warning.
CHECKSUMS = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
    },
}

#: Debian packages that ship a dataset, and where `dpkg -L` shows their files.
DEBIAN_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist"}
DEBIAN_DATA_DIRS = {"fashion-mnist": ("/usr/share/datasets/fashion-mnist",)}
#: dpkg's per-package file lists (``<package>.list``), read to find the data directory if a future package moves it.
DPKG_INFO_DIR = "/var/lib/dpkg/info"

#: Environment variable naming a directory that holds ``<name>/`` sub-directories.
ENV_VAR = "NUMPYNET_DATA"
DOWNLOAD_TIMEOUT = 60.0


def cache_dir(name):
    """``~/.numpynet/datasets/<name>``: where downloads go (``~`` from ``$HOME``)."""
    return os.path.join(os.path.expanduser("~"), ".numpynet", "datasets", name)


def _find_files(directory):
    """Map role -> existing file in ``directory`` (plain name preferred over .gz) and the list of missing names."""
    found, missing = {}, []
    for role, base in IDX_FILES.items():
        for candidate in (base, base + ".gz"):
            full = os.path.join(directory, candidate)
            if os.path.isfile(full):
                found[role] = full
                break
        else:
            missing.append(base + "[.gz]")
    return found, missing


def _debian_dirs(name):
    """Candidate data directories of the Debian package: the known one plus those in dpkg's file list."""
    package = DEBIAN_PACKAGES.get(name)
    if package is None:
        return []
    dirs = list(DEBIAN_DATA_DIRS.get(name, ()))
    wanted = {IDX_FILES["train_images"], IDX_FILES["train_images"] + ".gz"}
    for list_name in (f"{package}.list", f"{package}:all.list"):
        with contextlib.suppress(OSError), open(os.path.join(DPKG_INFO_DIR, list_name), encoding="utf-8") as fh:
            for line in fh:
                entry = line.strip()
                if os.path.basename(entry) in wanted and os.path.dirname(entry) not in dirs:
                    dirs.append(os.path.dirname(entry))
    return dirs


def _candidates(name):
    """(label, directory or None, reason when unusable) for the places searched after ``path=``, in order."""
    places = []
    env = os.environ.get(ENV_VAR)
    if env:
        places.append((f"${ENV_VAR}/{name}", os.path.join(env, name), None))
    else:
        places.append((f"${ENV_VAR}/{name}", None, f"{ENV_VAR} is not set"))
    places.append(("download cache", cache_dir(name), None))
    package = DEBIAN_PACKAGES.get(name)
    for directory in _debian_dirs(name):
        places.append((f"Debian package {package}", directory, None))
    return places


def _search(name, path):
    """The first directory holding all four files, and the log of places looked at (for the error message)."""
    if path is not None:
        root = os.fspath(path)
        # `path` may be the directory with the files or one holding a `<name>/` sub-directory.
        for directory in (root, os.path.join(root, name)):
            found, _ = _find_files(directory)
            if len(found) == len(IDX_FILES):
                return found, []
        _, missing = _find_files(root)
        raise DataError(
            f"{TITLES[name]} files not found at path={root!r} (nor in {os.path.join(root, name)!r}): missing "
            f"{', '.join(missing)}. Put the four IDX files there, or leave path=None to search the default places."
        )
    looked = []
    for label, directory, reason in _candidates(name):
        if directory is None:
            looked.append(f"{label}: {reason}")
            continue
        if not os.path.isdir(directory):
            gone = "not installed" if label.startswith("Debian") else "no such directory"
            looked.append(f"{directory} ({label}): {gone}")
            continue
        found, missing = _find_files(directory)
        if not missing:
            return found, looked
        looked.append(f"{directory} ({label}): missing {', '.join(missing)}")
    return None, looked


def find_dataset(name, path=None, download=True):
    """Paths of the four IDX files of ``name`` ("fashion-mnist" or "mnist"), downloading them if needed.

    Returns a dict role -> file path with roles ``train_images``, ``train_labels``, ``test_images``,
    ``test_labels``. Raises :class:`DataError` listing every place looked at when the files cannot be found.
    """
    if name not in TITLES:
        raise SpecError(f"find_dataset: unknown dataset {name!r}; known: {', '.join(sorted(TITLES))}")
    found, looked = _search(name, path)
    if found is not None:
        return found
    if download:
        target = cache_dir(name)
        try:
            _download_missing(name, target)
        except DataError as exc:
            looked.append(f"download into {target}: {exc}")
        else:
            found, missing = _find_files(target)
            if not missing:
                return found
            looked.append(f"download into {target}: still missing {', '.join(missing)}")
    else:
        looked.append("download: skipped (download=False)")
    raise DataError(_not_found_message(name, looked, download))


def _not_found_message(name, looked, download=True):
    files = ", ".join(base + ".gz" for base in IDX_FILES.values())
    lines = [f"{TITLES[name]} not found. Looked at:"]
    lines += [f"  - {entry}" for entry in looked]
    lines.append("Fill one of these places:")
    if name in DEBIAN_PACKAGES:
        lines.append(f"  - sudo apt-get install {DEBIAN_PACKAGES[name]}   (Debian/Ubuntu; offline after that)")
    lines += [
        f"  - copy the four IDX files ({files}; gzipped or not) into a directory D and pass path=D,",
        f"    or into $NUMPYNET_DATA/{name}/ with {ENV_VAR} set, or into {cache_dir(name)}/",
    ]
    loader = "load_fashion_mnist" if name == "fashion-mnist" else "load_mnist"
    if download:   # a download was tried and failed
        lines.append(f"  - or try again with network access (from {MIRRORS[name][0]})")
    else:          # download=False, which is what the numpynet command (and --data auto) always passes
        lines.append(f"  - or fetch them once with network access: python -c \"import numpynet; "
                     f"numpynet.datasets.{loader}()\" (the numpynet command never downloads; --data digits needs "
                     f"no files)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Downloading (pooch)
# --------------------------------------------------------------------------------------------------------------


def _progress_bar(label, total):
    import progressbar

    from ..core.progress import CurrentStderr
    max_value = int(total) if total else progressbar.UnknownLength
    return progressbar.DataTransferBar(max_value=max_value, prefix=f"{label} ", fd=CurrentStderr())


class _PoochBar:
    """The progress-bar protocol pooch drives (``total`` set, then ``update(n)`` ..., ``reset()``, ``close()``),
    drawn by a progressbar2 bar on stderr once the size is known."""

    def __init__(self, label):
        self.label, self.total, self.done, self._bar = label, 0, 0, None

    def update(self, n):
        if self._bar is None:
            self._bar = _progress_bar(self.label, self.total)
        self.done += n
        self._bar.update(min(self.done, self.total) if self.total else self.done)

    def reset(self):
        self.done = 0

    def close(self):
        if self._bar is not None:
            self._bar.finish()


def _downloader(filename):
    """pooch's HTTP(S) downloader, with a progress bar for ``filename`` and :data:`DOWNLOAD_TIMEOUT`. (The tests
    replace this function with one that serves ``file://`` mirrors: they never touch the network.)"""
    import pooch
    return pooch.HTTPDownloader(progressbar=_PoochBar(filename), timeout=DOWNLOAD_TIMEOUT)


def _fetch(url, directory, filename, digest):
    """Download ``url`` to ``directory/filename`` with :func:`pooch.retrieve`, which streams into a temporary file,
    checks ``digest`` ("algorithm:hexdigest"; None: unverified) and only then renames it, so an interrupted or
    corrupt download never leaves a file under the final name that a later run would trust."""
    import pooch
    if not digest:
        warnings.warn(f"no published checksum known for {filename}; downloading it unverified", stacklevel=2)
    path = pooch.retrieve(url, known_hash=digest or None, fname=filename, path=directory,
                          downloader=_downloader(filename))
    os.chmod(path, 0o644)   # pooch's temporary file is 0600; a cache is as readable as any downloaded file
    return path


def _download_missing(name, directory):
    """Download every file of ``name`` that ``directory`` lacks, trying each mirror in turn."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache directory {directory}: {exc}") from exc
    _, missing = _find_files(directory)
    for base in (base for base in IDX_FILES.values() if base + "[.gz]" in missing):
        filename = base + ".gz"
        errors = []
        for mirror in MIRRORS[name]:
            url = mirror + filename
            try:
                _fetch(url, directory, filename, CHECKSUMS.get(name, {}).get(filename))
                break
            except OSError as exc:   # requests' errors (connection, HTTP status, timeout) are OSErrors too
                errors.append(f"{url}: {exc}")
            except ValueError as exc:   # pooch: the digest differs (the temporary file is already deleted)
                errors.append(f"checksum mismatch for {filename} from {url}: {exc}")
        else:
            raise DataError(f"could not download {filename}: " + "; ".join(errors))


# --------------------------------------------------------------------------------------------------------------
# Fashion-MNIST / MNIST: loading
# --------------------------------------------------------------------------------------------------------------


def _read_split(name, images_path, labels_path, split="train"):
    """Images and labels of one split. Each header is checked against the dataset (uint8, 28x28, at most the
    official number of samples, as many labels as images) before its payload is read or decompressed."""
    title, most = TITLES[name], SPLIT_SIZES[split]

    def check_images(dtype, shape):
        if len(shape) != 3 or dtype.itemsize != 1 or dtype.kind != "u":
            raise DataError(f"{title}: {images_path} should hold uint8 images of shape (N, rows, cols), "
                            f"got {dtype.newbyteorder('=').name} {shape}")
        if shape[1:] != IMAGE_SIDE or shape[0] > most:
            raise DataError(f"{title}: {images_path} declares images of shape {shape}; the {split} split holds at "
                            f"most {most} images of {IMAGE_SIDE[0]}x{IMAGE_SIDE[1]} pixels")

    images = _read_idx(images_path, _describe_source(images_path), MAX_IDX_BYTES, check_images)

    def check_labels(dtype, shape):
        if len(shape) != 1 or dtype.itemsize != 1 or dtype.kind != "u":
            raise DataError(f"{title}: {labels_path} should hold uint8 labels of shape (N,), "
                            f"got {dtype.newbyteorder('=').name} {shape}")
        if shape[0] != len(images):
            raise DataError(f"{title}: {len(images)} images in {images_path} but {shape[0]} labels in "
                            f"{labels_path}; the counts must match")

    labels = _read_idx(labels_path, _describe_source(labels_path), MAX_IDX_BYTES, check_labels)
    if labels.size and labels.max() > 9:
        raise DataError(f"{TITLES[name]}: labels in {labels_path} must be 0..9, found {int(labels.max())}")
    return images, labels.astype(np.int64)


def _load_idx_dataset(name, path, flatten, normalize, n_train, n_test, dtype, download):
    owner = f"load_{name.replace('-', '_')}"
    dtype = as_float_dtype(dtype)
    flatten = check_bool(owner, "flatten", flatten)
    normalize = check_bool(owner, "normalize", normalize)
    download = check_bool(owner, "download", download)
    # Validate the counts before any I/O, so a typo does not cost a download.
    check_int(owner, "n_train", n_train, minimum=1, allow_none=True)
    check_int(owner, "n_test", n_test, minimum=1, allow_none=True)
    files = find_dataset(name, path=path, download=download)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = _read_split(name, files[f"{split}_images"], files[f"{split}_labels"], split)
        # Slice before converting: the float copy of 60,000 images is 4-8x the uint8 one.
        images, labels = _take_first(owner, f"n_{split}", n, images, labels)
        X = _to_float(images, dtype, 255.0 if normalize else None)
        X = X.reshape(len(X), -1) if flatten else X[..., np.newaxis]
        out.append((X, labels))
    return tuple(out)


def load_fashion_mnist(path=None, flatten=True, normalize=True, n_train=None, n_test=None, dtype=np.float32,
                       download=True):
    """Zalando's Fashion-MNIST: 60,000 train + 10,000 test 28x28 grey images of 10 clothing classes.

    Parameters
    ----------
    path : str or os.PathLike or None
        Directory holding the four IDX files (or a ``fashion-mnist/`` sub-directory with them). When given, no
        other place is tried: missing files raise :class:`DataError` naming this path. When None, the places in
        the module docstring are searched in order.
    flatten : bool
        ``True``: shape ``(N, 784)``; ``False``: NHWC ``(N, 28, 28, 1)``.
    normalize : bool
        Divide the pixel values (0..255) by 255 so they lie in [0, 1].
    n_train, n_test : int or None
        Keep only the first ``n`` images of each split (the files' order).
    dtype : float32 or float64
    download : bool
        Whether to download the files into ``~/.numpynet/datasets/fashion-mnist/`` when no place has them.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        ``y`` int64 labels 0..9, names in :data:`FASHION_MNIST_CLASSES`.
    """
    return _load_idx_dataset("fashion-mnist", path, flatten, normalize, n_train, n_test, dtype, download)


def load_mnist(path=None, flatten=True, normalize=True, n_train=None, n_test=None, dtype=np.float32,
               download=True):
    """LeCun's MNIST handwritten digits: 60,000 train + 10,000 test 28x28 grey images.

    Same arguments and search order as :func:`load_fashion_mnist`, with ``<name>`` = ``mnist`` (there is no
    Debian package, so that step is skipped).
    """
    return _load_idx_dataset("mnist", path, flatten, normalize, n_train, n_test, dtype, download)
