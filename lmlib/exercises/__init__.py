"""Exercise checks for students, and the teacher's commands.

Every chapter ends with exercises. Where an answer is a number or code, the notebook calls
``check("5.2", answer)``, which tells the student what is right or wrong in it. The truth is computed from
lmlib, never stored as a bare number.

Layout: ``_core`` (the check machinery), ``chN`` (chapter N's checks, registered on import; ``chapters``
imports them all), ``teacher`` (student copies and grading; ``python -m lmlib.exercises --help``).
"""

from __future__ import annotations

from . import chapters  # noqa: F401  (registers every chapter's checks)
from ._core import CHECKS, METADATA_KEY, Result, check, exercise_ids
from .ch3 import EX_3_1_TEXT, EX_3_3_CONFIG
from .ch5 import _rnn_parameters
from .teacher import grade_folder, main, make_student_copy

__all__ = ["Result", "check", "CHECKS", "exercise_ids", "make_student_copy", "grade_folder", "main", "METADATA_KEY",
           "EX_3_1_TEXT", "EX_3_3_CONFIG"]
