"""Making a trained model smaller and faster: int8 dynamic quantisation, magnitude pruning, distillation.

Chapter 8 (notebook 8c, the article's research direction 8.3.1, 模型压缩与加速) measures all three on one
GPT: size on disk, generation speed with the KV cache, and validation loss.

* ``quantize_int8`` stores every ``nn.Linear`` weight as int8 with one scale per matrix and quantises the
  activations on the fly (PyTorch's dynamic quantisation, int8 matrix kernels).
* ``magnitude_prune`` zeroes the smallest weights of the Linear matrices; ``save_sparse`` stores what is
  left as a bit mask plus the non-zero values, the only way unstructured sparsity saves bytes.
* ``distill`` trains a smaller student on a teacher's softened next-token distributions (Hinton et al.).
* ``generation_speeds`` times greedy generation of several models in one interleaved run, so that their
  ratios hold on a busy machine where absolute speeds do not.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from .data import as_tensor, get_batch
from .train import History, TrainConfig, evaluate, learning_rate, make_optimizer

__all__ = [
    "quantize_int8",
    "is_quantized",
    "prunable_weights",
    "magnitude_prune",
    "sparsity",
    "save_float",
    "save_int8",
    "save_sparse",
    "file_size",
    "distill",
    "distillation_loss",
    "generation_speeds",
]


def _tied_linears(model: nn.Module) -> set[str]:
    """Names of Linear layers whose weight is also used elsewhere (e.g. a GPT head tied to its embedding)."""
    owners: dict[int, list[str]] = {}
    for name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            owners.setdefault(id(p), []).append(f"{name}.{pname}" if name else pname)
    tied = set()
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and len(owners.get(id(module.weight), [])) > 1:
            tied.add(name)
    return tied


def quantize_int8(model: nn.Module, skip_tied: bool = True) -> nn.Module:
    """A copy of ``model`` whose Linear layers compute in int8 (dynamic quantisation); ``model`` is untouched.

    Weights become int8 with one scale per matrix; activations are quantised per call. A Linear whose
    weight is shared (a GPT's head, tied to the token embedding) stays float when ``skip_tied``, so the
    file still holds that matrix once. CPU only: PyTorch's int8 kernels (fbgemm/x86, qnnpack) run there.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("dynamic int8 quantisation runs on the CPU; move the model there first (model.cpu())")
    try:
        from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic
    except ImportError as err:  # pragma: no cover - depends on the torch release
        raise RuntimeError(
            f"this torch ({torch.__version__}) has no torch.ao.quantization.quantize_dynamic; "
            "PyTorch moved it to the torchao package (pip install torchao)"
        ) from err
    copied = copy.deepcopy(model).cpu().eval()
    skip = _tied_linears(copied) if skip_tied else set()
    spec = {name: default_dynamic_qconfig for name, m in copied.named_modules()
            if isinstance(m, nn.Linear) and name not in skip}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(copied, spec, dtype=torch.qint8)


def is_quantized(module: nn.Module) -> bool:
    """True for a dynamically quantised Linear layer."""
    return type(module).__name__ == "Linear" and type(module).__module__.startswith("torch.ao.nn.quantized")


def prunable_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weight matrices magnitude pruning acts on: every Linear's weight, except tied ones (embeddings)."""
    tied = _tied_linears(model)
    return {f"{name}.weight": m.weight for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and name not in tied}


def magnitude_prune(model: nn.Module, amount: float, scope: str = "global") -> nn.Module:
    """A copy of ``model`` with the fraction ``amount`` of its prunable weights set to zero, smallest first.

    ``scope="global"`` ranks all prunable weights together (layers that matter less lose more);
    ``"layer"`` removes the same fraction from each matrix. Biases, norms and embeddings are kept.
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0.0 <= amount < 1.0:
        raise ValueError(f"amount must be a fraction in [0, 1), got {amount!r}")
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    pruned = copy.deepcopy(model)
    weights = prunable_weights(pruned)
    if not weights:
        raise ValueError("the model has no Linear weights to prune")
    with torch.no_grad():
        if scope == "global":
            magnitudes = torch.cat([w.detach().abs().flatten() for w in weights.values()])
            k = int(round(amount * magnitudes.numel()))
            if k == 0:
                return pruned
            threshold = torch.kthvalue(magnitudes.cpu(), k).values.item()
            for w in weights.values():
                w.masked_fill_(w.abs() <= threshold, 0.0)
        else:
            for w in weights.values():
                k = int(round(amount * w.numel()))
                if k:
                    threshold = torch.kthvalue(w.detach().abs().flatten().cpu(), k).values.item()
                    w.masked_fill_(w.abs() <= threshold, 0.0)
    return pruned


def sparsity(model: nn.Module) -> float:
    """Fraction of the prunable weights that are exactly zero."""
    weights = prunable_weights(model)
    total = sum(w.numel() for w in weights.values())
    return sum(int((w == 0).sum()) for w in weights.values()) / max(total, 1)


def _unique_state(model: nn.Module) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor) or t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        tensors[name] = t.detach().cpu().contiguous()
    return tensors


def save_float(path: str | os.PathLike, model: nn.Module, dtype: torch.dtype = torch.float32) -> Path:
    """Write the model's weights (tied ones once) as ``dtype`` to a safetensors file; return the path."""
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be torch.float32, float16 or bfloat16, got {dtype}")
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in _unique_state(model).items()}
    save_file(tensors, str(path))
    return Path(path)


def save_int8(path: str | os.PathLike, qmodel: nn.Module) -> Path:
    """Write a ``quantize_int8`` model: int8 weights with their scale and zero point, the rest as float32."""
    tensors: dict[str, torch.Tensor] = {}
    found = False
    for name, module in qmodel.named_modules():
        if is_quantized(module):
            found = True
            w = module.weight()
            tensors[f"{name}.weight_int8"] = w.int_repr().contiguous()
            tensors[f"{name}.weight_scale"] = torch.tensor([w.q_scale()], dtype=torch.float32)
            tensors[f"{name}.weight_zero_point"] = torch.tensor([w.q_zero_point()], dtype=torch.int32)
            if module.bias() is not None:
                tensors[f"{name}.bias"] = module.bias().detach().contiguous()
        else:
            for pname, p in module.named_parameters(recurse=False):
                key = f"{name}.{pname}" if name else pname
                if all(p.data_ptr() != t.data_ptr() for t in tensors.values()):
                    tensors[key] = p.detach().contiguous()
    if not found:
        raise ValueError("the model has no int8 layers; make it with compress.quantize_int8 first")
    save_file(tensors, str(path))
    return Path(path)


def save_sparse(path: str | os.PathLike, model: nn.Module) -> Path:
    """Write the model with each prunable matrix as a bit mask (1 bit per weight) and its non-zero values."""
    weights = prunable_weights(model)
    tensors: dict[str, torch.Tensor] = {}
    for name, t in _unique_state(model).items():
        if name in weights:
            mask = (t != 0).flatten()
            pad = (-mask.numel()) % 8
            bits = torch.cat([mask, mask.new_zeros(pad)]).view(-1, 8).to(torch.uint8)
            packed = (bits << torch.arange(7, -1, -1, dtype=torch.uint8)).sum(dim=1, dtype=torch.uint8)
            tensors[f"{name}.mask"] = packed.contiguous()
            tensors[f"{name}.values"] = t.flatten()[mask].contiguous()
            tensors[f"{name}.shape"] = torch.tensor(list(t.shape), dtype=torch.int64)
        else:
            tensors[name] = t
    save_file(tensors, str(path))
    return Path(path)


def file_size(path: str | os.PathLike) -> int:
    """Size of a file in bytes."""
    return Path(path).stat().st_size


# ---- Distillation -------------------------------------------------------------------------------------

def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
                      temperature: float = 2.0, alpha: float = 0.5) -> torch.Tensor:
    """``alpha`` x T^2 x KL(teacher_T || student_T) + (1 - alpha) x cross-entropy with the data (Hinton et al.).

    Both distributions are softened by the temperature T; the T^2 keeps the soft term's gradients on the
    scale of the hard one's.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ; the two models need the same vocabulary")
    V = student_logits.size(-1)
    s = F.log_softmax(student_logits.reshape(-1, V) / temperature, dim=-1)
    t = F.log_softmax(teacher_logits.reshape(-1, V) / temperature, dim=-1)
    soft = F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2
    hard = F.cross_entropy(student_logits.reshape(-1, V), targets.reshape(-1))
    return alpha * soft + (1.0 - alpha) * hard


def distill(student: nn.Module, teacher: nn.Module, train_ids: Sequence[int] | torch.Tensor,
            val_ids: Sequence[int] | torch.Tensor | None = None, config: TrainConfig | None = None,
            temperature: float = 2.0, alpha: float = 0.5) -> History:
    """Train ``student`` to match ``teacher``'s next-token distributions (and the data); return the History.

    The same batches, schedule and evaluation as ``train.fit`` with the same config; only the loss differs
    (``distillation_loss``). The teacher is frozen and runs in eval mode.
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    for name, m in (("student", student), ("teacher", teacher)):
        if not hasattr(m, "config") or not hasattr(m.config, "vocab_size"):
            raise ValueError(f"{name} must be an lmlib model (RNNLM or GPT), got {type(m).__name__}")
    if student.config.vocab_size != teacher.config.vocab_size:
        raise ValueError(f"student vocab_size {student.config.vocab_size} differs from the teacher's "
                         f"{teacher.config.vocab_size}; distillation needs the same tokenizer")
    for name, m in (("student", student), ("teacher", teacher)):
        block = getattr(m.config, "block_size", None)
        if block is not None and config.seq_len > block:
            raise ValueError(f"seq_len {config.seq_len} exceeds the {name}'s block_size {block}")
    train_tensor = as_tensor(train_ids)
    val_tensor = None if val_ids is None else as_tensor(val_ids)
    if len(train_tensor) < config.seq_len + 1:
        raise ValueError(f"train_ids has {len(train_tensor)} tokens; one window needs {config.seq_len + 1}")
    device = next(student.parameters()).device
    teacher.to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    optimizer = make_optimizer(student, config)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    torch.manual_seed(config.seed)
    history = History()
    started = time.perf_counter()
    since: list[float] = []
    student.train()
    try:
        for step in range(1, config.steps + 1):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step - 1, config)
            x, y = get_batch(train_tensor, config.batch_size, config.seq_len, generator)
            x, y = x.to(device), y.to(device)
            with torch.no_grad():
                teacher_logits = teacher(x)
            loss = distillation_loss(student(x), teacher_logits, y, temperature, alpha)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(student.parameters(), config.grad_clip)
            optimizer.step()
            value = loss.item()
            if not math.isfinite(value):
                history.stop_reason = f"training stopped at step {step}: the loss is {value}"
                break
            history.step_loss.append(value)
            history.lr.append(optimizer.param_groups[0]["lr"])
            history.tokens_seen += x.numel()
            since.append(value)
            if step % config.eval_interval == 0 or step == config.steps:
                val = math.nan if val_tensor is None else evaluate(
                    student, val_tensor, seq_len=config.seq_len, max_tokens=config.eval_tokens)
                history.steps.append(step)
                history.train_loss.append(sum(since) / len(since))
                history.val_loss.append(val)
                since = []
                student.train()
        else:
            history.stop_reason = "completed"
    except KeyboardInterrupt:
        history.stop_reason = "interrupted"
    finally:
        student.eval()
        history.elapsed = time.perf_counter() - started
    return history


# ---- Speed --------------------------------------------------------------------------------------------

def generation_speeds(models: Mapping[str, nn.Module], prompt_ids: Sequence[int], new_tokens: int = 64,
                      rounds: int = 5, use_cache: bool = True,
                      clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median tokens per second of greedy generation for each model, timed round-robin in one run.

    Each round times every model once, in turn, so a burst of load from other programs slows all of them
    alike; the medians' ratios are what to compare (absolute speeds depend on the machine and its load).
    """
    from .generate import generate_ids

    if not models:
        raise ValueError("give at least one model to time")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    if isinstance(new_tokens, bool) or not isinstance(new_tokens, int) or new_tokens < 1:
        raise ValueError(f"new_tokens must be a positive int, got {new_tokens!r}")
    prompt = list(prompt_ids)
    times: dict[str, list[float]] = {name: [] for name in models}
    for name, m in models.items():  # warm-up: first calls allocate and pick kernels
        list(generate_ids(m, prompt, max_new_tokens=4, temperature=0, use_cache=use_cache))
    for _ in range(rounds):
        for name, m in models.items():
            start = clock()
            list(generate_ids(m, prompt, max_new_tokens=new_tokens, temperature=0, use_cache=use_cache))
            times[name].append(clock() - start)
    return {name: new_tokens / statistics.median(ts) for name, ts in times.items()}
