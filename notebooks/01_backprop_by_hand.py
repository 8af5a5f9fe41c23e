# %% [markdown]
# # 1 · Backpropagation by hand
#
# One Dense layer and a softmax cross-entropy loss, forward and backward written out in NumPy, then checked against
# central differences with `numpynet.gradcheck`. Then a hidden sigmoid layer and an L2 penalty, and finally the same
# numbers from numpynet itself.
#
# **Forward.** For a batch $X$ of $N$ rows, weights $W$ (in × out) and bias $b$:
#
# $$z = XW + b, \qquad p_{nk} = \frac{e^{z_{nk}}}{\sum_j e^{z_{nj}}}, \qquad
# L = -\frac{1}{N}\sum_n \log p_{n, y_n}$$
#
# **Backward.** With $Y$ the one-hot labels, softmax and cross-entropy together have the famously simple gradient
#
# $$\frac{\partial L}{\partial z} = \frac{P - Y}{N}, \qquad
# \frac{\partial L}{\partial W} = X^\top \frac{\partial L}{\partial z}, \qquad
# \frac{\partial L}{\partial b} = \sum_n \frac{\partial L}{\partial z_n}, \qquad
# \frac{\partial L}{\partial X} = \frac{\partial L}{\partial z} W^\top$$

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
print(f"loss {loss:.4f}; shapes: dW {dW.shape}, db {db.shape}, dX {dX.shape}")

# %% [markdown]
# ## Checking with central differences
#
# $\partial L/\partial w_i \approx \big(L(w + \varepsilon e_i) - L(w - \varepsilon e_i)\big) / 2\varepsilon$
# has an error of order $\varepsilon^2$. `numerical_gradient(f, w)` perturbs every entry of `w` in place;
# `relative_error` compares the two gradients as $\|g - g_{num}\| / (\|g\| + \|g_{num}\|)$. In float64 a correct
# gradient scores about $10^{-9}$–$10^{-7}$; a wrong one about $10^{-1}$.

# %%
from numpynet.gradcheck import numerical_gradient, relative_error

f = lambda: forward(X, W, b)[0]
errors = {"W": relative_error(dW, numerical_gradient(f, W)),
          "b": relative_error(db, numerical_gradient(f, b)),
          "X": relative_error(dX, numerical_gradient(f, X))}
for name, err in errors.items():
    print(f"d{name}: relative error {err:.2e}")
assert max(errors.values()) < 1e-7


# %% [markdown]
# What does a bug look like? Forget the $1/N$ of the mean and the check is off by a factor $N$ — the relative error
# jumps to $(N-1)/(N+1)$:

# %%
def backward_buggy(X, p, W):
    dz = p.copy()
    dz[np.arange(len(y)), y] -= 1.0          # forgot: dz /= N
    return X.T @ dz, dz.sum(axis=0), dz @ W.T

bad = relative_error(backward_buggy(X, p, W)[0], numerical_gradient(f, W))
print(f"buggy dW: relative error {bad:.2e}  (expected (N-1)/(N+1) = {(N - 1) / (N + 1):.2e})")
assert bad > 0.5

# %% [markdown]
# ## A hidden layer and an L2 penalty
#
# $h = \sigma(XW_1 + b_1)$, $z = hW_2 + b_2$, and the total loss adds $\tfrac{\lambda}{2}(\|W_1\|^2 + \|W_2\|^2)$
# (`l2(lambd=λ)`, the textbook convention). Backward, layer by layer, reusing what forward computed:
#
# $$dz = \frac{P - Y}{N},\quad dW_2 = h^\top dz + \lambda W_2,\quad dh = dz\,W_2^\top,\quad
# da = dh \odot h(1-h),\quad dW_1 = X^\top da + \lambda W_1$$

# %%
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
    assert err < 1e-6

# %% [markdown]
# ## The same network in numpynet
#
# `nn.DFN(hidden_dims=(12,), activation="sigmoid", regularizer="l2(lambd=0.1)")` is exactly this network. Give it our
# weights and `compute_gradients` returns our hand-written gradients (same order as `get_weights()`, as in Keras):

# %%
model = nn.DFN(hidden_dims=(H,), n_classes=K, activation="sigmoid", regularizer=f"l2(lambd={lambd})",
               seed=0, dtype="float64")
model.build(X.shape)
model.set_weights([W1, b1, W2, b2])
loss_nn, grads_nn = model.compute_gradients(X, y)
print(f"loss: by hand {total:.12f}, numpynet {loss_nn:.12f}")
for name, ours, theirs in zip(model.weight_names(), grads, grads_nn):
    print(f"{name:<10} max |difference| {np.max(np.abs(ours - theirs)):.1e}")
    np.testing.assert_allclose(theirs, ours, rtol=1e-10, atol=1e-14)

# %% [markdown]
# `nn.gradcheck` runs the central-difference check on any layer or model: `check_layer` perturbs the input and every
# parameter of one layer, `check_model` every weight of a model against its total loss (data + penalties).

# %%
layer = nn.layers.Dense(7, activation="tanh", kernel_regularizer="l1(lambd=0.01)")
print(nn.gradcheck.check_layer(layer, X[:5]).table())
print()
deep = nn.DFN(hidden_dims=(8, 6), n_classes=10, activation="tanh", regularizer="l2(lambd=0.1)", seed=1,
              dtype="float64")
report = nn.gradcheck.check_model(deep, X, y)
print(report.table())
assert report < 1e-6

# %% [markdown]
# The same check is one command away: `numpynet gradcheck --hidden 5 --activation tanh --regularizer "l2(lambd=0.1)"`.
