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
  5. a download of the four official ``.gz`` files into the cache of step 3 (checksums verified).

  ``<name>`` is ``fashion-mnist`` or ``mnist``. Gzipped (``train-images-idx3-ubyte.gz``) and plain
  (``train-images-idx3-ubyte``) file names are both accepted.

The IDX format (LeCun's MNIST format) is read by :func:`read_idx` with NumPy alone. A file is::

    byte 0-1   0x00 0x00                      magic, part 1
    byte 2     dtype code                     0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte 3     ndim                           number of dimensions, >= 1
    ndim x 4   big-endian uint32 sizes        d_1 ... d_ndim
    payload    d_1 * ... * d_ndim big-endian items, row-major (C order), and nothing after them
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import tempfile
import urllib.request
import warnings
import zlib

import numpy as np

from ..core.config import as_float_dtype
from ..core.errors import DataError, SpecError
from ..core.spec import check_bool, check_int, check_number

__all__ = [
    "load_digits", "load_fashion_mnist", "load_mnist", "read_idx", "write_idx", "find_dataset",
    "FASHION_MNIST_CLASSES", "MNIST_CLASSES",
]

# --------------------------------------------------------------------------------------------------------------
# IDX reader / writer
# --------------------------------------------------------------------------------------------------------------

#: IDX dtype code -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _describe_source(source):
    if isinstance(source, (str, bytes, os.PathLike)):
        return repr(os.fsdecode(source))
    name = getattr(source, "name", None)
    return repr(name) if isinstance(name, str) else "<file object>"


#: Largest payload :func:`read_idx` accepts unless told otherwise (bytes). MNIST's training images are 47 MB; the
#: bound keeps a small corrupt or hostile file (a gzip bomb, a header declaring huge sizes) from allocating more.
MAX_IDX_BYTES = 1 << 30
#: Extra bytes after the payload counted for the error message (the rest is not read).
_TRAILING_SHOWN = 1 << 16


class _Prefixed:
    """A binary stream whose first bytes were already read (to sniff the gzip magic): those first, then the rest."""

    def __init__(self, prefix, raw):
        self._prefix, self._raw = prefix, raw

    def read(self, n=-1):
        if n is None or n < 0:
            out, self._prefix = self._prefix + self._raw.read(), b""
            return out
        head, self._prefix = self._prefix[:n], self._prefix[n:]
        if len(head) < n:
            rest = self._raw.read(n - len(head))
            if not isinstance(rest, (bytes, bytearray, memoryview)):
                raise TypeError(type(rest).__name__)
            head += bytes(rest)
        return head


def _remaining_size(fh):
    """Bytes left in a seekable plain stream, else None (gzip or pipes: unknown without reading)."""
    try:
        pos = fh.tell()
        end = fh.seek(0, os.SEEK_END)
        fh.seek(pos)
        return end - pos
    except (AttributeError, OSError, ValueError):
        return None


@contextlib.contextmanager
def _idx_stream(source, label):
    """(binary stream at the IDX header, compressed?, bytes left or None) for a path or file object, gunzipping lazily
    when the content starts with the gzip magic (the name is not trusted: people gunzip and keep it)."""
    if isinstance(source, (str, bytes, os.PathLike)):
        try:
            fh = open(source, "rb")
        except OSError as exc:
            raise DataError(f"cannot read IDX file {label}: {exc}") from exc
    elif hasattr(source, "read"):
        fh = None
    else:
        raise DataError(f"read_idx expects a path or a binary file object, got {type(source).__name__}")
    raw = fh if fh is not None else source
    try:
        magic = raw.read(2)
        if not isinstance(magic, (bytes, bytearray, memoryview)):
            raise DataError(f"IDX file {label} must be opened in binary mode ('rb'), got {type(magic).__name__} data")
        magic = bytes(magic)
        if magic == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=_Prefixed(magic, raw), mode="rb") as gz:
                yield gz, True, None
        else:
            left = _remaining_size(raw)
            yield _Prefixed(magic, raw), False, None if left is None else left + len(magic)
    finally:
        if fh is not None:
            fh.close()


def _read_upto(fh, n, label, compressed):
    """Up to ``n`` bytes (fewer only at the end of the stream); gzip damage becomes a DataError."""
    chunks, got = [], 0
    try:
        while got < n:
            chunk = fh.read(min(n - got, _CHUNK_READ))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        if compressed:
            raise DataError(f"IDX file {label} is a corrupt or truncated gzip stream: {exc}") from exc
        raise DataError(f"cannot read IDX file {label}: {exc}") from exc
    return b"".join(chunks)


def _fill(fh, buffer, label, compressed):
    """Read exactly ``len(buffer)`` bytes into ``buffer`` (a writable byte view); returns how many came."""
    got, n = 0, len(buffer)
    try:
        while got < n:
            chunk = fh.read(min(n - got, _CHUNK_READ))
            if not chunk:
                break
            buffer[got:got + len(chunk)] = chunk
            got += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        if compressed:
            raise DataError(f"IDX file {label} is a corrupt or truncated gzip stream: {exc}") from exc
        raise DataError(f"cannot read IDX file {label}: {exc}") from exc
    return got


_CHUNK_READ = 1 << 20


def read_idx(path_or_fileobj, max_bytes=MAX_IDX_BYTES):
    """Read one IDX file (plain or gzipped) into a NumPy array of native byte order.

    Parameters
    ----------
    path_or_fileobj : str, os.PathLike or binary file object
        The file. Gzip compression is detected from the content (bytes ``1f 8b``), not the name.
    max_bytes : int
        The largest payload accepted (default :data:`MAX_IDX_BYTES`, 1 GiB).

    Returns
    -------
    numpy.ndarray
        Shape ``(d_1, ..., d_ndim)`` from the header; dtype uint8, int8, int16, int32, float32 or float64.

    Raises
    ------
    DataError
        Bad magic number, unknown dtype code, a header shorter than its dimensions, a declared payload larger than
        ``max_bytes``, or a payload whose size is not exactly ``prod(d) * itemsize`` bytes (truncated or trailing
        bytes); the message says expected vs got.

    The header is read and checked first; a gzip stream is then decompressed only up to the declared size (plus one
    byte to detect trailing data), so a small file that declares or inflates to gigabytes is refused without
    allocating them.
    """
    max_bytes = check_int("read_idx", "max_bytes", max_bytes, minimum=0)
    return _read_idx(path_or_fileobj, _describe_source(path_or_fileobj), max_bytes)


def _read_idx(source, label, max_bytes, check=None):
    """read_idx with ``check(dtype, shape)``, called after the header and before the payload is read."""
    with _idx_stream(source, label) as (fh, compressed, available):
        head = _read_upto(fh, 4, label, compressed)
        if len(head) < 4:
            raise DataError(
                f"IDX file {label} is too short for a header: expected at least 4 bytes, got {len(head)}")
        zero0, zero1, code, ndim = head
        if zero0 != 0 or zero1 != 0:
            raise DataError(
                f"IDX file {label} has a bad magic number: expected 0x00 0x00 <dtype code> <ndim>, "
                f"got 0x{zero0:02X} 0x{zero1:02X} 0x{code:02X} 0x{ndim:02X}"
            )
        if code not in IDX_DTYPES:
            known = ", ".join(f"0x{c:02X} ({dt.newbyteorder('=').name})" for c, dt in IDX_DTYPES.items())
            raise DataError(f"IDX file {label} has an unknown dtype code 0x{code:02X}; known codes: {known}")
        if ndim < 1:
            raise DataError(f"IDX file {label} declares 0 dimensions; expected ndim >= 1")
        header = 4 + 4 * ndim
        dims = _read_upto(fh, 4 * ndim, label, compressed)
        if len(dims) < 4 * ndim:
            raise DataError(f"IDX file {label} is truncated in its header: {ndim} dimensions need {header} bytes, "
                            f"got {4 + len(dims)}")
        shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
        dtype = IDX_DTYPES[code]
        # Python ints: a corrupt header can declare sizes whose product overflows int64.
        expected = math.prod(shape) * dtype.itemsize
        name = dtype.newbyteorder("=").name
        if available is not None and available - header != expected:
            got = available - header
            what = "truncated" if got < expected else "has extra bytes"
            raise DataError(f"IDX file {label} {what}: shape {shape} of {name} needs a payload of {expected} bytes, "
                            f"got {got} bytes")
        if expected > max_bytes:
            raise DataError(f"IDX file {label} declares shape {shape} of {name}, a payload of {expected} bytes; at "
                            f"most {max_bytes} bytes are read (max_bytes)")
        if check is not None:
            check(dtype, shape)
        data = np.empty(shape, dtype=dtype)
        got = _fill(fh, memoryview(data.reshape(-1).view(np.uint8)), label, compressed)
        if got < expected:
            raise DataError(f"IDX file {label} truncated: shape {shape} of {name} needs a payload of {expected} "
                            f"bytes, got {got} bytes")
        extra = _read_upto(fh, _TRAILING_SHOWN, label, compressed)
        if extra:
            shown = f"{expected + len(extra)}" if len(extra) < _TRAILING_SHOWN else f"more than {expected + len(extra)}"
            raise DataError(f"IDX file {label} has extra bytes: shape {shape} of {name} needs a payload of "
                            f"{expected} bytes, got {shown} bytes")
    # Native byte order: a copy only for multi-byte types (IDX is big-endian); uint8 images are returned as read.
    return data.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path_or_fileobj, array):
    """Write ``array`` as an IDX file; gzipped when the path ends in ``.gz``.

    The dtype must be one IDX can hold (uint8, int8, int16, int32, float32, float64): nothing is converted
    silently. ``read_idx(path)`` gives back an equal array (same shape and dtype).
    """
    array = np.asarray(array)
    code = _CODE_OF.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise DataError(
            f"write_idx: IDX cannot store dtype {array.dtype}; expected one of uint8, int8, int16, int32, float32, "
            f"float64 (convert explicitly, e.g. array.astype(np.int32))"
        )
    if not 1 <= array.ndim <= 255:
        raise DataError(f"write_idx: IDX needs 1 to 255 dimensions, got an array of shape {array.shape}")
    if any(d >= 2**32 for d in array.shape):
        raise DataError(f"write_idx: every dimension must be < 2**32, got shape {array.shape}")
    header = bytes((0, 0, code, array.ndim)) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    blob = header + payload
    if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
        if os.fsdecode(path_or_fileobj).endswith(".gz"):
            blob = gzip.compress(blob)
        with open(path_or_fileobj, "wb") as fh:
            fh.write(blob)
    else:
        path_or_fileobj.write(blob)


# --------------------------------------------------------------------------------------------------------------
# load_digits
# --------------------------------------------------------------------------------------------------------------


def _take_first(owner, arg, n, X, y):
    """The first ``n`` samples (all when n is None); asking for more than exist is a DataError."""
    n = check_number(owner, arg, n, minimum=1, integer=True, allow_none=True)
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
    seed = check_number(owner, "seed", seed, minimum=0, integer=True)
    flatten = check_bool(owner, "flatten", flatten)
    normalize = check_bool(owner, "normalize", normalize)
    bunch = _sk_load_digits()
    X, y = bunch.images, bunch.target.astype(np.int64)
    n_classes = len(np.unique(y))
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        # A stratified split needs at least one sample of every class on each side.
        test_size = check_number(owner, "test_size", test_size, minimum=n_classes, maximum=len(X) - n_classes,
                                 integer=True)
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
_CHUNK = 1 << 16


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
# Downloading
# --------------------------------------------------------------------------------------------------------------


class _ChecksumError(DataError):
    """A downloaded file whose digest differs from the published one."""


def _progress_bar(label, total):
    import progressbar

    from ..core.callbacks import CurrentStderr
    max_value = int(total) if total else progressbar.UnknownLength
    return progressbar.DataTransferBar(max_value=max_value, prefix=f"{label} ", fd=CurrentStderr())


def _fetch(url, directory, filename, digest):
    """Stream ``url`` to ``directory/filename`` through a temporary file, verify ``digest``, then rename.

    The rename (os.replace) is atomic, so an interrupted or corrupt download never leaves a file under the final
    name that a later run would trust.
    """
    final = os.path.join(directory, filename)
    if digest:
        algorithm, _, expected = digest.partition(":")
        hasher = hashlib.new(algorithm, usedforsecurity=False)
    else:
        warnings.warn(f"no published checksum known for {filename}; downloading it unverified", stacklevel=2)
        hasher = expected = None
    fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            bar = _progress_bar(filename, response.headers.get("Content-Length"))
            done = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                done += len(chunk)
                bar.update(done)
            bar.finish()
        if hasher is not None and hasher.hexdigest() != expected.lower():
            raise _ChecksumError(
                f"checksum mismatch for {filename} from {url}: expected {algorithm} {expected}, "
                f"got {hasher.hexdigest()}"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a cache is as readable as any downloaded file
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return final


def _download_missing(name, directory):
    """Download every file of ``name`` that ``directory`` lacks, trying each mirror in turn."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache directory {directory}: {exc}") from exc
    _, missing = _find_files(directory)
    bases = [base for base in IDX_FILES.values() if base + "[.gz]" in missing]
    for base in bases:
        filename = base + ".gz"
        digest = CHECKSUMS.get(name, {}).get(filename)
        errors = []
        for mirror in MIRRORS[name]:
            url = mirror + filename
            try:
                _fetch(url, directory, filename, digest)
                break
            except _ChecksumError as exc:
                errors.append(str(exc))
            except (OSError, ValueError) as exc:  # URLError/HTTPError/timeouts are OSErrors; bad URLs ValueErrors
                errors.append(f"{url}: {exc}")
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
    check_number(owner, "n_train", n_train, minimum=1, integer=True, allow_none=True)
    check_number(owner, "n_test", n_test, minimum=1, integer=True, allow_none=True)
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

