"""Figures for training histories and experiment grids (matplotlib, the optional ``plot`` extra).

matplotlib is imported inside the functions, so ``import numpynet`` never needs it. The figures are built with
the object-oriented API (``matplotlib.figure.Figure``), not pyplot: nothing global changes (no backend switch, no
open-figure list), the same code works in scripts, servers and notebooks, and ``savefig`` renders PNG with Agg.
Every function returns the Figure and, given ``path``, also writes it there.

* :func:`plot_history` — one model: loss (total, data, penalty, validation) and accuracy per epoch.
* :func:`plot_curves` — a grid: training (solid) and validation (dashed) loss and accuracy per configuration.
* :func:`plot_loss_split` — a grid: data loss vs regularization loss over the epochs, one panel per configuration.
* :func:`plot_reg_penalty` — a grid: the regularization loss ``sum(model.losses)`` after each epoch, every
  configuration on one axis (history key ``reg_penalty``, logged by
  :class:`~numpynet.callbacks.RegularizationLogger`).
* :func:`plot_weight_histograms` — a grid: histograms of the learned first-layer weights, one panel per
  configuration, on a shared axis (L1 piles weights at zero, L2 shrinks the whole distribution).
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..core.tracing import _SHIFT_PARAMS

#: Written by :func:`save_grid_figures`, in this order (``reg_penalty.png`` when the histories have ``reg_penalty``,
#: which every grid run logs).
GRID_FIGURES = ("curves.png", "losses.png", "weights.png", "reg_penalty.png")


def _figure(figsize):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'numpynet[plot]'") from None
    return Figure(figsize=figsize, layout="constrained")


def _finish(fig, path, dpi=110):
    if path is not None:
        fig.savefig(os.fspath(path), dpi=dpi)
    return fig


def _epochs(values):
    return np.arange(1, len(values) + 1)


def _histories(results):
    """``{name: history}`` from GridResults or a plain dict."""
    return getattr(results, "histories", results)


def _panel_grid(fig, n, max_cols=4):
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def plot_history(history, path=None, title=None):
    """Loss and accuracy of one training run; ``history`` is a :class:`~numpynet.callbacks.History` or its dict."""
    history = getattr(history, "history", history)
    fig = _figure((10, 3.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for key, style in (("loss", "-"), ("data_loss", ":"), ("reg_loss", "-."), ("val_loss", "--")):
        if history.get(key):
            ax_loss.plot(_epochs(history[key]), history[key], style, label=key)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()
    for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
        if history.get(key):
            ax_acc.plot(_epochs(history[key]), history[key], style, label=key)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    if ax_acc.lines:
        ax_acc.legend()
    _integer_epochs(ax_loss, ax_acc)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_curves(results, path=None, title=None):
    """Training (solid) and validation (dashed) total loss and accuracy per epoch, one colour per configuration."""
    histories = _histories(results)
    fig = _figure((12, 4.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    colors = _colors(len(histories))
    for color, (name, h) in zip(colors, histories.items()):
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            if h.get(key):
                ax.plot(_epochs(h[key]), h[key], "-", color=color, label=name)
            if h.get(f"val_{key}"):
                ax.plot(_epochs(h[f"val_{key}"]), h[f"val_{key}"], "--", color=color)
    ax_loss.set(xlabel="epoch", ylabel="loss (data + penalty)", title="loss: training — , validation - -")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy: training — , validation - -")
    ax_acc.legend(fontsize="small", loc="lower right")
    _integer_epochs(ax_loss, ax_acc)
    fig.suptitle(title or "Loss and accuracy per configuration")
    return _finish(fig, path)


def plot_loss_split(results, path=None, title=None):
    """Per configuration: the data loss and the regularization penalty over the epochs (training means).

    The penalty is what the optimizer trades against fitting the data: a strong L2 keeps it comparable to the data
    loss, which is why the data loss of a heavily penalized model stays higher.
    """
    histories = _histories(results)
    fig = _figure((3.2 * min(len(histories), 4), 2.8 * math.ceil(len(histories) / 4) + 0.5))
    for ax, (name, h) in zip(_panel_grid(fig, len(histories)), histories.items()):
        if h.get("data_loss"):
            ax.plot(_epochs(h["data_loss"]), h["data_loss"], "-", label="data loss")
        if h.get("reg_loss"):
            ax.plot(_epochs(h["reg_loss"]), h["reg_loss"], "--", label="reg. loss")
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        _integer_epochs(ax)
        ax.label_outer()
    fig.axes[0].legend(fontsize="small")
    fig.suptitle(title or "Data loss vs regularization loss (training, per epoch)")
    return _finish(fig, path)


def plot_reg_penalty(results, path=None, title=None, key="reg_penalty", log=None, initial=None):
    """The regularization loss after each epoch, one line per configuration on one axis.

    ``key``: the history key (``"reg_penalty"``: ``sum(model.losses)`` at the end of each epoch, as
    :class:`~numpynet.callbacks.RegularizationLogger` logs it; ``"reg_loss"``: the epoch's mean over batches).
    ``initial``: ``{name: value before training}`` drawn at epoch 0 (``RegularizationLogger.initial``); by default
    taken from GridResults rows (``reg_penalty_initial``) when there are any.
    ``log``: a logarithmic y axis (None: when every plotted value is positive and they span more than a factor
    of 20, so that an L1 curve in the tens and an L2 curve in the tenths both show their shape; a zero curve, as
    "none" draws, then only appears in the legend).
    """
    histories = _histories(results)
    if initial is None:
        initial = {row["name"]: row.get(f"{key}_initial") for row in getattr(results, "rows", [])}
    fig = _figure((7, 4.2))
    ax = fig.subplots()
    colors = _colors(len(histories))
    plotted = []
    for color, (name, h) in zip(colors, histories.items()):
        values = list(h.get(key) or [])
        epochs = list(_epochs(values))
        if values and initial.get(name) is not None:
            values, epochs = [initial[name]] + values, [0] + epochs
        if values:
            ax.plot(epochs, values, "o-", color=color, label=name, markersize=3)
            plotted.extend(values)
    positive = [v for v in plotted if v > 0]
    if log is None:
        log = bool(positive) and len(positive) == len(plotted) and max(positive) > 20 * min(positive)
    if log and positive:
        ax.set_yscale("log")
    ax.set(xlabel="epoch (0: before training)" if any(v is not None for v in initial.values()) else "epoch",
           ylabel="sum(model.losses)" if key == "reg_penalty" else key)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small")
    _integer_epochs(ax)
    fig.suptitle(title or "Regularization loss after each epoch")
    return _finish(fig, path)


def plot_weight_histograms(results, path=None, bins=81, title=None, quantile=0.999):
    """Histograms of the learned first-layer weights, one panel per configuration, same bins for all.

    ``results``: GridResults, or ``{name: weight array}``. The x range is the ``quantile`` of |w| over all
    configurations (a few outliers would otherwise squeeze every histogram into a few bars; the share left out is
    printed in the panel); the count axis is
    logarithmic so both the spike at zero (L1) and the tails stay visible. Each panel notes the share of weights
    with |w| < 1e-3 and the mean |w|.
    """
    weights = getattr(results, "weights", results)
    weights = {name: np.asarray(w, dtype=np.float64).ravel() for name, w in weights.items()}
    everything = np.concatenate(list(weights.values())) if weights else np.zeros(1)
    limit = float(np.quantile(np.abs(everything), quantile)) or 1.0   # weights beyond it are counted, not drawn
    edges = np.linspace(-limit, limit, bins + 1)
    fig = _figure((3.2 * min(len(weights), 4), 2.8 * math.ceil(len(weights) / 4) + 0.5))
    colors = _colors(len(weights))
    for ax, color, (name, w) in zip(_panel_grid(fig, len(weights)), colors, weights.items()):
        ax.hist(w, bins=edges, color=color, alpha=0.85)
        ax.set_yscale("log")
        ax.set_title(name, fontsize="medium")
        note = f"|w|<1e-3: {np.mean(np.abs(w) < 1e-3):.1%}\nmean |w|: {np.mean(np.abs(w)):.3g}"
        outside = np.mean(np.abs(w) > limit)
        if outside:
            note += f"\nbeyond ±{limit:.2g}: {outside:.2%}"
        ax.text(0.02, 0.97, note, transform=ax.transAxes, va="top", fontsize="small")
        ax.set_xlabel("weight")
        ax.label_outer()
    fig.suptitle(title or "Learned first-layer weights")
    return _finish(fig, path)


def save_grid_figures(results, out_dir):
    """Write :data:`GRID_FIGURES` (curves, data vs penalty, weight histograms, penalty per epoch) into
    ``out_dir``; returns the paths written (``reg_penalty.png`` only when a history has ``reg_penalty``)."""
    os.makedirs(out_dir, exist_ok=True)
    label = getattr(results, "weights_label", "W1")
    weights_title = "Learned first-layer weights" if label == "W1" else "Learned kernel weights (all layers)"
    makers = {"curves.png": plot_curves, "losses.png": plot_loss_split,
              "weights.png": lambda r, p: plot_weight_histograms(r, p, title=weights_title),
              "reg_penalty.png": plot_reg_penalty}
    has_penalty = any(h.get("reg_penalty") for h in _histories(results).values())
    paths = []
    for name in GRID_FIGURES:
        if name == "reg_penalty.png" and not has_penalty:
            continue
        path = os.path.join(out_dir, name)
        makers[name](results, path)
        paths.append(path)
    return paths


def _integer_epochs(*axes):
    from matplotlib.ticker import MaxNLocator
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _colors(n):
    from matplotlib import colormaps
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


# ================================================================================================ gradients

_SHIFTS = _SHIFT_PARAMS    # bias-like parameters (and BN's γ), left out of the default gradient-flow panels


def _series(history, prefix):
    """``{rest: values}`` of the history keys ``prefix/rest``, in recording order (layer order)."""
    return {key[len(prefix) + 1:]: list(values) for key, values in history.items() if key.startswith(prefix + "/")}


def _finite(values):
    """(epochs, values) of the epochs that have a value (``GradientStats(every=k)`` records NaN in between)."""
    epochs = _epochs(values)
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values)
    return epochs[keep], values[keep]


def gradient_flow(history, path=None, title=None, params=None):
    """How the gradient flows through the layers, from the statistics of
    :class:`~numpynet.callbacks.GradientStats` (a History, its dict, or the callback itself).

    Four panels: (1) the gradient norm ‖g‖ of each weight over the epochs (log scale; deeper layers darker);
    (2) ‖g‖ layer by layer at the first and the last recorded epoch, with its data part ‖g_data‖ and penalty part
    ‖g_pen‖ at the last — vanishing gradients show as a slope from the output back to the input; (3) the penalty
    share ‖g_pen‖/(‖g_data‖ + ‖g_pen‖) over the epochs; (4) the dead-ReLU and saturated-unit shares per layer,
    when the network has such units.

    ``params``: which weights to draw — parameter names ("W") or full names ("dense_1/W"); default every weight
    except biases (b, beta).
    """
    from ..core.errors import DataError
    history = getattr(history, "history", history)
    norms = _series(history, "grad_norm")
    if not norms:
        raise DataError("gradient_flow: argument 'history' has no 'grad_norm/<layer>/<param>' keys; train with "
                        "callbacks=[nn.callbacks.GradientStats()]")
    if params is None:
        names = [n for n in norms if n.rsplit("/", 1)[-1] not in _SHIFTS] or list(norms)
    else:
        wanted = [params] if isinstance(params, str) else list(params)
        names = [n for n in norms if n in wanted or n.rsplit("/", 1)[-1] in wanted]
        if not names:
            raise DataError(f"gradient_flow: argument 'params' {wanted!r} matches none of the recorded weights "
                            f"{list(norms)}")
    data, penalty = _series(history, "data_grad_norm"), _series(history, "penalty_grad_norm")
    shares = _series(history, "penalty_share")
    units = {f"dead {k}": v for k, v in _series(history, "dead_share").items()}
    units.update({f"saturated {k}": v for k, v in _series(history, "saturated_share").items()})

    from matplotlib import colormaps
    cmap = colormaps["viridis"]
    colors = [cmap(0.85 - 0.75 * i / max(len(names) - 1, 1)) for i in range(len(names))]   # input light, output dark
    fig = _figure((12, 8))
    (ax_time, ax_depth), (ax_share, ax_units) = fig.subplots(2, 2)
    for name, color in zip(names, colors):
        ax_time.plot(*_finite(norms[name]), "o-", color=color, label=name, markersize=3)
        if name in shares:
            ax_share.plot(*_finite(shares[name]), "o-", color=color, label=name, markersize=3)
    ax_time.set(xlabel="epoch", ylabel="‖∂L/∂W‖", title="gradient norm per weight")
    ax_share.set(xlabel="epoch", ylabel="‖g_pen‖ / (‖g_data‖ + ‖g_pen‖)", title="penalty share of the gradient",
                 ylim=(-0.02, 1.02))

    def at(series, which):
        values = np.asarray(series, dtype=np.float64)
        values = values[np.isfinite(values)]
        return values[which] if values.size else np.nan
    x = np.arange(len(names))
    first = [at(norms[n], 0) for n in names]
    last = [at(norms[n], -1) for n in names]
    ax_depth.plot(x, first, "o--", color="0.6", label="‖g‖ first epoch")
    ax_depth.plot(x, last, "o-", color="C0", label="‖g‖ last epoch")
    if data:
        ax_depth.plot(x, [at(data.get(n, [np.nan]), -1) for n in names], "s:", color="C2", label="‖g_data‖ last",
                      markersize=4)
    pen = [at(penalty.get(n, [np.nan]), -1) for n in names]
    if any(v > 0 for v in pen if v == v):
        ax_depth.plot(x, pen, "^:", color="C3", label="‖g_pen‖ last", markersize=4)
    ax_depth.set_xticks(x, names, rotation=30, ha="right", fontsize="small")
    ax_depth.set(ylabel="‖∂L/∂W‖", title="layer by layer (input → output)")
    positive = [v for v in first + last if v == v and v > 0]
    for ax in (ax_time, ax_depth):
        if positive:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    ax_share.grid(alpha=0.3)
    if units:
        for i, (name, values) in enumerate(units.items()):
            style = "o-" if name.startswith("dead") else "s--"
            ax_units.plot(*_finite(values), style, color=_colors(len(units))[i], label=name, markersize=3)
        ax_units.set(xlabel="epoch", ylabel="share", ylim=(-0.02, 1.02),
                     title="dead ReLU units, saturated sigmoid/tanh values (|z| > 4)")
        ax_units.grid(alpha=0.3)
        ax_units.legend(fontsize="small")
        _integer_epochs(ax_units)
    else:
        ax_units.set_visible(False)
    for ax in (ax_time, ax_share, ax_depth):
        if ax.lines:
            ax.legend(fontsize="small")
    _integer_epochs(ax_time, ax_share)
    fig.suptitle(title or "Gradient flow")
    return _finish(fig, path)


def _named_models(model_or_models):
    """``{label: model}`` from a model, a list of models (labelled by name, numbered when names repeat) or a dict."""
    if isinstance(model_or_models, dict):
        return dict(model_or_models)
    models = list(model_or_models) if isinstance(model_or_models, (list, tuple)) else [model_or_models]
    names = [getattr(m, "name", None) or f"model {i + 1}" for i, m in enumerate(models)]
    if len(set(names)) < len(names):
        names = [f"{i + 1}: {n}" for i, n in enumerate(names)]
    return dict(zip(names, models))


def weight_distributions(model_or_models, path=None, params=("W",), bins=61, title=None, quantile=0.999):
    """Histograms of the weights, one column per layer and one row per model, so that regularizers can be
    compared side by side (``{"none": m0, "L1": m1, "L2": m2}``; a list or a single model also works).

    ``params``: the parameter names drawn (default the kernels "W"; ``None``: every trainable weight). The columns
    pair the models' weights by position (same architecture: same layers). Per column the bins are shared, over
    ±the ``quantile`` of |w| of all models (the share beyond is noted); counts are on a log axis so that L1's
    spike at zero and the tails both show. Each panel notes the share of |w| < 1e-3 and the mean |w|.
    """
    from ..core.errors import DataError
    models = _named_models(model_or_models)
    if not models:
        raise DataError("weight_distributions: argument 'model_or_models' is empty")
    table = {}
    for label, model in models.items():
        if not hasattr(model, "trainable_weight_names"):
            raise DataError(f"weight_distributions: {label!r} is not a numpynet model ({type(model).__name__})")
        chosen = []
        for layer in model.layers:
            for key in layer.trainable_names:
                if params is None or key in params:
                    chosen.append((f"{layer.name}/{key}", np.asarray(layer.params[key], np.float64).ravel()))
        table[label] = chosen
    n_cols = max(len(v) for v in table.values())
    if n_cols == 0:
        raise DataError(f"weight_distributions: no weights named {params!r} in the models")
    n_rows = len(table)
    fig = _figure((3.0 * n_cols + 0.5, 2.4 * n_rows + 0.7))
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False, sharex="col"))
    colors = _colors(n_rows)
    for col in range(n_cols):
        column = [entries[col][1] for entries in table.values() if col < len(entries)]
        everything = np.concatenate(column)
        limit = float(np.quantile(np.abs(everything), quantile)) or 1.0
        edges = np.linspace(-limit, limit, bins + 1)
        for row, (label, entries) in enumerate(table.items()):
            ax = axes[row, col]
            if col >= len(entries):
                ax.set_visible(False)
                continue
            name, w = entries[col]
            ax.hist(w, bins=edges, color=colors[row], alpha=0.85)
            ax.set_yscale("log")
            note = f"|w|<1e-3: {np.mean(np.abs(w) < 1e-3):.1%}\nmean |w|: {np.mean(np.abs(w)):.3g}"
            outside = np.mean(np.abs(w) > limit)
            if outside:
                note += f"\nbeyond ±{limit:.2g}: {outside:.2%}"
            ax.text(0.02, 0.97, note, transform=ax.transAxes, va="top", fontsize="x-small",
                    bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0})
            if row == 0:
                ax.set_title(name, fontsize="medium")
            if col == 0:
                ax.set_ylabel(label)
            if row == n_rows - 1:
                ax.set_xlabel("weight")
    fig.suptitle(title or "Weight distributions per layer")
    return _finish(fig, path)
