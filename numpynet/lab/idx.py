"""The IDX file format (LeCun's MNIST format), read and written with NumPy alone. A file is::

    byte 0-1   0x00 0x00                      magic, part 1
    byte 2     dtype code                     0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte 3     ndim                           number of dimensions, >= 1
    ndim x 4   big-endian uint32 sizes        d_1 ... d_ndim
    payload    d_1 * ... * d_ndim big-endian items, row-major (C order), and nothing after them

Files are untrusted input: :func:`read_idx` reads and checks the header first and then reads (a gzip stream:
decompresses) at most the declared payload, bounded by ``max_bytes``. :mod:`numpynet.datasets` re-exports
:func:`read_idx` and :func:`write_idx`.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import zlib

import numpy as np

from ..core.errors import DataError
from ..core.spec import check_int

__all__ = ["read_idx", "write_idx", "IDX_DTYPES", "MAX_IDX_BYTES"]

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

def _fill(fh, buffer, label, compressed):
    """Read into ``buffer`` (a writable byte view) until it is full or the stream ends; returns how many bytes
    came. Damage in the stream (a corrupt or truncated gzip member, an I/O error) becomes a DataError."""
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


def _read_upto(fh, n, label, compressed):
    """Up to ``n`` bytes (fewer only at the end of the stream), as :func:`_fill` reads them."""
    buffer = bytearray(n)
    return bytes(buffer[:_fill(fh, memoryview(buffer), label, compressed)])


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
