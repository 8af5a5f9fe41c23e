"""pytest plugin for `make mutate`: each mutant is judged by the unit tests of its own module only.

mutmut 3 runs, for each mutant, every selected test that called the mutated function. In numpynet nearly every test
calls the spec parser and the layers' constructors, so a surviving mutant of ``spec.py`` would cost the whole suite.
This plugin (loaded by setup.cfg's ``[mutmut] pytest_add_cli_args``, never by a plain ``pytest``) deselects the
tests that are not in the files listed below for the mutant's module. The score is therefore the score of the
module's own tests: a mutant that only an unrelated test notices counts as a survivor.

The property-based tests (test_fuzz.py, tens of seconds) are left out too: the files below test the same behaviour
with fixed examples.

The mutant comes from ``MUTANT_UNDER_TEST`` (``numpynet.core.spec.x_parse_call__mutmut_3``); during mutmut's clean run
(no mutant) from ``NUMPYNET_MUTATE_MODULES`` (space-separated), which tools/mutate.sh sets. mutmut's map of
tests to functions (its stats and listing runs) sees the union of the files below; the forced-failure run all.
"""

import os
from pathlib import Path

LAYERS = ("test_layers_conv", "test_layers_norm_dropout", "test_layers_mobilenet", "test_graph",
          "test_gradients_split", "test_model", "test_fit_api", "test_prescaled_step",
          "test_mutation_kills_layers", "test_mutation_kills_conv", "test_mutation_kills_base",
          "test_mutation_kills_normalization", "test_mutation_kills_graph_layers")
CONV = ("test_layers_conv", "test_layers_mobilenet", "test_mutation_kills_conv")
GRAPH = ("test_graph", "test_layers_mobilenet", "test_layers_conv", "test_mutation_kills_layers",
         "test_mutation_kills_graph_layers")
TESTS_OF = {
    "numpynet.core.spec": ("test_spec", "test_mutation_kills_spec"),
    "numpynet.core.regularizers": ("test_regularizers", "test_mutation_kills_regularizers", "test_prescaled_step"),
    "numpynet.core.activations": ("test_activations", "test_mutation_kills_activations"),
    "numpynet.core.losses": ("test_losses", "test_metrics", "test_mutation_kills_losses"),
    "numpynet.core.optimizers": ("test_optimizers", "test_schedules", "test_mutation_kills_optimizers",
                                 "test_prescaled_step"),
    "numpynet.core.io": ("test_safety_io", "test_model", "test_mutation_kills_io"),
    "numpynet.core.saving": ("test_safety_io", "test_model", "test_mutation_kills_io"),
    "numpynet.core.serialization": ("test_safety_io", "test_model", "test_mutation_kills_io"),
    "numpynet.core.layers": LAYERS,           # base.py: every layer test
    # the other layer modules: the tests of those layers (each layer module costs minutes per survivor otherwise)
    "numpynet.core.layers.conv": CONV,
    "numpynet.core.layers.depthwise": CONV,
    "numpynet.core.layers.pooling": CONV,
    "numpynet.core.layers.windows": CONV,
    "numpynet.core.layers.core": ("test_model", "test_prescaled_step", "test_gradients_split", "test_layers_conv",
                                  "test_mutation_kills_conv"),
    "numpynet.core.layers.normalization": ("test_layers_norm_dropout", "test_layers_mobilenet",
                                           "test_mutation_kills_layers", "test_mutation_kills_normalization"),
    "numpynet.core.layers.noise": ("test_layers_norm_dropout", "test_mutation_kills_layers"),
    "numpynet.core.layers.merge": GRAPH,
    "numpynet.core.layers.reshaping": GRAPH,
    "numpynet.core.layers.activation_layers": GRAPH,
    "numpynet.core.layers.input_layer": GRAPH,
}


def _modules():
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if "__mutmut_" in mutant:
        return [mutant.rsplit(".", 1)[0]]
    if mutant == "":
        return os.environ.get("NUMPYNET_MUTATE_MODULES", "").split()
    if mutant in ("stats", "list_all_tests"):      # mutmut's map of tests: only the files some module uses
        return list(TESTS_OF)
    return []


def _files(module):
    for prefix in sorted(TESTS_OF, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return TESTS_OF[prefix]
    return None


def pytest_collection_modifyitems(config, items):
    chosen = [_files(module) for module in _modules()]
    if not chosen or None in chosen:
        return
    files = {name for names in chosen for name in names}
    keep, drop = [], []
    for item in items:
        (keep if Path(item.nodeid.split("::", 1)[0]).stem in files else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
