"""What the book's browser tests share: the built book, a local static server, headless Chromium, a page visit
that records every request and console error, and the expectations read from the chapters' sources.

The book is ``_build/html`` (or $BOOK_HTML_DIR); it is built with ``jupyter-book build . -W -n --keep-going --all``
if missing or if BOOK_REBUILD=1. Chromium is Debian's (``apt-get install chromium``), driven by Playwright;
no browser is downloaded. Test artefacts (screenshots) go to ``_build/browser-test/`` (git-ignored).
The fixtures are registered once, in tests/conftest.py, so every browser test shares one browser.
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

from booktoc import toc_files

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML_DIR", ROOT / "_build" / "html")).resolve()
ARTEFACTS = ROOT / "_build" / "browser-test"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
REMOVED_OUTPUT_TAGS = {"remove-output", "remove_output", "remove-cell", "remove_cell"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000  # generous: the test machines are shared and often loaded
PAGES = toc_files(include_root=True)
CHAPTERS = [p for p in PAGES if p.startswith("chapters/")]



# ----------------------------------------------------------------- expectations
def source(docname: str) -> Path:
    for ext in (".ipynb", ".md"):
        path = ROOT / f"{docname}{ext}"
        if path.exists():
            return path
    raise FileNotFoundError(docname)


_FENCE_RE = re.compile(r"^(```+|~~~+)\s*\{(\w[\w:-]*)\}", re.M)
_MATH_RE = re.compile(r"\$\$|(?<![\\$])\$[^$\s][^$\n]*\$")


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def expectations(docname: str) -> dict:
    """What the page must show, counted in its source: math, figures (and sliders), widgets, diagrams."""
    path = source(docname)
    markdown, plotly, sliders, widgets = [], 0, 0, 0

    def count_figures(outputs) -> None:
        nonlocal plotly, sliders
        for out in outputs:
            html = _joined(out.get("data", {}).get("text/html", ""))
            plotly += html.count('class="plotly-graph-div')
            sliders += len(re.findall(r'"sliders":\[\{', html))

    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})

        def count_widget(model_id: str, depth=0) -> None:
            # figures inside ipywidgets Output widgets (e.g. a dashboard's live plot) are drawn on the page too
            model = state.get(model_id, {})
            st = model.get("state", {})
            if model.get("model_name") == "OutputModel":
                count_figures(st.get("outputs", []))
                for out in st.get("outputs", []):
                    view = out.get("data", {}).get(WIDGET_VIEW)
                    if view and depth < 20:
                        count_widget(view["model_id"], depth + 1)
            for child in st.get("children", []) if depth < 20 else []:
                count_widget(child.removeprefix("IPY_MODEL_"), depth + 1)

        for cell in nb["cells"]:
            src = _joined(cell["source"])
            if cell["cell_type"] == "markdown":
                markdown.append(src)
                continue
            if REMOVED_OUTPUT_TAGS & set(cell.get("metadata", {}).get("tags", [])):
                continue
            outputs = cell.get("outputs", [])
            count_figures(outputs)
            for out in outputs:
                view = out.get("data", {}).get(WIDGET_VIEW)
                if view:
                    widgets += 1
                    count_widget(view["model_id"])
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
        "chinese": bool(re.search(r"[\u4e00-\u9fff]", text)),
    }


# ----------------------------------------------------------------------- fixtures
def build_book() -> None:
    subprocess.run([sys.executable, str(ROOT / "book" / "fetch_assets.py")], check=True, cwd=ROOT)
    jb = shutil.which("jupyter-book") or "jupyter-book"
    subprocess.run([jb, "build", ".", "-W", "-n", "--keep-going", "--all"], check=True, cwd=ROOT)


@pytest.fixture(scope="session")
def html_dir() -> Path:
    if os.environ.get("BOOK_REBUILD") == "1" or not (HTML / "index.html").exists():
        build_book()
    return HTML


class Handler(http.server.SimpleHTTPRequestHandler):
    # Module scripts (mermaid's .mjs) need a JavaScript MIME type or Chromium refuses them; don't depend on
    # the host's mime tables for that. Nothing is cached (every visit transfers the page's full weight).
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".woff2": "font/woff2",
    }
    calibration_page = b""

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self):
        if self.path.startswith("/__calibration__.html"):
            body = self.calibration_page
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):  # keep pytest output clean
        pass


def calibration_page(html_dir: Path) -> bytes:
    """The least a page of this book can be: the theme's stylesheets (read from the intro page) and text.

    What it waits for before its first paint is what every page must wait for; its first paint, measured in
    the same run as a chapter's (benchmarks/page_speed.py), says how fast this machine is right now.
    """
    intro = (html_dir / "intro.html").read_text(encoding="utf-8")
    links = "\n".join(re.findall(r'<link[^>]+rel="stylesheet"[^>]*>|<link[^>]+stylesheet[^>]*/>', intro))
    text = "<p>" + "A paragraph of text. " * 60 + "</p>"
    return f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{links}</head><body><main>{text}</main></body></html>".encode()


def serve(directory: Path, calibration: bytes = b""):
    handler = type("BookHandler", (Handler,), {"calibration_page": calibration})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="session")
def base_url(html_dir: Path):
    server, url = serve(html_dir, calibration_page(html_dir))
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    playwright_sync = pytest.importorskip("playwright.sync_api")
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


# -------------------------------------------------------------------------- visits
def is_local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return parsed.hostname == "127.0.0.1"


class Visit:
    """One page in a fresh browser context: what it requested, what failed, what it logged."""

    def __init__(self, browser, url: str, width: int = 1280, height: int = 900, cache: bool = False,
                 allow_errors: tuple[str, ...] = ()):
        self.context = browser.new_context(service_workers="block", viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.problems: dict[str, list[str]] = {"external": [], "console": [], "failed": [], "http": []}
        self.inflight: set = set()
        self.bytes: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self.allow_errors = allow_errors
        cdp = self.context.new_cdp_session(self.page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": not cache})
        cdp.on("Network.requestWillBeSent", lambda e: self.urls.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.loadingFinished", lambda e: self.bytes.__setitem__(e["requestId"], e["encodedDataLength"]))
        self.cdp = cdp

        def route(r):
            if is_local(r.request.url):
                r.continue_()
            else:
                r.abort()

        page = self.page
        self.context.route("**/*", route)
        page.on("request", lambda req: None if is_local(req.url) else self.problems["external"].append(req.url))
        page.on("console", lambda msg: msg.type == "error" and self._console(f"{msg.text} @ {msg.location}"))
        page.on("pageerror", lambda exc: self._console(f"pageerror: {exc}"))
        page.on("requestfailed",
                lambda req: is_local(req.url) and self.problems["failed"].append(f"{req.url}: {req.failure}"))
        page.on("response", lambda resp: resp.status >= 400 and self.problems["http"].append(f"{resp.status} {resp.url}"))
        page.on("request", lambda req: self.inflight.add(req))
        page.on("requestfinished", lambda req: self.inflight.discard(req))
        page.on("requestfailed", lambda req: self.inflight.discard(req))
        page.goto(url, wait_until="load", timeout=TIMEOUT_MS)

    def _console(self, text: str) -> None:
        if not any(a in text for a in self.allow_errors):
            self.problems["console"].append(text)

    def settle(self, quiet_ms: int = 500) -> None:
        """Wait until no request has been in flight for ``quiet_ms``.

        (Own bookkeeping instead of wait_for_load_state("networkidle"): with Playwright 1.65 + Chromium 156
        that call can hang after a "load" wait on pages whose network went idle before the load event.)
        """
        quiet = 0
        for _ in range(TIMEOUT_MS // 100):
            self.page.wait_for_timeout(100)
            quiet = quiet + 100 if not self.inflight else 0
            if quiet >= quiet_ms:
                return
        raise AssertionError(f"network never settled: {[r.url for r in self.inflight]}")

    def wait(self, js: str, arg, what: str) -> None:
        """page.wait_for_function, failing with a readable message (and console errors)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(js, arg=arg, timeout=TIMEOUT_MS)
        except PlaywrightTimeout:
            raise AssertionError(
                f"{what} not rendered within {TIMEOUT_MS} ms; console errors: {self.problems['console']}; "
                f"external requests: {self.problems['external']}"
            ) from None

    def scroll_through(self) -> None:
        """Scroll to the bottom a screen at a time (diagrams render when visible), then back to the top."""
        height = self.page.evaluate("() => document.documentElement.scrollHeight")
        step = self.page.viewport_size["height"]
        for y in range(0, height + step, step):
            self.page.evaluate("y => window.scrollTo(0, y)", y)
            self.page.wait_for_timeout(60)
        self.page.evaluate("() => window.scrollTo(0, 0)")

    def transferred(self) -> tuple[int, int]:
        """(requests, bytes) so far."""
        return len(self.urls), sum(self.bytes.values())

    def close(self) -> None:
        self.context.close()

    def assert_clean(self) -> None:
        for kind in ("external", "console", "failed", "http"):
            assert not self.problems[kind], f"{kind}: {self.problems[kind]}"
