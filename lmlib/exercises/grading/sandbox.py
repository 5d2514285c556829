"""The sandbox one submission runs in: Debian's bubblewrap, an unprivileged user and resource limits.

Each submission runs ``runner`` (the notebook executor and its kernel, together) in a fresh bubblewrap
sandbox:

* its own network namespace (loopback only: the kernel and its client talk over it, nothing else can be
  reached), PID namespace (it sees only its own processes; all of them die when the sandbox ends), IPC
  and UTS namespaces, and a new session;
* a read-only view of the system and of the Python installation, nothing else of the host's files: no
  submissions folder, no results, no home directory, no repository (so no solutions);
* lmlib bound read-only from the grader's own install at a fixed path that comes first on the path;
* a small private tmpfs as its home and working directory (the throwaway copy: the job file is copied
  in) and another as /tmp, both gone when it ends;
* a numeric user of its own (one per parallel slot, never root) with no capabilities and no way to
  gain privileges;
* limits on address space, processes, file size, open files and CPU time (setrlimit), on output (the
  runner), and on wall time (the grader kills the whole sandbox).

Without bubblewrap (or where it cannot create namespaces) grading is refused unless the teacher passes
``--unsafe-no-sandbox``, which runs the same runner directly, as the teacher, with the limits that need
no sandbox.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmlib

LMLIB_MOUNT = "/opt/lmlib-grader"
HOME = "/home/student"
JOB_PATH = "/job/job.json"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission."""

    notebook_timeout: float = 300.0  # seconds of wall time for the student's cells
    cell_timeout: float = 60.0  # seconds per cell (the cell is interrupted, the rest still runs)
    memory_bytes: int = 4 * 1024**3  # address space per process
    processes: int = 128  # processes and threads of the sandbox's user
    file_bytes: int = 64 * 1024**2  # largest file it may write
    disk_bytes: int = 256 * 1024**2  # size of each of its two tmpfs (home, /tmp)
    output_bytes: int = 2_000_000  # output per cell before it is interrupted
    threads: int = 1  # BLAS/OpenMP threads of its kernel

    @property
    def wall_seconds(self) -> float:
        """When the grader kills the sandbox: the cells' budget, the answer reading, start-up."""
        return self.notebook_timeout + 2 * self.cell_timeout + 60


class SandboxUnavailable(RuntimeError):
    """Bubblewrap is missing or cannot create its namespaces here."""


def _python_roots() -> list[str]:
    """The directories the interpreter and its packages live in (bound read-only into the sandbox)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    import site

    for path in site.getsitepackages():
        if os.path.isdir(path):
            roots.add(path)
    kept = []
    for root in sorted(roots, key=len):
        real = os.path.realpath(root)
        if real == "/" or not os.path.isdir(real):
            continue
        if any(real == k or real.startswith(k + os.sep) for k in kept):
            continue
        kept.append(real)
    return kept


def _system_binds() -> list[str]:
    args: list[str] = []
    for path in ("/usr", "/etc", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _parents(path: str) -> list[str]:
    """Create ``path``'s parent directories traversable by the sandbox's user (bwrap's default is 0700)."""
    args: list[str] = []
    parts = Path(path).parts[1:-1]
    for i in range(len(parts)):
        args += ["--perms", "0755", "--dir", "/" + "/".join(parts[: i + 1])]
    return args


def lmlib_dir() -> str:
    """The lmlib package the grader itself runs (never one from a submission's folder)."""
    return os.path.realpath(os.path.dirname(lmlib.__file__))


def _environment(limits: Limits) -> dict[str, str]:
    threads = str(max(1, limits.threads))
    return {
        "HOME": HOME, "USER": "student", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
        "PYTHONPATH": LMLIB_MOUNT, "PYTHONSAFEPATH": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1", "JUPYTER_DATA_DIR": "/tmp/jupyter-data", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
        "JUPYTER_CONFIG_DIR": "/tmp/jupyter-config", "JUPYTER_PLATFORM_DIRS": "1", "IPYTHONDIR": "/tmp/ipython",
        "MPLCONFIGDIR": "/tmp/matplotlib", "MPLBACKEND": "agg", "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MALLOC_ARENA_MAX": "2",
        "TMPDIR": "/tmp", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def bwrap_command(job_fd: int, uid: int | None, limits: Limits) -> list[str]:
    """The bubblewrap command line that runs the runner on the job read from ``job_fd``.

    ``uid`` is the numeric user the runner drops to (as root); None runs bwrap as the calling user in a
    user namespace.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    size = str(limits.disk_bytes)
    cmd = [bwrap, "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
           "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grader", "--clearenv"]
    if uid is None:
        cmd += ["--unshare-user", "--uid", "1000", "--gid", "1000", "--disable-userns"]
    # /tmp's tmpfs first: mounted after them, it would hide an interpreter or venv that lives under /tmp
    cmd += _system_binds() + ["--size", size, "--perms", "1777", "--tmpfs", "/tmp"]
    for root in _python_roots():
        if not root.startswith(("/usr/", "/etc/")):
            cmd += _parents(root) + ["--ro-bind", root, root]
    cmd += _parents(f"{LMLIB_MOUNT}/lmlib") + ["--ro-bind", lmlib_dir(), f"{LMLIB_MOUNT}/lmlib",
            "--proc", "/proc", "--dev", "/dev",
            "--size", size, "--perms", "0777", "--tmpfs", HOME,
            "--dir", "/job", "--perms", "0444", "--file", str(job_fd), JOB_PATH,
            "--chdir", HOME]
    for key, value in _environment(limits).items():
        cmd += ["--setenv", key, value]
    cmd.append("--")
    if uid is not None:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise SandboxUnavailable("setpriv (util-linux) is needed to drop to an unprivileged user")
        cmd += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs"]
    cmd += [sys.executable, "-m", "lmlib.exercises.grading.runner", JOB_PATH]
    return cmd


def _limit_resources(limits: Limits, nproc: int) -> None:
    """Runs in the child before exec: limits every process of the sandbox inherits."""
    for name, value in (("RLIMIT_AS", limits.memory_bytes), ("RLIMIT_NPROC", nproc),
                        ("RLIMIT_FSIZE", limits.file_bytes), ("RLIMIT_NOFILE", 1024), ("RLIMIT_CORE", 0),
                        ("RLIMIT_CPU", int(limits.wall_seconds) + 30)):
        resource.setrlimit(getattr(resource, name), (value, value))


_PROBE: dict[str, Any] = {}


def probe() -> str:
    """How submissions can be sandboxed here: ``"root"`` or ``"user"``; raises ``SandboxUnavailable``."""
    if "mode" in _PROBE:
        return _PROBE["mode"]
    if "error" in _PROBE:
        raise SandboxUnavailable(_PROBE["error"])
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        _PROBE["error"] = "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
        raise SandboxUnavailable(_PROBE["error"])
    mode = "root" if os.geteuid() == 0 else "user"
    base = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--clearenv"]
    if mode == "user":
        base += ["--unshare-user"]
    base += _system_binds() + ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--"]
    test = ["/bin/sh", "-c", "test ! -e /root/.bash_history && echo sandbox-ok"]
    if mode == "root":
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            _PROBE["error"] = "setpriv (util-linux) is not installed"
            raise SandboxUnavailable(_PROBE["error"])
        test = [setpriv, "--reuid=64999", "--regid=64999", "--clear-groups", "--inh-caps=-all", *test]
    try:
        done = subprocess.run(base + test, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        _PROBE["error"] = f"bubblewrap failed to start: {err}"
        raise SandboxUnavailable(_PROBE["error"]) from None
    if done.returncode != 0 or "sandbox-ok" not in done.stdout:
        _PROBE["error"] = f"bubblewrap cannot create a sandbox here: {(done.stderr or done.stdout).strip()[:300]}"
        raise SandboxUnavailable(_PROBE["error"])
    _PROBE["mode"] = mode
    return mode


@dataclass
class RunOutcome:
    """What came back from one sandbox run: the runner's stdout (capped) and how it ended."""

    stdout: str
    stderr: str
    returncode: int | None
    timed_out: bool
    seconds: float


def _count_processes(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def run_sandboxed(job_json: str, slot: int, limits: Limits, unsafe: bool = False, uid_base: int = 61000,
                  max_stdout: int = 8_000_000) -> RunOutcome:
    """Run the runner on ``job_json`` in a fresh sandbox (or, with ``unsafe``, directly) and wait for it."""
    started = time.monotonic()
    workdir = None
    if unsafe:
        workdir = tempfile.mkdtemp(prefix="lmlib-grade-")
        job_path = os.path.join(workdir, "job.json")
        Path(job_path).write_text(job_json, encoding="utf-8")
        env = _environment(limits)
        env.update(HOME=workdir, TMPDIR=workdir, PYTHONPATH=os.path.dirname(lmlib_dir()),
                   JUPYTER_DATA_DIR=f"{workdir}/jupyter-data", JUPYTER_RUNTIME_DIR=f"{workdir}/jupyter-runtime",
                   JUPYTER_CONFIG_DIR=f"{workdir}/jupyter-config", IPYTHONDIR=f"{workdir}/ipython",
                   MPLCONFIGDIR=f"{workdir}/matplotlib")
        cmd = [sys.executable, "-m", "lmlib.exercises.grading.runner", job_path]
        nproc = _count_processes(os.getuid()) + limits.processes
        read_fd = None
        cwd = workdir
    else:
        mode = probe()
        uid = uid_base + slot if mode == "root" else None
        read_fd, write_fd = os.pipe()
        data = job_json.encode("utf-8")
        if len(data) > 60_000:  # larger than a pipe buffer: write from a thread while bwrap reads
            import threading

            def feed() -> None:
                with os.fdopen(write_fd, "wb") as fh:
                    try:
                        fh.write(data)
                    except BrokenPipeError:
                        pass

            threading.Thread(target=feed, daemon=True).start()
        else:
            os.write(write_fd, data)
            os.close(write_fd)
        cmd = bwrap_command(read_fd, uid, limits)
        env = {"PATH": "/usr/bin:/bin"}
        nproc = limits.processes if mode == "root" else _count_processes(os.getuid()) + limits.processes
        cwd = "/"
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, cwd=cwd, start_new_session=True,
                                pass_fds=(read_fd,) if read_fd is not None else (),
                                preexec_fn=lambda: _limit_resources(limits, nproc))
    finally:
        if read_fd is not None:
            os.close(read_fd)
    out, err, timed_out = _communicate(proc, limits.wall_seconds, max_stdout)
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return RunOutcome(out, err, proc.returncode, timed_out, round(time.monotonic() - started, 2))


def _communicate(proc: subprocess.Popen, timeout: float, max_bytes: int) -> tuple[str, str, bool]:
    """Read stdout and stderr (each capped at ``max_bytes``) until the process ends or ``timeout`` passes."""
    import selectors

    chunks: dict[Any, list[bytes]] = {proc.stdout: [], proc.stderr: []}
    sizes = {proc.stdout: 0, proc.stderr: 0}
    sel = selectors.DefaultSelector()
    for stream in chunks:
        sel.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    timed_out = False
    while sel.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in sel.select(timeout=min(remaining, 1.0)):
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fileobj)
                continue
            if sizes[key.fileobj] < max_bytes:
                chunks[key.fileobj].append(data[: max_bytes - sizes[key.fileobj]])
            sizes[key.fileobj] += len(data)
    sel.close()
    _kill_group(proc)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    for stream in chunks:
        stream.close()
    decode = lambda parts: b"".join(parts).decode("utf-8", errors="replace")  # noqa: E731
    return decode(chunks[proc.stdout]), decode(chunks[proc.stderr]), timed_out


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the sandbox's process group (bwrap's PID namespace takes every process inside with it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
