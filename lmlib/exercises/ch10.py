"""Checks for Appendix B (the article's section 10): writing a bibliography entry that can be checked."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ._core import register, register_written

_TITLE = "federated learning: strategies for improving communication efficiency"
_AUTHORS = ("konecny", "mcmahan", "yu", "richtarik", "suresh", "bacon")
SOLUTION_10_1 = ("@misc{konecny2016federated,\n"
                 "  author = {Kone{\\v{c}}n{\\'y}, Jakub and McMahan, H. Brendan and Yu, Felix X. and "
                 "Richt{\\'a}rik, Peter and Suresh, Ananda Theertha and Bacon, Dave},\n"
                 "  title = {Federated Learning: Strategies for Improving Communication Efficiency},\n"
                 "  year = {2016}, eprint = {1610.05492}, archiveprefix = {arXiv}\n}")


def _plain(text: str) -> str:
    """Lower case, accents and BibTeX braces and accent commands removed, spaces collapsed."""
    text = re.sub(r"\\[\"'`^~=.uvHcdbtk]\s*\{?([A-Za-z])\}?", r"\1", text)  # {\v{c}} -> c, {\'y} -> y
    text = text.replace("{", "").replace("}", "")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.lower().split())


@register("10.1", kind="text", answer="entry_10_1", points=2, solution=lambda p: repr(SOLUTION_10_1))
def _federated_entry(answer: Any) -> tuple[bool, str]:
    from ..bibliography import identifier, parse_bibtex

    if not isinstance(answer, str):
        return False, "give the entry as a string (a BibTeX entry between triple quotes)."
    if answer.strip() in ("", "..."):
        return False, "replace the ... with your BibTeX entry, then run the cell again."
    try:
        entries = parse_bibtex(answer)
    except ValueError as err:
        return False, f"the entry does not parse as BibTeX: {err}"
    if len(entries) != 1:
        return False, f"write exactly one entry; found {len(entries)}."
    (entry,) = entries.values()
    title = _plain(entry.get("title"))
    if "data privacy" in title:
        return False, "that is the article's garbled title; cite the paper under its real title."
    if title != _TITLE:
        return False, f"the title should be the paper's own, 'Federated Learning: Strategies for Improving Communication Efficiency'; got {entry.get('title')!r}."
    authors = [a.strip() for a in re.split(r"\s+and\s+", _plain(entry.get("author"))) if a.strip()]
    if "others" in authors:
        return False, "list all six authors instead of 'and others': the paper has only six."
    surnames = [a.split(",")[0].strip() if "," in a else a.split()[-1] for a in authors]
    missing = [name for name in _AUTHORS if name not in surnames]
    if missing or len(surnames) != 6:
        return False, f"the paper has six authors (Konečný, McMahan, Yu, Richtárik, Suresh, Bacon); yours: {surnames}."
    if entry.get("year") != "2016":
        return False, f"the arXiv preprint appeared in 2016; your year is {entry.get('year')!r}."
    found = identifier(entry) or ""
    if "1610.05492" not in found and "1610.05492" not in entry.get("url") + entry.get("doi"):
        return False, "add an identifier a reader can follow: eprint = {1610.05492} with archiveprefix = {arXiv} (or its URL or DOI)."
    return True, f"right: a complete entry with authors, year and identifier ({found})."


register_written("10.2", points=2)
