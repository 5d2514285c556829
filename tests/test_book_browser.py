"""Open every page of the built book in headless Chromium and check it rendered.

Uses ``_build/html`` (or $BOOK_HTML_DIR) if it exists; builds it with
``jupyter-book build . -W -n --keep-going --all`` if missing or if
BOOK_REBUILD=1. Serves it on 127.0.0.1 with
http.server and, per page, checks:

* no request leaves 127.0.0.1 (requests elsewhere are recorded and aborted);
* no console error, uncaught page error, failed request or HTTP >= 400;
* math was typeset by MathJax and no raw TeX delimiters remain;
* every Plotly figure drew its SVG (and its slider, if it has one);
* every stored ipywidget view was rendered from the saved widget state;
* every mermaid diagram was rendered to an SVG.

Expected counts come from the source notebook / markdown, so the test keeps
working as chapters are added to _toc.yml.

Needs: playwright (Python) and a system Chromium (``apt-get install chromium``);
no ``playwright install`` / browser download.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from booktoc import toc_files

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML_DIR", ROOT / "_build" / "html")).resolve()
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000

playwright_sync = pytest.importorskip("playwright.sync_api")


# ----------------------------------------------------------------- expectations
def _source(docname: str) -> Path:
    for ext in (".ipynb", ".md"):
        path = ROOT / f"{docname}{ext}"
        if path.exists():
            return path
    raise FileNotFoundError(docname)


_FENCE_RE = re.compile(r"^(```+|~~~+)\s*\{(\w[\w:-]*)\}", re.M)
_MATH_RE = re.compile(r"\$\$|(?<![\\$])\$[^$\s][^$\n]*\$")


def _expectations(docname: str) -> dict:
    path = _source(docname)
    markdown, plotly, sliders, widgets = [], 0, 0, 0

    def count_figures(outputs) -> None:
        nonlocal plotly, sliders
        for out in outputs:
            html = out.get("data", {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            plotly += html.count('class="plotly-graph-div')
            sliders += len(re.findall(r'"sliders":\[\{', html))

    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] == "markdown":
                markdown.append(src)
                continue
            count_figures(cell.get("outputs", []))
            widgets += sum(WIDGET_VIEW in out.get("data", {}) for out in cell.get("outputs", []))
        # figures inside ipywidgets Output widgets (e.g. a dashboard's live plot) render from the saved state
        state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        for model in state.values():
            if model.get("model_name") == "OutputModel":
                count_figures(model.get("state", {}).get("outputs", []))
    else:
        markdown.append(path.read_text())
    text = "\n".join(markdown)
    directives = [m.group(2) for m in _FENCE_RE.finditer(text)]
    return {
        "math": bool(_MATH_RE.search(text)),
        "plotly": plotly,
        "plotly_sliders": sliders,
        "widgets": widgets,
        "mermaid": directives.count("mermaid"),
    }


PAGES = toc_files(include_root=True)


# ----------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def html_dir() -> Path:
    if os.environ.get("BOOK_REBUILD") == "1" or not (HTML / "index.html").exists():
        subprocess.run([sys.executable, str(ROOT / "book" / "fetch_assets.py")], check=True, cwd=ROOT)
        jb = shutil.which("jupyter-book") or "jupyter-book"
        subprocess.run([jb, "build", ".", "-W", "-n", "--keep-going", "--all"], check=True, cwd=ROOT)
    return HTML


class _Handler(http.server.SimpleHTTPRequestHandler):
    # Module scripts (mermaid's .mjs) need a JavaScript MIME type or Chromium
    # refuses them; don't depend on the host's mime tables for that.
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".woff2": "font/woff2",
    }

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="session")
def base_url(html_dir: Path):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(html_dir))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        msg = "system chromium not found (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(msg)  # never skip silently in CI
        pytest.skip(msg)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# -------------------------------------------------------------------------- tests
def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return parsed.hostname == "127.0.0.1"


def _visit(browser, url: str):
    """Load ``url``; return (page, context, problems, inflight requests), recording network/console."""
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    problems: dict[str, list[str]] = {"external": [], "console": [], "failed": [], "http": []}
    inflight: set = set()

    def route(r):
        if _is_local(r.request.url):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page.on("request", lambda req: None if _is_local(req.url) else problems["external"].append(req.url))
    page.on("console", lambda msg: msg.type == "error" and problems["console"].append(f"{msg.text} @ {msg.location}"))
    page.on("pageerror", lambda exc: problems["console"].append(f"pageerror: {exc}"))
    page.on(
        "requestfailed",
        lambda req: _is_local(req.url) and problems["failed"].append(f"{req.url}: {req.failure}"),
    )
    page.on("response", lambda resp: resp.status >= 400 and problems["http"].append(f"{resp.status} {resp.url}"))
    page.on("request", lambda req: inflight.add(req))
    page.on("requestfinished", lambda req: inflight.discard(req))
    page.on("requestfailed", lambda req: inflight.discard(req))
    page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    return page, context, problems, inflight


def _settle(page, inflight: set, quiet_ms: int = 500) -> None:
    """Wait until no request has been in flight for ``quiet_ms``.

    (Own bookkeeping instead of wait_for_load_state("networkidle"): with
    Playwright 1.65 + Chromium 156 that call can hang after a "load" wait on
    pages whose network went idle before the load event.)
    """
    quiet = 0
    for _ in range(TIMEOUT_MS // 100):
        page.wait_for_timeout(100)
        quiet = quiet + 100 if not inflight else 0
        if quiet >= quiet_ms:
            return
    raise AssertionError(f"network never settled: {[r.url for r in inflight]}")


def _wait(page, problems, js: str, arg, what: str) -> None:
    """page.wait_for_function, failing with a readable message (and console errors)."""
    try:
        page.wait_for_function(js, arg=arg, timeout=TIMEOUT_MS)
    except playwright_sync.TimeoutError:
        raise AssertionError(
            f"{what} not rendered within {TIMEOUT_MS} ms; console errors: {problems['console']}; "
            f"external requests: {problems['external']}"
        ) from None


_VISIBLE_TEXT_JS = """() => {
  const root = (document.querySelector('article') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, script, style, mjx-container, .mermaid, .js-plotly-plot')
      .forEach(e => e.remove());
  return root.innerText;
}"""


@pytest.mark.parametrize("docname", PAGES)
def test_page_renders_offline(browser, base_url, html_dir, docname):
    assert (html_dir / f"{docname}.html").exists(), f"{docname}.html not built"
    expect = _expectations(docname)
    page, context, problems, inflight = _visit(browser, f"{base_url}/{docname}.html")
    try:
        if expect["math"]:
            _wait(page, problems, "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                  None, "MathJax")
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
            _wait(page, problems, "n => [...document.querySelectorAll('.plotly-graph-div')]"
                  "       .filter(d => d.querySelector('.main-svg')).length >= n",
                  expect["plotly"], "Plotly figures")
            plots = page.locator(".plotly-graph-div")
            assert plots.count() == expect["plotly"]
            for i in range(plots.count()):
                assert plots.nth(i).locator(".main-svg").count() > 0, f"plotly figure {i} has no SVG"
            assert page.locator(".js-plotly-plot .slider-container").count() == expect["plotly_sliders"]

        if expect["widgets"]:
            _wait(page, problems, "n => document.querySelectorAll('.jupyter-widgets').length >= n",
                  expect["widgets"], "ipywidgets")
            # every stored view script got a rendered widget next to it
            unrendered = page.evaluate(
                """() => [...document.querySelectorAll(
                       'script[type="application/vnd.jupyter.widget-view+json"]')]
                     .filter(s => !s.parentElement.querySelector('.jupyter-widgets')).length"""
            )
            assert unrendered == 0, f"{unrendered} widget view(s) not rendered"

        diagrams = page.locator(".mermaid")
        assert diagrams.count() >= expect["mermaid"]
        for i in range(expect["mermaid"]):
            diagrams.nth(i).scroll_into_view_if_needed()  # mermaid renders lazily when visible
            _wait(page, problems, "i => document.querySelectorAll('.mermaid')[i].querySelector('svg')",
                  i, f"mermaid diagram {i}")

        _settle(page, inflight)
    finally:
        context.close()

    assert not problems["external"], f"requests to other hosts: {problems['external']}"
    assert not problems["console"], f"console errors: {problems['console']}"
    assert not problems["failed"], f"failed requests: {problems['failed']}"
    assert not problems["http"], f"HTTP errors: {problems['http']}"


def _other_pages(html_dir: Path) -> list[str]:
    skip = ("_static/", "_sources/", "_images/")
    pages = sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html"))
    toc = {f"{d}.html" for d in PAGES}
    return [p for p in pages if not p.startswith(skip) and p not in toc]


def test_other_pages_offline(browser, base_url, html_dir):
    """genindex, search, index redirect, ...: only network and console checks.

    (One test looping over pages found after the build, since the build may
    only happen in the html_dir fixture.)
    """
    pages = _other_pages(html_dir)
    assert "genindex.html" in pages and "search.html" in pages
    failures = {}
    for relpath in pages:
        page, context, problems, inflight = _visit(browser, f"{base_url}/{relpath}")
        try:
            _settle(page, inflight)
        finally:
            context.close()
        bad = {k: v for k, v in problems.items() if v}
        if bad:
            failures[relpath] = bad
    assert not failures, f"pages with external requests / errors: {failures}"


@pytest.mark.parametrize("docname", [p for p in PAGES if p.startswith("chapters/")])
def test_chapter_pages_have_launch_buttons(html_dir, docname):
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = urlparse(config["repository"]["url"]).path.strip("/")
    html = (html_dir / f"{docname}.html").read_text(encoding="utf-8")
    assert f'href="https://colab.research.google.com/github/{repo}/blob/main/{docname}.ipynb"' in html
    assert f'href="https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{docname}.ipynb"' in html
    assert 'class="btn btn-sm btn-launch-thebe dropdown-item"' in html  # live code, loaded only when clicked
