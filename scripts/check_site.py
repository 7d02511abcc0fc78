"""Check the built site as a reader's browser sees it.

1. Every internal link and image of every HTML page points to a file that exists
   (and, for links with a ``#fragment``, to an element with that id).
2. In headless Chromium (driven by Playwright, served from localhost), every page of
   the table of contents loads, shows the book title, its own heading and the
   navigation; every figure on a chapter page is loaded (non-zero width); every
   formula is typeset by MathJax (served from the site itself) without a TeX error;
   and no request to the site itself fails. A screenshot of each page is saved next to the site.

Usage: python scripts/check_site.py _build/html
Needs Chromium (Debian package ``chromium``); set CHROMIUM=/path/to/chromium to use another.
"""
from __future__ import annotations

import functools
import html.parser
import http.server
import os
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

BOOK_TITLE = "AIGC from Scratch"


class _LinkParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) and tag in {"a", "img", "link", "script"}:
                self.links.append(a[key])


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _LinkParser:
    p = _LinkParser()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return p


def broken_links(site: Path) -> list[str]:
    problems = []
    for page in sorted(site.rglob("*.html")):
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        for link in _parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "mailto:", "javascript:", "data:")):
                continue
            if not parts.path:  # same-page anchor
                if parts.fragment and parts.fragment not in _parse(page).ids:
                    problems.append(f"{page.relative_to(site)}: anchor #{parts.fragment} not found")
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{page.relative_to(site)}: broken link {link}")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in _parse(target).ids:
                problems.append(f"{page.relative_to(site)}: {link}: anchor not found")
    return problems


def toc_pages(root: Path) -> list[str]:
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part.get("chapters", [])]
    return files


def find_chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)  # type: ignore[return-value]
    raise SystemExit("Chromium not found: install it (Debian: apt-get install chromium) or set CHROMIUM=...")


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def check_math(page, doc: str, problems: list[str]) -> int:
    """Wait for MathJax; every formula on the page must be typeset, none with a TeX error. Returns the count."""
    n_math = page.locator(".math").count()
    if n_math == 0:
        return 0
    try:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=20_000)
        page.evaluate("() => MathJax.startup.promise.then(() => true)")
    except Exception as error:  # noqa: BLE001 - report any failure to load MathJax as a problem
        problems.append(f"{doc}: MathJax did not load ({type(error).__name__}); {n_math} formulas stay raw TeX")
        return 0
    raw = page.evaluate("() => [...document.querySelectorAll('.math')]"
                        ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60))")
    errors = page.evaluate("() => [...document.querySelectorAll('mjx-merror')]"
                           ".map(e => e.getAttribute('data-mjx-error') || e.textContent)")
    if raw:
        problems.append(f"{doc}: {len(raw)} of {n_math} formulas not typeset, e.g. {raw[:3]}")
    if errors:
        problems.append(f"{doc}: {len(errors)} formulas with TeX errors: {errors[:3]}")
    return n_math - len(raw)


def browser_checks(root: Path, site: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    shots = site.parent / "site-check"
    shots.mkdir(exist_ok=True)
    server, base = serve(site)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url) if r.url.startswith(base) else None)
            page.on("response", lambda r: failed.append(f"{r.url} ({r.status})")
                    if r.url.startswith(base) and r.status >= 400 and not r.url.endswith("favicon.ico") else None)
            for doc in toc_pages(root):
                url = base + doc + ".html"
                failed.clear()
                response = page.goto(url, wait_until="load")
                name = doc.split("/")[-1]
                if response is None or response.status != 200:
                    problems.append(f"{doc}: HTTP {response.status if response else 'no response'}")
                    continue
                title = page.title()
                if BOOK_TITLE not in title:
                    problems.append(f"{doc}: page title {title!r} lacks {BOOK_TITLE!r}")
                h1 = page.locator("main h1, article h1").first
                if h1.count() == 0 or not h1.inner_text().strip():
                    problems.append(f"{doc}: no heading")
                nav_links = page.locator("nav.bd-docs-nav a.reference.internal").count()
                if nav_links < len(toc_pages(root)) - 1:
                    problems.append(f"{doc}: navigation shows {nav_links} links, expected {len(toc_pages(root)) - 1}")
                images = page.locator("article img")
                widths = [images.nth(i).evaluate("(img) => img.complete ? img.naturalWidth : 0")
                          for i in range(images.count())]
                source = root / (doc + ".ipynb")
                if source.exists() and not widths:
                    problems.append(f"{doc}: a chapter page with no figures")
                if any(w == 0 for w in widths):
                    problems.append(f"{doc}: {widths.count(0)} of {len(widths)} figures did not load")
                formulas = check_math(page, doc, problems)
                if failed:
                    problems.append(f"{doc}: failed requests to the site: {failed[:5]}")
                page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
                print(f"  {doc}: title ok, {nav_links} navigation links, {len(widths)} figures loaded, "
                      f"{formulas} formulas typeset")
            browser.close()
    finally:
        server.shutdown()
    return problems


def main() -> None:
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html").resolve()
    root = Path(__file__).resolve().parents[1]
    if not (site / "index.html").exists():
        raise SystemExit(f"no built site at {site}: run jupyter-book build . first")
    problems = broken_links(site)
    print(f"internal links: {'ok' if not problems else f'{len(problems)} broken'}")
    problems += browser_checks(root, site)
    if problems:
        print("\n".join("FAIL " + p for p in problems))
        raise SystemExit(1)
    print("site check passed")


if __name__ == "__main__":
    main()
