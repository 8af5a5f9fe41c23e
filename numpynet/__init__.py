"""numpynet: a neural-network framework in plain NumPy, for seeing backpropagation and regularization at work.

    import numpynet as nn
    (X, y), (Xt, yt) = nn.datasets.load_digits()
    model = nn.DFN(hidden_dims=(200,), n_classes=10, activation="sigmoid",
                   optimizer="sgd(lr=0.1)", regularizer="l2(lambd=0.01)", seed=0)
    model.fit(X, y, epochs=20, batch_size=64)
    model.evaluate(Xt, yt)

The package has three parts (see docs/ARCHITECTURE.md):

- ``numpynet.core``: the engine a student reads top to bottom (spec parser, the families, layers, model, training
  loop, gradcheck, io). It imports NumPy (and SciPy's special functions) only.
- ``numpynet.lab``: what is built around it (experiments, cli, plots, datasets, sklearn, applications).
- ``numpynet.interop``: the Keras bridge (TensorFlow imported lazily).

The modules keep their short public names: ``numpynet.spec`` *is* ``numpynet.core.spec`` (one module object under
two names), so ``from numpynet.model import Sequential`` and ``nn.keras_bridge.to_keras`` work as before.
"""

import importlib
import importlib.machinery
import sys

from .core import (
    activations,
    callbacks,
    config,
    constraints,
    data,
    errors,
    gradcheck,
    graph,
    initializers,
    io,
    layers,
    losses,
    metrics,
    model,
    optimizers,
    regularizers,
    schedules,
    spec,
    tracing,
    training,
)
from .core.config import floatx, set_floatx
from .core.errors import DataError, ShapeError, SpecError
from .core.graph import SymbolicTensor
from .core.io import load_model, save_model
from .core.layers import Input
from .core.model import DFN, Model, Sequential
from .core.regularizers import L1, L1L2, L2, RegularizerBase
from .core.tracing import trace  # the function nn.trace (the module is numpynet.tracing)
from .lab import applications, datasets, plots

# Short names for the modules (``numpynet.model`` = ``numpynet.core.model``). Light modules are imported here;
# the command line, experiments, scikit-learn wrappers and the Keras bridge load on first use, as before.
_PARTS = {"core": ["activations", "callbacks", "config", "constraints", "data", "errors", "gradcheck", "graph",
                   "initializers", "io", "layers", "losses", "metrics", "model", "optimizers", "regularizers",
                   "schedules", "spec", "tracing", "training"],
          "lab": ["applications", "cli", "datasets", "experiments", "plots", "sklearn"],
          "interop": ["keras_bridge"]}


class _ShortNames:
    """Import hook that answers ``numpynet.<name>`` with the already-existing module ``numpynet.<part>.<name>``.

    A finder + loader whose ``create_module`` hands back the real module and whose ``exec_module`` runs nothing, so the
    short name and the long name are one module object (patching one patches the other), imported once.
    """

    _targets = {f"{__name__}.{name}": f"{__name__}.{part}.{name}" for part, names in _PARTS.items()
                for name in names}

    @classmethod
    def _real_name(cls, fullname):
        """``numpynet.layers.conv`` → ``numpynet.core.layers.conv`` (submodules of packages too), else None."""
        head, dot, rest = fullname.partition(".")
        if head != __name__ or not rest:
            return None
        short = f"{head}.{rest.split('.')[0]}"
        return cls._targets[short] + fullname[len(short):] if short in cls._targets else None

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if cls._real_name(fullname) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, cls)

    @classmethod
    def create_module(cls, spec):
        module = importlib.import_module(cls._real_name(spec.name))
        spec.loader_state = module.__spec__     # the import system is about to overwrite it with the short one
        return module

    @classmethod
    def exec_module(cls, module):
        module.__spec__ = module.__spec__.loader_state


sys.meta_path.insert(0, _ShortNames)
for _name, _module in list(sys.modules.items()):      # what is imported already gets its short name now
    _short = _name.replace(".core.", ".", 1).replace(".lab.", ".", 1).replace(".interop.", ".", 1)
    if _short != _name and _ShortNames._real_name(_short) == _name:
        sys.modules[_short] = _module


def __getattr__(name):
    """``nn.experiments``, ``nn.cli``, ``nn.sklearn``, ``nn.keras_bridge``: imported on first use."""
    if name in ("cli", "experiments", "sklearn", "keras_bridge"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = ["DFN", "Model", "Sequential", "Input", "SymbolicTensor", "load_model", "save_model", "SpecError",
           "ShapeError", "DataError", "floatx", "set_floatx", "RegularizerBase", "L1", "L2", "L1L2", "activations",
           "applications", "callbacks", "constraints", "data", "datasets", "gradcheck", "initializers", "layers",
           "losses", "metrics", "optimizers", "plots", "regularizers", "schedules", "spec", "trace", "config", "errors",
           "graph", "io", "model", "tracing", "training"]
