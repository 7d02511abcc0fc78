"""Shared helpers for the scripts that write the chapter notebooks (scripts/make_NN_topic.py).

A script calls ``md(...)`` and ``code(...)`` in reading order, then ``write_notebook("NN_topic.ipynb")``.
The notebook it writes has no outputs: execute it with ``make run-notebook NB=book/NN_topic.ipynb``.
The notebook in ``book/`` is what readers and CI use; after editing one in JupyterLab, carry the change
back into its script (or the script will undo it the next time it runs).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import os

# NBBUILD_OUT lets the tests write the notebooks elsewhere and compare them with book/.
BOOK = Path(os.environ.get("NBBUILD_OUT", Path(__file__).resolve().parents[1] / "book"))
cells: list = []


def md(text: str) -> None:
    """Append a markdown cell."""
    cells.append(new_markdown_cell(text.strip()))


def code(text: str, raises: bool = False) -> None:
    """Append a code cell; ``raises=True`` tags a cell that is meant to show an error."""
    cell = new_code_cell(text.strip())
    if raises:
        cell.metadata["tags"] = ["raises-exception"]
    cells.append(cell)


def write_notebook(name: str) -> Path:
    """Write the cells collected so far to ``book/<name>``."""
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    out = BOOK / name
    nbformat.write(nb, out)
    print(f"wrote {name} with {len(cells)} cells")
    return out
