"""Open every page of the built book in headless Chromium and check what a reader meets.

Per page (expected counts come from the chapters' sources, so new chapters are covered as they are added
to _toc.yml):

* it renders offline: no request leaves 127.0.0.1, no console error, failed request or HTTP error; math is
  typeset; every plotly figure drew (and its slider); every stored widget was drawn; every diagram rendered;
* no dead controls: every control in a cell's output either works without a kernel (a plotly slider
  changes its figure when moved) or is disabled, with a note saying how to run it;
* accessibility: figures and diagrams have text descriptions, Chinese text says lang="zh", coloured text
  meets WCAG AA contrast;
* no output shows raw HTML as text, exercise checks do not read as failures;
* no page links to a placeholder host or, with no repository configured, to a launch service.

Page weight and what the first paint waits for: test_book_browser_speed.py (the time itself:
benchmarks/page_speed.py); phone and desktop layout (with screenshots):
test_book_browser_layout.py; launch links for a configured repository: test_book_browser_launch.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bookbrowser import PAGES, ROOT, Visit, expectations

_VISIBLE_TEXT_JS = """() => {
  const root = (document.querySelector('article') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, script, style, mjx-container, .mermaid, .js-plotly-plot')
      .forEach(e => e.remove());
  return root.innerText;
}"""


@pytest.fixture(scope="module")
def visits(browser, base_url, html_dir):
    """One visit per page, kept open for this module's tests (a page is loaded once)."""
    opened: dict[str, Visit] = {}

    def get(docname: str) -> Visit:
        if docname not in opened:
            assert (html_dir / f"{docname}.html").exists(), f"{docname}.html not built"
            visit = Visit(browser, f"{base_url}/{docname}.html",
                          allow_errors=())
            opened[docname] = visit
        return opened[docname]

    yield get
    for visit in opened.values():
        visit.close()


@pytest.mark.parametrize("docname", PAGES)
def test_page_renders_offline(visits, docname):
    expect = expectations(docname)
    visit = visits(docname)
    page = visit.page
    if expect["math"]:
        visit.wait("() => window.MathJax && MathJax.startup && MathJax.startup.promise", None, "MathJax")
        page.evaluate("() => MathJax.startup.promise")
        assert page.locator("mjx-container").count() > 0, "no MathJax output"
        untypeset = page.evaluate(
            "() => [...document.querySelectorAll('.math')]"
            "        .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent)"
        )
        assert not untypeset, f"math not typeset: {untypeset}"
        text = page.evaluate(_VISIBLE_TEXT_JS)
        for raw in ("$$", "\\(", "\\[", "\\begin{", "\\frac"):
            assert raw not in text, f"raw TeX {raw!r} left in page text"

    if expect["plotly"]:
        visit.wait("n => [...document.querySelectorAll('.plotly-graph-div')]"
                   "       .filter(d => d.querySelector('.main-svg')).length >= n",
                   expect["plotly"], "Plotly figures")
        plots = page.locator(".plotly-graph-div")
        assert plots.count() == expect["plotly"]
        assert page.locator(".js-plotly-plot .slider-container").count() == expect["plotly_sliders"]

    # every stored widget view is drawn as static HTML (book/bookext/widgets.py); none is left to a script
    assert page.locator(".book-widget").count() == expect["widgets"]
    assert page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count() == 0
    assert page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count() == 0

    diagrams = page.locator(".mermaid")
    assert diagrams.count() >= expect["mermaid"]
    for i in range(expect["mermaid"]):
        diagrams.nth(i).scroll_into_view_if_needed()  # mermaid renders lazily when visible
        visit.wait("i => document.querySelectorAll('.mermaid')[i].querySelector('svg')", i, f"mermaid diagram {i}")

    visit.settle()
    visit.assert_clean()


_CONTROLS_JS = """() => [...document.querySelectorAll(
    '.cell_output input, .cell_output select, .cell_output textarea, .cell_output button, ' +
    '.book-widget input, .book-widget select, .book-widget textarea, .book-widget button')]
  .filter(el => !el.closest('.modebar') && !el.classList.contains('copybtn'))  // copying works offline
  .map(el => ({tag: el.tagName, type: el.type || '', disabled: el.disabled,
               label: (el.labels && el.labels[0] && el.labels[0].textContent) || el.textContent.trim() ||
                      el.getAttribute('aria-label') || ''}))"""

_FIGURE_STATE_JS = """i => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].filter(g => g.querySelector('.slider-container'))[i];
  const title = gd.layout && gd.layout.title ? JSON.stringify(gd.layout.title.text || gd.layout.title) : '';
  return JSON.stringify(gd.data.map(t => [t.x, t.y, t.z])) + title;
}"""


@pytest.mark.parametrize("docname", PAGES)
def test_every_control_works_or_is_disabled(visits, docname):
    """A control on the static page either changes something when moved, or is visibly disabled."""
    expect = expectations(docname)
    visit = visits(docname)
    page = visit.page
    live = [c for c in page.evaluate(_CONTROLS_JS) if not c["disabled"]]
    assert not live, f"controls that look usable but need a kernel: {live}"
    # each widget that takes input says so, with a way to run it
    needing = page.locator(".book-widget-needs-kernel")
    for i in range(needing.count()):
        note = needing.nth(i).locator(".book-widget-note")
        assert note.count() == 1 and "need a running Python kernel" in note.inner_text()
        assert note.locator("a").count() >= 1, "the note has no link to run the notebook"
        assert note.is_visible()
    # each plotly slider changes its figure when moved (its frames were precomputed)
    if expect["plotly_sliders"]:
        visit.wait("n => document.querySelectorAll('.js-plotly-plot .slider-container').length >= n",
                   expect["plotly_sliders"], "plotly sliders")
    sliders = page.locator(".js-plotly-plot .slider-container")
    for i in range(sliders.count()):
        rail = sliders.nth(i).locator(".slider-rail-touch-rect")
        rail.scroll_into_view_if_needed()
        box = rail.bounding_box()
        states = []
        for fraction in (0.02, 0.98):
            page.mouse.click(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
            page.wait_for_timeout(400)
            states.append(page.evaluate(_FIGURE_STATE_JS, i))
        assert states[0] != states[1], f"slider {i} on {docname} does not change its figure"
    visit.assert_clean()


_UNDESCRIBED_JS = """() => ({
  figures: [...document.querySelectorAll('.js-plotly-plot')].filter(g => !(g.getAttribute('aria-label') || '').trim())
      .map(g => g.id),
  diagrams: [...document.querySelectorAll('.mermaid')]
      .filter(m => !(m.closest('.book-diagram') && m.closest('.book-diagram').getAttribute('aria-label'))).length,
})"""

_CHINESE_WITHOUT_LANG_JS = """() => {
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const t = walker.currentNode;
    if (!/[\\u3400-\\u9fff]/.test(t.nodeValue)) continue;
    const el = t.parentElement;
    if (el.closest('script, style, svg, .mermaid, textarea, option, noscript')) continue;
    const holder = el.closest('[lang]');
    if (!holder || !holder.lang.startsWith('zh')) bad.push(t.nodeValue.trim().slice(0, 30));
  }
  return bad;
}"""

# WCAG 2.1 contrast of each visible text run against the background it is drawn on (disabled controls,
# which WCAG exempts, and SVG/MathJax, drawn by libraries, are skipped).
CONTRAST_JS = """() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(parseFloat); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const over = (top, a, under) => top.map((v, i) => v * a + under[i] * (1 - a));
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i].slice(0, 3), layers[i][3], bg);
    return bg;
  };
  const opacity = el => { let o = 1; for (let e = el; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity); return o; };
  const bad = [], seen = new Set();
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const t = walker.currentNode, el = t.parentElement;
    if (!t.nodeValue.trim() || seen.has(el)) continue;
    seen.add(el);
    if (el.closest('svg, mjx-container, .book-sr-only, [disabled], .bw-disabled, script, style, .modebar, ' +
                   '[aria-hidden="true"], .visually-hidden, .skip-link')) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility !== 'visible' || el.getClientRects().length === 0) continue;
    const fg = parse(cs.color), bg = background(el);
    const shown = over(fg.slice(0, 3), fg[3] * opacity(el), bg);
    const l1 = lum(shown), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need - 0.01) bad.push(`${ratio.toFixed(2)} < ${need}: "${t.nodeValue.trim().slice(0, 40)}" ` +
                                      `(${cs.color} on rgb(${bg.map(Math.round)}), ${el.tagName}.${el.className})`);
  }
  return bad;
}"""


@pytest.mark.parametrize("docname", PAGES)
def test_page_is_accessible(visits, docname):
    expect = expectations(docname)
    visit = visits(docname)
    page = visit.page
    if expect["plotly"]:
        visit.wait("n => document.querySelectorAll('.js-plotly-plot').length >= n", expect["plotly"], "figures")
    for i in range(expect["mermaid"]):
        page.locator(".mermaid").nth(i).scroll_into_view_if_needed()
        visit.wait("i => document.querySelectorAll('.mermaid')[i].querySelector('svg')", i, f"mermaid diagram {i}")
    undescribed = page.evaluate(_UNDESCRIBED_JS)
    assert undescribed == {"figures": [], "diagrams": 0}, f"figures/diagrams without a text description: {undescribed}"
    if expect["chinese"]:
        assert page.locator('[lang="zh"]').count() > 0
    assert page.evaluate(_CHINESE_WITHOUT_LANG_JS) == [], "Chinese text without lang=zh"
    low = page.evaluate(CONTRAST_JS)
    assert not low, "text below WCAG AA contrast:\n" + "\n".join(low[:20])


@pytest.mark.parametrize("docname", PAGES)
def test_no_output_shows_raw_html(visits, docname):
    page = visits(docname).page
    shown = page.evaluate("""() => [...document.querySelectorAll('.cell_output, .book-widget-body')]
        .map(e => e.innerText).join('\\n')""")
    tags = re.findall(r"</?(?:span|div|b|i|em|strong|code|pre|table|tr|td|th|br|p|a)\b[^>\n]{0,60}>", shown)
    assert not tags, f"outputs show HTML tags as text: {tags[:10]}"


@pytest.mark.parametrize("docname", PAGES)
def test_stored_widgets_do_not_show_an_error_state(visits, docname):
    # Samples an HTML widget shows in <pre> are left out (a model trained on Python's documentation writes
    # "TypeError"); Output widgets keep theirs, where a traceback would be.
    shown = visits(docname).page.evaluate(
        "() => [...document.querySelectorAll('.book-widget-body')].map(e => { const c = e.cloneNode(true); "
        "c.querySelectorAll('.bw-html pre').forEach(p => p.remove()); return c.innerText; }).join('\\n')")
    errors = re.findall(r"(?:Cannot train|Traceback|^[A-Za-z]*Error:|\b[A-Z][A-Za-z]*Error: )[^\n]{0,80}", shown, re.M)
    assert not errors, f"a stored widget shows an error state: {errors[:5]}"


@pytest.mark.parametrize("docname", PAGES)
def test_unanswered_exercise_checks_are_not_failures(visits, docname):
    page = visits(docname).page
    checks = page.evaluate("""() => [...document.querySelectorAll('.lmlib-check')]
        .map(e => ({pending: e.classList.contains('lmlib-check-pending'), text: e.innerText}))""")
    unanswered = [c for c in checks if "replace the ... with your" in c["text"]]
    assert all(c["pending"] and not c["text"].lstrip().startswith("✘") for c in unanswered), unanswered


def _built_files(html_dir: Path):
    for path in sorted(html_dir.rglob("*")):
        if path.suffix in (".html", ".ipynb") and "_static" not in path.parts:
            yield path


def test_no_link_to_a_placeholder_or_to_launch_services_without_a_repository(html_dir):
    import sys

    sys.path.insert(0, str(ROOT / "book"))
    from bookext.repository import is_placeholder, read_config, resolve

    repo = resolve(*read_config(ROOT))
    problems = []
    for path in _built_files(html_dir):
        text = path.read_text(encoding="utf-8")
        for url in re.findall(r"""(?:href|src|action)=["']?(https?://[^"'\s>]+)""", text):
            if is_placeholder(url):
                problems.append(f"{path.name}: {url}")
        for url in re.findall(r'REPOSITORY = \\?"([^"\\]*)\\?"', text):
            if url and is_placeholder(url):
                problems.append(f"{path.name}: set-up cell installs from {url}")
        if repo is None:  # no launch link (prose may still name the services, e.g. chapter 7's table)
            for url in re.findall(r"""(?:href|src|action)=["']?(https?://[^"'\s>]+)""", text):
                if re.match(r"https?://(colab\.research\.google\.com/github|mybinder\.org/v2)/", url):
                    problems.append(f"{path.name}: launch link {url} without a configured repository")
            for marker in ("btn-launch-thebe", "dropdown-launch-buttons", "book_live.js"):
                if marker in text:
                    problems.append(f"{path.name}: {marker} without a configured repository")
    assert not problems, problems


def _other_pages(html_dir: Path) -> list[str]:
    skip = ("_static/", "_sources/", "_images/")
    pages = sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html"))
    toc = {f"{d}.html" for d in PAGES}
    return [p for p in pages if not p.startswith(skip) and p not in toc]


def test_other_pages_offline(browser, base_url, html_dir):
    """genindex, search, index redirect, ...: only network and console checks.

    (One test looping over pages found after the build, since the build may only happen in the html_dir
    fixture.)
    """
    pages = _other_pages(html_dir)
    assert "genindex.html" in pages and "search.html" in pages
    failures = {}
    for relpath in pages:
        visit = Visit(browser, f"{base_url}/{relpath}")
        try:
            visit.settle()
        finally:
            visit.close()
        bad = {k: v for k, v in visit.problems.items() if v}
        if bad:
            failures[relpath] = bad
    assert not failures, f"pages with external requests / errors: {failures}"
