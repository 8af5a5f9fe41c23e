"""Numerical gradient checking with central differences, in float64.

For a scalar function f and a parameter array w, the central difference

    df/dw[i] ≈ (f(w + ε·e_i) − f(w − ε·e_i)) / (2ε)

has error O(ε²). We compare it with the hand-written gradient g by the relative error

    ‖g − g_num‖ / max(‖g‖ + ‖g_num‖, tiny)

per parameter array (the norm form is robust where entries are near zero). In float64 with ε = 1e-6, a correct
gradient scores about 1e-9..1e-7; a wrong one scores about 1e-1.
"""

from __future__ import annotations

import numpy as np

from .errors import SpecError
from .spec import check_int, check_number

TINY = 1e-12


class GradReport(float):
    """The worst relative error (a float) that also carries the per-parameter errors in ``.errors``.

    A NaN error anywhere makes the worst NaN (so ``report < tol`` fails): Python's ``max`` would skip it unless it
    came first, and a layer whose kernel gradient is all NaN would pass its check."""

    def __new__(cls, errors):
        worst = float(np.max(list(errors.values()))) if errors else 0.0   # np.max propagates NaN
        obj = super().__new__(cls, worst)
        obj.errors = dict(errors)
        return obj

    def table(self):
        width = max([len(k) for k in self.errors] + [9])
        lines = [f"{'parameter':<{width}}  max relative error"]
        lines += [f"{k:<{width}}  {v:.3e}" + ("   <-- check" if v > 1e-5 else "") for k, v in self.errors.items()]
        return "\n".join(lines)

    def __repr__(self):
        return f"GradReport(worst={float(self):.3e}, {len(self.errors)} parameters)"


def _check_eps(owner, eps):
    # A step of 0 divides by zero; a huge one measures a secant, not a derivative.
    return check_number(owner, "eps", eps, minimum=0.0, maximum=1.0, strict=True)


def relative_error(analytic, numeric):
    """‖a − b‖ / max(‖a‖ + ‖b‖, 1e-12)."""
    a = np.asarray(analytic, dtype=np.float64)
    b = np.asarray(numeric, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), TINY))


def numerical_gradient(f, w, eps=1e-6, indices=None):
    """Central-difference gradient of the scalar ``f()`` with respect to the array ``w``, perturbed in place.

    With ``indices`` (flat positions) only those entries are perturbed and a 1-D array of their derivatives is
    returned — for spot checks of big weight arrays.
    """
    flat = w.reshape(-1)   # a view: perturbing it perturbs w
    positions = range(flat.size) if indices is None else indices
    g = np.zeros(len(positions), dtype=np.float64)
    # Overflow in a saturating activation (exp of a large argument) is expected for some perturbed inputs.
    with np.errstate(over="ignore", under="ignore"):
        for j, i in enumerate(positions):
            old = flat[i]
            flat[i] = old + eps
            f_plus = f()
            flat[i] = old - eps
            f_minus = f()
            flat[i] = old
            g[j] = (f_plus - f_minus) / (2 * eps)
    return g.reshape(w.shape) if indices is None else g


def check_function(f, df, x, eps=1e-6):
    """Check an elementwise or vector function: ``f(x)`` -> array, ``df(x, dy)`` -> dL/dx for L = Σ f(x)·dy."""
    x = np.array(x, dtype=np.float64)
    dy = np.random.default_rng(0).standard_normal(np.shape(f(x)))
    analytic = df(x, dy)
    numeric = numerical_gradient(lambda: float(np.sum(f(x) * dy)), x, eps)
    return GradReport({"x": relative_error(analytic, numeric)})


def check_layer(layer, x, training=True, eps=1e-6, seed=0):
    """Check ``layer.backward`` (input gradient and every trainable parameter) against central differences.

    The layer is built in float64 if needed. The scalar is L = Σ forward(x)·dy for a fixed random dy. The layer's
    random generator is re-seeded before every forward pass so stochastic layers (dropout) use the same mask.
    For a merge layer (``multi_input``) ``x`` is a list of arrays and each input's gradient is checked
    ("input_0", "input_1", ...). Returns a :class:`GradReport` (a float: the worst relative error).
    """
    eps = _check_eps("check_layer", eps)
    seed = check_int("check_layer", "seed", seed, minimum=0)
    multi = getattr(layer, "multi_input", False)
    xs = [np.array(a, dtype=np.float64) for a in x] if multi else [np.array(x, dtype=np.float64)]
    if not layer.built:
        layer.dtype = np.float64
        layer.set_rng(np.random.default_rng(seed))
        shapes = [(None,) + a.shape[1:] for a in xs]
        layer.build(shapes if multi else shapes[0])
    for key, value in list(layer.params.items()):
        layer.params[key] = value.astype(np.float64)
    for key, value in list(layer.grads.items()):
        layer.grads[key] = value.astype(np.float64)

    def run():
        layer._rng = np.random.default_rng(seed + 1)
        return layer.forward(list(xs) if multi else xs[0], training=training)

    # dy from its own stream: drawn from the same seed as x it would equal x (same shape), hiding bugs that
    # confuse the two.
    dy = np.random.default_rng([seed, 1]).standard_normal(run().shape)
    saved = {k: v.copy() for k, v in layer.params.items()}
    run()
    layer.needs_input_grad = True
    dx = layer.backward(dy)
    dxs = list(dx) if multi else [dx]
    analytic = {k: layer.grads[k].copy() for k in layer.trainable_names}

    def loss():
        out = float(np.sum(run() * dy))
        for key in saved:   # undo side effects of training-mode forward passes (BatchNorm moving stats)
            if key not in analytic:
                layer.params[key][...] = saved[key]
        return out

    names = [f"input_{i}" for i in range(len(xs))] if multi else ["input"]
    errors = {name: relative_error(d, numerical_gradient(loss, a, eps)) for name, d, a in zip(names, dxs, xs)}
    for key in layer.trainable_names:
        errors[key] = relative_error(analytic[key], numerical_gradient(loss, layer.params[key], eps))
    return GradReport(errors)


def check_loss(loss, y_pred, y_true, eps=1e-6):
    """Check ``loss.backward(y_pred, y_true)`` against central differences of ``loss.forward``."""
    from . import losses as _losses
    loss = _losses.get(loss)
    y_pred = np.array(y_pred, dtype=np.float64)
    analytic = loss.backward(y_pred, y_true)
    numeric = numerical_gradient(lambda: float(loss.forward(y_pred, y_true)), y_pred, eps)
    return GradReport({"y_pred": relative_error(analytic, numeric)})


def check_regularizer(regularizer, w, eps=1e-6):
    """Check ``regularizer.grad(w)`` against central differences of ``regularizer.loss(w)``."""
    from . import regularizers as _regularizers
    reg = _regularizers.get(regularizer)
    w = np.array(w, dtype=np.float64)
    return GradReport({"W": relative_error(reg.grad(w), numerical_gradient(lambda: float(reg.loss(w)), w, eps))})


def check_model(model, X, y, eps=1e-6, training=False, max_entries=None, progress=None):
    """Check ``model.compute_gradients`` — total loss (data + penalties) — against central differences.

    The check runs in float64 (the model is switched to float64 for it and back to its own dtype afterwards;
    float32 → float64 → float32 is exact, so the weights come back unchanged). ``max_entries`` limits how many
    entries of each parameter are perturbed (a seeded random subset) for big models. ``progress``, if given, is
    called as ``progress(done, total)`` after each of the ``total`` = 2 × (entries checked) loss evaluations (a
    progress bar's hook; see :func:`count_entries`). Returns a :class:`GradReport`.
    """
    eps = _check_eps("check_model", eps)
    max_entries = check_int("check_model", "max_entries", max_entries, minimum=1, allow_none=True)
    if progress is not None and not callable(progress):
        raise SpecError(f"check_model: argument 'progress' must be a callable progress(done, total) or None, got "
                        f"{type(progress).__name__}")
    model._require_compiled()
    model._prepare(X, y)          # bad X / y raise here, before the model is touched
    dtype = model.dtype
    model.to_dtype(np.float64)
    try:
        return _check_model_float64(model, np.asarray(X, dtype=np.float64), y, eps, training, max_entries,
                                    progress)
    finally:
        model.to_dtype(dtype)


def count_entries(model, max_entries=None):
    """How many weight entries :func:`check_model` perturbs (each costs two loss evaluations)."""
    return sum(min(layer.params[key].size, max_entries or layer.params[key].size)
               for layer, key in model._weight_slots() if key in layer.trainable_names)


def _check_model_float64(model, X, y, eps, training, max_entries, progress):
    _, grads = model.compute_gradients(X, y, training=training)
    rng = np.random.default_rng(0)
    errors = {}
    evaluations = [0, 2 * count_entries(model, max_entries)]
    for (layer, key), g in zip(model._weight_slots(), grads):
        if key not in layer.trainable_names:
            continue   # moving statistics and frozen weights have no gradient
        name, w = f"{layer.name}/{key}", layer.params[key]

        def total():
            value = float(model.compute_loss(X, y, training=training))
            if progress is not None:
                evaluations[0] += 1
                progress(*evaluations)
            return value
        if max_entries is None or w.size <= max_entries:
            errors[name] = relative_error(g, numerical_gradient(total, w, eps))
            continue
        idx = rng.choice(w.size, size=max_entries, replace=False)
        num = numerical_gradient(total, w, eps, indices=idx)
        errors[name] = relative_error(g.reshape(-1)[idx], num)
    return GradReport(errors)
