"""Ready-made networks written with the functional API.

:func:`mobilenet_v2` is the MobileNetV2 of the reference experiment on L1/L2 regularization of a modern CNN
(Sandler et al., 2018, with the experiment's small-image choices): inverted-residual bottleneck blocks — a 1×1
expansion, a 3×3 depthwise convolution, a linear 1×1 projection — and a residual ``Add`` wherever the block keeps
its shape.
"""

from __future__ import annotations

from ..core import layers as L
from ..core.errors import SpecError
from ..core.layers import Input
from ..core.model import Model
from ..core.spec import check_int, check_number

#: (output channels, stride) of the 16 bottleneck blocks, expansion 6 each
BLOCKS = ((24, 1), (24, 2), (32, 1), (32, 2), (32, 1), (64, 1), (64, 2), (64, 1), (64, 1), (96, 1), (96, 1),
          (96, 1), (160, 1), (160, 2), (160, 1), (320, 1))
EXPANSION = 6


def scaled_channels(channels, width):
    """``channels · width`` rounded to the nearest multiple of 8, at least 8 (and never 10 % below the target)."""
    target = channels * width
    value = max(8, int(target + 4) // 8 * 8)
    return value + 8 if value < 0.9 * target else value


def _conv_bn(x, filters, reg, relu6=True):
    """1×1 convolution without bias → BatchNormalization (→ ReLU6)."""
    x = L.Conv2D(filters, 1, padding="same", use_bias=False, kernel_regularizer=reg)(x)
    x = L.BatchNormalization()(x)
    return L.ReLU(max_value=6.0)(x) if relu6 else x


def _depthwise_bn(x, strides, reg):
    """3×3 depthwise convolution → BN → ReLU6; stride 2 pads one row and column at the bottom/right first and
    then convolves without padding (the experiment's ``ZeroPadding2D(((0, 1), (0, 1)))`` + ``padding="valid"``)."""
    if strides == 2:
        x = L.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = L.DepthwiseConv2D(3, strides=strides, padding="valid" if strides == 2 else "same", use_bias=False,
                          depthwise_regularizer=reg)(x)
    x = L.BatchNormalization()(x)
    return L.ReLU(max_value=6.0)(x)


def bottleneck(x, out_channels, strides, reg, expansion=EXPANSION):
    """An inverted-residual block: expand ×``expansion`` (1×1) → depthwise 3×3 → project to ``out_channels``
    (1×1, linear), plus the input when the shape is kept (stride 1, same channels)."""
    in_channels = x.shape[-1]
    y = _conv_bn(x, in_channels * expansion, reg)
    y = _depthwise_bn(y, strides, reg)
    y = _conv_bn(y, out_channels, reg, relu6=False)
    return L.Add()([y, x]) if strides == 1 and in_channels == out_channels else y


def mobilenet_v2(input_shape=(32, 32, 1), classes=10, regularizer=None, width=1.0, seed=None, dtype=None,
                 name="mobilenet_v2"):
    """The reference MobileNetV2 as an (uncompiled) :class:`~numpynet.Model` that outputs logits.

    Stem: Conv 32 3×3 stride 2 ("same", no bias) → BN → ReLU6; depthwise 3×3 → BN → ReLU6; 1×1 16 → BN. Then the
    16 bottlenecks of :data:`BLOCKS` (expansion 6; stride 2 at blocks 1, 3, 6, 13), then 1×1 1280 → BN → ReLU6,
    global average pooling and ``Dense(classes)``. ``regularizer`` (a spec such as ``"l1(l1=0.001)"``) goes on
    every kernel — convolutions, depthwise convolutions, the classifier — and on the classifier's bias, as in the
    experiment. ``width`` scales every channel count (rounded to multiples of 8) to make the network smaller.

    >>> model = mobilenet_v2(input_shape=(32, 32, 1), classes=10, regularizer="l2(l2=0.001)", width=0.25)
    >>> model.compile(optimizer="sgd(lr=0.05, momentum=0.9)", loss="softmax_cross_entropy")
    """
    width = check_number("mobilenet_v2", "width", width, minimum=0.0, strict=True)
    classes = check_int("mobilenet_v2", "classes", classes, minimum=1)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise SpecError(f"mobilenet_v2: argument 'input_shape' must be (height, width, channels), got "
                        f"{input_shape!r}")
    reg = regularizer

    def ch(c):
        return scaled_channels(c, width)

    inp = Input(tuple(input_shape))
    x = L.Conv2D(ch(32), 3, strides=2, padding="same", use_bias=False, kernel_regularizer=reg)(inp)
    x = L.ReLU(max_value=6.0)(L.BatchNormalization()(x))
    x = _depthwise_bn(x, 1, reg)
    x = _conv_bn(x, ch(16), reg, relu6=False)
    for out_channels, strides in BLOCKS:
        x = bottleneck(x, ch(out_channels), strides, reg)
    x = _conv_bn(x, ch(1280), reg)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(classes, kernel_regularizer=reg, bias_regularizer=reg)(x)
    return Model(inp, out, seed=seed, dtype=dtype, name=name)


__all__ = ["mobilenet_v2", "bottleneck", "scaled_channels", "BLOCKS"]
