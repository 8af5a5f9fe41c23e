"""The functional API's graph: symbolic tensors, the nodes that produce them, and the order to run them in.

Calling a layer on a :class:`SymbolicTensor` (what :func:`Input` returns) records a :class:`Node` — "this layer,
applied to these tensors" — and returns the node's output, another symbolic tensor with the inferred shape. No
number is computed. ``Model(inputs, outputs)`` then walks the nodes back from the outputs and fixes two orders:

* the **execution order**: every node after the nodes it reads from (a post-order walk from the outputs); the
  forward pass runs it front to back, the backward pass back to front, so a tensor's gradient is complete (summed
  over every consumer) before the node that produced it sees it;
* the **layer order** of ``model.layers`` and ``get_weights()``, which is Keras's: layers sorted by depth (the
  longest path to an output), deepest first, ties broken by the order in which a depth-first walk from the outputs
  first meets them (a merge layer's inputs left to right). Copying weights to and from Keras depends on it.

Both walks use an explicit stack, so a chain of thousands of layers needs no recursion.
"""

from __future__ import annotations

from .errors import ShapeError, SpecError


class SymbolicTensor:
    """A placeholder for the array a layer will produce: its shape (batch axis ``None``) and where it comes from.

    ``node`` is the :class:`Node` that produces it (for an :func:`Input`, the input layer's node).
    """

    def __init__(self, shape, node, name):
        self.shape = tuple(shape)
        self.node = node
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        shown = tuple("None" if s is None else s for s in self.shape)
        return f"<SymbolicTensor {self.name!r} shape=({', '.join(map(str, shown))})>"


class Node:
    """One call of ``layer`` on ``inputs`` (a list of symbolic tensors), producing the tensor ``output``."""

    def __init__(self, layer, inputs):
        self.layer = layer
        self.inputs = list(inputs)
        self.output = None

    @property
    def is_input(self):
        return not self.inputs


def as_tensor_list(value, what):
    """A list of symbolic tensors from one tensor or a list/tuple of them; a SpecError naming ``what`` otherwise."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items or not all(isinstance(t, SymbolicTensor) for t in items):
        raise SpecError(f"{what} must be a symbolic tensor (from nn.Input or a layer called on one) or a list of "
                        f"them, got {value!r}")
    return items


def call_symbolic(layer, inputs):
    """Record ``layer(inputs)`` in the graph and return the output tensor with its inferred shape.

    Shapes are checked here, when the graph is written, so that an Add of (8, 8, 16) and (8, 8, 24) fails before
    any data is touched.
    """
    tensors = as_tensor_list(inputs, f"the input of layer {layer.label!r}")
    multi = getattr(layer, "multi_input", False)
    if not multi and len(tensors) != 1:
        raise SpecError(f"layer {layer.label!r} ({type(layer).__name__}) takes one input "
                        f"tensor, got {len(tensors)}")
    shapes = [t.shape for t in tensors]
    shape_arg = shapes if multi else shapes[0]
    layer.check_input_shape(shape_arg)
    try:
        out_shape = layer.compute_output_shape(shape_arg)
    except (IndexError, TypeError, ValueError) as exc:
        if isinstance(exc, (ShapeError, SpecError)):
            raise
        raise ShapeError(f"layer {layer.label!r} ({type(layer).__name__}) cannot take "
                         f"inputs of shape {shape_text(shape_arg)}: {exc}") from None
    node = Node(layer, tensors)
    layer._inbound_nodes.append(node)
    node.output = SymbolicTensor(out_shape, node, f"{layer.name or type(layer).__name__.lower()}_output")
    return node.output


def shape_text(shape):
    """``(batch, 8, 8, 16)`` for a shape with the batch axis None; a list of shapes joined by commas."""
    if isinstance(shape, list):
        return ", ".join(shape_text(s) for s in shape)
    return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def walk(inputs, outputs):
    """(nodes in execution order, layers in Keras's order) of the graph from ``inputs`` to ``outputs``.

    Raises a SpecError for a graph whose outputs need an input that is not among ``inputs``, or an input that no
    output depends on.
    """
    input_nodes = {id(t.node): t for t in inputs}
    visit_order = {}     # layer -> index of its first visit (pre-order, outputs first, inputs left to right)
    execution = []       # nodes, post-order: each after the nodes it reads from
    finished, in_progress = set(), set()
    for out in outputs:
        stack = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                in_progress.discard(id(node))
                finished.add(id(node))
                execution.append(node)
                continue
            if id(node) in finished:
                continue
            if id(node) in in_progress:   # cannot happen with layers called on existing tensors; kept as a guard
                raise SpecError(f"the graph has a cycle through layer {node.layer.name!r}")
            visit_order.setdefault(node.layer, len(visit_order))
            in_progress.add(id(node))
            stack.append((node, True))
            if id(node) in input_nodes:
                continue
            if node.is_input:
                raise SpecError(f"the model's outputs depend on input {node.output.name!r} "
                                f"{node.output.shape}, which is not in inputs=[...]; add it to the model's inputs")
            # pushed in reverse so that the first input is walked first, as Keras does
            for tensor in reversed(node.inputs):
                if id(tensor.node) not in finished:
                    stack.append((tensor.node, False))
    for t in inputs:
        if id(t.node) not in finished:
            raise SpecError(f"input {t.name!r} {t.shape} is not connected to any output; remove it from inputs or "
                            f"use it")
    return execution, _keras_layer_order(execution, visit_order)


def _keras_layer_order(execution, visit_order):
    """Layers sorted by depth (longest path to an output), deepest first; equal depths by first visit."""
    node_depth, layer_depth = {}, {}
    for node in reversed(execution):        # outputs first: a node's depth is final before its inputs are seen
        depth = max(node_depth.get(id(node), 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[id(node)] = depth
        for tensor in node.inputs:
            node_depth[id(tensor.node)] = max(node_depth.get(id(tensor.node), 0), depth + 1)
    return sorted(layer_depth, key=lambda layer: (-layer_depth[layer], visit_order[layer]))


def check_unique_names(layers):
    seen = {}
    for layer in layers:
        if layer.name in seen and seen[layer.name] is not layer:
            raise SpecError(f"two different layers are both named {layer.name!r}; layer names must be unique in a "
                            f"model")
        seen[layer.name] = layer


def check_shape_compatible(layer, expected, got):
    """ShapeError unless ``got`` fits ``expected`` (None matches anything)."""
    if len(expected) != len(got) or any(e is not None and g is not None and e != g
                                        for e, g in zip(expected[1:], got[1:])):
        shown = tuple("batch" if e is None else e for e in expected)
        raise ShapeError(f"layer {layer.name!r} was built for inputs of shape {shown}, got {tuple(got)}")
