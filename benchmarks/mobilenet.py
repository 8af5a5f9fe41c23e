"""W4's network, MobileNetV2 for small images, written once in PyTorch and once in Keras 3 (functional API).

Both builders take ``(input_shape, classes, width, regularizer)`` like ``nn.applications.mobilenet_v2`` and build
the network of the reference experiment (NHWC ``input_shape`` for both; PyTorch's model takes NCHW tensors):

    stem     Conv2D 32 3x3 stride 2 "same" (no bias) - BN - ReLU6
    first    DepthwiseConv2D 3x3 "same" - BN - ReLU6 - Conv2D 16 1x1 - BN
    16 x     Conv2D 6·c_in 1x1 - BN - ReLU6 - [ZeroPadding2D((0,1),(0,1)) when stride 2]
             - DepthwiseConv2D 3x3 ("valid" stride 2, or "same" stride 1) - BN - ReLU6 - Conv2D c_out 1x1 - BN
             (+ the block's input when stride 1 and c_in == c_out)
    head     Conv2D 1280 1x1 - BN - ReLU6 - GlobalAveragePooling2D - Dense(classes) (logits)

No convolution has a bias; BatchNormalization is Keras's (momentum 0.99, epsilon 1e-3), i.e. PyTorch's
``BatchNorm2d(eps=1e-3, momentum=0.01)``. Kernels start Glorot-uniform, biases zero, in both. ``width`` multiplies
every channel count (the 1280 of the head too), rounded to a multiple of 8, at least 8 (:func:`channels`); the
expanded width of a block is 6 times its (already rounded) input channels. A regularizer goes on every kernel
(convolutions, depthwise convolutions, the classifier) and on the classifier's bias, as in the experiment.

Layers have the same names in both models (``stem_conv``, ``block_3_depthwise_bn``, ``logits``, ...), so that
:func:`copy_keras_weights` can copy a Keras model's weights into the PyTorch one (used by the tests to show that the
two compute the same function, to ~1e-10 in float64).

Keras's "same" convolution with stride 2 pads asymmetrically when the padding is odd (the extra pixel goes at the
bottom/right); the PyTorch stem reproduces that with an explicit ``ZeroPad2d`` before an unpadded convolution
(:func:`same_padding`).
"""

from __future__ import annotations

import math

EXPANSION = 6
STEM, FIRST, HEAD = 32, 16, 1280
BLOCK_CHANNELS = (24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320)
STRIDE_2_BLOCKS = (1, 3, 6, 13)
BN_EPSILON, KERAS_BN_MOMENTUM = 1e-3, 0.99


def channels(count, width=1.0):
    """``count`` scaled by ``width``, rounded to the nearest multiple of 8 (halves up), at least 8, and never more
    than 10 % below ``count · width`` (Keras's ``_make_divisible``, as ``nn.applications.scaled_channels``)."""
    target = count * width
    value = max(8, int(math.floor(target / 8 + 0.5)) * 8)
    return value + 8 if value < 0.9 * target else value


def plan(width=1.0):
    """The channel plan: ``{"stem", "first", "head": int, "blocks": [(c_in, c_expanded, c_out, stride, residual)]}``."""
    blocks, c_in = [], channels(FIRST, width)
    for i, count in enumerate(BLOCK_CHANNELS):
        c_out = channels(count, width)
        stride = 2 if i in STRIDE_2_BLOCKS else 1
        blocks.append((c_in, c_in * EXPANSION, c_out, stride, stride == 1 and c_in == c_out))
        c_in = c_out
    return {"stem": channels(STEM, width), "first": channels(FIRST, width), "head": channels(HEAD, width),
            "blocks": blocks}


def same_padding(size, kernel, stride):
    """``(before, after)`` zero padding of TensorFlow's "same" along one axis of ``size`` pixels (the extra pixel of
    an odd total goes after: for 32 pixels, 3x3, stride 2 that is (0, 1))."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def penalty_coefficients(regularizer):
    """``(l1, l2)`` of a numpynet regularizer spec in Keras's meaning (penalty l1·Σ|w| + l2·Σw²); (0, 0) for None.

    ``l2(lambd=λ)`` is ½·λ·Σw² (numpynet's textbook convention), so its Keras l2 is λ/2.
    """
    if regularizer is None or (isinstance(regularizer, str) and regularizer.strip().lower() == "none"):
        return 0.0, 0.0
    import numpynet as nn

    reg = nn.regularizers.get(regularizer) if isinstance(regularizer, str) else regularizer
    if reg is None:
        return 0.0, 0.0
    kind = type(reg).__name__
    if kind == "L2":
        return 0.0, float(reg.lambd) / 2.0 if reg.lambd is not None else float(reg.l2)
    if kind == "L1":
        return float(reg.lambd if reg.lambd is not None else reg.l1), 0.0
    if kind == "L1L2":
        return float(reg.l1), float(reg.l2)
    raise ValueError(f"mobilenet_v2: regularizer {regularizer!r} has no Keras/PyTorch equivalent here "
                     "(use l1, l2 or l1l2)")


# ---------------------------------------------------------------------------------------------------- Keras
def keras_mobilenet_v2(input_shape=(32, 32, 1), classes=10, width=1.0, regularizer=None, dtype="float32"):
    """The network as a ``keras.Model`` (functional API, uncompiled); every kernel (Conv2D, DepthwiseConv2D,
    Dense) and the Dense bias get ``regularizer``."""
    import keras
    from keras import layers

    l1, l2 = penalty_coefficients(regularizer)

    def reg():
        return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None

    def conv(x, filters, name, kernel=1, strides=1, padding="same"):
        return layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                             kernel_regularizer=reg(), dtype=dtype, name=name)(x)

    def depthwise(x, name, strides=1, padding="same"):
        return layers.DepthwiseConv2D(3, strides=strides, padding=padding, use_bias=False,
                                      depthwise_regularizer=reg(), dtype=dtype, name=name)(x)

    def bn(x, name):
        return layers.BatchNormalization(momentum=KERAS_BN_MOMENTUM, epsilon=BN_EPSILON, dtype=dtype, name=name)(x)

    def relu6(x, name):
        return layers.ReLU(max_value=6.0, dtype=dtype, name=name)(x)

    p = plan(width)
    inputs = keras.Input(shape=tuple(input_shape), dtype=dtype, name="input")
    x = relu6(bn(conv(inputs, p["stem"], "stem_conv", kernel=3, strides=2), "stem_bn"), "stem_relu")
    x = relu6(bn(depthwise(x, "first_depthwise"), "first_depthwise_bn"), "first_depthwise_relu")
    x = bn(conv(x, p["first"], "first_project"), "first_project_bn")
    for i, (_, expanded, c_out, stride, residual) in enumerate(p["blocks"]):
        name = f"block_{i}_"
        block_input = x
        x = relu6(bn(conv(x, expanded, name + "expand"), name + "expand_bn"), name + "expand_relu")
        if stride == 2:
            x = layers.ZeroPadding2D(((0, 1), (0, 1)), dtype=dtype, name=name + "pad")(x)
            x = depthwise(x, name + "depthwise", strides=2, padding="valid")
        else:
            x = depthwise(x, name + "depthwise")
        x = relu6(bn(x, name + "depthwise_bn"), name + "depthwise_relu")
        x = bn(conv(x, c_out, name + "project"), name + "project_bn")
        if residual:
            x = layers.Add(dtype=dtype, name=name + "add")([x, block_input])
    x = relu6(bn(conv(x, p["head"], "head_conv"), "head_bn"), "head_relu")
    x = layers.GlobalAveragePooling2D(dtype=dtype, name="pool")(x)
    outputs = layers.Dense(classes, kernel_regularizer=reg(), bias_regularizer=reg(), dtype=dtype, name="logits")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2")


# ---------------------------------------------------------------------------------------------------- PyTorch
_TORCH_CLASS = None


def _torch_class():
    """The ``torch.nn.Module`` class, made on first use (PyTorch is imported only when it is needed)."""
    global _TORCH_CLASS
    if _TORCH_CLASS is not None:
        return _TORCH_CLASS
    import torch
    from torch import nn

    class MobileNetV2(nn.Module):
        """MobileNetV2 on NCHW tensors; ``self.layers`` holds every layer under its Keras name."""

        def __init__(self, input_shape, classes, width, regularizer):
            super().__init__()
            height, width_px, c_in = input_shape
            self.plan = p = plan(width)
            self.l1, self.l2 = penalty_coefficients(regularizer)
            L = self.layers = nn.ModuleDict()

            def conv(name, c_in, c_out, kernel=1, stride=1, padding=0):
                L[name] = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)

            def depthwise(name, c, stride=1, padding=1):
                L[name] = nn.Conv2d(c, c, 3, stride=stride, padding=padding, groups=c, bias=False)

            def bn(name, c):
                L[name] = nn.BatchNorm2d(c, eps=BN_EPSILON, momentum=1.0 - KERAS_BN_MOMENTUM)

            # Keras's "same" at stride 2: explicit (possibly asymmetric) padding, then an unpadded convolution.
            top, bottom = same_padding(height, 3, 2)
            left, right = same_padding(width_px, 3, 2)
            L["stem_pad"] = nn.ZeroPad2d((left, right, top, bottom))
            conv("stem_conv", c_in, p["stem"], kernel=3, stride=2)
            bn("stem_bn", p["stem"])
            depthwise("first_depthwise", p["stem"])
            bn("first_depthwise_bn", p["stem"])
            conv("first_project", p["stem"], p["first"])
            bn("first_project_bn", p["first"])
            for i, (c_in, expanded, c_out, stride, _) in enumerate(p["blocks"]):
                name = f"block_{i}_"
                conv(name + "expand", c_in, expanded)
                bn(name + "expand_bn", expanded)
                if stride == 2:
                    L[name + "pad"] = nn.ZeroPad2d((0, 1, 0, 1))
                    depthwise(name + "depthwise", expanded, stride=2, padding=0)
                else:
                    depthwise(name + "depthwise", expanded)
                bn(name + "depthwise_bn", expanded)
                conv(name + "project", expanded, c_out)
                bn(name + "project_bn", c_out)
            conv("head_conv", p["blocks"][-1][2], p["head"])
            bn("head_bn", p["head"])
            L["logits"] = nn.Linear(p["head"], classes)
            self.relu6 = nn.ReLU6(inplace=False)
            # Keras's initializers: Glorot-uniform kernels (also the depthwise ones: Keras's fans of a (3, 3, C, 1)
            # kernel are 9C and 9, PyTorch's of (C, 1, 3, 3) are 9 and 9C, the same sum), zero biases.
            with torch.no_grad():
                for module in L.values():
                    if isinstance(module, (nn.Conv2d, nn.Linear)):
                        nn.init.xavier_uniform_(module.weight)
                        if module.bias is not None:
                            nn.init.zeros_(module.bias)

        def kernels(self):
            """The regularized tensors: every convolution and Dense kernel and the Dense bias (not BatchNorm)."""
            out = [m.weight for m in self.layers.values() if isinstance(m, (nn.Conv2d, nn.Linear))]
            return out + [self.layers["logits"].bias]

        def penalty(self):
            """l1·Σ|w| + l2·Σw² over :meth:`kernels` (Keras's meaning); 0.0 without a regularizer."""
            total = 0.0
            for w in self.kernels():
                if self.l1:
                    total = total + self.l1 * w.abs().sum()
                if self.l2:
                    total = total + self.l2 * (w * w).sum()
            return total

        def forward(self, x):
            L, relu6 = self.layers, self.relu6
            x = relu6(L["stem_bn"](L["stem_conv"](L["stem_pad"](x))))
            x = relu6(L["first_depthwise_bn"](L["first_depthwise"](x)))
            x = L["first_project_bn"](L["first_project"](x))
            for i, (_, _, _, stride, residual) in enumerate(self.plan["blocks"]):
                name = f"block_{i}_"
                y = relu6(L[name + "expand_bn"](L[name + "expand"](x)))
                if stride == 2:
                    y = L[name + "pad"](y)
                y = relu6(L[name + "depthwise_bn"](L[name + "depthwise"](y)))
                y = L[name + "project_bn"](L[name + "project"](y))
                x = y + x if residual else y
            x = relu6(L["head_bn"](L["head_conv"](x)))
            return L["logits"](x.mean(dim=(2, 3)))

    _TORCH_CLASS = MobileNetV2
    return MobileNetV2


def torch_mobilenet_v2(input_shape=(32, 32, 1), classes=10, width=1.0, regularizer=None):
    """The network as a ``torch.nn.Module`` taking NCHW tensors (``input_shape`` is NHWC, as for the others).

    ``model.kernels()`` are the tensors ``regularizer`` applies to (the kernels and the classifier's bias) and
    ``model.penalty()`` its value, to be added to the loss (or, for L2 with SGD, the same as weight decay 2·l2 on
    ``model.kernels()``). Seed with ``torch.manual_seed`` before calling for reproducible weights.
    """
    return _torch_class()(tuple(input_shape), classes, width, regularizer)


def torch_count_params(model):
    """Parameters plus BatchNorm running means and variances: Keras's ``count_params()`` of the same network
    (PyTorch's ``num_batches_tracked`` counters are not weights and are left out)."""
    n = sum(p.numel() for p in model.parameters())
    return n + sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))


def copy_keras_weights(keras_model, torch_model):
    """Copy every weight of ``keras_model`` (from :func:`keras_mobilenet_v2`) into ``torch_model`` (from
    :func:`torch_mobilenet_v2`, same arguments), converting layouts: Conv2D kernel (kh, kw, c_in, c_out) ->
    (c_out, c_in, kh, kw); depthwise (kh, kw, C, 1) -> (C, 1, kh, kw); Dense (in, out) -> (out, in); BatchNorm
    gamma, beta, moving mean and variance as they are. Returns the number of values copied."""
    import numpy as np
    import torch

    copied = 0
    with torch.no_grad():
        for layer in keras_model.layers:
            weights = layer.get_weights()
            if not weights:
                continue
            module = torch_model.layers[layer.name]
            kind = type(layer).__name__
            if kind == "DepthwiseConv2D":
                targets = [(module.weight, np.transpose(weights[0], (2, 3, 0, 1)))]
            elif kind == "Conv2D":
                targets = [(module.weight, np.transpose(weights[0], (3, 2, 0, 1)))]
            elif kind == "Dense":
                targets = [(module.weight, weights[0].T), (module.bias, weights[1])]
            elif kind == "BatchNormalization":
                targets = list(zip((module.weight, module.bias, module.running_mean, module.running_var), weights))
            else:
                raise TypeError(f"copy_keras_weights: no rule for Keras layer {layer.name!r} ({kind})")
            for tensor, value in targets:
                if tuple(tensor.shape) != value.shape:
                    raise ValueError(f"copy_keras_weights: {layer.name}: PyTorch {tuple(tensor.shape)} "
                                     f"vs Keras {value.shape}")
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(tensor.dtype))
                copied += value.size
    return copied
