"""Chapter 2's data table: every row names bibliography keys that exist and that the chapter cites."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "02_core_concepts.ipynb"


def _data_rows() -> list[tuple]:
    nb = nbformat.read(CHAPTER, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith("# name, year, count"))
    tree = ast.parse(cell.source)
    rows = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id in ("CPUS", "LANGUAGE_MODELS"):
            rows += ast.literal_eval(node.value)
    return rows, nb


@pytest.mark.skipif(not CHAPTER.exists(), reason="chapter 2 not present")
def test_every_row_is_cited():
    rows, nb = _data_rows()
    bib = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(encoding="utf-8"), re.M))
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    cited = {k for group in re.findall(r"\{footcite\}`([^`]+)`", markdown) for k in group.split(",")}
    assert len(rows) >= 20
    for name, year, count, _arch, _label, keys in rows:
        assert isinstance(year, int) and 1970 <= year <= 2030 and count > 0, name
        for key in keys.split():
            assert key in bib, f"{name}: {key} missing from references.bib"
            assert key in cited, f"{name}: {key} is never cited with {{footcite}} in the chapter"
