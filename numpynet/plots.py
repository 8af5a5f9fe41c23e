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
