"""lmlib: the small library behind the book *LLMs on the CPU's Path*.

The modules read in the order the book teaches them::

    data -> tokenizers -> models -> train -> generate   (+ checkpoint)

Each module imports on its own; ``from lmlib import data, tokenizers, models, train, generate, checkpoint``
is the usual first line of a chapter.
"""

__version__ = "0.1.0"
