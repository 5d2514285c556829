#!/usr/bin/env python3
"""Populate book/static_vendor/ with the JavaScript the book serves itself.

Nothing here is committed: the folder is git-ignored and rebuilt from pinned
npm tarballs (downloaded with ``npm pack``, checked against the sha512
integrity recorded below) plus the plotly.min.js that ships inside the
installed ``plotly`` Python package.

``npm pack`` fetches only the one tarball (no dependency tree), so this needs
the npm registry but no node_modules. Re-running is a no-op while the stamp
file matches the pins; ``--force`` refetches.

Layout (book/static_vendor is in html_static_path, so it lands in _static/):

    _static/vendored/mathjax/tex-mml-chtml.js    (+ fonts and lazy components)
    _static/vendored/mermaid/mermaid.esm.min.mjs (+ chunks/mermaid.esm.min/)
    _static/vendored/plotly/plotly-cartesian.min.js  (1.5 MB: the bundle most pages load)
    _static/vendored/plotly/plotly.min.js        (4.8 MB: only for pages with other trace types)
    _static/vendored/thebe/index.js              (+ its chunks and CSS: "Live code", loaded on click)

No widget manager: stored widgets are drawn at build time (book/bookext/widgets.py).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEST = HERE / "static_vendor" / "vendored"
STAMP = HERE / "static_vendor" / "stamp.json"

# name -> (version, sha512 integrity as printed by `npm view NAME@VER dist.integrity`)
NPM_PINS: dict[str, tuple[str, str]] = {
    "mathjax": (
        "3.2.2",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    ),
    "mermaid": (
        "11.12.1",
        "sha512-UlIZrRariB11TY1RtTgUWp65tphtBv4CSq7vyS2ZZ2TgoMjs2nloq+wFqxiwcxlhHUvs7DPGgMjs2aeQxz5h9g==",
    ),
    # plotly.js's cartesian bundle, the same plotly.js version as the plotly Python package pinned in
    # book/requirements.txt bundles (the figures' JSON is written for it).
    "plotly.js-cartesian-dist-min": (
        "4.1.1",
        "sha512-o8GrFeusncwBIxbBynRJpY4pkgVB6caM+JLpwrLYbbsO7dZ8FJ+SVN2Fr+L7kiG/Z6w4P5O0Jus/Qr5EefHVeg==",
    ),
    # thebe ("Live code"): loaded from the book's assets when a reader clicks it, never from a CDN.
    "thebe": (
        "0.9.3",
        "sha512-Rb/7kVhtlffXra3kIe7OuIGE7awsm2/fGWxw21DiNfnWLnUQiDl9AWqYdshPwZPG/5DzLpsJRPix2xtCPtJmQQ==",
    ),
}

# files _config.yml points at (relative to DEST)
KEY_FILES = (
    "mathjax/tex-mml-chtml.js",
    "mermaid/mermaid.esm.min.mjs",
    "plotly/plotly-cartesian.min.js",
    "plotly/plotly.min.js",
    "thebe/index.js",
)


def _pick_mathjax(rel: str) -> str | None:
    """Keep the CHTML combined component and what it may load lazily.

    MathJax finds fonts/extensions relative to its own script URL, so the
    es5/ tree is kept (minus the unused combined bundles, SVG output and
    non-English speech maps).
    """
    if not rel.startswith("es5/"):
        return None
    sub = rel[len("es5/"):]
    if "/" not in sub:
        return sub if sub == "tex-mml-chtml.js" else None
    if sub.startswith("output/svg"):
        return None
    if sub.startswith("sre/mathmaps/") and sub.rsplit("/", 1)[1] not in ("base.json", "en.json"):
        return None
    return sub


def _pick_plotly_cartesian(rel: str) -> str | None:
    return "plotly-cartesian.min.js" if rel == "plotly-cartesian.min.js" else None


def _pick_thebe(rel: str) -> str | None:
    """thebe's webpack bundle: the entry point, its lazily loaded chunks and its CSS (no source maps)."""
    if not rel.startswith("lib/") or "/" in rel[len("lib/"):]:
        return None
    name = rel[len("lib/"):]
    if name.endswith((".js", ".css", ".woff", ".woff2", ".ttf", ".svg", ".LICENSE.txt")):
        return name
    return None


def _pick_mermaid(rel: str) -> str | None:
    if rel == "dist/mermaid.esm.min.mjs":
        return "mermaid.esm.min.mjs"
    if rel.startswith("dist/chunks/mermaid.esm.min/") and rel.endswith(".mjs"):
        return rel[len("dist/"):]
    return None


PICKERS = {
    "mathjax": ("mathjax", _pick_mathjax),
    "mermaid": ("mermaid", _pick_mermaid),
    "plotly.js-cartesian-dist-min": ("plotly", _pick_plotly_cartesian),
    "thebe": ("thebe", _pick_thebe),
}


def _plotly_js() -> tuple[Path, str]:
    import plotly
    from plotly.offline import get_plotlyjs_version

    src = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return src, get_plotlyjs_version()


def _wanted_stamp() -> dict:
    _, pjs = _plotly_js()
    return {"npm": {k: v[0] for k, v in NPM_PINS.items()}, "plotly.js": pjs}


def _check_integrity(tgz: Path, integrity: str) -> None:
    algo, _, b64 = integrity.partition("-")
    digest = hashlib.new(algo, tgz.read_bytes()).digest()
    if base64.b64encode(digest).decode() != b64:
        raise SystemExit(f"integrity mismatch for {tgz.name}")


def _npm_pack(spec: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if not npm:
        raise SystemExit("npm not found on PATH (needed to fetch book JS assets)")
    out = subprocess.run(
        [npm, "pack", spec, "--json", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    info = json.loads(out.stdout)[0]
    return workdir / info["filename"]


def fetch(force: bool = False) -> None:
    wanted = _wanted_stamp()
    complete = all((DEST / f).is_file() for f in KEY_FILES)
    if not force and complete and STAMP.exists() and json.loads(STAMP.read_text()) == wanted:
        print(f"[fetch_assets] up to date: {DEST}")
        return
    if DEST.exists():
        shutil.rmtree(DEST)
    DEST.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for name, (version, integrity) in NPM_PINS.items():
            tgz = _npm_pack(f"{name}@{version}", tmpdir)
            _check_integrity(tgz, integrity)
            subdir, pick = PICKERS[name]
            n = 0
            with tarfile.open(tgz) as tar:
                for member in tar.getmembers():
                    if not member.isfile():
                        continue
                    rel = member.name.split("/", 1)[1]  # strip leading "package/"
                    target = pick(rel)
                    if target is None:
                        continue
                    out = DEST / subdir / target
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as fsrc, open(out, "wb") as fdst:
                        shutil.copyfileobj(fsrc, fdst)
                    n += 1
            print(f"[fetch_assets] {name}@{version}: {n} files -> {DEST / subdir}")
    src, pjs = _plotly_js()
    (DEST / "plotly").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, DEST / "plotly" / "plotly.min.js")
    small = NPM_PINS["plotly.js-cartesian-dist-min"][0]
    if small != pjs:
        print(f"[fetch_assets] warning: the cartesian bundle is plotly.js {small}, the plotly package bundles {pjs}; "
              "pin the same version in NPM_PINS", file=sys.stderr)
    print(f"[fetch_assets] plotly.js {pjs} copied from {src}")
    STAMP.write_text(json.dumps(wanted, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="refetch even if the stamp matches")
    args = parser.parse_args(argv)
    fetch(force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
