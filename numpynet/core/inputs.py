"""What the user passes to fit / evaluate / predict, checked once and turned into what the passes take.

Inputs: one C-contiguous array per model input, in the model's dtype, with a batch axis, finite, and of the
sample shape the model was built for. Targets: per output, integer labels ``(N,)`` for a classifier (in range) or
target rows ``(N, ...)`` of the output's shape, checked by the output's loss over all samples at once — so that
a bad row in a late batch fails before the first update, not after some. Every failure is a DataError or a
ShapeError that names the argument, what was expected and what came.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError, ShapeError


def as_numeric_array(value, name):
    """``value`` as a numeric (or bool) ndarray, or a DataError naming the argument ``name``."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"argument {name!r} cannot be converted to an array: {exc}") from None
    if arr.dtype.kind not in "biuf":      # bool, signed, unsigned, float (dtype.kind: no issubdtype cost)
        what = "real numbers (complex values would lose their imaginary part)" if arr.dtype.kind == "c" else \
            "numeric"
        raise DataError(f"argument {name!r} must be {what}, got dtype {arr.dtype}")
    return arr


def check_inputs(X, name="X"):
    """``X`` as a float ndarray with a batch axis, or a clear DataError/ShapeError (NaN, inf, empty, non-numeric)."""
    arr = as_numeric_array(X, name)
    if arr.ndim < 2:
        raise ShapeError(f"argument {name!r} must have a batch axis and features, e.g. (n_samples, n_features); "
                         f"got shape {arr.shape} (use X.reshape(-1, 1) for a single feature)")
    if arr.shape[0] == 0:
        raise DataError(f"argument {name!r} is empty (0 samples)")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"argument {name!r} contains NaN or inf (first at index {tuple(int(i) for i in bad)})")
    return arr


def as_list(model, data, n, what):
    """One array per input (or output) from an array, a list/tuple or a dict keyed by layer name."""
    if isinstance(data, dict):
        tensors = model._inputs if what == "X" else model._outputs
        names = [t.node.layer.name for t in tensors]
        unknown = sorted(set(data) - set(names))
        if unknown or len(data) != n:
            raise DataError(f"argument {what!r}: expected keys {names}, got {sorted(data)}")
        return [data[name] for name in names]
    if n > 1:
        if not isinstance(data, (list, tuple)) or len(data) != n:
            got = f"{len(data)} arrays" if isinstance(data, (list, tuple)) else type(data).__name__
            raise DataError(f"argument {what!r}: the model has {n} {'inputs' if what == 'X' else 'outputs'}, "
                            f"so pass a list of {n} arrays; got {got}")
        return list(data)
    if isinstance(data, (list, tuple)) and len(data) == 1 and isinstance(data[0], np.ndarray):
        return [data[0]]
    return [data]


def check_x(model, X, name="X"):
    xs = as_list(model, X, model._n_inputs(), "X")
    names = [name] if len(xs) == 1 else [f"{name}[{i}]" for i in range(len(xs))]
    xs = [check_inputs(x, nm) for x, nm in zip(xs, names)]
    sizes = {x.shape[0] for x in xs}
    if len(sizes) > 1:
        raise DataError(f"argument {name!r}: the input arrays have different numbers of samples {sorted(sizes)}")
    return xs


def prepare_x(model, X, name="X"):
    xs = check_x(model, X, name)
    model._ensure_built(xs)
    out = []
    for i, x in enumerate(xs):
        converted = np.ascontiguousarray(x, dtype=model.dtype)
        # float64 values beyond float32's range (1e39) pass the finiteness check and become inf here
        if converted is not x and x.dtype.kind == "f" and x.dtype.itemsize > converted.dtype.itemsize \
                and not np.isfinite(converted).all():
            arg = name if len(xs) == 1 else f"{name}[{i}]"
            limit = float(np.finfo(model.dtype).max)
            raise DataError(f"argument {arg!r} has values beyond the {np.dtype(model.dtype).name} range "
                            f"(|x| > {limit:.3g}); rescale the inputs or use dtype='float64'")
        out.append(converted)
    return out


def prepare_y(model, y, n, name="y"):
    outs = len(model._outputs)
    ys = as_list(model, y, outs, "y")
    names = [name] if outs == 1 else [f"{name}[{i}]" for i in range(outs)]
    return [prepare_targets(model, t, n, nm, i) for i, (t, nm) in enumerate(zip(ys, names))]


def prepare_targets(model, y, n, name="y", index=0):
    """Integer labels (N,) or one-hot / target rows (N, out): validated once, in a dtype the loss takes."""
    y = as_numeric_array(y, name)
    if y.shape[:1] != (n,):
        raise ShapeError(f"argument {name!r} has {y.shape[0] if y.ndim else 0} samples but X has {n}")
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        raise DataError(f"argument {name!r} contains NaN or inf")
    out_shape = model.output_shapes[index]
    out_dim = out_shape[-1]
    loss = model._output_losses()[index] if model.loss is not None else None
    categorical = loss is not None and loss.spec_name in (
        "softmax_cross_entropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
    if y.ndim == 2 and y.shape[1] == 1 and out_dim > 1 and categorical:
        y = y[:, 0]
    if y.ndim == 1 and len(out_shape) > 2:
        raise ShapeError(f"argument {name!r} has one label per sample, but the model outputs "
                         f"{tuple(out_shape[1:])} per sample (its input 'X' has samples of shape "
                         f"{tuple(model.input_shapes[0][1:])}); flatten X or add nn.layers.Flatten() first")
    if y.ndim == 1 and (categorical or out_dim > 1):
        if not np.all(np.mod(y, 1) == 0):
            raise DataError(f"argument {name!r}: class labels must be integers, got values such as "
                            f"{y[np.mod(y, 1) != 0][0]!r}")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= out_dim:
            raise DataError(f"argument {name!r}: labels must be in [0, {out_dim - 1}] for a model with "
                            f"{out_dim} outputs, got {lo if lo < 0 else hi}")
        return y.astype(np.int64)
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if tuple(y.shape[1:]) != tuple(out_shape[1:]):
        hint = ""
        if len(out_shape) > 2 and len(model.input_shapes) == 1:   # Dense on (N, a, b) inputs works per row
            hint = (f" because 'X' has samples of shape {tuple(model.input_shapes[0][1:])}: flatten X or add "
                    f"nn.layers.Flatten() first")
        raise ShapeError(f"argument {name!r} has rows of shape {y.shape[1:]}, but the model outputs "
                         f"{tuple(out_shape[1:])}{hint}")
    y = y.astype(model.dtype)
    if loss is not None:
        # the loss's own target checks (probability rows >= 0, binary targets in [0, 1]) over all of y at
        # once: a bad row in a late batch must fail before the first update, not after some
        uniform = np.full(y.shape, 1.0 / y.shape[-1], dtype=model.dtype)
        try:
            loss.forward(uniform, y)
        except (DataError, ShapeError) as exc:
            raise type(exc)(f"argument {name!r}: {exc}") from None
    return y
