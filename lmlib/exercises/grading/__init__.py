"""Grading the book's exercises for a class: the Otter-Grader export and the sandboxed grader.

``export`` writes a chapter's exercises as an Otter-Grader source notebook (``otter assign`` makes the
student notebook and the Gradescope autograder from it). ``grade`` grades a folder of submitted notebooks,
each in its own bubblewrap sandbox (``sandbox``) where ``runner`` executes it and reads the answers as data
(``answers``); the verdicts come from lmlib's checks, run by the grader outside the sandbox, and
``report`` writes them as they arrive. ``notebooks`` reads the exercises out of a chapter notebook.
"""
