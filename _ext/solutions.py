"""Build the site with or without the worked solutions (``book/solutions/``).

Instructors who do not want the solutions public build the site with ``make book SOLUTIONS=0``, which sets
the environment variable ``AIGC_BOOK_SOLUTIONS=0`` for Jupyter Book. Then this extension

1. drops the table of contents' part captioned ``Solutions`` (it writes a copy of ``_toc.yml`` without it next to
   the build's doctrees and points sphinx-external-toc at the copy: ``config-inited`` runs before the TOC is read),
2. excludes ``book/solutions/`` from the build, and
3. removes every chapter link to a solution (``[Solution](solutions/...)``, the form ``tests/test_solutions.py``
   requires) from the sources as they are read, so that no page links to a page that is not built, and
4. removes the passages of Markdown pages (the intro) that speak of the solutions, written between
   ``<!-- solutions -->`` and ``<!-- /solutions -->`` (HTML comments: the full site shows the text between them).

With the variable unset or ``1`` the extension does nothing. ``scripts/check_site.py --no-solutions`` checks the
result (no solution page, no link to one, every other link resolves).
Loaded through ``sphinx: local_extensions`` in _config.yml.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

ENV_VAR = "AIGC_BOOK_SOLUTIONS"
SOLUTIONS_CAPTION = "Solutions"
SOLUTIONS_GLOB = "book/solutions/**"
#: a chapter's link to its solution, as it appears in the notebook's JSON or in a text file
SOLUTION_LINK = re.compile(r" ?\[Solution\]\(solutions/[^)\s\"]*\)")
#: a passage of a Markdown page that only the site with solutions shows
SOLUTION_PASSAGE = re.compile(r"<!-- solutions -->.*?<!-- /solutions -->", re.S)


def solutions_enabled() -> bool:
    """True unless ``AIGC_BOOK_SOLUTIONS`` is ``0`` (anything else but ``1`` or unset is an error)."""
    value = os.environ.get(ENV_VAR, "1").strip()
    if value not in {"0", "1"}:
        raise ValueError(f"{ENV_VAR} must be 0 (build without solutions) or 1 (with them), got {value!r}")
    return value == "1"


def toc_without_solutions(toc: dict) -> dict:
    """A copy of a jb-book TOC without the part captioned ``Solutions`` (error if there is none)."""
    parts = toc.get("parts", [])
    kept = [p for p in parts if p.get("caption") != SOLUTIONS_CAPTION]
    if len(kept) == len(parts):
        raise ValueError(f"the table of contents has no part captioned {SOLUTIONS_CAPTION!r}")
    return {**toc, "parts": kept}


def strip_solution_links(text: str) -> str:
    """``text`` without any ``[Solution](solutions/...)`` link."""
    return SOLUTION_LINK.sub("", text)


def _config_inited(app: Any, config: Any) -> None:
    if solutions_enabled():
        return
    toc_path = Path(app.srcdir) / str(config.external_toc_path)
    toc = toc_without_solutions(yaml.safe_load(toc_path.read_text(encoding="utf-8")))
    out = Path(app.doctreedir).parent / "_toc_no_solutions.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    config.external_toc_path = str(out.resolve())
    config.exclude_patterns = list(config.exclude_patterns) + [SOLUTIONS_GLOB]


def strip_solution_passages(text: str) -> str:
    """Markdown ``text`` without its ``<!-- solutions --> ... <!-- /solutions -->`` passages (error if unbalanced)."""
    opened, closed = text.count("<!-- solutions -->"), text.count("<!-- /solutions -->")
    if opened != closed:
        raise ValueError(f"{opened} '<!-- solutions -->' markers but {closed} '<!-- /solutions -->'")
    return SOLUTION_PASSAGE.sub("", text)


def _strip_links(app: Any, docname: str, source: list[str]) -> None:
    source[0] = strip_solution_links(source[0])
    if str(app.env.doc2path(docname)).endswith(".md"):   # (an .ipynb arrives as JSON: links only)
        source[0] = strip_solution_passages(source[0])


def setup(app: Any) -> dict:
    app.connect("config-inited", _config_inited, priority=100)   # before sphinx-external-toc reads the TOC (900)
    if not solutions_enabled():
        app.connect("source-read", _strip_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
