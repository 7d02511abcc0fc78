"""Replace the traceback of each error output by its last line ("ValueError: ...").

Usage: .venv/bin/python scripts/shorten_tracebacks.py book/04_gpt.ipynb [...]

Run after `make run-notebook`: a full traceback shows absolute paths of the machine that ran
the notebook (and library internals); the reader only needs the error message.
"""
import sys

import nbformat

for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out['ename']}: {out['evalue']}"]
                n += 1
    nbformat.write(nb, path)
    print(f"{path}: shortened {n} tracebacks")
