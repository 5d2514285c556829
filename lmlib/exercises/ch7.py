"""Checks for chapter 7: tools (debugging, profiling, TensorBoard, frameworks)."""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

from ._core import Unanswered, _grade, _number, register, register_written


def _raised(err: BaseException) -> str:
    """The class name of the exception a student's function raised (kept when the grader replays it)."""
    return getattr(err, "student_type", type(err).__name__)


def _loss_cases():
    import torch

    gen = torch.Generator().manual_seed(7)
    for shape in ((2, 3, 5), (4, 1, 7), (1, 6, 3)):
        logits = torch.randn(*shape, generator=gen)
        targets = torch.randint(0, shape[-1], shape[:2], generator=gen)
        yield logits, targets


@register("7.1", kind="function", answer="my_loss", points=2)
def _loss(answer: Any) -> tuple[bool, str]:
    import torch
    import torch.nn.functional as F

    if not callable(answer):
        return False, "pass your function itself (my_loss), not its result."
    for logits, targets in _loss_cases():
        try:
            got = answer(logits, targets)
        except Exception as err:  # noqa: BLE001 - a shape error is the typical mistake; others are reported
            if _raised(err) == "RuntimeError" and ("target" in str(err).lower() or "size" in str(err).lower()):
                return False, ("cross_entropy raised a shape error: for (B, T, V) logits, flatten to (B*T, V) and the "
                               "targets to (B*T), or move the vocabulary to dimension 1.")
            raise
        if got is None:
            raise Unanswered("my_loss returns None: finish it so that it returns the loss.")
        got = torch.as_tensor(got)
        if got.numel() != 1:
            return False, (f"the loss should be one number (the mean over all positions); yours has shape "
                           f"{tuple(got.shape)}. Did you pass reduction='none'?")
        truth = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        summed = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum")
        if torch.isclose(got.float(), summed, rtol=1e-4):
            return False, "that is the sum over positions; the loss lmlib reports (and the check wants) is the mean."
        if not torch.isclose(got.float(), truth, rtol=1e-4, atol=1e-6):
            return False, (f"for logits of shape {tuple(logits.shape)} your loss ({float(got):.4f}) is not the mean "
                           "cross-entropy: check that each position is scored against its own target.")
    return True, "right: the mean cross-entropy over every (batch, time) position."


@register("7.2", kind="function", answer="check_batch", points=2)
def _check_batch(answer: Any) -> tuple[bool, str]:
    import torch

    if not callable(answer):
        return False, "pass your function itself (check_batch)."
    ids = torch.arange(100) % 37
    starts = torch.tensor([3, 20, 51])
    window = ids[starts.unsqueeze(1) + torch.arange(9)]
    good = (window[:, :-1], window[:, 1:])
    other = ids[torch.tensor([60, 7, 33]).unsqueeze(1) + torch.arange(9)]
    bad = {
        "the batch of bug 2 (targets from other windows)": (window[:, :-1], other[:, 1:]),
        "targets equal to the inputs (no shift)": (window[:, :-1], window[:, :-1]),
        "targets shifted the wrong way": (window[:, 1:], window[:, :-1]),
        "x and y of different shapes": (window[:, :-1], window[:, 1:-1]),
    }
    try:
        answer(*good)
    except Exception as err:  # noqa: BLE001 - any exception on a correct batch is the mistake
        return False, f"a correct batch raised {_raised(err)}({err}); only wrong batches should."
    let_through = []
    for name, (x, y) in bad.items():
        try:
            answer(x, y)
        except Exception as err:  # noqa: BLE001 - tell the student which exception it was
            if isinstance(err, ValueError) or _raised(err) == "ValueError":
                continue
            return False, f"for {name} raise ValueError, not {_raised(err)}."
        let_through.append(name)
    if len(let_through) == len(bad):
        raise Unanswered("check_batch raises nothing yet: make it raise ValueError for a wrong batch.")
    if let_through:
        return False, f"{let_through[0]}: check_batch let it through."
    return True, "right: correct batches pass, and every wrong one raises ValueError."


@register("7.4", kind="function", answer="my_matmul_share", points=2)
def _matmul_share(answer: Any) -> tuple[bool, str]:
    from ..profiling import matmul_share

    if not callable(answer):
        return False, "pass your function itself (my_matmul_share)."
    cases = [
        [("aten::mm", 40.0), ("aten::addmm", 20.0), ("aten::gelu", 25.0), ("aten::add_", 15.0)],
        [("aten::linear", 3.0), ("aten::matmul", 1.0), ("aten::mm", 30.0), ("aten::bmm", 10.0),
         ("aten::softmax", 36.0), ("Optimizer.step#AdamW.step", 20.0)],
        [("aten::gelu", 5.0), ("aten::layer_norm", 5.0)],
    ]
    for rows in cases:
        truth = matmul_share(rows)
        got = answer(rows)
        if got is None:
            raise Unanswered("my_matmul_share returns None: finish it so that it returns a fraction.")
        got = _number(got)
        if math.isclose(got, truth, rel_tol=1e-6, abs_tol=1e-9):
            continue
        if truth > 0 and math.isclose(got, truth * 100, rel_tol=1e-6):
            return False, "return a fraction between 0 and 1, not a percentage."
        names = {name for name, _ in rows}
        if "aten::linear" in names and math.isclose(got, truth + 0.04, rel_tol=1e-6):
            return False, ("aten::linear and aten::matmul only dispatch to aten::mm/addmm; their self time is "
                           "bookkeeping, not multiplication. Count the operators that do the multiply.")
        return False, (f"for {rows} your share ({got:.4f}) is not right: decide which operators do the multiplying, "
                       "and divide their self time by the total self time.")
    return True, "right: self time of the matrix-multiply operators over all self time."


@register("7.5", kind="number", answer="answer_7_5", points=1,
          solution=lambda p: "1 / ((1 - 0.12) + 0.12 / 4)")
def _amdahl(answer: Any) -> tuple[bool, str]:
    p, s = 0.12, 4.0  # the exercise's numbers: the optimiser is 12 % of the step and becomes 4 times faster
    truth = 1.0 / ((1.0 - p) + p / s)
    return _grade(
        _number(answer), truth, 1e-3,
        f"right: 1 / ((1 - 0.12) + 0.12 / 4) = {truth:.3f}, a {100 * (truth - 1):.0f} % faster step.",
        [(s, "4 is the speed-up of the optimiser alone; the rest of the step is not faster."),
         (1.0 / (1.0 - p), "that would need the optimiser to take no time at all (an infinite speed-up)."),
         (1 + p * (s - 1), "that adds the saved time the wrong way: time saved is p - p/s, and speed-up is "
                           "old time over new time."),
         (p * s + (1 - p), "that multiplies the optimiser's time by 4 instead of dividing it.")],
        "use Amdahl's law: speed-up = 1 / ((1 - p) + p / s) with p = 0.12 and s = 4.")


# Two validation curves with a known best step; the training loss is lower everywhere (a trap for the wrong tag).
_LOG_SERIES = ({10: 3.1, 20: 2.7, 30: 2.5, 40: 2.6, 50: 2.55}, {100: 2.9, 200: 2.4, 300: 2.3, 400: 2.25, 500: 2.31})
_LOG_DIR = "lmlib_check_7_7_log{}"  # relative, in a fresh temporary folder: the same arguments in every run


@register("7.7", kind="function", answer="best_step", points=2)
def _best_step(answer: Any) -> tuple[bool, str]:
    if not callable(answer):
        return False, "pass your function itself (best_step)."
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return False, "this check needs the tensorboard package: pip install tensorboard"
    for case, series in enumerate(_LOG_SERIES):
        log_dir = _LOG_DIR.format(case)
        steps = sorted(series)
        best = min(steps, key=series.get)
        here = os.getcwd()
        with tempfile.TemporaryDirectory() as root:
            os.chdir(root)
            try:
                writer = SummaryWriter(log_dir)
                for step in steps:
                    writer.add_scalar("loss/val", series[step], step)
                    writer.add_scalar("loss/train", series[step] - 0.4 + step / 1000, step)
                writer.close()
                got = answer(log_dir)
            finally:
                os.chdir(here)
        if got is None:
            raise Unanswered("best_step returns None: finish it so that it returns the step (an int).")
        if got == max(steps, key=series.get):
            return False, "that step has the highest validation loss; you want the lowest."
        if got == steps[-1]:
            return False, "that is the last step; the lowest validation loss came earlier."
        if got in [series[s] for s in steps]:
            return False, "that is a loss value; return the step at which it was logged."
        if got != best:
            return False, (f"step {got!r} is not the step of the lowest validation loss. Read the tag 'loss/val', "
                           "not 'loss/train', and return the step, not the value.")
    return True, "right: the step of the lowest validation loss, before it rose again."


@register("7.9", kind="function", answer="jax_cross_entropy", points=2)
def _jax_cross_entropy(answer: Any) -> tuple[bool, str]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    if not callable(answer):
        return False, "pass your function itself (jax_cross_entropy)."
    try:
        import jax.numpy as jnp
    except ImportError:
        return False, "this check needs JAX: pip install jax"
    gen = torch.Generator().manual_seed(9)
    for shape in ((3, 4, 6), (2, 5, 11)):
        logits = torch.randn(*shape, generator=gen) * 3
        targets = torch.randint(0, shape[-1], shape[:2], generator=gen)
        got = answer(jnp.asarray(logits.numpy()), jnp.asarray(targets.numpy()))
        if got is None:
            raise Unanswered("jax_cross_entropy returns None: finish it so that it returns the mean loss.")
        got = float(np.asarray(got))
        truth = float(F.cross_entropy(logits.reshape(-1, shape[-1]), targets.reshape(-1)))
        no_log = float(-(logits.softmax(-1).gather(-1, targets[..., None])).mean())
        if math.isclose(got, no_log, rel_tol=1e-4):
            return False, "take the log of the probabilities: use jax.nn.log_softmax, not softmax."
        if math.isclose(got, -truth, rel_tol=1e-4):
            return False, "the sign is wrong: cross-entropy is minus the mean log-probability of the targets."
        if not math.isclose(got, truth, rel_tol=1e-4, abs_tol=1e-6):
            return False, (f"for shape {shape} your value ({got:.5f}) differs from PyTorch's cross_entropy: average "
                           "minus the log-probability of each target over every position.")
    return True, "right: the same number PyTorch's cross_entropy gives, computed in JAX."


for _written in ("7.3", "7.6", "7.8", "7.10"):
    register_written(_written, points=2)
