"""The base checkpoint chapter 6 stands on: it loads, records its recipe, and saw no test item."""

import torch

from lmlib import checkpoint, generate, taskdata, tokenizers


def test_base_checkpoint_loads_generates_and_records_its_recipe():
    path = checkpoint.bundled("base")
    assert path.stat().st_size < 5_000_000
    model, tok = checkpoint.load(path)
    assert isinstance(tok, tokenizers.ByteTokenizer) and model.config.block_size == 256
    extra = checkpoint.read_metadata(path)["extra"]
    assert extra["recipe"]["seed"] == 0 and extra["stop_reason"] == "completed"
    assert extra["val_loss_full"] < 2.5  # nats per byte on the manual's held-out tail; uniform is 5.55
    text = generate.generate(model, tok, "Return the ", max_new_tokens=20, temperature=0)
    assert text.startswith("Return the ") and len(tok.encode(text)) == 31
    history = checkpoint.load_history(path)
    assert history.val_loss[-1] < history.val_loss[0]


def test_base_corpus_leaves_the_test_items_out():
    corpus = taskdata.base_corpus()
    _, test_docs = taskdata.split_items(taskdata.docstrings())
    long_bodies = [d.body for d in test_docs if len(d.body) > 200 and d.body not in corpus]
    assert len(long_bodies) > 20  # test docstrings are not in the pretraining text...
    train_docs, _ = taskdata.split_items(taskdata.docstrings())
    assert all(d.summary in corpus for d in train_docs[:50] if d.summary)  # ...training ones are
    _, test_code = taskdata.split_items(list(taskdata.code_samples()))
    assert not any(s.source.decode()[:500] in corpus for s in test_code)
