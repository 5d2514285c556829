"""Exercise checks for students, and the teacher's commands.

Every chapter ends with exercises. Where an answer is a number, an expression or code, the notebook calls
``check("5.2", answer)``, which tells the student what is right or wrong in it without giving the value
away. The truth is computed from lmlib, never stored as a bare number. Numeric exercises have per-student
variants: ``set_student("s123")`` switches a notebook to that student's numbers, ``show_exercise("2.1")``
shows them.

Layout: ``_core`` (the check machinery and the registry of exercises), ``chN`` (chapter N's exercises,
registered on import; ``chapters`` imports them all), ``teacher`` (student copies and the command line),
``grading`` (the Otter-Grader export and the sandboxed grader; ``python -m lmlib.exercises --help``).
"""

from __future__ import annotations

from . import chapters  # noqa: F401  (registers every chapter's exercises)
from ._core import (CHECKS, METADATA_KEY, Exercise, Result, chapter_exercises, check, current_student, exercise,
                    exercise_ids, grade_answer, grade_in_kernel, params_for, set_student, show_exercise)
from .ch3 import EX_3_1_TEXT, EX_3_3_CONFIG
from .ch5 import _rnn_parameters
from .teacher import main, make_student_copy

__all__ = ["Result", "Exercise", "check", "set_student", "current_student", "show_exercise", "params_for",
           "exercise", "exercise_ids", "chapter_exercises", "grade_answer", "grade_in_kernel", "CHECKS",
           "METADATA_KEY", "make_student_copy", "main", "EX_3_1_TEXT", "EX_3_3_CONFIG"]
