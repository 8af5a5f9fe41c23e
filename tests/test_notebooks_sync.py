"""The notebooks and their paired jupytext scripts agree: every ``notebooks/NN_name.ipynb`` has a percent-format
``notebooks/NN_name.py`` with the same cells (type and source), so that a change made on one side only, without
``jupytext --sync notebooks/*.ipynb``, fails here instead of reaching the committed notebook or the reviewed script."""

import pathlib

import pytest
from extras import require

jupytext = require("jupytext", extra="test")

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOT_PAIRED = {"run_full.py"}   # the scripts of the folder that are not notebooks
IPYNBS = sorted(NOTEBOOKS.glob("*.ipynb"))


def cells(path):
    return [(cell.cell_type, cell.source) for cell in jupytext.read(path).cells]


def test_every_notebook_has_its_script_and_every_script_its_notebook():
    assert IPYNBS, f"no notebooks in {NOTEBOOKS}"
    notebooks = {path.stem for path in IPYNBS}
    scripts = {path.stem for path in NOTEBOOKS.glob("*.py") if path.name not in NOT_PAIRED}
    assert notebooks == scripts, (f"without a .py: {sorted(notebooks - scripts)}, "
                                  f"without an .ipynb: {sorted(scripts - notebooks)}")


@pytest.mark.parametrize("ipynb", IPYNBS, ids=[path.stem for path in IPYNBS])
def test_script_and_notebook_have_the_same_cells(ipynb):
    script = ipynb.with_suffix(".py")
    if not script.exists():
        pytest.fail(f"{script.name} is missing (jupytext --sync notebooks/*.ipynb writes it)")
    in_notebook, in_script = cells(ipynb), cells(script)
    for i, (a, b) in enumerate(zip(in_notebook, in_script)):
        assert a == b, (f"cell {i} differs between {ipynb.name} and {script.name}; "
                        f"run jupytext --sync notebooks/*.ipynb\n{ipynb.name}: {a!r}\n{script.name}: {b!r}")
    assert len(in_notebook) == len(in_script), (f"{ipynb.name} has {len(in_notebook)} cells, {script.name} "
                                                f"{len(in_script)}; run jupytext --sync notebooks/*.ipynb")


def test_the_pairing_is_configured_next_to_the_notebooks():
    config = jupytext.config.find_jupytext_configuration_file(str(NOTEBOOKS))
    assert config and pathlib.Path(config).parent == NOTEBOOKS
    formats = jupytext.config.load_jupytext_configuration_file(config).formats
    assert "py:percent" in str(formats), formats
