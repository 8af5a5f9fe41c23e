"""Bridge to Keras 3: the same model on both sides, and a table of how far apart their numbers are.

TensorFlow and Keras are optional (the ``keras`` extra): they are imported inside the functions below, never when
``numpynet`` is imported.

* :func:`to_keras` builds the equivalent compiled Keras model with the same weights: a ``keras.Sequential`` for
  a Sequential model, a functional ``keras.Model`` (same graph, same layer and weight order) for a graph model.
* :func:`from_keras` does the reverse for Sequential and functional Keras models made of supported layers.
* :func:`compare` runs both sides on one batch and tabulates the largest differences in outputs, loss, gradients
  and weights after one training step.

The modules, by concept: :mod:`.backend` (lazy imports, device, dtype, errors), :mod:`.objects` (activations,
regularizers, constraints, initializers, schedules, optimizers, losses, metrics — one table per family, read
both ways), :mod:`.layers` (one table of layers, read both ways), :mod:`.numpynet_to_keras` and
:mod:`.keras_to_numpynet` (models), :mod:`.parity` (:func:`compare`).

Conventions of the translation (numpynet → Keras):

========================================  =====================================================================
numpynet                                  Keras
========================================  =====================================================================
``l2(lambd=λ)`` (½·λ·Σw²)                 ``L2(λ/2)`` (Keras has no ½)
``l2(l2=λ)`` (λ·Σw²)                      ``L2(λ)``
``l1(lambd=λ)`` / ``l1(l1=λ)``            ``L1(λ)``
``l1l2(l1=a, l2=b)``                      ``L1L2(l1=a, l2=b)``
``softmax_cross_entropy`` (fused, the     last layer gets ``activation="softmax"`` (or an ``Activation("softmax")``
last layer outputs logits)                layer is appended when its activation is not linear) and the loss is
                                          ``SparseCategoricalCrossentropy()`` for integer labels or
                                          ``CategoricalCrossentropy()`` for one-hot labels. Keras then computes the
                                          loss from the logits (no clipping), exactly as numpynet; ``predict`` gives
                                          probabilities on both sides.
``categorical_crossentropy(...)``         ``CategoricalCrossentropy(...)`` (integer labels are one-hot encoded by
                                          :func:`compare`; ``labels="sparse"`` picks the sparse Keras loss)
``std_normal(scale=s)``                   ``RandomNormal(0, s)``
activation with non-default arguments     a small named function calling the Keras activation with them
(``leaky_relu(negative_slope=0.1)``)
layer ``MaxPool2D``, ``Dense``, ...       ``MaxPooling2D``, ``Dense``, ... (:data:`.layers._LAYERS`: the others by
                                          the same name), same arguments
========================================  =====================================================================

The other direction reads the same tables backwards: Keras ``L2(λ)`` becomes ``l2(l2=λ)`` (same meaning),
``MaxPooling2D`` becomes ``MaxPool2D``, and what has no numpynet counterpart is a SpecError naming it.

Keras 3 trains a float64 model only when ``keras.config.floatx()`` is ``"float64"`` (the loss and the penalties
are summed in floatx), so :func:`to_keras` sets Keras's floatx (and its global dtype policy, which Keras otherwise
keeps from the first layer ever built) to the model's dtype, with a warning when floatx has to change;
:func:`compare` restores both afterwards, and :func:`keras_dtype` is the same as a context manager.
"""

from .backend import configure_tensorflow, keras_dtype
from .keras_to_numpynet import from_keras
from .layers import keras_layer
from .numpynet_to_keras import to_keras
from .objects import (
                      keras_activation,
                      keras_constraint,
                      keras_initializer,
                      keras_loss,
                      keras_optimizer,
                      keras_regularizer,
                      keras_schedule,
)
from .parity import ROUNDING_LEVEL, Comparison, compare

__all__ = ["to_keras", "from_keras", "compare", "Comparison", "configure_tensorflow", "keras_dtype",
           "keras_activation",
           "keras_regularizer", "keras_constraint", "keras_initializer", "keras_schedule", "keras_optimizer",
           "keras_loss", "keras_layer", "ROUNDING_LEVEL"]
