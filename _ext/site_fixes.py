"""Two fixes to the theme set that Jupyter Book 1.0.4 installs (each one logged a console error on every page).

1. sphinx-thebe adds its configuration <script> (``const THEBE_JS_URL = ...``) twice to every page; the second
   copy throws "Identifier 'THEBE_JS_URL' has already been declared". Each page keeps the first copy of a script.
2. pydata-sphinx-theme 0.17.1 writes ``data-mode=""`` into a page when the template variable ``default_mode``
   is unset, so a first visit (nothing in localStorage) logs "Got invalid theme mode: . Resetting to auto.".
   Each page gets the mode the theme falls back to anyway: "auto".

scripts/check_site.py fails on any console error, so it tells when a theme update makes a fix unneeded or wrong.
Loaded through ``sphinx: local_extensions`` in _config.yml.
"""
from __future__ import annotations

from typing import Any


def _fix_page(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        # a file by its name, an inline script by its text (the two copies: filename None and "")
        key = (getattr(script, "filename", script) or "",
               tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app: Any) -> dict:
    app.connect("html-page-context", _fix_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
