"""train.fit on several processes (lmlib.distributed): torchrun with 2 CPU processes over gloo.

Each test starts two short-lived processes; the models are tiny so that the whole file takes seconds.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from lmlib import checkpoint, data, distributed, models, tokenizers, train

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-4  # |loss(2 processes) - loss(1 process)| per step: the same arithmetic summed in another order


def test_shard_range_covers_everything_once():
    for n in (0, 1, 7, 64):
        for world in (1, 2, 3, 5):
            parts = [distributed.shard_range(n, r, world) for r in range(world)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            assert max(b - a for a, b in parts) - min(b - a for a, b in parts) <= 1
    with pytest.raises(ValueError, match="rank"):
        distributed.shard_range(4, 2, 2)


def test_one_process_context_changes_nothing():
    ctx = distributed.context()
    x = torch.arange(6).view(3, 2)
    assert not ctx.active and ctx.is_main and ctx.shard(x, x)[0] is x and ctx.mean(1.5, torch.device("cpu")) == 1.5
    assert distributed.init() is False  # no torchrun variables: nothing to join


def _single_process(steps, batch_size, seq_len, layers, embd, lr, eval_interval):
    text = data.load_corpus()
    tok = tokenizers.CharTokenizer.fit(text)
    train_text, val_text = data.split(text, 0.9)
    torch.manual_seed(0)
    model = models.GPT(models.GPTConfig(vocab_size=tok.vocab_size, block_size=seq_len, n_layer=layers, n_head=4,
                                        n_embd=embd))
    cfg = train.TrainConfig(steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, seed=0,
                            eval_interval=eval_interval, progress=False)
    return model, train.fit(model, tok.encode(train_text), tok.encode(val_text), cfg, device="cpu")


def test_torchrun_two_processes_match_one(tmp_path):
    out, ckpt = tmp_path / "history.json", tmp_path / "ddp.lmlib"
    args = ["--steps", "12", "--batch-size", "8", "--seq-len", "32", "--layers", "1", "--embd", "32",
            "--eval-interval", "6", "--out", str(out), "--checkpoint", str(ckpt)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "lmlib.distributed", *args], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["world_size"] == 2 and record["backend"] == "gloo"
    model, one = _single_process(12, 8, 32, 1, 32, 3e-3, 6)
    two = record["history"]
    assert len(two["step_loss"]) == 12 and two["tokens_seen"] == one.tokens_seen == 12 * 8 * 32
    assert max(abs(a - b) for a, b in zip(two["step_loss"], one.step_loss)) < TOL
    assert two["val_loss"] == pytest.approx(one.val_loss, abs=TOL)
    loaded, _ = checkpoint.load(ckpt)  # written once, by rank 0, with the trained weights
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-4), name


class _StopAt(train.Callback):
    def __init__(self, step, folder, raise_it=False):
        self.step, self.folder, self.raise_it = step, folder, raise_it

    def on_step(self, step, loss, history):
        if not self.raise_it:
            (Path(self.folder) / f"callback-rank{distributed.rank()}-step{step}").touch()
        if step == self.step and self.raise_it:
            raise train.StopTraining()
        return step == self.step


def _worker(rank, world, init_file, folder):
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    result = {}
    try:
        torch.manual_seed(0)
        model = models.GPT(models.GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=8))
        ids = torch.arange(500) % 20
        cfg = train.TrainConfig(steps=10, batch_size=4, seq_len=8, progress=False, eval_interval=2)
        history = train.fit(model, ids, ids[:203], cfg, callbacks=[_StopAt(3, folder)], device="cpu")
        result["stopped"] = [history.stop_reason, len(history.step_loss)]
        raised = train.fit(model, ids, None, cfg, callbacks=[_StopAt(2, folder, raise_it=True)], device="cpu")
        result["raised"] = [raised.stop_reason, len(raised.step_loss)]
        result["sharded_eval"] = distributed.context().evaluate(train.evaluate, model, ids[:203], 8, None)
        result["full_eval"] = train.evaluate(model, ids[:203], seq_len=8)
        try:
            train.fit(model, ids, None, train.TrainConfig(steps=1, batch_size=3, seq_len=8, progress=False))
        except ValueError as err:
            result["error"] = str(err)
    finally:
        torch.distributed.destroy_process_group()
    (Path(folder) / f"rank{rank}.json").write_text(json.dumps(result))


def test_rank0_callbacks_stop_every_process_and_evaluation_is_shared(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for r in results:
        assert r["stopped"] == ["stopped by callback", 3]  # rank 0 said stop; rank 1 stopped at the same step
        assert r["raised"] == ["stopped by callback", 2]  # StopTraining raised on rank 0 stops both too
        assert r["sharded_eval"] == pytest.approx(r["full_eval"], abs=1e-6)
        assert "divisible by the number of processes (2)" in r["error"]
    assert sorted(p.name for p in tmp_path.glob("callback-*")) == [f"callback-rank0-step{s}" for s in (1, 2, 3)]
