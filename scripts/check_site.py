"""Check the built site as a reader's browser sees it.

1. Every internal link and image of every HTML page points to a file that exists
   (and, for links with a ``#fragment``, to an element with that id).
2. In headless Chromium (driven by Playwright, served from localhost), every page of
   the table of contents loads, shows the book title, its own heading and the
   navigation; every figure on a chapter page is loaded (non-zero width); every
   formula is typeset by MathJax (served from the site itself) without a TeX error;
   and no request to the site itself fails. A screenshot of each page is saved next to the site.
3. No page logs a browser console error or an uncaught exception (at 1280 px and at 390 px). Requests to other
   hosts (CDNs: the widget scripts) are blocked, so the check is the same online and offline; the hosts are
   listed, and the console errors their blocked requests cause are not counted (they are not the site's).
   So the widget scripts themselves are not checked here.
4. At 1280 px the chapter-list button hides and shows the chapter list. At phone width (390 px): the
   chapter-list button opens the chapter list, a link in it leads to that chapter, and the page-contents
   button opens the page contents (sphinx-book-theme's own buttons, the ones a reader sees); no page is wider than the screen (document scrollWidth > 390 px means sideways scrolling); and no
   figure is shown smaller than MIN_FIGURE_SCALE of its drawn size (natural vs displayed width are printed).
5. Exercises and solutions (``solution_problems``): with solutions, each chapter links every exercise to its
   section of ``book/solutions/NN_topic_solutions.html`` and each solution page links back; with
   ``--no-solutions`` (a site built by ``make book SOLUTIONS=0``), no solution page, link, navigation entry or
   search-index entry is left. ``tests/test_check_site.py`` shows each of these checks failing on a broken site.

Usage: python scripts/check_site.py _build/html [--no-solutions]
Needs Chromium (Debian package ``chromium``); set CHROMIUM=/path/to/chromium to use another.
"""
from __future__ import annotations

import argparse
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
SOLUTIONS_CAPTION = "Solutions"   # the table of contents' part that `make book SOLUTIONS=0` leaves out
PHONE = {"width": 390, "height": 844}   # a current phone (iPhone 12-15) in CSS pixels
# Figures are drawn at 80 dpi (aigc_lib.core.plotting.STYLE) with 9-10 pt text, so their smallest text is 10 px high
# in the PNG. Shown at 0.7 of its drawn width, that text is still 7 CSS px, about the smallest a reader can
# read on a phone without zooming; smaller, the labels are a blur. _static/course.js keeps each figure at no
# less than this scale (a wider figure scrolls inside its own box); the check measures the result.
MIN_FIGURE_SCALE = 0.7


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


def toc_pages(root: Path, solutions: bool = True) -> list[str]:
    """The documents of ``_toc.yml`` in order (``glob`` entries expanded; the Solutions part only if ``solutions``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        if part.get("caption") == SOLUTIONS_CAPTION and not solutions:
            continue
        for entry in part.get("chapters", []):
            if "glob" in entry:
                files += sorted(str(p.relative_to(root).with_suffix("")) for p in root.glob(entry["glob"] + ".ipynb"))
            else:
                files.append(entry["file"])
    return files


def solution_problems(site: Path, solutions: bool) -> list[str]:
    """Exercises and solutions on the built site.

    With solutions: every chapter page links to each of its solutions (``solutions/NN_topic_solutions.html
    #exercise-K``, K = 1, 2, ...) and to nothing else in ``solutions/``; every solution page has the same number
    of ``exercise-K`` sections and links back to its chapter. Without: no page under ``book/solutions/``, no
    link into it from any page, no solution in the search index and no "Solutions" part in the navigation.
    (broken_links checks that every link and anchor resolves.)
    """
    problems: list[str] = []
    book = site / "book"
    chapters = sorted(p for p in book.glob("[0-9][0-9]_*.html"))
    if not solutions:
        if (book / "solutions").exists():
            problems.append("book/solutions/ was built although solutions are off")
        for page in sorted(site.rglob("*.html")):
            if "_static" in page.parts:
                continue
            bad = [link for link in _parse(page).links if "solutions/" in urlsplit(link).path
                   and not urlsplit(link).scheme]
            if bad:
                problems.append(f"{page.relative_to(site)}: links to a solution without solutions: {bad[:2]}")
            if f'class="caption-text">{SOLUTIONS_CAPTION}<' in page.read_text(encoding="utf-8", errors="replace"):
                problems.append(f"{page.relative_to(site)}: shows a {SOLUTIONS_CAPTION!r} caption")
        index = site / "searchindex.js"
        if index.exists() and "book/solutions/" in index.read_text(encoding="utf-8", errors="replace"):
            problems.append("searchindex.js lists solution pages")
        print(f"  no solutions: {len(chapters)} chapter pages checked")
        return problems
    for chapter in chapters:
        solution = book / "solutions" / f"{chapter.stem}_solutions.html"
        if not solution.exists():
            problems.append(f"{chapter.name}: no solutions page {solution.relative_to(site)}")
            continue
        links = [urlsplit(link) for link in _parse(chapter).links if "solutions/" in urlsplit(link).path]
        wanted = f"solutions/{solution.name}"
        anchors = sorted(link.fragment for link in links if link.path == wanted and link.fragment)
        # (the navigation links every solution page, without a fragment: only exercise links count here)
        others = [link.geturl() for link in links if link.path != wanted and link.fragment.startswith("exercise-")]
        sections = sorted(i for i in _parse(solution).ids if i.startswith("exercise-") and i[9:].isdigit())
        expected = [f"exercise-{k}" for k in range(1, len(sections) + 1)]
        if not sections or sorted(sections, key=lambda i: int(i[9:])) != expected:
            problems.append(f"{solution.name}: exercise sections {sections}, expected exercise-1 .. exercise-N")
        if sorted(set(anchors)) != sorted(sections):
            problems.append(f"{chapter.name}: links to solutions {anchors}, the solutions page has {sections}")
        if others:
            problems.append(f"{chapter.name}: other links into solutions/: {others[:3]}")
        back = [link for link in _parse(solution).links if urlsplit(link).path == f"../{chapter.name}"]
        if not back:
            problems.append(f"{solution.name}: no link back to {chapter.name}")
        print(f"  {chapter.stem}: {len(sections)} exercises linked to their solutions and back")
    return problems


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


def watch_console(page, base: str, errors: list[str]) -> None:
    """Collect the page's console errors and uncaught exceptions into ``errors``.

    A failed request to another host (blocked by the check) is not an error of the site and is skipped."""
    def on_console(message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if where and not where.startswith(base):
            return
        errors.append(message.text[:200])

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"uncaught {error}"[:200]))


# Elements wider than the screen that are not inside a box that scrolls (or clips) sideways by itself.
_OVERFLOW_JS = """(limit) => {
  const clipped = (e) => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o !== 'visible') return true; } return false; };
  const out = [];
  const page = document.documentElement.scrollWidth;
  for (const e of document.querySelectorAll('.bd-main *, .bd-header *')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.right <= limit + 1 || r.width >= page - 1 || clipped(e)) continue;
    if (e.parentElement && e.parentElement.getBoundingClientRect().right > limit + 1 && !clipped(e.parentElement)
        && getComputedStyle(e.parentElement).overflowX === 'visible') continue;   // report the outermost one
    out.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')} (${Math.round(r.right)} px): `
             + (e.textContent || '').trim().slice(0, 50));
  }
  return out.slice(0, 3);
}"""

_FIGURES_JS = """() => [...document.querySelectorAll('article img')].filter(i => i.complete && i.naturalWidth > 0)
    .map(i => [i.naturalWidth, i.getBoundingClientRect().width])"""


def desktop_toggle(page, url: str, problems: list[str]) -> None:
    """At 1280 px the visible chapter-list button hides the chapter list and shows it again."""
    page.goto(url, wait_until="load")
    hidden = "() => document.getElementById('pst-primary-sidebar').classList.contains('pst-sidebar-hidden')"
    states = []
    for _ in range(2):
        page.locator(".primary-toggle:visible").first.click()
        page.wait_for_timeout(200)
        states.append(page.evaluate(hidden))
    if states != [True, False]:
        problems.append(f"desktop: the chapter-list button did not hide and show the chapter list (hidden: {states})")
    else:
        print("  desktop navigation: the chapter-list button hides and shows the chapter list")


def phone_checks(browser, base: str, docs: list[str], shots: Path, problems: list[str]) -> None:
    """At 390 px: navigation with the visible buttons, sideways scrolling, console errors and figure scale."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=3)
    context.route(lambda url: not url.startswith(base), lambda route: route.abort())
    page = context.new_page()
    errors: list[str] = []
    watch_console(page, base, errors)

    # 1. Navigation: open the chapter list, follow a chapter link, open the page contents.
    page.goto(base + docs[0] + ".html", wait_until="load")
    try:
        page.locator(".primary-toggle:visible").first.click(timeout=5_000)
        page.wait_for_function("() => document.getElementById('pst-primary-sidebar-modal').open", timeout=5_000)
        link = page.locator("#pst-primary-sidebar-modal nav.bd-docs-nav a.reference.internal:visible").nth(1)
        target = link.get_attribute("href")
        link.click(timeout=5_000)
        page.wait_for_url(lambda url: url.split("#")[0].endswith(target.split("#")[0]), timeout=10_000)
        page.locator(".secondary-toggle:visible").first.click(timeout=5_000)
        page.wait_for_function("() => document.getElementById('pst-secondary-sidebar-modal').open", timeout=5_000)
        entries = page.locator("#pst-secondary-sidebar-modal a.nav-link:visible").count()
        if entries == 0:
            problems.append("phone: the page contents opened empty")
        page.screenshot(path=str(shots / "phone-contents.png"))
        print(f"  phone navigation: chapter list opened, followed it to {target}, page contents opened "
              f"({entries} entries)")
    except Exception as error:  # noqa: BLE001 - any failure here is a navigation failure
        page.screenshot(path=str(shots / "phone-navigation-failed.png"))
        problems.append(f"phone navigation at {PHONE['width']} px failed: {str(error).splitlines()[0][:200]}")

    # 2. Every page: sideways scrolling, console errors, figure scale.
    widest, scales = ("", 0), []
    for doc in docs:
        errors.clear()
        page.goto(base + doc + ".html", wait_until="load")
        page.wait_for_timeout(300)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > widest[1]:
            widest = (doc, width)
        if width > PHONE["width"]:
            culprits = page.evaluate(_OVERFLOW_JS, PHONE["width"])
            problems.append(f"{doc}: scrolls sideways at {PHONE['width']} px (page {width} px wide): {culprits}")
        if errors:
            problems.append(f"{doc}: {len(errors)} console errors at {PHONE['width']} px: {errors[:3]}")
        figures = page.evaluate(_FIGURES_JS)
        small = [f"{n}->{d:.0f} px" for n, d in figures if d < MIN_FIGURE_SCALE * n - 0.5]
        if small:
            problems.append(f"{doc}: {len(small)} of {len(figures)} figures shown below {MIN_FIGURE_SCALE:.0%} of "
                            f"their drawn width at {PHONE['width']} px (natural->displayed): {small[:4]}")
        scales += [(d / n, n, d, doc) for n, d in figures]
        if figures:
            print(f"  {doc} at {PHONE['width']} px: {width} px wide; figures natural->displayed: "
                  + ", ".join(f"{n}->{d:.0f}" for n, d in figures))
        else:
            print(f"  {doc} at {PHONE['width']} px: {width} px wide")
        page.screenshot(path=str(shots / f"phone-{doc.split('/')[-1]}.png"))
    if scales:
        scale, n, d, doc = min(scales)
        print(f"  phone: widest page {widest[1]} px ({widest[0]}); {len(scales)} figures, "
              f"{sum(s < 1 - 1e-3 for s, *_ in scales)} scaled down, smallest scale {scale:.2f} ({n}->{d:.0f} px, {doc})")
    context.close()


def browser_checks(root: Path, site: Path, solutions: bool = True) -> list[str]:
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
            blocked: set[str] = set()
            page.route(lambda url: not url.startswith(base), lambda route: (
                blocked.add(urlsplit(route.request.url).netloc), route.abort()))
            errors: list[str] = []
            watch_console(page, base, errors)
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url) if r.url.startswith(base) else None)
            page.on("response", lambda r: failed.append(f"{r.url} ({r.status})")
                    if r.url.startswith(base) and r.status >= 400 and not r.url.endswith("favicon.ico") else None)
            for doc in toc_pages(root, solutions):
                url = base + doc + ".html"
                failed.clear()
                errors.clear()
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
                if nav_links < len(toc_pages(root, solutions)) - 1:
                    problems.append(f"{doc}: navigation shows {nav_links} links, expected {len(toc_pages(root, solutions)) - 1}")
                images = page.locator("article img")
                widths = [images.nth(i).evaluate("(img) => img.complete ? img.naturalWidth : 0")
                          for i in range(images.count())]
                source = root / (doc + ".ipynb")
                if source.exists() and not widths and "solutions/" not in doc:
                    problems.append(f"{doc}: a chapter page with no figures")
                if any(w == 0 for w in widths):
                    problems.append(f"{doc}: {widths.count(0)} of {len(widths)} figures did not load")
                formulas = check_math(page, doc, problems)
                if failed:
                    problems.append(f"{doc}: failed requests to the site: {failed[:5]}")
                page.wait_for_timeout(300)   # late errors (deferred scripts, MathJax's last pass)
                if errors:
                    problems.append(f"{doc}: {len(errors)} console errors at 1280 px: {errors[:3]}")
                page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
                print(f"  {doc}: title ok, {nav_links} navigation links, {len(widths)} figures loaded, "
                      f"{formulas} formulas typeset, {len(errors)} console errors")
            desktop_toggle(page, base + toc_pages(root, solutions)[1] + ".html", problems)
            if blocked:
                print(f"  (requests to other hosts blocked, not checked: {', '.join(sorted(blocked))})")
            phone_checks(browser, base, toc_pages(root, solutions), shots, problems)
            browser.close()
    finally:
        server.shutdown()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("site", nargs="?", default="_build/html")
    parser.add_argument("--no-solutions", action="store_true",
                        help="the site was built with `make book SOLUTIONS=0`: check that no solution is on it")
    args = parser.parse_args()
    site = Path(args.site).resolve()
    solutions = not args.no_solutions
    root = Path(__file__).resolve().parents[1]
    if not (site / "index.html").exists():
        raise SystemExit(f"no built site at {site}: run jupyter-book build . first")
    problems = broken_links(site)
    print(f"internal links: {'ok' if not problems else f'{len(problems)} broken'}")
    problems += solution_problems(site, solutions)
    problems += browser_checks(root, site, solutions)
    if problems:
        print("\n".join("FAIL " + p for p in problems))
        raise SystemExit(1)
    print("site check passed")


if __name__ == "__main__":
    main()
