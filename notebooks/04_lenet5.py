# %% [markdown]
# # 4 · LeNet-5 and its regularized variants
#
# LeCun's LeNet-5 with today's usual choices (ReLU, max pooling), on 28×28×1 images (NHWC):
#
#     Conv 6@5×5 "same" relu → MaxPool 2 → Conv 16@5×5 "valid" relu → MaxPool 2 → Flatten
#     → Dense 120 relu → Dense 84 relu → Dense 10 (softmax, fused with the cross-entropy)
#
# and its variants with an L1 or L2 penalty on every kernel, dropout after the dense layers, and batch normalization
# before every ReLU. Every convolution here is numpynet's im2col + one matrix product, backward included. On the
# 8×8 digits (when Fashion-MNIST is missing) the kernels are 3×3 so that the second convolution still fits.
#
# What the notebook does, step by step: load the images, define the five networks with one function and print the
# plain one's layers; train each variant on the same images; compare their accuracies, penalties and speed; then
# look inside — the learning curves, the first layer's filters and the distribution of its weights.

# %%
# %matplotlib inline
import numpy as np

import numpynet as nn
from numpynet import experiments as ex
from numpynet import plots

FAST = ex.fast_mode()            # NUMPYNET_FAST=1: small data, few epochs (CI)
DATA = ex.resolve_data_name("auto")   # Fashion-MNIST when installed, else scikit-learn's 8x8 digits
print(f"fast mode: {FAST}, data: {DATA}")

# %% [markdown]
# ## The images and the networks
#
# The next cell loads the images as an NHWC array, shape (N, 28, 28, 1) with pixels in [0, 1] (`flatten=False` keeps
# them as images instead of 784-vectors), with a validation set taken after the training images. `lenet5(variant)`
# builds one network per variant from the same building blocks:
#
# * **L1 / L2**: the penalty goes on every kernel (`kernel_regularizer`), convolutions and dense layers alike;
#   biases are not penalized.
# * **dropout**: `Dropout(0.3)` after the two hidden dense layers; the convolutions share their weights over the
#   whole image and are rarely the part that overfits.
# * **batch norm**: each convolution or dense layer loses its bias (BatchNormalization's β shifts the same way) and
#   is followed by `BatchNormalization()` and then the ReLU.
#
# All five are compiled with SGD (learning rate 0.05, momentum 0.9) and the fused softmax + cross-entropy. The
# summary at the end shows where the parameters are: on 28×28 images the two convolutions hold 156 and 2,416, the
# first dense layer 48,120 of the 61,706 — weight sharing makes convolutions cheap in parameters, not in arithmetic.

# %%
import time

from numpynet.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPool2D

N_TRAIN, EPOCHS = (500, 2) if FAST else (10000, 10)
data = ex.load_data(DATA, n_train=None if DATA == "digits" else N_TRAIN, flatten=False,
                    n_test=500 if FAST else None)
print(data.describe())
K = 5 if data.X_train.shape[1] >= 16 else 3
PENALTY = {"L1": "l1(lambd=1e-4)", "L2": "l2(lambd=1e-3)"}


def lenet5(variant, seed=0):
    reg, bn = PENALTY.get(variant), variant == "batch norm"

    def conv(filters, padding):
        if bn:   # conv (no bias: BN's beta shifts the same way) -> BN -> ReLU
            return [Conv2D(filters, K, padding=padding, use_bias=False), BatchNormalization(), Activation("relu")]
        return [Conv2D(filters, K, padding=padding, activation="relu", kernel_regularizer=reg)]

    def dense(units):
        if bn:
            return [Dense(units, use_bias=False), BatchNormalization(), Activation("relu")]
        drop = [Dropout(0.3)] if variant == "dropout" else []
        return [Dense(units, activation="relu", kernel_regularizer=reg)] + drop

    stack = (conv(6, "same") + [MaxPool2D(2)] + conv(16, "valid") + [MaxPool2D(2), Flatten()]
             + dense(120) + dense(84) + [Dense(10, kernel_regularizer=reg)])
    model = nn.Sequential(stack, seed=seed, name=f"lenet5_{variant}")
    model.compile(optimizer="sgd(lr=0.05, momentum=0.9)", loss="softmax_cross_entropy", metrics=["accuracy"])
    return model


lenet5("none").build(data.X_train.shape).summary()

# %% [markdown]
# ## Training the five variants
#
# Each variant starts from the same seed, sees the same images in the same shuffled order (the shuffling is seeded
# by the model too) and trains for the same number of epochs, so the differences come from the regularization alone.
# The loop prints, per variant, the accuracy on the training set (the mean over the last epoch, with dropout
# active), on the validation set and on the test set, and the seconds per epoch; it keeps each history for the curves
# and each model's first convolution kernel for the pictures below. With `NUMPYNET_FAST=1` (CI) it is 500 images for
# 2 epochs: far from trained, so there the variants differ mostly by chance.

# %%
rows, histories, kernels = [], {}, {}
for variant in ("none", "L1", "L2", "dropout", "batch norm"):
    model = lenet5(variant)
    start = time.perf_counter()
    hist = model.fit(data.X_train, data.y_train, epochs=EPOCHS, batch_size=32,
                     validation_data=(data.X_val, data.y_val), verbose=0)
    seconds = time.perf_counter() - start
    test = model.evaluate(data.X_test, data.y_test)
    rows.append((variant, hist.history["accuracy"][-1], hist.history["val_accuracy"][-1], test["accuracy"],
                 hist.history["reg_loss"][-1], seconds / EPOCHS))
    histories[variant] = hist.history
    kernels[variant] = model.layers[0].params["W"].copy()
    print(f"{variant:<11} train {rows[-1][1]:.2%}  val {rows[-1][2]:.2%}  test {rows[-1][3]:.2%}  "
          f"({rows[-1][5]:.2f} s/epoch)")

# %%
print(f"{'variant':<11} {'train acc':>9} {'val acc':>8} {'test acc':>8} {'penalty':>8} {'s/epoch':>8}")
for variant, tr, va, te, reg, sec in rows:
    print(f"{variant:<11} {tr:9.2%} {va:8.2%} {te:8.2%} {reg:8.4f} {sec:8.2f}")

# %% [markdown]
# ## Reading the table
#
# * **train acc − val acc** is the overfitting: compare each variant's gap with the plain network's. L1, L2 and
#   dropout should narrow it; batch norm usually trains faster and may widen it.
# * **penalty** is the regularization part of the last epoch's loss, `reg_loss` in the history: 0 for the variants
#   without a weight penalty; for L1 it is λ·Σ|w| with λ = 10⁻⁴, for L2 ½·λ·Σw² with λ = 10⁻³, over all kernels.
#   It is what the optimizer pays for large weights, next to the data loss.
# * **s/epoch**: L1 and L2 add a penalty and its gradient over the weights at every step, dropout a mask over the
#   dense activations, batch norm a normalization forward and backward after every layer — the column shows what
#   each costs.
# * The test accuracy decides, but differences of a fraction of a percent are within the noise of one seed.
#
# ## Learning curves
#
# Loss and accuracy per epoch for every variant, training (solid) and validation (dashed). A validation curve that
# flattens or turns up while the training curve keeps improving is overfitting; a penalty moves the training loss up
# (it includes the penalty) and should keep the two curves closer.

# %%
plots.plot_curves(histories)

# %% [markdown]
# ## Inside the first layer
#
# The first convolution's six filters per variant (each row one variant, same colour scale within a row), and the
# histograms of all first-layer kernel weights: L1 pushes many filter weights to zero, L2 shrinks them.

# %%
from matplotlib.figure import Figure

fig = Figure(figsize=(7, 1.4 * len(kernels)), layout="constrained")
axes = fig.subplots(len(kernels), 6, squeeze=False)
for row, (variant, W) in zip(axes, kernels.items()):
    limit = np.abs(W).max()
    for j, ax in enumerate(row):
        ax.imshow(W[:, :, 0, j], cmap="RdBu", vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(variant, rotation=0, ha="right", va="center")
fig.suptitle("conv1 filters")
fig

# %%
plots.plot_weight_histograms(kernels, title='conv1 kernel weights')

# %% [markdown]
# What to look for: without a penalty the filters keep part of their random initialization on top of what the data
# taught them. L2 shrinks every weight by the same factor at each step, so its histogram is narrower and its filters
# smoother; L1 pulls every weight towards zero by the same amount, so weights the data does not defend end at or near
# zero — a taller, sharper peak at 0 in the histogram. Dropout acts after the dense layers, so its first layer looks
# like the plain one; batch norm rescales every filter's output, so its filters' overall scale carries no meaning.
# How far each effect has gone depends on the number of steps: in fast mode (2 epochs of 500 images) the filters are
# still close to their random initialization for all variants.
