"""Training on several processes: data parallelism (DDP) for ``train.fit`` with torch.distributed.

Chapter 8 (section 8.2.1, compute on several processes) explains and measures it.

Start N copies of a script that calls ``train.fit`` with ``torchrun --nproc_per_node N script.py``:
torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` for each. The
script calls ``distributed.init()`` (gloo on CPUs, NCCL on GPUs), and from then on ``fit``

1. wraps the model in ``DistributedDataParallel``, which averages the gradients of all processes during
   the backward pass, so every process takes the same optimiser step;
2. draws the same global batch of ``batch_size`` windows on every process (the same seed) and trains each
   on its own slice of ``batch_size / world_size`` windows (``shard``): the processes together see exactly
   the batch one process would;
3. averages the loss over processes for the history and for the decision to stop on a non-finite loss;
4. evaluates each process on its share of the validation windows and sums the results;
5. shows the progress bar and runs callbacks (a checkpoint writer, a live plot) on rank 0 only, and
   broadcasts rank 0's decision to stop.

The same script runs unchanged on several GPUs (NCCL, one process per GPU) and on several machines
(``torchrun --nnodes M --node_rank i --rdzv_endpoint HOST:PORT ...``). Run as a module, this file is a
small training script for torchrun: ``torchrun --standalone --nproc_per_node 2 -m lmlib.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn

__all__ = ["Context", "context", "init", "shutdown", "is_distributed", "rank", "world_size", "is_main",
           "shard_range", "allreduce_bytes"]


def _dist():
    import torch.distributed as dist

    return dist


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's number, 0..world_size-1 (0 without a process group)."""
    dist = _dist()
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes training together (1 without a process group)."""
    dist = _dist()
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """True on rank 0, the process that logs, shows progress and writes checkpoints."""
    return rank() == 0


def init(backend: str | None = None) -> bool:
    """Join the process group torchrun describes in the environment; True when there are several processes.

    ``backend`` defaults to NCCL when CUDA is available and gloo otherwise. Without torchrun's variables
    (a plain ``python script.py``) this does nothing and returns False, so one script serves both.
    """
    dist = _dist()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed; train on one process")
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return is_distributed()


def shutdown() -> None:
    """Leave the process group (call at the end of a torchrun script)."""
    dist = _dist()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_range(n: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous share [start, stop) of ``n`` items that process ``rank`` of ``world`` takes.

    The shares differ in size by at most one and cover 0..n-1 exactly once.
    """
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank must be in 0..world-1, got rank {rank} of {world}")
    return rank * n // world, (rank + 1) * n // world


def allreduce_bytes(n_values: int, world: int, bytes_per_value: int = 4) -> float:
    """Bytes each process sends to all-reduce ``n_values`` numbers with a ring (reduce-scatter, then
    all-gather): 2 (world - 1) / world x n_values x bytes_per_value, nearly independent of ``world``."""
    if world < 1 or n_values < 0 or bytes_per_value < 1:
        raise ValueError(f"need world >= 1, n_values >= 0, bytes_per_value >= 1; got {world}, {n_values}, "
                         f"{bytes_per_value}")
    return 2.0 * (world - 1) / world * n_values * bytes_per_value


@dataclass
class Context:
    """How ``fit`` trains here: one process (every method is the identity) or one of several."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, default: torch.device) -> torch.device:
        """One GPU per process on a machine with GPUs (``LOCAL_RANK``); else ``default``."""
        if self.active and default.type == "cuda" and default.index is None:
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return default

    def check_batch(self, batch_size: int) -> None:
        if self.active and batch_size % self.world:
            raise ValueError(
                f"batch_size {batch_size} must be divisible by the number of processes ({self.world}): each "
                f"process trains on an equal slice of the global batch"
            )

    def callbacks(self, hooks: list, stop_exception: type) -> list:
        """The callbacks this process runs: all of them on rank 0, none elsewhere. With several processes,
        a ``stop_exception`` raised on rank 0 becomes a vote to stop, so that every process stops together."""
        if not self.active:
            return hooks
        return [_SharedStop(cb, stop_exception) for cb in hooks] if self.is_main else []

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module to call for training: ``DistributedDataParallel(model)`` or ``model`` itself."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        # DDP copies rank 0's weights to every process, so all start from the same model
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def shard(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This process's slice (along the batch dimension) of tensors every process holds in full."""
        if not self.active:
            return tensors
        start, stop = shard_range(tensors[0].shape[0], self.rank, self.world)
        return tuple(t[start:stop] for t in tensors)

    def mean(self, value: float, device: torch.device) -> float:
        """The mean of ``value`` over processes (the same number on every process)."""
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=device)
        _dist().all_reduce(t)
        return float(t) / self.world

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process when ``flag`` is True on any of them."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        _dist().all_reduce(t)
        return bool(t.item() > 0)

    def evaluate(self, evaluate: Callable[..., float], model: nn.Module, ids: torch.Tensor, seq_len: int,
                 max_tokens: int | None) -> float:
        """``evaluate(model, ids, seq_len=..., max_tokens=...)`` with the windows shared out over processes."""
        if not self.active:
            return evaluate(model, ids, seq_len=seq_len, max_tokens=max_tokens)
        if max_tokens is not None:
            ids = ids[: max(max_tokens, seq_len) + 1]
        n = (len(ids) - 1) // seq_len  # whole windows, as train.evaluate cuts them
        start, stop = shard_range(n, self.rank, self.world)
        device = next(model.parameters()).device
        total = torch.zeros(2, dtype=torch.float64, device=device)
        if stop > start:
            count = (stop - start) * seq_len
            part = ids[start * seq_len : stop * seq_len + 1]
            total[0] = evaluate(model, part, seq_len=seq_len) * count
            total[1] = count
        _dist().all_reduce(total)
        return float(total[0] / total[1])


class _SharedStop:
    """A rank-0 callback whose ``stop_exception`` turns into ``True`` (stop), which ``fit`` shares with every
    process; a process that left the loop alone would leave the others waiting for it forever."""

    def __init__(self, callback: Any, stop_exception: type):
        self.callback, self.stop_exception = callback, stop_exception

    def on_start(self, *args: Any) -> None:
        self.callback.on_start(*args)

    def on_step(self, *args: Any) -> bool | None:
        try:
            return self.callback.on_step(*args)
        except self.stop_exception:
            return True

    def on_eval(self, *args: Any) -> bool | None:
        try:
            return self.callback.on_eval(*args)
        except self.stop_exception:
            return True

    def on_end(self, *args: Any) -> None:
        self.callback.on_end(*args)


def context() -> Context:
    """The ``Context`` of this process: several processes when a process group is initialised."""
    return Context(rank(), world_size()) if is_distributed() else Context()


def _main(argv: list[str] | None = None) -> None:
    """Train a small character-level GPT on the default corpus; under torchrun, on several processes."""
    import argparse
    import json
    import time

    from . import checkpoint, data, models, tokenizers, train

    ap = argparse.ArgumentParser(description=_main.__doc__)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=32, help="the global batch, shared out over processes")
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--embd", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-interval", type=int, default=25)
    ap.add_argument("--out", default="", help="write the history as JSON here (rank 0)")
    ap.add_argument("--checkpoint", default="", help="save the trained model here (rank 0)")
    args = ap.parse_args(argv)

    init()
    ctx = context()
    text = data.load_corpus()
    tok = tokenizers.CharTokenizer.fit(text)
    train_text, val_text = data.split(text, 0.9)
    torch.manual_seed(args.seed)
    model = models.GPT(models.GPTConfig(vocab_size=tok.vocab_size, block_size=args.seq_len, n_layer=args.layers,
                                        n_head=4, n_embd=args.embd))
    config = train.TrainConfig(steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                               seed=args.seed, eval_interval=args.eval_interval, progress=ctx.is_main)
    started = time.perf_counter()
    history = train.fit(model, tok.encode(train_text), tok.encode(val_text), config)
    wall = time.perf_counter() - started
    if ctx.is_main:
        print(f"{ctx.world} process(es) x {torch.get_num_threads()} thread(s): {args.steps} steps in {wall:.1f} s, "
              f"final validation loss {history.val_loss[-1]:.4f}")
        if args.out:
            record = {"world_size": ctx.world, "threads_per_process": torch.get_num_threads(),
                      "backend": _dist().get_backend() if ctx.active else None, "wall_seconds": wall,
                      "args": vars(args), "history": history.to_dict()}
            with open(args.out, "w") as f:
                json.dump(record, f)
        if args.checkpoint:
            checkpoint.save(args.checkpoint, model, tok, history=history)
    shutdown()


if __name__ == "__main__":
    _main()
