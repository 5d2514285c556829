"""The book's git repository: one setting, checked, and every link derived from it.

The repository is named in one of two places (the first that is set wins):

1. the environment variable ``BOOK_REPOSITORY_URL`` (and optionally ``BOOK_REPOSITORY_BRANCH``), e.g.
   ``make book BOOK_REPOSITORY_URL=https://github.com/OWNER/NAME``;
2. ``repository.url`` (and ``repository.branch``) in ``_config.yml``.

Unset (the default) means: no launch buttons, no repository button, no live code, and chapters' set-up
cells that tell a Colab reader what to do instead of installing from a made-up address. Set, it must be a
GitHub repository (Colab opens notebooks from GitHub only) and not a placeholder such as
``https://github.com/example-org/...``: a build never publishes a link that goes nowhere.

Pure Python (no Sphinx): book/sync_repo_url.py and the tests use it too.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import quote, urlparse

ENV_URL = "BOOK_REPOSITORY_URL"
ENV_BRANCH = "BOOK_REPOSITORY_BRANCH"
BINDER = "https://mybinder.org"
COLAB = "https://colab.research.google.com"

# Hosts reserved for examples (RFC 2606) and owner names that only ever appear in templates.
PLACEHOLDER_HOSTS = ("example.com", "example.org", "example.net", "localhost")
PLACEHOLDER_TLDS = (".example", ".test", ".invalid", ".localhost")
PLACEHOLDER_OWNERS = frozenset({
    "example", "example-org", "example-user", "your-org", "your-name", "yourname", "your-username",
    "username", "user", "owner", "org", "organization", "my-org", "myorg", "someone", "foo", "placeholder",
})
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Repository:
    """A GitHub repository and branch, with the links the book derives from them."""

    owner: str
    name: str
    branch: str = "main"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.owner}/{self.name}"

    def colab_url(self, path: str) -> str:
        """Colab's address for the notebook at ``path`` (relative to the repository root)."""
        return f"{COLAB}/github/{self.owner}/{self.name}/blob/{quote(self.branch)}/{quote(path)}"

    def binder_url(self, path: str, interface: str = "lab/tree") -> str:
        """mybinder.org's address that builds this repository and opens ``path`` in JupyterLab."""
        return f"{BINDER}/v2/gh/{self.owner}/{self.name}/{quote(self.branch)}?urlpath={interface}/{quote(path)}"

    def blob_url(self, path: str) -> str:
        """The file's page on GitHub."""
        return f"{self.url}/blob/{quote(self.branch)}/{quote(path)}"


def is_placeholder(url: str) -> bool:
    """True for addresses that only stand in for a real one (example hosts, template owners)."""
    parsed = urlparse(url.strip())
    host = (parsed.hostname or "").lower()
    if host in PLACEHOLDER_HOSTS or any(host.endswith("." + h) for h in PLACEHOLDER_HOSTS):
        return True
    if host.endswith(PLACEHOLDER_TLDS):
        return True
    parts = [p for p in parsed.path.split("/") if p]
    return bool(parts) and (parts[0].lower() in PLACEHOLDER_OWNERS or "<" in url or "{" in url)


def parse_repository(url: str, branch: str = "main") -> Repository | None:
    """The repository at ``url`` (``None`` for an empty string); ValueError says what is wrong."""
    url = (url or "").strip()
    if not url:
        return None
    branch = (branch or "main").strip() or "main"
    allowed = "https://github.com/OWNER/NAME (Colab opens notebooks from GitHub only)"
    if is_placeholder(url):
        raise ValueError(f"the repository URL {url!r} is a placeholder; set a real one, {allowed}, or leave it unset")
    parsed = urlparse(url)
    if parsed.scheme != "https" or (parsed.hostname or "").lower() not in ("github.com", "www.github.com"):
        raise ValueError(f"the repository URL {url!r} is not supported; expected {allowed}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"the repository URL {url!r} has a query or fragment; expected {allowed}")
    parts = [p for p in parsed.path.split("/") if p]
    if len(parts) != 2:
        raise ValueError(f"the repository URL {url!r} should name exactly an owner and a repository: {allowed}")
    owner, name = parts[0], parts[1].removesuffix(".git")
    if not (_NAME.match(owner) and _NAME.match(name)):
        raise ValueError(f"the repository URL {url!r} has characters GitHub does not allow in names")
    if not re.match(r"^[A-Za-z0-9._/-]+$", branch) or ".." in branch:
        raise ValueError(f"the repository branch {branch!r} is not a valid git branch name")
    return Repository(owner, name, branch)


def resolve(config_url: str = "", config_branch: str = "", environ: Mapping[str, str] | None = None) -> Repository | None:
    """The book's repository: ``$BOOK_REPOSITORY_URL`` if set, else the configured URL; None if neither."""
    environ = os.environ if environ is None else environ
    env_url = environ.get(ENV_URL, "").strip()
    url = env_url or (config_url or "")
    branch = environ.get(ENV_BRANCH, "").strip() if env_url else ""
    return parse_repository(url, branch or config_branch or "main")


def read_config(root: Path) -> tuple[str, str]:
    """``repository.url`` and ``repository.branch`` from ``_config.yml`` (empty strings when absent)."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    repo = config.get("repository") or {}
    return str(repo.get("url") or ""), str(repo.get("branch") or "")


# ------------------------------------------------------------------------------------ the set-up cell
SETUP_MARKER = "# Set-up (the same in every chapter)"

_SETUP_TEMPLATE = '''\
# Set-up (the same in every chapter): make lmlib importable, seed everything, show versions and device.
import importlib.util, subprocess, sys
from pathlib import Path

REPOSITORY = "{repository}"  # the book's repository; set by book/sync_repo_url.py ("" = none named)
if importlib.util.find_spec("lmlib") is None:
    if Path("../lmlib").is_dir():  # a clone of the repository, opened from chapters/
        sys.path.insert(0, str(Path("..").resolve()))
    elif REPOSITORY and "google.colab" in sys.modules:  # Colab: install lmlib, keeping Colab's own torch
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{{REPOSITORY}}"], check=True)
    else:
        raise ModuleNotFoundError(
            "lmlib, the book's library, is not installed. On Colab: set REPOSITORY above to the book's GitHub "
            "address (https://github.com/OWNER/NAME) and run this cell again, or upload the repository's lmlib "
            "folder in the Files panel. Elsewhere: pip install git+https://github.com/OWNER/NAME, or open this "
            "notebook from the chapters/ folder of a clone.")

from lmlib import envreport, runtime

runtime.seed_everything(0)
print(envreport.one_line())'''


def setup_cell_source(repository: Repository | None) -> str:
    """The source of every chapter's first code cell for ``repository`` (None: not named)."""
    return _SETUP_TEMPLATE.format(repository=repository.url if repository else "")


def is_setup_cell(source: str) -> bool:
    """True for a chapter's set-up cell (found by its first line)."""
    return source.lstrip().startswith(SETUP_MARKER)


_REPOSITORY_LINE = re.compile(r'^REPOSITORY = (["\'])(.*?)\1', re.MULTILINE)


def setup_cell_repository(source: str) -> str | None:
    """The URL a set-up cell installs from ("" when none is named; None if the cell names no REPOSITORY)."""
    match = _REPOSITORY_LINE.search(source)
    return match.group(2) if match else None
