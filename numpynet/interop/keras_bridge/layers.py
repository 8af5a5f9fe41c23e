"""Layers, both ways, from one table: :data:`_LAYERS` maps each numpynet layer class to its Keras class and to the
constructor arguments the two share (same names, same meaning).

* numpynet → Keras (:func:`keras_layer`): each argument is read from the numpynet layer's attribute of that name;
* Keras → numpynet (:func:`_np_layer`): the Keras class is looked up in :data:`_LAYERS_BACK` (the same table read
  backwards) and each argument is read from the Keras layer's ``get_config()``.

Arguments that name an activation, initializer, regularizer or constraint go through the converters of
:mod:`.objects` (:data:`_OBJECT_ARGS`); Keras's float32-rounded floats come back short (0.99, not
0.9900000095367432). Both ways also carry ``name``, ``activity_regularizer`` and ``trainable=False``.
"""

from __future__ import annotations

import inspect

from .backend import _keras, _listify, _no_keras_equivalent, _short, _supported, _unsupported
from .objects import (
    _np_activation,
    _np_constraint,
    _np_initializer,
    _np_regularizer,
    keras_activation,
    keras_constraint,
    keras_initializer,
    keras_regularizer,
)

_REG_ARGS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
             "kernel_constraint", "bias_constraint")
_DEPTHWISE_ARGS = ("depthwise_initializer", "bias_initializer", "depthwise_regularizer", "bias_regularizer",
                   "depthwise_constraint", "bias_constraint")
_SEPARABLE_ARGS = _DEPTHWISE_ARGS + ("pointwise_initializer", "pointwise_regularizer", "pointwise_constraint")
_POOL_ARGS = ("pool_size", "strides", "padding")

# numpynet layer class -> (Keras layer class, the constructor arguments both take)
_LAYERS = {
    "Dense": ("Dense", ("units", "activation", "use_bias") + _REG_ARGS),
    "Activation": ("Activation", ("activation",)),
    "Flatten": ("Flatten", ()),
    "Conv2D": ("Conv2D", ("filters", "kernel_size", "strides", "padding", "dilation_rate", "activation",
                          "use_bias") + _REG_ARGS),
    "MaxPool2D": ("MaxPooling2D", _POOL_ARGS),
    "AveragePooling2D": ("AveragePooling2D", _POOL_ARGS),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", ("keepdims",)),
    "BatchNormalization": ("BatchNormalization", ("axis", "momentum", "epsilon", "center", "scale",
                                                  "beta_initializer", "gamma_initializer",
                                                  "moving_mean_initializer", "moving_variance_initializer",
                                                  "beta_regularizer", "gamma_regularizer", "beta_constraint",
                                                  "gamma_constraint")),
    "Dropout": ("Dropout", ("rate", "noise_shape", "seed")),
    "AlphaDropout": ("AlphaDropout", ("rate", "noise_shape", "seed")),
    "GaussianNoise": ("GaussianNoise", ("stddev", "seed")),
    "GaussianDropout": ("GaussianDropout", ("rate", "seed")),
    # MobileNet layers
    "DepthwiseConv2D": ("DepthwiseConv2D", ("kernel_size", "strides", "padding", "depth_multiplier",
                                            "dilation_rate", "activation", "use_bias") + _DEPTHWISE_ARGS),
    "SeparableConv2D": ("SeparableConv2D", ("filters", "kernel_size", "strides", "padding", "depth_multiplier",
                                            "dilation_rate", "activation", "use_bias") + _SEPARABLE_ARGS),
    "ZeroPadding2D": ("ZeroPadding2D", ("padding",)),
    "ReLU": ("ReLU", ("max_value", "negative_slope", "threshold")),
    "Reshape": ("Reshape", ("target_shape",)),
    # merge layers (functional graphs): called on a list of tensors
    "Add": ("Add", ()),
    "Subtract": ("Subtract", ()),
    "Multiply": ("Multiply", ()),
    "Average": ("Average", ()),
    "Concatenate": ("Concatenate", ("axis",)),
}
# Keras layer class -> numpynet layer class (one each way: numpynet's aliases MaxPooling2D, AvgPool2D are the same
# classes as MaxPool2D, AveragePooling2D)
_LAYERS_BACK = {kname: name for name, (kname, _) in _LAYERS.items()}

# argument name ending -> (numpynet → Keras, Keras → numpynet) converter of the object it names
_OBJECT_ARGS = {"activation": (keras_activation, _np_activation),
                "_initializer": (keras_initializer, _np_initializer),
                "_regularizer": (keras_regularizer, _np_regularizer),
                "_constraint": (keras_constraint, _np_constraint)}
# arguments numpynet takes as floats (Keras may hold an int, or a float rounded through float32)
_FLOAT_ARGS = ("rate", "stddev", "momentum", "epsilon", "max_value", "negative_slope", "threshold")
# Keras options numpynet has no counterpart for -> the values that mean they are off
_KERAS_ONLY_OPTIONS = {"Dense": {"lora_rank": (None, 0)}, "Conv2D": {"groups": (1,)},
                       "BatchNormalization": {"renorm": (False,), "synchronized": (False,)}}


def _converters(key):
    return next((pair for ending, pair in _OBJECT_ARGS.items() if key.endswith(ending)), None)


def keras_layer(layer, dtype=None, activation=None):
    """The Keras layer for a numpynet layer (same arguments; weights are copied by :func:`to_keras`).

    ``activation`` overrides the layer's activation (used to put a softmax on a fused output layer).
    """
    keras = _keras()
    kind = type(layer).__name__
    if kind not in _LAYERS:
        raise _no_keras_equivalent(f"{kind} layer", layer.name, _LAYERS)
    kname, args = _LAYERS[kind]
    kwargs = {}
    for key in args:
        value, convert = getattr(layer, key), _converters(key)
        if key == "activation" and activation is not None:
            kwargs[key] = activation
        elif convert is not None:
            kwargs[key] = convert[0](value)
        else:
            kwargs[key] = _listify(value) if key == "noise_shape" else value
    if getattr(layer, "activity_regularizer", None) is not None:
        kwargs["activity_regularizer"] = keras_regularizer(layer.activity_regularizer)
    if not getattr(layer, "trainable", True):
        kwargs["trainable"] = False
    if layer.name:
        kwargs["name"] = layer.name
    if dtype is not None:
        kwargs["dtype"] = dtype
    return getattr(keras.layers, kname)(**kwargs)


def _tuples(value):
    """Keras's lists (and lists of lists: ZeroPadding2D's padding) as numpynet's tuples."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _np_arg(klayer, config, key):
    """The numpynet value of argument ``key`` of the Keras layer ``klayer``."""
    convert = _converters(key)
    if convert is not None:
        return convert[1](getattr(klayer, key))
    value = config[key]
    if key in _FLOAT_ARGS:
        return None if value is None else _short(float(value))
    return _tuples(value)


def _check_options(klayer, kind, config):
    """SpecError for a Keras option that numpynet lacks, set to anything but "off"."""
    if config.get("data_format") not in (None, "channels_last"):
        raise _unsupported(f"option data_format={config['data_format']!r} of layer", klayer.name,
                           "numpynet images are NHWC (channels_last)")
    for key, off in _KERAS_ONLY_OPTIONS.get(kind, {}).items():
        if config.get(key, off[0]) not in off:
            raise _unsupported(f"option {key}={config[key]!r} of layer", klayer.name)


def _np_layer(klayer):
    """numpynet layer for one Keras layer (weights are copied by :func:`from_keras`)."""
    from ...core import layers as _nl
    kind = type(klayer).__name__
    if kind not in _LAYERS_BACK:
        raise _unsupported("layer", f"{klayer.name} ({kind})", _supported(_LAYERS_BACK))
    config = klayer.get_config()
    _check_options(klayer, kind, config)
    cls = getattr(_nl, _LAYERS_BACK[kind])
    params = inspect.signature(cls.__init__).parameters
    kwargs = {"name": klayer.name}
    # an argument this Keras version does not have keeps numpynet's default
    kwargs.update({key: _np_arg(klayer, config, key) for key in _LAYERS[cls.__name__][1]
                   if key in config or _converters(key)})
    if not klayer.trainable and "trainable" in params:   # a layer without weights has nothing to freeze
        kwargs["trainable"] = False
    if getattr(klayer, "activity_regularizer", None) is not None:
        kwargs["activity_regularizer"] = _np_regularizer(klayer.activity_regularizer)
    missing = [k for k, v in kwargs.items() if k not in params and v is not None]
    if missing:
        raise _unsupported(f"option(s) {', '.join(missing)} of layer", f"{klayer.name} ({kind})")
    return cls(**{k: v for k, v in kwargs.items() if k in params})

