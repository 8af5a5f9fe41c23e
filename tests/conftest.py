"""Shared pytest hooks: the TensorFlow-parity summary.

The parity modules (``tests/test_tf_parity*.py``) record the worst relative difference per family in a module-level
dict ``PARITY_WORST = {family: {dtype: value}}``. At the end of the run the terminal summary prints them, also under
pytest-xdist (``make test`` runs ``-n 2``), where each worker sends its values to the controller.
"""

import json
import sys


def _local_worst():
    """{module: {family: {dtype: value}}} of the parity modules imported in this process."""
    out = {}
    for name, module in list(sys.modules.items()):
        worst = getattr(module, "PARITY_WORST", None) if "test_tf_parity" in name else None
        if worst:
            out[name.rsplit(".", 1)[-1]] = worst
    return out


def _merge(into, new):
    for module, families in new.items():
        for family, values in families.items():
            slot = into.setdefault(module, {}).setdefault(family, {})
            for dtype, value in values.items():
                slot[dtype] = max(slot.get(dtype, 0.0), value)


class _FromWorkers:
    """Collects the workers' values on the xdist controller."""

    def __init__(self, config):
        self.config = config

    def pytest_testnodedown(self, node, error):
        data = getattr(node, "workeroutput", {}).get("parity_worst")
        if data:
            _merge(self.config._parity_worst, json.loads(data))


def pytest_configure(config):
    config._parity_worst = {}
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_FromWorkers(config), "numpynet-parity-from-workers")


def pytest_sessionfinish(session):
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:      # an xdist worker: hand the values to the controller
        worker_output["parity_worst"] = json.dumps(_local_worst())


def pytest_terminal_summary(terminalreporter, config):
    merged = {}
    _merge(merged, config._parity_worst)
    _merge(merged, _local_worst())
    for module in sorted(merged):
        terminalreporter.section(f"{module}: worst relative difference vs Keras")
        for family in sorted(merged[module]):
            values = "  ".join(f"{dtype}: {value:.2e}" for dtype, value in sorted(merged[module][family].items()))
            terminalreporter.write_line(f"{family:<34} {values}")
