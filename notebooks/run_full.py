"""Execute notebooks at full size and keep their outputs, so that they read with plots online.

    python notebooks/run_full.py                      # every notebook in this folder
    python notebooks/run_full.py notebooks/04_lenet5.ipynb

CI runs the same notebooks in fast mode (``NUMPYNET_FAST=1 pytest --nbmake notebooks``) without writing them; this
script is how the committed outputs were made (``make notebooks-full``, which first runs
``jupytext --sync notebooks/*.ipynb``). ``NUMPYNET_FAST`` is removed from the environment of the kernel so that each
notebook runs its full-size branch. A notebook whose cells differ from its paired ``NN_name.py`` is refused: sync
them first (see README.md in this folder).
"""

import argparse
import os
import pathlib
import time

import nbformat
from nbclient import NotebookClient


def check_paired(path):
    """Refuse a notebook whose cells are not those of its paired jupytext script (an edit not yet synced)."""
    script = path.with_suffix(".py")
    if not script.exists():
        return
    import jupytext

    def cells(p):
        return [(cell.cell_type, cell.source) for cell in jupytext.read(p).cells]

    if cells(path) != cells(script):
        raise SystemExit(f"{path.name} and {script.name} have different cells; "
                         "run `jupytext --sync notebooks/*.ipynb` first")


def run(path):
    nb = nbformat.read(path, as_version=4)
    os.environ.pop("NUMPYNET_FAST", None)          # the kernel inherits this process's environment
    start = time.perf_counter()
    NotebookClient(nb, timeout=None, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    print(f"{path}: {time.perf_counter() - start:.0f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    here = pathlib.Path(__file__).resolve().parent
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path, default=sorted(here.glob("*.ipynb")),
                        help="notebooks to execute in place")
    paths = [path.resolve() for path in parser.parse_args().notebooks]
    for path in paths:                  # all of them before the first (long) run
        check_paired(path)
    for path in paths:
        run(path)


if __name__ == "__main__":
    main()
