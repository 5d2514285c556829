"""The book's one bibliography: every citation resolves, every entry can be found again, and the
article's references (Appendix B) point only at entries that exist.

These tests read every chapter, so they also check chapters written later (their citations must be in
references.bib, and their new entries need an identifier)."""

import json
import re
from pathlib import Path

import pytest

from lmlib import bibliography

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "references.bib"
ENTRIES = bibliography.read_bib(BIB)


def _chapter_texts():
    """(file, text) for every markdown cell of every notebook, and every Markdown page of the book."""
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                yield f"{path.name} cell {i}", "".join(cell["source"])
    for path in [ROOT / "intro.md", *sorted((ROOT / "chapters").glob("*.md"))]:
        if path.is_file():
            yield path.name, path.read_text(encoding="utf-8")


def test_every_cited_key_is_in_the_bibliography():
    missing = {}
    for where, text in _chapter_texts():
        for key in bibliography.cited_keys(text):
            if key not in ENTRIES:
                missing.setdefault(key, []).append(where)
    assert not missing, f"cited but not in references.bib: {missing}"


def test_the_chapters_cite_something():
    cited = {key for _, text in _chapter_texts() for key in bibliography.cited_keys(text)}
    assert len(cited) >= 40  # a guard against the citation pattern silently matching nothing


def test_every_entry_can_be_found_again():
    no_id = [key for key, entry in ENTRIES.items() if not bibliography.identifier(entry)]
    assert not no_id, f"entries without a DOI, arXiv id (eprint), url or isbn: {no_id}"


@pytest.mark.parametrize("key", sorted(ENTRIES))
def test_entry_fields(key):
    entry = ENTRIES[key]
    for field in ("author", "title", "year"):
        assert entry.get(field), f"{key} has no {field}"
    assert re.fullmatch(r"\d{4}", entry.get("year")), f"{key}: year {entry.get('year')!r} is not a year"
    if entry.get("doi"):
        assert re.fullmatch(r"10\.\d{4,9}/\S+", entry.get("doi")), f"{key}: malformed DOI {entry.get('doi')!r}"
        assert not entry.get("doi").startswith("http"), f"{key}: give the DOI itself, not its URL"
    if entry.get("eprint"):
        assert re.fullmatch(r"(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?/\d{7})(v\d+)?", entry.get("eprint")), f"{key}: malformed arXiv id (new style 1706.03762 or old style cs/0306050)"
    if entry.get("url"):
        assert entry.get("url").startswith(("https://", "http://")), f"{key}: url must be absolute"
    if entry.type in ("article",):
        assert entry.get("journal"), f"{key}: an article needs its journal"
    if entry.type in ("inproceedings",):
        assert entry.get("booktitle"), f"{key}: a conference paper needs its booktitle"


def test_authors_are_complete():
    truncated = [key for key, entry in ENTRIES.items() if re.search(r"\band\s+others\b", entry.get("author"))]
    assert not truncated, f"list every author instead of 'and others': {truncated}"


def test_no_key_is_defined_twice():
    text = BIB.read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,\s]+),", text, flags=re.M)
    assert len(keys) == len(set(keys)) == len(ENTRIES)


def test_reader_agrees_with_pybtex():
    pybtex = pytest.importorskip("pybtex.database")
    data = pybtex.parse_file(str(BIB))
    assert set(data.entries) == set(ENTRIES)
    for key, entry in data.entries.items():
        ours = ENTRIES[key]
        assert ours.type == entry.type.lower()
        for field in ("title", "year", "doi", "eprint", "url"):
            theirs = " ".join(str(entry.fields.get(field, "")).split())
            assert ours.get(field) == theirs, (key, field)
        assert len(re.split(r"\s+and\s+", ours.get("author"))) == len(entry.persons.get("author", [])), key


def test_every_entry_formats_in_the_book_style():
    """sphinxcontrib-bibtex formats entries with pybtex's styles, which stop the whole build when a field
    that the entry type requires is missing (e.g. a book without a publisher)."""
    pybtex_database = pytest.importorskip("pybtex.database")
    from pybtex.plugin import find_plugin

    data = pybtex_database.parse_file(str(BIB))
    for style_name in ("plain", "alpha", "unsrt"):
        style = find_plugin("pybtex.style.formatting", style_name)()
        for key, entry in data.entries.items():
            try:
                list(style.format_entries([entry]))
            except Exception as err:  # noqa: BLE001 - report which entry and why
                pytest.fail(f"{key} cannot be formatted in the '{style_name}' style: {err}")


def test_article_references_point_at_real_entries():
    for ref in bibliography.ARTICLE_REFERENCES:
        assert ref.status in bibliography.STATUSES, ref
        if ref.status == "not found":
            assert not ref.keys, f"a reference that was not found must not be cited: {ref.given}"
        else:
            assert ref.keys, f"a found reference names its bibliography entries: {ref.given}"
            for key in ref.keys:
                assert key in ENTRIES, f"{ref.given}: {key} is not in references.bib"
        if ref.status == "renamed":
            assert ref.real, f"a renamed reference gives the real title: {ref.given}"


def test_article_reference_counts():
    counts = bibliography.status_counts()
    assert sum(counts.values()) == len(bibliography.ARTICLE_REFERENCES) == 24
    assert counts == {"found": 14, "renamed": 5, "not found": 5}
    with pytest.raises(ValueError, match="unknown status"):
        bibliography.status_counts([bibliography.ArticleReference("x", "7.1", "book", "lost")])


def test_the_article_sections_are_all_covered():
    sections = " ".join(ref.where for ref in bibliography.ARTICLE_REFERENCES)
    for section in ("7.1.1", "7.1.2", "7.1.3", "7.3.1", "7.3.2", "7.3.3", "10.1", "10.2", "10.3", "10.4", "10.5"):
        assert section in sections, section


def test_parser_handles_bibtex_forms():
    text = r"""
    % a comment line
    @comment{ignored, stuff}
    @string{jmlr = "Journal of Machine Learning Research"}
    @Article{a1,
      Author = {M{\"u}ller, A. and {The Team}},
      title = "A {Nested {Brace}} Title",
      year = 2020,
      pages = {1--2} # { and more},
    }
    @misc{b2, title={x}, year={1999}, url={https://example.org/a,b}}
    """
    entries = bibliography.parse_bibtex(text)
    assert list(entries) == ["a1", "b2"]
    a = entries["a1"]
    assert a.type == "article" and a.get("author") == r"M{\"u}ller, A. and {The Team}"
    assert a.get("title") == "A {Nested {Brace}} Title" and a.get("year") == "2020"
    assert a.get("pages") == "1--2 and more"
    assert bibliography.identifier(entries["b2"]) == "https://example.org/a,b"
    with pytest.raises(ValueError, match="appears twice"):
        bibliography.parse_bibtex("@misc{k, year={1}}\n@misc{k, year={2}}")
    with pytest.raises(ValueError, match="not closed"):
        bibliography.parse_bibtex("@misc{k, year={1},")


def test_cited_keys_finds_every_role():
    text = ("see {footcite}`a,b` and {cite:p}`c` or {cite}`d` and {footcite:t}`a`; "
            "reST :cite:`e`; not `f` nor {ref}`g`")
    assert bibliography.cited_keys(text) == ["a", "b", "c", "d", "e"]


def test_find_bib(tmp_path):
    assert bibliography.find_bib(ROOT / "chapters") == BIB
    (tmp_path / "book" / "chapters").mkdir(parents=True)
    (tmp_path / "book" / "references.bib").write_text("")
    assert bibliography.find_bib(tmp_path / "book" / "chapters") == tmp_path / "book" / "references.bib"
    assert bibliography.find_bib(tmp_path, name="no-such-file.bib") is None
