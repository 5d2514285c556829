"""Accessibility the build adds to every page, so each chapter (current and future) gets it without asking.

* Chinese text is marked ``lang="zh"``: every run of CJK characters outside scripts, styles and diagram
  sources is wrapped in ``<span lang="zh">`` when the pages are written, so screen readers switch voice
  and browsers pick a Chinese font (book.css lists some).
* Every mermaid diagram gets a text description: its ``:alt:`` option, its own ``accDescr``, or else one
  generated from its source (the boxes and the arrows between them, in words).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from docutils import nodes

# CJK ideographs (unified, extension A, compatibility), CJK punctuation and full-width forms.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_PUNCT = "\u3000-\u303f\uff00-\uffef"
CJK_RUN = re.compile(f"[{_CJK}](?:[{_CJK}{_CJK_PUNCT}]|[ ·・](?=[{_CJK}]))*")
_TAG = re.compile(r"<!--.*?-->|<![^>]*>|<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\"[^\"]*\"|'[^']*'|[^'\">])*)>", re.S)
_RAW_TEXT = {"script", "style", "textarea", "title", "option", "svg"}
_LANG_ATTR = re.compile(r"""\blang\s*=\s*["']?zh""", re.I)
_MERMAID_CLASS = re.compile(r"""\bclass\s*=\s*["'][^"']*\bmermaid\b""", re.I)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def mark_chinese(page: str) -> str:
    """``page`` with each run of Chinese text outside tags wrapped in ``<span lang="zh">``.

    Text inside script/style/textarea/title/option/svg, inside ``.mermaid`` blocks (diagram sources) and
    inside elements that already say ``lang="zh"`` is left alone, so running it twice changes nothing.
    """
    out: list[str] = []
    skip: list[str] = []  # stack of element names whose content is left as it is
    pos = 0
    for match in _TAG.finditer(page):
        text = page[pos:match.start()]
        out.append(text if skip else CJK_RUN.sub(lambda m: f'<span lang="zh">{m.group(0)}</span>', text))
        out.append(match.group(0))
        pos = match.end()
        closing, name, attrs = match.group(1), (match.group(2) or "").lower(), match.group(3) or ""
        if not name or name in _VOID or attrs.rstrip().endswith("/"):
            continue
        if closing:
            if skip and skip[-1] == name:
                skip.pop()
        elif skip:
            if name == skip[0] and name not in _RAW_TEXT:
                skip.append(name)  # the same element nested inside a skipped one
        elif name in _RAW_TEXT or _LANG_ATTR.search(attrs) or _MERMAID_CLASS.search(attrs):
            skip.append(name)
    tail = page[pos:]
    out.append(tail if skip else CJK_RUN.sub(lambda m: f'<span lang="zh">{m.group(0)}</span>', tail))
    return "".join(out)


def mark_chinese_in_outdir(outdir: Path) -> int:
    """Apply ``mark_chinese`` to every page written to ``outdir``; return how many changed."""
    changed = 0
    for path in Path(outdir).rglob("*.html"):
        if "_static" in path.parts or "_sources" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        new = mark_chinese(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed += 1
    return changed


# ------------------------------------------------------------------------------------ diagrams
_NODE = re.compile(r"""([A-Za-z0-9_]+)\s*(?:\[\s*"?(.*?)"?\s*\]|\(\s*"?(.*?)"?\s*\)|\{\s*"?(.*?)"?\s*\})""")
_EDGE = re.compile(r"""^\s*([A-Za-z0-9_]+)(?:\s*\[[^\]]*\]|\s*\([^)]*\)|\s*\{[^}]*\})?\s*"""
                   r"""(?:--\s*"?([^">-][^">]*?)"?\s*)?(-->|---|-\.->|==>)\s*(?:\|([^|]*)\|\s*)?"""
                   r"""([A-Za-z0-9_]+)""")


def _clean(label: str) -> str:
    label = re.sub(r"<br\s*/?>", " / ", label or "", flags=re.I)
    label = re.sub(r"<[^>]+>", "", label)
    return html.unescape(label).strip().strip('"').strip()


def describe_mermaid(code: str) -> str:
    """A sentence-like description of a mermaid diagram, from its source."""
    lines = [ln.strip() for ln in code.strip().splitlines() if ln.strip() and not ln.strip().startswith("%%")]
    if not lines:
        return "An empty diagram."
    for line in lines:
        match = re.match(r"accDescr\s*:\s*(.+)", line)
        if match:
            return match.group(1).strip()
    kind = lines[0].split()[0]
    if kind not in ("flowchart", "graph"):
        return f"A {kind} diagram; its source: " + "; ".join(lines[1:])
    labels: dict[str, str] = {}
    for line in lines[1:]:
        sub = re.match(r"subgraph\s+([A-Za-z0-9_]+)\s*(?:\[\s*\"?(.*?)\"?\s*\])?", line)
        if sub:
            labels[sub.group(1)] = _clean(sub.group(2) or sub.group(1))
            continue
        for node in _NODE.finditer(line):
            text = next((g for g in node.groups()[1:] if g), None)
            if text is not None and node.group(1) not in labels:
                labels[node.group(1)] = _clean(text)
    edges = []
    for line in lines[1:]:
        # follow chains such as a --> b --> c
        rest = line
        while True:
            match = _EDGE.match(rest)
            if not match:
                break
            src, text, _, pipe_text, dst = match.groups()
            note = _clean(text or pipe_text or "")
            edges.append(f"{labels.get(src, src)} → {labels.get(dst, dst)}" + (f" ({note})" if note else ""))
            rest = rest[match.end() - len(dst):]
    body = "; ".join(edges) if edges else ", ".join(labels.values())
    return f"Flowchart: {body}."


def describe_diagrams(doctree: nodes.document) -> int:
    """Wrap each mermaid diagram in a figure with a text description; return how many."""
    count = 0
    for node in list(doctree.findall(lambda n: type(n).__name__ == "mermaid")):
        description = node.get("alt") or describe_mermaid(node.get("code", ""))
        short = description if len(description) <= 160 else description[:157].rsplit(" ", 1)[0] + " …"
        opening = nodes.raw("", f'<div class="book-diagram" role="figure" aria-label="{html.escape(short, quote=True)}">',
                            format="html")
        closing = nodes.raw("", f'<p class="book-sr-only book-diagram-description">{html.escape(description)}</p>'
                                "</div>", format="html")
        parent = node.parent
        index = parent.index(node)
        parent.insert(index + 1, closing)
        parent.insert(index, opening)
        count += 1
    return count
