"""Sequential and DFN: a stack of layers, the special case of a graph :class:`Model` with one input and one output.

The arithmetic of one training step is written out in :mod:`numpynet.core.functional`; the loop over
epochs and batches is :mod:`numpynet.core.training`.
"""

from __future__ import annotations

import numpy as np

from . import graph as _graph
from . import layers as _layers
from .errors import ShapeError, SpecError
from .functional import Model, _unique_name
from .inference import INFERENCE_BATCH, INFERENCE_MEMORY
from .inputs import check_inputs
from .layers.base import layer_to_json
from .spec import check_int, check_number


class Sequential(Model):
    """A linear stack of layers: the special case of :class:`Model` with one input and one output.

    >>> model = Sequential([Dense(200, activation="sigmoid", kernel_regularizer="l2(lambd=0.01)"), Dense(10)],
    ...                    seed=0)
    >>> model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy", metrics=["accuracy"])
    >>> hist = model.fit(X, y, epochs=20, batch_size=64, validation_split=0.1)

    The weights are built from the first data seen (or ``build((None, 784))``), or at once when the input shape is
    known: ``Sequential([nn.Input((784,)), ...])`` or ``Dense(200, input_shape=(784,))`` as the first layer.
    """

    _is_stack = True

    def __init__(self, layers=None, seed=None, dtype=None, name=None):
        super().__init__(seed=seed, dtype=dtype, name=name or "sequential")
        self._multi_in = self._multi_out = False
        self._input_hint = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, _graph.SymbolicTensor):
            if self.layers or self._input_hint is not None:
                raise SpecError("Sequential: an nn.Input can only come first")
            self._input_hint = layer.shape[1:]
            return
        layer = _layers.get(layer)
        if isinstance(layer, _layers.InputLayer):
            return self.add(_layers.Input(layer.shape))
        if layer.multi_input:
            raise SpecError(f"Sequential: layer {type(layer).__name__} takes several inputs; use the functional "
                            f"API (nn.Input, nn.Model) for graphs")
        if layer.name is None:
            base = layer.spec_name or type(layer).__name__.lower()
            layer.name = _unique_name(base, {lyr.name for lyr in self.layers})
        if not self.layers and self._input_hint is None and layer.input_shape_hint is not None:
            self._input_hint = layer.input_shape_hint
        self.layers.append(layer)
        self.built = False
        if self._input_hint is not None:
            self.build((None,) + tuple(self._input_hint))

    def build(self, input_shape):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis first; None allowed)."""
        if not self.layers:
            raise ShapeError("the model has no layers; add some with model.add(...) or Sequential([...])")
        x = inp = _layers.Input(tuple(input_shape[1:]), name="input")
        for layer in self.layers:
            x = layer(x)
        self._init_graph([inp], [x], name_layers=False)
        return self

    def _ensure_built(self, xs):
        if not self.layers:
            raise ShapeError("the model has no layers; add some with model.add(...) or Sequential([...])")
        if not self.built:
            self.build(xs[0].shape)
        super()._ensure_built(xs)

    def get_config(self):
        return {"class": "Sequential", "name": self.name, "seed": self.seed,
                "dtype": np.dtype(self.dtype).name,
                "layers": [layer_to_json(layer) for layer in self.layers],
                "input_shape": list(self.input_shape) if self.built else None,
                "compile": self._compile_config()}


def dfn_layers(hidden_dims, n_outputs, activation="sigmoid", regularizer=None, init_w="glorot_uniform",
               init_b="zeros", dropout=0.0, batchnorm=False, bn_momentum=None):
    """The one recipe of a deep feed-forward network, as a list of layers (DFN, the experiments' grids and the
    scikit-learn estimators all build from it):

        per hidden width h:  Dense(h, activation)                                  (batchnorm=False)
                             Dense(h, no bias) → BatchNormalization → Activation   (batchnorm=True: normalize
                                                                                    before the nonlinearity; β
                                                                                    makes the bias redundant)
                             then Dropout(dropout) when dropout > 0
        output:              Dense(n_outputs), linear (the loss applies softmax / nothing)

    ``regularizer`` goes on every kernel; ``init_w`` / ``init_b`` initialize every Dense layer.
    """
    layers = []
    for h in hidden_dims:
        if batchnorm:
            bn = {} if bn_momentum is None else {"momentum": float(bn_momentum)}
            layers += [_layers.Dense(h, use_bias=False, kernel_initializer=init_w, kernel_regularizer=regularizer),
                       _layers.BatchNormalization(**bn), _layers.Activation(activation)]
        else:
            layers.append(_layers.Dense(h, activation=activation, kernel_initializer=init_w,
                                        bias_initializer=init_b, kernel_regularizer=regularizer))
        if dropout > 0:
            layers.append(_layers.Dropout(rate=float(dropout)))
    layers.append(_layers.Dense(n_outputs, kernel_initializer=init_w, bias_initializer=init_b,
                                kernel_regularizer=regularizer))
    return layers


class DFN(Sequential):
    """Deep feed-forward network: Dense hidden layers and a linear output trained with fused softmax cross-entropy.

    ``DFN(hidden_dims=(200,), n_classes=10, activation="sigmoid", optimizer="sgd(lr=0.1)",
    regularizer="l2(lambd=0.01)", init_w="std_normal", seed=0)`` is the Sequential model
    Dense(200, sigmoid) → Dense(10) with the regularizer on every kernel, compiled with the optimizer,
    ``loss="softmax_cross_entropy"`` and ``metrics=["accuracy"]``. ``dropout`` > 0 adds Dropout after each hidden
    layer.
    """

    def __init__(self, hidden_dims=(200,), n_classes=10, activation="sigmoid", optimizer="sgd(lr=0.1)",
                 regularizer=None, init_w="glorot_uniform", init_b="zeros", dropout=0.0,
                 loss="softmax_cross_entropy", metrics=("accuracy",), seed=None, dtype=None, name="dfn"):
        super().__init__(seed=seed, dtype=dtype, name=name)
        if isinstance(hidden_dims, (int, np.integer)) and not isinstance(hidden_dims, (bool, np.bool_)):
            hidden_dims = (hidden_dims,)
        if not isinstance(hidden_dims, (list, tuple)):
            raise SpecError(f"DFN: argument 'hidden_dims' must be a tuple of layer widths such as (200,) or "
                            f"(128, 64), got {hidden_dims!r} ({type(hidden_dims).__name__})")
        self.hidden_dims = tuple(check_int("DFN", f"hidden_dims[{i}]", h, minimum=1) for i, h in enumerate(hidden_dims))
        self.n_classes = check_int("DFN", "n_classes", n_classes, minimum=1)
        self.activation = activation
        self.regularizer = regularizer
        self.init_w = init_w
        self.init_b = init_b
        self.dropout = check_number("DFN", "dropout", dropout, minimum=0.0, maximum=1.0)
        if self.dropout == 1.0:
            raise SpecError(f"DFN: argument 'dropout' must be in [0, 1), got {dropout!r}")
        for layer in dfn_layers(self.hidden_dims, self.n_classes, activation=activation, regularizer=regularizer,
                                init_w=init_w, init_b=init_b, dropout=self.dropout):
            self.add(layer)
        self.compile(optimizer=optimizer, loss=loss, metrics=metrics)

    def get_config(self):
        config = super().get_config()
        config["class"] = "DFN"
        config["dfn"] = {"hidden_dims": list(self.hidden_dims), "n_classes": self.n_classes,
                         "activation": str(self.activation), "regularizer": None if self.regularizer is None
                         else str(self.regularizer), "init_w": str(self.init_w), "init_b": str(self.init_b),
                         "dropout": self.dropout}
        return config


__all__ = ["Model", "Sequential", "DFN", "dfn_layers", "check_inputs", "INFERENCE_BATCH", "INFERENCE_MEMORY"]
