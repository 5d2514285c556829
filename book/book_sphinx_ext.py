"""The book's Sphinx extension, as _config.yml loads it (``local_extensions: book_sphinx_ext: book``).

Everything lives in the ``bookext`` package next to this file; see its docstring.
"""

from bookext.extension import setup  # noqa: F401
