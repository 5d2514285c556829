"""Runs inside a chapter's kernel after Run All (tests/test_chapter_controls.py sends this source there):
drives one interactive control the way a reader's browser would, and reports what happened.

A value reaches a widget as the front end sends it (a comm "update" message, a "click" for a button), so
observers run as they do in Jupyter, where ipywidgets catches an exception in one and shows its traceback
(``showtraceback``), which goes only to the log console. Here every such traceback, every exception, every
logged warning or error, every exception in a thread and every error shown in an Output widget is
collected. A change counts when any other widget's state changes (an Output's figure, an HTML readout, a
status line). A control whose change alone shows nothing (a dashboard's setting) is followed by a press of
the action button in the same box (Train), as a reader would do; a button that does nothing while the text
box beside it is empty (Send) is pressed again after typing into that box; a run that starts a thread is
stopped by the button it enables (Stop) once it has shown something, and waited for.
"""

import json as _json
import logging as _logging
import math as _math
import sys as _sys
import threading as _threading
import time as _time
import traceback as _traceback


def _book_widgets():
    from ipywidgets.widgets import widget as _w

    registry = getattr(_w, "_instances", None)
    if registry is None:  # ipywidgets 7
        registry = _w.Widget.widgets
    return dict(registry)


class _BookRecorder(_logging.Handler):
    def __init__(self):
        super().__init__(level=_logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(f"{record.name}: {record.getMessage()}")


def _book_errors_in_outputs():
    found = []
    for w in _book_widgets().values():
        for out in getattr(w, "outputs", None) or ():
            if out.get("output_type") == "error":
                found.append(f"error shown in an Output widget: {out.get('ename')}: {out.get('evalue')}")
            elif out.get("output_type") == "stream" and "Traceback" in "".join(out.get("text", "")):
                found.append("traceback printed in an Output widget")
    return found


def _book_snapshot(exclude):
    shot = {}
    for mid, w in _book_widgets().items():
        if w is exclude or type(w).__name__ in ("Layout",) or type(w).__name__.endswith("Style"):
            continue
        try:
            state = w.get_state()
        except Exception:  # noqa: BLE001 - a widget being torn down
            continue
        for key in ("layout", "style", "_view_count", "msg_id"):
            state.pop(key, None)
        shot[mid] = repr(sorted(state.items()))
    return shot


def _book_find(model_name, description):
    name = model_name[:-len("Model")] if model_name.endswith("Model") else model_name
    found = [w for w in _book_widgets().values()
             if getattr(w, "_model_name", "") == model_name and getattr(w, "description", None) == description]
    if not found:
        found = [w for w in _book_widgets().values()
                 if type(w).__name__ == name and getattr(w, "description", None) == description]
    return found[-1] if found else None  # the latest, if a cell was run twice


def _book_send(w, state=None, click=False):
    if click:
        data = {"method": "custom", "content": {"event": "click"}}
    else:
        data = {"method": "update", "state": state, "buffer_paths": []}
    w._handle_msg({"content": {"data": data}, "buffers": []})


def _book_values(w):
    """A few values for ``w``, as a reader would try them: the ends and the middle of its range."""
    kind = type(w).__name__
    if kind == "FloatLogSlider":
        exps = [w.min, w.max, (w.min + w.max) / 2]
        return [("value", w.base ** e) for e in exps if abs(w.base ** e - w.value) > 1e-12]
    if kind in ("IntSlider", "FloatSlider"):
        mid = w.min + round((w.max - w.min) / 2 / w.step) * w.step
        vals = [w.min, w.max, mid]
        return [("value", v) for v in dict.fromkeys(vals) if v != w.value]
    if kind in ("BoundedIntText", "IntText", "BoundedFloatText", "FloatText"):
        lo = getattr(w, "min", -_math.inf)
        hi = getattr(w, "max", _math.inf)
        cast = int if "Int" in kind else float
        vals = [cast(min(hi, w.value * 2 or 1)), cast(max(lo, w.value // 2 if cast is int else w.value / 2))]
        return [("value", v) for v in dict.fromkeys(vals) if v != w.value]
    if kind in ("Dropdown", "Select", "RadioButtons", "ToggleButtons"):
        return [("index", i) for i in range(len(w.options)) if i != w.index]
    if kind in ("Text", "Textarea", "Combobox"):
        return [("value", v) for v in ("def f(x): return x * 2", "这是一个") if v != w.value]
    if kind in ("Checkbox", "ToggleButton"):
        return [("value", not w.value)]
    return []


def _book_nearest(w, wanted):
    """The first widget for which ``wanted`` holds in the smallest box that holds ``w`` and such a widget."""
    from ipywidgets import Box

    def descendants(box):
        for child in box.children:
            yield child
            if isinstance(child, Box):
                yield from descendants(child)

    best = None
    for box in _book_widgets().values():
        if not isinstance(box, Box):
            continue
        inside = list(descendants(box))
        found = [x for x in inside if x is not w and wanted(x)]
        if w in inside and found and (best is None or len(inside) < best[0]):
            best = (len(inside), found[0])
    return best[1] if best else None


def _book_smallest_box_with_button(w):
    """The action button in the smallest box that holds ``w`` and an enabled button (e.g. Train)."""
    from ipywidgets import Button

    return _book_nearest(w, lambda x: isinstance(x, Button) and not x.disabled)


def _book_empty_text_beside(button):
    """An empty text box in the smallest box with ``button`` (a message box beside its Send), or None."""
    from ipywidgets import Text, Textarea

    return _book_nearest(button, lambda x: isinstance(x, (Text, Textarea)) and not x.disabled and not x.value)


def _book_wait(condition, timeout):
    end = _time.time() + timeout
    while _time.time() < end:
        if condition():
            return True
        _time.sleep(0.05)
    return False


def _book_settle(quiet=1.0, timeout=60.0):
    """Wait until the widgets stop changing for ``quiet`` seconds."""
    last, still, end = _book_snapshot(None), 0.0, _time.time() + timeout
    while _time.time() < end:
        _time.sleep(0.2)
        now = _book_snapshot(None)
        still = still + 0.2 if now == last else 0.0
        last = now
        if still >= quiet:
            return True
    return False


def _book_act(w, state=None, click=False, timeout=180.0):
    """Send a change or a click. If it starts a run (a button's enabled state flips, as Train/Stop do),
    let the run show something, press the button it enabled (Stop), and wait for it to end; then wait
    until the widgets stop changing. Returns the error text, or None."""
    from ipywidgets import Button

    buttons = {b: b.disabled for b in _book_widgets().values() if isinstance(b, Button)}
    shot = _book_snapshot(None)

    def flipped():
        return [b for b, was in buttons.items() if b.disabled != was]

    try:
        _book_send(w, state, click)
    except Exception:  # noqa: BLE001 - this is what the test looks for
        return _traceback.format_exc(limit=3)
    _book_wait(lambda: flipped() or _book_snapshot(None) != shot, 3)
    if flipped():  # a run in progress
        _book_wait(lambda: _book_snapshot(None) != shot, 30)
        for b in flipped():
            if buttons[b] and not b.disabled:  # enabled by the run: Stop
                _book_send(b, click=True)
        if not _book_wait(lambda: not flipped(), timeout):
            return f"the run started by {getattr(w, 'description', w)!r} did not end within {timeout:.0f} s"
    _book_settle()
    return None


def _book_drive(model_name, description):
    """Drive the control; return a JSON report: what was tried, whether it changed anything, the errors."""
    w = _book_find(model_name, description)
    if w is None:
        return _json.dumps({"found": False})
    recorder = _BookRecorder()
    root = _logging.getLogger()
    root.addHandler(recorder)
    thread_errors = []
    old_hook = _threading.excepthook
    _threading.excepthook = lambda args: thread_errors.append(
        "".join(_traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback, limit=3)))
    tried = []
    shown_tracebacks = []
    try:
        shell = get_ipython()  # noqa: F821 - defined in a kernel
    except NameError:
        shell = None
    if shell is not None:
        original_showtraceback = shell.showtraceback
        shell.showtraceback = lambda *a, **k: shown_tracebacks.append("".join(_traceback.format_exc().splitlines(True)[-6:]))
    try:
        if type(w).__name__ == "Button":
            steps = [("click", None)]
        else:
            steps = _book_values(w)
        for key, value in steps:
            before = _book_snapshot(w)
            errors_before = set(_book_errors_in_outputs())
            if key == "click":
                if w.disabled:  # a button enabled only while something runs (Stop): start that, then press it
                    trigger = next((b for b in _book_widgets().values()
                                    if type(b).__name__ == "Button" and not b.disabled and b is not w), None)
                    if trigger is None:
                        tried.append({"value": "click", "changed": False, "error": "disabled, nothing enables it"})
                        continue
                    pressed = []
                    def press_when_enabled():
                        if _book_wait(lambda: not w.disabled, 60):
                            _book_send(w, click=True)
                            pressed.append(True)
                    helper = _threading.Thread(target=press_when_enabled, daemon=True)
                    helper.start()
                    error = _book_act(trigger, click=True)
                    helper.join(70)
                    if not pressed:
                        error = error or "it never became enabled"
                else:
                    error = _book_act(w, click=True)
            else:
                error = _book_act(w, {key: value})
            changed = _book_snapshot(w) != before
            followed = None
            if not changed and error is None and key == "click":  # Send with an empty message box
                text = _book_empty_text_beside(w)
                if text is not None:  # type first, as a reader would (the click syncs the box, then fires)
                    followed = f"typed into {text.description!r}"
                    error = _book_act(text, {"value": _book_values(text)[0][1]}) or _book_act(w, click=True)
                    changed = _book_snapshot(w) != before
            if not changed and error is None:
                action = _book_smallest_box_with_button(w)
                if action is not None and action is not w:
                    followed = action.description
                    error = _book_act(action, click=True)
                    changed = _book_snapshot(w) != before
            shown = [e for e in _book_errors_in_outputs() if e not in errors_before]
            tried.append({"value": repr(value) if key != "click" else "click", "changed": changed,
                          "then": followed, "error": error or (shown[0] if shown else None)})
    finally:
        root.removeHandler(recorder)
        _threading.excepthook = old_hook
        if shell is not None:
            shell.showtraceback = original_showtraceback
    return _json.dumps({"found": True, "tried": tried, "logged": recorder.records, "thread_errors": thread_errors,
                        "tracebacks": shown_tracebacks})
