"""Mutation testing of lmlib's core modules with mutmut: how many planted bugs does the test suite catch?

    python scripts/mutation_test.py                      # all core modules (incremental: reuses .mutation/)
    python scripts/mutation_test.py --modules data generate
    python scripts/mutation_test.py --rerun-survivors    # after adding tests: run the survivors again
    python scripts/mutation_test.py --report-only        # just print the last results
    python scripts/mutation_test.py --source /tmp/old --work /tmp/old-mut   # measure another checkout

Not part of ``make test`` (it takes hours on a 2-core machine); needs the ``dev`` extra (``mutmut``).
Each module is measured with its own selection of tests (``SELECTION`` below). The rates measured so far,
before and after the tests written to kill the survivors, are in the README ("How much the tests catch").

How it works. The script copies the repository's ``lmlib/``, ``tests/``, ``conftest.py``, ``_toc.yml`` (read
by tests/conftest.py's browser helpers on import) and ``pyproject.toml`` into a work folder (default
``.mutation/``, git-ignored) and runs ``mutmut run`` there under ``nice -n 10``. Its settings are ``[tool.mutmut]`` in this repository's ``pyproject.toml``: which
modules are mutated (data, tokenizers, models, train, generate, checkpoint) and which tests may run.
mutmut records which tests call which function and runs only those tests against each mutant of that
function (``-x``: the first failure kills it), and it keeps every verdict whose function did not change,
so a second run only tests what changed. A mutant whose tests run far longer than the clean run counts as
a timeout, which is a kill (the bug was detected). On a machine shared with other work a mutant's tests can
run slowly for no fault of the mutant, so the report's timeout column is worth a second look there.

mutmut leaves decorated functions alone. So that ``@torch.no_grad()`` functions (``evaluate``,
``generate_ids``) and ``@property`` methods are measured too, the work copy rewrites
``@dec def f(...)`` as ``def f(...)`` followed by ``f = dec(f)``, which is the same thing Python does.

Survivors are matched against ``scripts/mutation_equivalents.json``: a list of mutants explained as
equivalent (no test can tell them apart from the original), each identified by module, function and the
mutated line. The report lists every survivor not explained there. Exit status: 0 when the kill rate is
at least ``--min-rate`` and every survivor is explained, else 1. Mutants of the functions that run only
on a CUDA device (``NEEDS_CUDA``: the CUDA-graph capture and replay in ``generate``) are counted apart as
"needs CUDA" where torch sees no GPU, and left out of the kill rate.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORE = ("data", "tokenizers", "models", "train", "train_config", "train_callbacks", "train_hardware", "generate",
        "checkpoint")
EQUIVALENTS = REPO / "scripts" / "mutation_equivalents.json"
COPIED = ("lmlib", "tests", "conftest.py", "_toc.yml")  # tests/conftest.py reads _toc.yml on import
REWRITTEN_DECORATORS = ("torch.no_grad()", "property")
# The tests that may kill each module's mutants: the module's own tests, the tests of the modules built on
# it inside the core, and the robustness suites. Slow tests of other parts (exercise grading, which starts
# notebook kernels; the dashboard's threads, also inside the robustness suites, by the ``-k`` in pyproject.toml;
# throughput measurements; the book) are left out. A file that a
# checkout does not have (e.g. the robustness suites before they were written) is skipped.
ROBUST = ("test_robust_items.py", "test_robust_direct.py", "test_robust_properties.py")
SELECTION = {
    "data": ("test_data.py", "test_train.py", *ROBUST),
    "tokenizers": ("test_tokenizers.py", "test_tokenizers_edges.py", "test_bpe_vs_tokenizers.py", "test_generate.py", "test_checkpoint.py", *ROBUST),
    "models": ("test_models.py", "test_modern_gpt.py", "test_train.py", "test_generate.py", "test_checkpoint.py",
               "test_hardware.py", *ROBUST),
    "train": ("test_train.py", "test_train_edges.py", "test_hardware.py", "test_checkpoint.py", *ROBUST),
    "train_config": ("test_train.py", *ROBUST),
    "train_callbacks": ("test_train.py", "test_checkpoint.py", *ROBUST),
    "train_hardware": ("test_train.py", "test_hardware.py", *ROBUST),
    "generate": ("test_generate.py", "test_generate_edges.py", "test_checkpoint.py", "test_hardware.py", *ROBUST),
    "checkpoint": ("test_checkpoint.py", "test_checkpoint_edges.py", *ROBUST),
}

# Functions that run only on a CUDA device (capturing and replaying a CUDA graph): without one, no test can
# reach them, so the report counts their mutants apart ("needs CUDA") and leaves them out of the kill rate.
# Where torch sees a GPU they count like any other (tests/test_gpu.py exercises them there).
NEEDS_CUDA = {"generate": ("_OneTokenStep._capture", "_OneTokenStep._replay")}

# mutmut's exit-code meanings (mutmut.stats.status_by_exit_code), grouped for the kill rate
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout", -11: "segfault", -9: "segfault", 37: "caught by type check"}
NOT_KILLED = {0: "survived", 5: "no tests", 33: "no tests", 35: "suspicious"}


def undecorate(source: str) -> str:
    """``@dec`` + ``def f`` -> ``def f`` + ``f = dec(f)`` for the decorators mutmut would skip."""
    tree = ast.parse(source)
    lines = source.split("\n")
    edits = []  # (decorator line index, line index after the function, indent, name, decorator)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and len(node.decorator_list) == 1:
            dec = ast.get_source_segment(source, node.decorator_list[0])
            if dec in REWRITTEN_DECORATORS:
                indent = " " * node.col_offset
                edits.append((node.decorator_list[0].lineno - 1, node.end_lineno, indent, node.name, dec))
    for dec_line, end, indent, name, dec in sorted(edits, reverse=True):
        lines.insert(end, f"{indent}{name} = {dec}({name})")
        del lines[dec_line]
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _without_mutmut_section(text: str) -> str:
    out, inside = [], False
    for line in text.splitlines():
        if line.strip().startswith("["):
            inside = line.strip() == "[tool.mutmut]"
        if not inside:
            out.append(line)
    return "\n".join(out) + "\n"


def _mutmut_section(pyproject: Path) -> str:
    """The ``[tool.mutmut]`` table of ``pyproject`` as TOML text (from its first line to the next table)."""
    out, inside = [], False
    for line in pyproject.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("["):
            inside = line.strip() == "[tool.mutmut]"
        if inside:
            out.append(line)
    if not out:
        raise SystemExit(f"{pyproject} has no [tool.mutmut] table")
    return "\n".join(out) + "\n"


def sync(source: Path, work: Path, module: str) -> None:
    """Copy the code and tests into ``module``'s work folder (only files whose content changed, so mtimes stay)."""
    work.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for name in COPIED:
        src = source / name
        files = [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file()]
        for path in files:
            if "__pycache__" in path.parts or ".hypothesis" in path.parts:
                continue
            rel = path.relative_to(source)
            wanted.add(rel)
            target = work / rel
            if path.suffix == ".py":
                text = path.read_text(encoding="utf-8")
                if rel.parts[0] == "lmlib" and path.stem in CORE and len(rel.parts) == 2:
                    text = undecorate(text)
                _write_if_changed(target, text)
            elif not target.exists() or target.read_bytes() != path.read_bytes():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    for name in COPIED:  # files deleted in the source are deleted in the copy
        root = work / name
        if root.is_dir():
            for path in root.rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts and path.relative_to(work) not in wanted:
                    path.unlink()
    # this repository's mutmut settings (whatever the measured checkout's pyproject says), for one module
    text = _without_mutmut_section((source / "pyproject.toml").read_text(encoding="utf-8"))
    tests = [f"tests/{name}" for name in SELECTION[module] if (source / "tests" / name).exists()]
    lines = []
    for line in _mutmut_section(REPO / "pyproject.toml").splitlines():
        if line.startswith("only_mutate"):
            line = f'only_mutate = ["lmlib/{module}.py"]'
        elif line.startswith("pytest_add_cli_args_test_selection"):
            line = f"pytest_add_cli_args_test_selection = {json.dumps(tests)}"
        lines.append(line)
    section = "\n".join(lines)
    _write_if_changed(work / "pyproject.toml", text.rstrip("\n") + "\n\n" + section + "\n")


def _mutmut_command() -> list[str]:
    exe = shutil.which("mutmut") or str(Path(sys.executable).with_name("mutmut"))
    if not Path(exe).exists():
        raise SystemExit("mutmut is not installed: pip install -e '.[dev]' (or pip install mutmut)")
    return [exe]


def _meta(work: Path, module: str) -> dict | None:
    path = work / module / "mutants" / "lmlib" / f"{module}.py.meta"
    return json.loads(path.read_text()) if path.exists() else None


def survivors(work: Path, module: str) -> list[str]:
    meta = _meta(work, module)
    return [] if meta is None else [n for n, code in meta["exit_code_by_key"].items() if code in NOT_KILLED]


def run_mutmut(folder: Path, names: list[str], max_children: int, nice: int) -> int:
    # One torch thread: mutmut forks each mutant's run from a process whose tests already started torch's
    # thread pool, and a forked child that trains on two threads hung until its timeout (every mutant of
    # generate() "timed out", even one that fails at once).
    env = {**os.environ, "LMLIB_HYPOTHESIS_PROFILE": "mutation", "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # the work copy's lmlib, not the checkout's
    command = ["nice", "-n", str(nice), *_mutmut_command(), "run", "--max-children", str(max_children), *names]
    print("running:", " ".join(command[:8]), f"... (in {folder})", flush=True)
    return subprocess.call(command, cwd=folder, env=env)


_DIFF_HELPER = r"""
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
print(json.dumps({n: get_diff_for_mutant(n) for n in sys.argv[1:]}))
"""


def diffs(folder: Path, names: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for start in range(0, len(names), 200):
        chunk = names[start:start + 200]
        result = subprocess.run([sys.executable, "-c", _DIFF_HELPER, *chunk], cwd=folder, capture_output=True,
                                text=True, check=True)
        out.update(json.loads(result.stdout))
    return out


def _changed_lines(diff: str) -> tuple[str, str]:
    minus = [l[1:].strip() for l in diff.splitlines() if l.startswith("-") and not l.startswith("---")]
    plus = [l[1:].strip() for l in diff.splitlines() if l.startswith("+") and not l.startswith("+++")]
    return " / ".join(minus), " / ".join(plus)


def _function(name: str) -> str:
    """``lmlib.train.x_fit__mutmut_12`` -> ``fit``; ``lmlib.models.xǁGPTǁforward__mutmut_3`` -> ``GPT.forward``."""
    tail = name.split(".")[-1].rsplit("__mutmut_", 1)[0]
    if tail.startswith("x_"):
        return tail[2:]
    return ".".join(p for p in tail.split("ǁ")[1:])


def _classify(code: int | None) -> str:
    if code is None:
        return "not run"
    if code in (1, 3):
        return "killed"
    if code in KILLED:
        return "timeout"
    if code == 0:
        return "survived"
    if code in (5, 33):
        return "no tests"
    return "other"


COLUMNS = ("mutants", "killed", "timeout", "survived", "no tests", "other", "needs CUDA", "not run")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _needs_cuda(module: str, name: str, cuda: bool) -> bool:
    """Whether mutant ``name`` is one no test can reach on this machine (see NEEDS_CUDA)."""
    return not cuda and _function(name) in NEEDS_CUDA.get(module, ())


def _row(label: str, c: Counter) -> str:
    run = c["mutants"] - c["not run"] - c["needs CUDA"]
    rate = (c["killed"] + c["timeout"]) / run if run else float("nan")
    return f"{label:<12}" + "".join(f"{c[k]:>11}" for k in COLUMNS) + f"{rate:>11.1%}"


def report(work: Path, modules: list[str], min_rate: float) -> int:
    equivalents = json.loads(EQUIVALENTS.read_text(encoding="utf-8")) if EQUIVALENTS.exists() else []
    total: Counter = Counter()
    print(f"\n{'module':<12}" + "".join(f"{k:>11}" for k in COLUMNS) + f"{'kill rate':>11}")
    unexplained, explained, left_total = [], 0, 0
    cuda = _cuda_available()
    for module in modules:
        meta = _meta(work, module)
        if meta is None:
            print(f"{module:<12}(not run yet)")
            continue
        c = Counter("needs CUDA" if _needs_cuda(module, name, cuda) else _classify(code)
                    for name, code in meta["exit_code_by_key"].items())
        c["mutants"] = len(meta["exit_code_by_key"])
        total.update(c)
        print(_row(module, c))
        left = [n for n in survivors(work, module) if not _needs_cuda(module, n, cuda)]
        left_total += len(left)
        all_diffs = diffs(work / module, left) if left else {}
        for name in sorted(left):
            before, after = _changed_lines(all_diffs[name])
            if any(e["module"] == module and e["function"] == _function(name) and e["original"] == before
                   and e["mutant"] == after for e in equivalents):
                explained += 1
            else:
                unexplained.append((name, before, after))
    print(_row("all", total))
    run = total["mutants"] - total["not run"] - total["needs CUDA"]
    rate = (total["killed"] + total["timeout"]) / run if run else float("nan")
    print("kill rate = (killed + timeout) / mutants run; 'no tests' and 'other' (suspicious) count as not killed;"
          "\n'needs CUDA': mutants of the functions in NEEDS_CUDA, which no test reaches without a GPU (not counted)")
    print(f"\nsurvivors: {left_total}, explained as equivalent in {EQUIVALENTS.name}: {explained}, "
          f"unexplained: {len(unexplained)}")
    for name, before, after in unexplained:
        print(f"  {name}\n      - {before}\n      + {after}")
    summary = {"modules": modules, "counts": dict(total), "kill_rate": rate, "survivors": left_total,
               "explained": explained, "unexplained": [{"mutant": n, "original": b, "mutant_line": a}
                                                        for n, b, a in unexplained]}
    (work / "summary.json").write_text(json.dumps(summary, indent=2))
    return 0 if (rate >= min_rate and not unexplained and not total["not run"]) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=REPO, help="checkout to measure (default: this one)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: <source>/.mutation)")
    parser.add_argument("--modules", nargs="+", choices=CORE, default=list(CORE))
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutant runs (default 1)")
    parser.add_argument("--nice", type=int, default=10)
    parser.add_argument("--rerun-survivors", action="store_true", help="test the survivors again (new tests)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--min-rate", type=float, default=0.90)
    args = parser.parse_args(argv)
    source = args.source.resolve()
    work = (args.work or source / ".mutation").resolve()
    if not args.report_only:
        for module in args.modules:
            folder = work / module
            sync(source, folder, module)
            names = survivors(work, module) if args.rerun_survivors else []
            if args.rerun_survivors and not names:
                print(f"{module}: no survivors to rerun")
                continue
            run_mutmut(folder, names, args.max_children, args.nice)
    return report(work, args.modules, args.min_rate)


if __name__ == "__main__":
    sys.exit(main())
