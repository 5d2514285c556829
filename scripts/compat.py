"""Check the stated version range: on every Python found, install lmlib in a fresh venv, run its tests and
execute the chapters (nbval, strict on stored outputs), then print one table.

    python scripts/compat.py                      # every Python 3.10-3.13 that pyenv (or PATH) has
    python scripts/compat.py --python 3.12        # only these
    python scripts/compat.py --download-torch     # where no torch wheel is on this machine, get PyPI's
    make compat                                   # the same as the first line

Not part of ``make test``: it takes minutes per Python, and more the first time.

Torch is the expensive part. The script first installs it without any index (``pip --no-index``, i.e. only
from wheels this machine already has, such as pip's ``find-links``). Where that fails it reports "no torch
available offline" unless ``--download-torch`` is given: PyPI's Linux build of torch carries CUDA (about
0.5 GB for torch itself plus about 2.7 GB of NVIDIA libraries once unpacked). With ``--download-torch``
the NVIDIA libraries are unpacked once into the work folder and hard-linked into every venv (no
extra disk space; not a ``.pth`` file, which the grader's sandbox could not follow), so each further Python
costs only its own torch wheel. Venvs are kept in the work folder (``~/.cache/lmlib-compat`` or ``--workdir``)
and reused by the next run.

What each row means: "lmlib tests" is ``pytest tests`` with the selection of ``make test-lib`` (no book
build, browser or widget-driving tests) in a copy of this checkout; "chapters" is nbval over ``chapters/``
with the repository's sanitizer: cells whose stored output differs from what this Python, torch and sympy
print, and cells that raised an error.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ((3, 10), (3, 13))  # inclusive range of minor versions the README states
# The tests of `make test-lib` (Makefile): lmlib's own tests, without the book build, the browser and the
# widget-driving tests (those need the book stack, which installs on 3.11+ only, and take most of an hour)
LIB_TEST_SELECTION = ("--ignore-glob=tests/test_book_browser*.py", "--ignore=tests/test_chapter_controls.py",
                      "--ignore=tests/test_book_ext.py")


def run(cmd: list[str], cwd: Path | None = None, log: Path | None = None, timeout: float | None = None,
        env: dict | None = None) -> int:
    """Run ``cmd``; append its output to ``log``; return its exit code (124 on timeout)."""
    with open(log or os.devnull, "a") as out:
        out.write(f"\n$ {' '.join(map(str, cmd))}\n")
        out.flush()
        try:
            return subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                                  env=env).returncode
        except subprocess.TimeoutExpired:
            out.write(f"\n(timed out after {timeout} s)\n")
            return 124


def version_of(python: str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:3])"], capture_output=True,
                             text=True, timeout=30).stdout.split()
        return tuple(int(x) for x in out) if len(out) == 3 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def find_pythons(wanted: list[str]) -> list[tuple[str, tuple[int, int, int]]]:
    """Interpreters in the supported range: pyenv's versions, then python3.X on PATH; one per minor version."""
    candidates = []
    try:
        pyenv_root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python")))
    candidates += [p for p in (shutil.which(f"python3.{m}") for m in range(10, 14)) if p]
    found: dict[tuple[int, int], tuple[str, tuple[int, int, int]]] = {}
    for python in candidates:
        v = version_of(python)
        if v is None or not SUPPORTED[0] <= v[:2] <= SUPPORTED[1] or v[:2] in found:
            continue
        if wanted and not any(f"{v[0]}.{v[1]}" == w or ".".join(map(str, v)) == w for w in wanted):
            continue
        found[v[:2]] = (python, v)
    return [found[k] for k in sorted(found)]


def source_copy(workdir: Path) -> Path:
    """A copy of this checkout (tracked and untracked, not ignored files), named by its content."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    files = [f for f in files if f and (ROOT / f).is_file()]
    digest = hashlib.sha256()
    for f in sorted(files):
        digest.update(f.encode() + b"\0" + (ROOT / f).read_bytes())
    dest = workdir / f"src-{digest.hexdigest()[:12]}"
    if not (dest / ".complete").exists():
        shutil.rmtree(dest, ignore_errors=True)
        for f in files:
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
        (dest / ".complete").touch()
    return dest


def pinned(requirement: str) -> str | None:
    """``requirement``'s line in book/requirements.txt (the versions the stored outputs were made with)."""
    name = re.split(r"[<>=!~ ]", requirement)[0].lower()
    for line in (ROOT / "book" / "requirements.txt").read_text().splitlines():
        if re.split(r"[<>=!~ ]", line.strip())[0].lower() == name:
            return line.strip()
    return None


LEGACY_PTH = "lmlib_compat_cuda_libs.pth"  # how earlier versions of this script shared the CUDA libraries


def site_packages(vpy: str) -> str:
    return subprocess.run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def link_cuda_libs(vpy: str, shared: Path) -> None:
    """Hard-link the shared CUDA libraries into the venv's site-packages (no copy, no extra disk space).

    Not a .pth file pointing at ``shared``: the grader's sandbox (lmlib.exercises.grading.sandbox) binds only
    the interpreter's own folders, so torch found no CUDA libraries there and every graded notebook failed.
    """
    site = site_packages(vpy)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except FileExistsError:
            pass
        except OSError:  # another file system
            shutil.copy2(src, dst)

    shutil.copytree(shared, site, copy_function=link, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
    Path(site, LEGACY_PTH).unlink(missing_ok=True)


def install_torch(vpy: str, spec: str, workdir: Path, download: bool, log: Path) -> str:
    """Install ``spec`` into the venv of ``vpy``; return how ("local wheel", "PyPI", or why not)."""
    if run([vpy, "-c", "import torch"], log=log) == 0:
        legacy = Path(site_packages(vpy), LEGACY_PTH)
        if legacy.exists():  # a venv of an older version of this script: its CUDA libraries behind a .pth
            link_cuda_libs(vpy, Path(legacy.read_text().strip()))
        return "present"
    # torch itself from a wheel on this machine (no index), then its small pure-Python dependencies
    if run([vpy, "-m", "pip", "install", "--no-index", "--no-deps", "--progress-bar", "off", spec], log=log) == 0:
        if run([vpy, "-m", "pip", "install", "--progress-bar", "off", spec], log=log) == 0:
            return "local wheel"
    if not download:
        return "none offline"
    report = workdir / f"torch-report-{Path(vpy).parent.parent.name}.json"
    if run([vpy, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--progress-bar", "off", "--report",
            str(report), spec], log=log) != 0:
        return "not on PyPI for this Python"
    wheels = [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.loads(report.read_text())["install"]]
    nvidia = sorted(f"{n}=={v}" for n, v in wheels if n.lower().startswith("nvidia-"))
    rest = [f"{n}=={v}" for n, v in wheels if not n.lower().startswith("nvidia-")]
    if nvidia:  # Python-independent CUDA libraries: unpacked once, hard-linked into every venv
        shared = workdir / ("cuda-" + hashlib.sha256("\n".join(nvidia).encode()).hexdigest()[:12])
        if not (shared / ".complete").exists():
            shutil.rmtree(shared, ignore_errors=True)
            if run([vpy, "-m", "pip", "install", "--no-deps", "--progress-bar", "off", "--target", str(shared),
                    *nvidia], log=log) != 0:
                return "CUDA libraries failed to install"
            (shared / ".complete").touch()
        link_cuda_libs(vpy, shared)
    if run([vpy, "-m", "pip", "install", "--no-deps", "--progress-bar", "off", *rest], log=log) != 0:
        return "PyPI install failed"
    return "PyPI"


def junit_counts(path: Path) -> dict:
    """passed / failed / errors / skipped from a pytest junit file, and the failing test names."""
    if not path.exists():
        return {"passed": 0, "failed": 0, "skipped": 0, "failures": ["(no report)"]}
    counts = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "differ": [], "raised": []}
    for case in ET.parse(path).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        owner = case.get("classname", "")  # "tests.test_data" or "chapters.07d_frameworks.ipynb"
        owner = owner[: -len(".ipynb")] if owner.endswith(".ipynb") else owner
        name = f"{owner.rsplit('.', 1)[-1]}::{case.get('name')}"
        if bad is not None:
            counts["failed"] += 1
            counts["failures"].append(name)
            text = (bad.get("message") or "") + (bad.text or "")
            if "Cell outputs differ" in text:
                counts["differ"].append(name)
            elif "Timeout" in text:  # nbval's per-cell limit: a busy machine, not an error of the chapter
                counts.setdefault("timed_out", []).append(name)
            else:
                counts["raised"].append(name)
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts


def check(python: str, version: tuple, args, src: Path) -> dict:
    tag = "py" + ".".join(map(str, version))
    venv = args.workdir / tag
    log = args.workdir / f"{tag}.log"
    log.write_text(f"{python} {version}\n")
    row: dict = {"python": ".".join(map(str, version)), "log": str(log)}
    started = time.time()
    vpy = str(venv / "bin" / "python")
    if not Path(vpy).exists() and run([python, "-m", "venv", str(venv)], log=log) != 0:
        row["status"] = "venv failed"
        return row
    row["torch_from"] = install_torch(vpy, args.torch, args.workdir, args.download_torch, log)
    if row["torch_from"] not in ("present", "local wheel", "PyPI"):
        row["status"] = f"no torch ({row['torch_from']})"
        row["minutes"] = (time.time() - started) / 60
        return row
    extras = [p for p in (pinned("nbval"), pinned("pygments")) if p] + [f"{src}[test]"]
    if run([vpy, "-m", "pip", "install", "--progress-bar", "off", "--upgrade-strategy", "only-if-needed", *extras],
           log=log) != 0:
        row["status"] = "lmlib install failed"
        return row
    row["versions"] = subprocess.run(
        [vpy, "-c", "import torch, sympy, ipywidgets, plotly, numpy; "
                    "print(torch.__version__, sympy.__version__, ipywidgets.__version__, plotly.__version__, "
                    "numpy.__version__)"], capture_output=True, text=True).stdout.split()
    # Can this Python install the book's pinned build stack? (resolution only: nothing is installed)
    row["book_stack"] = run([vpy, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--progress-bar", "off",
                             "-r", str(src / "book" / "requirements.txt")], log=log) == 0
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LMLIB_DEVICE")}
    env["CUDA_VISIBLE_DEVICES"] = ""  # the stored outputs are the CPU's
    t0 = time.time()
    run([vpy, "-m", "pytest", "tests", *LIB_TEST_SELECTION, "-q", "-p", "no:cacheprovider",
         f"--junitxml={args.workdir / (tag + '-tests.xml')}"], cwd=src, log=log, timeout=args.timeout, env=env)
    row["tests"] = junit_counts(args.workdir / f"{tag}-tests.xml")
    row["tests_minutes"] = (time.time() - t0) / 60
    if not args.skip_chapters:
        t0 = time.time()
        run([vpy, "-m", "pytest", "--nbval", "--nbval-sanitize-with", "nbval_sanitize.cfg", "chapters/", "-q",
             "-p", "no:cacheprovider", f"--junitxml={args.workdir / (tag + '-chapters.xml')}"],
            cwd=src, log=log, timeout=args.timeout, env=env)
        row["chapters"] = junit_counts(args.workdir / f"{tag}-chapters.xml")
        row["chapters_minutes"] = (time.time() - t0) / 60
    row["status"] = "ran"
    row["minutes"] = (time.time() - started) / 60
    return row


def table(rows: list[dict]) -> str:
    lines = ["| Python | torch (from) | sympy / ipywidgets / plotly / numpy | lmlib tests | chapters: cells ok "
             "/ outputs differ / raised | book stack installs | minutes |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("status") != "ran":
            lines.append(f"| {r['python']} | {r.get('status')} | | | | | {r.get('minutes', 0):.1f} |")
            continue
        v = r["versions"] + ["?"] * 5
        t = r["tests"]
        tests = f"{t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped"
        ch = r.get("chapters")
        slow = ch.get("timed_out", []) if ch else []
        chap = "not run" if ch is None else (
            f"{ch['passed']} / {len(ch['differ'])} / {len(ch['raised'])}"
            + (f" ({', '.join(ch['differ'] + ch['raised'])})" if ch["differ"] or ch["raised"] else "")
            + (f"; {len(slow)} timed out ({', '.join(slow)})" if slow else ""))
        book = {True: "yes", False: "no"}.get(r.get("book_stack"), "?")
        lines.append(f"| {r['python']} | {v[0]} ({r['torch_from']}) | {' / '.join(v[1:5])} | {tests} | {chap} "
                     f"| {book} | {r['minutes']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", default=[], help="a version such as 3.12 (repeatable)")
    ap.add_argument("--torch", default=os.environ.get("TORCH_SPEC", "torch==2.13.0"), help="torch requirement")
    ap.add_argument("--download-torch", action="store_true", help="get torch from PyPI where no local wheel fits")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("LMLIB_COMPAT_DIR",
                                                                        Path.home() / ".cache" / "lmlib-compat")))
    ap.add_argument("--skip-chapters", action="store_true", help="only lmlib's tests")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per pytest run")
    ap.add_argument("--table-only", action="store_true", help="rebuild the table from the work folder's last results")
    args = ap.parse_args()
    if args.table_only:  # re-read the junit files of every row in compat*.json
        rows = []
        for path in sorted(args.workdir.glob("compat*.json"), key=lambda p: p.stat().st_mtime):  # newest row wins
            for row in json.loads(path.read_text()):
                tag = "py" + row["python"]
                for key, suffix in (("tests", "tests"), ("chapters", "chapters")):
                    if key in row:
                        row[key] = junit_counts(args.workdir / f"{tag}-{suffix}.xml")
                rows.append(row)
        print(table(sorted({r["python"]: r for r in rows}.values(), key=lambda r: tuple(map(int, r["python"].split("."))))))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    pythons = find_pythons(args.python)
    if not pythons:
        sys.exit("no Python 3.10-3.13 found (pyenv versions or python3.X on PATH)")
    print("Pythons:", ", ".join(f"{'.'.join(map(str, v))} ({p})" for p, v in pythons), flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()  # the checkout copied now (uncommitted changes included)
    src = source_copy(args.workdir)
    rows = []
    for python, version in pythons:
        print(f"\n== Python {'.'.join(map(str, version))}: log in {args.workdir}", flush=True)
        rows.append(check(python, version, args, src))
        print(table(rows[-1:]), flush=True)
    out = f"lmlib compatibility, checkout {commit} ({src.name}), {time.strftime('%Y-%m-%d %H:%M')}\n\n{table(rows)}\n"
    name = "compat-" + "-".join(r["python"] for r in rows)
    (args.workdir / f"{name}.md").write_text(out)
    (args.workdir / f"{name}.json").write_text(json.dumps(rows, indent=2))
    print("\n" + out + f"\n(also in {args.workdir / (name + '.md')}; --table-only merges every run's rows)")


if __name__ == "__main__":
    main()
