"""Appendix C, the lmlib reference: Sphinx autodoc, plus a table for every config dataclass.

* ``lmlib-module`` (directive): ``.. lmlib-module:: lmlib.train`` is autodoc's ``automodule`` with every
  name in the module's ``__all__``, except names that another lmlib module defines (``train`` re-exports
  ``TrainConfig``): those are listed as links to where they are documented, not documented twice.
* ``lmlib-fields`` (directive): ``.. lmlib-fields:: lmlib.models.GPTConfig`` draws the class's fields as a
  table (field, type, default, meaning), the meanings read from the source's comments (``fieldnotes``), so
  the reference cannot drift from the code. A field without a comment is a build warning (an error under
  ``-W``).
* autodoc hook: a config class's docstring ends with that table (its fields, having no docstrings of their
  own, are not listed again as attributes).
* the reference documents this checkout's lmlib: the repository root comes first on ``sys.path``.
* types from other packages (torch, numpy, the standard library, ...) have no target without intersphinx
  (the build is offline): ``resolve_type`` shows them as code without a link instead of a nitpick warning.
  lmlib's own names are never treated so: a missing lmlib target stays a warning.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from . import fieldnotes

logger = logging.getLogger(__name__)

# Top-level packages whose names in signatures are shown without a link (no inventory offline).
EXTERNAL_PACKAGES = frozenset({
    "torch", "numpy", "np", "sympy", "sp", "plotly", "go", "ipywidgets", "IPython", "jax", "jnp", "safetensors",
    "transformers", "tokenizers", "tqdm", "tensorboard", "sklearn",
    # the standard library
    "pathlib", "collections", "typing", "types", "dataclasses", "enum", "io", "os", "re", "random", "threading",
    "datetime", "json", "bdb", "pdb", "contextlib", "abc", "functools", "numbers", "inspect", "subprocess",
})
# Bare names autodoc leaves unqualified (``from __future__ import annotations`` strings it cannot resolve).
EXTERNAL_BARE_NAMES = frozenset({"Tensor", "Path", "Module", "ndarray", "TracebackType", "Generator", "Iterator",
                                 "Iterable", "Sequence", "Mapping", "Callable", "Figure", "Optimizer"})


def import_object(path: str):
    """The object at dotted ``path`` (``package.module.Class``)."""
    module, _, name = path.rpartition(".")
    obj = importlib.import_module(module)
    return getattr(obj, name)


_LITERAL = re.compile(r"(``.+?``)")
_EMPHASIS = re.compile(r"(?<![\\w*])(\*\*?)(?=\S)[^*]*?(?<=\S)\1(?![\w*])")


def _escape_text(text: str) -> str:
    """``text`` (no literals in it) with ``|`` and unpaired ``*`` escaped."""
    keep = {i for m in _EMPHASIS.finditer(text) for i in range(m.start(), m.end())}
    out = []
    for i, ch in enumerate(text):
        if ch == "|" or (ch == "*" and i not in keep and i + 1 < len(text) and not text[i + 1].isspace()):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def escape_rst(line: str) -> str:
    """One docstring line with the characters lmlib's plain-text docstrings use as arithmetic escaped:
    ``|x|`` (an absolute value or a set's size, not a substitution) and a lone ``*`` (a product, not
    emphasis). ````literals```` and ``*emphasis*`` pairs are kept."""
    return "".join(part if part.startswith("``") else _escape_text(part) for part in _LITERAL.split(line))


def escape_docstring(lines: list[str]) -> list[str]:
    """Docstring lines escaped with ``escape_rst``, except in literal blocks (after ``::``) and doctests."""
    out, literal_indent = [], None
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None and line.strip() and indent <= literal_indent:
            literal_indent = None
        if literal_indent is not None or line.lstrip().startswith((">>>", "... ")):
            out.append(line)
            continue
        out.append(escape_rst(line))
        if line.rstrip().endswith("::"):
            literal_indent = indent
    return out


def fields_table(rows: list[fieldnotes.FieldRow]) -> nodes.table:
    """A docutils table of config rows: field, type, default, meaning."""
    table = nodes.table(classes=["lmlib-fields", "colwidths-auto"])  # the browser sizes the columns
    group = nodes.tgroup(cols=4)
    table += group
    for width in (16, 16, 12, 40):  # used by text and LaTeX output; HTML sizes "colwidths-auto" itself
        group += nodes.colspec(colwidth=width)
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body

    def row(cells: list[nodes.Node]) -> nodes.row:
        r = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", cell)
            r += entry
        return r

    head += row([nodes.Text(t) for t in ("Field", "Type", "Default", "Meaning")])
    for r in rows:
        body += row([nodes.literal(r.name, r.name), nodes.literal(r.type, r.type),
                     nodes.literal(r.default, r.default), nodes.Text(r.meaning)])
    return table


MAX_VALUE_CHARS = 70  # a constant's value is shown when its repr is at most this long


def _is_constant(module, obj) -> bool:
    """Data or a type alias (``Params = dict``), not a function or class that lmlib defines."""
    if inspect.ismodule(obj):
        return False
    if inspect.isclass(obj) or callable(obj):
        return not (getattr(obj, "__module__", "") or "").startswith("lmlib")
    return True


def module_members(module_name: str) -> tuple[list[str], list[str], list[str]]:
    """A module's ``__all__`` split into (functions and classes documented here, constants and type aliases,
    names re-exported from another lmlib module)."""
    module = importlib.import_module(module_name)
    own, constants, elsewhere = [], [], []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        home = getattr(obj, "__module__", module_name) or module_name
        if _is_constant(module, obj):
            constants.append(name)
        elif home.startswith("lmlib.") and home != module_name:
            elsewhere.append(name)
        else:
            own.append(name)
    return own, constants, elsewhere


def constant_rst(module, name: str) -> list[str]:
    """``autodata`` for a module constant, its value shown if short, its source comment as its text."""
    lines = [f".. autodata:: {module.__name__}.{name}"]
    if len(repr(getattr(module, name))) > MAX_VALUE_CHARS:
        lines.append("   :no-value:")
    comment = fieldnotes.assignment_comment(inspect.getsource(module), name)
    if comment:
        lines += ["", f"   {escape_rst(comment)}"]
    return lines + [""]


def module_rst(module_name: str) -> list[str]:
    """The reStructuredText ``lmlib-module`` stands for."""
    own, constants, elsewhere = module_members(module_name)
    module = importlib.import_module(module_name)
    lines = [f".. automodule:: {module_name}", "   :members:"]
    if elsewhere or constants:
        lines.append(f"   :exclude-members: {', '.join(elsewhere + constants)}")
    lines.append("")
    for name in constants:
        lines += constant_rst(module, name)
    if elsewhere:
        links = ", ".join(f":py:obj:`~{getattr(module, n).__module__}.{getattr(module, n).__qualname__}`"
                          for n in elsewhere)
        lines += ["", f"``{module_name}`` also exports, documented where they are defined: {links}."]
    return lines


class ModuleDirective(SphinxDirective):
    """``.. lmlib-module:: lmlib.train``: the module's public API, each object documented once."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        try:
            lines = module_rst(name)
        except ImportError as exc:
            logger.warning("lmlib-module %s: %s", name, exc, location=self.get_location(), type="lmlib",
                           subtype="module")
            return []
        container = nodes.container(classes=["lmlib-module"])
        self.state.nested_parse(StringList(lines, source=f"<lmlib-module {name}>"), self.content_offset, container)
        return container.children


class FieldsDirective(SphinxDirective):
    """``.. lmlib-fields:: lmlib.models.GPTConfig``: the config's fields as a table."""

    required_arguments = 1
    option_spec = {"class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        try:
            cls = import_object(path)
            rows = fieldnotes.field_rows(cls)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            logger.warning("lmlib-fields %s: %s", path, exc, location=self.get_location(), type="lmlib",
                           subtype="fields")
            return []
        self.env.note_dependency(sys.modules[cls.__module__].__file__)
        table = fields_table(rows)
        table["classes"] += self.options.get("class", [])
        title = nodes.title("", "", nodes.Text("Fields of "), nodes.literal(cls.__name__, cls.__name__))
        table.insert(0, title)
        return [table]


def _inherited_doc(obj, lines: list[str]) -> bool:
    """Whether autodoc's ``lines`` for ``obj`` are the docstring of its type (or of a builtin class it
    aliases), not one lmlib wrote."""
    doc = getattr(obj, "__doc__", None)
    first = inspect.cleandoc(doc).splitlines()[0].strip() if doc and doc.strip() else None
    return bool(first) and any(line.strip() == first for line in lines[:1])


def process_docstring(app: Sphinx, what: str, name: str, obj, options, lines: list[str]) -> None:
    """autodoc-process-docstring: lmlib's docstrings escaped (``escape_docstring``); a config class's
    docstring ends with its fields table."""
    if what == "data" and _inherited_doc(obj, lines):
        lines.clear()  # a constant's "docstring" is its type's (dict's, tuple's): its comment says what it is
    if name.startswith("lmlib."):
        lines[:] = escape_docstring(lines)
    if what == "class" and fieldnotes.is_config(obj):
        lines.extend(["", f".. lmlib-fields:: {obj.__module__}.{obj.__qualname__}", ""])


def is_external(target: str) -> bool:
    """Whether a cross-reference target names another package's (or Python's) object, never lmlib's."""
    if target.startswith(("lmlib.", "~lmlib.")) or target == "lmlib":
        return False
    target = target.lstrip("~.")
    return target.split(".")[0] in EXTERNAL_PACKAGES or target in EXTERNAL_BARE_NAMES


def resolve_type(app: Sphinx, env, node, contnode):
    """missing-reference: a type in a signature that names an lmlib type alias (``Params = dict``, documented
    as data) links to it; another package's type is shown as code without a link (no warning). Anything
    else stays unresolved, and a warning."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if is_external(target):
        return contnode
    if node.get("reftype") == "class":
        domain = env.get_domain("py")
        return domain.resolve_xref(env, node.get("refdoc", ""), app.builder, "data", target, node, contnode)
    return None


def skip_member(app: Sphinx, what: str, name: str, obj, skip: bool, options) -> bool | None:
    """autodoc-skip-member: a NamedTuple's generated field properties ("Alias for field number 0") are not
    listed; the class's signature names its fields."""
    if what == "class" and (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    return None


def repository_first(app: Sphinx, config) -> None:
    """config-inited: import lmlib from the book's own checkout."""
    root = str(Path(app.confdir).resolve())
    if root not in sys.path[:1]:
        sys.path.insert(0, root)


def setup(app: Sphinx) -> None:
    app.setup_extension("sphinx.ext.autodoc")
    app.add_directive("lmlib-module", ModuleDirective)
    app.add_directive("lmlib-fields", FieldsDirective)
    app.connect("config-inited", repository_first)
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("missing-reference", resolve_type)
    app.connect("autodoc-skip-member", skip_member)
