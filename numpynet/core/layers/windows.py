"""Window geometry shared by the layers that slide a kernel over NHWC images (Conv2D, DepthwiseConv2D, pooling).

Notation: a batch ``x`` of shape (N, H, W, C); a kernel of size (kh, kw) with strides (sh, sw) and dilation
(dh, dw), whose *effective* size is k_eff = (k − 1)·d + 1. The output has (OH, OW) pixels:

    padding="valid":  OH = ⌊(H − kh_eff) / sh⌋ + 1            (no padding)
    padding="same":   OH = ⌈H / sh⌉, with P = max((OH − 1)·sh + kh_eff − H, 0) zeros added, ⌊P/2⌋ on the top
                      and the rest (the extra one, if P is odd) on the bottom — Keras/TensorFlow's rule

and likewise for the width. Window (oh, ow) reads the padded input at rows oh·sh + i·dh and columns ow·sw + j·dw
for kernel offsets i < kh, j < kw. A window is a *strided view* of the (padded) input, so no pixel is copied
before it is used.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import ShapeError, SpecError
from ..spec import check_choice
from .base import ScratchBuffer

# ---------------------------------------------------------------------------------------------------- helpers


def _pair(owner, arg, value, minimum=1):
    """An int or a pair of ints (each >= minimum) as a 2-tuple; a SpecError naming the argument otherwise."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        value = (int(value[0]), int(value[1]))
    else:
        raise SpecError(f"{owner}: argument '{arg}' must be an integer or a pair of integers, got {value!r}")
    if min(value) < minimum:
        raise SpecError(f"{owner}: argument '{arg}' must be >= {minimum}, got {value!r}")
    return value


def _compact(pair):
    """(3, 3) -> 3, (3, 5) -> (3, 5): the attribute form, so that ``str(layer)`` stays short and round-trips."""
    return pair[0] if pair[0] == pair[1] else pair


def _padding(owner, value):
    if not isinstance(value, str):
        raise SpecError(f"{owner}: argument 'padding' must be one of ['valid', 'same'], got {value!r}")
    return check_choice(owner, "padding", value.lower(), ("valid", "same"))


def output_length(n, k_eff, stride, padding):
    """Number of output positions along one axis of length ``n`` (None stays None)."""
    if n is None:
        return None
    if padding == "same":
        return -(-n // stride)
    return (n - k_eff) // stride + 1


def same_padding(n, k_eff, stride):
    """(before, after) zeros for Keras "same" padding: total max((⌈n/s⌉ − 1)·s + k_eff − n, 0), extra after."""
    total = max((-(-n // stride) - 1) * stride + k_eff - n, 0)
    return total // 2, total - total // 2


def _offset_slice(start, stride, count):
    """The slice that picks ``count`` positions start, start + stride, ... (one kernel offset, every window)."""
    return slice(start, start + stride * (count - 1) + 1, stride)


class _Window:
    """Geometry of a sliding window over (H, W): kernel, strides, dilation, padding, and the derived sizes.

    It gives the pads and output sizes for an input size, and the strided-view and offset-slice tools that Conv2D
    and the pooling layers share.
    """

    def __init__(self, kernel, strides, dilation, padding):
        self.kernel, self.strides, self.dilation, self.padding = kernel, strides, dilation, padding
        self.k_eff = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))

    def output_hw(self, h, w):
        return (output_length(h, self.k_eff[0], self.strides[0], self.padding),
                output_length(w, self.k_eff[1], self.strides[1], self.padding))

    def pads(self, h, w):
        if self.padding == "valid":
            return (0, 0), (0, 0)
        return same_padding(h, self.k_eff[0], self.strides[0]), same_padding(w, self.k_eff[1], self.strides[1])

    def offsets(self, oh, ow):
        """For each kernel offset (i, j): the (row slice, column slice) of the padded input it touches."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides, self.dilation
        return [(_offset_slice(i * dh, sh, oh), _offset_slice(j * dw, sw, ow)) for i in range(kh) for j in range(kw)]

    def view(self, xp, oh, ow, offset_major=False):
        """Read-only strided view of the windows of the padded input ``xp`` — no copy.

        Pixel-major (default): shape (N, OH, OW, kh, kw, C), element [n, oh, ow, i, j, c] =
        xp[n, oh·sh + i·dh, ow·sw + j·dw, c]. Offset-major: the same elements as (kh, kw, C, N, OH, OW).
        """
        n, _, _, c = xp.shape
        s_n, s_h, s_w, s_c = xp.strides
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides, self.dilation
        if offset_major:
            shape, strides = (kh, kw, c, n, oh, ow), (s_h * dh, s_w * dw, s_c, s_n, s_h * sh, s_w * sw)
        else:
            shape, strides = (n, oh, ow, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
        return np.lib.stride_tricks.as_strided(xp, shape=shape, strides=strides, writeable=False)

    def row_view(self, a, oh, ow, groups=1):
        """Read-only view (N, OH, kh, kw, OW·C, groups) of an NHWC array whose (W, C) block is contiguous, for a
        width stride of 1 — no copy.

        The C = c_total / groups channels of ``a`` are taken as (C, groups); element [n, oh, i, j, q, g] =
        a[n, oh·sh + i·dh, q // C + j·dw, (q % C)·groups + g]: for one kernel offset (i, j) the OW output columns
        and C channels of an output row form the single axis q, one contiguous run of the input row (stepping
        over the groups), so loops over it are long and SIMD-friendly.
        """
        n, _, w, c_total = a.shape
        s_n, s_h, s_w, s_c = a.strides
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides, self.dilation
        if sw != 1 or s_w != c_total * s_c or c_total % groups or (ow - 1) + (kw - 1) * dw >= w:
            raise ValueError("row_view needs a width stride of 1, rows of contiguous pixels and windows that fit")
        shape = (n, oh, kh, kw, ow * (c_total // groups), groups)
        strides = (s_n, s_h * sh, s_h * dh, s_w * dw, s_c * groups, s_c)
        return np.lib.stride_tricks.as_strided(a, shape=shape, strides=strides, writeable=False)


def _check_image(layer, x, kind):
    """Raise a ShapeError unless x is a 4-D NHWC batch with the channels the layer was built for."""
    if x.ndim != 4:
        raise ShapeError(f"layer {layer.name!r} ({kind}) needs 4-D NHWC input (batch, height, width, channels), "
                         f"got an array of shape {x.shape}")
    built = layer.input_shape
    if built is not None and built[-1] is not None and x.shape[-1] != built[-1]:
        raise ShapeError(f"layer {layer.name!r} ({kind}) was built for {built[-1]} input channels, got input of "
                         f"shape {x.shape} with {x.shape[-1]} channels")


def _check_fits(layer, kind, window, h, w):
    """With "valid" padding the (effective) kernel must fit inside the image."""
    if window.padding != "valid":
        return
    for name, n, k in (("height", h, window.k_eff[0]), ("width", w, window.k_eff[1])):
        if n is not None and n < k:
            raise ShapeError(f"layer {layer.name!r} ({kind}): the {name} of the input ({n}) is smaller than the "
                             f"window ({k}, dilation included) with padding='valid'; use padding='same' or a "
                             f"smaller kernel")


def _channels_outer(a):
    """Whether the NHWC array ``a`` lies in memory channel by channel, each channel a C-ordered (N, H, W) block
    (what Conv2D's offset-major product writes, and what the pooling layers keep)."""
    return a.ndim == 4 and a.transpose(3, 0, 1, 2).flags.c_contiguous


def _like(a, shape=None):
    """An uninitialized array in ``a``'s memory layout (C-ordered NHWC or channels-outer), of ``a``'s or the given
    NHWC shape: elementwise operations between arrays of one layout run in long contiguous loops."""
    shape = a.shape if shape is None else tuple(shape)
    if _channels_outer(a) and not a.flags.c_contiguous:
        n, h, w, c = shape
        return np.empty((c, n, h, w), dtype=a.dtype).transpose(1, 2, 3, 0)
    return np.empty(shape, dtype=a.dtype)


def pad_border(x, pads, buffer=None, fill=0):
    """The NHWC batch ``x`` with ``pads`` = ((top, bottom), (left, right)) rows/columns of ``fill`` around it (zeros
    for convolutions, −inf for max pooling: a pad never wins the max).

    Without padding ``x`` itself comes back (no copy). With a :class:`_Buffer` the result lives in its array,
    reused from batch to batch: the interior is overwritten and only the border re-zeroed (cheap, and safe when a
    new image size moves the interior inside a same-size buffer); without one it is a fresh array.
    """
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    n, h, w, c = x.shape
    shape = (n, h + pt + pb, w + pl + pr, c)
    xp = np.empty(shape, dtype=x.dtype) if buffer is None else buffer.get(shape, x.dtype)
    xp[:, :pt], xp[:, pt + h:], xp[:, :, :pl], xp[:, :, pl + w:] = fill, fill, fill, fill
    xp[:, pt:pt + h, pl:pl + w, :] = x
    return xp


def _scratch(layer, name):
    """The layer's :class:`_Buffer` called ``name``, made on first use (a per-layer attribute, so that a shared
    layer's second executor, which gets fresh buffers, never writes into the first one's)."""
    buffer = layer.__dict__.get(name)
    if buffer is None:
        buffer = layer.__dict__[name] = _Buffer()
    return buffer


#: the scratch buffers of this module (an alias: the class lives in base.py, where pickling and shared layers
#: give each copy a fresh one)
_Buffer = ScratchBuffer


# ---------------------------------------------------------------------------------------------------- Conv2D

def input_channels(layer, kind, input_shape):
    """Check a build shape for a windowed layer (4-D NHWC, channels known, the window fits) and return the number
    of input channels."""
    if len(input_shape) != 4:
        raise ShapeError(f"layer {layer.name!r} ({kind}) needs 4-D NHWC input (batch, height, width, channels), "
                         f"got input shape {input_shape}")
    if input_shape[-1] is None:
        raise ShapeError(f"layer {layer.name!r} ({kind}): the number of input channels must be known, "
                         f"got input shape {input_shape}")
    _check_fits(layer, kind, layer.window, input_shape[1], input_shape[2])
    return input_shape[-1]


__all__ = ["output_length", "same_padding", "pad_border", "input_channels"]
