"""The book's Sphinx extension (loaded as ``book_sphinx_ext`` from _config.yml): the static book as a reader
meets it.

* ``repository`` / ``launch``: one repository setting, checked; launch buttons, the repository button and
  live code only when it is set; downloaded notebooks that install from it.
* ``assets``: per page, only the scripts it uses, deferred (plotly's smallest sufficient bundle, MathJax,
  mermaid), and never a widget manager.
* ``widgets``: stored ipywidgets drawn at build time, inputs disabled with a note and links to run them.
* ``a11y``: ``lang="zh"`` on Chinese text, text descriptions of diagrams.
* ``apiref``: appendix C, the lmlib reference (autodoc, and a table of every config dataclass's fields
  with the meanings its source's comments give them, read by ``fieldnotes``).
* ``remarks``: a cell's ``# nbval-ignore-output:`` remark (about the tests) shown as one collapsed line
  above its code instead of in it.

book/static/book.css and book.js do the rest in the browser (small screens, tables, figure descriptions).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path, PurePosixPath

from docutils import nodes
from sphinx.application import Sphinx

from . import a11y, apiref, assets, launch, remarks, widgets


@lru_cache(maxsize=32)
def _widget_state(path: str, mtime: float) -> dict:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return nb.get("metadata", {}).get("widgets", {}).get(widgets.WIDGET_STATE, {})


def _static_links(app: Sphinx, docname: str) -> tuple[str, str | None, str | None]:
    """Download, Colab and Binder links for a notebook page (relative download link)."""
    depth = len(PurePosixPath(docname).parts) - 1
    download = "../" * depth + f"_sources/{docname}.ipynb"
    repo = launch.repository(app)
    if repo is None:
        return download, None, None
    path_to_docs = (app.config.html_theme_options.get("path_to_docs") or "").strip("/")
    rel = "/".join(p for p in (path_to_docs, f"{docname}.ipynb") if p)
    return download, repo.colab_url(rel), repo.binder_url(rel)


def draw_widgets(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """doctree-resolved: replace stored widget views by static HTML (see widgets.py)."""
    source = Path(app.env.doc2path(docname))
    if source.suffix != ".ipynb":
        return
    views = [raw for raw in doctree.findall(nodes.raw) if widgets.WIDGET_VIEW in raw.astext()]
    if not views:
        return
    renderer = widgets.WidgetRenderer(_widget_state(str(source), source.stat().st_mtime))
    note = widgets.note_html(*_static_links(app, docname))
    for raw in views:
        model_id = widgets.view_model_id(raw.astext())
        if model_id is None:
            continue
        html, _ = widgets.render_view(renderer, model_id, note)
        raw.replace_self(nodes.raw("", html, format="html"))


def drop_thebe_config(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """doctree-resolved (after sphinx-thebe): remove its per-page config; book_live.js gets its own."""
    for raw in list(doctree.findall(nodes.raw)):
        text = raw.astext()
        if "text/x-thebe-config" in text or text.strip().startswith("<script>kernelName ="):
            raw.parent.remove(raw)


def describe_diagrams(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    a11y.describe_diagrams(doctree)


def move_test_remarks(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    remarks.move_remarks(doctree)


def finish(app: Sphinx, exception: Exception | None) -> None:
    """build-finished: lang="zh" on Chinese text; downloadable notebooks name this build's repository."""
    if exception is not None or app.builder.format != "html":
        return
    a11y.mark_chinese_in_outdir(Path(app.outdir))
    launch.rewrite_downloads(app, exception)


def bundle_styles(app: Sphinx, exception: Exception | None) -> None:
    """build-finished, after every other handler (the theme rewrites pygments.css in its own): one
    stylesheet per page, the theme's without its @import."""
    if exception is not None or app.builder.format != "html":
        return
    theme_css = Path(app.outdir) / "_static" / "styles" / "theme.css"
    if theme_css.is_file():
        assets.inline_css_imports(theme_css)
    assets.bundle_stylesheets(Path(app.outdir))


def setup(app: Sphinx) -> dict:
    apiref.setup(app)
    app.add_config_value("offline_plotly_js", "", "html", types=[str])
    app.add_config_value("offline_plotly_cartesian_js", "", "html", types=[str])
    app.connect("config-inited", launch.configure, priority=100)
    app.connect("builder-inited", assets.check_vendored)
    app.connect("doctree-resolved", draw_widgets)
    app.connect("doctree-resolved", describe_diagrams)
    app.connect("doctree-resolved", move_test_remarks)
    app.connect("doctree-resolved", drop_thebe_config, priority=900)
    app.connect("html-page-context", assets.prune_page_assets, priority=900)
    app.connect("build-finished", finish)
    app.connect("build-finished", bundle_styles, priority=990)
    app.add_css_file("book.css", priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
