"""The debugger, driven by a person or by a script: post-mortem sessions and breakpoints with ``pdb``.

Chapter 7 (section 7.2.2, debugging) finds two bugs in a small training script with these helpers.
When a person can type (a live Jupyter, Colab or VS Code kernel, or a terminal), they open the real,
interactive debugger: ``post_mortem`` is then what IPython's ``%debug`` magic does. When nobody can
type (the run that stores the book's outputs, the tests, a teacher's grading run), the same debugger
reads its commands from a list and returns the session as text, so the page shows a real session.
"""

from __future__ import annotations

import bdb
import io
import os
import pdb
import re
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Sequence

__all__ = ["can_type", "remember", "post_mortem", "run_with_breakpoint", "ScriptedPdb", "shorten_paths", "line_of"]

BOOK_MODE_ENV = "LMLIB_BOOK_MODE"  # set by the book's execution script and by the tests (see lmlib.plotting)


def can_type() -> bool:
    """True when a person can answer the debugger's prompt: not while the book's outputs are being made,
    and only where the frontend accepts input (a Jupyter kernel that allows stdin, or a terminal)."""
    if os.environ.get(BOOK_MODE_ENV, "") == "1":
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        return bool(getattr(kernel, "_allow_stdin", False))
    return sys.stdin is not None and sys.stdin.isatty()


def remember(error: BaseException) -> None:
    """Record ``error`` as the last uncaught exception, so ``%debug`` and ``pdb.pm()`` can open it.

    A notebook cell that catches an exception (so the page shows no traceback) calls this to keep the
    post-mortem route open, exactly as if the exception had ended the cell.
    """
    sys.last_type, sys.last_value, sys.last_traceback = type(error), error, error.__traceback__
    if sys.version_info >= (3, 12):
        sys.last_exc = error


_PATH = re.compile(r"(?P<path>(?:[A-Za-z]:)?[/\\][^\s()'\"<>]*?\.py\b)(?:\((?P<line>\d+)\))?")


def shorten_paths(text: str, keep_lines_in: Sequence[str] = ()) -> str:
    """Replace every absolute path to a ``.py`` file in ``text`` by its file name. Line numbers in files
    whose names are not in ``keep_lines_in`` (the libraries' own files, which change between releases)
    become ``…``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    keep = set(keep_lines_in)

    def short(match: re.Match) -> str:
        name = re.split(r"[/\\]", match.group("path"))[-1]
        line = match.group("line")
        if line is None:
            return name
        return f"{name}({line if name in keep else '…'})"

    return _PATH.sub(short, text)


def line_of(file: str | os.PathLike, text: str) -> int:
    """The number (from 1) of the first line of ``file`` that contains ``text``: where to put a breakpoint
    without counting lines by hand."""
    for number, line in enumerate(Path(file).read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    raise ValueError(f"no line of {file} contains {text!r}")


def _stdlib_pdb() -> type:
    """The standard library's ``Pdb`` class. ipykernel replaces ``pdb.Pdb`` by IPython's colourful
    subclass; a transcript for the page wants plain text, so the original class is taken from its MRO."""
    for cls in pdb.Pdb.__mro__:
        if cls.__module__ == "pdb" and cls.__name__ == "Pdb":
            return cls
    return pdb.Pdb  # pragma: no cover - pdb.Pdb is always in its own MRO


class ScriptedPdb(_stdlib_pdb()):
    """The standard ``Pdb`` reading its commands from a list and echoing each after its prompt, as a
    terminal would show them."""

    def __init__(self, commands: Sequence[str]):
        self.transcript = io.StringIO()
        script = io.StringIO("".join(f"{c}\n" for c in commands))
        super().__init__(stdin=script, stdout=self.transcript, nosigint=True, readrc=False)
        self.use_rawinput = False
        self.prompt = "(Pdb) "

    def precmd(self, line: str) -> str:
        if not line.startswith("_pdbcmd"):  # pdb's own internal commands (Python 3.13+) are not typed by anyone
            self.stdout.write(line + "\n")  # the echo a terminal would show
        return super().precmd(line)

    def do_EOF(self, arg: str) -> bool:  # commands ran out: leave quietly, as 'quit' would
        self.stdout.write("\n")
        return self.do_quit(arg)


def _scripted_commands(commands: Sequence[str]) -> list[str]:
    commands = [c.strip() for c in commands if c.strip()]
    if not commands:
        raise ValueError("give the debugger at least one command, e.g. ['p x.shape', 'quit']")
    if commands[-1] not in ("q", "quit", "exit", "c", "continue", "cont"):
        commands.append("quit")
    return commands


def post_mortem(error: BaseException | TracebackType, commands: Sequence[str] = ("where", "quit"), *,
                interactive: bool | None = None, keep_lines_in: Sequence[str] = ()) -> str | None:
    """Open the debugger where ``error`` was raised (or at the end of a traceback).

    With a person at the keyboard (``interactive``, default ``can_type()``) this is ``%debug`` in IPython
    (``pdb.post_mortem`` elsewhere) and returns None. Otherwise ``commands`` are run and the session is
    returned as text, with paths shortened (``shorten_paths``).
    """
    tb = error.__traceback__ if isinstance(error, BaseException) else error
    if tb is None:
        raise ValueError("this exception has no traceback: pass an exception that was raised and caught")
    if interactive is None:
        interactive = can_type()
    if interactive:
        if isinstance(error, BaseException):
            remember(error)
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
        if shell is not None and isinstance(error, BaseException):
            shell.run_line_magic("debug", "")
        else:
            pdb.post_mortem(tb)
        return None
    debugger = ScriptedPdb(_scripted_commands(commands))
    debugger.reset()
    try:
        debugger.interaction(None, tb)
    except bdb.BdbQuit:
        pass
    return shorten_paths(debugger.transcript.getvalue(), keep_lines_in)


def run_with_breakpoint(func: Callable[..., Any], *args: Any, file: str | os.PathLike, line: int,
                        commands: Sequence[str] = ("where", "quit"), condition: str | None = None,
                        interactive: bool | None = None, keep_lines_in: Sequence[str] = (),
                        **kwargs: Any) -> str | None:
    """Call ``func(*args, **kwargs)`` with a breakpoint at ``file:line`` (optionally only when
    ``condition`` is true there), and debug from the first stop at it.

    Interactive (default ``can_type()``): you get the ``(Pdb)`` prompt and ``func``'s result is thrown
    away; returns None. Scripted: ``commands`` run from the first stop at the breakpoint (quitting ends
    ``func`` early) and the session is returned as text.
    """
    path = str(Path(file).resolve())
    if interactive is None:
        interactive = can_type()
    debugger = pdb.Pdb() if interactive else ScriptedPdb(["continue", *_scripted_commands(commands)])
    problem = debugger.set_break(path, line, cond=condition)
    if problem:
        raise ValueError(f"cannot set a breakpoint at {file}:{line}: {problem}")
    try:
        debugger.runcall(func, *args, **kwargs)
    except bdb.BdbQuit:
        pass
    finally:
        debugger.clear_all_breaks()
        sys.settrace(None)
    if interactive:
        return None
    text = debugger.transcript.getvalue()
    # drop the stop on func's first line that runcall makes before the first 'continue'
    first = text.find("(Pdb) continue\n")
    text = text[first + len("(Pdb) continue\n"):] if first >= 0 else text
    return shorten_paths(text, keep_lines_in)
