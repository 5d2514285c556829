"""The book's bibliography: a small BibTeX reader, citation keys in chapters, and the article's references.

Appendix B (the article's section 10) shows the verification table built from ``ARTICLE_REFERENCES``;
chapter 7 cites its reading list from ``references.bib``; ``tests/test_bibliography.py`` uses
``read_bib`` and ``cited_keys`` to check that every key a chapter cites exists and that every entry
can be found again (a DOI, an arXiv id or a stable URL).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

__all__ = [
    "BibEntry",
    "parse_bibtex",
    "read_bib",
    "find_bib",
    "identifier",
    "IDENTIFIER_FIELDS",
    "cited_keys",
    "ArticleReference",
    "ARTICLE_REFERENCES",
    "STATUSES",
    "status_counts",
]

IDENTIFIER_FIELDS = ("doi", "eprint", "url", "isbn")  # in the order a reader should try them


@dataclass
class BibEntry:
    """One BibTeX entry: its type (``article``, ``book``, ...), key and fields (names lower-cased)."""

    type: str
    key: str
    fields: dict[str, str] = field(default_factory=dict)
    line: int = 0  # where the entry starts in the file (1-based), for error messages

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name.lower(), default)


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _braced(text: str, i: int) -> tuple[str, int]:
    """The content of the balanced ``{...}`` that starts at ``text[i]``, and the index after it."""
    depth, start = 0, i
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1: i], i + 1
        elif text[i] == "\\":
            i += 1
        i += 1
    raise ValueError(f"unbalanced braces starting at offset {start}")


def _quoted(text: str, i: int) -> tuple[str, int]:
    j, depth = i + 1, 0
    while j < len(text):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == '"' and depth == 0:
            return text[i + 1: j], j + 1
        j += 1
    raise ValueError(f"unterminated quoted value starting at offset {i}")


def _value(text: str, i: int) -> tuple[str, int]:
    """A field value: ``{...}``, ``"..."`` or a bare word/number, joined by ``#`` concatenation."""
    parts = []
    while True:
        i = _skip_space(text, i)
        if text[i] == "{":
            part, i = _braced(text, i)
        elif text[i] == '"':
            part, i = _quoted(text, i)
        else:
            m = re.compile(r"[^\s,#}]+").match(text, i)
            if not m:
                raise ValueError(f"expected a field value at offset {i}")
            part, i = m.group(0), m.end()
        parts.append(part)
        i = _skip_space(text, i)
        if i < len(text) and text[i] == "#":
            i += 1
            continue
        return "".join(parts), i


def parse_bibtex(text: str) -> dict[str, BibEntry]:
    """All entries of a BibTeX text, by key (``@comment``, ``@preamble``, ``@string`` and text outside
    entries are skipped). Raises ValueError on a malformed entry or a repeated key, naming the line."""
    if not isinstance(text, str):
        raise TypeError(f"text must be the BibTeX source as a str, got {type(text).__name__}")
    entries: dict[str, BibEntry] = {}
    i = 0
    entry_start = re.compile(r"@\s*([A-Za-z]+)\s*\{")
    while True:
        m = entry_start.search(text, i)
        if not m:
            return entries
        kind = m.group(1).lower()
        line = text.count("\n", 0, m.start()) + 1
        if kind in ("comment", "preamble", "string"):
            _, i = _braced(text, m.end() - 1)
            continue
        k = re.compile(r"\s*([^\s,{}]+)\s*,").match(text, m.end())
        if not k:
            raise ValueError(f"line {line}: @{kind} entry without a key")
        key, i = k.group(1), k.end()
        fields: dict[str, str] = {}
        while True:
            i = _skip_space(text, i)
            if i >= len(text):
                raise ValueError(f"line {line}: entry {key!r} is not closed with '}}'")
            if text[i] == "}":
                i += 1
                break
            f = re.compile(r"([A-Za-z][\w\-]*)\s*=").match(text, i)
            if not f:
                raise ValueError(f"line {text.count(chr(10), 0, i) + 1}: expected 'name = value' in entry {key!r}")
            name = f.group(1).lower()
            value, i = _value(text, f.end())
            fields[name] = " ".join(value.split())
            i = _skip_space(text, i)
            if i < len(text) and text[i] == ",":
                i += 1
        if key in entries:
            raise ValueError(f"line {line}: key {key!r} appears twice (first at line {entries[key].line})")
        entries[key] = BibEntry(type=kind, key=key, fields=fields, line=line)


def read_bib(path: str | os.PathLike) -> dict[str, BibEntry]:
    """``parse_bibtex`` of a file (UTF-8)."""
    return parse_bibtex(Path(path).read_text(encoding="utf-8"))


def find_bib(start: str | os.PathLike = ".", name: str = "references.bib") -> Path | None:
    """The book's ``references.bib`` in ``start`` or a folder above it (None when absent, e.g. on Colab,
    where only the notebook is downloaded)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / name).is_file():
            return folder / name
    return None


def identifier(entry: BibEntry) -> str | None:
    """How to find the work again: ``doi:…``, ``arXiv:…``, the URL, or ``ISBN …`` (None if it has none)."""
    if not isinstance(entry, BibEntry):
        raise TypeError(f"entry must be a BibEntry (from parse_bibtex), got {type(entry).__name__}")
    if entry.get("doi"):
        return f"doi:{entry.get('doi')}"
    if entry.get("eprint"):
        prefix = entry.get("archiveprefix", "arXiv") or "arXiv"
        return f"{prefix}:{entry.get('eprint')}"
    if entry.get("url"):
        return entry.get("url")
    if entry.get("isbn"):
        return f"ISBN {entry.get('isbn')}"
    return None


# {cite}`a,b`, {cite:p}`a`, {cite:t}`a`, {footcite}`a`, {footcite:t}`a`, ... (sphinxcontrib-bibtex roles
# as MyST writes them), and the reST form :cite:`a`.
_ROLE = re.compile(r"(?:\{(?:foot)?cite(?::[a-z]+)?\}|:(?:foot)?cite(?::[a-z]+)?:)`([^`]+)`")


def cited_keys(text: str) -> list[str]:
    """Every citation key used in ``text`` by a sphinxcontrib-bibtex role, in order of first use."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    keys: dict[str, None] = {}
    for match in _ROLE.finditer(text):
        for key in match.group(1).split(","):
            key = key.strip()
            if key:
                keys[key] = None
    return list(keys)


# -- the article's references ----------------------------------------------------------------------------

STATUSES = ("found", "renamed", "not found")


@dataclass(frozen=True)
class ArticleReference:
    """One reference the article gives, and what a search of public records found for it."""

    given: str  # the title (or name) exactly as the article gives it
    where: str  # the article's sections that give it
    kind: str  # book, course, site, paper, project, community, conference
    status: str  # "found" (as given), "renamed" (a real work under another title), "not found"
    real: str = ""  # the real title, or the real name, when it differs or needs a word of explanation
    keys: tuple[str, ...] = ()  # the bibliography entries for the real work (none when not found)
    note: str = ""  # what the search found, and what a reader should know


ARTICLE_REFERENCES: tuple[ArticleReference, ...] = (
    # 7.1.1 books (repeated in both versions of 10.1)
    ArticleReference(
        "《深度学习》（Goodfellow, Bengio, Courville）", "7.1.1, 10.1 (both versions)", "book", "found",
        "Deep Learning (MIT Press, 2016)", ("goodfellow2016deep",),
        "The Chinese title is that of the book's Chinese edition; the full text is free to read online."),
    ArticleReference(
        "《自然语言处理综论》（Jurafsky, Martin）", "7.1.1, 10.1 (both versions)", "book", "found",
        "Speech and Language Processing (2nd edition, 2009; 3rd edition draft online)",
        ("jurafsky2009speech", "jurafsky2026slp3"),
        "自然语言处理综论 is the title of the book's Chinese translation. The third edition, free online, "
        "covers neural language models and Transformers; the second does not."),
    # 7.1.2 courses
    ArticleReference(
        "吴恩达的《深度学习专项课程》（Deep Learning Specialization）", "7.1.2", "course", "found",
        "Deep Learning Specialization (DeepLearning.AI on Coursera, five courses)", ("ng2017dlspecialization",)),
    ArticleReference(
        "斯坦福大学的《自然语言处理》（Natural Language Processing）", "7.1.2", "course", "renamed",
        "CS224N: Natural Language Processing with Deep Learning (Stanford)", ("manning2024cs224n",),
        "Stanford's CS224n was called Natural Language Processing until 2017, when it merged with CS224d "
        "under its present title."),
    # 7.1.3 sites
    ArticleReference("知乎", "7.1.3", "site", "found", "Zhihu (zhihu.com), a Chinese question-and-answer site",
                     ("zhihu",)),
    ArticleReference("GitHub", "7.1.3", "site", "found", "GitHub (github.com)", ("github",)),
    # 7.3.1 classic papers
    ArticleReference(
        "“A Theoretical Investigation of the Feedforward Neural Network Model for Speech Recognition” （1986）",
        "7.3.1", "paper", "not found", "",
        (), "No paper with this title (or close to it) turned up. The neural speech-recognition work of the "
        "late 1980s (e.g. time-delay networks, 1989) has other titles, and the article's claim that this "
        "paper 'founded' deep learning in speech recognition cannot be checked."),
    ArticleReference(
        "“Efficient Estimation of Word Representations in Vector Space” （2013）", "7.3.1", "paper", "found",
        "", ("mikolov2013efficient",)),
    # 7.3.2 recent results (repeated in both versions of 10.2)
    ArticleReference(
        "“BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding” （2018）",
        "7.3.2, 10.2 (both versions)", "paper", "found", "", ("devlin2019bert",),
        "A 2018 preprint, published at NAACL-HLT 2019."),
    ArticleReference(
        "“GPT-3: Language Models are Few-Shot Learners” （2020）", "7.3.2, 10.2 (both versions)", "paper",
        "renamed", "Language Models are Few-Shot Learners", ("brown2020language",),
        "The paper's title does not contain 'GPT-3'; the model it describes is GPT-3."),
    # 7.3.3 application cases (repeated in the shorter 10.2)
    ArticleReference(
        "“Google’s Transformer Model Outperforms BERT on SQuAD” （2018）", "7.3.3, 10.2 (shorter version)",
        "paper", "not found", "", (),
        "No such paper turned up. BERT itself is a Google Transformer model and topped the SQuAD "
        "leaderboards in 2018, which makes the title incoherent as a research claim."),
    ArticleReference(
        "“AI Chatbot for Customer Support: A Case Study of Baidu’s Chatbot” （2018）",
        "7.3.3, 10.2 (shorter version)", "paper", "not found", "", (),
        "No such paper turned up; searches find only news about Baidu's chatbots of later years."),
    # 10.1 (longer version)
    ArticleReference(
        "《LLM安全性：攻击与防御》 - Noam Shazeer等", "10.1 (longer version)", "paper", "not found", "", (),
        "No work of this title by Noam Shazeer (or anyone) turned up."),
    # 10.2 (longer version)
    ArticleReference(
        "《How to Train Your Machine Learning Models for Better Robustness》", "10.2 (longer version)", "paper",
        "not found", "", (), "No paper with this title turned up; robustness is a large field with many "
        "papers, none by this name."),
    ArticleReference(
        "《Federated Learning: Strategies for Improving Data Privacy》", "10.2 (longer version)", "paper",
        "renamed", "Federated Learning: Strategies for Improving Communication Efficiency",
        ("konecny2016federated",),
        "The only paper with this title pattern is about communication cost, not privacy; the article's "
        "summary of it is off as well as its title."),
    # 10.3 open-source projects
    ArticleReference("Hugging Face Transformers", "10.3", "project", "found",
                     "the library, and its paper 'Transformers: State-of-the-Art Natural Language Processing'",
                     ("wolf2020transformers",)),
    ArticleReference("TensorFlow", "7.2.3, 10.3", "project", "found",
                     "the framework, and its paper 'TensorFlow: A System for Large-Scale Machine Learning'",
                     ("abadi2016tensorflow",)),
    ArticleReference("PyTorch", "7.2.3, 10.3", "project", "found",
                     "the framework, and its paper 'PyTorch: An Imperative Style, High-Performance Deep "
                     "Learning Library'", ("paszke2019pytorch",),
                     "Started at Facebook AI Research, as the article says; since 2022 it belongs to the PyTorch "
                     "Foundation of the Linux Foundation."),
    # 10.4 communities
    ArticleReference("arXiv", "10.4", "community", "found", "arXiv (arxiv.org), the preprint server", ("arxiv",)),
    ArticleReference("Reddit AI", "10.4", "community", "renamed",
                     "no forum is called 'Reddit AI'; the nearest are r/MachineLearning and r/artificial",
                     ("redditml",)),
    ArticleReference("Medium AI写作社区", "10.4", "community", "renamed",
                     "Medium (medium.com) has no 'AI writing community' by that name; it has an Artificial "
                     "Intelligence topic", ("medium",)),
    # 10.5 conferences
    ArticleReference("NeurIPS", "10.5", "conference", "found",
                     "Conference on Neural Information Processing Systems", ("neurips",)),
    ArticleReference("ICML", "10.5", "conference", "found", "International Conference on Machine Learning",
                     ("icml",)),
    ArticleReference("ACL", "10.5", "conference", "found",
                     "Annual Meeting of the Association for Computational Linguistics", ("acl",)),
)


def status_counts(references: Iterable[ArticleReference] = ARTICLE_REFERENCES) -> dict[str, int]:
    """How many references are found as given, found under another title ("renamed"), and not found."""
    counts = Counter(r.status for r in references)
    unknown = set(counts) - set(STATUSES)
    if unknown:
        raise ValueError(f"unknown status {sorted(unknown)}; allowed: {STATUSES}")
    return {status: counts.get(status, 0) for status in STATUSES}
