# %% [markdown]
# # 5 · Comparing against Keras
#
# `numpynet.keras_bridge.compare(model, X, y)` builds the Keras twin of a numpynet model (`to_keras`: same layers,
# same weights, same loss and optimizer), runs both on one batch and tabulates the largest differences: the outputs,
# the total loss (data + penalties), the gradient of every weight, and every weight after one training step. In
# float64 they agree to about 1e-12 or better.
#
# TensorFlow is optional (`pip install 'numpynet[keras]'`); without it this notebook says so and skips the
# comparisons.

# %%
# %matplotlib inline
import numpy as np

import numpynet as nn
from numpynet import experiments as ex
from numpynet import plots

FAST = ex.fast_mode()            # NUMPYNET_FAST=1: small data, few epochs (CI)
DATA = ex.resolve_data_name("auto")   # Fashion-MNIST when installed, else scikit-learn's 8x8 digits
print(f"fast mode: {FAST}, data: {DATA}")

# %%
try:
    import tensorflow as tf
    from numpynet.keras_bridge import compare, configure_tensorflow, to_keras
    configure_tensorflow("CPU")
    HAVE_TF = True
    print(f"TensorFlow {tf.__version__}")
except ImportError:
    HAVE_TF = False
    print("TensorFlow is not installed: skipping the Keras comparisons (pip install 'numpynet[keras]').")

# %%
data = ex.load_data(DATA, n_train=64, dtype=np.float64)
X, y = data.X_train, data.y_train
print(data.describe())

# %% [markdown]
# ## A DFN with an L2 penalty, trained with Adam
#
# numpynet's `l2(lambd=λ)` is ½·λ·Σw²; the bridge translates it to Keras's `L2(λ/2)`. Keras stores Python-float
# hyper-parameters (learning rate, λ, momentum) as float32 even in a float64 model, so for a comparison to the last
# digit we pick values that float32 represents exactly: λ = 2⁻⁶, learning rate 2⁻¹⁰, β₁ = 0.875, β₂ = 1 − 2⁻¹⁰.
# (With Adam's defaults β₁ = 0.9, β₂ = 0.999 the weights after one step differ by a few 10⁻⁶ relative, which is
# exactly float32's rounding of 0.999 showing through √(1 − β₂ᵗ).)

# %%
dfn = nn.DFN(hidden_dims=(32, 16), n_classes=10, activation="tanh", regularizer=f"l2(lambd={2**-6})",
             optimizer=f"adam(lr={2**-10}, beta_1=0.875, beta_2={1 - 2**-10})", seed=0, dtype="float64")
if HAVE_TF:
    table = compare(dfn, X, y)
    assert table.worst_rel < 1e-9

# %% [markdown]
# ## Batch normalization, dropout and a Nesterov SGD
#
# Dropout draws different random masks on the two sides, so the rows after the training step are marked and left
# out of the worst values; the outputs, the loss and the gradients (inference mode) still compare exactly.

# %%
from numpynet.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPool2D

bn_model = nn.Sequential([Dense(24, use_bias=False), BatchNormalization(), Activation("relu"), Dropout(0.2),
                          Dense(10, kernel_regularizer=f"l1(lambd={2**-10})")], seed=0, dtype="float64")
bn_model.compile(optimizer="sgd(lr=0.0625, momentum=0.875, nesterov=True)", loss="softmax_cross_entropy",
                 metrics=["accuracy"])
if HAVE_TF:
    table = compare(bn_model, X, y)

# %% [markdown]
# ## A small convolutional network

# %%
side = int(round(np.sqrt(X.shape[1])))
images = X[:16].reshape(-1, side, side, 1)
cnn = nn.Sequential([Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer=f"l2(lambd={2**-10})"),
                     MaxPool2D(2), Flatten(), Dense(10)], seed=0, dtype="float64")
cnn.compile(optimizer=f"rmsprop(lr={2**-10})", loss="softmax_cross_entropy", metrics=["accuracy"])
if HAVE_TF:
    table = compare(cnn, images, y[:16])
    assert table.worst_rel < 1e-9

# %% [markdown]
# The Keras model itself, for the curious:

# %%
if HAVE_TF:
    to_keras(dfn).summary()
