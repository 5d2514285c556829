"""Building blocks of a modern Transformer recipe, as options of lmlib's GPT.

Chapter 8 (section 8.1.2, algorithmic progress at fixed compute) explains each one and measures what it
buys against the 2019 recipe (learned positions, LayerNorm, a GELU MLP, biases, AdamW):

- ``RMSNorm``: scale each vector to unit root-mean-square; no mean, no bias (Zhang and Sennrich, 2019).
- ``Rotary``: rotary position embeddings: rotate query and key pairs by an angle proportional to the
  position, so attention scores depend on relative offsets (Su et al., 2021).
- ``GatedMLP``: SwiGLU, a SiLU-gated linear unit (Shazeer, 2020); ``SquaredReLUMLP``: ReLU squared
  (So et al., 2021).
- QK-norm: ``RMSNorm`` over each head's queries and keys before the dot product (Henry et al., 2020).

``models.GPTConfig`` selects them (``pos``, ``norm``, ``mlp``, ``qk_norm``, ``bias``); its defaults keep
the 2019 recipe, bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["RMSNorm", "Rotary", "GatedMLP", "SquaredReLUMLP", "make_norm", "make_mlp", "gated_hidden_size",
           "NORMS", "MLPS", "POSITIONS"]

NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "swiglu", "relu2")
POSITIONS = ("learned", "rope")


class RMSNorm(nn.Module):
    """x / rms(x) * weight, over the last dimension: LayerNorm without the mean and the bias."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda and hasattr(F, "rms_norm"):  # one fused kernel on CUDA (torch >= 2.4)
            return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        # on the CPU, torch's rms_norm is a chain of small kernels; written out, it runs no slower
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Rotary(nn.Module):
    """Rotary position embedding for heads of size ``head_dim`` and positions 0..max_len-1.

    Channel i of the first half and channel i of the second half form a pair that is rotated by the angle
    ``position * base ** (-2i / head_dim)``. Rotating queries and keys by their own positions makes the
    dot product of a query at position m and a key at position n depend on m - n only. No parameters.
    """

    def __init__(self, head_dim: int, max_len: int, base: float = 10_000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary positions need an even head size, got {head_dim}; change n_embd or n_head")
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)  # (max_len, head_dim/2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, start: int | torch.Tensor = 0) -> torch.Tensor:
        """Rotate ``x`` of shape (B, n_head, T, head_dim) holding positions start..start+T-1; ``start`` may
        be a 1-element device tensor (the KV cache's fixed-shape position, see ``models.KVCache.index``)."""
        T = x.shape[-2]
        if isinstance(start, torch.Tensor):
            where = start.reshape(-1)[:1] + torch.arange(T, device=start.device)
            cos, sin = self.cos.index_select(0, where).to(x.dtype), self.sin.index_select(0, where).to(x.dtype)
        else:
            cos = self.cos[start : start + T].to(x.dtype)
            sin = self.sin[start : start + T].to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def gated_hidden_size(n_embd: int) -> int:
    """Hidden width of a gated MLP with about the parameters of a 4x GELU MLP: 8/3 n_embd, rounded up to 8."""
    return 8 * -(-n_embd // 3)


class GatedMLP(nn.Module):
    """SwiGLU: proj(silu(gate(x)) * up(x)), gate and up computed by one matrix of 2 x hidden rows."""

    def __init__(self, n_embd: int, bias: bool, dropout: float):
        super().__init__()
        hidden = gated_hidden_size(n_embd)
        self.fc = nn.Linear(n_embd, 2 * hidden, bias=bias)
        self.proj = nn.Linear(hidden, n_embd, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.fc(x).chunk(2, dim=-1)
        return self.drop(self.proj(F.silu(gate) * up))


class SquaredReLUMLP(nn.Module):
    """Widen 4x, ReLU squared, project back (the Primer MLP)."""

    def __init__(self, n_embd: int, bias: bool, dropout: float):
        super().__init__()
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.relu(self.fc(x)).square()))


def make_norm(kind: str, dim: int, bias: bool) -> nn.Module:
    """The normalisation layer ``kind`` ("layernorm" or "rmsnorm") over vectors of size ``dim``."""
    if kind == "layernorm":
        return nn.LayerNorm(dim, bias=bias)
    if kind == "rmsnorm":
        return RMSNorm(dim)
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def make_mlp(kind: str, n_embd: int, bias: bool, dropout: float) -> nn.Module:
    """A modern MLP ``kind`` ("swiglu" or "relu2"); the GELU MLP of 2019 is ``models.MLP``."""
    if kind == "swiglu":
        return GatedMLP(n_embd, bias, dropout)
    if kind == "relu2":
        return SquaredReLUMLP(n_embd, bias, dropout)
    raise ValueError(f"mlp must be one of {MLPS[1:]} here (gelu is models.MLP), got {kind!r}")
