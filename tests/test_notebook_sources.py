"""Each chapter is a jupytext pair: ``book/NN_topic.md`` (MyST Markdown, what authors edit and reviewers read)
and ``book/NN_topic.ipynb`` (the same cells plus the outputs of the real run, what the site and nbval use).

These tests check that the two halves of every pair hold the same cells, and that no cell source carries
the traces of a lost backslash (a control character such as a tab, or a TeX command that MathJax would
print as plain letters).
"""
from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(p for p in BOOK.rglob("*.ipynb") if "_build" not in p.parts and ".ipynb_checkpoints" not in p.parts)

# Control characters other than a newline: a "\t", "\f", "\b", "\r", "\a" or "\v" typed in a non-raw Python
# string turns "\text", "\frac", "\beta", "\rho", "\alpha" or "\vec" into one of these.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
# Inside math, these words are TeX commands; written without their backslash MathJax prints them as italic letters.
TEX_WORDS = ("text", "mathrm", "mathbb", "mathcal", "operatorname", "frac", "sqrt", "times", "cdot", "cdots",
             "ldots", "dots", "sum", "prod", "infty", "approx", "leq", "geq", "alpha", "beta", "gamma", "sigma",
             "epsilon", "varepsilon", "theta", "lambda", "mu", "nabla", "partial", "mid", "top")
BARE_TEX = re.compile(r"(?<![\\A-Za-z])(" + "|".join(TEX_WORDS) + r")(?![A-Za-z])")
MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", re.S)


def cells_of(nb: nbformat.NotebookNode) -> list[tuple[str, str, dict]]:
    """What must agree between the two halves of a pair: type, source and metadata of every cell."""
    return [(c.cell_type, c.source, {k: v for k, v in c.metadata.items() if k != "execution"}) for c in nb.cells]


def source_problems(text: str) -> list[str]:
    """Control characters anywhere, and TeX command names without their backslash inside ``$...$`` math."""
    problems = [f"control character {m.group()!r} before {text[m.end():m.end() + 12]!r}" for m in CONTROL.finditer(text)]
    for m in MATH.finditer(text):
        math = m.group(1) or m.group(2)
        # \text{...} and \mathrm{...} arguments are words, not commands: drop them before looking.
        math = re.sub(r"\\(?:text|mathrm|operatorname)\{[^{}]*\}", "", math)
        problems += [f"'{w.group()}' without a backslash in ${math.strip()[:40]}$" for w in BARE_TEX.finditer(math)]
    return problems


def test_every_chapter_notebook_is_paired():
    assert NOTEBOOKS, "no notebooks found under book/"
    for nb_path in NOTEBOOKS:
        md = nb_path.with_suffix(".md")
        assert md.is_file(), f"{nb_path.relative_to(ROOT)} has no paired {md.name}: run `jupytext --set-formats ipynb,md:myst {nb_path.relative_to(ROOT)}`"
        nb = nbformat.read(nb_path, as_version=4)
        assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,md:myst", f"{nb_path.name}: not paired with md:myst"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_in_sync(nb_path: Path):
    md_cells = cells_of(jupytext.read(nb_path.with_suffix(".md")))
    nb_cells = cells_of(nbformat.read(nb_path, as_version=4))
    for i, (a, b) in enumerate(zip(md_cells, nb_cells)):
        assert a == b, (f"cell {i} of {nb_path.stem}.md and .ipynb differ; run `jupytext --sync book/{nb_path.stem}.md`, "
                        f"then re-run the notebook if code changed.\n md: {a!r:.300}\n ipynb: {b!r:.300}")
    assert len(md_cells) == len(nb_cells), f"{nb_path.stem}: {len(md_cells)} cells in .md, {len(nb_cells)} in .ipynb"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_sources_have_no_lost_backslashes(nb_path: Path):
    nb = nbformat.read(nb_path, as_version=4)
    problems = [f"cell {i}: {p}" for i, c in enumerate(nb.cells) for p in source_problems(c.source)]
    assert not problems, f"{nb_path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_nbval_comment_markers(nb_path: Path):
    """nbval's markers are cell tags (nbval-check-output, nbval-ignore-output), not comments readers see."""
    nb = nbformat.read(nb_path, as_version=4)
    bad = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "# NBVAL_" in c.source]
    assert not bad, f"{nb_path.name}: cells {bad} use # NBVAL_ comments; use the cell tags instead"


# ------------------------------------------------------------------ the checks above can fail
def test_source_check_catches_lost_backslashes():
    assert source_problems("probability at least $p_\text{min}$")          # "\t" typed in a non-raw string
    assert source_problems("$2 \times B$")                                   # same, for \times
    assert source_problems("$\frac{a}{b}$")                                  # "\f": form feed
    assert source_problems("$a times b$")                                    # a bare TeX word in math
    assert source_problems("$$x = frac{1}{2}$$")
    assert not source_problems(r"$p_\text{min}$, $2 \times B$, $\frac{a}{b}$, $\mathrm{top}$-$k$, a top word")


def test_sync_check_catches_a_drifted_pair(tmp_path):
    nb_path = NOTEBOOKS[0]
    nb = nbformat.read(nb_path, as_version=4)
    md = jupytext.reads(jupytext.writes(nb, fmt="md:myst"), fmt="md:myst")
    assert cells_of(md) == cells_of(nb)
    code = next(i for i, c in enumerate(md.cells) if c.cell_type == "code")
    md.cells[code].source += "\nx = 1"
    assert cells_of(md) != cells_of(nb)
