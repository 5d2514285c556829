"""Runs one submission inside the sandbox: its code cells in a fresh kernel, then reads its answers.

``python -m lmlib.exercises.grading.runner JOB.json`` starts a kernel next to itself (both inside the
sandbox; they talk over loopback), runs the submission's code cells in order from a clean state (the
grader passes only their sources: no stored output ever reaches a verdict), each under a time and an
output limit, then asks the kernel for each exercise's answer as data (``answers.record``). It prints one
line, ``RESULT_MARKER`` followed by JSON, and exits. Everything it prints is data for the grader, which
trusts none of it beyond what the answers themselves prove.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from queue import Empty
from typing import Any

RESULT_MARKER = "LMLIB-GRADER-RESULT "
KERNEL_NAME = "lmlib-grader"


def _write_kernelspec() -> None:
    """A kernel spec that runs this very interpreter (no user or system spec can point elsewhere)."""
    home = Path(os.environ.setdefault("JUPYTER_DATA_DIR", "/tmp/jupyter-data"))
    spec_dir = home / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--HistoryManager.enabled=False"],
            "display_name": "lmlib grader", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


class Kernel:
    """A kernel and a blocking client, with per-cell time and output limits."""

    def __init__(self, cwd: str, startup_timeout: float = 60) -> None:
        from jupyter_client.manager import KernelManager

        _write_kernelspec()
        self.km = KernelManager(kernel_name=KERNEL_NAME)
        self.km.start_kernel(cwd=cwd, stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=startup_timeout)

    def alive(self) -> bool:
        return bool(self.km.is_alive())

    def run(self, code: str, timeout: float, max_output: int, want_mime: str | None = None) -> dict[str, Any]:
        """Run ``code``: its status (ok/error/timeout/died/output), error, output size and ``want_mime`` data."""
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        started = time.monotonic()
        deadline = started + timeout
        out: dict[str, Any] = {"status": "ok", "output_bytes": 0}
        captured: list[Any] = []
        interrupted_at: float | None = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and (now > deadline or out["output_bytes"] > max_output):
                out["status"] = "timeout" if now > deadline else "output"
                self.km.interrupt_kernel()
                interrupted_at = now
            if interrupted_at is not None and now - interrupted_at > 10:
                out["status"] = "unresponsive"
                self.shutdown()
                break
            try:
                msg = self.kc.get_iopub_msg(timeout=0.5)
            except Empty:
                if not self.alive():
                    out["status"] = "died"
                    break
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                break
            if kind == "stream":
                out["output_bytes"] += len(content.get("text", ""))
            elif kind in ("display_data", "execute_result", "update_display_data"):
                data = content.get("data", {})
                out["output_bytes"] += sum(len(json.dumps(v)) for v in data.values())
                if want_mime and want_mime in data:
                    captured.append(data[want_mime])
            elif kind == "error":
                if out["status"] == "ok":
                    out["status"] = "error"
                out["error"] = f"{content.get('ename', '')}: {content.get('evalue', '')}"[:500]
        if captured:
            out["data"] = captured[-1]
        out["seconds"] = round(time.monotonic() - started, 2)
        return out

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - the sandbox ends anyway
            pass


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    from .answers import ANSWER_MIME

    started = time.monotonic()
    cells = [str(c) for c in job["cells"]]
    cell_timeout = float(job.get("cell_timeout", 60))
    notebook_timeout = float(job.get("notebook_timeout", 300))
    max_output = int(job.get("max_output_bytes", 2_000_000))
    result: dict[str, Any] = {"cells": [], "answers": {}, "stopped": None}
    kernel = Kernel(cwd=os.getcwd())
    result["kernel_start_seconds"] = round(time.monotonic() - started, 2)
    try:
        for index, source in enumerate(cells):
            remaining = notebook_timeout - (time.monotonic() - started)
            if remaining <= 0:
                result["stopped"] = f"the notebook ran past its {notebook_timeout:g} s limit before cell {index + 1}"
                break
            if not source.strip():
                continue
            outcome = kernel.run(source, min(cell_timeout, remaining), max_output)
            outcome["cell"] = index + 1
            result["cells"].append(outcome)
            if outcome["status"] == "died":
                result["stopped"] = f"the kernel died in code cell {index + 1} (it exited or ran out of memory)"
                break
            if outcome["status"] == "unresponsive":
                result["stopped"] = f"code cell {index + 1} did not stop when interrupted"
                break
        if result["stopped"] is None:
            for exercise_id in job["exercises"]:
                code = ("import lmlib.exercises.grading.answers as _lmlib_grader_answers\n"
                        f"_lmlib_grader_answers.emit({exercise_id!r}, get_ipython().user_ns, {job.get('student')!r})")
                outcome = kernel.run(code, cell_timeout, max_output, want_mime=ANSWER_MIME)
                record = outcome.get("data")
                if outcome["status"] in ("died", "unresponsive"):
                    result["answers"][exercise_id] = {"status": "timeout" if outcome["status"] == "unresponsive" else "died"}
                    result["stopped"] = f"the kernel died while exercise {exercise_id}'s answer was read"
                    break
                if outcome["status"] in ("timeout", "output"):
                    result["answers"][exercise_id] = {"status": "timeout" if outcome["status"] == "timeout" else "output"}
                elif isinstance(record, dict):
                    result["answers"][exercise_id] = record
                else:
                    result["answers"][exercise_id] = {"status": "error", "message": outcome.get("error", "no answer record")}
    finally:
        kernel.shutdown()
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    try:
        result = run_job(job)
    except Exception as err:  # noqa: BLE001 - report it to the grader as this submission's failure
        result = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    sys.stdout.write(RESULT_MARKER + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
