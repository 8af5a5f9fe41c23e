"""InputLayer and ``Input``: where a graph starts (Keras's ``keras.Input``)."""

from ..graph import Node, SymbolicTensor
from .base import Layer, registry, sample_shape


@registry.register("input_layer", "inputlayer")
class InputLayer(Layer):
    """The source of a graph: holds the input's shape (batch axis excluded); passes data through unchanged."""

    def __init__(self, shape, name=None):
        super().__init__(name=name)
        self.shape = sample_shape(shape, "Input", "shape")

    def compute_output_shape(self, input_shape):
        return (None,) + self.shape

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy


def Input(shape, name=None):
    """A symbolic input of ``shape`` (without the batch axis), as ``keras.Input``: ``x = nn.Input((32, 32, 1))``."""
    layer = InputLayer(shape, name=name)
    node = Node(layer, [])
    layer._inbound_nodes.append(node)
    layer.built = True
    layer.input_shape = layer.output_shape = (None,) + layer.shape
    node.output = SymbolicTensor(layer.output_shape, node, name or "input")
    return node.output
