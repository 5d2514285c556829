"""lmlib.debugging: scripted post-mortem and breakpoint sessions (the stored run of chapter 7a)."""

import sys
import textwrap

import pytest

from lmlib import debugging

SCRIPT = textwrap.dedent('''
    def inner(values):
        total = sum(values)
        return total / len(values)


    def outer(n):
        values = list(range(n))
        mean = inner(values)
        return mean * 2
''')


@pytest.fixture
def script(tmp_path, monkeypatch):
    path = tmp_path / "buggy_mod.py"
    path.write_text(SCRIPT)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("buggy_mod", None)
    import buggy_mod

    yield path, buggy_mod
    sys.modules.pop("buggy_mod", None)


def test_post_mortem_runs_commands_and_echoes_them(script):
    path, mod = script
    with pytest.raises(ZeroDivisionError) as info:
        mod.outer(0)
    text = debugging.post_mortem(info.value, ["p values", "p len(values)", "up", "p n", "quit"],
                                 interactive=False, keep_lines_in=["buggy_mod.py"])
    lines = text.splitlines()
    assert lines[0] == "> buggy_mod.py(4)inner()"
    assert lines[1] == "-> return total / len(values)"
    assert "(Pdb) p values" in lines and "[]" in lines
    assert "(Pdb) p len(values)" in lines and "0" in lines
    assert "> buggy_mod.py(9)outer()" in lines
    assert lines[lines.index("(Pdb) p n") + 1] == "0"
    assert str(path.parent) not in text  # paths are shortened to file names


def test_post_mortem_appends_quit_and_hides_library_line_numbers():
    try:
        import json

        json.loads("{")
    except ValueError as err:
        text = debugging.post_mortem(err, ["where"], interactive=False)
    assert text.rstrip().endswith("(Pdb) quit")
    assert "decoder.py(…)" in text  # a library frame: its line number is hidden


def test_post_mortem_needs_a_raised_exception():
    with pytest.raises(ValueError, match="no traceback"):
        debugging.post_mortem(RuntimeError("never raised"), interactive=False)


def test_breakpoint_session_stops_at_the_line(script):
    path, mod = script
    line = debugging.line_of(path, "mean = inner(values)")
    text = debugging.run_with_breakpoint(mod.outer, 4, file=path, line=line, commands=["p values", "p n"],
                                         interactive=False, keep_lines_in=["buggy_mod.py"])
    lines = text.splitlines()
    assert lines[0] == f"> buggy_mod.py({line})outer()"
    assert "[0, 1, 2, 3]" in lines and "4" in lines
    assert sys.gettrace() is None  # tracing is switched off again


def test_breakpoint_condition(script):
    path, mod = script
    line = debugging.line_of(path, "return total / len(values)")
    text = debugging.run_with_breakpoint(mod.inner, [1, 2, 3], file=path, line=line, condition="total > 5",
                                         commands=["p total"], interactive=False)
    assert "6" in text.splitlines()
    text = debugging.run_with_breakpoint(mod.inner, [1, 2], file=path, line=line, condition="total > 5",
                                         commands=["p total"], interactive=False)
    assert "(Pdb) p total" not in text  # never stopped


def test_bad_breakpoint_and_missing_line(script):
    path, mod = script
    with pytest.raises(ValueError, match="no line of"):
        debugging.line_of(path, "not in the file")
    with pytest.raises(ValueError, match="cannot set a breakpoint"):
        debugging.run_with_breakpoint(mod.outer, 1, file=path, line=999, interactive=False)


def test_remember_sets_the_last_exception():
    try:
        raise KeyError("k")
    except KeyError as err:
        debugging.remember(err)
    assert sys.last_type is KeyError and sys.last_traceback is not None


def test_can_type_is_false_while_the_book_is_made(monkeypatch):
    monkeypatch.setenv("LMLIB_BOOK_MODE", "1")
    assert debugging.can_type() is False


def test_shorten_paths():
    text = "> /root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/torch/nn/functional.py(3479)cross_entropy()"
    assert debugging.shorten_paths(text) == "> functional.py(…)cross_entropy()"
    assert debugging.shorten_paths("> /tmp/x/tiny.py(12)f()", ["tiny.py"]) == "> tiny.py(12)f()"
