"""numpynet vs Keras, number for number: :func:`compare` runs a model and its Keras twin (:func:`to_keras`) on one
batch and returns a :class:`Comparison`, the table of the largest differences in outputs, loss, gradients and
weights after one training step.
"""

from __future__ import annotations

import copy

import numpy as np

from ...core import optimizers as _optimizers
from ...core.errors import SpecError
from .backend import _tensorflow, keras_dtype
from .numpynet_to_keras import _build_keras, _is_graph
from .objects import _CATEGORICAL


class Comparison:
    """The table :func:`compare` returns: one row per quantity with the largest absolute difference
    ``max|a − b|`` and the relative one ``max|a − b| / max|b|`` (b = Keras).

    ``rows`` is a list of dicts (``name``, ``shape``, ``max_abs``, ``max_rel``, ``note``); ``worst_abs`` and
    ``worst_rel`` are the maxima over the comparable rows; ``comparison["loss"]`` gives one row by name.
    """

    def __init__(self, rows, dtype):
        self.rows = rows
        self.dtype = dtype

    def _comparable(self):
        return [r for r in self.rows if not r["note"]]

    @property
    def worst_abs(self):
        return max((r["max_abs"] for r in self._comparable()), default=0.0)

    @property
    def worst_rel(self):
        return max((r["max_rel"] for r in self._comparable()), default=0.0)

    def __getitem__(self, name):
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(name)

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def format(self):
        header = ("quantity", "shape", "max |Δ|", "max rel Δ")
        body = [(r["name"], str(r["shape"]), f"{r['max_abs']:.2e}", f"{r['max_rel']:.2e}"
                 + (f"  ({r['note']})" if r["note"] else "")) for r in self.rows]
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        line = "  ".join("-" * w for w in widths)
        out = [f"numpynet vs Keras ({self.dtype})", line,
               "  ".join(h.ljust(w) for h, w in zip(header, widths)), line]
        out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
        out += [line, f"worst: max |Δ| = {self.worst_abs:.2e}, max rel Δ = {self.worst_rel:.2e}"]
        return "\n".join(out)

    __str__ = format

    def __repr__(self):
        return f"<Comparison {len(self.rows)} rows, worst rel {self.worst_rel:.2e} ({self.dtype})>"


def _row(name, ours, theirs, note=""):
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    peak = max(scale, float(np.max(np.abs(a))) if a.size else 0.0)
    return {"name": name, "shape": tuple(a.shape), "max_abs": diff, "max_rel": diff / scale if scale > 0 else diff,
            "note": note, "_peak": peak}


#: an array whose values, on both sides, stay below this fraction of the largest array of its kind is zero up to
#: rounding (see :func:`_mark_rounding_zeros`)
ROUNDING_LEVEL = 1e-10


def _mark_rounding_zeros(rows):
    """Note (and so leave out of the worst values) the gradient and after-step rows of arrays that are zero in
    exact arithmetic and rounding noise in both computations — the gradient of a bias or a ``beta`` followed by a
    training-mode BatchNormalization, which subtracts it again; a relative difference of two noises means
    nothing. A row qualifies when both sides stay below :data:`ROUNDING_LEVEL` times the largest array among the
    rows of its kind."""
    for prefix in ("grad ", "after step "):
        group = [r for r in rows if r["name"].startswith(prefix)]
        top = max((r["_peak"] for r in group), default=0.0)
        for r in group:
            if not r["note"] and 0.0 < r["_peak"] <= ROUNDING_LEVEL * top:
                r["note"] = "zero up to rounding"
    for r in rows:
        r.pop("_peak", None)


def _one_hot(y, n):
    out = np.zeros((len(y), n))
    out[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = 1.0
    return out


def compare(model, X, y, print_table=True):
    """Run the numpynet model and its Keras twin (:func:`to_keras`) on one batch and tabulate the differences.

    Rows: the outputs (``predict``; one row per output of a graph model), the total loss (sum over the outputs of
    the mean data loss, + penalties, inference mode), the gradient of every weight, and every weight after one
    ``train_on_batch`` step from a fresh optimizer state on both sides. For a model with several inputs or
    outputs, ``X`` and ``y`` are lists (or dicts keyed by input/output layer name), as in ``fit``.
    The numpynet model is not changed (the step runs on a copy); Keras's floatx is restored afterwards. With
    Dropout-like layers the training step draws different random masks on each side, so those rows are marked and
    left out of the worst values; so are the rows of arrays that are zero up to rounding on both sides (a bias or
    BatchNormalization ``beta`` feeding a training-mode BatchNormalization has a zero gradient: both sides hold
    ~1e-17 noise there, see :data:`ROUNDING_LEVEL`).

    What to expect: float64 agrees to ~1e-15 when the hyper-parameters are exactly representable in float32;
    Keras casts Python-float hyper-parameters such as Adam's β2 = 0.999 through float32 even for float64
    weights, which shows up as ~1e-6 relative differences after the step. float32 agrees to ~1e-6.

    >>> import numpynet as nn
    >>> from numpynet.keras_bridge import compare
    >>> (X, y), _ = nn.datasets.load_digits(dtype="float64")
    >>> model = nn.DFN(hidden_dims=(32,), n_classes=10, activation="tanh", regularizer="l2(lambd=0.01)",
    ...                optimizer="sgd(lr=0.125, momentum=0.5)", seed=0, dtype="float64")
    >>> table = compare(model, X[:64], y[:64])          # doctest: +SKIP
    numpynet vs Keras (float64)
    --------------------  --------  --------  ---------
    quantity              shape     max |Δ|   max rel Δ
    --------------------  --------  --------  ---------
    output                (64, 10)  1.11e-16  4.76e-16
    loss                  ()        6.59e-09  2.40e-09
    grad dense/W          (64, 32)  5.59e-11  8.23e-10
    grad dense/b          (32,)     2.08e-17  4.72e-16
    grad dense_1/W        (32, 10)  8.42e-11  1.08e-09
    grad dense_1/b        (10,)     1.39e-17  1.65e-16
    after step dense/W    (64, 32)  6.98e-12  2.76e-11
    after step dense/b    (32,)     2.60e-18  4.72e-16
    after step dense_1/W  (32, 10)  1.05e-11  2.78e-11
    after step dense_1/b  (10,)     1.73e-18  1.65e-16
    --------------------  --------  --------  ---------
    worst: max |Δ| = 6.59e-09, max rel Δ = 2.40e-09
    >>> table.worst_rel < 1e-8                          # doctest: +SKIP
    True

    (The 1e-9 differences come from Keras's L2(0.005): 0.005 is not a float32 number and Keras rounds it to
    float32 before using it; with ``l2(lambd=0.015625)`` every row is at 1e-15.)

    Returns a :class:`Comparison`.
    """
    tf = _tensorflow()
    if model.loss is None or model.optimizer is None:
        raise SpecError("compare: the model is not compiled; call model.compile(optimizer=..., loss=...) first")
    graph = _is_graph(model)
    if not graph:
        X = np.asarray(X)
        if not model.built:
            model.build(X.shape)
    dtype = np.dtype(model.dtype).name
    n_out = len(model._outputs)
    xs = [np.ascontiguousarray(x, dtype=model.dtype) for x in model._as_list(X, model._n_inputs(), "X")]
    ys = [np.asarray(t) for t in model._as_list(y, n_out, "y")]
    labels, ys_keras = [], []
    for loss, t, shape in zip(model._output_losses(), ys, model.output_shapes):
        lab, t_keras = _keras_targets(loss, t, shape[-1], model.dtype)
        labels.append(lab)
        ys_keras.append(t_keras)
    X_ours = xs if (graph and model._multi_in) else xs[0]
    y_ours = ys if (graph and model._multi_out) else ys[0]
    X_keras = X_ours
    y_keras = ys_keras if (graph and model._multi_out) else ys_keras[0]
    stochastic = any(getattr(layer, "stochastic", False) and float(getattr(layer, "rate", getattr(
        layer, "stddev", 0.0)) or 0.0) > 0 for layer in model.layers)
    out_names = (["output"] if n_out == 1
                 else [f"output {t.node.layer.name}" for t in model._outputs])
    rows = []
    with keras_dtype(dtype):
        kmodel, klosses, softmax_added = _build_keras(model, labels=labels if graph else labels[0])
        # outputs, as model.predict shows them
        ours = model.predict(X_ours)
        ours = ours if isinstance(ours, list) else [ours]
        theirs = kmodel(X_keras, training=False)
        theirs = [t.numpy() for t in (theirs if isinstance(theirs, (list, tuple)) else [theirs])]
        for name, loss, added, o, t in zip(out_names, model._output_losses(), softmax_added, ours, theirs):
            if not added and getattr(loss, "from_logits", False):
                t = loss.output(t)
            rows.append(_row(name, o, t))
        # total loss and gradients, inference mode, no update
        loss, grads = model.compute_gradients(X_ours, y_ours, training=False)
        with tf.GradientTape() as tape:
            preds = kmodel(X_keras, training=False)
            preds = preds if isinstance(preds, (list, tuple)) else [preds]
            kl = 0.0
            for kloss, target, pred in zip(klosses, ys_keras, preds):
                kl = kl + kloss(target, pred)
            for penalty in kmodel.losses:
                kl = kl + penalty
        # gradients of the trainable weights; the others (BatchNormalization's moving statistics) get zeros,
        # as in numpynet's compute_gradients
        kgrads = dict(zip([v.path for v in kmodel.trainable_weights],
                          tape.gradient(kl, kmodel.trainable_weights)))
        rows.append(_row("loss", loss, float(kl)))
        names = model.weight_names()
        for name, g, var in zip(names, grads, kmodel.weights):
            kg = kgrads.get(var.path)
            rows.append(_row(f"grad {name}", g, np.zeros_like(g) if kg is None else kg.numpy()))
        # one training step on a copy of the numpynet model, from a fresh optimizer state like the Keras one
        twin = copy.deepcopy(model)
        twin.optimizer = _optimizers.get(str(model.optimizer))
        twin.optimizer.build(twin.trainable_weight_arrays())
        twin.train_on_batch(X_ours, y_ours)
        kmodel.train_on_batch(X_keras, y_keras)
        note = "random masks differ" if stochastic else ""
        for name, w, kw in zip(names, twin.get_weights(), kmodel.get_weights()):
            rows.append(_row(f"after step {name}", w, kw, note))
    _mark_rounding_zeros(rows)
    table = Comparison(rows, dtype)
    if print_table:
        print(table)
    return table


def _keras_targets(loss, y, out_dim, dtype):
    """(labels, y for Keras) for one output: which Keras cross-entropy ("sparse"/"one_hot"/None) and the targets
    in its form (integer labels one-hot encoded for the one-hot loss, column vectors for the other losses)."""
    y = np.asarray(y)
    one_hot_given = y.ndim == 2 and y.shape[1] > 1
    labels = None
    if loss.spec_name in _CATEGORICAL:
        labels = "one_hot" if (one_hot_given or loss.spec_name == "categorical_crossentropy") else "sparse"
    y_keras = y
    if labels == "one_hot" and not one_hot_given:
        y_keras = _one_hot(y.reshape(-1), out_dim)
    elif labels == "sparse" and y.ndim == 2 and y.shape[1] == 1:
        y_keras = y[:, 0]
    if loss.spec_name not in _CATEGORICAL and y_keras.ndim == 1:
        y_keras = y_keras.reshape(-1, 1)
    return labels, np.asarray(y_keras, dtype=np.int64 if labels == "sparse" else dtype)
