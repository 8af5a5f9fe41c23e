"""Dense, Activation and Flatten: the layers of a feed-forward network."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..spec import check_bool, check_int
from .base import Layer, ScratchBuffer, activation_arg, registry


@registry.register("dense", "fully_connected", "linear_layer")
class Dense(Layer):
    """Fully connected layer ``y = act(x·W + b)``.

    Shapes: x (N, in), W (in, units), b (units,), y (N, units). Backward, with dz = act'(z) ⊙ dy:

        dW = xᵀ·dz        db = Σ_n dz        dx = dz·Wᵀ

    Inputs with more than two axes are treated like Keras: the product runs over the last axis.

    Pre-scaled gradients: while the model sets :attr:`grad_scale` to s (an optimizer step that takes s·g, see
    :meth:`numpynet.optimizers.Optimizer.apply_scaled_gradients`), backward stores

        dW = s·(xᵀ·dz) computed as xᵀ·(s·dz)  (or (s·x)ᵀ·dz when x is the smaller)        db = 1ᵀ·(s·dz)

    so the scaling is one pass over a batch-sized array instead of one over the kernel; dx = dz·Wᵀ stays unscaled.
    With ``grad_scale`` None (the default, and always outside a training step) ``grads`` hold the plain gradients.
    """

    #: s while the model runs a pre-scaled training step (grads then hold s·dL/dW), else None
    grad_scale = None

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, name=None, trainable=True, seed=None):
        super().__init__(name=name, trainable=trainable, seed=seed, activity_regularizer=activity_regularizer)
        self.units = check_int("Dense", "units", units, minimum=1)
        self.activation = activation_arg("Dense", activation)
        self.use_bias = check_bool("Dense", "use_bias", use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        # Set by the model when this is the last layer and the loss works from logits (fused softmax + CE):
        # forward then returns z and the loss applies the activation itself.
        self.output_logits = False

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(f"layer {self.name!r} (Dense) needs inputs with a batch and a feature axis, "
                             f"got shape {tuple(input_shape)}")
        n_in = input_shape[-1]
        self.add_weight("W", (n_in, self.units), self.kernel_initializer, self.kernel_regularizer,
                        self.kernel_constraint)
        if self.use_bias:
            self.add_weight("b", (self.units,), self.bias_initializer, self.bias_regularizer, self.bias_constraint)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False):
        self.x = x
        z = x @ self.params["W"]
        if self.use_bias:
            z += self.params["b"]
        self.z = z
        self.y = z if self.output_logits else self.activation.forward(z)
        return self.y

    def _ones_like_batch(self, dz2):
        ones = getattr(self, "_ones", None)
        if ones is None or ones.shape[0] != dz2.shape[0] or ones.dtype != dz2.dtype:
            ones = self._ones = np.ones(dz2.shape[0], dtype=dz2.dtype)
        return ones

    def _scaled_buffer(self, like):
        """Scratch array for s·dz (or s·x), kept from batch to batch."""
        buf = self.__dict__.get("_scaled")
        if buf is None:
            buf = self._scaled = ScratchBuffer()
        return buf.get(like.shape, like.dtype)

    def backward(self, dy):
        dz = dy if self.output_logits else self.activation.backward(dy, self.z, self.y)
        x2 = self.x.reshape(-1, self.x.shape[-1])
        dz2 = dz.reshape(-1, self.units)
        if "W" in self.grads:
            s = self.grad_scale
            if s is None:
                np.matmul(x2.T, dz2, out=self.grads["W"])
                db_from = dz2
            elif dz2.size <= x2.size or self.use_bias:
                db_from = np.multiply(dz2, s, out=self._scaled_buffer(dz2))           # s·dz
                np.matmul(x2.T, db_from, out=self.grads["W"])
            else:
                np.matmul(np.multiply(x2, s, out=self._scaled_buffer(x2)).T, dz2, out=self.grads["W"])
                db_from = None
            if self.use_bias:   # db = 1ᵀ·dz: a BLAS product, ~3x faster than dz.sum(axis=0) on short columns
                np.matmul(self._ones_like_batch(dz2), db_from, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        return dz @ self.params["W"].T


@registry.register("activation")
class Activation(Layer):
    """Applies an activation function on its own: ``y = f(x)``, ``dx = f'(x) ⊙ dy``."""

    def __init__(self, activation, name=None, activity_regularizer=None):
        super().__init__(name=name, activity_regularizer=activity_regularizer)
        self.activation = activation_arg("Activation", activation)
        self.output_logits = False

    def forward(self, x, training=False):
        self.x = x
        self.y = x if self.output_logits else self.activation.forward(x)
        return self.y

    def backward(self, dy):
        return dy if self.output_logits else self.activation.backward(dy, self.x, self.y)


@registry.register("flatten")
class Flatten(Layer):
    """Reshapes (N, d1, d2, ...) to (N, d1·d2·...); backward reshapes the gradient back."""

    def __init__(self, name=None):
        super().__init__(name=name)

    def compute_output_shape(self, input_shape):
        size = 1
        for d in input_shape[1:]:
            size = None if (d is None or size is None) else size * d
        return (input_shape[0], size)

    def forward(self, x, training=False):
        self.in_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.in_shape)


def takes_grad_scale(layer):
    """Whether ``layer`` stores pre-scaled gradients while its ``grad_scale`` is set: a :class:`Dense` running
    Dense's own backward (a subclass or an instance that replaces ``backward`` may not know about the scale)."""
    return (isinstance(layer, Dense) and type(layer).backward is Dense.backward
            and "backward" not in vars(layer))
