"""Imports every chapter's exercises so that they register themselves (one module per chapter)."""

from . import ch1, ch2, ch3, ch4, ch5, ch6, ch7, ch10  # noqa: F401

CHAPTER_MODULES = (ch1, ch2, ch3, ch4, ch5, ch6, ch7, ch10)
