# %% [markdown]
# # 3 · The regularization zoo
#
# Ten ways to fight overfitting on the same network — 784-300-100-10 with ELU and He initialization, SGD with
# momentum 0.9 (learning rate 0.01, batch 32) unless a variant changes it — each trained on the same images and
# scored on the same validation and test sets:
#
# 1. no regularization (the baseline)
# 2. L2 on the kernels **and** the biases (`kernel_regularizer`, `bias_regularizer`)
# 3. dropout (rate 0.2) after each hidden layer
# 4. early stopping on the validation loss, restoring the best epoch's weights
# 5. batch normalization before the activation
# 6. SELU + lecun_normal + AlphaDropout on standardized inputs (a self-normalizing network)
# 7. MC dropout: the dropout network, predicting with dropout on and averaging 100 passes
# 8. max-norm on every kernel column (‖w‖ ≤ 1)
# 9. SGD with Nesterov momentum
# 10. Nadam

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
import time

from numpynet.callbacks import EarlyStopping
from numpynet.layers import Activation, AlphaDropout, BatchNormalization, Dense, Dropout

N_TRAIN, EPOCHS = (2000, 3) if FAST else (20000, 15)
data = ex.load_data(DATA, n_train=None if DATA == "digits" else N_TRAIN, n_test=1000 if FAST else None)
print(data.describe())
HIDDEN = (300, 100)
SGD = "sgd(lr=0.01, momentum=0.9)"


def mlp(activation="elu", init="he_normal", kernel_reg=None, bias_reg=None, dropout=0.0, alpha_dropout=0.0,
        batchnorm=False, constraint=None, seed=0):
    stack = []
    for units in HIDDEN:
        if batchnorm:   # normalize the pre-activations; BN's beta replaces the bias
            stack += [Dense(units, use_bias=False, kernel_initializer=init), BatchNormalization(),
                      Activation(activation)]
        else:
            stack.append(Dense(units, activation=activation, kernel_initializer=init, kernel_regularizer=kernel_reg,
                               bias_regularizer=bias_reg, kernel_constraint=constraint))
        if dropout:
            stack.append(Dropout(dropout))
        if alpha_dropout:
            stack.append(AlphaDropout(alpha_dropout))
    stack.append(Dense(10, kernel_initializer=init, kernel_regularizer=kernel_reg, bias_regularizer=bias_reg,
                       kernel_constraint=constraint))
    return nn.Sequential(stack, seed=seed)


rows, histories, models = [], {}, {}


def train(name, model, optimizer=SGD, epochs=EPOCHS, callbacks=None, X=data.X_train, Xv=data.X_val, Xt=data.X_test):
    model.compile(optimizer=optimizer, loss="softmax_cross_entropy", metrics=["accuracy"])
    start = time.perf_counter()
    hist = model.fit(X, data.y_train, epochs=epochs, batch_size=32, validation_data=(Xv, data.y_val),
                     callbacks=callbacks, verbose=0)
    rows.append({"variant": name, "epochs": len(hist.history["loss"]),
                 "train acc": model.evaluate(X, data.y_train)["accuracy"],   # inference mode: dropout off
                 "val acc": model.evaluate(Xv, data.y_val)["accuracy"],
                 "test acc": model.evaluate(Xt, data.y_test)["accuracy"],
                 "seconds": time.perf_counter() - start})
    histories[name], models[name] = hist.history, model
    r = rows[-1]
    print(f"{name:<22} {r['epochs']:>3} epochs  val {r['val acc']:.2%}  test {r['test acc']:.2%}  "
          f"({r['seconds']:.1f} s)")


# %%
train("baseline", mlp())
train("L2 kernels + biases", mlp(kernel_reg="l2(lambd=1e-3)", bias_reg="l2(lambd=1e-3)"))
train("dropout 0.2", mlp(dropout=0.2))

# %% [markdown]
# **Early stopping** watches the validation loss and stops after `patience` epochs without improvement;
# `restore_best_weights=True` then rolls the weights back to the best epoch (also when training ran to the end).
# It gets twice the epochs to show it stopping.

# %%
stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
train("early stopping", mlp(), epochs=2 * EPOCHS, callbacks=[stopper])
print(f"best epoch: {stopper.best_epoch + 1}, best val_loss {stopper.best:.4f}")

# %%
train("batch norm", mlp(batchnorm=True))

# %% [markdown]
# **SELU** keeps activations near zero mean and unit variance through the layers, provided the inputs are
# standardized and the weights are drawn with variance 1/fan_in (`lecun_normal`). Plain dropout would break that;
# **AlphaDropout** sets dropped units to SELU's lower limit and corrects mean and variance.

# %%
mean, std = data.X_train.mean(axis=0), data.X_train.std(axis=0) + 1e-3
standardize = lambda A: (A - mean) / std
train("SELU + AlphaDropout", mlp(activation="selu", init="lecun_normal", alpha_dropout=0.1), optimizer="nadam(lr=1e-3)",
      X=standardize(data.X_train), Xv=standardize(data.X_val), Xt=standardize(data.X_test))

# %% [markdown]
# **MC dropout** (Gal & Ghahramani, 2016) keeps dropout on at prediction time and averages many stochastic passes:
# the mean is usually a slightly better prediction than the single deterministic pass, and the spread is an
# uncertainty estimate. No retraining — it reuses the dropout model above.

# %%
dropout_model = models["dropout 0.2"]
mc_mean, mc_std = dropout_model.predict(data.X_test, mc_samples=100, return_std=True)
mc_acc = float(np.mean(mc_mean.argmax(axis=1) == data.y_test))
plain_acc = rows[[r["variant"] for r in rows].index("dropout 0.2")]["test acc"]
rows.append({"variant": "MC dropout (100)", "epochs": rows[2]["epochs"], "train acc": None, "val acc": None,
             "test acc": mc_acc, "seconds": 0.0})
print(f"dropout model: one pass {plain_acc:.2%}, mean of 100 MC passes {mc_acc:.2%}")
wrong = mc_mean.argmax(axis=1) != data.y_test
picked = mc_std[np.arange(len(mc_std)), mc_mean.argmax(axis=1)]
print(f"std of the predicted class's probability: {picked[~wrong].mean():.3f} when right, "
      f"{picked[wrong].mean():.3f} when wrong")

# %%
train("max-norm 1.0", mlp(constraint="max_norm(max_value=1.0)"))
train("Nesterov momentum", mlp(), optimizer="sgd(lr=0.01, momentum=0.9, nesterov=True)")
train("Nadam", mlp(), optimizer="nadam(lr=1e-3)")

# %%
width = max(len(r["variant"]) for r in rows)
print(f"{'variant':<{width}}  epochs  train acc  val acc  test acc  seconds")
for r in rows:
    train_acc = "    -    " if r["train acc"] is None else f"{r['train acc']:9.2%}"
    val = "   -   " if r["val acc"] is None else f"{r['val acc']:7.2%}"
    print(f"{r['variant']:<{width}}  {r['epochs']:>6}  {train_acc}  {val}  {r['test acc']:8.2%}  "
          f"{r['seconds']:7.1f}")

# %%
plots.plot_curves(histories)

# %% [markdown]
# ## What this run shows
#
# The next cell reads the table above back, variant by variant, against the baseline: the **generalization gap**
# (train − validation accuracy, both in inference mode) says how much a variant overfits; the **test difference** says
# whether that bought anything; the **noise level** says which differences to believe at all.

# %%
from math import sqrt

by = {r["variant"]: r for r in rows}
base = by["baseline"]
n_test = len(data.y_test)
noise = 2 * sqrt(base["test acc"] * (1 - base["test acc"]) / n_test)   # 2 standard errors of a test accuracy
print(f"test set: {n_test} images, so test accuracies within about ±{noise:.1%} of each other are noise\n")
print(f"{'variant':<22} {'gap':>7} {'test vs baseline':>17}")
for r in rows:
    gap = "" if r["train acc"] is None else f"{r['train acc'] - r['val acc']:+7.2%}"
    delta = r["test acc"] - base["test acc"]
    verdict = "" if r is base else ("  better" if delta > noise else "  worse" if delta < -noise else "  same (noise)")
    print(f"{r['variant']:<22} {gap:>7} {delta:+17.2%}{verdict}")
best = max(rows, key=lambda r: r["test acc"])
print(f"\nbest test accuracy: {best['variant']} ({best['test acc']:.2%})")
print(f"early stopping kept epoch {stopper.best_epoch + 1} of the {by['early stopping']['epochs']} it trained")
print(f"MC dropout vs one pass of the same model: {mc_acc - plain_acc:+.2%}; its spread is "
      f"{picked[wrong].mean() / picked[~wrong].mean():.1f}x larger on wrong predictions than on right ones")

# %% [markdown]
# How to read those lines, variant by variant:
#
# * **baseline**: its gap is the overfitting the others try to remove. A 784-300-100 network has 266,000 weights for
#   20,000 images (2,000 in fast mode), so it can fit the training set better than it generalizes.
# * **L2 on kernels and biases**, **dropout**, **max-norm** act on that gap: expect a smaller gap than the baseline's.
#   Whether the test accuracy improves as well depends on how large the baseline's gap was: a penalty also costs
#   training accuracy, and when the gap is small that cost can cancel the gain.
# * **early stopping** trains up to twice as long but keeps the best validation epoch; the line above says which. If
#   that epoch is the last one, the validation loss was still falling and early stopping had nothing to stop.
# * **batch norm** and **SELU + AlphaDropout** change the optimization (better-scaled activations) as much as they
#   regularize: compare their curves above with the baseline's over the first epochs, not only their last line.
# * **MC dropout** reuses the dropout model, no retraining: the line above gives what averaging 100 passes changed,
#   and how much larger the spread of the predicted probability is on the images it gets wrong — a ratio above 1
#   means the spread flags its own mistakes, an uncertainty estimate for free.
# * **Nesterov** and **Nadam** are optimizers, not regularizers: they change how fast (and where) training goes.
#
# In fast mode (`NUMPYNET_FAST=1`: 2,000 images, 3 epochs, 1,000 test images) most differences fall inside the
# noise band printed above; rerun without it (20,000 images, 15 epochs, the 10,000 test images) to see them settle.
