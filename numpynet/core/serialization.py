"""Model configs → layers and models: the inverse of ``get_config()``.

``Model.get_config()`` describes a model as JSON-ready dicts: every layer as ``{"name": registered name, "config":
constructor arguments}`` (:func:`~numpynet.core.layers.base.layer_to_json`), and for a graph every call of a layer
as a node naming its input tensors ``[layer name, call number]``. This module turns such a dict back into a model.
Nothing here touches a file: :mod:`numpynet.io` reads the JSON and calls :func:`config_tensors` (the model's
symbolic tensors, shapes only, so that the weights' shapes are known before anything is allocated) and
:func:`model_from_config`.

The config comes from a file, so it is untrusted: names are looked up in the layer registry or ``custom_objects``
only (never imported), and every malformed part is a :class:`DataError` saying what was expected.
"""

from __future__ import annotations

from .errors import DataError, SpecError
from .layers.base import Layer, layer_to_json, registry
from .layers.input_layer import Input, InputLayer
from .model import DFN, Model, Sequential

#: Most layers (or graph nodes, or DFN hidden layers) a config may declare; MobileNetV2 has about 160.
MAX_LAYERS = 10_000

MODEL_CLASSES = ("Sequential", "DFN", "Model")


class UnknownLayerError(DataError, SpecError):
    """A saved model names a layer class that is neither registered nor in ``custom_objects``.

    The file cannot be loaded as asked (a :class:`DataError`), and the remedy is an argument,
    ``custom_objects={name: TheClass}`` (a :class:`SpecError`), so it is both."""


def layer_from_json(spec, custom_objects=None):
    """The layer of a :func:`layer_to_json` dict, constructed (not built): ``custom_objects`` first, then the
    registry."""
    custom_objects = custom_objects or {}
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise DataError(f"a layer entry must be an object with a 'name', got {spec!r:.200}")
    name, config = spec["name"], spec.get("config")
    if not isinstance(config, (dict, type(None))):
        raise DataError(f"the config of layer {name!r} must be an object, got {config!r:.200}")
    cls = custom_objects.get(name)
    if cls is not None:
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise SpecError(f"custom_objects[{name!r}] must be a Layer subclass, got {cls!r}")
        return cls(**(config or {}))
    if name not in registry:
        raise UnknownLayerError(f"unknown layer {name!r}: pass custom_objects={{{name!r}: TheClass}} or register "
                                f"the class with @nn.layers.register({name!r})")
    return registry.get({"name": name, "config": config or {}})


def _check_class(config):
    if not isinstance(config, dict) or config.get("class") not in MODEL_CLASSES:
        got = config.get("class") if isinstance(config, dict) else type(config).__name__
        raise DataError(f"model class must be 'Sequential', 'DFN' or 'Model', got {got!r}")
    for key in ("layers", "nodes"):
        value = config.get(key)
        if value is not None and (not isinstance(value, list) or len(value) > MAX_LAYERS):
            raise DataError(f"'{key}' must be a list of at most {MAX_LAYERS} entries")


def _sample_shape(value, what):
    if not isinstance(value, list) or not value or len(value) > 32 or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2 ** 62) for d in value):
        raise DataError(f"{what} must be a list of positive integers (or null), got {value!r:.200}")
    return tuple(value)


def _ref(ref):
    if not (isinstance(ref, list) and len(ref) == 2 and isinstance(ref[0], str) and isinstance(ref[1], int)):
        raise DataError(f"a tensor reference must be [layer name, call number], got {ref!r:.200}")
    return (ref[0], ref[1])


def _stack(config, custom_objects):
    """(layers, sample shape or None) of a Sequential/DFN config; an input layer first fixes the sample shape."""
    if config["class"] == "DFN":
        dfn = config.get("dfn")
        if not isinstance(dfn, dict):
            raise DataError("a DFN config needs a 'dfn' object")
        hidden = dfn.get("hidden_dims")
        if not isinstance(hidden, list) or len(hidden) > MAX_LAYERS:
            raise DataError(f"'hidden_dims' must be a list of at most {MAX_LAYERS} sizes, got {hidden!r:.200}")
        # The DFN's own constructor makes its layers; without an input shape it builds (allocates) nothing.
        return list(_dfn(dict(config, input_shape=None)).layers), None
    layers, hint = [], None
    for spec in config.get("layers") or []:
        layer = layer_from_json(spec, custom_objects)
        if isinstance(layer, InputLayer):
            if layers or hint is not None:
                raise DataError("an input layer can only come first in a Sequential model")
            hint = layer.shape       # as Sequential.add: an input layer fixes the input shape
            continue
        layers.append(layer)
    return layers, hint


def _graph(config, custom_objects):
    """A graph Model's recorded calls replayed on new layers: (input tensors, output tensors)."""
    layers = {}
    for spec in config.get("layers") or []:
        layer = layer_from_json(spec, custom_objects)
        if layer.name in layers:
            raise DataError(f"two layers are named {layer.name!r}")
        layers[layer.name] = layer
    tensors, inputs = {}, []
    entries = config.get("inputs")
    if not isinstance(entries, list) or not entries or len(entries) > MAX_LAYERS:
        raise DataError("'inputs' must be a non-empty list")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise DataError(f"an input entry must be an object with a 'name' and a 'shape', got {entry!r:.200}")
        t = Input(_sample_shape(entry.get("shape"), f"the shape of input {entry['name']!r}"), name=entry["name"])
        tensors[(entry["name"], 0)] = t
        inputs.append(t)
    counts = {}
    for node in config.get("nodes") or []:
        if not isinstance(node, dict) or node.get("layer") not in layers or not isinstance(node.get("inputs"), list):
            raise DataError(f"a node must name a layer of the model and list its inputs, got {node!r:.200}")
        refs = [_ref(ref) for ref in node["inputs"]]
        if not refs or any(ref not in tensors for ref in refs):
            raise DataError(f"node of layer {node['layer']!r} reads a tensor no earlier node made: "
                            f"{node['inputs']!r:.200}")
        args = [tensors[ref] for ref in refs]
        layer = layers[node["layer"]]
        if not layer.multi_input and len(args) != 1:
            raise DataError(f"node of layer {node['layer']!r} lists {len(args)} inputs, but the layer takes one")
        k = counts.get(node["layer"], 0)
        counts[node["layer"]] = k + 1
        tensors[(node["layer"], k)] = layer(args if layer.multi_input else args[0])
    outputs = config.get("outputs")
    if not isinstance(outputs, list) or not outputs or any(_ref(ref) not in tensors for ref in outputs):
        raise DataError(f"'outputs' must be a non-empty list of tensors the nodes made, got {outputs!r:.200}")
    return inputs, [tensors[_ref(ref)] for ref in outputs]


def config_tensors(config, custom_objects=None):
    """The model a config describes as symbolic tensors on new, unbuilt layers: ``([inputs], [outputs])``, or
    ``([], [])`` for a stack without an input shape. Shapes only: no weight is created."""
    _check_class(config)
    if config["class"] == "Model":
        return _graph(config, custom_objects)
    layers, hint = _stack(config, custom_objects)
    shape = config.get("input_shape")
    if hint is not None:
        sample = hint
    elif shape is None:
        return [], []
    else:
        sample = _sample_shape(shape, "'input_shape'")[1:]
    if not layers:
        raise DataError("the model has an input shape but no layers")
    inp = x = Input(sample)
    for layer in layers:
        x = layer(x)
    return [inp], [x]


def _dfn(config):
    d, compile_cfg = config["dfn"], config.get("compile") or {}
    return DFN(hidden_dims=tuple(d["hidden_dims"]), n_classes=d["n_classes"], activation=d["activation"],
               regularizer=d["regularizer"], init_w=d["init_w"], init_b=d["init_b"], dropout=d["dropout"],
               seed=config.get("seed"), dtype=config.get("dtype"), name=config.get("name", "dfn"),
               **{key: compile_cfg[key] for key in ("optimizer", "loss", "metrics") if key in compile_cfg})


def model_from_config(config, custom_objects=None):
    """Rebuild a (not yet trained) model from ``get_config()`` output: Sequential, DFN or a graph Model, compiled
    as it was; built when the config has an input shape."""
    _check_class(config)
    compile_cfg = config.get("compile")
    if config["class"] == "DFN":
        model = _dfn(config)
    elif config["class"] == "Model":
        inputs, outputs = _graph(config, custom_objects)
        model = Model(inputs if config.get("multi_input") else inputs[0],
                      outputs if config.get("multi_output") else outputs[0],
                      seed=config.get("seed"), dtype=config.get("dtype"), name=config.get("name"))
    else:
        layers = [layer_from_json(spec, custom_objects) for spec in config.get("layers") or []]
        model = Sequential(layers, seed=config.get("seed"), dtype=config.get("dtype"), name=config.get("name"))
    if compile_cfg and config["class"] != "DFN":
        model.compile(**compile_cfg)
    if config["class"] != "Model" and config.get("input_shape"):
        model.build(tuple(config["input_shape"]))
    return model


__all__ = ["layer_to_json", "layer_from_json", "config_tensors", "model_from_config", "UnknownLayerError",
           "MAX_LAYERS"]
