"""Every interactive control of every chapter works in a kernel, as a reader meets it after Run All.

Each chapter with controls is executed top to bottom in a fresh kernel (as Jupyter's Run All does); then
each control in its stored widget state (sliders, text boxes, drop-downs, buttons: the list comes from the
notebooks, so new chapters are covered) is driven with a few values, through the same messages a browser
sends (tests/kernel_controls.py). Each value must change what the chapter shows, and nothing may raise,
log an error, fail in a thread or show a traceback.

Slow (it runs the chapters again): part of ``make test-notebooks``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
HARNESS = (Path(__file__).parent / "kernel_controls.py").read_text(encoding="utf-8")
CONTROL_MODELS = {
    "IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "TextModel", "TextareaModel", "ComboboxModel",
    "IntTextModel", "FloatTextModel", "BoundedIntTextModel", "BoundedFloatTextModel", "DropdownModel",
    "SelectModel", "RadioButtonsModel", "ToggleButtonsModel", "CheckboxModel", "ToggleButtonModel", "ButtonModel",
}
# Known defects in the chapters, each to be fixed there (the test then XPASSes, and the mark must go).
KNOWN_BROKEN: dict[tuple[str, str, str], str] = {}


def controls() -> list:
    """(chapter, model name, description) of every control stored in the chapters."""
    found = []
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        seen = set()
        for model in state.values():
            name = model.get("model_name")
            key = (path.stem, name, model.get("state", {}).get("description", ""))
            if name in CONTROL_MODELS and key not in seen:
                seen.add(key)
                found.append(key)
    return found


def _param(key):
    chapter, name, description = key
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BROKEN[key])] if key in KNOWN_BROKEN else []
    return pytest.param(key, id=f"{chapter}:{name.removesuffix('Model')}[{description}]", marks=marks)


class _Kernel:
    """A chapter executed in a kernel that stays up for its controls' tests."""

    def __init__(self, chapter: str):
        from nbclient import NotebookClient

        path = ROOT / "chapters" / f"{chapter}.ipynb"
        self.nb = nbformat.read(path, as_version=4)
        self.client = NotebookClient(self.nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
        self._context = self.client.setup_kernel()
        self._context.__enter__()
        try:
            for index, cell in enumerate(self.nb.cells):  # Run All
                if cell.cell_type == "code":
                    self.client.execute_cell(cell, index)
            self.run(HARNESS)
        except BaseException:
            self.close()  # no kernel left running
            raise

    def run(self, source: str) -> str:
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")

    def close(self) -> None:
        self._context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def kernels():
    current: dict[str, _Kernel] = {}
    failed: dict[str, str] = {}  # a chapter whose Run All failed is not run again for each of its controls

    def get(chapter: str) -> _Kernel:
        if chapter in failed:
            pytest.fail(f"{chapter}: Run All failed earlier in this session: {failed[chapter]}")
        if chapter not in current:
            for other in list(current):  # one chapter's kernel at a time
                current.pop(other).close()
            try:
                current[chapter] = _Kernel(chapter)
            except Exception as err:  # noqa: BLE001 - reported for each of the chapter's controls
                failed[chapter] = f"{type(err).__name__}: {str(err)[:300]}"
                raise
        return current[chapter]

    yield get
    for kernel in current.values():
        kernel.close()


@pytest.mark.parametrize("control", [_param(c) for c in controls()])
def test_control_changes_the_output_without_errors(kernels, control):
    chapter, name, description = control
    kernel = kernels(chapter)
    out = kernel.run(f"print(_book_drive({name!r}, {description!r}))")
    report = json.loads(out.strip().splitlines()[-1])
    assert report["found"], f"{chapter}: no live {name} described {description!r} after Run All"
    assert report["tried"], f"{chapter}: nothing to try on {name} {description!r}"
    errors = [t for t in report["tried"] if t["error"]]
    assert not errors, f"{description!r} raised: {errors}"
    assert not report["tracebacks"], f"{description!r} raised in a callback:\n" + "\n".join(report["tracebacks"])
    assert not report["logged"], f"{description!r} logged: {report['logged']}"
    assert not report["thread_errors"], f"{description!r}: errors in threads: {report['thread_errors']}"
    unchanged = [t["value"] for t in report["tried"] if not t["changed"]]
    assert not unchanged, f"{description!r}: nothing on the page changed for {unchanged}"
