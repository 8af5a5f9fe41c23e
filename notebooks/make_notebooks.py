"""Write the notebooks of this folder from the cell texts below (outputs stripped).

    python notebooks/make_notebooks.py          # rewrites notebooks/*.ipynb

The notebooks are generated so that their text lives in one reviewable Python file; edit the cells here, not in
Jupyter, then run this script. Every notebook reads ``$NUMPYNET_FAST`` (``numpynet.experiments.fast_mode()``):
CI sets it to shrink the data and the epochs so that each notebook runs in well under two minutes, e.g.

    NUMPYNET_FAST=1 pytest --nbmake notebooks
"""

import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

SETUP = """\
%matplotlib inline
import numpy as np

import numpynet as nn
from numpynet import experiments as ex
from numpynet import plots

FAST = ex.fast_mode()            # NUMPYNET_FAST=1: small data, few epochs (CI)
DATA = ex.resolve_data_name("auto")   # Fashion-MNIST when installed, else scikit-learn's 8x8 digits
print(f"fast mode: {FAST}, data: {DATA}")"""


def md(text):
    return new_markdown_cell(text.strip("\n"))


def code(text):
    return new_code_cell(text.strip("\n"))


# ============================================================================================== 1
NB1 = [md("""
# 1 · Backpropagation by hand

One Dense layer and a softmax cross-entropy loss, forward and backward written out in NumPy, then checked against
central differences with `numpynet.gradcheck`. Then a hidden sigmoid layer and an L2 penalty, and finally the same
numbers from numpynet itself.

**Forward.** For a batch $X$ of $N$ rows, weights $W$ (in × out) and bias $b$:

$$z = XW + b, \\qquad p_{nk} = \\frac{e^{z_{nk}}}{\\sum_j e^{z_{nj}}}, \\qquad
L = -\\frac{1}{N}\\sum_n \\log p_{n, y_n}$$

**Backward.** With $Y$ the one-hot labels, softmax and cross-entropy together have the famously simple gradient

$$\\frac{\\partial L}{\\partial z} = \\frac{P - Y}{N}, \\qquad
\\frac{\\partial L}{\\partial W} = X^\\top \\frac{\\partial L}{\\partial z}, \\qquad
\\frac{\\partial L}{\\partial b} = \\sum_n \\frac{\\partial L}{\\partial z_n}, \\qquad
\\frac{\\partial L}{\\partial X} = \\frac{\\partial L}{\\partial z} W^\\top$$
"""),
    code(SETUP),
    code("""
(X_all, y_all), _ = nn.datasets.load_digits(dtype=np.float64)   # float64: gradient checks need the precision
X, y = X_all[:16], y_all[:16]
N, D, K = X.shape[0], X.shape[1], 10
rng = np.random.default_rng(0)
W = rng.normal(0.0, 0.1, size=(D, K))
b = np.zeros(K)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)    # same result, but exp never overflows (log-sum-exp trick)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def forward(X, W, b):
    p = softmax(X @ W + b)
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    return loss, p


def backward(X, p, W):
    dz = p.copy()
    dz[np.arange(len(y)), y] -= 1.0          # P - Y without building Y
    dz /= len(y)                              # the loss is a mean over the batch
    return X.T @ dz, dz.sum(axis=0), dz @ W.T


loss, p = forward(X, W, b)
dW, db, dX = backward(X, p, W)
print(f"loss {loss:.4f}; shapes: dW {dW.shape}, db {db.shape}, dX {dX.shape}")"""),
    md("""
## Checking with central differences

$\\partial L/\\partial w_i \\approx \\big(L(w + \\varepsilon e_i) - L(w - \\varepsilon e_i)\\big) / 2\\varepsilon$
has an error of order $\\varepsilon^2$. `numerical_gradient(f, w)` perturbs every entry of `w` in place;
`relative_error` compares the two gradients as $\\|g - g_{num}\\| / (\\|g\\| + \\|g_{num}\\|)$. In float64 a correct
gradient scores about $10^{-9}$–$10^{-7}$; a wrong one about $10^{-1}$.
"""),
    code("""
from numpynet.gradcheck import numerical_gradient, relative_error

f = lambda: forward(X, W, b)[0]
errors = {"W": relative_error(dW, numerical_gradient(f, W)),
          "b": relative_error(db, numerical_gradient(f, b)),
          "X": relative_error(dX, numerical_gradient(f, X))}
for name, err in errors.items():
    print(f"d{name}: relative error {err:.2e}")
assert max(errors.values()) < 1e-7"""),
    md("""
What does a bug look like? Forget the $1/N$ of the mean and the check is off by a factor $N$ — the relative error
jumps to $(N-1)/(N+1)$:
"""),
    code("""
def backward_buggy(X, p, W):
    dz = p.copy()
    dz[np.arange(len(y)), y] -= 1.0          # forgot: dz /= N
    return X.T @ dz, dz.sum(axis=0), dz @ W.T

bad = relative_error(backward_buggy(X, p, W)[0], numerical_gradient(f, W))
print(f"buggy dW: relative error {bad:.2e}  (expected (N-1)/(N+1) = {(N - 1) / (N + 1):.2e})")
assert bad > 0.5"""),
    md("""
## A hidden layer and an L2 penalty

$h = \\sigma(XW_1 + b_1)$, $z = hW_2 + b_2$, and the total loss adds $\\tfrac{\\lambda}{2}(\\|W_1\\|^2 + \\|W_2\\|^2)$
(`l2(lambd=λ)`, the textbook convention). Backward, layer by layer, reusing what forward computed:

$$dz = \\frac{P - Y}{N},\\quad dW_2 = h^\\top dz + \\lambda W_2,\\quad dh = dz\\,W_2^\\top,\\quad
da = dh \\odot h(1-h),\\quad dW_1 = X^\\top da + \\lambda W_1$$
"""),
    code("""
H, lambd = 12, 0.1
W1, b1 = rng.normal(0.0, 0.3, size=(D, H)), rng.normal(0.0, 0.1, size=H)
W2, b2 = rng.normal(0.0, 0.3, size=(H, K)), rng.normal(0.0, 0.1, size=K)


def forward2(X):
    h = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
    p = softmax(h @ W2 + b2)
    data = -np.mean(np.log(p[np.arange(len(y)), y]))
    penalty = 0.5 * lambd * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    return data + penalty, h, p


def backward2(X, h, p):
    dz = p.copy()
    dz[np.arange(len(y)), y] -= 1.0
    dz /= len(y)
    dW2, db2 = h.T @ dz + lambd * W2, dz.sum(axis=0)
    da = (dz @ W2.T) * h * (1.0 - h)          # sigmoid'(a) = σ(a)(1 − σ(a)) = h(1 − h)
    dW1, db1 = X.T @ da + lambd * W1, da.sum(axis=0)
    return dW1, db1, dW2, db2


total, h, p = forward2(X)
grads = backward2(X, h, p)
f2 = lambda: forward2(X)[0]
for name, g, w in zip(["W1", "b1", "W2", "b2"], grads, [W1, b1, W2, b2]):
    err = relative_error(g, numerical_gradient(f2, w))
    print(f"d{name}: relative error {err:.2e}")
    assert err < 1e-6"""),
    md("""
## The same network in numpynet

`nn.DFN(hidden_dims=(12,), activation="sigmoid", regularizer="l2(lambd=0.1)")` is exactly this network. Give it our
weights and `compute_gradients` returns our hand-written gradients (same order as `get_weights()`, as in Keras):
"""),
    code("""
model = nn.DFN(hidden_dims=(H,), n_classes=K, activation="sigmoid", regularizer=f"l2(lambd={lambd})",
               seed=0, dtype="float64")
model.build(X.shape)
model.set_weights([W1, b1, W2, b2])
loss_nn, grads_nn = model.compute_gradients(X, y)
print(f"loss: by hand {total:.12f}, numpynet {loss_nn:.12f}")
for name, ours, theirs in zip(model.weight_names(), grads, grads_nn):
    print(f"{name:<10} max |difference| {np.max(np.abs(ours - theirs)):.1e}")
    np.testing.assert_allclose(theirs, ours, rtol=1e-10, atol=1e-14)"""),
    md("""
`nn.gradcheck` runs the central-difference check on any layer or model: `check_layer` perturbs the input and every
parameter of one layer, `check_model` every weight of a model against its total loss (data + penalties).
"""),
    code("""
layer = nn.layers.Dense(7, activation="tanh", kernel_regularizer="l1(lambd=0.01)")
print(nn.gradcheck.check_layer(layer, X[:5]).table())
print()
deep = nn.DFN(hidden_dims=(8, 6), n_classes=10, activation="tanh", regularizer="l2(lambd=0.1)", seed=1,
              dtype="float64")
report = nn.gradcheck.check_model(deep, X, y)
print(report.table())
assert report < 1e-6"""),
    md("""
The same check is one command away: `numpynet gradcheck --hidden 5 --activation tanh --regularizer "l2(lambd=0.1)"`.
"""),
]

# ============================================================================================== 2
NB2 = [md("""
# 2 · L1 vs L2 vs no regularization

The reference experiment: a 784-200-10 network with a sigmoid hidden layer, trained with plain SGD (learning rate
0.1, batches of 64) for 20 epochs on 20,000 training images, without regularization, with L1 (λ = 10⁻⁴) and with L2
(λ = 0.01, penalty ½·λ·Σw²) on both kernels. On MNIST the reference reports:

| regularization | test accuracy (MNIST, reference) |
|---|---|
| none | 91.88 % |
| L2 λ = 0.01 | 85.14 % |
| L1 λ = 1e-4 | 89.47 % |

Here we run the same grid on Fashion-MNIST (or on the 8x8 digits when Fashion-MNIST is not installed) with
`numpynet.experiments.run_grid`, which is what `numpynet compare --preset reference` does. With `NUMPYNET_FAST=1`
(CI) the data and the epochs shrink to 2,000 images and 3 epochs so that the notebook runs in seconds: the outputs
are then a smoke test, not the experiment. The table in *Reading the results* at the end is from the full run
(20,000 images, 20 epochs); the outputs of the cells are from whichever run executed them — the first cell prints
which.
"""),
    code(SETUP),
    code("""
N_TRAIN, EPOCHS = (2000, 3) if FAST else (20000, 20)
data = ex.load_data(DATA, n_train=None if DATA == "digits" else N_TRAIN)
print(data.describe())
configs = ex.PRESETS["reference"].configs_for(data.name, epochs=EPOCHS)
for c in configs:
    print(c.describe())"""),
    code("""
results = ex.run_grid(configs, data, jobs=None)   # one process per core; same numbers as serially
print()
print(results.format())"""),
    md("""
Columns: accuracies after training (inference mode), the last epoch's mean data loss and penalty, the share of
first-layer weights with |w| < 10⁻³, their mean |w|, and seconds per epoch.

## Loss and accuracy per epoch
"""),
    code("plots.plot_curves(results)"),
    md("""
## What the optimizer trades: data loss against the penalty

With L2 λ = 0.01 the penalty ½·λ·Σw² over 784 × 200 + 200 × 10 weights is of the same size as the data loss: the
optimizer keeps the weights small at the price of fitting the data less well. L1 λ = 10⁻⁴ costs much less.
"""),
    code("plots.plot_loss_split(results)"),
    md("""
## The learned weights

L1's gradient λ·sign(w) has the same size for every weight, however small: weights that the data does not need are
pushed to zero and stay there (with plain SGD they jitter around 0 by about lr·λ = 10⁻⁵ per step). L2's gradient
λ·w is proportional to the weight: it shrinks every weight by the same factor (1 − lr·λ) per step, big ones most in
absolute terms, and makes none exactly zero.

These effects need steps to show. In the full run (6,260 steps) L1 has moved every weight by up to 0.06 and L2 has
shrunk the weights by about e⁻⁶; in fast mode (about 100 steps) L1 has moved them by at most 0.001 and L2 by 1 %,
so the three histograms and the three per-pixel images below look alike — **in fast mode the images are still the
random initialization, noise, for all three networks**. The next cell says which case you are looking at.
"""),
    code("""
steps = EPOCHS * -(-len(data.X_train) // 64)
if FAST:
    print(f"fast mode: {steps} SGD steps — too few for the penalties to reshape the weights; the figures below "
          f"show the random initialization (noise) for all three networks. Run without NUMPYNET_FAST for the "
          f"experiment.")
else:
    print(f"full run: {steps} SGD steps; L1 can move a weight by up to {steps * 0.1 * 1e-4:.3f}, L2 shrinks all "
          f"of them by the factor {(1 - 0.1 * 0.01) ** steps:.4f}")"""),
    code("plots.plot_weight_histograms(results)"),
    code("""
# Which inputs does each network still listen to? The norm of each input pixel's outgoing weights, as an image.
from matplotlib.figure import Figure

side = int(round(np.sqrt(data.X_train.shape[1])))
fig = Figure(figsize=(3.2 * len(results), 3.2), layout="constrained")
for ax, name in zip(fig.subplots(1, len(results)), results.names):
    W1 = results.weights[name]
    ax.imshow(np.linalg.norm(W1, axis=1).reshape(side, side), cmap="viridis")
    ax.set_title(name)
    ax.axis("off")
fig.suptitle("‖W1[pixel, :]‖ per input pixel")
fig"""),
    md("""
## Reading the results

This section describes the **full run** (not the fast-mode outputs above, if that is what ran). Measured with the
full settings (20,000 Fashion-MNIST training images + 2,000 validation images, 20 epochs, seed 0, float32; test set:
the 10,000 test images; `numpynet compare --preset reference --data fashion-mnist` runs the same experiment):

| regularization | train acc | val acc | test acc | data loss | penalty | \\|W1\\| < 1e-3 | mean \\|W1\\| |
|---|---|---|---|---|---|---|---|
| none | 85.39 % | 84.90 % | **82.68 %** | 0.389 | 0 | 1.3 % | 0.0446 |
| L1 λ = 1e-4 | 80.92 % | 81.25 % | **78.83 %** | 0.456 | 0.216 | 61.7 % | 0.0107 |
| L2 λ = 0.01 | 78.06 % | 78.50 % | **76.97 %** | 0.660 | 0.346 | 11.6 % | 0.0105 |

**The ordering is the reference's: none > L1 > L2**, on Fashion-MNIST as on MNIST (Fashion-MNIST is the harder
dataset, so every accuracy is lower).

*Why does no regularization win?* Regularization fights overfitting, and this network does not overfit in 20
epochs: its training accuracy (85.4 %) is barely above its validation accuracy (84.9 %). A 200-unit sigmoid layer
trained by plain SGD for 20 epochs is limited by optimization, not by a lack of data, so a penalty can only take
capacity away.

*Why does L2 λ = 0.01 cost the most?* Each SGD step multiplies every weight by (1 − lr·λ) = 0.999: a weight that the
data does not keep pushing decays with a time constant of 1,000 steps, about three of the 20 epochs. The penalty
settles at 0.35, half the size of the data loss, and the first-layer weights end four times smaller than without
regularization (mean |w| 0.0105 vs 0.0446). The network is held close to a smooth, almost linear model and
underfits: the data loss stays at 0.66 instead of 0.39.

*Why does L1 λ = 1e-4 cost less?* Each step moves every weight towards zero by the same lr·λ = 10⁻⁵, about 0.06
over the 6,260 steps — more than a typical weight. Weights whose input carries no signal (the border pixels, always
black) lose their random initial value and sit at zero: 62 % of the first-layer weights end below 10⁻³. Those
weights never helped the fit, so removing them is almost free; the weights the data needs are pushed back up by
their gradients. The per-pixel image shows it: the L1 network ignores the border, the unregularized one still
carries its random initial weights there, and L2 has decayed the random initialization everywhere, leaving a
smooth picture of what the data taught it.

To see regularization *help*, make the network overfit: fewer images, more epochs, a bigger network, or a better
optimizer (notebook 3, and `numpynet compare --preset regularizers`, where dropout and batch normalization come out
on top).
"""),
]

# ============================================================================================== 3
NB3 = [md("""
# 3 · The regularization zoo

Ten ways to fight overfitting on the same network — 784-300-100-10 with ELU and He initialization, SGD with
momentum 0.9 (learning rate 0.01, batch 32) unless a variant changes it — each trained on the same images and
scored on the same validation and test sets:

1. no regularization (the baseline)
2. L2 on the kernels **and** the biases (`kernel_regularizer`, `bias_regularizer`)
3. dropout (rate 0.2) after each hidden layer
4. early stopping on the validation loss, restoring the best epoch's weights
5. batch normalization before the activation
6. SELU + lecun_normal + AlphaDropout on standardized inputs (a self-normalizing network)
7. MC dropout: the dropout network, predicting with dropout on and averaging 100 passes
8. max-norm on every kernel column (‖w‖ ≤ 1)
9. SGD with Nesterov momentum
10. Nadam
"""),
    code(SETUP),
    code("""
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
          f"({r['seconds']:.1f} s)")"""),
    code("""
train("baseline", mlp())
train("L2 kernels + biases", mlp(kernel_reg="l2(lambd=1e-3)", bias_reg="l2(lambd=1e-3)"))
train("dropout 0.2", mlp(dropout=0.2))"""),
    md("""
**Early stopping** watches the validation loss and stops after `patience` epochs without improvement;
`restore_best_weights=True` then rolls the weights back to the best epoch (also when training ran to the end).
It gets twice the epochs to show it stopping.
"""),
    code("""
stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
train("early stopping", mlp(), epochs=2 * EPOCHS, callbacks=[stopper])
print(f"best epoch: {stopper.best_epoch + 1}, best val_loss {stopper.best:.4f}")"""),
    code("""
train("batch norm", mlp(batchnorm=True))"""),
    md("""
**SELU** keeps activations near zero mean and unit variance through the layers, provided the inputs are
standardized and the weights are drawn with variance 1/fan_in (`lecun_normal`). Plain dropout would break that;
**AlphaDropout** sets dropped units to SELU's lower limit and corrects mean and variance.
"""),
    code("""
mean, std = data.X_train.mean(axis=0), data.X_train.std(axis=0) + 1e-3
standardize = lambda A: (A - mean) / std
train("SELU + AlphaDropout", mlp(activation="selu", init="lecun_normal", alpha_dropout=0.1), optimizer="nadam(lr=1e-3)",
      X=standardize(data.X_train), Xv=standardize(data.X_val), Xt=standardize(data.X_test))"""),
    md("""
**MC dropout** (Gal & Ghahramani, 2016) keeps dropout on at prediction time and averages many stochastic passes:
the mean is usually a slightly better prediction than the single deterministic pass, and the spread is an
uncertainty estimate. No retraining — it reuses the dropout model above.
"""),
    code("""
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
      f"{picked[wrong].mean():.3f} when wrong")"""),
    code("""
train("max-norm 1.0", mlp(constraint="max_norm(max_value=1.0)"))
train("Nesterov momentum", mlp(), optimizer="sgd(lr=0.01, momentum=0.9, nesterov=True)")
train("Nadam", mlp(), optimizer="nadam(lr=1e-3)")"""),
    code("""
width = max(len(r["variant"]) for r in rows)
print(f"{'variant':<{width}}  epochs  train acc  val acc  test acc  seconds")
for r in rows:
    train_acc = "    -    " if r["train acc"] is None else f"{r['train acc']:9.2%}"
    val = "   -   " if r["val acc"] is None else f"{r['val acc']:7.2%}"
    print(f"{r['variant']:<{width}}  {r['epochs']:>6}  {train_acc}  {val}  {r['test acc']:8.2%}  "
          f"{r['seconds']:7.1f}")"""),
    code("plots.plot_curves(histories)"),
    md("""
## What this run shows

The next cell reads the table above back, variant by variant, against the baseline: the **generalization gap**
(train − validation accuracy, both in inference mode) says how much a variant overfits; the **test difference** says
whether that bought anything; the **noise level** says which differences to believe at all.
"""),
    code("""
from math import sqrt

by = {r["variant"]: r for r in rows}
base = by["baseline"]
n_test = len(data.y_test)
noise = 2 * sqrt(base["test acc"] * (1 - base["test acc"]) / n_test)   # 2 standard errors of a test accuracy
print(f"test set: {n_test} images, so test accuracies within about ±{noise:.1%} of each other are noise\\n")
print(f"{'variant':<22} {'gap':>7} {'test vs baseline':>17}")
for r in rows:
    gap = "" if r["train acc"] is None else f"{r['train acc'] - r['val acc']:+7.2%}"
    delta = r["test acc"] - base["test acc"]
    verdict = "" if r is base else ("  better" if delta > noise else "  worse" if delta < -noise else "  same (noise)")
    print(f"{r['variant']:<22} {gap:>7} {delta:+17.2%}{verdict}")
best = max(rows, key=lambda r: r["test acc"])
print(f"\\nbest test accuracy: {best['variant']} ({best['test acc']:.2%})")
print(f"early stopping kept epoch {stopper.best_epoch + 1} of the {by['early stopping']['epochs']} it trained")
print(f"MC dropout vs one pass of the same model: {mc_acc - plain_acc:+.2%}; its spread is "
      f"{picked[wrong].mean() / picked[~wrong].mean():.1f}x larger on wrong predictions than on right ones")"""),
    md("""
How to read those lines, variant by variant:

* **baseline**: its gap is the overfitting the others try to remove. A 784-300-100 network has 266,000 weights for
  20,000 images (2,000 in fast mode), so it can fit the training set better than it generalizes.
* **L2 on kernels and biases**, **dropout**, **max-norm** act on that gap: expect a smaller gap than the baseline's.
  Whether the test accuracy improves as well depends on how large the baseline's gap was: a penalty also costs
  training accuracy, and when the gap is small that cost can cancel the gain.
* **early stopping** trains up to twice as long but keeps the best validation epoch; the line above says which. If
  that epoch is the last one, the validation loss was still falling and early stopping had nothing to stop.
* **batch norm** and **SELU + AlphaDropout** change the optimization (better-scaled activations) as much as they
  regularize: compare their curves above with the baseline's over the first epochs, not only their last line.
* **MC dropout** reuses the dropout model, no retraining: the line above gives what averaging 100 passes changed,
  and how much larger the spread of the predicted probability is on the images it gets wrong — a ratio above 1
  means the spread flags its own mistakes, an uncertainty estimate for free.
* **Nesterov** and **Nadam** are optimizers, not regularizers: they change how fast (and where) training goes.

In fast mode (`NUMPYNET_FAST=1`: 2,000 images, 3 epochs, 1,000 test images) most differences fall inside the
noise band printed above; rerun without it (20,000 images, 15 epochs, the 10,000 test images) to see them settle.
"""),
]

# ============================================================================================== 4
NB4 = [md("""
# 4 · LeNet-5 and its regularized variants

LeCun's LeNet-5 with today's usual choices (ReLU, max pooling), on 28×28×1 images (NHWC):

    Conv 6@5×5 "same" relu → MaxPool 2 → Conv 16@5×5 "valid" relu → MaxPool 2 → Flatten
    → Dense 120 relu → Dense 84 relu → Dense 10 (softmax, fused with the cross-entropy)

and its variants with an L1 or L2 penalty on every kernel, dropout after the dense layers, and batch normalization
before every ReLU. Every convolution here is numpynet's im2col + one matrix product, backward included. On the
8×8 digits (when Fashion-MNIST is missing) the kernels are 3×3 so that the second convolution still fits.

What the notebook does, step by step: load the images, define the five networks with one function and print the
plain one's layers; train each variant on the same images; compare their accuracies, penalties and speed; then
look inside — the learning curves, the first layer's filters and the distribution of its weights.
"""),
    code(SETUP),
    md("""
## The images and the networks

The next cell loads the images as an NHWC array, shape (N, 28, 28, 1) with pixels in [0, 1] (`flatten=False` keeps
them as images instead of 784-vectors), with a validation set taken after the training images. `lenet5(variant)`
builds one network per variant from the same building blocks:

* **L1 / L2**: the penalty goes on every kernel (`kernel_regularizer`), convolutions and dense layers alike;
  biases are not penalized.
* **dropout**: `Dropout(0.3)` after the two hidden dense layers; the convolutions share their weights over the
  whole image and are rarely the part that overfits.
* **batch norm**: each convolution or dense layer loses its bias (BatchNormalization's β shifts the same way) and
  is followed by `BatchNormalization()` and then the ReLU.

All five are compiled with SGD (learning rate 0.05, momentum 0.9) and the fused softmax + cross-entropy. The
summary at the end shows where the parameters are: on 28×28 images the two convolutions hold 156 and 2,416, the
first dense layer 48,120 of the 61,706 — weight sharing makes convolutions cheap in parameters, not in arithmetic.
"""),
    code("""
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


lenet5("none").build(data.X_train.shape).summary()"""),
    md("""
## Training the five variants

Each variant starts from the same seed, sees the same images in the same shuffled order (the shuffling is seeded
by the model too) and trains for the same number of epochs, so the differences come from the regularization alone.
The loop prints, per variant, the accuracy on the training set (the mean over the last epoch, with dropout
active), on the validation set and on the test set, and the seconds per epoch; it keeps each history for the curves
and each model's first convolution kernel for the pictures below. With `NUMPYNET_FAST=1` (CI) it is 500 images for
2 epochs: far from trained, so there the variants differ mostly by chance.
"""),
    code("""
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
          f"({rows[-1][5]:.2f} s/epoch)")"""),
    code("""
print(f"{'variant':<11} {'train acc':>9} {'val acc':>8} {'test acc':>8} {'penalty':>8} {'s/epoch':>8}")
for variant, tr, va, te, reg, sec in rows:
    print(f"{variant:<11} {tr:9.2%} {va:8.2%} {te:8.2%} {reg:8.4f} {sec:8.2f}")"""),
    md("""
## Reading the table

* **train acc − val acc** is the overfitting: compare each variant's gap with the plain network's. L1, L2 and
  dropout should narrow it; batch norm usually trains faster and may widen it.
* **penalty** is the regularization part of the last epoch's loss, `reg_loss` in the history: 0 for the variants
  without a weight penalty; for L1 it is λ·Σ|w| with λ = 10⁻⁴, for L2 ½·λ·Σw² with λ = 10⁻³, over all kernels.
  It is what the optimizer pays for large weights, next to the data loss.
* **s/epoch**: L1 and L2 add a penalty and its gradient over the weights at every step, dropout a mask over the
  dense activations, batch norm a normalization forward and backward after every layer — the column shows what
  each costs.
* The test accuracy decides, but differences of a fraction of a percent are within the noise of one seed.

## Learning curves

Loss and accuracy per epoch for every variant, training (solid) and validation (dashed). A validation curve that
flattens or turns up while the training curve keeps improving is overfitting; a penalty moves the training loss up
(it includes the penalty) and should keep the two curves closer.
"""),
    code("plots.plot_curves(histories)"),
    md("""
## Inside the first layer

The first convolution's six filters per variant (each row one variant, same colour scale within a row), and the
histograms of all first-layer kernel weights: L1 pushes many filter weights to zero, L2 shrinks them.
"""),
    code("""
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
fig"""),
    code("plots.plot_weight_histograms(kernels, title='conv1 kernel weights')"),
    md("""
What to look for: without a penalty the filters keep part of their random initialization on top of what the data
taught them. L2 shrinks every weight by the same factor at each step, so its histogram is narrower and its filters
smoother; L1 pulls every weight towards zero by the same amount, so weights the data does not defend end at or near
zero — a taller, sharper peak at 0 in the histogram. Dropout acts after the dense layers, so its first layer looks
like the plain one; batch norm rescales every filter's output, so its filters' overall scale carries no meaning.
How far each effect has gone depends on the number of steps: in fast mode (2 epochs of 500 images) the filters are
still close to their random initialization for all variants.
"""),
]

# ============================================================================================== 5
NB5 = [md("""
# 5 · Comparing against Keras

`numpynet.keras_bridge.compare(model, X, y)` builds the Keras twin of a numpynet model (`to_keras`: same layers,
same weights, same loss and optimizer), runs both on one batch and tabulates the largest differences: the outputs,
the total loss (data + penalties), the gradient of every weight, and every weight after one training step. In
float64 they agree to about 1e-12 or better.

TensorFlow is optional (`pip install 'numpynet[keras]'`); without it this notebook says so and skips the
comparisons.
"""),
    code(SETUP),
    code("""
try:
    import tensorflow as tf
    from numpynet.keras_bridge import compare, configure_tensorflow, to_keras
    configure_tensorflow("CPU")
    HAVE_TF = True
    print(f"TensorFlow {tf.__version__}")
except ImportError:
    HAVE_TF = False
    print("TensorFlow is not installed: skipping the Keras comparisons (pip install 'numpynet[keras]').")"""),
    code("""
data = ex.load_data(DATA, n_train=64, dtype=np.float64)
X, y = data.X_train, data.y_train
print(data.describe())"""),
    md("""
## A DFN with an L2 penalty, trained with Adam

numpynet's `l2(lambd=λ)` is ½·λ·Σw²; the bridge translates it to Keras's `L2(λ/2)`. Keras stores Python-float
hyper-parameters (learning rate, λ, momentum) as float32 even in a float64 model, so for a comparison to the last
digit we pick values that float32 represents exactly: λ = 2⁻⁶, learning rate 2⁻¹⁰, β₁ = 0.875, β₂ = 1 − 2⁻¹⁰.
(With Adam's defaults β₁ = 0.9, β₂ = 0.999 the weights after one step differ by a few 10⁻⁶ relative, which is
exactly float32's rounding of 0.999 showing through √(1 − β₂ᵗ).)
"""),
    code("""
dfn = nn.DFN(hidden_dims=(32, 16), n_classes=10, activation="tanh", regularizer=f"l2(lambd={2**-6})",
             optimizer=f"adam(lr={2**-10}, beta_1=0.875, beta_2={1 - 2**-10})", seed=0, dtype="float64")
if HAVE_TF:
    table = compare(dfn, X, y)
    assert table.worst_rel < 1e-9"""),
    md("""
## Batch normalization, dropout and a Nesterov SGD

Dropout draws different random masks on the two sides, so the rows after the training step are marked and left
out of the worst values; the outputs, the loss and the gradients (inference mode) still compare exactly.
"""),
    code("""
from numpynet.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPool2D

bn_model = nn.Sequential([Dense(24, use_bias=False), BatchNormalization(), Activation("relu"), Dropout(0.2),
                          Dense(10, kernel_regularizer=f"l1(lambd={2**-10})")], seed=0, dtype="float64")
bn_model.compile(optimizer="sgd(lr=0.0625, momentum=0.875, nesterov=True)", loss="softmax_cross_entropy",
                 metrics=["accuracy"])
if HAVE_TF:
    table = compare(bn_model, X, y)"""),
    md("""
## A small convolutional network
"""),
    code("""
side = int(round(np.sqrt(X.shape[1])))
images = X[:16].reshape(-1, side, side, 1)
cnn = nn.Sequential([Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer=f"l2(lambd={2**-10})"),
                     MaxPool2D(2), Flatten(), Dense(10)], seed=0, dtype="float64")
cnn.compile(optimizer=f"rmsprop(lr={2**-10})", loss="softmax_cross_entropy", metrics=["accuracy"])
if HAVE_TF:
    table = compare(cnn, images, y[:16])
    assert table.worst_rel < 1e-9"""),
    md("""
The Keras model itself, for the curious:
"""),
    code("""
if HAVE_TF:
    to_keras(dfn).summary()"""),
]

# ============================================================================================== 6
NB6 = [md("""
# 6 · L1 and L2 on MobileNetV2

The reference experiment on a *modern* CNN: MobileNetV2 (Sandler et al., 2018) on 32×32 images, trained with SGD
(momentum 0.9, batches of 32) without regularization, with L1 (`l1(l1=0.001)`, 0.001·Σ|w|) and with L2
(`l2(l2=0.001)`, 0.001·Σw², Keras's meaning) on every kernel and the classifier's bias. After every epoch a callback
logs the regularization loss `sum(model.losses)`, so that we can watch what each penalty does to the weights while
the network learns.

The reference uses a learning rate of 0.05. In the small budget here (5 epochs of 2,000 images) that rate first
inflates the weights and ends near 45 % test accuracy for all three configurations; 0.01 reaches about 75 %, so the
preset, and this notebook, use 0.01 (see the end for both).

MobileNetV2 is not a stack: its *inverted-residual* blocks add their input back to their output, so it is written
with the **functional API** — `nn.Input`, layers called on tensors, and `nn.layers.Add` for the residual. We first
build one block by hand, then the whole network with `nn.applications.mobilenet_v2`.

`numpynet compare --preset mobilenet` runs the same grid from the command line. With `NUMPYNET_FAST=1` (CI) the
network is narrower and the data tiny, so the notebook runs in seconds; the numbers at the end are from the full run.
"""),
    code(SETUP + """
from collections import Counter

from numpynet import layers as L
from numpynet.callbacks import Callback, RegularizationLogger"""),
    md("""
## One inverted-residual block, by hand

A MobileNetV2 *bottleneck* takes a thin tensor (here 8×8×16), **expands** it ×6 with a 1×1 convolution, filters each
of the 96 channels on its own with a 3×3 **depthwise** convolution (9 weights per channel instead of 9·96), and
**projects** back to 16 channels with a 1×1 convolution — *linear*: no ReLU after the projection, because a ReLU on
a thin tensor destroys information. Every convolution is followed by batch normalization, the first two by ReLU6
(`min(max(x, 0), 6)`). When the block keeps the shape, its input is added to its output (the residual).

In the functional API, `nn.Input(shape)` returns a *symbolic tensor* (a shape and where it comes from; no numbers),
calling a layer on a tensor records that call and returns a new tensor, and `nn.Model(inputs, outputs)` collects
the graph between them. Backward runs the recorded calls in reverse; at the `Add` the gradient flows unchanged into
both branches, and where a tensor feeds two layers (the block's input) their gradients are summed.
"""),
    code("""
inp = nn.Input(shape=(8, 8, 16))
x = L.Conv2D(16 * 6, 1, padding="same", use_bias=False)(inp)        # expand: 1x1, 16 -> 96 channels
x = L.BatchNormalization()(x)
x = L.ReLU(max_value=6.0)(x)                                        # ReLU6
x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)         # 3x3, one filter per channel
x = L.BatchNormalization()(x)
x = L.ReLU(max_value=6.0)(x)
x = L.Conv2D(16, 1, padding="same", use_bias=False)(x)              # project: 1x1, 96 -> 16, linear
x = L.BatchNormalization()(x)
out = L.Add()([x, inp])                                             # the residual connection
print(inp, "->", out)

block = nn.Model(inputs=inp, outputs=out, seed=0)
block.summary()"""),
    code("""
X_block = np.random.default_rng(0).normal(size=(4, 8, 8, 16)).astype(np.float32)
Y_block = block(X_block, training=False)
print("output shape", Y_block.shape)
# With fresh weights, batch normalization in inference mode is (almost) the identity, so the block's output is its
# input plus a small correction from the branch:
print(f"|output - input| / |input| = {np.linalg.norm(Y_block - X_block) / np.linalg.norm(X_block):.3f}")
# the depthwise kernel: one 3x3 filter per channel, (kh, kw, channels, depth_multiplier) as in Keras
print("depthwise kernel", block.layers[[type(l).__name__ for l in block.layers].index("DepthwiseConv2D")]
      .params["W"].shape)"""),
    md("""
When a block **halves** the resolution (stride 2) or changes the number of channels, there is no residual: the
shapes differ. The experiment's stride-2 depthwise convolution pads one row and one column at the bottom/right
(`ZeroPadding2D(((0, 1), (0, 1)))`) and then convolves with `padding="valid"`. `nn.applications.bottleneck` writes
both kinds:
"""),
    code("""
inp = nn.Input(shape=(16, 16, 16))
same = nn.applications.bottleneck(inp, 16, 1, None)       # stride 1, same channels: residual Add
down = nn.applications.bottleneck(same, 24, 2, None)      # stride 2, 16 -> 24 channels: no residual
two = nn.Model(inputs=inp, outputs=down)
print(same, down, sep="\\n")
print([type(layer).__name__ for layer in two.layers])"""),
    md("""
## The whole network

`nn.applications.mobilenet_v2(input_shape=(32, 32, 1), classes=10, regularizer=..., width=...)`: a stride-2 3×3
stem convolution, a first depthwise block, the 16 bottlenecks (stride 2 at blocks 2, 4, 7 and 14, so 32×32 ends at
1×1), a 1×1 convolution to 1280 channels, global average pooling and a Dense classifier that outputs logits.
`width` multiplies every channel count (rounded to multiples of 8): the full network (`width=1`) has 2.3 million
weights; the experiment here uses `width=0.5` to stay affordable on a CPU.

`regularizer` goes on every kernel — convolutions, depthwise convolutions, the classifier — and on the classifier's
bias. `model.losses` lists the current penalty of each regularized weight tensor, as in Keras; their sum is the
regularization part of the training loss.
"""),
    code("""
preset = ex.PRESETS["mobilenet"]
CONFIGS = preset.configs_for(DATA)                 # none / l1(l1=0.001) / l2(l2=0.001), with the preset's budget
WIDTH, EPOCHS = CONFIGS[0].width, CONFIGS[0].epochs
for c in CONFIGS:
    print(c.describe())

model = nn.applications.mobilenet_v2(input_shape=(32, 32, 1), classes=10, regularizer="l1(l1=0.001)", width=WIDTH,
                                     seed=0)
model.build((None, 32, 32, 1))
print(f"\\n{model.count_params():,} weights, {len(model.layers)} layers:",
      dict(Counter(type(layer).__name__ for layer in model.layers)))
print(f"{len(model.losses)} regularized weight tensors; "
      f"at initialization sum(model.losses) = {sum(model.losses):.3f}")"""),
    md("""
## The data: 32×32 images

Fashion-MNIST's 28×28 images get a 2-pixel zero border (`load_data(..., image_size=32)`). Without Fashion-MNIST the
notebook uses scikit-learn's 8×8 digits, each pixel repeated 4×4 so that a digit fills the frame as a garment does.
"""),
    code("""
data = ex.load_data(DATA, n_train=preset.n_train_for(DATA), n_test=preset.n_test_for(DATA), **preset.data_options)
print(data.describe())

from matplotlib.figure import Figure

fig = Figure(figsize=(9, 1.6), layout="constrained")
for ax, image, label in zip(fig.subplots(1, 8), data.X_train, data.y_train):
    ax.imshow(image[:, :, 0], cmap="gray_r")
    ax.set_title(int(label), fontsize="small")
    ax.axis("off")
fig"""),
    md("""
## Logging the regularization loss with a callback

A callback is an object whose `on_epoch_end(epoch, logs)` runs after every epoch, with `self.model` set. Writing
a value into `logs` puts it into the history that `fit` returns. The Keras idiom for the penalty is one line:
"""),
    code("""
class PenaltyLog(Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs["reg_penalty"] = float(sum(self.model.losses))"""),
    md("""
numpynet ships it as `nn.callbacks.RegularizationLogger` (key `"reg_penalty"`); `numpynet compare` adds it to every
run. Below, both run side by side and must agree.

It differs from `history["reg_loss"]`, which is the epoch's *mean over batches* of the penalty as each batch was
trained (the penalty part of `history["loss"]`); `reg_penalty` is the penalty of the weights at the end of the epoch.

**One trap.** Batch normalization normalizes with the batch's statistics while training and with moving averages
of them at inference. With Keras's default momentum 0.99, the moving variances forget their initial value of 1 only
after several hundred steps; in this small experiment (63 steps per epoch) they are still far too large after five
epochs, every BatchNormalization layer shrinks its output a little, and after 52 of them the logits no longer
depend on the input: inference accuracy stays at chance while the training accuracy rises (measured at width 0.5:
8–16 % validation accuracy against 46–52 % training accuracy after 5 epochs at the reference's lr 0.05; at lr 0.01,
width 0.25 and 1,000 images, 9 % against 54 %). That is the arithmetic of the moving averages,
which numpynet computes exactly as Keras does, not a numpynet quirk. The preset therefore sets the momentum of every
BatchNormalization layer to 0.9 (`bn_momentum=0.9`): the moving averages then forget their start within a few dozen
steps.
"""),
    code("""
import time

from threadpoolctl import threadpool_limits   # comes with scikit-learn


def train(config):
    model = nn.applications.mobilenet_v2(input_shape=(32, 32, 1), classes=data.n_classes,
                                         regularizer=config.regularizer, width=config.width, seed=config.seed)
    for layer in model.layers:                     # see "one trap" above
        if isinstance(layer, L.BatchNormalization):
            layer.momentum = config.bn_momentum
    model.compile(optimizer=config.optimizer, loss="softmax_cross_entropy", metrics=["accuracy"])
    builtin = RegularizationLogger(key="reg_penalty_builtin")   # also keeps the value before training: .initial
    start = time.perf_counter()
    hist = model.fit(data.X_train, data.y_train, epochs=config.epochs, batch_size=config.batch_size,
                     validation_data=(data.X_val, data.y_val), callbacks=[PenaltyLog(), builtin], verbose=0)
    seconds = time.perf_counter() - start
    assert hist.history["reg_penalty"] == hist.history["reg_penalty_builtin"]
    return model, hist.history, seconds, builtin.initial


rows, histories, kernels, initial = [], {}, {}, {}
for config in CONFIGS:
    # One BLAS thread, as `numpynet compare` trains MobileNetV2: the same float32 sums (so the same numbers) however
    # many cores, and no slowdown when another process holds a core (two OpenBLAS threads then wait on each other).
    with threadpool_limits(limits=1, user_api="blas"):
        model, history, seconds, initial[config.name] = train(config)
        test = model.evaluate(data.X_test, data.y_test)
    histories[config.name] = history
    kernels[config.name] = np.concatenate([layer.params["W"].ravel() for layer in model.layers
                                           if "W" in layer.params])
    rows.append({"config": config.name, "train acc": history["accuracy"][-1], "val acc": history["val_accuracy"][-1],
                 "test acc": test["accuracy"], "penalty": history["reg_penalty"][-1],
                 "s/epoch": seconds / config.epochs})
    print(f"{config.name:<5} test accuracy {test['accuracy']:.2%}  ({seconds / config.epochs:.1f} s/epoch)")"""),
    code("""
print(f"{'config':<7}{'train acc':>10}{'val acc':>9}{'test acc':>10}{'penalty':>10}{'s/epoch':>9}")
for r in rows:
    print(f"{r['config']:<7}{r['train acc']:>10.2%}{r['val acc']:>9.2%}{r['test acc']:>10.2%}{r['penalty']:>10.4f}"
          f"{r['s/epoch']:>9.2f}")
print()
print("sum(model.losses) before training, then after each epoch")
for name, h in histories.items():
    print(f"{name:<5}", "  ".join(f"{v:8.4f}" for v in [initial[name]] + h["reg_penalty"]))
assert histories["none"]["reg_penalty"] == [0.0] * EPOCHS
assert all(v > 0 for name in ("l1", "l2") for v in histories[name]["reg_penalty"])"""),
    md("""
(*train acc* is the training-mode accuracy of the last epoch, as Keras logs it; *val* and *test* are measured in
inference mode.)

## The regularization loss, epoch by epoch
"""),
    code("plots.plot_reg_penalty(histories, initial=initial)"),
    code("plots.plot_curves(histories)"),
    md("""
## The learned kernels

Histograms of every kernel weight of each network (log-scaled counts), and the share with |w| < 10⁻³:
"""),
    code("plots.plot_weight_histograms(kernels, title='all kernel weights of MobileNetV2')"),
    md("""
## Reading the results

Measured with the full settings (`numpynet compare --preset mobilenet`: width 0.5, 607k weights, 2,000 Fashion-MNIST
training images + 200 for validation, 2,000 test images, 5 epochs of SGD lr 0.01 momentum 0.9, batch 32, seed 0,
float32; about 7 s per epoch and configuration on one core, 2 minutes for the grid on 2 cores):

| regularization | train acc | val acc | test acc | penalty: start → epoch 1 → 5 | \\|W\\| < 1e-3 | mean \\|W\\| |
|---|---|---|---|---|---|---|
| none | 79.80 % | 74.50 % | **74.50 %** | 0 | 1.0 % | 0.0646 |
| L1 `l1(l1=0.001)` | 81.65 % | 73.50 % | **77.00 %** | 31.75 → 33.83 → 22.05 | 26.0 % | 0.0385 |
| L2 `l2(l2=0.001)` | 81.50 % | 74.00 % | **75.15 %** | 2.58 → 6.29 → 5.74 | 1.0 % | 0.0605 |

(*train acc* here is measured in inference mode after training; |W| is over every kernel of the network.)

*The accuracies are close, and their order is noise.* Five epochs on 2,000 images barely start to overfit
(training 80 %, validation 74 %). The same grid trained with two BLAS threads instead of one — the same arithmetic,
float32 sums in another order — ended at none 76.45 %, L1 73.05 %, L2 73.25 %: the order flips, while the penalty
curves agree within 1 %. Differences of 1–2.5 points on 2,000 test images (a standard error of about 1 point) are
no ranking. Unlike the dense network of notebook 2, the penalties cost nothing here.

*Why do both penalties rise in the first epoch?* Almost every kernel of MobileNetV2 feeds a BatchNormalization
layer, which divides its output by its standard deviation: the loss does not change when such a kernel is scaled,
so its data gradient is orthogonal to it, and an SGD step w + Δ with Δ ⊥ w always makes ‖w‖ longer
(‖w + Δ‖² = ‖w‖² + ‖Δ‖²). In the first epoch the gradients are large and this growth beats the penalty.

*Then each penalty does what its gradient says.* L2's gradient 2λw shrinks every weight by the same factor: with
momentum 0.9 the effective step is lr/(1 − 0.9) = 0.1, so w² shrinks by (1 − 0.1·2·0.001)² per step, 9.6 % over the
last four epochs' 252 steps — the measured fall is 8.8 % (6.29 → 5.74): after epoch 1 the data gradient hardly
changes the norms any more. L1's gradient λ·sign(w) moves every weight towards zero by the same 10⁻⁴ per step, so
small weights reach zero and stay there: 26 % of all kernel weights end below 10⁻³ (the spike in the histogram),
against 1 % without or with L2, and Σ|w| falls by a third.

*Why does shrinking scale-invariant weights not hurt?* For a kernel before batch normalization a penalty cannot make
the function simpler; it only makes the kernel shorter, and the same SGD step then turns a shorter kernel by a larger
angle: weight decay acts as a *larger effective learning rate* (van Laarhoven, 2017). Only the classifier's weights
and bias are penalized in the classical sense.

*With the reference's learning rate 0.05* (`--optimizer "sgd(lr=0.05, momentum=0.9)"`) the first epoch inflates the
kernels: L2's penalty goes 2.58 → 70.9 (‖w‖ ×5), the effective learning rate falls about 27-fold, and after
5 epochs all three configurations sit at 45 % test accuracy (none 44.65 %, L1 45.45 %, L2 45.50 %).

*At full width* (`--width 1`, 2.3 million weights, 13 s per epoch and configuration, 3.5 minutes for the grid) the
same λ is no longer harmless for L1: its penalty starts at 87 (0.001 · Σ|w| over 2.3 million weights, 40 times the
data loss), falls to 45, zeroes 40 % of the weights, and costs 10 points (none 77.15 %, L1 66.95 %, L2 75.55 %). A
penalty summed over the weights grows with their number; the same λ means a stronger regularization for a bigger
network.

To see a penalty *help*, make the network overfit: fewer images or many more epochs.
"""),
]

# ============================================================================================== 7
NB7 = [md("""
# 7 · Gradients and penalties at work

A loss curve says *that* a network learns, not *how*. Here we look inside the gradient itself:

1. **Vanishing gradients**: a 6-layer sigmoid network against the same network with ReLU, layer by layer
   (`nn.callbacks.GradientStats`, `nn.plots.gradient_flow`).
2. **Data vs penalty**: how much of each weight's update comes from the data and how much from an L1 or an L2
   penalty, over training.
3. **One step, traced**: `nn.trace` records the forward and backward pass of a 2-layer network, and we redo every
   number by hand from the formulas.

`model.compute_gradients(X, y, split=True)` gives the two parts of the gradient of the total loss
$L = L_\\text{data} + L_\\text{penalty}$, aligned with `get_weights()`:

$$g_\\text{data} = \\frac{\\partial L_\\text{data}}{\\partial W}, \\qquad
g_\\text{pen} = \\frac{\\partial L_\\text{penalty}}{\\partial W}, \\qquad g = g_\\text{data} + g_\\text{pen}$$

and `GradientStats` records after every epoch, per weight, $\\|g\\|$, $\\|g_\\text{data}\\|$, $\\|g_\\text{pen}\\|$,
$\\|W\\|$ and the **penalty share** $\\|g_\\text{pen}\\| / (\\|g_\\text{data}\\| + \\|g_\\text{pen}\\|)$ (0: the
data alone moves the weight; ½: both pull equally hard), plus the share of dead ReLU units and of saturated
sigmoid/tanh values ($|z| > 4$). With `NUMPYNET_FAST=1` (CI) the data and the epochs shrink.
"""),
    code(SETUP),
    code("""
N_TRAIN, EPOCHS = (2000, 3) if FAST else (20000, 10)
data = ex.load_data(DATA, n_train=None if DATA == "digits" else N_TRAIN, n_test=500 if FAST else None)
print(data.describe())"""),
    md("""
## 1 · Sigmoid vs ReLU, six hidden layers

Backpropagation multiplies, layer after layer, by $W^\\top$ and by the activation's derivative:
$\\delta_{l-1} = (\\delta_l W_l^\\top) \\odot f'(a_{l-1})$. The sigmoid's derivative is at most
$\\sigma'(0) = \\tfrac14$, so each sigmoid layer shrinks the gradient by a factor of about 4 or more — six layers,
$4^6 \\approx 4000$. ReLU's derivative is 1 wherever the unit is active. Same data, same Glorot initialization,
same SGD:
"""),
    code("""
DEPTH, WIDTH = 6, 64
deep = {}
for act in ("sigmoid", "relu"):
    model = nn.DFN(hidden_dims=(WIDTH,) * DEPTH, activation=act, optimizer="sgd(lr=0.1)", seed=0)
    hist = model.fit(data.X_train, data.y_train, epochs=EPOCHS, batch_size=64, verbose=0,
                     callbacks=[nn.callbacks.GradientStats()])
    deep[act] = hist.history
    first, last = hist.history["grad_norm/dense/W"][0], hist.history[f"grad_norm/dense_{DEPTH}/W"][0]
    accuracy = model.evaluate(data.X_test, data.y_test)["accuracy"]
    print(f"{act:<8} epoch 1: ‖g‖ first layer {first:.2e}, last layer {last:.2e}, ratio {first / last:.1e};  "
          f"test accuracy {accuracy:.1%}")

ratio = {act: h["grad_norm/dense/W"][0] / h[f"grad_norm/dense_{DEPTH}/W"][0] for act, h in deep.items()}
assert ratio["sigmoid"] < 0.01 * ratio["relu"]      # the sigmoid network's first layer hardly learns"""),
    code("plots.gradient_flow(deep['sigmoid'], title='6 sigmoid layers: the gradient vanishes towards the input')"),
    code("plots.gradient_flow(deep['relu'], title='6 ReLU layers: the gradient reaches the input')"),
    md("""
In the sigmoid network the first layer's gradient is orders of magnitude smaller than the last one's, although no
unit is saturated (the bottom-right panel: $|z| > 4$ almost never happens with Glorot's initialization here) —
$\\sigma' \\le \\tfrac14$ alone is enough. In the ReLU network the norms stay within a factor of a few across the
depth; the price is *dead* units (bottom right): units whose pre-activation is negative for the whole batch pass
no gradient at all.

## 2 · L1 vs L2: the penalty's share of the update

The reference penalties on a 784-200-10 sigmoid network: L1 $\\lambda\\sum|w|$ with $\\lambda = 10^{-4}$ and L2
$\\tfrac{\\lambda}{2}\\sum w^2$ with $\\lambda = 0.01$. Their gradients differ in kind:

$$g_\\text{pen}^{L1} = \\lambda\\,\\operatorname{sign}(W), \\quad \\|g_\\text{pen}^{L1}\\| = \\lambda\\sqrt{\\#\\{w \\ne 0\\}}
\\qquad\\qquad g_\\text{pen}^{L2} = \\lambda W, \\quad \\|g_\\text{pen}^{L2}\\| = \\lambda\\|W\\|$$

L1 pushes every weight toward zero with the same constant force, however small the weight already is; L2 shrinks
each weight in proportion to its size, so its push fades as the weights shrink.
"""),
    code("""
PENALTIES = {"none": None, "L1": "l1(lambd=1e-4)", "L2": "l2(lambd=0.01)"}
models, stats = {}, {}
for name, reg in PENALTIES.items():
    model = nn.DFN(hidden_dims=(200,), activation="sigmoid", optimizer="sgd(lr=0.1)", regularizer=reg, seed=0)
    hist = model.fit(data.X_train, data.y_train, epochs=EPOCHS, batch_size=64, verbose=0,
                     callbacks=[nn.callbacks.GradientStats()])
    models[name], stats[name] = model, hist.history
    h = hist.history
    print(f"{name:<5} first kernel, per epoch:  penalty share "
          + " ".join(f"{v:5.1%}" for v in h["penalty_share/dense/W"])
          + "   ‖g_pen‖ " + " ".join(f"{v:.4f}" for v in h["penalty_grad_norm/dense/W"]))

l1, l2 = stats["L1"], stats["L2"]
W_l1 = models["L1"].get_layer("dense").params["W"]
# L2: ‖g_pen‖ = λ‖W‖ at every epoch; L1: ‖g_pen‖ = λ·√(number of nonzero weights), constant
np.testing.assert_allclose(l2["penalty_grad_norm/dense/W"], 0.01 * np.array(l2["weight_norm/dense/W"]), rtol=1e-5)
assert np.isclose(l1["penalty_grad_norm/dense/W"][-1], 1e-4 * np.sqrt(np.count_nonzero(W_l1)), rtol=1e-5)
assert max(l1["penalty_grad_norm/dense/W"]) / min(l1["penalty_grad_norm/dense/W"]) < 1.01
assert all(v == 0 for v in stats["none"]["penalty_share/dense/W"])
assert all(v > 0 for v in l1["penalty_share/dense/W"] + l2["penalty_share/dense/W"])"""),
    code("""
from matplotlib.figure import Figure

fig = Figure(figsize=(11, 3.6), layout="constrained")
ax_share, ax_pen, ax_w = fig.subplots(1, 3)
epochs = np.arange(1, EPOCHS + 1)
for name in ("L1", "L2"):
    h = stats[name]
    ax_share.plot(epochs, h["penalty_share/dense/W"], "o-", label=name)
    ax_pen.plot(epochs, h["penalty_grad_norm/dense/W"], "o-", label=name)
    ax_w.plot(epochs, h["weight_norm/dense/W"], "o-", label=name)
ax_w.plot(epochs, stats["none"]["weight_norm/dense/W"], "o--", color="0.5", label="none")
ax_share.set(title="penalty share of the first kernel's gradient", xlabel="epoch")
ax_pen.set(title="‖g_pen‖: L1 constant, L2 ∝ ‖W‖", xlabel="epoch")
ax_w.set(title="‖W‖ of the first kernel", xlabel="epoch")
for ax in (ax_share, ax_pen, ax_w):
    ax.set_xticks(epochs)
    ax.legend()
    ax.grid(alpha=0.3)
fig"""),
    md("""
The weights themselves, layer by layer and penalty by penalty (`nn.plots.weight_distributions`). L1's constant
push collects weights at zero (the spike, more visible with more epochs); L2 narrows the whole distribution:
"""),
    code("plots.weight_distributions(models)"),
    md("""
## 3 · One step of a 2-layer network, traced and redone by hand

`nn.trace(model, X, y)` runs one forward and one backward pass and records, for every layer, its input and output
(shapes, norms), the gradient it received $\\partial L/\\partial y$ and the one it passed on
$\\partial L/\\partial x$, and for every weight the data and penalty parts of its gradient. It changes nothing in
the model. A 5-3-3 sigmoid network with L2 ($\\lambda = 0.1$) on 4 samples, in float64:
"""),
    code("""
rng = np.random.default_rng(0)
Xs, ys = rng.normal(size=(4, 5)), np.array([0, 2, 1, 2])
lambd, lr = 0.1, 0.5
tiny = nn.DFN(hidden_dims=(3,), n_classes=3, activation="sigmoid", regularizer=f"l2(lambd={lambd})",
              optimizer=f"sgd(lr={lr})", seed=0, dtype="float64")
tiny.build(Xs.shape)
step = nn.trace(tiny, Xs, ys)
print(step)"""),
    md("""
By hand, with $Y$ the one-hot labels and $N = 4$:

$$a = XW_1 + b_1,\\quad h = \\sigma(a),\\quad z = hW_2 + b_2,\\quad P = \\operatorname{softmax}(z),\\quad
L = -\\frac1N\\sum_n \\log P_{n,y_n} + \\frac{\\lambda}{2}\\left(\\|W_1\\|^2 + \\|W_2\\|^2\\right)$$

$$\\frac{\\partial L}{\\partial z} = \\frac{P - Y}{N},\\quad
g^{\\text{data}}_{W_2} = h^\\top \\frac{\\partial L}{\\partial z},\\quad
\\frac{\\partial L}{\\partial h} = \\frac{\\partial L}{\\partial z} W_2^\\top,\\quad
\\frac{\\partial L}{\\partial a} = \\frac{\\partial L}{\\partial h} \\odot h(1 - h),\\quad
g^{\\text{data}}_{W_1} = X^\\top \\frac{\\partial L}{\\partial a},\\quad g^{\\text{pen}}_{W_i} = \\lambda W_i$$
"""),
    code("""
W1, b1, W2, b2 = tiny.get_weights()
a = Xs @ W1 + b1
h = 1.0 / (1.0 + np.exp(-a))
z = h @ W2 + b2
P = np.exp(z - z.max(axis=1, keepdims=True))
P /= P.sum(axis=1, keepdims=True)
Y = np.eye(3)[ys]
data_loss = -np.mean(np.log(P[np.arange(4), ys]))
penalty = lambd / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))

dz = (P - Y) / 4
dW2, db2 = h.T @ dz, dz.sum(axis=0)
dh = dz @ W2.T
da = dh * h * (1.0 - h)
dW1, db1 = Xs.T @ da, da.sum(axis=0)
dX = da @ W1.T

check = np.testing.assert_allclose
hidden, output = step["dense"], step["dense_1"]
check(hidden.y, h, rtol=1e-12)                    # forward
check(output.y, z, rtol=1e-12)
assert np.isclose(step.data_loss, data_loss, rtol=1e-12) and np.isclose(step.penalty, penalty, rtol=1e-12)
check(output.dy, dz, rtol=1e-10)                  # backward, layer by layer
check(hidden.dy, dh, rtol=1e-10)
check(hidden.dx, dX, rtol=1e-10)
for name, by_hand_data, by_hand_penalty in (("dense/W", dW1, lambd * W1), ("dense/b", db1, 0 * b1),
                                            ("dense_1/W", dW2, lambd * W2), ("dense_1/b", db2, 0 * b2)):
    check(step.grads[name]["data"], by_hand_data, rtol=1e-10, atol=1e-15)
    check(step.grads[name]["penalty"], by_hand_penalty, rtol=1e-12, atol=0)
print(f"every number of the trace agrees with the formulas; loss {step.data_loss:.6f} + {step.penalty:.6f}")"""),
    md("""
The optimizer's step uses the total gradient $g = g_\\text{data} + g_\\text{pen}$: plain SGD moves every weight by
$-\\eta\\,g$. One `train_on_batch` reproduces it:
"""),
    code("""
tiny.train_on_batch(Xs, ys)
W1_new, b1_new, W2_new, b2_new = tiny.get_weights()
check(W1_new, W1 - lr * (dW1 + lambd * W1), rtol=1e-12)
check(W2_new, W2 - lr * (dW2 + lambd * W2), rtol=1e-12)
check(b1_new, b1 - lr * db1, rtol=1e-12, atol=1e-15)
check(b2_new, b2 - lr * db2, rtol=1e-12, atol=1e-15)
print("one SGD step, by hand: W ← W − η·(g_data + λW)")"""),
    md("""
For a handout, the same trace as Markdown (`step.to_markdown()`) or HTML (`step.to_html()`, also what the
notebook shows for `step` on its own):
"""),
    code("""
from IPython.display import Markdown

Markdown(step.to_markdown())"""),
    md("""
From the command line: `numpynet train --grad-stats` prints these statistics for the last epoch and writes them
to `run.json` with a `gradient_flow.png`; `numpynet compare --penalty-share` adds the penalty's share of the
kernels' gradient as a column of the comparison table.
"""),
]

NOTEBOOKS = {
    "01_backprop_by_hand.ipynb": NB1,
    "02_l1_vs_l2.ipynb": NB2,
    "03_regularization_zoo.ipynb": NB3,
    "04_lenet5.ipynb": NB4,
    "05_compare_with_keras.ipynb": NB5,
    "06_mobilenet_regularizers.ipynb": NB6,
    "07_gradients_and_penalties.ipynb": NB7,
}


def build(cells):
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"   # stable ids: regenerating gives the same file
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main():
    for name, cells in NOTEBOOKS.items():
        nb = build(cells)
        nbformat.validate(nb)
        path = os.path.join(HERE, name)
        with open(path, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
