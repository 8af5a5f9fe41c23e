# %% [markdown]
# # 7 · Gradients and penalties at work
#
# A loss curve says *that* a network learns, not *how*. Here we look inside the gradient itself:
#
# 1. **Vanishing gradients**: a 6-layer sigmoid network against the same network with ReLU, layer by layer
#    (`nn.callbacks.GradientStats`, `nn.plots.gradient_flow`).
# 2. **Data vs penalty**: how much of each weight's update comes from the data and how much from an L1 or an L2
#    penalty, over training.
# 3. **One step, traced**: `nn.trace` records the forward and backward pass of a 2-layer network, and we redo every
#    number by hand from the formulas.
#
# `model.compute_gradients(X, y, split=True)` gives the two parts of the gradient of the total loss
# $L = L_\text{data} + L_\text{penalty}$, aligned with `get_weights()`:
#
# $$g_\text{data} = \frac{\partial L_\text{data}}{\partial W}, \qquad
# g_\text{pen} = \frac{\partial L_\text{penalty}}{\partial W}, \qquad g = g_\text{data} + g_\text{pen}$$
#
# and `GradientStats` records after every epoch, per weight, $\|g\|$, $\|g_\text{data}\|$, $\|g_\text{pen}\|$,
# $\|W\|$ and the **penalty share** $\|g_\text{pen}\| / (\|g_\text{data}\| + \|g_\text{pen}\|)$ (0: the
# data alone moves the weight; ½: both pull equally hard), plus the share of dead ReLU units and of saturated
# sigmoid/tanh values ($|z| > 4$). With `NUMPYNET_FAST=1` (CI) the data and the epochs shrink.

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
N_TRAIN, EPOCHS = (2000, 3) if FAST else (20000, 10)
data = ex.load_data(DATA, n_train=None if DATA == "digits" else N_TRAIN, n_test=500 if FAST else None)
print(data.describe())

# %% [markdown]
# ## 1 · Sigmoid vs ReLU, six hidden layers
#
# Backpropagation multiplies, layer after layer, by $W^\top$ and by the activation's derivative:
# $\delta_{l-1} = (\delta_l W_l^\top) \odot f'(a_{l-1})$. The sigmoid's derivative is at most
# $\sigma'(0) = \tfrac14$, so each sigmoid layer shrinks the gradient by a factor of about 4 or more — six layers,
# $4^6 \approx 4000$. ReLU's derivative is 1 wherever the unit is active. Same data, same Glorot initialization,
# same SGD:

# %%
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
assert ratio["sigmoid"] < 0.01 * ratio["relu"]      # the sigmoid network's first layer hardly learns

# %%
plots.gradient_flow(deep['sigmoid'], title='6 sigmoid layers: the gradient vanishes towards the input')

# %%
plots.gradient_flow(deep['relu'], title='6 ReLU layers: the gradient reaches the input')

# %% [markdown]
# In the sigmoid network the first layer's gradient is orders of magnitude smaller than the last one's, although no
# unit is saturated (the bottom-right panel: $|z| > 4$ almost never happens with Glorot's initialization here) —
# $\sigma' \le \tfrac14$ alone is enough. In the ReLU network the norms stay within a factor of a few across the
# depth; the price is *dead* units (bottom right): units whose pre-activation is negative for the whole batch pass
# no gradient at all.
#
# ## 2 · L1 vs L2: the penalty's share of the update
#
# The reference penalties on a 784-200-10 sigmoid network: L1 $\lambda\sum|w|$ with $\lambda = 10^{-4}$ and L2
# $\tfrac{\lambda}{2}\sum w^2$ with $\lambda = 0.01$. Their gradients differ in kind:
#
# $$g_\text{pen}^{L1} = \lambda\,\operatorname{sign}(W), \quad \|g_\text{pen}^{L1}\| = \lambda\sqrt{\#\{w \ne 0\}}
# \qquad\qquad g_\text{pen}^{L2} = \lambda W, \quad \|g_\text{pen}^{L2}\| = \lambda\|W\|$$
#
# L1 pushes every weight toward zero with the same constant force, however small the weight already is; L2 shrinks
# each weight in proportion to its size, so its push fades as the weights shrink.

# %%
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
assert all(v > 0 for v in l1["penalty_share/dense/W"] + l2["penalty_share/dense/W"])

# %%
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
fig

# %% [markdown]
# The weights themselves, layer by layer and penalty by penalty (`nn.plots.weight_distributions`). L1's constant
# push collects weights at zero (the spike, more visible with more epochs); L2 narrows the whole distribution:

# %%
plots.weight_distributions(models)

# %% [markdown]
# ## 3 · One step of a 2-layer network, traced and redone by hand
#
# `nn.trace(model, X, y)` runs one forward and one backward pass and records, for every layer, its input and output
# (shapes, norms), the gradient it received $\partial L/\partial y$ and the one it passed on
# $\partial L/\partial x$, and for every weight the data and penalty parts of its gradient. It changes nothing in
# the model. A 5-3-3 sigmoid network with L2 ($\lambda = 0.1$) on 4 samples, in float64:

# %%
rng = np.random.default_rng(0)
Xs, ys = rng.normal(size=(4, 5)), np.array([0, 2, 1, 2])
lambd, lr = 0.1, 0.5
tiny = nn.DFN(hidden_dims=(3,), n_classes=3, activation="sigmoid", regularizer=f"l2(lambd={lambd})",
              optimizer=f"sgd(lr={lr})", seed=0, dtype="float64")
tiny.build(Xs.shape)
step = nn.trace(tiny, Xs, ys)
print(step)

# %% [markdown]
# By hand, with $Y$ the one-hot labels and $N = 4$:
#
# $$a = XW_1 + b_1,\quad h = \sigma(a),\quad z = hW_2 + b_2,\quad P = \operatorname{softmax}(z),\quad
# L = -\frac1N\sum_n \log P_{n,y_n} + \frac{\lambda}{2}\left(\|W_1\|^2 + \|W_2\|^2\right)$$
#
# $$\frac{\partial L}{\partial z} = \frac{P - Y}{N},\quad
# g^{\text{data}}_{W_2} = h^\top \frac{\partial L}{\partial z},\quad
# \frac{\partial L}{\partial h} = \frac{\partial L}{\partial z} W_2^\top,\quad
# \frac{\partial L}{\partial a} = \frac{\partial L}{\partial h} \odot h(1 - h),\quad
# g^{\text{data}}_{W_1} = X^\top \frac{\partial L}{\partial a},\quad g^{\text{pen}}_{W_i} = \lambda W_i$$

# %%
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
print(f"every number of the trace agrees with the formulas; loss {step.data_loss:.6f} + {step.penalty:.6f}")

# %% [markdown]
# The optimizer's step uses the total gradient $g = g_\text{data} + g_\text{pen}$: plain SGD moves every weight by
# $-\eta\,g$. One `train_on_batch` reproduces it:

# %%
tiny.train_on_batch(Xs, ys)
W1_new, b1_new, W2_new, b2_new = tiny.get_weights()
check(W1_new, W1 - lr * (dW1 + lambd * W1), rtol=1e-12)
check(W2_new, W2 - lr * (dW2 + lambd * W2), rtol=1e-12)
check(b1_new, b1 - lr * db1, rtol=1e-12, atol=1e-15)
check(b2_new, b2 - lr * db2, rtol=1e-12, atol=1e-15)
print("one SGD step, by hand: W ← W − η·(g_data + λW)")

# %% [markdown]
# For a handout, the same trace as Markdown (`step.to_markdown()`) or HTML (`step.to_html()`, also what the
# notebook shows for `step` on its own):

# %%
from IPython.display import Markdown

Markdown(step.to_markdown())

# %% [markdown]
# From the command line: `numpynet train --grad-stats` prints these statistics for the last epoch and writes them
# to `run.json` with a `gradient_flow.png`; `numpynet compare --penalty-share` adds the penalty's share of the
# kernels' gradient as a column of the comparison table.
