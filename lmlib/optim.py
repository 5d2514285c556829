"""A modern optimiser: Muon for the hidden weight matrices, AdamW for everything else.

Chapter 8 (section 8.1.2, algorithmic progress at fixed compute) explains it and measures it against
AdamW. ``train.TrainConfig(optimizer="muon")`` selects it; ``train.make_optimizer`` builds it.

Muon (Jordan et al., 2024; Liu et al., 2025) keeps a momentum of the gradient like SGD, but before each
update it replaces the momentum matrix G = U S V^T by (approximately) U V^T: every direction of the
update gets the same size, so directions that the gradient rarely points along still learn. The
orthogonalisation is five steps of a Newton-Schulz iteration, which needs only matrix products.

``torch.optim.Muon`` (torch >= 2.9) does the same, always in bfloat16. A CPU without bfloat16 arithmetic
(no AVX512-BF16 or AMX) emulates it at a small fraction of its float32 speed; lmlib's ``Muon`` therefore
iterates in float32 on the CPU and in bfloat16 on CUDA, and, with ``ns_dtype=torch.bfloat16``, takes
exactly torch's steps (a test checks it).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
import torch.nn as nn

__all__ = ["Muon", "newton_schulz", "muon_parameters", "muon_optimizer", "NS_COEFFICIENTS"]

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # the quintic iteration of Jordan et al. (2024)


def newton_schulz(g: torch.Tensor, steps: int = 5, dtype: torch.dtype | None = None,
                  eps: float = 1e-7) -> torch.Tensor:
    """Approximately U V^T for a matrix ``g`` = U S V^T (singular values end near 0.7-1.2, not exactly 1).

    ``dtype`` is the arithmetic's precision: float32 on the CPU, bfloat16 on CUDA when None.
    """
    if g.dim() != 2:
        raise ValueError(f"newton_schulz needs a matrix, got shape {tuple(g.shape)}")
    if dtype is None:
        dtype = torch.bfloat16 if g.is_cuda else torch.float32
    a, b, c = NS_COEFFICIENTS
    x = g.to(dtype)
    tall = g.size(0) > g.size(1)
    if tall:  # iterate on the wide orientation: the Gram matrix x x^T is then the small one
        x = x.T
    x = x.div(x.norm().clamp(min=eps))  # spectral norm <= Frobenius norm = 1
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


def muon_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split a model's trainable parameters: (hidden weight matrices for Muon, the rest for AdamW).

    Muon is for the matrices inside the network. Embedding tables (and a head tied to one), the output
    layer ``head``, and every vector (biases, norm gains) go to AdamW.
    """
    muon, other, seen = [], [], set()
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            is_head = module_name.split(".")[-1] == "head"
            if p.dim() == 2 and not isinstance(module, nn.Embedding) and not is_head:
                muon.append(p)
            else:
                other.append(p)
    return muon, other


class Muon(torch.optim.Optimizer):
    """Muon for groups marked ``muon=True`` (2-D parameters only), AdamW for the other groups.

    Muon group: momentum buffer B <- momentum * B + (1 - momentum) * g; update O = NS((1 - momentum) * g +
    momentum * B) (Nesterov) or NS(B); p <- p * (1 - lr * weight_decay) - lr * sqrt(max(1, rows / cols)) * O.
    AdamW group: the usual bias-corrected moments with ``betas`` and ``eps``, decoupled weight decay.
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.02, momentum: float = 0.95, nesterov: bool = True,
                 betas: tuple[float, float] = (0.9, 0.99), eps: float = 1e-8, weight_decay: float = 0.0,
                 ns_steps: int = 5, ns_dtype: torch.dtype | None = None):
        if not lr >= 0:
            raise ValueError(f"lr must be >= 0, got {lr!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, betas=betas, eps=eps,
                        weight_decay=weight_decay, ns_steps=ns_steps, muon=True)
        super().__init__(params, defaults)
        self.ns_dtype = ns_dtype
        for group in self.param_groups:
            if group["muon"]:
                bad = [tuple(p.shape) for p in group["params"] if p.dim() != 2]
                if bad:
                    raise ValueError(f"Muon updates matrices only; put parameters of shapes {bad} in a group "
                                     f"with muon=False (AdamW)")

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["muon"]:
                self._muon_step(group)
            else:
                self._adamw_step(group)
        return loss

    def _muon_step(self, group: dict) -> None:
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            buf = state["momentum_buffer"]
            buf.lerp_(p.grad, 1.0 - mu)  # an exponential moving average of the gradients
            g = p.grad.lerp(buf, mu) if group["nesterov"] else buf
            update = newton_schulz(g, group["ns_steps"], self.ns_dtype)
            if wd:
                p.mul_(1.0 - lr * wd)
            scale = math.sqrt(max(1.0, p.size(0) / p.size(1)))
            p.add_(update.to(p.dtype), alpha=-lr * scale)

    def _adamw_step(self, group: dict) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if "step" not in state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.lerp_(p.grad, 1.0 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
            if wd:
                p.mul_(1.0 - lr * wd)
            denom = (v / (1.0 - beta2**t)).sqrt_().add_(eps)
            p.addcdiv_(m, denom, value=-lr / (1.0 - beta1**t))


def muon_optimizer(model: nn.Module, config: Any) -> Muon:
    """The ``Muon`` that ``train.make_optimizer`` builds for a ``TrainConfig`` with ``optimizer="muon"``.

    Groups: the hidden matrices (Muon, ``config.muon_lr``, ``config.muon_ns_steps`` Newton-Schulz iterations,
    decoupled weight decay ``config.weight_decay``), the other matrices (AdamW, ``config.lr``, the same
    weight decay) and the vectors (AdamW, no decay).
    ``lr_scale`` records each group's peak learning rate over ``config.lr`` for ``train.fit``'s schedule.
    """
    hidden, other = muon_parameters(model)
    groups = [
        {"params": hidden, "muon": True, "lr": config.muon_lr, "lr_scale": config.muon_lr / config.lr,
         "weight_decay": config.weight_decay},
        {"params": [p for p in other if p.dim() >= 2], "muon": False, "lr": config.lr, "lr_scale": 1.0,
         "weight_decay": config.weight_decay},
        {"params": [p for p in other if p.dim() < 2], "muon": False, "lr": config.lr, "lr_scale": 1.0,
         "weight_decay": 0.0},
    ]
    return Muon([g for g in groups if g["params"]], betas=config.betas, ns_steps=config.muon_ns_steps)
