"""Imports every chapter's exercises so that they register themselves (one module per chapter)."""

from . import appA, ch1, ch2, ch3, ch4, ch5, ch6, ch7, ch8, ch8b, ch10  # noqa: F401

CHAPTER_MODULES = (ch1, ch2, ch3, ch4, ch5, ch6, ch7, ch8, ch8b, appA, ch10)
