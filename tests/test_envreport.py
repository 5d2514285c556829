import importlib.metadata
import platform

import torch

from lmlib import __version__, envreport


def test_one_line_names_python_lmlib_torch_and_device():
    line = envreport.one_line()
    assert line.startswith(f"Python {platform.python_version()} | lmlib {__version__} | torch {torch.__version__}")
    assert "| device cpu |" in line or "| device cuda" in line


def test_report_lists_machine_and_packages():
    info = envreport.report()
    assert info["torch version"] == importlib.metadata.version("torch")
    assert info["lmlib version"] == __version__
    assert int(info["CPU cores (logical)"]) >= 1
    assert not envreport.in_colab()


def test_busy_note_speaks_only_when_the_machine_is_busy():
    assert envreport.busy_note(cpus=2, load=1.5) == ""
    note = envreport.busy_note(cpus=2, load=7.25)
    assert "load average 7.2 on 2 CPUs" in note and "quiet machine" in note
    assert isinstance(envreport.busy_note(), str)


def test_in_colab_reads_the_environment_and_the_modules(monkeypatch):
    import sys

    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not envreport.in_colab() and envreport.report()["running in"] == "local Jupyter / script"
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260101")
    assert envreport.in_colab() and envreport.report()["running in"] == "Google Colab"
    monkeypatch.delenv("COLAB_RELEASE_TAG")
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert envreport.in_colab()
