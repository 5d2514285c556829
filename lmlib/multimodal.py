"""A tiny image-to-text model: an image read as patch tokens by the same Transformer that writes the text.

Chapter 8 (notebook 8g, the article's trend 8.1.3 multimodal fusion, 多模态融合, and challenge 8.2.5) trains
it on scikit-learn's bundled 8x8 handwritten digits: the model sees the image's patches, then writes the
digit's English word ("seven") one character at a time.

The layout is the one of large vision-language models reduced to its core: an image is cut into square
patches, each patch is flattened and mapped by one linear layer to a vector of the model's width (a
"patch token", as in the Vision Transformer), and the patch tokens go in front of the text tokens in one
causal sequence. lmlib's ``models.GPT`` does the rest: its position embeddings, blocks, final norm and head.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import models
from .tokenizers import CharTokenizer

__all__ = ["DIGIT_WORDS", "load_digits", "split", "patchify", "caption_tokenizer", "encode_captions",
           "ImageTextConfig", "ImageToText", "train_captioner", "captions", "accuracy", "save", "load"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
END = "\n"  # the caption's end mark


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 handwritten digits: images (N, 8, 8) scaled to [0, 1], and labels (N,) 0-9."""
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError as err:
        raise ImportError("the digits come with scikit-learn, which is not installed: pip install scikit-learn "
                          "(Colab has it; make test installs it)") from err
    bunch = _load()
    images = torch.tensor(bunch.images, dtype=torch.float32) / 16.0
    return images, torch.tensor(bunch.target, dtype=torch.long)


def split(images: torch.Tensor, labels: torch.Tensor, test_fraction: float = 0.2, seed: int = 0):
    """A seeded random split: (train_images, train_labels, test_images, test_labels)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    cut = len(images) - int(round(test_fraction * len(images)))
    tr, te = order[:cut], order[cut:]
    return images[tr], labels[tr], images[te], labels[te]


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Square images (N, S, S) as (N, (S/p)^2, p*p): patches in reading order, each flattened row by row."""
    if images.dim() != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must have shape (N, S, S), got {tuple(images.shape)}")
    S = images.shape[1]
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1 or S % patch_size:
        divisors = [d for d in range(1, S + 1) if S % d == 0]
        raise ValueError(f"patch_size must divide the image side {S}; choose one of {divisors}, got {patch_size!r}")
    n, g = images.shape[0], S // patch_size
    return (images.reshape(n, g, patch_size, g, patch_size).permute(0, 1, 3, 2, 4)
            .reshape(n, g * g, patch_size * patch_size))


def caption_tokenizer(words: Sequence[str] = DIGIT_WORDS) -> CharTokenizer:
    """Characters of the words plus the end mark."""
    return CharTokenizer.fit("".join(words) + END)


def encode_captions(labels: torch.Tensor, tokenizer: CharTokenizer, words: Sequence[str] = DIGIT_WORDS,
                    length: int | None = None) -> torch.Tensor:
    """Token ids (N, length) of each label's word followed by end marks up to ``length`` (default: the longest)."""
    length = max(len(w) for w in words) + 1 if length is None else length
    end = tokenizer.encode(END)[0]
    rows = []
    for label in labels.tolist():
        ids = tokenizer.encode(words[label] + END)
        if len(ids) > length:
            raise ValueError(f"caption {words[label]!r} needs {len(ids)} tokens, more than length {length}")
        rows.append(ids + [end] * (length - len(ids)))
    return torch.tensor(rows, dtype=torch.long)


@dataclass
class ImageTextConfig:
    """Sizes of the image-to-text model."""

    vocab_size: int  # text tokens (the caption tokenizer's vocabulary)
    image_size: int = 8  # side of the square input image, in pixels
    patch_size: int = 4  # side of a square patch; the image becomes (image_size / patch_size)^2 patch tokens
    max_text: int = 6  # caption tokens, end marks included
    n_layer: int = 2  # Transformer blocks shared by patch and text tokens
    n_head: int = 4  # attention heads per block; n_embd must be divisible by n_head
    n_embd: int = 64  # width of the residual stream (patch and text tokens alike)
    dropout: float = 0.0  # dropout on attention, residual and embeddings (training only)

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"patch_size {self.patch_size} must divide image_size {self.image_size}")

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class ImageToText(nn.Module):
    """Patch tokens, then text tokens, through one causal GPT; the text positions predict the next character."""

    def __init__(self, config: ImageTextConfig):
        super().__init__()
        if not isinstance(config, ImageTextConfig):
            raise ValueError(f"ImageToText needs an ImageTextConfig, got {type(config).__name__}")
        self.config = config
        self.patch_embed = nn.Linear(config.patch_size**2, config.n_embd)  # one patch -> one token vector
        self.gpt = models.GPT(models.GPTConfig(
            vocab_size=config.vocab_size, block_size=config.n_patches + config.max_text, n_layer=config.n_layer,
            n_head=config.n_head, n_embd=config.n_embd, dropout=config.dropout))

    def forward(self, images: torch.Tensor, text_ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, T + 1, V) for the text token after the last patch and after each of ``text_ids`` (B, T)."""
        c = self.config
        if images.dim() != 3 or tuple(images.shape[1:]) != (c.image_size, c.image_size):
            raise ValueError(f"images must have shape (B, {c.image_size}, {c.image_size}), got {tuple(images.shape)}")
        if text_ids.dim() != 2 or text_ids.shape[0] != images.shape[0] or text_ids.shape[1] >= c.max_text:
            raise ValueError(f"text_ids must have shape (B, T) with the images' B and T < {c.max_text}, "
                             f"got {tuple(text_ids.shape)}")
        gpt = self.gpt
        x = torch.cat([self.patch_embed(patchify(images, c.patch_size)), gpt.tok_emb(text_ids)], dim=1)
        x = gpt.drop(x + gpt.pos_emb(torch.arange(x.shape[1], device=x.device)))
        for block in gpt.blocks:
            x = block(x)
        return gpt.head(gpt.ln_f(x[:, c.n_patches - 1:]))

    def loss(self, images: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the captions (B, max_text) given the images."""
        logits = self(images, caption_ids[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), caption_ids.reshape(-1))


def train_captioner(model: ImageToText, images: torch.Tensor, caption_ids: torch.Tensor, steps: int = 600,
                    batch_size: int = 64, lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Train with AdamW on random batches, cosine learning-rate decay; return the loss of every step."""
    if len(images) != len(caption_ids):
        raise ValueError(f"{len(images)} images but {len(caption_ids)} captions")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(steps - 1, 1))))
        idx = torch.randint(0, len(images), (min(batch_size, len(images)),), generator=generator)
        loss = model.loss(images[idx], caption_ids[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def captions(model: ImageToText, images: torch.Tensor, tokenizer: CharTokenizer,
             return_confidence: bool = False):
    """Greedy captions of ``images`` (text up to the end mark); with ``return_confidence`` also each
    caption's probability under the model."""
    was_training = model.training
    model.eval()
    text = torch.zeros(len(images), 0, dtype=torch.long)
    logp = torch.zeros(len(images))
    try:
        for _ in range(model.config.max_text):
            step = model(images, text)[:, -1].log_softmax(dim=-1)
            best = step.argmax(dim=-1)
            logp += step.gather(1, best[:, None])[:, 0]
            text = torch.cat([text, best[:, None]], dim=1)
    finally:
        model.train(was_training)
    out = [tokenizer.decode(row).split(END)[0] for row in text.tolist()]
    return (out, logp.exp()) if return_confidence else out


def accuracy(model: ImageToText, images: torch.Tensor, labels: torch.Tensor, tokenizer: CharTokenizer,
             words: Sequence[str] = DIGIT_WORDS) -> float:
    """Share of images whose greedy caption is exactly their digit's word."""
    written = captions(model, images, tokenizer)
    return sum(w == words[y] for w, y in zip(written, labels.tolist())) / len(labels)


def save(path: str | os.PathLike, model: ImageToText, tokenizer: CharTokenizer, extra: dict | None = None) -> Path:
    """Write the model's weights, config and tokenizer to one safetensors file."""
    from safetensors.torch import save_file

    tensors, seen = {}, set()
    for name, t in model.state_dict().items():
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            tensors[name] = t.detach().cpu().contiguous()
    meta = {"format": "lmlib-image-to-text-1", "config": json.dumps(asdict(model.config)),
            "tokenizer": json.dumps(tokenizer.to_dict()), "extra": json.dumps(extra or {})}
    save_file(tensors, str(path), metadata=meta)
    return Path(path)


def load(path: str | os.PathLike) -> tuple[ImageToText, CharTokenizer, dict]:
    """Read back what ``save`` wrote: (model in eval mode, tokenizer, extra)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from .tokenizers import from_dict

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != "lmlib-image-to-text-1":
        raise ValueError(f"{path} is not an image-to-text model saved by lmlib.multimodal.save")
    model = ImageToText(ImageTextConfig(**json.loads(meta["config"])))
    model.load_state_dict(load_file(str(path)), strict=False)  # the GPT's tied head is stored once
    return model.eval(), from_dict(json.loads(meta["tokenizer"])), json.loads(meta["extra"])
