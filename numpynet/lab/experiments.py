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

A configuration's ``architecture`` is "dfn" (the dense network above) or "mobilenet_v2"
(:func:`numpynet.applications.mobilenet_v2` at ``width``, the weight penalty on every kernel and the classifier's
bias; it needs images, e.g. ``load_data(..., image_size=32)``). The ``mobilenet`` preset is the reference experiment
"L1/L2 on MobileNetV2": none / ``l1(l1=0.001)`` / ``l2(l2=0.001)``, SGD lr 0.01 momentum 0.9 (the reference's lr
0.05 does not train in this budget), batch 32, BatchNormalization momentum 0.9, on Fashion-MNIST zero-padded to
32x32 (or the 8x8 digits upsampled ×4). Every run logs ``sum(model.losses)`` after each
epoch (:class:`~numpynet.callbacks.RegularizationLogger`, history key ``reg_penalty``).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import sys
import time

import numpy as np

from ..core import activations as _activations
from ..core import initializers as _initializers
from ..core import layers as _layers
from ..core import optimizers as _optimizers
from ..core import regularizers as _regularizers
from ..core.config import as_float_dtype
from ..core.errors import DataError, SpecError
from ..core.spec import check_choice, check_number, parse_call
from . import datasets as _datasets

__all__ = ["Config", "Data", "GridResults", "Preset", "PRESETS", "DATASETS", "ARCHITECTURES", "make_config",
           "make_configs", "build_model", "load_data", "to_image_size", "train_config", "run_grid", "fast_mode"]

#: Dataset names understood by :func:`load_data` ("auto" = Fashion-MNIST when it is found, else digits).
DATASETS = ("auto", "digits", "fashion-mnist", "mnist")

#: What a :class:`Config` can build: the dense network of the reference experiment, or MobileNetV2.
ARCHITECTURES = ("dfn", "mobilenet_v2")

#: |w| below this counts as "zero" in the sparsity column: plain SGD on an L1 penalty does not make weights exactly
#: zero, it makes them jitter around zero by about lr·λ per step, far below this threshold.
ZERO_THRESHOLD = 1e-3


def fast_mode():
    """True when ``$NUMPYNET_FAST`` is set to something other than "", "0" or "false": notebooks and examples then
    shrink their data and epochs (CI executes the notebooks that way)."""
    return os.environ.get("NUMPYNET_FAST", "").strip().lower() not in ("", "0", "false", "no")


# ================================================================================================ configurations

#: Defaults of the fields that a MobileNetV2 configuration must leave alone (see Config).
BASE_HIDDEN, BASE_ACTIVATION, BASE_INIT = (200,), "sigmoid", "glorot_uniform"


@dataclasses.dataclass(frozen=True)
class Config:
    """One network + training setup of a grid.

    The model is ``input → [Dense(h) (→ BatchNorm) → activation (→ Dropout)] for h in hidden_dims → Dense(n_classes)``
    with fused softmax cross-entropy, ``regularizer`` on every kernel, trained by ``optimizer`` for ``epochs``
    epochs of mini-batches of ``batch_size``. Defaults are the reference experiment: 784-200 sigmoid-10, SGD lr 0.1,
    batch 64, 20 epochs.

    ``architecture="mobilenet_v2"`` builds :func:`numpynet.applications.mobilenet_v2` instead, with ``width``
    scaling its channels and ``regularizer`` on every kernel (and the classifier's bias). Its layers are fixed
    (batch normalization and ReLU6 inside, no dropout), so ``hidden_dims`` is ``()``, ``activation`` is recorded
    as ``"relu6"``, and ``dropout``, ``batchnorm`` and ``init_w`` keep their defaults; setting them is an error, not
    silently ignored.

    ``bn_momentum``: the momentum of every BatchNormalization layer's moving averages (None: the layer default,
    Keras's 0.99). The MobileNetV2 preset uses 0.9: with 0.99, a few hundred SGD steps leave the moving variances
    far above the true ones, and through the network's 52 BatchNormalization layers the inference-mode output no
    longer depends on the input (chance accuracy, although training-mode accuracy rises normally).
    """

    name: str = "none"
    hidden_dims: tuple = BASE_HIDDEN
    activation: str = BASE_ACTIVATION
    optimizer: str = "sgd(lr=0.1)"
    regularizer: str | None = None
    dropout: float = 0.0
    batchnorm: bool = False
    init_w: str = BASE_INIT
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0
    dtype: str = "float32"
    architecture: str = "dfn"
    width: float = 1.0
    bn_momentum: float | None = None

    def __post_init__(self):
        owner = f"Config {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"Config: argument 'name' must be a non-empty string, got {self.name!r}")
        hidden = (self.hidden_dims,) if isinstance(self.hidden_dims, int) else tuple(self.hidden_dims)
        hidden = tuple(check_number(owner, "hidden_dims", h, minimum=1, integer=True) for h in hidden)
        # frozen dataclass: normalized values are written with object.__setattr__
        object.__setattr__(self, "hidden_dims", hidden)
        # Spec strings are checked now, so a typo fails before any data is loaded, not after. Objects are kept as
        # their specs: a Config stays plain data (hashable, JSON-able, picklable to workers, never shared state).
        for key, family in (("activation", _activations), ("optimizer", _optimizers), ("init_w", _initializers)):
            obj = family.get(getattr(self, key))
            if not isinstance(getattr(self, key), str):
                object.__setattr__(self, key, str(obj))
        reg = _regularizers.get(self.regularizer)
        object.__setattr__(self, "regularizer", None if reg is None else str(reg))
        object.__setattr__(self, "dropout", check_number(owner, "dropout", self.dropout, minimum=0.0, maximum=1.0))
        if self.dropout >= 1.0:
            raise SpecError(f"{owner}: argument 'dropout' must be < 1, got {self.dropout!r}")
        object.__setattr__(self, "batchnorm", bool(self.batchnorm))
        object.__setattr__(self, "epochs", check_number(owner, "epochs", self.epochs, minimum=1, integer=True))
        object.__setattr__(self, "batch_size", check_number(owner, "batch_size", self.batch_size, minimum=1,
                                                            integer=True))
        object.__setattr__(self, "seed", check_number(owner, "seed", self.seed, minimum=0, integer=True))
        object.__setattr__(self, "dtype", np.dtype(as_float_dtype(self.dtype)).name)
        arch = self.architecture.lower() if isinstance(self.architecture, str) else self.architecture
        object.__setattr__(self, "architecture", check_choice(owner, "architecture", arch, ARCHITECTURES))
        object.__setattr__(self, "width", check_number(owner, "width", self.width, minimum=0.0, strict=True))
        if self.bn_momentum is not None:
            object.__setattr__(self, "bn_momentum", check_number(owner, "bn_momentum", self.bn_momentum,
                                                                 minimum=0.0, maximum=1.0))
        if self.architecture == "dfn":
            if self.width != 1.0:
                raise SpecError(f"{owner}: argument 'width' scales the channels of architecture 'mobilenet_v2'; "
                                f"the 'dfn' architecture takes hidden_dims instead, got width={self.width!r}")
        else:
            if self.hidden_dims not in ((), BASE_HIDDEN):
                raise SpecError(f"{owner}: architecture {self.architecture!r} has no hidden_dims (its blocks are "
                                f"fixed; 'width' scales them), got hidden_dims={self.hidden_dims!r}")
            object.__setattr__(self, "hidden_dims", ())   # the default DFN's (200,) means nothing here
            fixed = [key for key, allowed in (("activation", (BASE_ACTIVATION, "relu6")), ("dropout", (0.0,)),
                                              ("batchnorm", (False,)), ("init_w", (BASE_INIT,)))
                     if getattr(self, key) not in allowed]
            if fixed:
                raise SpecError(f"{owner}: architecture {self.architecture!r} has fixed layers (batch normalization "
                                f"and ReLU6 inside, no dropout, default initializers); it takes a regularizer, "
                                f"width, optimizer, epochs, batch_size, seed and dtype, not {', '.join(fixed)}")
            object.__setattr__(self, "activation", "relu6")   # what its blocks use, for the records

    @property
    def spec(self):
        """The regularization of this configuration as a spec, e.g. ``"l2(lambd=0.01)+dropout(0.2)"``."""
        parts = [self.regularizer] if self.regularizer else []
        if self.dropout:
            parts.append(f"dropout({self.dropout!r})")
        if self.batchnorm:
            parts.append("batchnorm")
        return "+".join(parts) or "none"

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        out = dataclasses.asdict(self)
        out["hidden_dims"] = list(self.hidden_dims)
        return out

    def describe(self):
        if self.architecture == "dfn":
            arch = "hidden " + "-".join(str(h) for h in self.hidden_dims) + f" {self.activation}"
        else:
            arch = f"{self.architecture} width {self.width:g}"
        if self.bn_momentum is not None:
            arch += f", BN momentum {self.bn_momentum:g}"
        return (f"{self.name}: {arch}, {self.optimizer}, {self.spec}, "
                f"{self.epochs} epoch{'' if self.epochs == 1 else 's'}, batch {self.batch_size}, seed {self.seed}")


#: The reference experiment's network and training; specs given as plain strings are applied to it.
BASE = Config()

_DROPOUT_NAMES = ("dropout",)
_BATCHNORM_NAMES = ("batchnorm", "batch_norm", "batchnormalization", "batch_normalization", "bn")


def split_parts(text):
    """Split ``"l2(lambd=0.01)+dropout(0.2)"`` at the ``+`` signs outside parentheses (``1e+4`` stays whole)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "+" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _apply_part(part, changes, text):
    """Record in ``changes`` what one ``+``-part of a spec asks for."""
    if not part:
        raise SpecError(f"empty part in configuration spec {text!r}; expected e.g. 'l2(lambd=0.01)+dropout(0.2)'")
    name, args, kwargs = parse_call(part)
    if name == "none" and not args and not kwargs:
        return
    if name in _DROPOUT_NAMES:
        if len(args) + len(kwargs) > 1 or (kwargs and "rate" not in kwargs):
            raise SpecError(f"in configuration spec {text!r}: dropout takes one argument, the rate, e.g. "
                            f"dropout(0.2) or dropout(rate=0.2); got {part!r}")
        rate = args[0] if args else kwargs.get("rate", 0.2)
        rate = check_number("dropout", "rate", rate, minimum=0.0, maximum=1.0, strict=True)
        changes["dropout"] = rate
    elif name in _BATCHNORM_NAMES:
        if args or kwargs:
            raise SpecError(f"in configuration spec {text!r}: batchnorm takes no arguments, got {part!r}")
        changes["batchnorm"] = True
    else:
        if "regularizer" in changes:
            raise SpecError(f"configuration spec {text!r} names two weight penalties ({changes['regularizer']!r} "
                            f"and {part!r}); combine L1 and L2 with l1l2(l1=..., l2=...)")
        changes["regularizer"] = str(_regularizers.get(part))


def make_config(item, base=BASE, name=None):
    """A :class:`Config` from a Config (returned as is, renamed if ``name``), a dict of fields (applied to
    ``base``) or a regularization spec string (``"l2(lambd=0.01)+dropout(0.2)"``, applied to ``base``; the
    spec becomes the name)."""
    if isinstance(item, Config):
        return item if name is None else item.replace(name=name)
    if isinstance(item, dict):
        fields = {f.name for f in dataclasses.fields(Config)}
        unknown = sorted(set(item) - fields)
        if unknown:
            raise SpecError(f"unknown configuration field(s) {unknown}; known: {sorted(fields)}")
        changes = dict(item)
        if name is not None:
            changes["name"] = name
        return base.replace(**changes)
    if isinstance(item, str):
        text = item.strip()
        changes = {"regularizer": None, "dropout": 0.0, "batchnorm": False}
        given = {}
        for part in split_parts(text):
            _apply_part(part, given, text)
        changes.update(given)
        changes["name"] = name or text
        return base.replace(**changes)
    raise SpecError(f"cannot make a configuration from {item!r} ({type(item).__name__}); expected a Config, a dict "
                    f"of its fields or a spec string such as 'l2(lambd=0.01)'")


def make_configs(items, base=BASE):
    """A list of :class:`Config` from configs / dicts / spec strings; names must be unique (they key the results)."""
    configs = [make_config(item, base) for item in items]
    if not configs:
        raise SpecError("a grid needs at least one configuration")
    seen = set()
    for config in configs:
        if config.name in seen:
            raise SpecError(f"two configurations are named {config.name!r}; names must be unique")
        seen.add(config.name)
    return configs


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named list of configurations plus, per dataset, a training budget that keeps the whole grid short
    (``make demo``: under 2 minutes of training on 2 cores).

    A budget entry holds ``n_train`` (training images), ``n_test`` (test images; None: all) and any
    :class:`Config` field to set on every configuration (``epochs``, ``width``, ...). ``fast_budget`` replaces
    ``budget`` under ``$NUMPYNET_FAST`` (:func:`fast_mode`), where it exists. ``data_options`` are passed to
    :func:`load_data` (``{"image_size": 32}`` for the MobileNetV2 preset). ``report`` names history keys whose
    per-epoch values the command line prints after the table (``"reg_penalty"``).
    """

    description: str
    configs: tuple
    budget: dict
    fast_budget: dict | None = None
    data_options: dict = dataclasses.field(default_factory=dict)
    report: tuple = ()

    def budget_for(self, data_name):
        """The budget entry of ``data_name`` (the fast one under ``$NUMPYNET_FAST`` when the preset has one)."""
        budget = self.fast_budget if self.fast_budget is not None and fast_mode() else self.budget
        return dict(budget.get(data_name, {}))

    def configs_for(self, data_name, epochs=None):
        """The configurations with the budget's fields for ``data_name`` applied, ``epochs`` given here winning."""
        changes = {k: v for k, v in self.budget_for(data_name).items() if k not in ("n_train", "n_test")}
        if epochs is not None:
            changes["epochs"] = epochs
        return [c.replace(**changes) if changes else c for c in self.configs]

    def n_train_for(self, data_name):
        return self.budget_for(data_name).get("n_train")

    def n_test_for(self, data_name):
        return self.budget_for(data_name).get("n_test")


_NAMED = [("none", "none"),
          ("l1", "l1(lambd=1e-4)"),
          ("l2", "l2(lambd=0.01)"),
          ("l1l2", "l1l2(l1=1e-4, l2=0.005)"),      # Keras meaning: 1e-4·Σ|w| + 0.005·Σw² = the L1 and L2 above
          ("dropout", "dropout(0.2)"),
          ("batchnorm", "batchnorm"),
          ("l2+dropout", "l2(lambd=0.01)+dropout(0.2)"),
          ("batchnorm+dropout", "batchnorm+dropout(0.2)")]

#: Training budgets per dataset: the reference experiment's 20,000 images and 20 epochs (the whole grid trains in
#: about a minute on 2 cores). Digits is small, so it gets all its images and more epochs.
_DEMO_BUDGET = {"fashion-mnist": {"n_train": 20000, "epochs": 20}, "mnist": {"n_train": 20000, "epochs": 20},
                "digits": {"n_train": None, "epochs": 40}}

#: The reference experiment "L1/L2 on MobileNetV2": the network and training every configuration shares.
#: The reference trains with SGD lr 0.05 momentum 0.9; in this budget (5 epochs of 2,000 images) that learning rate
#: first inflates the weights (the L2 penalty rises in epoch 1) and ends near 45 % test accuracy for every
#: configuration, while lr 0.01 reaches 75 % and gives smooth penalty curves, so the preset uses lr 0.01
#: (``--optimizer "sgd(lr=0.05, momentum=0.9)"`` runs the reference's).
MOBILENET_BASE = BASE.replace(architecture="mobilenet_v2", hidden_dims=(), width=0.5, bn_momentum=0.9,
                              optimizer="sgd(lr=0.01, momentum=0.9)", batch_size=32, epochs=5)

_MOBILENET_NAMED = [("none", "none"), ("l1", "l1(l1=0.001)"), ("l2", "l2(l2=0.001)")]

#: 2,000 training images as workload W4 (DESIGN.md); the test set is cut to 2,000 images too, because evaluating
#: MobileNetV2 on all 10,000 would take as long as training. Width 0.5 keeps it affordable on a CPU (about a
#: quarter of the full network's arithmetic); ``--width 1`` runs the full network.
_MOBILENET_BUDGET = {"fashion-mnist": {"n_train": 2000, "n_test": 2000, "epochs": 5},
                     "mnist": {"n_train": 2000, "n_test": 2000, "epochs": 5},
                     "digits": {"n_train": None, "n_test": None, "epochs": 5}}
#: $NUMPYNET_FAST: seconds, not minutes (tests, CI, notebooks).
_MOBILENET_FAST = {name: {"n_train": 96, "n_test": 96, "epochs": 2, "width": 0.25}
                   for name in ("fashion-mnist", "mnist", "digits")}

PRESETS = {
    "regularizers": Preset(
        "none / L1 / L2 / L1L2 / dropout / batch-norm / combinations on 784-200 sigmoid-10, SGD lr 0.1, batch 64",
        tuple(make_config(spec, name=name) for name, spec in _NAMED), _DEMO_BUDGET),
    "reference": Preset(
        "the reference experiment: none / L1 λ=1e-4 / L2 λ=0.01, 20 epochs on 20,000 images",
        tuple(make_config(spec, name=name) for name, spec in _NAMED[:3]),
        {"fashion-mnist": {"n_train": 20000, "epochs": 20}, "mnist": {"n_train": 20000, "epochs": 20},
         "digits": {"n_train": None, "epochs": 40}}),
    "quick": Preset(
        "a tiny grid for tests: 16 hidden units, 2 epochs, none vs L2",
        tuple(make_config(spec, base=BASE.replace(hidden_dims=(16,), epochs=2), name=name)
              for name, spec in (("none", "none"), ("l2", "l2(lambd=0.01)"))),
        {"fashion-mnist": {"n_train": 1000}, "mnist": {"n_train": 1000}, "digits": {"n_train": 500}}),
    "mobilenet": Preset(
        "L1/L2 on MobileNetV2: none / l1(l1=0.001) / l2(l2=0.001) on mobilenet_v2 (width 0.5; --width 1 for the "
        "full network), 32x32 images, SGD lr 0.01 momentum 0.9, batch 32, BN momentum 0.9",
        tuple(make_config(spec, base=MOBILENET_BASE, name=name) for name, spec in _MOBILENET_NAMED),
        _MOBILENET_BUDGET, fast_budget=_MOBILENET_FAST, data_options={"image_size": 32}, report=("reg_penalty",)),
}

#: Budget used for ``--configs`` grids (no preset): the same as the demo's.
DEFAULT_BUDGET = _DEMO_BUDGET


# ================================================================================================ models

def build_model(config, n_classes, input_shape=None):
    """The numpynet model of a :class:`Config` (compiled; built when ``input_shape`` is given).

    Without batch normalization this is :class:`numpynet.DFN`; with it, the Sequential stack
    ``Dense(h, no bias) → BatchNormalization → Activation`` per hidden layer (normalization before the
    nonlinearity, as in Ioffe & Szegedy; the bias is redundant because BN's β shifts the same way).
    """
    from ..core.model import DFN, Sequential, dfn_layers
    config = make_config(config)
    if config.architecture == "mobilenet_v2":
        return _build_mobilenet(config, n_classes, input_shape)
    if not config.batchnorm:
        model = DFN(hidden_dims=config.hidden_dims, n_classes=n_classes, activation=config.activation,
                    optimizer=config.optimizer, regularizer=config.regularizer, init_w=config.init_w,
                    dropout=config.dropout, seed=config.seed, dtype=config.dtype)
    else:
        stack = dfn_layers(config.hidden_dims, n_classes, activation=config.activation,
                           regularizer=config.regularizer, init_w=config.init_w, dropout=config.dropout,
                           batchnorm=True, bn_momentum=config.bn_momentum)
        model = Sequential(stack, seed=config.seed, dtype=config.dtype, name="dfn_bn")
        model.compile(optimizer=config.optimizer, loss="softmax_cross_entropy", metrics=["accuracy"])
    if input_shape is not None:
        model.build((None,) + tuple(input_shape[1:]))
    return model


def _set_bn_momentum(model, momentum):
    """Set the moving-average momentum of every BatchNormalization layer of ``model`` (None: leave them)."""
    if momentum is None:
        return
    for layer in model.layers:
        if isinstance(layer, _layers.BatchNormalization):
            layer.momentum = float(momentum)


def _build_mobilenet(config, n_classes, input_shape):
    """MobileNetV2 of ``config`` on images of ``input_shape`` ((N, H, W, C) or (H, W, C); None: 32x32x1)."""
    from .applications import mobilenet_v2
    shape = (32, 32, 1) if input_shape is None else tuple(input_shape)
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) != 3:
        raise DataError(f"architecture 'mobilenet_v2' needs NHWC images, got samples of shape {shape}; load them "
                        f"with load_data(..., image_size=32) (or flatten=False)")
    model = mobilenet_v2(input_shape=shape, classes=n_classes, regularizer=config.regularizer, width=config.width,
                         seed=config.seed, dtype=config.dtype)
    _set_bn_momentum(model, config.bn_momentum)
    model.compile(optimizer=config.optimizer, loss="softmax_cross_entropy", metrics=["accuracy"])
    model.build((None,) + shape)
    return model


# ================================================================================================ data

@dataclasses.dataclass
class Data:
    """Training, validation and test arrays of one dataset (``y`` are integer labels)."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_classes(self):
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def describe(self):
        n_val = 0 if self.X_val is None else len(self.X_val)
        feat = "x".join(str(d) for d in self.X_train.shape[1:])
        return (f"{self.name}: {len(self.X_train):,} training / {n_val:,} validation / {len(self.X_test):,} test "
                f"images of {feat}, {self.n_classes} classes")

    @classmethod
    def from_arrays(cls, train, test, val=None, validation_split=0.1, name="arrays"):
        """From ``(X, y)`` pairs; without ``val``, the last ``validation_split`` of the training rows."""
        (X, y), (Xt, yt) = train, test
        if val is not None:
            Xv, yv = val
        elif validation_split:
            n_val = _n_val(len(X), validation_split)
            X, y, Xv, yv = X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]
        else:
            Xv = yv = None
        return cls(name, np.asarray(X), np.asarray(y), Xv, yv, np.asarray(Xt), np.asarray(yt))


def _n_val(n, validation_split):
    validation_split = check_number("load_data", "validation_split", validation_split, minimum=0.0,
                                    maximum=1.0, strict=True)
    n_val = max(1, int(round(n * validation_split)))
    if n_val >= n:
        raise DataError(f"validation_split={validation_split} leaves no training images out of {n}")
    return n_val


def resolve_data_name(name):
    """``"auto"`` → "fashion-mnist" when its files are found (no download), else "digits"; others checked."""
    name = check_choice("load_data", "data", name, DATASETS)
    if name != "auto":
        return name
    try:
        _datasets.find_dataset("fashion-mnist", download=False)
    except DataError:
        return "digits"
    return "fashion-mnist"


def to_image_size(X, size):
    """NHWC images ``X`` brought to ``size`` × ``size``: scaled up by the largest whole factor that fits (each pixel
    repeated, nearest neighbour) and then zero-padded equally on every side (one pixel more at the bottom/right
    when the rest is odd).

    Fashion-MNIST / MNIST 28x28 → 32x32 is a 2-pixel zero border (factor 1), as in the MobileNetV2 experiment;
    the 8x8 digits → 32x32 are each pixel repeated 4×4 (factor 4, no border), so that a digit covers the frame as a
    Fashion-MNIST item does rather than sitting as a speck in a wide black border.
    """
    X = np.asarray(X)
    size = check_number("to_image_size", "size", size, minimum=1, integer=True)
    if X.ndim != 4:
        raise DataError(f"to_image_size: expected NHWC images (N, height, width, channels), got shape {X.shape}")
    h, w = X.shape[1:3]
    if h > size or w > size:
        raise DataError(f"to_image_size: images of {h}x{w} do not fit in {size}x{size} (only enlarging is done)")
    factor = min(size // h, size // w)
    if factor > 1:
        X = np.repeat(np.repeat(X, factor, axis=1), factor, axis=2)
        h, w = h * factor, w * factor
    top, left = (size - h) // 2, (size - w) // 2
    if top or left or h < size or w < size:
        X = np.pad(X, ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0)))
    return np.ascontiguousarray(X)


def load_data(name="digits", n_train=None, validation_split=0.1, n_test=None, flatten=True, dtype=np.float32,
              image_size=None):
    """Load a dataset as :class:`Data`.

    ``n_train``: training images (None: all but the validation images). The validation set is
    ``validation_split · n_train`` further images (``validation_split`` of all when ``n_train`` is None) that
    follow the training images in the file, so it never overlaps them; ``validation_split=0``: no validation set.
    ``"auto"`` is Fashion-MNIST when its files are found locally, else digits. Nothing is downloaded.
    ``image_size``: NHWC images brought to ``image_size`` × ``image_size`` by :func:`to_image_size` (zero border,
    after a whole-factor upscaling when that fits: 28x28 → 32x32 pads 2 pixels, 8x8 → 32x32 repeats each pixel
    4×4); implies ``flatten=False``.
    """
    name = resolve_data_name(name)
    if image_size is not None:
        image_size = check_number("load_data", "image_size", image_size, minimum=1, integer=True)
        flatten = False
    if n_train is not None:
        n_train = check_number("load_data", "n_train", n_train, minimum=1, integer=True)
    validation_split = check_number("load_data", "validation_split", validation_split, minimum=0.0, maximum=1.0,
                                    strict=True) if validation_split else 0.0
    n_val = None if n_train is None else (max(1, round(n_train * validation_split)) if validation_split else 0)
    kwargs = {"flatten": flatten, "dtype": dtype}
    if name == "digits":
        (X, y), (Xt, yt) = _datasets.load_digits(**kwargs)
        Xt, yt = (Xt, yt) if n_test is None else (Xt[:n_test], yt[:n_test])
    else:
        loader = _datasets.load_fashion_mnist if name == "fashion-mnist" else _datasets.load_mnist
        wanted = None if n_train is None else n_train + n_val
        if wanted is not None and wanted > 60000:
            raise DataError(f"{name} has 60,000 training images; n_train={n_train:,} plus {n_val:,} for "
                            f"validation do not fit (lower n_train or validation_split)")
        (X, y), (Xt, yt) = loader(n_train=wanted, n_test=n_test, download=False, **kwargs)
    if n_train is None:
        n_val = max(1, round(len(X) * validation_split)) if validation_split else 0
        n_train = len(X) - n_val
    if n_train < 1 or n_train + n_val > len(X):
        raise DataError(f"{name} has {len(X):,} training images; n_train={n_train:,} plus {n_val:,} for "
                        f"validation do not fit (lower n_train or validation_split)")
    X, y = X[:n_train + n_val], y[:n_train + n_val]
    if image_size is not None:
        X, Xt = to_image_size(X, image_size), to_image_size(Xt, image_size)
    val = (X[n_train:n_train + n_val], y[n_train:n_train + n_val]) if n_val else (None, None)
    return Data(name, X[:n_train], y[:n_train], *val, Xt, yt)


def as_data(data):
    if isinstance(data, Data):
        return data
    if isinstance(data, str):
        return load_data(data)
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        return Data.from_arrays(data[0], data[-1], val=data[1] if len(data) == 3 else None)
    raise DataError(f"cannot use {type(data).__name__} as grid data; expected a Data, a dataset name "
                    f"({', '.join(DATASETS)}) or ((X_train, y_train), (X_test, y_test))")


# ================================================================================================ training

def train_config(config, data, verbose=0, return_model=False, callbacks=None, grad_stats=False):
    """Train one configuration on ``data`` and evaluate it.

    ``grad_stats``: also record :class:`~numpynet.callbacks.GradientStats` (per-layer gradient norms, penalty
    shares, dead/saturated units; history keys ``grad_norm/...``) and put the kernels' penalty share of the last
    epoch in the row (``penalty_share``, see :func:`numpynet.tracing.penalty_share`).

    Returns ``{"row": {...}, "history": {...}, "weights": W}``: the table row (see :class:`GridResults`), the
    per-epoch history (with ``reg_penalty``, ``sum(model.losses)`` after each epoch, from a
    :class:`~numpynet.callbacks.RegularizationLogger`) and a copy of the weights the sparsity columns describe
    (:func:`kernel_weights`); with ``return_model`` also ``"model"``.
    """
    from ..core.callbacks import RegularizationLogger
    config = make_config(config)
    data = as_data(data)
    model = build_model(config, data.n_classes, data.X_train.shape)
    val = None if data.X_val is None else (data.X_val, data.y_val)
    logger = RegularizationLogger()
    with _blas_threads(config):
        start = time.perf_counter()
        hist = model.fit(data.X_train, data.y_train, epochs=config.epochs, batch_size=config.batch_size,
                         validation_data=val, callbacks=[logger] + list(callbacks or []) + _grad_stats(grad_stats),
                         verbose=verbose)
        seconds = time.perf_counter() - start
        accuracy = {"train_accuracy": model.evaluate(data.X_train, data.y_train)["accuracy"],
                    "val_accuracy": None if val is None else model.evaluate(*val)["accuracy"],
                    "test_accuracy": model.evaluate(data.X_test, data.y_test)["accuracy"]}
    history = {key: [float(v) for v in values] for key, values in hist.history.items()}
    weights = kernel_weights(model, config)
    row = {"name": config.name, "spec": config.spec, **accuracy,
           "data_loss": history["data_loss"][-1] if history.get("data_loss") else math.nan,
           "reg_loss": history["reg_loss"][-1] if history.get("reg_loss") else math.nan,
           "reg_penalty": logger.values[-1] if logger.values else math.nan,
           "reg_penalty_initial": logger.initial,
           "zero_weights": float(np.mean(np.abs(weights) < ZERO_THRESHOLD)),
           "mean_abs_weight": float(np.mean(np.abs(weights))),
           "epochs": len(history.get("loss", [])),
           "seconds_per_epoch": float(np.mean(history["seconds"])) if history.get("seconds") else math.nan,
           "seconds": seconds,
           "params": int(model.count_params())}
    if grad_stats:
        from ..core.tracing import penalty_share
        row["penalty_share"] = penalty_share(history)
    out = {"config": config, "row": row, "history": history, "weights": weights}
    if return_model:
        out["model"] = model
    return out


def _blas_threads(config):
    """A context in which ``config`` trains: for MobileNetV2, one BLAS thread (threadpoolctl); else unchanged.

    MobileNetV2 runs thousands of small matrix products per epoch. With two BLAS threads, float32 sums come out in
    another order than with one, and 300 SGD steps through 52 batch normalizations amplify that into test
    accuracies two points apart — so a grid run serially (all threads) would not match the same grid on joblib
    workers (one thread each). On a shared 2-core machine two OpenBLAS threads were also 20× slower than one as
    soon as another process held a core (63 s instead of 3 s per epoch of 1,000 images). One thread gives the same
    numbers serial or parallel, and parallel workers use the cores.
    """
    if make_config(config).architecture == "dfn":
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:          # threadpoolctl comes with scikit-learn; without it, leave BLAS as it is
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def kernel_weights(model, config):
    """The weights the sparsity columns and histograms describe: a DFN's first kernel (see :func:`first_kernel`);
    for MobileNetV2 every kernel (convolutions, depthwise convolutions, classifier), flattened into one vector —
    its first convolution holds only 3·3·1·32·width of them."""
    if make_config(config).architecture == "dfn":
        return first_kernel(model)
    kernels = [layer.params["W"].ravel() for layer in model.layers if "W" in layer.params]
    if not kernels:
        raise DataError("the model has no layer with a kernel 'W'")
    return np.concatenate(kernels)


def first_kernel(model):
    """A copy of the first layer kernel "W" of ``model`` (the weights the histograms show)."""
    for layer in model.layers:
        if "W" in layer.params:
            return layer.params["W"].copy()
    raise DataError("the model has no layer with a kernel 'W'")


def _grad_stats(enabled):
    from ..core.callbacks import GradientStats
    return [GradientStats()] if enabled else []


def _train_quietly(config, data, grad_stats=False):
    # Module-level so joblib/Dask can pickle it by reference into worker processes.
    return train_config(config, data, verbose=0, grad_stats=grad_stats)


def run_grid(configs, data, jobs=1, scheduler=None, verbose=1, grad_stats=False):
    """Train every configuration on ``data`` and collect the results.

    ``configs``: Configs, dicts or spec strings (see :func:`make_config`) or a preset name. ``data``: a
    :class:`Data`, a dataset name or ``((X_train, y_train), (X_test, y_test))``.
    ``jobs``: 1 trains in this process; N > 1 runs N joblib worker processes; None uses one per CPU core (at most
    one per configuration). ``scheduler``: the address of a Dask scheduler (``"tcp://host:8786"``) to run the
    grid on its workers (needs ``pip install numpynet[dist]``; the workers need numpynet installed).
    ``verbose``: 1 prints a line per finished configuration. ``grad_stats``: record gradient statistics in every
    history and the kernels' penalty share in every row (the table's "penalty share" column). Returns
    :class:`GridResults`.
    """
    if isinstance(configs, str) and configs in PRESETS:
        configs = PRESETS[configs].configs
    configs = make_configs(configs)
    data = as_data(data)
    if jobs is None:
        jobs = min(len(configs), os.cpu_count() or 1)
    jobs = check_number("run_grid", "jobs", jobs, minimum=-1, integer=True)
    if jobs == 0:
        raise SpecError("run_grid: argument 'jobs' must be >= 1, or -1 for one per CPU core, got 0")
    start = time.perf_counter()
    outputs = []
    bar = _grid_bar(len(configs)) if verbose else None
    for i, out in enumerate(_dispatch(configs, data, jobs, scheduler, grad_stats)):
        outputs.append(out)
        if verbose:
            row = out["row"]
            _clear_terminal_line()
            print(f"[{i + 1}/{len(configs)}] {row['name']:<20} test accuracy {row['test_accuracy']:.2%}  "
                  f"({row['seconds']:.1f} s)", flush=True)
            bar.update(i + 1)
    if bar is not None:
        bar.finish()
    return GridResults([o["row"] for o in outputs], {o["row"]["name"]: o["history"] for o in outputs},
                       {o["row"]["name"]: o["weights"] for o in outputs}, configs=configs,
                       data=data.describe(), seconds=time.perf_counter() - start)


def _grid_bar(n):
    """A progressbar2 bar on stderr over the grid's configurations (finished / total, ETA)."""
    import progressbar

    from ..core.callbacks import CurrentStderr
    widgets = ["grid ", progressbar.Counter(), f"/{n} configurations ", progressbar.Bar(), " ", progressbar.ETA()]
    return progressbar.ProgressBar(max_value=n, widgets=widgets, fd=CurrentStderr()).start()


def _clear_terminal_line():
    """Wipe the bar's line on a terminal before printing a result line (stdout and stderr share the screen)."""
    if getattr(sys.stderr, "isatty", lambda: False)():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def _dispatch(configs, data, jobs, scheduler, grad_stats=False):
    """Yield each configuration's result, in the order of ``configs``."""
    if scheduler is None and jobs == 1:
        for config in configs:
            yield _train_quietly(config, data, grad_stats)
        return
    from joblib import Parallel, delayed
    tasks = (delayed(_train_quietly)(config, data, grad_stats) for config in configs)
    if scheduler is None:
        yield from Parallel(n_jobs=jobs, return_as="generator")(tasks)
        return
    from .sklearn import dask_backend
    with dask_backend(scheduler):
        yield from Parallel(n_jobs=jobs if jobs > 1 else -1, return_as="generator")(tasks)


# ================================================================================================ results

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
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
        line = "  ".join("-" * w for w in widths)

        def join(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        out = ([self.data] if self.data else []) + [line, join(header), line] + [join(b) for b in body] + [line]
        return "\n".join(out)

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
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]

        def join(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        line = "  ".join("-" * w for w in widths)
        out = [title or key, line, join(header), line] + [join(b) for b in body] + [line]
        return "\n".join(out)

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
