"""Shared helpers of the benchmark scripts: environment report, CPU-contention monitor, JSON output.

Not a test module (no ``test_`` prefix): pytest never collects the benchmarks.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python benchmarks/NAME.py` from anywhere, without installing lmlib
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo ('unknown' where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def env_info() -> dict:
    """What the figures depend on: versions, threads, CPU."""
    return {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "logical_cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "loadavg_at_start": _loadavg(),
    }


def print_env(info: dict) -> None:
    print(f"date {info['date']}  python {info['python']}  torch {info['torch']}")
    print(f"CPU: {info['cpu_model']}  ({info['logical_cpus']} logical CPUs, torch threads {info['torch_threads']})")
    print(f"load average at start: {info['loadavg_at_start']}")


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _system_busy_jiffies() -> int | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


def _own_jiffies() -> int | None:
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime of all this process's threads


class CpuMonitor:
    """Measures how many CPU cores *other* processes used while the ``with`` block ran.

    ``foreign_cores`` = (CPU time of the whole machine - CPU time of this process) / wall time, from
    /proc/stat; None where /proc is unavailable. Anything above ~0.2 means the timing is contended.
    """

    def __enter__(self) -> "CpuMonitor":
        self.t0, self.sys0, self.own0 = time.perf_counter(), _system_busy_jiffies(), _own_jiffies()
        self.foreign_cores = None
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.t0
        sys1, own1 = _system_busy_jiffies(), _own_jiffies()
        if None not in (self.sys0, self.own0, sys1, own1) and wall > 0:
            foreign = (sys1 - self.sys0) - (own1 - self.own0)
            self.foreign_cores = max(0.0, foreign / _HZ / wall)


def foreign_load(seconds: float = 1.0) -> float | None:
    """Cores used by other processes over the next ``seconds`` (this process idles meanwhile)."""
    with CpuMonitor() as mon:
        time.sleep(seconds)
    return mon.foreign_cores


def wait_for_quiet(threshold: float = 0.15, max_wait: float = 600.0, verbose: bool = True,
                   window: float = 2.0) -> float | None:
    """Block until other processes use under ``threshold`` cores for ``window`` s (or ``max_wait`` s).

    Returns the last foreign load seen.
    """
    deadline = time.monotonic() + max_wait
    announced = False
    while True:
        load = foreign_load(window)
        if load is None or load < threshold or time.monotonic() > deadline:
            return load
        if verbose and not announced:
            print(f"  (waiting for other processes to leave the CPU: they use {load:.2f} cores)", flush=True)
            announced = True


def sample_quiet(fn, n_quiet: int, max_tries: int, threshold: float = 0.2, wait: bool = True) -> list[dict]:
    """Call ``fn(i)`` (it returns ``(value, foreign_cores)``) until ``n_quiet`` calls ran undisturbed
    (foreign cores < ``threshold``) or ``max_tries`` calls were made; with ``wait``, each call first waits
    (up to 60 s) for a quiet CPU. Returns every call as {"value", "foreign", "quiet"}."""
    out: list[dict] = []
    for i in range(max_tries):
        if sum(r["quiet"] for r in out) >= n_quiet:
            break
        if wait:
            wait_for_quiet(threshold=threshold * 0.75, max_wait=60, verbose=False, window=0.5)
        value, foreign = fn(i)
        out.append({"value": value, "foreign": foreign, "quiet": foreign is not None and foreign < threshold})
    return out


def quiet_values(samples: list[dict]) -> tuple[list, bool]:
    """The values of the undisturbed calls, or of all calls when fewer than two were (one, for a single
    call); and whether the result is clean (it rests on undisturbed calls only)."""
    quiet = [r["value"] for r in samples if r["quiet"]]
    if len(quiet) >= min(2, len(samples)):
        return quiet, True
    return [r["value"] for r in samples], False


def median(xs):
    return statistics.median(xs)


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path


def table(rows: list[list], headers: list[str]) -> str:
    """A plain-text table (columns right-aligned except the first)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
