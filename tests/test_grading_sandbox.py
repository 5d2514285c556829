"""Adversarial submissions through the real grading path: a class of chapter-1 notebooks, some honest, most
attacks. Every attack must be contained (the run finishes within its limits, the other submissions score
as they should, no file outside its throwaway copy changes, no process survives) and score 0 where it
cheats. One grading run (module fixture) serves every test; each test checks one attack's row.

Skipped, with the reason, only where the bubblewrap sandbox cannot run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from lmlib import exercises
from lmlib.exercises.grading import sandbox

CELL_TIMEOUT, NOTEBOOK_TIMEOUT, WORKERS = 10, 45, 2


def _nb(*cells: str, outputs: dict[int, list] | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for index, outs in (outputs or {}).items():
        nb.cells[index].outputs = outs
    return nb


def _report(expr: str) -> str:
    """A cell that raises with a short JSON report: how an attack tells the test what it managed to do."""
    return f"import json\nraise RuntimeError('SCAN ' + json.dumps({expr}))"


RIGHT_BOOK = "answer_1_1 = 256\nanswer_1_2 = 12"


def _mallory() -> str:
    """A student id whose exercise 1.1 is not the book's 256 (so a forged 256 is wrong for her)."""
    for i in range(100):
        sid = f"mallory{i}"
        if exercises.params_for("1.1", sid)["vocab"] != 256:
            return sid
    raise AssertionError("no such id")


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and skip not in path.parents:
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _slot_processes() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
            except OSError:
                continue
            if 61000 <= uid < 61000 + WORKERS:
                pids.append(int(entry))
    return pids


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    try:
        mode = sandbox.probe()
    except sandbox.SandboxUnavailable as err:
        pytest.skip(f"bubblewrap sandbox unavailable here: {err}")
    root = tmp_path_factory.mktemp("class")
    subs, teacher, results = root / "submissions", root / "teacher", root / "results"
    subs.mkdir()
    teacher.mkdir()
    secret = "CLASSMATE_SECRET_" + hashlib.sha256(str(root).encode()).hexdigest()[:12]
    canary = "GRADER_CANARY_" + hashlib.sha256(str(root).encode()).hexdigest()[12:24]
    (teacher / "gradebook.txt").write_text("the teacher's own file\n")
    alice = exercises.params_for("1.1", "alice")["vocab"], len(exercises.params_for("1.2", "alice")["text"].encode())
    mallory = _mallory()
    carol_path, teacher_file, marker = subs / "carol.ipynb", teacher / "gradebook.txt", root / "planted-marker"
    wrong_display = ("from IPython.display import display\nfrom lmlib.exercises import Result\n"
                     "display(Result('1.1', True, 'right'))\ndisplay(Result('1.2', True, 'right'))\n"
                     "display({'application/vnd.lmlib.answer+json': {'exercise': '1.1', 'status': 'value', "
                     "'float': '256.0', 'int': '256'}}, raw=True)")
    notebooks = {
        # honest work
        "alice.ipynb": _nb(f"answer_1_1 = {alice[0]}\nanswer_1_2 = {alice[1]}"),
        "bob.ipynb": _nb("answer_1_1 = 5.545\nanswer_1_2 = 4"),
        "carol.ipynb": _nb(f"# {secret}\n" + RIGHT_BOOK),
        "ünïcödé 名前.ipynb": _nb(RIGHT_BOOK),
        # forged results
        "saved_outputs.ipynb": _nb("answer_1_1 = ...\nanswer_1_2 = ...", outputs={0: [nbformat.v4.new_output(
            "execute_result", data={"text/plain": "✔ Exercise 1.1: right"},
            metadata={"lmlib_check": {"exercise": "1.1", "passed": True}}, execution_count=1)]}),
        "os_exit.ipynb": _nb("import os\nos._exit(0)", RIGHT_BOOK),
        "forged_result.ipynb": _nb("answer_1_1 = 3\nanswer_1_2 = 3", wrong_display),
        "monkeypatch.ipynb": _nb(
            "answer_1_1 = 3\nanswer_1_2 = 3\n"
            "import lmlib.exercises._core as core\nimport lmlib.exercises.grading.answers as answers\n"
            "for ex in list(core.EXERCISES):\n    core.CHECKS[ex] = lambda *a: (True, 'right')\n"
            "core.grade_answer = lambda *a, **k: (True, 'right', 'right')\n"
            "answers.record = lambda ex, env, student=None: {'exercise': ex, 'status': 'right', 'passed': True}"),
        "fake_lmlib_in_copy.ipynb": _nb(
            "import os, sys\nos.makedirs('lmlib/exercises/grading', exist_ok=True)\n"
            "open('lmlib/__init__.py', 'w').close()\nopen('lmlib/exercises/__init__.py', 'w').close()\n"
            "open('lmlib/exercises/grading/__init__.py', 'w').close()\n"
            "open('lmlib/exercises/grading/answers.py', 'w').write('''\n"
            "from IPython.display import display\n"
            "def emit(ex, env, student=None):\n"
            "    display({'application/vnd.lmlib.answer+json': {'exercise': ex, 'status': 'value', 'float': '256.0', "
            "'int': '256'}}, raw=True)\n''')\n"
            "for name in [m for m in sys.modules if m.startswith('lmlib')]:\n    del sys.modules[name]\n"
            "sys.path.insert(0, os.getcwd())\nanswer_1_1 = 3"),
        # a bad file, odd and extra ids, deleted checks, errors
        "truncated.ipynb": None,
        "odd_ids.ipynb": _nb("from lmlib.exercises import Result\nfrom IPython.display import display\n"
                             "display(Result('1.1b', True, 'right'))\ndisplay(Result('2.2b', True, 'right'))\n"
                             "answer_1_1 = 7\nanswer_1_2 = 7", "from lmlib.exercises import check\ncheck('2.2b', 1)"),
        "extra_ids.ipynb": _nb("from lmlib.exercises import Result\nfrom IPython.display import display\n"
                               "for e in ['1.9', '2.1', '9.9']:\n    display(Result(e, True, 'right'))\n" + RIGHT_BOOK),
        "deleted_checks.ipynb": _nb("answer_1_1 = 256"),
        "exception.ipynb": _nb("1 / 0", "answer_1_1 = 256", "answer_1_2 = undefined_name"),
        # resource attacks
        "infinite_loop.ipynb": _nb("answer_1_1 = 256", "while True:\n    pass", "answer_1_2 = 12"),
        "stubborn_loop.ipynb": _nb(RIGHT_BOOK, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                               "while True:\n    pass"),
        "big_print.ipynb": _nb("print('x' * 150_000_000)", RIGHT_BOOK),
        "fork_bomb.ipynb": _nb(RIGHT_BOOK, "import os\nwhile True:\n    try:\n        os.fork()\n"
                                           "    except OSError:\n        pass"),
        "memory_hog.ipynb": _nb("blocks = [bytearray(8 * 1024**3)]",
                                "blocks = []\nwhile True:\n    blocks.append(bytearray(200 * 1024**2))", RIGHT_BOOK),
        "disk_filler.ipynb": _nb("with open('big.bin', 'wb') as fh:\n    for _ in range(1000):\n"
                                 "        fh.write(b'0' * 1024**2)", RIGHT_BOOK),
        # escaping the copy
        "read_classmates.ipynb": _nb(
            "import os, sys\nfound = []\nskip = ('/proc', '/sys', '/dev', '/usr', '/etc', sys.prefix, sys.base_prefix)\n"
            "for top in ['/', '/tmp', '/home', '/root', '/work']:\n"
            "    for d, dirs, files in os.walk(top):\n"
            "        dirs[:] = [x for x in dirs if not os.path.join(d, x).startswith(skip)]\n"
            "        for f in files:\n            p = os.path.join(d, f)\n"
            "            if f.endswith('.ipynb'):\n                found.append(p)\n"
            "            try:\n                if f.endswith('.ipynb') and " + repr(secret) + " in open(p).read():\n"
            "                    found.append('SECRET:' + p)\n            except OSError:\n                pass",
            _report("{'notebooks': len(found), 'secret': any(f.startswith('SECRET:') for f in found), "
                    f"'classmate_visible': os.path.exists({str(carol_path)!r})}}")),
        "vandal.ipynb": _nb(
            "import os\ndone = []\n"
            f"for path in [{str(teacher_file)!r}, {str(carol_path)!r}]:\n"
            "    try:\n        os.remove(path)\n        done.append('removed ' + path)\n    except OSError:\n        pass\n"
            "    try:\n        open(path, 'w').write('vandalised')\n        done.append('wrote ' + path)\n"
            "    except OSError:\n        pass\n"
            f"for path in ['/etc/vandal', '/usr/vandal', '/root/vandal', {str(results / 'grades.csv')!r}, "
            f"{str(root / 'vandal')!r}]:\n"
            "    try:\n        open(path, 'w').write('x')\n        done.append('wrote ' + path)\n    except OSError:\n        pass",
            _report("{'done': done}")),
        "spy.ipynb": _nb(
            "import os\ntexts = [str(os.environ)]\n"
            "for pid in os.listdir('/proc'):\n    if pid.isdigit():\n"
            "        for part in ('cmdline', 'environ'):\n            try:\n"
            "                texts.append(open(f'/proc/{pid}/{part}', 'rb').read().decode(errors='replace'))\n"
            "            except OSError:\n                pass\n"
            "blob = '\\n'.join(texts)\n"
            "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
            f"found = {{'canary': {canary!r} in blob, 'submissions_path': {str(subs)!r} in blob, "
            f"'teacher_path': {str(teacher)!r} in blob, 'uid': os.getuid(), 'processes': len(pids)}}",
            _report("found")),
        "network.ipynb": _nb(
            "import socket\nreached = []\n"
            "for host, port in [('1.1.1.1', 53), ('8.8.8.8', 443), ('pypi.org', 443)]:\n"
            "    try:\n        socket.create_connection((host, port), timeout=2).close()\n"
            "        reached.append(host)\n    except OSError:\n        pass",
            _report("{'reached': reached}")),
        "lingering.ipynb": _nb(
            "import os, subprocess, time\n"
            f"targets = [{str(results / 'results.jsonl')!r}, {str(results / 'grades.csv')!r}, {str(root / 'late')!r}]\n"
            "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        for _ in range(40):\n"
            "            time.sleep(0.5)\n            for t in targets:\n                try:\n"
            "                    open(t, 'a').write('FAKE 2/2\\n')\n                except OSError:\n"
            "                    pass\n    os._exit(0)\n"
            "subprocess.Popen(['sh', '-c', 'sleep 2; echo FAKE >> " + str(results / "grades.csv") + "'], "
            "start_new_session=True)\nanswer_1_1 = 3"),
        "kill_runner.ipynb": _nb("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", RIGHT_BOOK),
        "planted_lmlib.ipynb": _nb("import lmlib.exercises\nanswer_1_1 = 3\nanswer_1_2 = 3"),
    }
    for name, nb in notebooks.items():
        if nb is None:
            (subs / name).write_text('{"cells": [{"cell_type": "code", "sou')
        else:
            nbformat.write(nb, subs / name)
    planted = subs / "lmlib"
    (planted / "exercises").mkdir(parents=True)
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('planted lmlib was imported')\n")
    (planted / "exercises" / "__init__.py").write_text("def check(*a, **k):\n    return True\n")
    roster = root / "roster.csv"
    roster.write_text("file,student\nalice.ipynb,alice\nfake_lmlib_in_copy.ipynb," + mallory + "\n")
    before = _snapshot(root, results)
    os.environ["LMLIB_TEST_CANARY"] = canary  # in the grader's environment: must not reach a submission
    started = time.monotonic()
    try:
        status = exercises.main(["grade", str(subs), "--chapter", "1", "-o", str(results), "--workers", str(WORKERS),
                                 "--timeout", str(NOTEBOOK_TIMEOUT), "--cell-timeout", str(CELL_TIMEOUT),
                                 "--memory-mb", "2048", "--roster", str(roster)])
    finally:
        os.environ.pop("LMLIB_TEST_CANARY", None)
    seconds = time.monotonic() - started
    rows_at_exit = (results / "results.jsonl").read_text(encoding="utf-8")
    csv_at_exit = (results / "grades.csv").read_text(encoding="utf-8")
    time.sleep(4)  # give any lingering process the time to strike
    rows = [json.loads(line) for line in (results / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {"rows": {r["file"]: r for r in rows}, "status": status, "seconds": seconds, "mode": mode,
            "before": before, "after": _snapshot(root, results), "root": root, "results": results,
            "rows_at_exit": rows_at_exit, "csv_at_exit": csv_at_exit, "marker": marker, "mallory": mallory,
            "names": list(notebooks)}


def _row(run, name):
    return run["rows"][name]


def _scan(row) -> dict:
    for cell in row["cells"]:
        if "SCAN " in cell.get("error", ""):
            return json.loads(cell["error"].split("SCAN ", 1)[1])
    raise AssertionError(f"the attack did not report: {row['cells']}")


def _status(row, ex):
    return next(e for e in row["exercises"] if e["exercise"] == ex)


def test_every_submission_has_one_row_and_the_exit_status_says_some_were_not_graded(class_run):
    rows = class_run["rows"]
    assert sorted(rows) == sorted(class_run["names"])  # the planted lmlib/ folder holds no notebook
    assert class_run["status"] == 1  # the truncated file and the killed runner were not graded
    assert {n for n, r in rows.items() if not r["graded"]} == {"truncated.ipynb", "kill_runner.ipynb"}
    assert all(r["possible"] == 2 for r in rows.values())  # one fixed denominator: 1.1 and 1.2, 1 point each
    # the whole class ran well inside its limits, one notebook per sandbox, two at a time
    assert class_run["seconds"] < len(rows) * (NOTEBOOK_TIMEOUT + 3 * CELL_TIMEOUT + 60) / WORKERS


def test_honest_work_is_scored_right_beside_the_attacks(class_run):
    assert _row(class_run, "alice.ipynb")["score"] == 2 and _row(class_run, "alice.ipynb")["student"] == "alice"
    bob = _row(class_run, "bob.ipynb")
    assert bob["score"] == 0 and bob["graded"]
    assert "in nats" in _status(bob, "1.1")["message"] and "characters" in _status(bob, "1.2")["message"]
    assert _row(class_run, "carol.ipynb")["score"] == 2
    assert _row(class_run, "ünïcödé 名前.ipynb")["score"] == 2
    written = _status(_row(class_run, "alice.ipynb"), "1.3")
    assert written["status"] == "manual" and written["max_points"] == 2


@pytest.mark.parametrize("name", ["saved_outputs.ipynb", "os_exit.ipynb", "forged_result.ipynb", "monkeypatch.ipynb",
                                  "fake_lmlib_in_copy.ipynb", "odd_ids.ipynb", "planted_lmlib.ipynb",
                                  "lingering.ipynb", "read_classmates.ipynb", "vandal.ipynb", "spy.ipynb",
                                  "network.ipynb", "kill_runner.ipynb", "stubborn_loop.ipynb"])
def test_cheats_score_zero(class_run, name):
    assert _row(class_run, name)["score"] == 0, _row(class_run, name)


def test_stored_outputs_and_forged_displays_count_for_nothing(class_run):
    assert _status(_row(class_run, "saved_outputs.ipynb"), "1.1")["status"] == "unanswered"
    forged = _row(class_run, "forged_result.ipynb")
    assert [_status(forged, e)["status"] for e in ("1.1", "1.2")] == ["wrong", "wrong"]
    patched = _row(class_run, "monkeypatch.ipynb")
    assert "malformed" in _status(patched, "1.1")["message"]  # a record claiming 'right' is not an answer
    # a forged record in her own kernel claims 256, the book's answer; her own variant's answer differs
    fake = _row(class_run, "fake_lmlib_in_copy.ipynb")
    assert fake["student"] == class_run["mallory"] and _status(fake, "1.1")["status"] == "wrong"


def test_a_dead_kernel_scores_zero_and_says_why(class_run):
    row = _row(class_run, "os_exit.ipynb")
    assert row["graded"] and "kernel died in code cell 1" in row["reason"]
    assert "kernel died" in _status(row, "1.1")["message"]
    killed = _row(class_run, "kill_runner.ipynb")
    assert not killed["graded"] and "without a result" in killed["reason"]


def test_bad_files_odd_and_extra_ids_and_missing_checks(class_run):
    bad = _row(class_run, "truncated.ipynb")
    assert not bad["graded"] and "invalid JSON" in bad["reason"]
    assert [e["status"] for e in bad["exercises"]] == ["not run", "not run", "manual"]
    odd = _row(class_run, "odd_ids.ipynb")
    assert odd["graded"] and any("no exercise '2.2b'" in c["error"] for c in odd["cells"])
    extra = _row(class_run, "extra_ids.ipynb")
    assert (extra["score"], extra["possible"]) == (2, 2)
    deleted = _row(class_run, "deleted_checks.ipynb")  # no check() calls at all: still graded, 1.2 missing
    assert deleted["score"] == 1 and _status(deleted, "1.2")["status"] == "missing"


def test_exceptions_are_reported_and_the_rest_still_counts(class_run):
    row = _row(class_run, "exception.ipynb")
    assert row["score"] == 1
    assert [c["error"].split(":")[0] for c in row["cells"]] == ["ZeroDivisionError", "NameError"]
    assert "NameError" in _status(row, "1.2")["message"] and _status(row, "1.2")["status"] == "missing"


def test_time_output_process_memory_and_disk_limits(class_run):
    loop = _row(class_run, "infinite_loop.ipynb")
    assert loop["score"] == 2 and [c["status"] for c in loop["cells"]] == ["timeout"]  # interrupted, rest ran
    stubborn = _row(class_run, "stubborn_loop.ipynb")
    assert "did not stop when interrupted" in stubborn["reason"]
    big = _row(class_run, "big_print.ipynb")
    assert big["score"] == 2 and big["cells"][0]["status"] == "output"
    bomb = _row(class_run, "fork_bomb.ipynb")
    assert bomb["graded"] and bomb["cells"] and bomb["cells"][0]["status"] in ("timeout", "unresponsive", "error")
    hog = _row(class_run, "memory_hog.ipynb")
    assert hog["score"] == 2 and hog["cells"][0]["error"].startswith("MemoryError")  # the address-space limit
    # growing step by step it meets the same limit, or the cell's time limit first on a loaded machine
    assert hog["cells"][1]["error"].startswith(("MemoryError", "KeyboardInterrupt"))
    disk = _row(class_run, "disk_filler.ipynb")
    assert disk["score"] == 2 and ("File too large" in disk["cells"][0]["error"] or "No space" in disk["cells"][0]["error"])


def test_no_submission_reads_or_changes_anything_outside_its_copy(class_run):
    classmates = _scan(_row(class_run, "read_classmates.ipynb"))
    assert classmates == {"notebooks": 0, "secret": False, "classmate_visible": False}
    assert _scan(_row(class_run, "vandal.ipynb")) == {"done": []}
    assert class_run["after"] == class_run["before"]  # every file outside the results folder, byte for byte
    assert not (class_run["root"] / "vandal").exists() and not (class_run["root"] / "late").exists()
    assert not class_run["marker"].exists()  # the planted lmlib/ folder was never imported


def test_the_grader_is_invisible_and_the_network_unreachable(class_run):
    spy = _scan(_row(class_run, "spy.ipynb"))
    assert spy["canary"] is False and spy["submissions_path"] is False and spy["teacher_path"] is False
    assert spy["uid"] >= 1000 and spy["processes"] < 10  # an unprivileged user that sees only its sandbox
    assert _scan(_row(class_run, "network.ipynb")) == {"reached": []}


def test_nothing_survives_the_run(class_run):
    results = class_run["results"]
    assert (results / "results.jsonl").read_text(encoding="utf-8") == class_run["rows_at_exit"]
    assert (results / "grades.csv").read_text(encoding="utf-8") == class_run["csv_at_exit"]
    assert "FAKE" not in class_run["csv_at_exit"]
    assert _slot_processes() == []
    feedback = sorted((results / "feedback").glob("*.md"))
    assert len(feedback) == len(class_run["rows"])


@pytest.mark.parametrize("uid", [None, 1000])
def test_an_interpreter_under_tmp_stays_visible_in_the_sandbox(monkeypatch, uid):
    # The sandbox's private /tmp used to be mounted after the interpreter's read-only binds, so a venv
    # under /tmp (as scripts/compat.py makes) vanished and nothing was graded ("setpriv: failed to execute").
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(sandbox, "_python_roots", lambda: ["/tmp/venvs/py3.10", "/opt/python3.10"])
    cmd = sandbox.bwrap_command(3, uid, sandbox.Limits())
    pairs = list(zip(cmd, cmd[1:]))
    tmpfs_tmp = pairs.index(("--tmpfs", "/tmp"))
    venv_bind = [i for i, pair in enumerate(pairs) if pair == ("--ro-bind", "/tmp/venvs/py3.10")]
    assert venv_bind and tmpfs_tmp < venv_bind[0]
    assert ("--ro-bind", "/opt/python3.10") in pairs
