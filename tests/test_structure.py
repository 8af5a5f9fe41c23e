"""The package's shape: a core that imports NumPy (and SciPy's special functions) only, a lab and interop around
it, no import loops, and the short module names (``numpynet.model``) as the very modules of ``numpynet.core``."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numpynet as nn
from numpynet import SpecError
from numpynet.core import gradcheck, serialization
from numpynet.errors import DataError

PACKAGE = Path(nn.__file__).parent
SHORT_NAMES = {name: part for part, names in nn._PARTS.items() for name in names}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


MODULE_NAMES = {name for name, _ in _modules()}


def _imports(name, path):
    """(imported module, at top level?) for every import statement of a module, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:     # "from . import layers" imports a module, "from .x import f" a name
                    sub = f"{target}.{alias.name}"
                    yield (sub if sub in MODULE_NAMES else target), id(node) in top
            else:
                yield node.module, id(node) in top


@pytest.mark.parametrize("short", sorted(SHORT_NAMES))
def test_short_module_names_are_the_same_module_objects(short):
    real = importlib.import_module(f"numpynet.{SHORT_NAMES[short]}.{short}")
    assert importlib.import_module(f"numpynet.{short}") is real
    assert getattr(nn, short) is real


def test_short_names_reach_submodules_of_packages():
    import numpynet.core.layers.conv as conv
    import numpynet.layers.conv
    assert numpynet.layers.conv is conv
    from numpynet.layers.conv import Conv2D
    assert Conv2D is nn.layers.Conv2D
    assert importlib.import_module("numpynet.core.model").__spec__.name == "numpynet.core.model"


def test_the_core_imports_numpy_and_scipy_only():
    stdlib = set(sys.stdlib_module_names)
    for name, path in _modules():
        if not name.startswith("numpynet.core"):
            continue
        for module, top_level in _imports(name, path):
            root = module.split(".")[0]
            assert not module.startswith(("numpynet.lab", "numpynet.interop")), f"{name} imports {module}"
            if root in stdlib or root == "numpynet":
                continue
            # progressbar2 draws fit's bar: imported inside the progress callback only, when a bar is drawn
            allowed = {"numpy", "scipy"} if top_level else {"numpy", "scipy", "progressbar"}
            assert root in allowed, f"{name} imports {module}"


def test_no_import_loops_between_modules():
    graph = {}
    for name, path in _modules():
        graph[name] = {m for m, _ in _imports(name, path) if m.startswith("numpynet.") and m != name
                       and not name == "numpynet"}
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            assert state.get(nxt) != "open", "import loop: " + " -> ".join(trail + [node, nxt])
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_importing_numpynet_loads_no_optional_library():
    code = ("import sys, numpynet, numpynet.keras_bridge, numpynet.experiments; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'matplotlib', 'dask', "
            "'torch', 'pooch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------- configs → models


def _graph_model():
    inp = nn.Input((6,))
    h = nn.layers.Dense(5, activation="relu", kernel_regularizer="l2(lambd=0.01)")(inp)
    out = nn.layers.Dense(3)(nn.layers.Add()([h, nn.layers.Dense(5)(inp)]))
    model = nn.Model(inp, out, seed=0)
    model.compile(optimizer="sgd(lr=0.1)", loss="softmax_cross_entropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("make", [
    lambda: nn.DFN(hidden_dims=(4, 3), n_classes=3, seed=1).build((None, 6)),
    lambda: nn.Sequential([nn.Input((6,)), nn.layers.Dense(4, activation="tanh"), nn.layers.Dense(3)], seed=1),
    _graph_model,
], ids=["dfn", "sequential", "graph"])
def test_model_from_config_rebuilds_the_same_architecture(make):
    model = make()
    rebuilt = serialization.model_from_config(model.get_config())
    assert type(rebuilt) is type(model)
    assert rebuilt.get_config() == model.get_config()
    assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]
    inputs, outputs = serialization.config_tensors(model.get_config())
    assert [t.shape for t in outputs] == [tuple(s) for s in model.output_shapes]


@pytest.mark.parametrize("config, message", [
    ({"class": "Pickle"}, "model class"),
    ({"class": "Model", "inputs": [{"name": "x", "shape": [3]}], "layers": [{"name": "dense", "config": {
        "units": 2, "name": "d"}}], "nodes": [{"layer": "d", "inputs": [["nowhere", 0]]}], "outputs": [["d", 0]]},
     "no earlier node"),
    ({"class": "Model", "inputs": [{"name": "x", "shape": [3]}], "layers": [], "nodes": [],
      "outputs": [["d", 0]]}, "'outputs'"),
    ({"class": "Sequential", "layers": [{"name": "os.system"}], "input_shape": [None, 3]}, "unknown layer"),
])
def test_malformed_configs_are_data_errors(config, message):
    with pytest.raises(DataError, match=message):
        serialization.model_from_config(config)


def test_shapes_only_layers_allocate_nothing():
    layer = nn.layers.Dense(40_000_000)
    layer.shapes_only = True
    layer.dtype = np.float32
    layer.build((None, 40_000_000))
    assert layer.params["W"].shape == (40_000_000, 40_000_000)
    assert layer.params["W"].strides == (0, 0) and layer.grads == {}


# ------------------------------------------------------------------------------------- gradcheck progress


def test_check_model_reports_progress_once_per_loss_evaluation():
    model = nn.DFN(hidden_dims=(3,), n_classes=2, seed=0, dtype="float64")
    X = np.random.default_rng(0).normal(size=(5, 4))
    y = np.array([0, 1, 1, 0, 1])
    model.build((None, 4))
    seen = []
    report = gradcheck.check_model(model, X, y, max_entries=4, progress=lambda done, total: seen.append((done,
                                                                                                          total)))
    total = 2 * gradcheck.count_entries(model, 4)
    assert total == 2 * (4 + 3 + 4 + 2)
    assert seen == [(i, total) for i in range(1, total + 1)]
    assert float(report) < 1e-6
    with pytest.raises(SpecError, match="progress"):
        gradcheck.check_model(model, X, y, progress="bar")
