"""Appendix C, the lmlib reference: the config tables' meanings come from the source's comments
(book/bookext/fieldnotes.py, no Sphinx needed), every config field has one, and the page lists every module
that holds an option. The Sphinx side (the directives, a built page) is tested in tests/test_book_ext.py."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import sys
import textwrap
from pathlib import Path

import pytest

import lmlib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))

from bookext import fieldnotes  # noqa: E402

PAGE = ROOT / "chapters" / "appendix_c_lmlib_reference.md"
PIPELINE = ["data", "tokenizers", "models", "layers", "train", "train_config", "train_callbacks", "train_hardware",
            "optim", "distributed", "generate", "checkpoint"]
LEFT_OUT = {"exercises"}  # the chapters' exercise checks and the grader (the page says why)


def lmlib_modules() -> list[str]:
    return sorted(f"lmlib.{m.name}" for m in pkgutil.iter_modules(lmlib.__path__)
                  if not m.name.startswith("_") and m.name not in LEFT_OUT)


def config_classes() -> list[type]:
    found = {}
    for name in lmlib_modules():
        for obj in vars(importlib.import_module(name)).values():
            if fieldnotes.is_config(obj) and obj.__module__.startswith("lmlib."):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


TINY = '''
from dataclasses import dataclass, field

@dataclass
class TinyConfig:
    """A tiny config."""

    width: int  # how wide
    depth: int = 2  # how deep (layers)
    # the rate at which it learns,
    # over two comment lines
    lr: float = 3e-3
    tags: list = field(default_factory=list)  # labels: "a" | "b"
    shape: tuple[int, int] = (
        4, 8)  # rows and columns
'''


def test_field_rows_read_each_fields_comment_type_and_default(tmp_path, monkeypatch):
    path = tmp_path / "tiny_config_module.py"
    path.write_text(TINY)
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = importlib.import_module("tiny_config_module").TinyConfig
    rows = fieldnotes.field_rows(cls)
    assert [(r.name, r.type, r.default, r.meaning) for r in rows] == [
        ("width", "int", "required", "how wide"),
        ("depth", "int", "2", "how deep (layers)"),
        ("lr", "float", "3e-3", "the rate at which it learns, over two comment lines"),  # as written: 3e-3
        ("tags", "list", "list()", 'labels: "a" | "b"'),
        ("shape", "tuple[int, int]", "(4, 8)", "rows and columns"),
    ]


def test_a_field_without_a_comment_is_an_error(tmp_path, monkeypatch):
    path = tmp_path / "tiny_config_bad.py"
    path.write_text(TINY.replace("    depth: int = 2  # how deep (layers)\n", "    depth: int = 2\n\n")
                    + "    extra: bool = False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = importlib.import_module("tiny_config_bad").TinyConfig
    with pytest.raises(fieldnotes.MissingFieldComment, match=r"TinyConfig: .*\['depth', 'extra'\]"):
        fieldnotes.field_rows(cls)


def test_a_comment_above_separated_by_a_blank_line_does_not_count():
    fields = fieldnotes.source_comments("class C:\n    # about the section\n\n    x: int = 1\n")
    assert fields == {"x": ("int", "1", None)}


def test_inherited_fields_keep_their_base_classes_comments(tmp_path, monkeypatch):
    (tmp_path / "tiny_config_child.py").write_text(TINY + textwrap.dedent('''
        @dataclass
        class ChildConfig(TinyConfig):
            """More."""

            extra: bool = False  # one more switch
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    rows = fieldnotes.field_rows(importlib.import_module("tiny_config_child").ChildConfig)
    assert [r.name for r in rows] == ["width", "depth", "lr", "tags", "shape", "extra"]
    assert rows[0].meaning == "how wide" and rows[-1].meaning == "one more switch"


def test_module_constant_comments():
    source = "X = 1  # one\n# two,\n# lines\nY: int = 2\n\nZ = 3\n"
    assert [fieldnotes.assignment_comment(source, n) for n in "XYZ"] == ["one", "two, lines", None]


def test_what_counts_as_a_config():
    from lmlib import models, train

    assert fieldnotes.is_config(models.GPTConfig) and fieldnotes.is_config(train.TrainConfig)
    assert not fieldnotes.is_config(models.GPT) and not fieldnotes.is_config(models.GPTConfig(vocab_size=3))


def test_the_book_has_the_configs_the_issue_names():
    names = {c.__name__ for c in config_classes()}
    assert {"RNNConfig", "GPTConfig", "TrainConfig"} <= names, names


@pytest.mark.parametrize("cls", config_classes(), ids=lambda c: c.__name__)
def test_every_config_field_says_what_it_means(cls):
    rows = fieldnotes.field_rows(cls)  # raises, naming the fields, if one has no comment
    assert [r.name for r in rows] == [f.name for f in dataclasses.fields(cls)]
    assert all(len(r.meaning) >= 3 for r in rows)


def _documented_modules() -> list[str]:
    return re.findall(r"^\.\. lmlib-module:: (\S+)$", PAGE.read_text(encoding="utf-8"), re.M)


def test_the_reference_lists_every_public_module_once_pipeline_first_in_teaching_order():
    documented = _documented_modules()
    assert len(documented) == len(set(documented))
    assert sorted(documented) == lmlib_modules(), "modules missing from (or unknown to) appendix C"
    assert documented[:len(PIPELINE)] == [f"lmlib.{m}" for m in PIPELINE]


def test_every_config_is_in_a_documented_module():
    documented = set(_documented_modules())
    for cls in config_classes():
        assert cls.__module__ in documented, cls


def test_each_module_section_links_to_a_chapter():
    text = PAGE.read_text(encoding="utf-8")
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    for section in sections:
        assert "{ref}`ch-" in section, f"no chapter link in the section {section.splitlines()[0]!r}"
