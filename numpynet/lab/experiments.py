"""Experiment grids: train several configurations on the same data and compare them in one table and a few figures.

A *configuration* (:class:`Config`) is one network and its training: hidden sizes, activation, optimizer,
regularization (a weight penalty, dropout, batch normalization), epochs, batch size and seed. It is written
compactly as a *regularization spec*, a ``+``-separated list of parts applied to a base configuration::

    "none"                          no regularization at all
    "l2(lambd=0.01)"                ½·λ·Σw² on every kernel (any numpynet regularizer spec)
    "dropout(0.2)"                  Dropout(rate=0.2) after every hidden layer ("dropout" alone: rate 0.2)
    "batchnorm"                     Dense (no bias) → BatchNormalization → activation, for every hidden layer
    "l2(lambd=0.01)+dropout(0.2)"   both

:func:`run_grid` trains every configuration (serially, on local processes with joblib, or on a Dask cluster),
evaluates it on the training, validation and test sets and returns a :class:`GridResults`: the table
(``format()``, ``to_csv()``, ``to_json()``), every model's per-epoch history and its first-layer weights, which
:mod:`numpynet.plots` draws as loss/accuracy curves, data-vs-penalty curves and weight histograms.

Each configuration owns its seed, which fixes its initial weights, its shuffling and its dropout masks, so a grid
gives the same numbers whether it runs serially or in parallel.

The spec is parsed by :func:`numpynet.spec.parse_terms` (the one spec grammar, ``ast`` walked, nothing evaluated);
``dropout`` and ``batchnorm`` may be spelled as the layer registry spells them (``bn``, ``batch_norm``, ...).

This module is the public face; the code lives in four modules, one per concept: :mod:`~numpynet.lab.grid_config`
(Config, the specs, the presets), :mod:`~numpynet.lab.grid_data` (Data, load_data), :mod:`~numpynet.lab.grid_run`
(build_model, train_config, run_grid) and :mod:`~numpynet.lab.grid_results` (GridResults).

A configuration's ``architecture`` is "dfn" (the dense network above) or "mobilenet_v2"
(:func:`numpynet.applications.mobilenet_v2` at ``width``, the weight penalty on every kernel and the classifier's
bias; it needs images, e.g. ``load_data(..., image_size=32)``). The ``mobilenet`` preset is the reference experiment
"L1/L2 on MobileNetV2": none / ``l1(l1=0.001)`` / ``l2(l2=0.001)``, SGD lr 0.01 momentum 0.9 (the reference's lr
0.05 does not train in this budget), batch 32, BatchNormalization momentum 0.9, on Fashion-MNIST zero-padded to
32x32 (or the 8x8 digits upsampled ×4). Every run logs ``sum(model.losses)`` after each
epoch (:class:`~numpynet.callbacks.RegularizationLogger`, history key ``reg_penalty``).
"""

from .grid_config import (
    ARCHITECTURES,
    BASE,
    BASE_ACTIVATION,
    BASE_HIDDEN,
    BASE_INIT,
    DEFAULT_BUDGET,
    MOBILENET_BASE,
    PRESETS,
    Config,
    Preset,
    fast_mode,
    make_config,
    make_configs,
    split_parts,
)
from .grid_data import DATASETS, Data, as_data, load_data, resolve_data_name, to_image_size
from .grid_results import GridResults, _json_default
from .grid_run import ZERO_THRESHOLD, build_model, first_kernel, kernel_weights, run_grid, train_config

__all__ = ["Config", "Data", "GridResults", "Preset", "PRESETS", "DATASETS", "ARCHITECTURES", "make_config",
           "make_configs", "build_model", "load_data", "to_image_size", "train_config", "run_grid", "fast_mode",
           "BASE", "MOBILENET_BASE", "DEFAULT_BUDGET", "BASE_HIDDEN", "BASE_ACTIVATION", "BASE_INIT", "split_parts",
           "resolve_data_name", "as_data", "kernel_weights", "first_kernel", "ZERO_THRESHOLD", "_json_default"]
