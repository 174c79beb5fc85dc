"""Execute a jupytext notebook and save it as .ipynb with its outputs (figures included).

    python scripts/run_notebook.py notebooks/speed_comparison.py [--out DIR]

Writes ``<name>.ipynb`` next to the source (or in ``--out``); open it in Jupyter, VS Code or any
notebook viewer. Needs the ``notebooks`` extra (jupytext, nbclient, ipykernel).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path, help="a notebooks/*.py file (jupytext percent format)")
    parser.add_argument("--out", type=Path, help="folder of the executed .ipynb (default: next to the source)")
    args = parser.parse_args(argv)
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    root = Path(__file__).resolve().parent.parent
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    nb = jupytext.read(args.notebook)
    resources = {"metadata": {"path": str(args.notebook.resolve().parent)}}
    NotebookClient(nb, timeout=900, kernel_name="python3", resources=resources).execute()
    out = (args.out or args.notebook.parent) / (args.notebook.stem + ".ipynb")
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    figures = sum(
        "image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    print(f"{out}: executed, {figures} figure(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
