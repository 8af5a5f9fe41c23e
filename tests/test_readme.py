"""The README is executable documentation: every ```python block runs as written, each in a fresh namespace."""

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch):
    if "keras_bridge" in BLOCKS[index] and not os.environ.get("NUMPYNET_REQUIRE_TF"):
        pytest.importorskip("tensorflow")
    monkeypatch.chdir(tmp_path)       # blocks may save files
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {"__name__": f"readme_block_{index}"})
