"""Optional extras in the tests: a test that needs one is skipped, with the reason, when it is not installed —
unless ``NUMPYNET_REQUIRE_EXTRAS=1`` (set by CI) makes a missing extra a failure, so CI never passes by skipping."""

import importlib
import os

import pytest


def require(module, extra="dist"):
    """``module`` imported; skipped (or, under NUMPYNET_REQUIRE_EXTRAS, an ImportError) when it is missing.
    ``extra`` names the setup.cfg extra that installs it (shown in the skip reason)."""
    if os.environ.get("NUMPYNET_REQUIRE_EXTRAS"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} is an optional extra (pip install -e .[{extra}])")
