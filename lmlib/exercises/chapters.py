"""Imports every chapter's checks so that they register themselves (one module per chapter)."""

from . import ch1, ch2, ch3, ch4, ch5, ch8  # noqa: F401

CHAPTER_MODULES = (ch1, ch2, ch3, ch4, ch5, ch8)
