"""numpynet: a neural-network framework in plain NumPy, for seeing backpropagation and regularization at work.

    import numpynet as nn
    (X, y), (Xt, yt) = nn.datasets.load_digits()
    model = nn.DFN(hidden_dims=(200,), n_classes=10, activation="sigmoid",
                   optimizer="sgd(lr=0.1)", regularizer="l2(lambd=0.01)", seed=0)
    model.fit(X, y, epochs=20, batch_size=64)
    model.evaluate(Xt, yt)
"""

from . import (
               activations,
               applications,
               callbacks,
               constraints,
               data,
               datasets,
               gradcheck,
               initializers,
               layers,
               losses,
               metrics,
               optimizers,
               plots,
               regularizers,
               schedules,
               spec,
)
from .config import floatx, set_floatx
from .errors import DataError, ShapeError, SpecError
from .graph import Input, SymbolicTensor
from .io import load_model, save_model
from .model import DFN, Model, Sequential
from .regularizers import L1, L1L2, L2, RegularizerBase
from .tracing import trace  # the function nn.trace (the module is numpynet.tracing)

__version__ = "0.1.0"

__all__ = ["DFN", "Model", "Sequential", "Input", "SymbolicTensor", "load_model", "save_model", "SpecError",
           "ShapeError", "DataError", "floatx", "set_floatx", "RegularizerBase", "L1", "L2", "L1L2", "activations",
           "applications", "callbacks", "constraints", "data", "datasets", "gradcheck", "initializers", "layers",
           "losses",
           "metrics", "optimizers", "plots", "regularizers", "schedules", "spec", "trace"]
