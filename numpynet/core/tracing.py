"""One training step, written down: ``nn.trace(model, X, y)`` records a forward and a backward pass layer by layer.

For a small batch (``X[:4]``) the trace keeps, for every call of every layer (in execution order),

* its input(s) x and output y, their shapes and norms ‖x‖, ‖y‖ (Frobenius: ‖a‖ = √(Σ a²) over every entry);
* the upstream gradient dL/dy it received and the gradient dL/dx it handed back (backpropagation runs the layers in
  reverse: dL/dx = (∂y/∂x)ᵀ·dL/dy, the vector–Jacobian product that ``layer.backward`` computes);
* the formula the layer computes, from the layer's class: a one-line ``formula`` attribute when the class has one,
  else the first back-quoted equation of its docstring's first line (``Dense``: ``y = act(x·W + b)``, with ``act``
  replaced by the layer's activation: ``y = sigmoid(x·W + b)``);

and, for every weight, its value and its gradient split in two,

    g_data    = ∂(mean data loss)/∂W
    g_penalty = ∂(Σ weight penalties + Σ activity penalties R(a)/N)/∂W
    g_total   = g_data + g_penalty               (what the optimizer receives)

from :meth:`numpynet.Model.compute_gradients` with ``split=True``. ``print(trace)`` shows two tables (layers,
weights); :meth:`Trace.to_markdown` and :meth:`Trace.to_html` give the same for a notebook or a handout, and the
arrays themselves stay available (``trace["dense"].dy``, ``trace.grads["dense/W"]["data"]``) to check by hand.

Nothing about the model changes: its weights (also BatchNormalization's moving statistics in training mode) and
the state of its random generators (dropout masks) are restored afterwards.

The same quantities, reduced to norms, are what :class:`numpynet.callbacks.GradientStats` records after every
epoch: :func:`gradient_stats` (per weight ‖g‖, ‖g_data‖, ‖g_penalty‖, the penalty share, ‖W‖) and
:func:`unit_stats` (dead ReLU units, saturated sigmoid/tanh values); :func:`penalty_share` and
:func:`format_gradient_stats` summarize such a history.
"""

from __future__ import annotations

import contextlib
import html
import re
from dataclasses import dataclass, field

import numpy as np

from .errors import SpecError
from .tables import text_table

__all__ = ["trace", "Trace", "LayerRecord", "WeightRecord", "layer_formula", "norm", "gradient_stats", "unit_stats",
           "preactivation", "penalty_share", "format_gradient_stats", "SATURATION"]


def norm(a):
    """Frobenius norm √(Σ a²) in float64 (a list of arrays: over all of them; None: NaN)."""
    if a is None:
        return float("nan")
    if isinstance(a, (list, tuple)):
        return float(np.sqrt(sum(norm(x) ** 2 for x in a)))
    a = np.asarray(a, dtype=np.float64)
    return float(np.sqrt(np.vdot(a, a).real)) if a.size else 0.0


_BACKQUOTED = re.compile(r"``(.+?)``")

#: One-line formulas of numpynet's own layers whose docstring's first line is prose (the formula is further down,
#: over several lines); a class attribute ``formula`` on the layer would take precedence.
_BUILTIN_FORMULAS = {
    "Conv2D": "y = act(x ⋆ W + b)   (⋆: cross-correlation over the window)",
    "DepthwiseConv2D": "y = act(x ⋆ W + b), channel by channel",
    "SeparableConv2D": "y = act((x ⋆ D)·P + b)   (depthwise ⋆ D, then 1x1 P)",
    "BatchNormalization": "y = γ·(x − μ)/√(σ² + ε) + β",
    "Flatten": "y = x.reshape(N, -1)",
    "Reshape": "y = x.reshape(N, *target_shape)",
    "ZeroPadding2D": "y = x with zero rows/columns around",
    "ReLU": "y = min(x, M) if x > t else s·(x − t)",
    "AlphaDropout": "y = a·(x·m + α′·(1 − m)) + b",
    "GaussianDropout": "y = x · ε,  ε ~ N(1, r/(1 − r))",
}
_GENERIC_ACT = re.compile(r"\b(act|f)\(")


def layer_formula(layer):
    """The formula of ``layer`` as one line of text.

    A class attribute ``formula`` (a string) wins; otherwise the first ````...```` span of the first docstring line
    that reads as an equation (contains "="), else that whole first line. A generic activation ``act(...)`` or
    ``f(...)`` is replaced by the layer's own (``y = sigmoid(x·W + b)``).
    """
    text = getattr(type(layer), "formula", None)
    if not isinstance(text, str) or not text.strip():
        doc = (type(layer).__doc__ or "").strip()
        first = doc.splitlines()[0].strip() if doc else type(layer).__name__
        spans = [s for s in _BACKQUOTED.findall(first) if "=" in s]
        builtin = _BUILTIN_FORMULAS.get(type(layer).__name__) if type(layer).__module__.startswith("numpynet.") \
            else None
        text = spans[0] if spans else (builtin or first.rstrip(".").rstrip(":"))
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "spec_name", None)
    if name == "linear":      # y = act(x·W + b) with the identity is just y = x·W + b
        match = re.match(r"^(.*?)\b(?:act|f)\((.*)\)(.*)$", text)
        if match:
            text = "".join(match.groups())
    elif name is not None:
        text = _GENERIC_ACT.sub(f"{name}(", text)
    return text.strip()


def _shape_text(a):
    if a is None:
        return "-"
    if isinstance(a, (list, tuple)):
        return " + ".join(_shape_text(x) for x in a)
    return str(tuple(np.shape(a)))


@dataclass
class LayerRecord:
    """One call of one layer in the recorded pass (arrays are copies, safe to keep)."""

    name: str
    kind: str                  # the class name
    call: int                  # 0 for the first call of the layer, 1 for a second (shared layer) ...
    formula: str
    x: object                  # input array (a list for merge layers)
    y: np.ndarray              # output
    dy: np.ndarray | None      # dL/dy received (with the layer's own activity-penalty gradient added)
    dx: object                 # dL/dx returned (a list for merge layers)
    note: str = ""

    @property
    def input_shape(self):
        return _shape_text(self.x)

    @property
    def output_shape(self):
        return _shape_text(self.y)

    def norms(self):
        """``{"x": ‖x‖, "y": ‖y‖, "dy": ‖dL/dy‖, "dx": ‖dL/dx‖}``."""
        return {"x": norm(self.x), "y": norm(self.y), "dy": norm(self.dy), "dx": norm(self.dx)}


@dataclass
class WeightRecord:
    """One weight array: its value and the data / penalty / total parts of its gradient."""

    layer: str
    param: str
    value: np.ndarray
    data: np.ndarray
    penalty: np.ndarray
    total: np.ndarray
    regularizer: str | None = None
    trainable: bool = True

    @property
    def name(self):
        return f"{self.layer}/{self.param}"

    @property
    def penalty_share(self):
        """‖g_penalty‖ / (‖g_data‖ + ‖g_penalty‖): 0 without a penalty, ½ when both pull equally hard."""
        d, p = norm(self.data), norm(self.penalty)
        return p / (d + p) if d + p > 0 else 0.0


@dataclass
class Trace:
    """What :func:`trace` recorded. ``layers``: :class:`LayerRecord` per call, in execution order; ``weights``:
    :class:`WeightRecord` per weight, in ``get_weights()`` order; the batch's ``data_loss``, ``penalty`` (weight
    and activity penalties) and ``total_loss``."""

    layers: list
    weights: list
    data_loss: float
    penalty: float
    training: bool
    n_samples: int
    model_name: str = "model"
    grads: dict = field(default_factory=dict)
    loss: str = ""

    @property
    def total_loss(self):
        return self.data_loss + self.penalty

    def __getitem__(self, name):
        """The first call of layer ``name`` (``trace["dense"]``), or a weight (``trace["dense/W"]``)."""
        for rec in self.layers:
            if rec.name == name:
                return rec
        for rec in self.weights:
            if rec.name == name:
                return rec
        raise KeyError(f"no layer or weight named {name!r}; layers: {', '.join(r.name for r in self.layers)}")

    # ------------------------------------------------------------------------------------------- tables
    def layer_rows(self):
        header = ("layer", "type", "input", "output", "formula", "‖x‖", "‖y‖", "‖dL/dy‖", "‖dL/dx‖")
        rows = []
        for rec in self.layers:
            n = rec.norms()
            label = rec.name if rec.call == 0 else f"{rec.name} (call {rec.call + 1})"
            formula = rec.formula + (f"  [{rec.note}]" if rec.note else "")
            rows.append((label, rec.kind, rec.input_shape, rec.output_shape, formula,
                         _num(n["x"]), _num(n["y"]), _num(n["dy"]), _num(n["dx"])))
        return header, rows

    def weight_rows(self):
        header = ("weight", "shape", "penalty", "‖W‖", "‖g_data‖", "‖g_penalty‖", "‖g_total‖", "penalty share")
        rows = []
        for rec in self.weights:
            if not rec.trainable:
                continue
            rows.append((rec.name, str(rec.value.shape), rec.regularizer or "-", _num(norm(rec.value)),
                         _num(norm(rec.data)), _num(norm(rec.penalty)), _num(norm(rec.total)),
                         f"{rec.penalty_share:.1%}"))
        return header, rows

    def _title(self):
        mode = "training" if self.training else "inference"
        loss = f" ({self.loss})" if self.loss else ""
        return (f"trace of {self.model_name!r}: {self.n_samples} samples, {mode} mode; loss{loss} = data "
                f"{self.data_loss:.6g} + penalty {self.penalty:.6g} = {self.total_loss:.6g}")

    def __str__(self):
        parts = [self._title(), ""]
        for header, rows in (self.layer_rows(), self.weight_rows()):
            parts += [text_table(header, rows), ""]
        return "\n".join(parts).rstrip()

    def __repr__(self):
        return f"<Trace {len(self.layers)} layer calls, {len(self.weights)} weights, loss {self.total_loss:.6g}>"

    def to_markdown(self):
        """Both tables as GitHub-flavoured Markdown (formulas in code spans)."""
        out = [f"**{_md_escape(self._title())}**", ""]
        for which, (header, rows) in (("layers", self.layer_rows()), ("weights", self.weight_rows())):
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            for row in rows:
                cells = [f"`{c}`" if which == "layers" and i == 4 else _md_escape(c) for i, c in enumerate(row)]
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
        return "\n".join(out).rstrip() + "\n"

    def to_html(self):
        """Both tables as an HTML fragment (every value escaped); also what Jupyter shows for a trace."""
        out = [f"<p><b>{html.escape(self._title())}</b></p>"]
        for header, rows in (self.layer_rows(), self.weight_rows()):
            out.append('<table class="numpynet-trace">')
            out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
            for row in rows:
                out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
            out.append("</table>")
        return "\n".join(out)

    def _repr_html_(self):
        return self.to_html()


def _num(value):
    return "-" if value != value else f"{value:.4g}"   # NaN (no gradient) shows as "-"


def _md_escape(text):
    return str(text).replace("|", "\\|")


# ================================================================================================ the pass

def _copy(a):
    if a is None:
        return None
    if isinstance(a, (list, tuple)):
        return [_copy(x) for x in a]
    return np.array(a, copy=True)


def _generators(model):
    """Every random generator a pass may draw from (the layers' own and the model's), to put their states back."""
    gens = {}
    for step in model._steps:
        rng = getattr(step.layer, "_rng", None)
        if rng is not None:
            gens[id(rng)] = rng
    return list(gens.values())


@contextlib.contextmanager
def preserved(model):
    """Put the model's weights (BatchNormalization's moving statistics included) and its layers' random generator
    states back on exit: a measuring pass in training mode must not change what training does next."""
    weights = model.get_weights()
    generators = _generators(model)
    states = [g.bit_generator.state for g in generators]
    try:
        yield
    finally:
        model.set_weights(weights)
        for g, s in zip(generators, states):
            g.bit_generator.state = s


def trace(model, X, y, training=False):
    """Run one forward and one backward pass of ``model`` on (X, y) and record every layer; see the module doc.

    ``training``: the mode of the pass (dropout active, batch statistics) — inference mode by default, the mode
    in which a pass is deterministic. No weight is updated; the model's weights and random states are restored,
    so tracing leaves the model exactly as it was. Returns a :class:`Trace`.
    """
    if not hasattr(model, "_split_gradients"):
        raise SpecError(f"trace: argument 'model' must be a numpynet model, got {type(model).__name__}")
    model._require_compiled()
    training = bool(training)
    xs, ys = model._prepare(X, y)
    weights = model.get_weights()
    with preserved(model):
        parts = model._split_gradients(xs, ys, training)
    with preserved(model):     # the same dropout masks and batch statistics in the recorded pass
        records, data_loss, penalty = _recorded_pass(model, xs, ys, training)
    regs = {}
    for layer in model.layers:
        for key, reg in layer.regularizers.items():
            regs[f"{layer.name}/{key}"] = str(reg)
    trainable = set(model.trainable_weight_names())
    weight_records = []
    for name, value, d, p, t in zip(model.weight_names(), weights, parts["data"], parts["penalty"], parts["total"]):
        layer, _, param = name.partition("/")
        weight_records.append(WeightRecord(layer, param, value, d, p, t, regs.get(name), name in trainable))
    grads = {rec.name: {"data": rec.data, "penalty": rec.penalty, "total": rec.total} for rec in weight_records}
    return Trace(records, weight_records, data_loss, penalty, training, int(xs[0].shape[0]),
                 getattr(model, "name", "model"), grads, ", ".join(str(loss) for loss in model._train_losses))


def _recorded_pass(model, xs, ys, training):
    """The model's own training-step passes (forward, loss, backward of data loss + activity penalties) with a
    ``record`` hook that copies every layer's input, output and gradients on the way. Every layer computes dL/dx
    here, also the first (whose dx the training step skips because nothing needs it), so that the trace shows
    dL/dX too."""
    steps = model._steps
    saved_flags = [(step, step.needs_input_grad, step.layer.needs_input_grad) for step in steps]
    records, by_step, calls = [], {}, {}

    def record(phase, step, a, b):
        if phase == "backward":
            by_step[id(step)].dy, by_step[id(step)].dx = _copy(a), _copy(b)
            return
        layer = step.layer
        notes = ["returns the logits: the loss applies the activation (fused)"] \
            if getattr(layer, "output_logits", False) else []
        if layer.activity_regularizer is not None:
            notes.append(f"activity penalty {layer.activity_regularizer}/N")
        name = step.node.layer.name
        rec = LayerRecord(name, type(layer).__name__, calls.get(name, 0), layer_formula(layer), _copy(a), _copy(b),
                          None, None, "; ".join(notes))
        calls[name] = calls.get(name, 0) + 1
        records.append(rec)
        by_step[id(step)] = rec

    try:
        for step in steps:
            step.needs_input_grad = step.layer.needs_input_grad = True
        outs, activity = model._forward(xs, training, record=record)
        data_loss, douts = 0.0, []
        for loss, out, t in zip(model._train_losses, outs, ys):
            value, dout = loss.forward_backward(out, t)
            data_loss += float(value)
            douts.append(dout)
        model._backward(douts, record=record)
    finally:
        for step, flag, layer_flag in saved_flags:
            step.needs_input_grad, step.layer.needs_input_grad = flag, layer_flag
    penalty = model.regularization_loss() + float(activity)
    return records, float(data_loss), float(penalty)


# ================================================================================================ statistics

#: |z| beyond which a sigmoid or tanh unit counts as saturated: σ'(4) = 0.018 (7 % of its peak
#: 0.25), tanh'(4) = 0.0013 — the gradient through the activation has all but vanished.
SATURATION = 4.0
_RELU_LIKE = ("relu", "relu6")
_SQUASHING = ("sigmoid", "tanh")


def preactivation(layer):
    """``(kind, z, threshold)`` of a layer whose activation can die or saturate, from what its last forward pass
    cached, else None. ``kind``: "relu" (relu, relu6, a ReLU layer without leak: a unit is active where z > t) or
    "sigmoid"/"tanh"."""
    from .layers.activation_layers import ReLU as ReLULayer
    from .layers.core import Activation as ActivationLayer
    if isinstance(layer, ReLULayer):
        if layer.negative_slope:
            return None        # a leaky unit always passes some gradient: it cannot die
        return ("relu", getattr(layer, "x", None), float(layer.threshold))
    name = getattr(getattr(layer, "activation", None), "spec_name", None)
    if name not in _RELU_LIKE + _SQUASHING:
        return None
    z = getattr(layer, "x" if isinstance(layer, ActivationLayer) else "z", None)
    return ("relu" if name in _RELU_LIKE else name, z, 0.0)


def unit_stats(model, saturation=SATURATION):
    """Dead and saturated shares per layer from the pre-activations cached by the model's last forward pass.

    ``dead_share/<layer>``: the share of units (features of a Dense layer, channels of a convolution: the last
    axis) that are inactive (z ≤ t) for every sample and position of the batch — no gradient reaches their weights.
    ``saturated_share/<layer>``: the share of all pre-activation values with |z| > ``saturation``. A layer called
    several times (shared) counts all its calls together.
    """
    dead, counts = {}, {}
    for step in model._steps:
        found = preactivation(step.layer)
        if found is None or found[1] is None:
            continue
        kind, z, t = found
        name = step.node.layer.name
        if kind == "relu":
            z2 = z.reshape(-1, z.shape[-1])
            inactive = ~(z2 > t).any(axis=0)
            dead[name] = inactive if name not in dead else dead[name] & inactive
        else:
            big = np.count_nonzero(np.abs(z) > saturation)
            seen = counts.get(name, (0, 0))
            counts[name] = (seen[0] + big, seen[1] + z.size)
    out = {f"dead_share/{name}": float(np.mean(mask)) for name, mask in dead.items()}
    out.update({f"saturated_share/{name}": big / size if size else 0.0 for name, (big, size) in counts.items()})
    return out


def gradient_stats(model, xs, ys, training=False, saturation=SATURATION):
    """The statistics :class:`numpynet.callbacks.GradientStats` records, on prepared arrays ``xs``, ``ys`` (lists,
    one per input/output): per trainable weight ``grad_norm``, ``data_grad_norm``, ``penalty_grad_norm``,
    ``penalty_share`` and ``weight_norm`` (keys ``<stat>/<layer>/<param>``), then :func:`unit_stats`. One forward
    and one or two backward passes (:meth:`numpynet.Model.compute_gradients`'s split); no weight changes."""
    with preserved(model) if training else contextlib.nullcontext():   # training mode: BN statistics, dropout
        parts = model._split_gradients(xs, ys, training)
    trainable = set(model.trainable_weight_names())
    out = {}
    for (layer, key), name, d, p, t in zip(model._weight_slots(), model.weight_names(), parts["data"],
                                           parts["penalty"], parts["total"]):
        if name not in trainable:
            continue
        nd, npen = norm(d), norm(p)
        out[f"grad_norm/{name}"] = norm(t)
        out[f"data_grad_norm/{name}"] = nd
        out[f"penalty_grad_norm/{name}"] = npen
        out[f"penalty_share/{name}"] = npen / (nd + npen) if nd + npen > 0 else 0.0
        out[f"weight_norm/{name}"] = norm(layer.params[key])
    out.update(unit_stats(model, saturation))
    return out


_SHIFT_PARAMS = ("b", "bias", "beta", "gamma")


def penalty_share(history, epoch=-1):
    """The penalty share of the whole gradient of the kernels (every weight but biases and BatchNormalization's
    γ, β) at ``epoch`` (default the last recorded one), from GradientStats' history keys::

        ‖G_pen‖ / (‖G_data‖ + ‖G_pen‖),   ‖G‖² = Σ_kernels ‖g‖²

    NaN when the history has no gradient statistics (train with ``nn.callbacks.GradientStats()``)."""
    history = getattr(history, "history", history)
    sq_data = sq_pen = 0.0
    found = False
    for key, values in history.items():
        if not key.startswith("data_grad_norm/") or key.rsplit("/", 1)[-1] in _SHIFT_PARAMS:
            continue
        data = np.asarray(values, dtype=np.float64)
        pen = np.asarray(history.get("penalty_grad_norm/" + key[len("data_grad_norm/"):], []), dtype=np.float64)
        keep = np.isfinite(data) & np.isfinite(pen) if pen.shape == data.shape else np.zeros(0, bool)
        if not keep.any():
            continue
        found = True
        sq_data += float(data[keep][epoch]) ** 2
        sq_pen += float(pen[keep][epoch]) ** 2
    if not found:
        return float("nan")
    d, p = np.sqrt(sq_data), np.sqrt(sq_pen)
    return float(p / (d + p)) if d + p > 0 else 0.0


def format_gradient_stats(history, epoch=-1):
    """The gradient statistics of one recorded epoch (default the last) as a text table: per weight ‖W‖,
    ‖g_data‖, ‖g_pen‖, ‖g‖ and the penalty share, then the dead / saturated shares per layer."""
    history = getattr(history, "history", history)

    def value(key):
        values = np.asarray(history.get(key, []), dtype=np.float64)
        values = values[np.isfinite(values)]
        return float(values[epoch]) if values.size else float("nan")
    names = [key[len("grad_norm/"):] for key in history if key.startswith("grad_norm/")]
    header = ("weight", "‖W‖", "‖g_data‖", "‖g_penalty‖", "‖g‖", "penalty share")
    rows = [(name, _num(value(f"weight_norm/{name}")), _num(value(f"data_grad_norm/{name}")),
             _num(value(f"penalty_grad_norm/{name}")), _num(value(f"grad_norm/{name}")),
             f"{value(f'penalty_share/{name}'):.1%}") for name in names]
    parts = [text_table(header, rows)]
    units = [(key.split("/", 1)[1], key.split("_share/")[0], value(key)) for key in history
             if key.startswith(("dead_share/", "saturated_share/"))]
    if units:
        parts.append(text_table(("layer", "units", "share"),
                                 [(layer, "dead (ReLU)" if kind == "dead" else "saturated (|z| > 4)",
                                   f"{share:.1%}") for layer, kind, share in units]))
    return "\n\n".join(parts)
