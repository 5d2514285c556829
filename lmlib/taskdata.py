"""Labelled data for chapter 6's applications, built from what ships with Python (and one small package).

Chapter 6 (sections 6.1-6.4) uses every builder here; ``scripts/make_base_checkpoint.py`` uses
``base_corpus`` to pretrain the base model. Nothing is downloaded. Every set has real labels and a fixed
split: ``heldout(key)`` puts an item in the test split by a hash of its key, so the split does not depend
on the order in which items are found, and an item added by a newer Python lands in the same split on
every machine.

* ``docstrings()``: docstrings of the standard library's packages (asyncio, email, ...), labelled with
  their package; PEP 257 summary lines are human-written summaries of the docstring bodies.
* ``code_samples()`` / ``tag_bytes()``: Python source files labelled by Python's own ``tokenize`` (which
  class of token each character belongs to): a sequence-labelling task like named-entity recognition.
* ``sentiment_lexicon()``: words and emoticons rated from -4 to +4 by ten people each (the VADER lexicon,
  MIT licence, shipped in the ``vaderSentiment`` package).
* ``number_words()``: numbers and their English words, computed: a translation task whose answers are known.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import io
import keyword
import pkgutil
import re
import tokenize
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "heldout", "split_items", "DocItem", "DOC_PACKAGES", "docstrings", "CODE_MODULES", "CodeSample",
    "code_samples", "TAG_CLASSES", "TAGS", "tag_bytes", "SentimentItem", "sentiment_lexicon",
    "VADER_VERSION", "number_words", "base_corpus",
]


# ---- the fixed split ----------------------------------------------------------------------------------

def heldout(key: str, test_fraction: float = 0.2) -> bool:
    """True when the item named ``key`` belongs to the test split (a hash of the key decides, not order)."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, got {type(key).__name__}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


def split_items(items: list, key=lambda item: item.key, test_fraction: float = 0.2) -> tuple[list, list]:
    """``items`` divided into (train, test) by ``heldout`` of each item's key, order kept."""
    heldout("", test_fraction)  # checks test_fraction even when there are no items
    if not callable(key):
        raise TypeError(f"key must be a function item -> str, got {type(key).__name__}")
    train, test = [], []
    for item in items:
        (test if heldout(key(item), test_fraction) else train).append(item)
    return train, test


# ---- docstrings: classification and summarisation -----------------------------------------------------

# Pure-Python packages present in every CPython 3.10-3.13 on every platform, each with 80+ docstrings.
DOC_PACKAGES = ("asyncio", "email", "http", "importlib", "logging", "multiprocessing", "unittest", "urllib", "xml")


@dataclass(frozen=True)
class DocItem:
    """One docstring: where it is defined, its package (the class label), its summary line and body."""

    key: str  # qualified name, e.g. "email.message.Message.get_payload"
    package: str  # top-level package: the label of the classification task
    summary: str  # PEP 257 summary line (empty if the docstring does not start with one)
    body: str  # everything after the summary's blank line (empty if none)

    @property
    def text(self) -> str:
        """The whole docstring as written (summary, blank line, body)."""
        return f"{self.summary}\n\n{self.body}".strip() if self.summary else self.body


def _module_names(package: str) -> list[str]:
    module = importlib.import_module(package)
    names = [package]
    if hasattr(module, "__path__"):
        names += [m.name for m in pkgutil.walk_packages(module.__path__, package + ".", onerror=lambda _: None)]
    return sorted(n for n in names if not any(part.startswith("_") for part in n.split(".")) and ".test" not in n)


def _split_docstring(doc: str) -> tuple[str, str]:
    text = inspect.cleandoc(doc).strip()
    head, _, rest = text.partition("\n\n")
    if "\n" in head.strip():  # no one-line summary: the whole docstring is body
        return "", text
    return head.strip(), rest.strip()


def _documented(module) -> list[tuple[str, object]]:
    """(qualified name, object) for the module and its public classes, functions and methods defined in it."""
    out: list[tuple[str, object]] = [(module.__name__, module)]
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            out.append((f"{module.__name__}.{name}", obj))
        elif inspect.isclass(obj):
            out.append((f"{module.__name__}.{name}", obj))
            for attr, member in sorted(vars(obj).items()):
                if not attr.startswith("_") and inspect.isfunction(member):
                    out.append((f"{module.__name__}.{name}.{attr}", member))
    return out


@lru_cache(maxsize=None)
def _docstrings(packages: tuple[str, ...]) -> tuple[DocItem, ...]:
    items: dict[str, DocItem] = {}
    seen: set[int] = set()
    for package in packages:
        for module_name in _module_names(package):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module = importlib.import_module(module_name)
            except Exception:  # noqa: BLE001 - platform-only modules (asyncio.windows_events, ...) are skipped
                continue
            for key, obj in _documented(module):
                doc = getattr(obj, "__doc__", None)
                if not isinstance(doc, str) or not doc.strip() or id(obj) in seen:
                    continue
                seen.add(id(obj))
                summary, body = _split_docstring(doc)
                items.setdefault(key, DocItem(key, package, summary, body))
    return tuple(items[k] for k in sorted(items))


def docstrings(packages: tuple[str, ...] | list[str] = DOC_PACKAGES) -> list[DocItem]:
    """Every public docstring of ``packages`` (modules, classes, functions, methods), sorted by name."""
    packages = tuple(packages)
    unknown = [p for p in packages if importlib.util.find_spec(p) is None]
    if unknown:
        raise ValueError(f"packages {unknown} are not installed; choose from the standard library, e.g. {DOC_PACKAGES}")
    return list(_docstrings(packages))


# ---- Python source labelled by tokenize: sequence tagging ---------------------------------------------

# Single-file standard-library modules, none of them in DOC_PACKAGES (so the two tasks never share text).
CODE_MODULES = tuple(
    "argparse base64 bisect calendar cmd colorsys configparser contextlib copy csv dataclasses difflib dis "
    "enum filecmp fileinput fnmatch fractions ftplib functools getopt gettext glob graphlib gzip heapq hmac "
    "ipaddress keyword linecache locale mimetypes netrc numbers operator optparse pickle pkgutil platform "
    "plistlib pprint queue quopri random reprlib sched secrets selectors shelve shlex shutil smtplib "
    "socketserver statistics string stringprep subprocess symtable tabnanny tarfile tempfile textwrap "
    "threading timeit tokenize trace traceback types uuid warnings wave weakref zipapp".split()
)
TAG_CLASSES = ("NAME", "KEYWORD", "NUMBER", "STRING", "OP", "COMMENT")
TAGS = ("O",) + tuple(f"{p}-{c}" for c in TAG_CLASSES for p in ("B", "I"))  # BIO tags, "O" = outside


@dataclass(frozen=True)
class CodeSample:
    """The start of one module's source, with one BIO tag id (into ``TAGS``) per UTF-8 byte."""

    key: str  # module name
    source: bytes
    tags: tuple[int, ...]


def _source_of(module_name: str) -> str | None:
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin).read_text(encoding="utf-8")


def _token_spans(source: str) -> list[tuple[int, int, str]]:
    """(start, end, class) character spans of the tokens of ``source``; f-strings are one STRING (as before 3.12)."""
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        return line_starts[pos[0] - 1] + pos[1]

    spans: list[tuple[int, int, str]] = []
    fstring_start, depth = None, 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        name = tokenize.tok_name[tok.type]
        if name == "FSTRING_START":
            if depth == 0:
                fstring_start = offset(tok.start)
            depth += 1
            continue
        if name == "FSTRING_END":
            depth -= 1
            if depth == 0:
                spans.append((fstring_start, offset(tok.end), "STRING"))
            continue
        if depth:
            continue
        if name == "NAME":
            spans.append((offset(tok.start), offset(tok.end), "KEYWORD" if keyword.iskeyword(tok.string) else "NAME"))
        elif name in ("NUMBER", "STRING", "OP", "COMMENT"):
            spans.append((offset(tok.start), offset(tok.end), name))
    return spans


def tag_bytes(source: str) -> tuple[bytes, tuple[int, ...]]:
    """``source`` as UTF-8 bytes and one BIO tag id per byte, from Python's ``tokenize``."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a str of Python code, got {type(source).__name__}")
    char_tags = ["O"] * len(source)
    for start, end, cls in _token_spans(source):
        char_tags[start] = f"B-{cls}"
        for i in range(start + 1, end):
            char_tags[i] = f"I-{cls}"
    index = {t: i for i, t in enumerate(TAGS)}
    tags: list[int] = []
    for ch, tag in zip(source, char_tags):
        n = len(ch.encode("utf-8"))
        inside = tag.replace("B-", "I-")
        tags.extend([index[tag]] + [index[inside]] * (n - 1))
    return source.encode("utf-8"), tuple(tags)


@lru_cache(maxsize=None)
def code_samples(max_chars: int = 12_000) -> tuple[CodeSample, ...]:
    """The first ``max_chars`` characters (cut at a line end) of each module in ``CODE_MODULES``, tagged."""
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise ValueError(f"max_chars must be a positive int, got {max_chars!r}")
    out = []
    for name in CODE_MODULES:
        source = _source_of(name)
        if source is None:
            continue
        # cut before the first top-level def/class after max_chars: the prefix is then complete code
        match = re.compile(r"^(?:def |class |@)", re.M).search(source, max_chars)
        head = source[: match.start()] if match else source
        try:
            data, tags = tag_bytes(head)
        except (tokenize.TokenError, SyntaxError):  # the cut fell inside a string: tag all, keep the prefix
            data, tags = tag_bytes(source)
            data, tags = data[: len(head.encode("utf-8"))], tags[: len(head.encode("utf-8"))]
        out.append(CodeSample(name, data, tags))
    return tuple(out)


# ---- sentiment: the VADER lexicon ---------------------------------------------------------------------

VADER_VERSION = "3.3.2"  # the pinned package version whose lexicon file has this digest:
VADER_LEXICON_SHA256 = "1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5"


@dataclass(frozen=True)
class SentimentItem:
    """A word, phrase or emoticon and the mean of ten people's ratings from -4 (negative) to +4 (positive)."""

    key: str  # the text itself
    rating: float
    ratings: tuple[int, ...]

    @property
    def positive(self) -> bool:
        """The label of the binary task: mean rating above zero."""
        return self.rating > 0


def _vader_path() -> Path:
    spec = importlib.util.find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the sentiment data ships in the vaderSentiment package: pip install vaderSentiment=={VADER_VERSION}"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "vader_lexicon.txt"


@lru_cache(maxsize=1)
def sentiment_lexicon(verify: bool = True) -> tuple[SentimentItem, ...]:
    """The 7,500-odd entries of the VADER lexicon (Hutto and Gilbert, 2014), checked against its SHA-256."""
    data = _vader_path().read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if verify and digest != VADER_LEXICON_SHA256:
        raise ValueError(
            f"vader_lexicon.txt has SHA-256 {digest}, not the one of vaderSentiment {VADER_VERSION} "
            f"({VADER_LEXICON_SHA256}); install vaderSentiment=={VADER_VERSION} or pass verify=False"
        )
    items = []
    for line in data.decode("utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        ratings = tuple(int(r) for r in re.findall(r"-?\d+", parts[3]))
        items.append(SentimentItem(parts[0], float(parts[1]), ratings))
    return tuple(items)


# ---- translation: numbers to English words ------------------------------------------------------------

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """English words for 0 <= n < 1,000,000, e.g. 4071 -> "four thousand seventy-one" (no "and")."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 1_000_000:
        raise ValueError(f"n must be an int in [0, 1000000), got {n!r}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


# ---- the base model's pretraining text ----------------------------------------------------------------

def base_corpus() -> str:
    """Text the base checkpoint is pretrained on: the reference manual, training-split docstrings, source.

    Test-split docstrings and test-split source files are left out, so chapter 6's test sets are unseen.
    Docstrings are written body first and summary last after "TL;DR:" (GPT-2 found that pattern in web
    text and summarised by prompting with it; here we put it in on purpose, and chapter 6.3 says so).
    """
    from .data import load_corpus

    parts = [load_corpus()]
    train_docs, _ = split_items(docstrings())
    for item in train_docs:
        if item.summary and item.body:
            parts.append(f"{item.body}\nTL;DR: {item.summary}\n\n")
        else:
            parts.append(item.text + "\n\n")
    train_code, _ = split_items(list(code_samples()))
    parts += [sample.source.decode("utf-8") + "\n" for sample in train_code]
    return "".join(parts)
