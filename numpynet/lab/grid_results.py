"""Experiment grids, part 4: the results of a grid (:class:`GridResults`): the table, CSV, JSON and figures."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from ..core.tables import text_table

_COLUMNS = [("name", "config", "{}"), ("train_accuracy", "train acc", "{:.2%}"), ("val_accuracy", "val acc", "{:.2%}"),
            ("test_accuracy", "test acc", "{:.2%}"), ("data_loss", "data loss", "{:.4f}"),
            ("reg_loss", "reg loss", "{:.4f}"), ("zero_weights", "|{W}|<1e-3", "{:.1%}"),
            ("mean_abs_weight", "mean |{W}|", "{:.4f}"), ("seconds_per_epoch", "s/epoch", "{:.2f}")]


#: The column ``run_grid(..., grad_stats=True)`` adds: the penalty's share of the kernels' gradient, last epoch.
_PENALTY_SHARE = ("penalty_share", "penalty share", "{:.1%}")


class GridResults:
    """What :func:`run_grid` returns: one row per configuration, plus histories and first-layer weights.

    Row keys: ``name``, ``spec`` (the regularization), ``train_accuracy``, ``val_accuracy``, ``test_accuracy``
    (after training, inference mode), ``data_loss`` and ``reg_loss`` (the last epoch's training means),
    ``reg_penalty`` (``sum(model.losses)`` after the last epoch; ``reg_penalty_initial`` before the first),
    ``zero_weights`` (share of the described weights
    with |w| < 1e-3), ``mean_abs_weight``, ``epochs``, ``seconds_per_epoch``, ``seconds``, ``params``.
    ``histories[name]`` is the per-epoch history (``loss``, ``data_loss``, ``reg_loss``, ``reg_penalty``,
    ``accuracy``, ``val_*``, ``seconds``); ``weights[name]`` the described weights: a DFN's first kernel ("W1"),
    every kernel of a MobileNetV2 ("W"; see :attr:`weights_label`).
    """

    def __init__(self, rows, histories, weights, configs=None, data="", seconds=None):
        self.rows = list(rows)
        self.histories = dict(histories)
        self.weights = dict(weights)
        self.configs = list(configs or [])
        self.data = data
        self.seconds = seconds

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, name):
        if isinstance(name, int):
            return self.rows[name]
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(f"no configuration named {name!r}; have {[r['name'] for r in self.rows]}")

    @property
    def names(self):
        return [row["name"] for row in self.rows]

    @property
    def weights_label(self):
        """``"W1"`` when the weight columns describe first-layer kernels (DFNs), ``"W"`` when they describe every
        kernel (MobileNetV2 configurations in the grid)."""
        if any(getattr(c, "architecture", "dfn") != "dfn" for c in self.configs):
            return "W"
        return "W1"

    def best(self, key="val_accuracy"):
        """The row with the highest ``key`` (falls back to test accuracy when there is no validation set)."""
        if all(row.get(key) is None for row in self.rows):
            key = "test_accuracy"
        return max(self.rows, key=lambda row: -math.inf if row.get(key) is None else row[key])

    def format(self):
        """The table as aligned text, one line per configuration."""
        columns = _COLUMNS + ([_PENALTY_SHARE] if any("penalty_share" in row for row in self.rows) else [])
        header = [title.replace("{W}", self.weights_label) for _, title, _ in columns]
        body = [[_cell(row.get(key), fmt) for key, _, fmt in columns] for row in self.rows]
        return text_table(header, body, align="l" + "r" * (len(header) - 1), title=self.data)

    __str__ = format

    def format_history(self, key="reg_penalty", fmt="{:.4f}", title=None):
        """One line per configuration with its per-epoch ``key`` values (default: ``sum(model.losses)`` after
        each epoch, preceded by its value before training, column "start"), as aligned text."""
        series = {name: self.histories.get(name, {}).get(key) or [] for name in self.names}
        n = max((len(v) for v in series.values()), default=0)
        start = [row.get(f"{key}_initial") for row in self.rows]
        with_start = any(v is not None for v in start)
        header = ["config"] + (["start"] if with_start else []) + [f"epoch {i + 1}" for i in range(n)]
        body = [[name] + ([_cell(first, fmt)] if with_start else []) + [fmt.format(v) for v in values]
                + ["-"] * (n - len(values)) for first, (name, values) in zip(start, series.items())]
        return text_table(header, body, align="l" + "r" * (len(header) - 1), title=title or key)

    def __repr__(self):
        return f"<GridResults {len(self.rows)} configurations: {', '.join(self.names)}>"

    def to_csv(self, path):
        """Write the rows (every key, plus the configuration's fields) as CSV."""
        rows = self._full_rows()
        keys = list(dict.fromkeys(k for row in rows for k in row))
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_value(row.get(k)) for k in keys})
        return path

    def to_json(self, path=None):
        """The rows, configurations and histories as JSON (written to ``path`` if given); returns the text."""
        text = json.dumps({"data": self.data, "seconds": self.seconds, "rows": self.rows,
                           "configs": [c.to_dict() for c in self.configs], "histories": self.histories},
                          indent=2, default=_json_default)
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    def _full_rows(self):
        by_name = {c.name: c for c in self.configs}
        out = []
        for row in self.rows:
            full = dict(row)
            config = by_name.get(row["name"])
            if config is not None:
                for key, value in config.to_dict().items():
                    if key != "name":
                        full[key] = value
            out.append(full)
        return out

    def save(self, out_dir, figures=True):
        """Write ``results.csv``, ``results.json`` and (with matplotlib) the figures into ``out_dir``;
        returns the written paths."""
        os.makedirs(out_dir, exist_ok=True)
        csv_path, json_path = os.path.join(out_dir, "results.csv"), os.path.join(out_dir, "results.json")
        self.to_csv(csv_path)
        self.to_json(json_path)
        paths = [csv_path, json_path]
        if figures:
            from . import plots
            paths += plots.save_grid_figures(self, out_dir)
        return paths


def _cell(value, fmt):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def _csv_value(value):
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return "" if value is None else value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
