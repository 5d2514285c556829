"""Test remarks out of the code a reader reads.

A chapter cell whose output nbval does not compare says why in its first line,
``# nbval-ignore-output: <reason>`` (a comment may run on over the next comment lines until the sentence
ends). That line is about the tests, not about the cell's subject. On the built page it is taken out of the
code and shown above it as one collapsed line ("Output not compared by the tests"), which opens to the
reason. The notebook itself is unchanged (downloads and Colab keep the comment, where it does no harm),
and a cell that gives its reason in metadata (``"nbval-ignore-output": "<reason>"``) shows the same line.
"""

from __future__ import annotations

import html
from typing import Any

from docutils import nodes

MARKER = "# nbval-ignore-output:"
SUMMARY = "Output not compared by the tests"


def split_remark(source: str) -> tuple[str | None, str]:
    """(the reason, the code without the remark) for a cell's source; (None, source) without one.

    The remark is the first line and every following comment line until its text ends a sentence.
    """
    lines = source.split("\n")
    if not lines or not lines[0].lstrip().startswith(MARKER):
        return None, source
    parts = [lines[0].lstrip()[len(MARKER):].strip()]
    end = 1
    while end < len(lines) and lines[end].lstrip().startswith("#") and not parts[-1].rstrip().endswith("."):
        parts.append(lines[end].lstrip().lstrip("#").strip())
        end += 1
    return " ".join(p for p in parts if p), "\n".join(lines[end:])


def note_html(reason: str) -> str:
    """The collapsed line shown above the cell's code."""
    return (f'<details class="book-test-remark"><summary>{SUMMARY}</summary>'
            f"<p>{html.escape(reason[:1].upper() + reason[1:])}</p></details>")


def _cell_metadata_reason(cell: nodes.Element) -> str | None:
    metadata: Any = cell.get("cell_metadata") or {}
    reason = metadata.get("nbval-ignore-output") if isinstance(metadata, dict) else None
    return reason.strip() if isinstance(reason, str) and reason.strip() else None


def move_remarks(doctree: nodes.document) -> int:
    """Take the test remark out of each code cell's shown source; return how many cells changed."""
    changed = 0
    for block in list(doctree.findall(nodes.literal_block)):
        container = block.parent
        if not isinstance(container, nodes.container) or "cell_input" not in container.get("classes", []):
            continue
        reason, code = split_remark(block.astext())
        if reason is None and container.parent is not None:
            reason = _cell_metadata_reason(container.parent)
        elif reason is not None:
            block.rawsource = code
            block.children = []
            block += nodes.Text(code)
        if reason:
            container.insert(container.index(block), nodes.raw("", note_html(reason), format="html"))
            changed += 1
    return changed
