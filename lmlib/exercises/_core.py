"""The check machinery: the registry of exercises, ``check`` for students, and helpers checks share.

Each chapter's exercises live in ``lmlib/exercises/chN.py`` and register themselves with ``register``
(answered exercises, with a check) or ``register_written`` (written answers, graded by hand). The truth is
computed from lmlib, never stored as a bare number. An exercise may have per-student *variants*: its
numbers are drawn from a seed derived from the exercise and a student id, so that two students' answers
differ; with no student id it uses the book's own numbers.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Result", "Exercise", "check", "exercise", "exercise_ids", "chapter_exercises", "register",
           "register_written", "set_student", "current_student", "params_for", "METADATA_KEY", "Unanswered"]

METADATA_KEY = "lmlib_check"  # a check output's record of its result (display only; grading never reads it)

KINDS = ("number", "expression", "function", "text", "written")


class Unanswered(Exception):
    """Raised by a check when the answer is still the notebook's placeholder (``...``, a stub function)."""


@dataclass
class Result:
    """The outcome of one check: right, wrong or not answered yet, and what to tell the student."""

    exercise: str
    passed: bool
    message: str
    status: str = ""  # "right", "wrong" or "unanswered"

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "right" if self.passed else "wrong"

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict[str, Any], dict[str, Any]]:
        mark, colour, label = {
            "right": ("✔", "#1a7f37", f"Exercise {self.exercise}"),
            "wrong": ("✘", "#cf222e", f"Exercise {self.exercise}"),
            "unanswered": ("○", "#8c959f", f"Exercise {self.exercise}, not answered yet"),
        }[self.status]
        text = f"{mark} {label}: {self.message}"
        html = (
            f'<div class="lmlib-check lmlib-check-{self.status}" '
            f'style="border-left:4px solid {colour};padding:4px 8px">'
            f"<b>{mark} {_escape(label)}</b>: {_escape(self.message)}</div>"
        )
        data = {"text/plain": text, "text/html": html}
        record = {"exercise": self.exercise, "passed": self.passed, "status": self.status}
        return data, {METADATA_KEY: record}

    def __bool__(self) -> bool:
        return self.passed


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Exercise:
    """One exercise of the book: how its answer is given, checked and scored.

    ``kind`` is ``number``, ``expression`` (sympy), ``function`` (code the check calls), ``text`` (a string,
    e.g. a BibTeX entry) or ``written`` (graded by hand). ``answer`` names the variable (or function) that holds the student's answer in the
    notebook. ``variants`` draws a student's parameters from a seeded ``random.Random``; ``book`` holds
    the book's own parameters. ``describe`` words a variant for the student, ``solution`` gives code that
    computes the answer for given parameters (for the teacher's source notebook).
    """

    id: str
    kind: str
    answer: str | None
    points: float
    check: Callable[..., tuple[bool, str]] | None = None
    book: dict[str, Any] = field(default_factory=dict)
    variants: Callable[[random.Random], dict[str, Any]] | None = None
    describe: Callable[[dict[str, Any]], str] | None = None
    solution: Callable[[dict[str, Any]], str] | None = None
    brute_forceable: bool = False  # a yes/no check over a small answer space: limit the tries

    @property
    def chapter(self) -> str:
        return self.id.split(".")[0]

    def params(self, student: str | None = None) -> dict[str, Any]:
        """The parameters of this exercise for ``student`` (the book's own when None or no variants)."""
        if student is None or self.variants is None:
            return dict(self.book)
        return self.variants(variant_rng(self.id, student))

    def run_check(self, answer: Any, params: dict[str, Any]) -> tuple[bool, str]:
        if self.check is None:
            raise ValueError(f"exercise {self.id} is graded by hand; it has no check")
        if len(inspect.signature(self.check).parameters) >= 2:
            return self.check(answer, params)
        return self.check(answer)


EXERCISES: dict[str, Exercise] = {}
CHECKS: dict[str, Callable[..., tuple[bool, str]]] = {}  # id -> check function (kept for older callers)


APPENDIX_BASE = 1000  # appendix chapters (letters A, B, ...) sort after every numbered chapter


def chapter_key(chapter: str) -> int:
    """Sort key of a chapter: its number, or APPENDIX_BASE + 0, 1, ... for appendices "A", "B", ..."""
    if chapter.isdigit():
        return int(chapter)
    if len(chapter) == 1 and "A" <= chapter <= "Z":
        return APPENDIX_BASE + ord(chapter) - ord("A")
    raise ValueError(f"a chapter is a number or an appendix letter A-Z, got {chapter!r}")


def _sort_key(exercise_id: str) -> tuple[int, ...]:
    """("N.k" or "A.k") -> (chapter key, k); a malformed id raises ValueError."""
    chapter, sep, k = exercise_id.partition(".")
    if not sep or not k.isdigit():
        raise ValueError(f"an exercise id is 'N.k' or 'A.k' (chapter number or appendix letter, then a number), "
                         f"got {exercise_id!r}")
    return chapter_key(chapter), int(k)


def register(exercise_id: str, *, kind: str = "number", answer: str | None = None, points: float = 1,
             book: dict[str, Any] | None = None, variants: Callable[[random.Random], dict[str, Any]] | None = None,
             describe: Callable[[dict[str, Any]], str] | None = None,
             solution: Callable[[dict[str, Any]], str] | None = None,
             brute_forceable: bool = False) -> Callable:
    """Register the decorated function as the check of ``exercise_id`` (``"N.k"``).

    The check takes ``(answer)`` or ``(answer, params)`` and returns ``(passed, message)``; the message
    explains a mistake without giving the value away.
    """
    if kind not in KINDS or kind == "written":
        raise ValueError(f"kind must be one of {KINDS[:-1]} for a checked exercise, got {kind!r}")

    def wrap(fn: Callable[..., tuple[bool, str]]) -> Callable:
        EXERCISES[exercise_id] = Exercise(
            exercise_id, kind, answer or f"answer_{exercise_id.replace('.', '_')}", float(points), fn,
            dict(book or {}), variants, describe, solution, brute_forceable)
        CHECKS[exercise_id] = fn
        return fn

    _sort_key(exercise_id)  # a malformed id fails here, at import time
    return wrap


def register_written(exercise_id: str, points: float = 2) -> None:
    """Register a written exercise: no check; the teacher grades the answer by hand."""
    _sort_key(exercise_id)
    EXERCISES[exercise_id] = Exercise(exercise_id, "written", None, float(points))


def _load_all() -> None:
    from . import chapters  # noqa: F401  (registers every chapter's exercises)


def exercise(exercise_id: str) -> Exercise:
    """The registered exercise ``exercise_id``; a clear error for an unknown id."""
    _load_all()
    if not isinstance(exercise_id, str) or exercise_id not in EXERCISES:
        raise ValueError(f"no exercise {exercise_id!r}; the book's exercises are {exercise_ids(written=True)}")
    return EXERCISES[exercise_id]


def exercise_ids(written: bool = False) -> list[str]:
    """The exercises that have checks (and, with ``written=True``, the written ones), in book order."""
    _load_all()
    return sorted((e for e, ex in EXERCISES.items() if written or ex.kind != "written"), key=_sort_key)


def chapter_exercises(chapter: int | str) -> list[Exercise]:
    """The fixed list of chapter ``chapter``'s exercises, checked and written, in order."""
    _load_all()
    found = [EXERCISES[e] for e in exercise_ids(written=True) if EXERCISES[e].chapter == str(chapter)]
    if not found:
        chapters = sorted({ex.chapter for ex in EXERCISES.values()}, key=chapter_key)
        raise ValueError(f"chapter {chapter!r} has no exercises; chapters with exercises: {chapters}")
    return found


# ---- Students and variants ----------------------------------------------------------------------------

_STUDENT: list[str | None] = [None]


def _normalise_student(student: Any) -> str | None:
    if student is None or student is Ellipsis:
        return None
    if not isinstance(student, (str, int)) or isinstance(student, bool):
        raise TypeError(f"a student id is a string (or an int), got {type(student).__name__}")
    text = str(student).strip()
    if not text or len(text) > 200:
        raise ValueError("a student id must be 1 to 200 characters long")
    return text


def set_student(student: str | int | None) -> None:
    """Use ``student``'s own numbers in this notebook's exercises (None: the book's numbers)."""
    _STUDENT[0] = _normalise_student(student)


def current_student() -> str | None:
    return _STUDENT[0]


def variant_rng(exercise_id: str, student: str) -> random.Random:
    """A random generator seeded by the exercise and the student id (the same on every machine)."""
    digest = hashlib.sha256(f"lmlib exercise variant|{exercise_id}|{student.casefold()}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def params_for(exercise_id: str, student: str | None = ...) -> dict[str, Any]:  # type: ignore[assignment]
    """The parameters of ``exercise_id`` for ``student`` (default: the one set with ``set_student``)."""
    student = current_student() if student is ... else _normalise_student(student)
    return exercise(exercise_id).params(student)


def show_exercise(exercise_id: str, student: str | None = ...) -> "Variant":  # type: ignore[assignment]
    """Display the numbers of ``exercise_id`` for this student (set with ``set_student``)."""
    student = current_student() if student is ... else _normalise_student(student)
    ex = exercise(exercise_id)
    params = ex.params(student)
    text = ex.describe(params) if ex.describe else "this exercise is the same for everyone."
    return Variant(exercise_id, student, text)


@dataclass
class Variant:
    exercise: str
    student: str | None
    text: str

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        who = f"student {self.student}" if self.student else "the book's numbers (no student id set)"
        plain = f"Exercise {self.exercise}, {who}: {self.text}"
        html = (f'<div class="lmlib-variant" style="border-left:4px solid #0969da;padding:4px 8px">'
                f"<b>Exercise {_escape(self.exercise)}</b>, {_escape(who)}: {_escape(self.text)}</div>")
        return {"text/plain": plain, "text/html": html}


# ---- Checking -----------------------------------------------------------------------------------------

FREE_TRIES = 8  # distinct wrong answers to a yes/no exercise before the check slows down
_WRONG: dict[tuple[str, str | None], list[Any]] = {}
_LOCKED_UNTIL: dict[tuple[str, str | None], float] = {}


def _answer_key(answer: Any) -> Any:
    try:
        return round(float(answer), 9)
    except (TypeError, ValueError, OverflowError):
        return repr(answer)[:200]


def check(exercise_id: str, answer: Any, student: str | None = ...) -> Result:  # type: ignore[assignment]
    """Check ``answer`` to ``exercise_id`` (e.g. ``"5.2"``); the result displays itself in a notebook.

    ``student`` (default: the id given to ``set_student``) selects the student's own variant.
    """
    ex = exercise(exercise_id)
    if ex.kind == "written":
        raise ValueError(f"exercise {exercise_id} is a written answer: your teacher reads it, there is no check")
    student = current_student() if student is ... else _normalise_student(student)
    if answer is ...:
        return Result(exercise_id, False, "replace the ... with your answer, then run the cell again.", "unanswered")
    key = (exercise_id, student)
    if ex.brute_forceable and time.monotonic() < _LOCKED_UNTIL.get(key, 0.0):
        wait = _LOCKED_UNTIL[key] - time.monotonic()
        return Result(exercise_id, False, (f"{len(_WRONG[key])} different wrong answers so far: this check answers "
                                           f"again in {math.ceil(wait)} s. Work it out rather than guess."))
    passed, message, status = _evaluate(ex, answer, ex.params(student))
    if ex.brute_forceable and status == "wrong":
        tried = _WRONG.setdefault(key, [])
        if _answer_key(answer) not in tried:
            tried.append(_answer_key(answer))
        if len(tried) > FREE_TRIES:
            _LOCKED_UNTIL[key] = time.monotonic() + min(2.0 ** (len(tried) - FREE_TRIES), 3600.0)
    return Result(exercise_id, passed, message, status)


def _evaluate(ex: Exercise, answer: Any, params: dict[str, Any]) -> tuple[bool, str, str]:
    """Run ``ex``'s check on ``answer``: (passed, message, status), never raising for a bad answer."""
    try:
        passed, message = ex.run_check(answer, params)
    except Unanswered as err:
        return False, str(err), "unanswered"
    except Exception as err:  # a student's code may fail in any way: report it, don't crash the check
        text = str(err).splitlines()[0][:300] if str(err) else ""
        name = getattr(err, "student_type", type(err).__name__)  # a replayed error keeps the student's name
        return False, f"your answer raised {name}: {text}", "wrong"
    return bool(passed), str(message), "right" if passed else "wrong"


def grade_answer(exercise_id: str, answer: Any, student: str | None = None) -> tuple[bool, str, str]:
    """Grade ``answer`` to ``exercise_id`` for ``student``: (passed, message, status). No try limit."""
    ex = exercise(exercise_id)
    if answer is ...:
        return False, "not answered: the answer is still the placeholder ...", "unanswered"
    return _evaluate(ex, answer, ex.params(_normalise_student(student)))


def grade_in_kernel(exercise_id: str, env: dict[str, Any]) -> tuple[bool, str]:
    """For Otter's hidden tests: grade the answer variable of ``exercise_id`` found in ``env``."""
    ex = exercise(exercise_id)
    if ex.answer not in env:
        return False, f"no {ex.answer} in the notebook: its answer cell was deleted or renamed"
    student = env.get("STUDENT_ID")
    passed, message, _ = grade_answer(exercise_id, env[ex.answer], None if student is ... else student)
    return passed, message


# ---- Helpers the checks share -------------------------------------------------------------------------

def _grade(value: float, truth: float, rel_tol: float, right: str,
           mistakes: list[tuple[float, str]], otherwise: str) -> tuple[bool, str]:
    """Right when ``value`` is close to ``truth``; else the message of the first typical mistake it matches;
    else ``otherwise``."""
    if math.isclose(value, truth, rel_tol=rel_tol):
        return True, right
    for candidate, message in mistakes:
        if math.isclose(value, candidate, rel_tol=rel_tol):
            return False, message
    return False, otherwise


def _number(answer: Any) -> float:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) and not hasattr(answer, "__float__"):
        raise TypeError(f"expected a number, got {type(answer).__name__}")
    value = float(answer)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return value
