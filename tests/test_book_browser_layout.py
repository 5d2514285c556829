"""Every page at desktop (1280 px) and phone (390 px) width: what a reader sees, and screenshots to look at.

Per page and width:

* nothing makes the page scroll sideways (wide content scrolls inside its own box);
* figures fit their column and their text (title, legend, ticks, slider) is legible and not cut off;
* tables have padding, and a table wider than its box scrolls visibly (book.css, book.js);
* diagram labels stay legible (at least 11 px on screen; a wide diagram scrolls instead of shrinking);
* icons render (FontAwesome's fonts load; the diagram's full-screen button shows an icon, not an empty box);
* there is exactly one search field.

Screenshots (full page, JPEG) are kept in _build/browser-test/screenshots/ (git-ignored) as test artefacts.
"""

from __future__ import annotations

import pytest

from bookbrowser import ARTEFACTS, PAGES, Visit, expectations

WIDTHS = {1280: 900, 390: 844}
MIN_FIGURE_FONT_PX = 9
MIN_DIAGRAM_FONT_PX = 11
MAX_SHOT_PX = 60_000  # screenshots stop here (JPEG holds at most 65,535 px a side)

_FIGURES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
  const box = gd.getBoundingClientRect(), column = gd.parentElement.getBoundingClientRect();
  const texts = [...gd.querySelectorAll('.gtitle, .legendtext, .xtick text, .ytick text, .g-xtitle text, ' +
                                       '.g-ytitle text, .slider-container .user-select-none, .annotation-text')];
  const small = texts.filter(t => t.getBoundingClientRect().width > 0)
                     .map(t => [t.textContent.slice(0, 30), parseFloat(getComputedStyle(t).fontSize)])
                     .filter(([, size]) => size < %(min)s);
  const title = gd.querySelector('.gtitle');
  const tb = title && title.getBoundingClientRect();
  const clipped = tb && (tb.top < box.top - 2 || tb.left < box.left - 2 || tb.right > box.right + 2);
  return {id: gd.id, width: box.width, column: column.width, small, clipped: !!clipped,
          title: title ? title.textContent.slice(0, 40) : ''};
})""" % {"min": MIN_FIGURE_FONT_PX}

_TABLES_JS = """() => [...document.querySelectorAll('.cell_output table, .book-widget table, article table')]
  .filter(t => t.getClientRects().length && t.offsetParent !== null)
  .map(t => {
    const cell = t.querySelector('td, th');
    const scroller = [t, t.parentElement].find(e => e.scrollWidth > e.clientWidth + 2);
    return {padding: cell ? parseFloat(getComputedStyle(cell).paddingLeft) : 99,
            overflows: !!scroller,
            scrolls: !scroller || (['auto', 'scroll'].includes(getComputedStyle(scroller).overflowX) &&
                                   scroller.classList.contains('book-scrolls') ||
                                   scroller.classList.contains('pst-scrollable-table-container')),
            text: t.innerText.slice(0, 40)};
  })"""

_DIAGRAMS_JS = """() => [...document.querySelectorAll('.mermaid svg')].map(svg => {
  const vb = svg.viewBox.baseVal, scale = svg.getBoundingClientRect().width / vb.width;
  const label = svg.querySelector('.nodeLabel, .label, text');
  const size = label ? parseFloat(getComputedStyle(label).fontSize) : 16;
  return {onScreen: size * scale, box: svg.closest('.mermaid').clientWidth, width: svg.getBoundingClientRect().width};
})"""

_ICONS_JS = """async () => {
  await document.fonts.ready;
  const icons = [...document.querySelectorAll('.bd-header i[class*="fa-"], .bd-header-article i[class*="fa-"], ' +
                                              '.bd-sidebar-primary i[class*="fa-"], .book-widget i[class*="fa-"]')]
    .filter(i => i.offsetParent !== null);
  const empty = icons.filter(i => {
    const content = getComputedStyle(i, '::before').content;
    return !content || content === 'none' || content === 'normal' || i.getBoundingClientRect().width === 0;
  }).map(i => i.className);
  const buttons = [...document.querySelectorAll('.mermaid-fullscreen-btn')].map(b => ({
    text: b.textContent, before: getComputedStyle(b, '::before').content,
    font: getComputedStyle(b, '::before').fontFamily}));
  const used = new Set(icons.map(i => { const cs = getComputedStyle(i, '::before');
                                        return `${cs.fontWeight} 16px ${cs.fontFamily}`; }));
  return {count: icons.length, empty, buttons,
          fonts: [...used].map(f => [f, document.fonts.check(f)]).filter(([, ok]) => !ok).map(([f]) => f)};
}"""

_SEARCH_JS = """() => [...document.querySelectorAll('.search-button-field, .search-button, input[type="search"]')]
  .filter(e => { const r = e.getBoundingClientRect(); const cs = getComputedStyle(e);
                 return r.width > 0 && r.height > 0 && cs.visibility === 'visible' && e.offsetParent !== null; })
  .map(e => e.className || e.tagName)"""


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("docname", PAGES)
def test_layout(browser, base_url, docname, width):
    expect = expectations(docname)
    visit = Visit(browser, f"{base_url}/{docname}.html", width=width, height=WIDTHS[width])
    page = visit.page
    try:
        if expect["plotly"]:
            visit.wait("n => [...document.querySelectorAll('.plotly-graph-div')].filter(d => d.querySelector("
                       "'.main-svg')).length >= n", expect["plotly"], "figures")
        visit.scroll_through()
        for i in range(expect["mermaid"]):
            page.locator(".mermaid").nth(i).scroll_into_view_if_needed()
            visit.wait("i => document.querySelectorAll('.mermaid')[i].querySelector('svg')", i, f"diagram {i}")
        visit.settle()
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        shots = ARTEFACTS / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        shot = shots / f"{docname.replace('/', '_')}_{width}.jpg"
        # JPEG stops at 65,535 px: Chromium wrote an empty file for a longer page (appendix C, the reference),
        # so a page that long is shot down to its first MAX_SHOT_PX pixels
        height = page.evaluate("() => document.documentElement.scrollHeight")
        clip = {"x": 0, "y": 0, "width": width, "height": MAX_SHOT_PX} if height > MAX_SHOT_PX else None
        page.screenshot(path=str(shot), full_page=True, clip=clip, type="jpeg", quality=55,
                        timeout=180_000)  # a long page on a busy machine takes a while
        assert shot.stat().st_size > 0, f"the screenshot of this {height} px page is empty"

        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the page scrolls sideways by {overflow} px at {width} px"

        for fig in page.evaluate(_FIGURES_JS):
            assert fig["width"] <= fig["column"] + 1, f"figure {fig['title']!r} is wider than its column: {fig}"
            assert not fig["small"], f"figure {fig['title']!r} has text under {MIN_FIGURE_FONT_PX} px: {fig['small']}"
            assert not fig["clipped"], f"figure {fig['title']!r}: its title is cut off at {width} px"

        for table in page.evaluate(_TABLES_JS):
            assert table["padding"] >= 4, f"table {table['text']!r} has cells without padding"
            assert table["scrolls"], f"table {table['text']!r} is wider than its box but does not scroll visibly"

        for diagram in page.evaluate(_DIAGRAMS_JS):
            assert diagram["onScreen"] >= MIN_DIAGRAM_FONT_PX, f"diagram labels are {diagram['onScreen']:.1f} px at {width} px"

        icons = page.evaluate(_ICONS_JS)
        assert icons["count"] > 0 and not icons["empty"], f"icons that do not render: {icons['empty']}"
        assert not icons["fonts"], f"icon fonts that did not load: {icons['fonts']}"
        for button in icons["buttons"]:
            assert "\u26f6" not in button["text"] or "Font Awesome" in button["font"], button
            assert button["before"] not in ("none", "normal", '""'), f"full-screen button without an icon: {button}"

        searches = page.evaluate(_SEARCH_JS)
        assert len(searches) == 1, f"{len(searches)} search fields at {width} px: {searches}"
        visit.assert_clean()
    finally:
        visit.close()
