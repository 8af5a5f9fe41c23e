"""The layer protocol every numpynet layer follows.

A layer is three small methods, as in Keras (``build`` / ``call``) plus the backward pass written out:

* ``build(input_shape)`` creates the parameters once the input shape is known (``input_shape`` includes the batch
  axis as ``None``). Parameters live in ``layer.params`` under Keras's names ("W", "b", "gamma", "beta", ...);
  ``add_weight`` records their initializer, regularizer and constraint.
* ``forward(x, training)`` computes the output and caches what ``backward`` needs (never recomputed).
* ``backward(dy)`` receives dL/d(output), fills ``layer.grads`` (same keys as the trainable params) and returns
  dL/d(input). When ``layer.needs_input_grad`` is False (the first layer of a model) it may return ``None`` and skip
  that matrix product.

Regularization penalties are *not* the layer's business during backward: the model adds ``regularization_loss()``
to the data loss and ``add_regularization_grads()`` to the gradients, once per batch.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from .. import activations as _activations
from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ..errors import ShapeError, SpecError
from ..spec import Configurable, Registry, check_bool, check_seed, to_json


@functools.cache
def _takes_out(reg_class):
    """Whether ``reg_class.grad`` accepts ``out=`` (the built-in regularizers do; a user's may not). Read from the
    signature once per class, not by catching TypeError, which would also swallow a real bug inside ``grad``."""
    try:
        parameters = inspect.signature(reg_class.grad).parameters
    except (TypeError, ValueError):
        return False
    return "out" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


class ScratchBuffer:
    """A scratch array reused from batch to batch (a fresh large allocation costs page faults every time).

    Arrays above ``limit`` bytes (e.g. the columns of a 4096-image inference batch) are handed out fresh and not
    kept, so one big ``predict`` does not pin hundreds of megabytes for the rest of the session.
    """

    limit = 64 * 2**20

    def __init__(self):
        self.array = None

    def get(self, shape, dtype):
        """An array of this shape and dtype, with whatever the previous user left in it."""
        if self.array is not None and self.array.shape == shape and self.array.dtype == dtype:
            return self.array
        array = np.empty(shape, dtype=dtype)
        self.array = array if array.nbytes <= self.limit else None
        return array


class Layer(Configurable):
    """Base class: parameter bookkeeping, shapes, config round trip. Subclasses write build/forward/backward.

    Calling a layer, as in Keras, either writes the graph or computes: ``layer(tensor)`` on a symbolic tensor (from
    ``nn.Input``) records the call and returns a symbolic tensor; ``layer(array)`` builds the layer if needed and
    returns ``forward(array)``. Every layer also accepts ``input_shape=`` (without the batch axis), which makes
    the first layer of a Sequential model fix its input, as in Keras.
    """

    #: True for layers called on a list of tensors (merge layers): forward gets a list, backward returns a list
    multi_input = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _accept_input_shape(cls.__dict__["__init__"])

    def __init__(self, name=None, trainable=True, seed=None, activity_regularizer=None):
        owner = type(self).__name__
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise SpecError(f"{owner}: argument 'name' must be a non-empty string or None, got {name!r}")
        self.name = name
        self.trainable = check_bool(owner, "trainable", trainable)
        self.seed = check_seed(owner, seed)
        self.activity_regularizer = _resolve(owner, "activity_regularizer", activity_regularizer)
        self.params = {}          # name -> array (trainable and non-trainable, in Keras get_weights order)
        self.grads = {}           # name -> array, trainable params only
        self.regularizers = {}    # name -> Regularizer
        self.constraints = {}     # name -> Constraint
        self._reg_scratch = {}    # name -> array reused by add_regularization_grads
        self.trainable_names = []
        self.built = False
        self.input_shape = None   # with the batch axis as None
        self.output_shape = None
        self.dtype = np.float32
        self.needs_input_grad = True
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self._inbound_nodes = []  # graph nodes of the symbolic calls of this layer
        if not hasattr(self, "input_shape_hint"):
            self.input_shape_hint = None

    @property
    def label(self):
        """The layer's name, or its class name before it has one (errors raised while a graph is written)."""
        return self.name or type(self).__name__

    # ------------------------------------------------------------------ calling
    def __call__(self, inputs, training=False):
        """``layer(symbolic_tensor)`` → symbolic tensor (graph); ``layer(array)`` → ``forward(array)``."""
        from ..graph import SymbolicTensor, call_symbolic
        first = inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs
        if isinstance(first, SymbolicTensor):
            return call_symbolic(self, inputs)
        arrays = [np.asarray(x) for x in inputs] if self.multi_input else np.asarray(inputs)
        sample = arrays[0] if self.multi_input else arrays
        if not self.built:
            self.dtype = sample.dtype.type if sample.dtype.kind == "f" else self.dtype
            shapes = [(None,) + a.shape[1:] for a in arrays] if self.multi_input else (None,) + sample.shape[1:]
            self.check_input_shape(shapes)
            self.build(shapes)
        if self.multi_input:
            arrays = [a.astype(self.dtype, copy=False) for a in arrays]
        else:
            arrays = arrays.astype(self.dtype, copy=False)
        return self.forward(arrays, training=bool(training))

    def check_input_shape(self, input_shape):
        """Raise a ShapeError naming this layer if it cannot take inputs of ``input_shape`` (checked when the
        graph is written). The default checks the shape this layer was built for, if it was, and that the
        layer's activation fits the rank (``softmax(axis=...)``); subclasses add rank checks."""
        if self.multi_input:
            return
        self._check_activation_rank(len(tuple(input_shape)))
        if self.built and self.input_shape is not None:
            from ..graph import check_shape_compatible
            check_shape_compatible(self, self.input_shape, tuple(input_shape))

    def _check_activation_rank(self, ndim):
        # Every layer with an activation keeps the rank of its input, so the input's rank is the output's.
        check = getattr(getattr(self, "activation", None), "check_rank", None)
        if callable(check):
            check(ndim, f"the input of layer {self.label!r} ({type(self).__name__})")

    # ------------------------------------------------------------------ setup used by models
    def set_rng(self, rng):
        """Give the layer its random generator (the model's), unless the layer was created with its own seed."""
        if self.seed is None:
            self._rng = rng

    @property
    def rng(self):
        if self._rng is None:
            self._rng = np.random.default_rng()
        return self._rng

    #: Set on a throw-away layer to build it for its shapes only: ``add_weight`` then records each weight as a
    #: zero-stride view of a single zero (no memory, whatever the shape). :func:`numpynet.io.load_model` uses it
    #: to learn the weight shapes a file's config implies before it reads (or allocates) anything.
    shapes_only = False

    def add_weight(self, name, shape, initializer="zeros", regularizer=None, constraint=None, trainable=True):
        """Create parameter ``name`` with the initializer, and remember its regularizer/constraint."""
        dims = tuple(shape)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in dims):
            raise ShapeError(f"layer {self.label!r}: weight {name!r} would have shape {dims}")
        if self.shapes_only:
            value = np.lib.stride_tricks.as_strided(np.zeros(1, self.dtype), shape=dims, strides=(0,) * len(dims))
            self.params[name] = value
            if trainable and self.trainable:
                self.trainable_names.append(name)
            return value
        init = _initializers.get(initializer)
        value = np.asarray(init(tuple(int(s) for s in dims), dtype=self.dtype, rng=self.rng), dtype=self.dtype)
        self.params[name] = value
        reg = _regularizers.get(regularizer)
        con = _constraints.get(constraint)
        if reg is not None:
            self.regularizers[name] = reg
        if con is not None:
            self.constraints[name] = con
        if trainable and self.trainable:
            self.trainable_names.append(name)
            self.grads[name] = np.zeros_like(value)
        return value

    def build(self, input_shape):
        """Create parameters for inputs of ``input_shape`` (batch axis first, may be None)."""
        if not self.multi_input:
            self._check_activation_rank(len(tuple(input_shape)))
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(self.compute_output_shape(self.input_shape))
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def check_input(self, x):
        """Raise a ShapeError naming this layer if ``x`` does not match the shape it was built for."""
        expected = self.input_shape
        if expected is not None and (x.ndim != len(expected)
                                     or any(e is not None and e != s for e, s in zip(expected[1:], x.shape[1:]))):
            shown = tuple("batch" if e is None else e for e in expected)
            raise ShapeError(f"layer {self.name!r} expected input of shape {shown}, got {x.shape}")

    # ------------------------------------------------------------------ the pass
    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    # ------------------------------------------------------------------ regularization and constraints
    def regularization_loss(self):
        """Sum of the penalties on this layer's parameters (activity penalties are added by the model)."""
        return float(sum(reg.loss(self.params[name]) for name, reg in self.regularizers.items()))

    def add_regularization_grads(self):
        for name, reg in self.regularizers.items():
            if name in self.grads:
                self.grads[name] += self._regularizer_grad(reg, self.params[name], name)

    def _regularizer_grad(self, reg, W, name):
        """dR/dW written into a scratch array kept across batches (a fresh W-sized temporary on every batch costs
        more than the arithmetic); regularizers whose ``grad`` takes no ``out=`` return a new array."""
        scratch = self._reg_scratch.get(name)
        if scratch is None or scratch.shape != W.shape or scratch.dtype != W.dtype:
            scratch = self._reg_scratch[name] = np.empty_like(W)
        return reg.grad(W, out=scratch) if _takes_out(type(reg)) else reg.grad(W)

    def apply_constraints(self):
        for name, con in self.constraints.items():
            self.params[name][...] = con(self.params[name])

    def __getstate__(self):
        """Pickle (joblib, dask) without the arrays cached by the last forward pass: only weights travel.

        Every ndarray held directly on the layer is a cache (x, z, y, im2col columns, masks) recreated by the next
        forward; the weights live in ``params``/``grads``.
        """
        state = self.__dict__.copy()
        state["_reg_scratch"] = {}
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                state[key] = None
            elif isinstance(value, ScratchBuffer):   # scratch space: keep the object, drop its array
                state[key] = type(value)()
        return state

    # ------------------------------------------------------------------ weights
    def get_weights(self):
        return [self.params[k] for k in self.params]

    def set_weights(self, weights):
        if len(weights) != len(self.params):
            raise ShapeError(f"layer {self.name!r} has {len(self.params)} weight arrays, got {len(weights)}")
        for key, value in zip(list(self.params), weights):
            value = np.asarray(value)
            if value.shape != self.params[key].shape:
                raise ShapeError(f"layer {self.name!r} weight {key!r}: expected shape {self.params[key].shape}, "
                                 f"got {value.shape}")
            self.params[key][...] = value

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    def get_config(self):
        """Constructor arguments; initializer/regularizer/constraint/activation objects as their spec strings."""
        config = super().get_config()
        for key, value in config.items():
            if (key.endswith(_OBJECT_SUFFIXES) and value is not None
                    and not isinstance(value, (str, int, float))):
                config[key] = str(value)
        return config


_OBJECT_SUFFIXES = ("_initializer", "_regularizer", "_constraint", "activation")


def _accept_input_shape(init):
    """Wrap a layer's ``__init__`` so that it also takes Keras's ``input_shape=`` (kept as ``input_shape_hint``,
    not part of the config: a model stores its input shape itself). ``functools.wraps`` keeps the signature that
    specs and ``get_config`` read."""
    @functools.wraps(init)
    def __init__(self, *args, input_shape=None, **kwargs):
        init(self, *args, **kwargs)
        _check_specs(self, init)
        if input_shape is not None:
            self.input_shape_hint = sample_shape(input_shape, type(self).__name__, "input_shape")
    return __init__


_FAMILIES = (("_initializer", _initializers), ("_regularizer", _regularizers), ("_constraint", _constraints))


def _resolve(owner, arg, value):
    """The object a layer argument names (``kernel_regularizer="l2(lambd=0.01)"``), or a SpecError naming the
    argument."""
    for suffix, family in _FAMILIES:
        if arg.endswith(suffix):
            try:
                return family.get(value)
            except SpecError as exc:
                raise SpecError(f"{owner}: argument {arg!r}: {exc}") from None
    raise AssertionError(arg)


def activation_arg(owner, spec):
    """The activation a layer's ``activation`` argument names, or a SpecError that names the argument."""
    try:
        return _activations.get(spec)
    except SpecError as exc:
        raise SpecError(f"{owner}: argument 'activation': {exc}") from None


def _check_specs(layer, init):
    """Resolve every initializer/regularizer/constraint argument once, at construction, so that a bad spec is an
    error where it is written rather than when the model is first built. The layer keeps the value as given
    (``get_config`` writes it back as a spec); ``build`` resolves it again."""
    owner = type(layer).__name__
    for param in inspect.signature(init).parameters:
        if param.endswith(("_initializer", "_regularizer", "_constraint")) and hasattr(layer, param):
            value = getattr(layer, param)
            if value is not None:
                _resolve(owner, param, value)


def sample_shape(shape, owner, arg):
    """The shape of one sample (no batch axis) as a tuple of positive integers or None; an int means (int,)."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not shape or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape):
        raise SpecError(f"{owner}: argument '{arg}' must be a non-empty tuple of positive integers (or None), "
                        f"without the batch axis, e.g. (32, 32, 1); got {shape!r}")
    return tuple(shape)


registry = Registry("layer", Layer)


def layer_to_json(layer):
    """``{"name", "config"}`` of a layer; a user class not in the registry is named by its class name (and must
    then be passed as ``custom_objects=`` when loading)."""
    spec = to_json(layer)
    spec["name"] = registry.name_of(type(layer)) or type(layer).__name__
    return spec


def register(name, *aliases):
    """Class decorator that makes a user-written layer known by name, so that specs and saved models can use it:

    >>> @nn.layers.register("scale_by_two")
    ... class ScaleByTwo(nn.layers.Layer):
    ...     def forward(self, x, training=False): return 2 * x
    ...     def backward(self, dy): return 2 * dy

    Names are only ever looked up in this registry (or a ``custom_objects=`` dict), never imported.
    """
    return registry.register(name, *aliases)


def get(identifier):
    """A layer from a spec string such as ``"dense(64, activation='relu')"`` or a config dict."""
    return registry.get(identifier)
