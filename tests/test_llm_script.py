"""chapters/llm.py, the article's llm.py completed with lmlib: it runs as a file, keeps the article's
configuration, marks every change it lists, and generates from the article's prompt."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
LLM_PY = ROOT / "chapters" / "llm.py"


@pytest.fixture(scope="module")
def llm():
    spec = importlib.util.spec_from_file_location("llm_under_test", LLM_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_the_article_configuration_is_the_articles(llm):
    a = llm.ARTICLE
    assert (a.cell, a.embedding_dim, a.hidden_dim, a.optimizer, a.lr) == ("rnn", 128, 256, "adam", 1e-3)
    assert a.grad_clip is None and a.schedule == "constant"
    model = llm.LLM(256, a)
    assert isinstance(llm.make_optimizer(model, a), torch.optim.Adam)
    assert model.rnn.batch_first and model.embedding.num_embeddings == 256


def test_every_listed_change_is_marked_in_the_code(llm):
    source = LLM_PY.read_text(encoding="utf-8")
    marked = {n for pair in re.findall(r"CHANGES? (\d+)(?: and (\d+))?", source) for n in pair if n}
    listed = {what.split()[0] for what, _, _ in llm.CHANGES}
    assert marked == listed == {str(i) for i in range(1, len(llm.CHANGES) + 1)}


def test_preprocess_encodes_the_articles_prompt(llm):
    assert llm.preprocess_text("这是一个") == list("这是一个".encode("utf-8"))


def test_main_trains_and_generates(llm, capsys):
    result = llm.main(["--steps", "3", "--tokens", "6", "--quiet", "--device", "cpu"])
    history = result["history"]
    assert history.completed and len(history.step_loss) == 3 and history.val_loss
    assert result["text"].startswith("这是一个")
    assert "validation loss" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        llm.main(["--config", "nonsense"])


def test_it_runs_as_a_file_from_anywhere(tmp_path):
    done = subprocess.run([sys.executable, str(LLM_PY), "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "--config" in done.stdout
