"""The book's build extension and helpers (book/bookext/).

* ``extension``: the Sphinx extension itself (``setup``), loaded as ``book_sphinx_ext`` from _config.yml;
* ``repository``: the one repository setting and the links derived from it (no Sphinx needed: also used by
  book/sync_repo_url.py and the tests);
* ``launch``, ``assets``, ``widgets``, ``a11y``: what the extension does (see each module).
"""
