"""Check the built site as a reader's browser sees it.

1. Every internal link and image of every HTML page points to a file that exists
   (and, for links with a ``#fragment``, to an element with that id).
2. In headless Chromium (driven by Playwright, served from localhost), every page of
   the table of contents loads, shows the book title, its own heading and the
   navigation; every figure on a chapter page is loaded (non-zero width); every
   formula is typeset by MathJax (served from the site itself) without a TeX error;
   and no request to the site itself fails. A screenshot of each page is saved next to the site.
3. No page logs a browser console error or an uncaught exception (at 1280 px and at 390 px). Requests to other
   hosts are blocked, so the check is the same online and offline.
   Every page must load everything from the site itself: a request to another host (a CDN script, stylesheet or
   font) fails the check (``external_resources`` finds the static ones without a browser). On the pages that
   hold saved widget state (chapters 2, 5-7), the widgets drawn by the site's own copy of the widget manager
   (``_vendor/widgets``) must show.
4. At 1280 px the chapter-list button hides and shows the chapter list. At phone width (390 px): the
   chapter-list button opens the chapter list, a link in it leads to that chapter, and the page-contents
   button opens the page contents (sphinx-book-theme's own buttons, the ones a reader sees); no page is wider than the screen (document scrollWidth > 390 px means sideways scrolling); and no
   figure is shown smaller than MIN_FIGURE_SCALE of its drawn size (natural vs displayed width are printed);
   choosing a section in the page contents closes the panel; and every box that scrolls sideways (a wide
   figure, a long formula) shows the scroll cue of ``_static/course.js`` / ``course.css``.
4b. At 1280 px no display formula is wider than its column (``_WIDE_MATH_JS``), and searching for a chapter's
   topic lists the chapter first (``SEARCHES``; API entries used to come first).
5. Exercises and solutions (``solution_problems``): with solutions, each chapter links every exercise to its
   section of ``book/solutions/NN_topic_solutions.html`` and each solution page links back; with
   ``--no-solutions`` (a site built by ``make book SOLUTIONS=0``), no solution page, link, navigation entry or
   search-index entry is left, and no page promises a worked solution. ``solutions_equivalence`` compares the
   two builds: each page of the site without solutions is the page of the full site less its solution links,
   so the browser checks of the full site hold for it too (CI runs them once).
``tests/test_check_site.py`` shows each of these checks failing on a broken site.

Usage: python scripts/check_site.py _build/html [--no-solutions] [--static-only] [--same-as FULL_SITE]
Needs Chromium (Debian package ``chromium``); set CHROMIUM=/path/to/chromium to use another.
"""
from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import os
import re
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
# Searches a reader makes for a chapter's topic, and the page that must come first (Sphinx's default scorer put
# 15 API entries before the diffusion chapter; _ext/search_scorer.js ranks the chapters first).
SEARCHES = {"diffusion": "book/08_diffusion", "KV cache": "book/05_decoding"}


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
            text = page.read_text(encoding="utf-8", errors="replace")
            if f'class="caption-text">{SOLUTIONS_CAPTION}<' in text:
                problems.append(f"{page.relative_to(site)}: shows a {SOLUTIONS_CAPTION!r} caption")
            promise = PROMISES_SOLUTIONS.search(visible_text(text))
            if promise:
                problems.append(f"{page.relative_to(site)}: promises solutions ({promise.group(0)!r}) on a site "
                                f"without them")
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


# Words that promise a worked solution: none may be left on a site built without them (the intro's sentences
# about solutions sit between <!-- solutions --> markers that _ext/solutions.py removes).
PROMISES_SOLUTIONS = re.compile(r"worked solutions?|book/solutions/", re.I)


def visible_text(html_text: str) -> str:
    """The text of an HTML page without its tags, scripts, styles and comments (roughly what a reader sees)."""
    html_text = re.sub(r"<(script|style)\b.*?</\1>|<!--.*?-->", " ", html_text, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_text))


def external_resources(site: Path) -> list[str]:
    """Scripts, stylesheets, images and frames that a page would load from another host (a CDN): the site must
    work offline and from a classroom's network, so everything it loads is served by the site itself.
    (Links a reader follows, ``<a href>``, may point anywhere.)"""
    problems = []
    tag = re.compile(r"<(script|link|img|iframe|source)\b[^>]*>", re.I)
    attr = re.compile(r"""\b(src|href)\s*=\s*["']([^"']+)["']""", re.I)
    for page in sorted(site.rglob("*.html")):
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        for match in tag.finditer(page.read_text(encoding="utf-8", errors="replace")):
            element = match.group(0)
            if match.group(1).lower() == "link" and not re.search(r"""rel\s*=\s*["'][^"']*(stylesheet|preload|icon)""",
                                                                 element, re.I):
                continue
            for _, url in attr.findall(element):
                if urlsplit(url).scheme in {"http", "https"} or url.startswith("//"):
                    problems.append(f"{page.relative_to(site)}: loads {url} from another host")
    return problems


_ARTICLE = re.compile(r"<article\b.*?</article>", re.S)
_SOLUTION_ANCHOR = re.compile(r"""\s?<a\b[^>]*href="[^"]*solutions/[^"]*"[^>]*>.*?</a>""", re.S)
_SOLUTION_BLOCK_HTML = re.compile(r"<!-- solutions -->.*?<!-- /solutions -->", re.S)


# the root page's hidden table-of-contents trees (one empty box per part: the Solutions part has one)
_EMPTY_TOCTREE = re.compile(r'<div class="toctree-wrapper compound">\s*</div>')


def _article(page: Path) -> str:
    match = _ARTICLE.search(page.read_text(encoding="utf-8", errors="replace"))
    return _EMPTY_TOCTREE.sub("", re.sub(r"\s+", " ", match.group(0))) if match else ""


def solutions_equivalence(full: Path, without: Path) -> list[str]:
    """Each page of the site built without solutions against the same page of the full site.

    The article (what a reader sees and the browser checks measure) must be the full site's article with its
    links into ``solutions/`` and its ``<!-- solutions -->`` passages removed, and nothing else changed. Then the
    full site's browser checks (formulas, figures, console errors, phone layout) hold for the other site too,
    and CI runs them once. A difference names the first place where the two disagree."""
    problems = []
    pages = [p for p in sorted(without.rglob("*.html")) if not {"_static", "_sources"} & set(p.parts)]
    compared = 0
    for page in pages:
        twin = full / page.relative_to(without)
        if not twin.exists():
            problems.append(f"{page.relative_to(without)}: not on the full site")
            continue
        expected = _SOLUTION_BLOCK_HTML.sub("", _SOLUTION_ANCHOR.sub("", _article(twin)))
        expected = re.sub(r"\s+", " ", expected)
        got = re.sub(r"\s+", " ", _article(page))
        if got != expected:
            at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
            problems.append(f"{page.relative_to(without)}: differs from the full site's page beyond its solution "
                            f"links, at ...{got[max(0, at - 60):at + 60]!r} vs ...{expected[max(0, at - 60):at + 60]!r}")
        compared += 1
    print(f"  {compared} pages without solutions = the full site's pages less their solution links"
          if not problems else f"  {len(problems)} of {compared} pages differ")
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

# Display formulas wider than their column, with the start of their TeX (MathJax keeps it per formula).
_WIDE_MATH_JS = """() => Array.from(window.MathJax && MathJax.startup && MathJax.startup.document ?
    MathJax.startup.document.math : []).filter(m => m.display && m.typesetRoot && m.typesetRoot.closest('article'))
  .map(m => { const box = m.typesetRoot.closest('div.math') || m.typesetRoot.parentElement;
              const inner = m.typesetRoot.querySelector('mjx-math') || m.typesetRoot;
              return [Math.ceil(inner.getBoundingClientRect().width), box.clientWidth, m.math.trim().slice(0, 70)]; })
  .filter(([w, column]) => w > column + 1)"""

# Boxes in the article that scroll sideways (more content than width) but show no scroll cue
# (_static/course.js marks them `scroll-cue`; course.css draws a shadow at the edge and the bar).
_NO_SCROLL_CUE_JS = """() => [...document.querySelectorAll('article *')].filter(e => {
    if (e.scrollWidth <= e.clientWidth + 1 || e.clientWidth === 0) return false;
    const o = getComputedStyle(e).overflowX; if (o !== 'auto' && o !== 'scroll') return false;
    const cued = e.classList.contains('scroll-cue') && getComputedStyle(e).boxShadow !== 'none';
    const hint = e.previousElementSibling;   // a figure hides the shadows: a line of text above it
    const hinted = !e.querySelector('img') || (hint && hint.classList.contains('scroll-hint') && hint.offsetHeight > 0);
    return !(cued && hinted); })
  .map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')} (${e.scrollWidth} in ${e.clientWidth} px)`)"""

# Saved widget views on the page, and how many of them the widget manager drew (a box with a height).
_WIDGETS_JS = """() => { const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
    const drawn = [...views].filter(v => { const box = v.parentElement;
        return box && [...box.querySelectorAll('.jupyter-widgets, .widget-box, .widget-slider, .jp-OutputArea')]
            .some(e => e.getBoundingClientRect().height > 0); });
    return [views.length, drawn.length]; }"""

_FIGURES_JS = """() => [...document.querySelectorAll('article img')].filter(i => i.complete && i.naturalWidth > 0)
    .map(i => [i.naturalWidth, i.getBoundingClientRect().width])"""


def search_ranking_problems(query: str, results: list[str], expected: str) -> list[str]:
    """``results``: the documents of the search results in order. The chapter ``expected`` must come first."""
    if not results:
        return [f"search {query!r}: no results"]
    if results[0] != expected:
        where = results.index(expected) + 1 if expected in results else None
        return [f"search {query!r}: first result {results[0]}, {expected} is "
                f"{f'result {where}' if where else 'not listed'} of {len(results)}"]
    return []


def search_checks(page, base: str, problems: list[str]) -> None:
    """The site's search page lists the chapter first for a search of its topic (SEARCHES)."""
    for query, expected in SEARCHES.items():
        page.goto(f"{base}search.html?q={query.replace(' ', '+')}", wait_until="load")
        try:
            page.wait_for_function("() => /(search finished|did not match)/i.test("
                                   "document.querySelector('#search-results')?.textContent || '')", timeout=20_000)
        except Exception as error:  # noqa: BLE001 - a search page that never answers is a failure
            problems.append(f"search {query!r}: no answer ({type(error).__name__})")
            continue
        hrefs = page.evaluate("() => [...document.querySelectorAll('#search-results li > a:first-of-type')]"
                              ".map(a => a.getAttribute('href'))")
        docs = [urlsplit(h).path.removesuffix(".html").lstrip("./") for h in hrefs]
        found = search_ranking_problems(query, docs, expected)
        problems += found
        print(f"  search {query!r}: {len(docs)} results, first {docs[:3]}")


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


def contents_stay_open(page) -> bool:
    """Choose the last section of the open page-contents panel; True if the panel is still open after it."""
    page.locator("#pst-secondary-sidebar-modal a.nav-link:visible").last.click(timeout=5_000)
    page.wait_for_timeout(500)
    return page.evaluate("() => document.getElementById('pst-secondary-sidebar-modal').open")


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
        # choosing a section scrolls there and closes the panel (it used to stay open over 3/4 of the screen)
        still_open = contents_stay_open(page)
        if still_open:
            problems.append("phone: the page contents stay open after a section is chosen")
        print(f"  phone navigation: chapter list opened, followed it to {target}, page contents opened "
              f"({entries} entries) and {'stayed open' if still_open else 'closed'} after a section was chosen")
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
        if page.locator(".math").count():
            try:
                page.evaluate("() => MathJax.startup.promise.then(() => true)")
            except Exception:  # noqa: BLE001 - MathJax failures are reported by the desktop pass
                pass
            page.wait_for_timeout(100)
        uncued = page.evaluate(_NO_SCROLL_CUE_JS)
        if uncued:
            problems.append(f"{doc}: {len(uncued)} boxes scroll sideways at {PHONE['width']} px with no scroll cue: "
                            f"{uncued[:3]}")
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
            blocked: list[str] = []
            page.route(lambda url: not url.startswith(base), lambda route: (
                blocked.append(f"{route.request.resource_type} {route.request.url[:100]}"), route.abort()))
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
                blocked.clear()
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
                if blocked:
                    problems.append(f"{doc}: {len(blocked)} requests to other hosts (the site must serve "
                                    f"everything itself): {blocked[:3]}")
                wide = page.evaluate(_WIDE_MATH_JS)
                if wide:
                    problems.append(f"{doc}: {len(wide)} display formulas wider than the column at 1280 px "
                                    f"(formula vs column px, TeX): {wide[:3]}")
                views, drawn = page.evaluate(_WIDGETS_JS)
                if views and drawn < views:
                    page.wait_for_timeout(2_000)   # the widget manager draws after the page's load event
                    views, drawn = page.evaluate(_WIDGETS_JS)
                if drawn < views:
                    problems.append(f"{doc}: {views - drawn} of {views} saved widgets not drawn")
                page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
                print(f"  {doc}: title ok, {nav_links} navigation links, {len(widths)} figures loaded, "
                      f"{formulas} formulas typeset ({len(wide)} wider than the column), "
                      f"{f'{drawn} of {views} widgets drawn, ' if views else ''}{len(errors)} console errors")
            desktop_toggle(page, base + toc_pages(root, solutions)[1] + ".html", problems)
            search_checks(page, base, problems)
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
    parser.add_argument("--static-only", action="store_true",
                        help="links, solutions and external resources only, no browser")
    parser.add_argument("--same-as", metavar="FULL_SITE", type=Path,
                        help="(with --no-solutions) each page must be FULL_SITE's page less its solution links")
    args = parser.parse_args()
    site = Path(args.site).resolve()
    solutions = not args.no_solutions
    root = Path(__file__).resolve().parents[1]
    if not (site / "index.html").exists():
        raise SystemExit(f"no built site at {site}: run jupyter-book build . first")
    problems = broken_links(site)
    print(f"internal links: {'ok' if not problems else f'{len(problems)} broken'}")
    problems += solution_problems(site, solutions)
    external = external_resources(site)
    print(f"resources from other hosts: {'none' if not external else len(external)}")
    problems += external
    if args.same_as:
        problems += solutions_equivalence(args.same_as.resolve(), site)
    if not args.static_only:
        problems += browser_checks(root, site, solutions)
    if problems:
        print("\n".join("FAIL " + p for p in problems))
        raise SystemExit(1)
    print("site check passed")


if __name__ == "__main__":
    main()
