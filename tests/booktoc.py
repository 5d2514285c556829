"""The book's table of contents, read the way Jupyter Book reads _toc.yml (shared by the book tests)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files(include_root: bool = False) -> list[str]:
    """Docnames listed in _toc.yml (jb-book format: root, chapters, sections, parts), in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] if include_root else []

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return files
