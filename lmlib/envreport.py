"""The environment report: what machine, Python and packages a chapter runs on.

Chapter 1 (how to run the book) shows the full report; every chapter's first cell prints ``one_line()``.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

from . import _checks

__all__ = ["versions", "one_line", "report", "in_colab", "busy_note", "PACKAGES"]

PACKAGES = ("lmlib", "torch", "numpy", "sympy", "plotly", "ipywidgets", "safetensors")


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def _version(package: str) -> str:
    if package == "lmlib":
        from . import __version__

        return __version__
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package (``"not installed"`` when missing)."""
    if not _checks.iterable(packages):
        raise TypeError(f"packages must be a sequence of package names, got {type(packages).__name__}")
    packages = list(packages)
    if not all(isinstance(name, str) and name for name in packages):
        raise ValueError(f"packages must be non-empty package names (str), got {packages!r}")
    return {name: _version(name) for name in packages}


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


def one_line() -> str:
    """Python, lmlib and torch versions, the device and the thread count, in one line."""
    import torch

    return (
        f"Python {platform.python_version()} | lmlib {_version('lmlib')} | torch {torch.__version__} | "
        f"device {_device()} | {torch.get_num_threads()} threads"
    )


def busy_note(cpus: int | None = None, load: float | None = None) -> str:
    """A note to print under a timing when other programs kept the CPUs busy; "" on a quiet machine.

    Timings in the book depend on the machine and, on a shared one, on what else runs: the note compares
    the 1-minute load average with the number of CPUs, so a reader can tell a slow machine from a busy
    one. ``cpus`` and ``load`` default to this machine's.
    """
    if load is None:
        if not hasattr(os, "getloadavg"):
            return ""
        load = os.getloadavg()[0]
    cpus = cpus or os.cpu_count() or 1
    if load <= cpus:
        return ""
    return (f"note: other programs were running (load average {load:.1f} on {cpus} CPUs), so this took "
            "longer than it would on a quiet machine")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def report() -> dict[str, str]:
    """A table of the machine and software: OS, CPU, cores, memory, device, and package versions."""
    import torch

    info = {
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "OS": f"{platform.system()} {platform.release()}",
        "CPU": _cpu_model(),
        "CPU cores (logical)": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "device": _device(),
        "running in": "Google Colab" if in_colab() else "local Jupyter / script",
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory"] = f"{pages / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        info["memory"] = "unknown"
    info.update({f"{name} version": version for name, version in versions().items()})
    return info
