"""numpynet model → Keras model: :func:`to_keras`.

A ``Sequential`` (DFN included) becomes a ``keras.Sequential``; a functional :class:`~numpynet.Model` a functional
``keras.Model`` with the same graph. Layers map by :data:`.layers._LAYERS`; outputs trained with the fused
``softmax_cross_entropy`` (whose layer outputs logits) end in a softmax on the Keras side.
"""

from __future__ import annotations

import warnings

import numpy as np

from ...core import activations as _activations
from ...core.errors import SpecError
from .backend import _keras, _use_dtype
from .layers import _LAYERS, keras_layer
from .objects import _keras_metric, keras_loss, keras_optimizer


def _is_linear(layer):
    act = getattr(layer, "activation", None)
    return act is not None and _activations.get(act).spec_name == "linear"


def _is_graph(model):
    """True for a functional :class:`~numpynet.Model`; a Sequential (DFN included) becomes a ``keras.Sequential``."""
    from ...core.model import Sequential
    return not isinstance(model, Sequential)


def _per_output(value, n, what):
    """One entry per output from a single value or a list of n."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise SpecError(f"keras_bridge: argument {what!r} has {len(value)} entries but the model has {n} "
                            f"outputs")
        return list(value)
    return [value] * n


def _compile_twin(kmodel, model, labels, dtype):
    """Compile the Keras model ``kmodel`` as the numpynet ``model`` is compiled; returns the Keras loss object of
    each output (None when ``model`` is not compiled)."""
    n = len(model._outputs)
    if model.loss is None:
        return [None] * n
    klosses = [keras_loss(loss, labels=lab, dtype=dtype)
               for loss, lab in zip(model._output_losses(), _per_output(labels, n, "labels"))]
    metrics = [_keras_metric(m) for m in model.metrics]
    kmodel.compile(optimizer=keras_optimizer(model.optimizer) if model.optimizer is not None else "sgd",
                   loss=klosses if model._multi_out else klosses[0],
                   metrics=[list(metrics) for _ in range(n)] if model._multi_out else metrics)
    return klosses


def _build_keras(model, labels=None, compile=True):
    """(keras_model, keras_losses, softmax_added) — the work behind :func:`to_keras`. The last two are lists with
    one entry per output: the Keras loss object (None when not compiled), and whether the Keras output ends in the
    softmax that numpynet's fused ``softmax_cross_entropy`` applies inside the loss."""
    if not model.built:
        raise SpecError("to_keras: the model is not built yet; call model.build(X.shape) (or fit it) first")
    if _is_graph(model):
        kmodel, softmax_added = _build_keras_graph(model)
    else:
        kmodel, softmax_added = _build_keras_sequential(model)
    kmodel.set_weights(model.get_weights())
    klosses = _compile_twin(kmodel, model, labels, np.dtype(model.dtype).name) if compile else [None] * len(
        softmax_added)
    return kmodel, klosses, softmax_added


def _build_keras_sequential(model):
    """(``keras.Sequential``, [softmax_added]) for a Sequential model."""
    keras = _keras()
    dtype = np.dtype(model.dtype).name
    layers = list(model.layers)
    softmax_added = model.loss is not None and model.loss.spec_name == "softmax_cross_entropy"
    klayers = []
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        override = "softmax" if (softmax_added and last and _is_linear(layer)) else None
        klayers.append(keras_layer(layer, dtype=dtype, activation=override))
    if softmax_added and not _is_linear(layers[-1]):
        klayers.append(keras.layers.Activation("softmax", dtype=dtype, name=f"{layers[-1].name}_softmax"))
    kmodel = keras.Sequential([keras.Input(shape=tuple(model.input_shape[1:]), dtype=dtype)] + klayers,
                              name=model.name)
    return kmodel, [softmax_added]


def _graph_softmax_plan(model):
    """How the Keras twin of a graph model gets the softmax of the outputs trained with numpynet's fused
    ``softmax_cross_entropy`` (whose layer outputs logits): ``(overrides, appended)``.

    ``overrides``: output layers that take ``activation="softmax"`` themselves (linear, called once, their output
    read by no other layer). When some such output cannot, ``appended`` lists one Activation per output —
    "softmax" where wanted, "linear" elsewhere: an Activation after *every* output adds one to every layer's
    depth, so Keras's layer order (and so its get_weights() order) stays that of the numpynet model.
    """
    n = len(model._outputs)
    wanted = [loss is not None and loss.spec_name == "softmax_cross_entropy"
              for loss in (model._output_losses() if model.loss is not None else [None] * n)]
    read = {id(t) for node in model._nodes for t in node.inputs}
    calls = {}
    for node in model._nodes:
        calls[id(node.layer)] = calls.get(id(node.layer), 0) + 1
    owners = [id(t.node.layer) for t in model._outputs]

    def direct(i):
        tensor = model._outputs[i]
        layer = tensor.node.layer
        takes_activation = "activation" in _LAYERS.get(type(layer).__name__, ("", ()))[1]
        return (takes_activation and _is_linear(layer) and calls.get(id(layer)) == 1
                and owners.count(id(layer)) == 1 and id(tensor) not in read)

    if all(direct(i) for i in range(n) if wanted[i]):
        return {owners[i] for i in range(n) if wanted[i]}, None
    return set(), ["softmax" if w else "linear" for w in wanted]


def _check_weight_order(ours, theirs, direction):
    """SpecError unless the numpynet model ``ours`` and the Keras model ``theirs`` list the same layers' weights in
    the same order with the same shapes (so that ``set_weights(other.get_weights())`` is right both ways)."""
    mine = [(layer.name, key, tuple(value.shape)) for layer in ours.layers for key, value in layer.params.items()]
    keras_side = [(layer.name, tuple(w.shape)) for layer in theirs.layers
                  if type(layer).__name__ != "InputLayer" for w in layer.weights]
    if [(name, shape) for name, _, shape in mine] != keras_side:
        shown_ours = ", ".join(f"{name}/{key} {shape}" for name, key, shape in mine)
        shown_keras = ", ".join(f"{name} {shape}" for name, shape in keras_side)
        raise SpecError(f"{direction}: Keras orders the weights of this graph differently from numpynet, so their "
                        f"get_weights() lists would not line up. numpynet: [{shown_ours}]; Keras: [{shown_keras}]")
    flat = [tuple(w.shape) for w in theirs.weights]
    if flat != [shape for _, _, shape in mine]:   # model.weights is what get_weights/set_weights use
        raise SpecError(f"{direction}: the Keras model's weights {flat} do not match numpynet's "
                        f"{[shape for _, _, shape in mine]}")


def _build_keras_graph(model):
    """(functional ``keras.Model``, softmax_added per output) for a graph model: a ``keras.Input`` per input, then
    every node's layer (converted once, so that a layer called twice stays one shared Keras layer) called on the
    converted tensors in execution order."""
    keras = _keras()
    dtype = np.dtype(model.dtype).name
    overrides, appended = _graph_softmax_plan(model)
    tensors = {id(t): keras.Input(shape=tuple(t.shape[1:]), dtype=dtype, name=t.node.layer.name)
               for t in model._inputs}
    converted = {}
    for node in model._nodes:
        layer = node.layer
        klayer = converted.get(id(layer))
        if klayer is None:
            klayer = converted[id(layer)] = keras_layer(
                layer, dtype=dtype, activation="softmax" if id(layer) in overrides else None)
        args = [tensors[id(t)] for t in node.inputs]
        tensors[id(node.output)] = klayer(args if layer.multi_input else args[0])
    outputs = [tensors[id(t)] for t in model._outputs]
    if appended is not None:
        taken = {t.node.layer.name for t in model._inputs} | {layer.name for layer in model.layers}
        for i, (tensor, act) in enumerate(zip(model._outputs, appended)):
            name = _unique_layer_name(f"{tensor.node.layer.name}_{act}", taken)
            taken.add(name)
            outputs[i] = keras.layers.Activation(act, dtype=dtype, name=name)(outputs[i])
    inputs = [tensors[id(t)] for t in model._inputs]
    kmodel = keras.Model(inputs if model._multi_in else inputs[0], outputs if model._multi_out else outputs[0],
                         name=model.name)
    _check_weight_order(model, kmodel, "to_keras")
    softmax_added = [id(t.node.layer) in overrides or (appended is not None and appended[i] == "softmax")
                     for i, t in enumerate(model._outputs)]
    return kmodel, softmax_added


def _unique_layer_name(base, taken):
    if base not in taken:
        return base
    return next(f"{base}_{i}" for i in range(1, 10**6) if f"{base}_{i}" not in taken)


def to_keras(model, labels=None, compile=True):
    """An equivalent Keras model with the same weights, compiled with the same optimizer and loss(es).

    A ``Sequential`` (or DFN) becomes a ``keras.Sequential``; a functional :class:`~numpynet.Model` becomes a
    functional ``keras.Model`` with the same graph: a ``keras.Input`` per input (same names), each layer converted
    once (a layer called twice stays one shared Keras layer) and called in execution order, merge layers as
    ``keras.layers.Add`` / ``Subtract`` / ``Multiply`` / ``Average`` / ``Concatenate(axis)``. Keras orders a
    graph's layers (and its get_weights()) as numpynet does; that is checked, a SpecError says so otherwise.

    ``labels``: "sparse" (integer labels) or "one_hot" — which Keras cross-entropy to use for the categorical
    losses (default: sparse, except one-hot for ``categorical_crossentropy``); a list gives one per output. The
    model must be built. Keras's floatx is set to the model's dtype (a warning says so when it changes).

    Outputs trained with the fused ``softmax_cross_entropy`` end in a softmax on the Keras side: the output layer
    takes ``activation="softmax"`` when it is linear (and, in a graph, called once with its output read by no
    other layer), otherwise an ``Activation("softmax")`` layer follows it (in a graph with several outputs, then
    an Activation — "linear" where no softmax is wanted — follows every output, which keeps the layer order).

    >>> kmodel = to_keras(model)                       # doctest: +SKIP
    >>> np.abs(kmodel.predict(X) - model.predict(X)).max()    # doctest: +SKIP
    1.1e-16

    One difference remains by construction: with ``softmax_cross_entropy`` numpynet applies an activity
    regularizer of the last layer to its logits, Keras (whose last layer now ends in the softmax) to the
    probabilities.
    """
    keras = _keras()
    dtype = np.dtype(model.dtype).name
    if keras.config.floatx() != dtype:
        warnings.warn(f"to_keras: setting keras.config.set_floatx({dtype!r}) to match the model (Keras trains "
                      f"{dtype} models only under that floatx)", UserWarning, stacklevel=2)
    _use_dtype(dtype)
    return _build_keras(model, labels=labels, compile=compile)[0]
