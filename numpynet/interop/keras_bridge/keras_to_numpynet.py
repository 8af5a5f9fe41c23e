"""Keras model → numpynet model: :func:`from_keras`.

A ``keras.Sequential`` becomes a :class:`~numpynet.Sequential`, a functional ``keras.Model`` a functional
:class:`~numpynet.Model`; each Keras layer maps by :data:`.layers._LAYERS_BACK`, the optimizer, losses and
metrics by the tables of :mod:`.objects`.
"""

from __future__ import annotations

from ...core.errors import SpecError
from .backend import _keras, _keras_dtype_of, _unsupported
from .layers import _np_layer
from .numpynet_to_keras import _check_weight_order
from .objects import _np_loss, _np_metrics, _np_optimizer


def _is_functional(keras_model):
    """True for a functional ``keras.Model`` (built from ``keras.Input`` tensors: a ``keras.Function`` too), False
    for a subclassed model or anything else."""
    keras = _keras()
    return isinstance(keras_model, keras.Model) and isinstance(keras_model, keras.Function)


def from_keras(keras_model, seed=None):
    """The numpynet model equivalent to a built Keras model, with the same weights, and compiled with the
    converted optimizer, loss(es) and metrics when the Keras model is compiled.

    A ``keras.Sequential`` becomes a :class:`~numpynet.Sequential`; a functional ``keras.Model`` becomes a
    functional :class:`~numpynet.Model` with the same graph (same input and layer names; a Keras layer called
    several times becomes one shared numpynet layer). Each Keras layer becomes the numpynet layer of
    :data:`.layers._LAYERS` (``MaxPooling2D`` → ``MaxPool2D``, the others by the same name) with the same
    arguments; Keras ``L2(λ)`` becomes ``l2(l2=λ)`` (same meaning).
    Unsupported layers (or operations such as ``keras.ops.add`` called on symbolic tensors, or nested models),
    options, activations, regularizers, losses or optimizers raise a :class:`~numpynet.errors.SpecError` naming
    them.
    """
    keras = _keras()
    from ...core.model import Sequential
    if not isinstance(keras_model, keras.Sequential):
        if _is_functional(keras_model):
            return _from_keras_graph(keras_model, seed)
        raise SpecError(f"from_keras: only keras.Sequential and functional keras.Model models (built from "
                        f"keras.Input tensors) are supported, got {type(keras_model).__name__}")
    if not keras_model.built:
        raise SpecError("from_keras: the Keras model is not built; start it with keras.Input(shape) or call it once")
    dtype, weights = _keras_dtype_of(keras_model)
    model = Sequential([_np_layer(layer) for layer in keras_model.layers], seed=seed, dtype=dtype,
                       name=keras_model.name)
    model.build((None,) + tuple(keras_model.input_shape[1:]))
    model.set_weights(weights)
    _compile_like(model, keras_model)
    return model


def _compile_like(model, keras_model):
    """Compile ``model`` with the converted optimizer, loss(es) and metrics of ``keras_model``, when compiled."""
    if not getattr(keras_model, "compiled", False) or keras_model.loss is None:
        return
    loss = keras_model.loss
    if isinstance(loss, dict):
        names = [t._keras_history.operation.name for t in keras_model.outputs]
        missing = [name for name in names if name not in loss]
        if missing:
            raise _unsupported("loss dict without output(s)", ", ".join(missing))
        loss = [loss[name] for name in names]
    loss = [_np_loss(item) for item in loss] if isinstance(loss, (list, tuple)) else _np_loss(loss)
    model.compile(optimizer=_np_optimizer(keras_model.optimizer), loss=loss, metrics=_np_metrics(keras_model))


def _keras_call_node(tensor):
    """(operation, node) of the Keras call that produced the symbolic ``tensor``."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        raise _unsupported("tensor", getattr(tensor, "name", repr(tensor)), "it has no Keras history")
    op, node_index, tensor_index = history
    node = op._inbound_nodes[node_index]
    if tensor_index != 0 or len(node.output_tensors) != 1:
        raise _unsupported("multi-output operation", op.name, "numpynet layers have one output")
    return op, node


def _np_graph_layer(op, converted):
    """The numpynet layer of the Keras operation ``op`` (converted once: a shared layer stays shared)."""
    keras = _keras()
    layer = converted.get(id(op))
    if layer is None:
        if isinstance(op, keras.Model):
            raise _unsupported("nested model", op.name, "call its layers on the tensors instead")
        if not isinstance(op, keras.layers.Layer):
            raise _unsupported("operation", f"{op.name} ({type(op).__name__})",
                               "only layers can be converted (keras.ops functions have no numpynet "
                               "layer); use the equivalent layer, e.g. keras.layers.Add()")
        layer = converted[id(op)] = _np_layer(op)
    return layer


def _from_keras_graph(keras_model, seed):
    """Replay a functional Keras model's calls on numpynet layers: a depth-first walk back from the outputs that
    converts every tensor after the tensors it is computed from."""
    from ...core.layers import Input
    from ...core.model import Model
    dtype, weights = _keras_dtype_of(keras_model)
    kinputs, koutputs = list(keras_model.inputs), list(keras_model.outputs)
    tensors = {}   # id(Keras tensor) -> numpynet SymbolicTensor
    for kt in kinputs:
        tensors[id(kt)] = Input(tuple(kt.shape[1:]), name=kt._keras_history.operation.name)
    converted = {}   # id(Keras layer) -> numpynet layer
    for out in koutputs:
        stack = [out]
        while stack:
            kt = stack[-1]
            if id(kt) in tensors:
                stack.pop()
                continue
            op, node = _keras_call_node(kt)
            if type(op).__name__ == "InputLayer":
                raise SpecError(f"from_keras: the outputs depend on input {op.name!r}, which is not among the "
                                f"model's inputs")
            pending = [t for t in node.input_tensors if id(t) not in tensors]
            if pending:
                stack.extend(reversed(pending))
                continue
            stack.pop()
            layer = _np_graph_layer(op, converted)
            extra = {k: v for k, v in node.arguments.kwargs.items() if v is not None}
            if extra:
                raise _unsupported(f"call argument(s) {', '.join(sorted(extra))} of layer", op.name)
            args = [tensors[id(t)] for t in node.input_tensors]
            if not layer.multi_input and len(args) != 1:
                raise _unsupported(f"call of layer {op.name!r} on", f"{len(args)} tensors")
            tensors[id(kt)] = layer(args if layer.multi_input else args[0])
    # the structure given to keras.Model (keras_model.input / .output): a list of one stays a list
    multi_in = isinstance(keras_model.input, (list, tuple, dict)) or len(kinputs) > 1
    multi_out = isinstance(keras_model.output, (list, tuple, dict)) or len(koutputs) > 1
    inputs = [tensors[id(t)] for t in kinputs]
    outputs = [tensors[id(t)] for t in koutputs]
    model = Model(inputs if multi_in else inputs[0], outputs if multi_out else outputs[0], seed=seed, dtype=dtype,
                  name=keras_model.name)
    _check_weight_order(model, keras_model, "from_keras")
    model.set_weights(weights)
    _compile_like(model, keras_model)
    return model
