"""Launch buttons, the repository button and live code, from the one repository setting.

With no repository (the default) the theme gets no launch buttons, no repository/issues/edit buttons,
and no page loads thebe's scripts. With one, the theme's Binder and Colab buttons and its repository
button are switched on for it, "Live code" loads thebe from the book's own assets (book/static/book_live.js),
and the notebooks readers download from the built book install lmlib from it.
"""

from __future__ import annotations

import json
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.util import logging

from .repository import Repository, is_setup_cell, resolve, setup_cell_source

logger = logging.getLogger(__name__)

THEBE_JS = "vendored/thebe/index.js"  # relative to _static, filled by book/fetch_assets.py
REPO_BUTTONS = ("use_repository_button", "use_issues_button", "use_edit_page_button", "use_source_button")
LAUNCH_SERVICES = ("binderhub_url", "colab_url", "jupyterhub_url", "deepnote_url", "jupyterlite_url", "thebe")


def repository(app: Sphinx) -> Repository | None:
    """The repository this build links to (set by ``configure``)."""
    return getattr(app, "book_repository", None)


def configure(app: Sphinx, config: Config) -> None:
    """config-inited: resolve the repository and set the theme's and thebe's options from it."""
    options = config.html_theme_options
    try:
        repo = resolve(options.get("repository_url", ""), options.get("repository_branch", ""))
    except ValueError as err:
        raise ConfigError(f"book repository: {err}") from None
    app.book_repository = repo
    launch = dict(options.get("launch_buttons") or {})
    if repo is None:
        options.pop("repository_url", None)
        options["launch_buttons"] = {}
        for key in REPO_BUTTONS:
            options[key] = False
        return
    options["repository_url"] = repo.url
    options["repository_branch"] = repo.branch
    options["path_to_docs"] = options.get("path_to_docs", "")
    options["use_repository_button"] = True
    if not any(launch.get(key) for key in LAUNCH_SERVICES):
        raise ConfigError("book repository: launch_buttons in _config.yml names no service (binderhub_url, colab_url)")
    options["launch_buttons"] = launch
    thebe = dict(config.thebe_config or {})
    thebe.update(repository_url=repo.url, repository_branch=repo.branch)
    config.thebe_config = thebe


def page_uses_live_code(app: Sphinx, context: dict) -> bool:
    """True where the theme shows a "Live code" button (a notebook page, with a repository and thebe on)."""
    launch = app.config.html_theme_options.get("launch_buttons") or {}
    return bool(repository(app) and launch.get("thebe") and context.get("page_source_suffix") == ".ipynb")


def live_config(app: Sphinx, pagename: str) -> str:
    """The JSON book_live.js reads: where thebe is, which repository Binder builds, the kernel's folder."""
    repo = repository(app)
    folder = str(Path(pagename).parent).replace("\\", "/")
    path_to_docs = (app.config.html_theme_options.get("path_to_docs") or "").strip("/")
    return json.dumps({
        "repo": f"{repo.owner}/{repo.name}",
        "ref": repo.branch,
        "binderUrl": (app.config.html_theme_options.get("launch_buttons") or {}).get("binderhub_url")
        or "https://mybinder.org",
        "path": "/".join(p for p in (path_to_docs, folder) if p and p != "."),
        "colab": repo.colab_url("/".join(p for p in (path_to_docs, pagename + ".ipynb") if p)),
    })


def rewrite_downloads(app: Sphinx, exception: Exception | None) -> None:
    """build-finished: the notebooks readers download (``_sources/*.ipynb``) name this build's repository.

    Only the set-up cell's source changes, and only where it differs (e.g. a build with
    $BOOK_REPOSITORY_URL from chapters synced to another or no repository).
    """
    if exception is not None or app.builder.format != "html":
        return
    import nbformat

    want = setup_cell_source(repository(app))
    for path in Path(app.outdir, "_sources").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code" and is_setup_cell(c.source)]
        if any(c.source != want for c in cells):
            for cell in cells:
                cell.source = want
            nbformat.write(nb, path)
