"""The fields of a config dataclass, each with the meaning its source gives it in a comment (no Sphinx needed).

lmlib writes its configs nanoGPT's way: one field a line, its meaning in a trailing comment::

    pos: str = "learned"  # positions: "learned" (a table added to the input) or "rope" (rotary, in attention)

Autodoc never sees those comments (they are not in the compiled class), so the reference (appendix C,
``apiref.py``) reads them from the class's source here: the comment on the field's line (or lines), or,
when it has none, the comment lines right above it with no blank line between. A field with neither is an
error, so a field added without its meaning fails the tests and the book's build.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
from dataclasses import dataclass

CONFIG_SUFFIXES = ("Config", "Settings")


class MissingFieldComment(ValueError):
    """A config field whose line, and the lines right above it, hold no comment."""


@dataclass(frozen=True)
class FieldRow:
    """One row of a config table."""

    name: str  # the field's name
    type: str  # its annotation, as written in the source
    default: str  # its default as written ("factory()" for a default_factory, "required" for none)
    meaning: str  # its comment, without the leading "#"


def is_config(obj: object) -> bool:
    """Whether ``obj`` is a config dataclass: a dataclass class whose name ends in Config or Settings."""
    return (inspect.isclass(obj) and dataclasses.is_dataclass(obj)
            and obj.__name__.endswith(CONFIG_SUFFIXES) and not obj.__name__.startswith("_"))


def _comments(source: str) -> dict[int, tuple[str, bool]]:
    """Line number -> (comment text, whether the comment is alone on its line)."""
    found = {}
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            alone = not lines[row - 1][:col].strip()
            found[row] = (tok.string.lstrip("#").strip(), alone)
    return found


def _statement_comment(stmt: ast.stmt, comments: dict[int, tuple[str, bool]]) -> str | None:
    """The comment after ``stmt`` on its line(s), else the comment lines right above it, else None."""
    inline = [comments[r][0] for r in range(stmt.lineno, stmt.end_lineno + 1) if r in comments and not comments[r][1]]
    above, row = [], stmt.lineno - 1
    while row in comments and comments[row][1]:  # a block of comment lines right above the statement
        above.insert(0, comments[row][0])
        row -= 1
    return " ".join(inline if inline else above).strip() or None


def assignment_comment(source: str, name: str) -> str | None:
    """The comment of the module-level assignment to ``name`` in ``source`` (as for a field), or None."""
    tree, comments = ast.parse(source), _comments(source)
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and any(isinstance(t, ast.Name) and t.id == name
                                                                 for t in targets):
            return _statement_comment(stmt, comments)
    return None


def _is_field_call(node: ast.expr) -> bool:
    """Whether ``node`` is ``field(...)`` or ``dataclasses.field(...)``."""
    func = node.func if isinstance(node, ast.Call) else None
    return getattr(func, "id", None) == "field" or getattr(func, "attr", None) == "field"


def source_comments(source: str, class_name: str | None = None) -> dict[str, tuple[str, str | None, str | None]]:
    """Field name -> (annotation as written, default as written or None, comment or None) for the annotated
    fields of the first class (or the class ``class_name``) defined in ``source``. A default written as a
    ``field(...)`` call counts as not written (the table shows the value it makes)."""
    source = textwrap.dedent(source)
    tree = ast.parse(source)
    cls = next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                and (class_name is None or n.name == class_name)), None)
    if cls is None:
        raise ValueError(f"no class {class_name or ''} in the source".replace("  ", " "))
    comments = _comments(source)
    fields = {}
    for stmt in cls.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        text = _statement_comment(stmt, comments)
        default = stmt.value
        if default is None or _is_field_call(default):
            written = None
        elif default.lineno == default.end_lineno:  # as written (3e-3, 16_384)
            written = ast.get_source_segment(source, default)
        else:  # a default over several lines, on one
            written = ast.unparse(default)
        fields[stmt.target.id] = (ast.get_source_segment(source, stmt.annotation) or "", written, text)
    return fields


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:
        factory = field.default_factory
        return f"{getattr(factory, '__qualname__', repr(factory))}()"
    return "required"


def field_rows(cls: type) -> list[FieldRow]:
    """The rows of ``cls``'s config table, in field order (inherited fields first, as dataclasses order them).

    Raises MissingFieldComment naming every field that has no comment."""
    if not (inspect.isclass(cls) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"field_rows needs a dataclass class, got {cls!r}")
    written: dict[str, tuple[str, str | None, str | None]] = {}
    for klass in reversed(cls.__mro__):  # a subclass's own line wins over its base's
        if dataclasses.is_dataclass(klass) and "__annotations__" in vars(klass):
            written.update(source_comments(inspect.getsource(klass), klass.__name__))
    rows, missing = [], []
    for field in dataclasses.fields(cls):
        annotation, default, meaning = written.get(field.name, ("", None, None))
        if not meaning:
            missing.append(field.name)
            continue
        rows.append(FieldRow(field.name, annotation or str(field.type), default or _default(field), meaning))
    if missing:
        raise MissingFieldComment(
            f"{cls.__module__}.{cls.__qualname__}: fields without a comment saying what they mean: {missing}; "
            "write it after the field (`name: type = default  # meaning`) or on the line above it")
    return rows
