"""Experiment grids, part 1: what one configuration is (:class:`Config`), the ``+``-joined regularization specs
that name one (:func:`make_config`), and the named grids (:data:`PRESETS`). :mod:`numpynet.experiments` is the
public face; see its docstring for the whole story."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ..core import activations as _activations
from ..core import initializers as _initializers
from ..core import layers as _layers
from ..core import optimizers as _optimizers
from ..core import regularizers as _regularizers
from ..core.config import as_float_dtype
from ..core.errors import SpecError
from ..core.spec import check_choice, check_int, check_number, parse_terms

#: What a :class:`Config` can build: the dense network of the reference experiment, or MobileNetV2.
ARCHITECTURES = ("dfn", "mobilenet_v2")


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
        hidden = tuple(check_int(owner, "hidden_dims", h, minimum=1) for h in hidden)
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
        object.__setattr__(self, "epochs", check_int(owner, "epochs", self.epochs, minimum=1))
        object.__setattr__(self, "batch_size", check_int(owner, "batch_size", self.batch_size, minimum=1))
        object.__setattr__(self, "seed", check_int(owner, "seed", self.seed, minimum=0))
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


def split_parts(text):
    """The ``+``-joined parts of a configuration spec as written: ``"a(1e+4)+b"`` -> ``["a(1e+4)", "b"]`` (a ``+``
    inside an argument belongs to it). Parsed by :func:`numpynet.spec.parse_terms`, so a broken spec is a
    :class:`SpecError`."""
    return [term.text for term in parse_terms(text)]


def _part_kinds():
    """Every name a part may have -> what it sets: "none", "dropout", "batchnorm" or "regularizer". The spellings
    are the registries' own: the layer registry's names of Dropout and BatchNormalization (``bn``, ``batch_norm``,
    ...) and every regularizer name and alias."""
    kinds = {"none": "none"}
    for name in _layers.registry.aliases():
        cls = _layers.registry.lookup(name)
        if cls in (_layers.Dropout, _layers.BatchNormalization):
            kinds[name] = "dropout" if cls is _layers.Dropout else "batchnorm"
    kinds.update((name, "regularizer") for name in _regularizers.registry.aliases())
    return kinds


def _apply_part(term, kind, changes, text):
    """Record in ``changes`` what one part (a :data:`~numpynet.spec.Term`) of a configuration spec asks for."""
    name, args, kwargs, part = term
    if kind == "none":
        if args or kwargs:
            raise SpecError(f"in configuration spec {text!r}: none takes no arguments, got {part!r}")
    elif kind == "dropout":
        if len(args) + len(kwargs) > 1 or (kwargs and "rate" not in kwargs):
            raise SpecError(f"in configuration spec {text!r}: dropout takes one argument, the rate, e.g. "
                            f"dropout(0.2) or dropout(rate=0.2); got {part!r}")
        rate = args[0] if args else kwargs.get("rate", 0.2)
        changes["dropout"] = check_number("dropout", "rate", rate, minimum=0.0, maximum=1.0, strict=True)
    elif kind == "batchnorm":
        if args or kwargs:
            raise SpecError(f"in configuration spec {text!r}: batchnorm takes no arguments, got {part!r}")
        changes["batchnorm"] = True
    else:
        if "regularizer" in changes:
            raise SpecError(f"configuration spec {text!r} names two weight penalties ({changes['regularizer']!r} "
                            f"and {part!r}); combine L1 and L2 with l1l2(l1=..., l2=...)")
        changes["regularizer"] = str(_regularizers.registry.build(name, args, kwargs))


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
        given, kinds = {}, _part_kinds()
        for term in parse_terms(text, known=kinds):
            _apply_part(term, kinds[term.name], given, text)
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
