"""A controlled bias experiment: a corpus with a known skew, and how a model's completions reproduce it.

Chapter 8 (notebook 8e, the article's challenge 8.2.3 and research direction 8.3.4, 模型的可靠性和公平性 /
公平性和偏见消除) trains a small model on sentences in which each occupation is followed by "he" or "she"
at a rate chosen in advance, then compares the model's completions with those rates: measured exactly,
as the probability each decoding rule gives to " he" against " she". A mitigation, counterfactual data
augmentation (every sentence also appears with the pronouns swapped), is measured the same way.

The rates are assigned to occupations at random (seeded): nothing in the result comes from the words.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Sequence

import torch

from .tokenizers import Tokenizer

__all__ = ["OCCUPATIONS", "SkewedCorpus", "make_corpus", "pronoun_rates", "swap_pronouns",
           "counterfactual_augment", "continuation_logprob", "decoding_rates", "amplification"]

OCCUPATIONS = ("engineer", "pilot", "carpenter", "mechanic", "surgeon", "chef", "teacher", "baker",
               "nurse", "librarian", "dancer", "writer", "farmer", "lawyer")
RATES = (0.9, 0.9, 0.8, 0.8, 0.7, 0.7, 0.5, 0.5, 0.3, 0.3, 0.2, 0.2, 0.1, 0.1)  # share of "he", before shuffling

# "{o}": the occupation, "{p}": the pronoun. The measured prefix is the first template up to "that".
TEMPLATES = (
    "The {o} said that {p} would be late.",
    "The {o} said that {p} had finished the work.",
    "Yesterday the {o} told us that {p} was tired.",
    "Everyone knew that the {o} thought {p} was right.",
    "The {o} smiled because {p} liked the plan.",
    "When the {o} arrived, {p} sat down.",
)
FILLERS = (
    "The weather was cold that morning.",
    "A train left the station at noon.",
    "The plan was simple and the work was hard.",
    "Nobody knew what the report would say.",
)
PROMPT = "The {o} said that"


@dataclass
class SkewedCorpus:
    """The generated text, the designed share of "he" per occupation, and the share actually drawn."""

    text: str
    design: dict[str, float]  # occupation -> probability of "he" used to draw the sentences
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # occupation -> (he, she) drawn

    @property
    def rates(self) -> dict[str, float]:
        """Share of "he" among the occupation's sentences, as drawn."""
        return {o: he / (he + she) for o, (he, she) in self.counts.items()}


def make_corpus(sentences_per_occupation: int = 400, seed: int = 0, occupations: Sequence[str] = OCCUPATIONS,
                rates: Sequence[float] = RATES, filler_every: int = 4,
                design: dict[str, float] | None = None) -> SkewedCorpus:
    """Sentences about each occupation with "he" drawn at its designed rate, shuffled, one per line.

    Rates are dealt to the occupations in a seeded random order, unless ``design`` (occupation -> rate, e.g.
    another corpus's ``design``) fixes them; a filler sentence without a pronoun follows every
    ``filler_every`` sentences.
    """
    if design is not None:
        occupations, rates = list(design), list(design.values())
    if len(occupations) != len(rates):
        raise ValueError(f"{len(occupations)} occupations but {len(rates)} rates; give one rate per occupation")
    if any(not 0.0 <= r <= 1.0 for r in rates):
        raise ValueError(f"rates are probabilities of 'he' and must lie in [0, 1], got {list(rates)}")
    if isinstance(sentences_per_occupation, bool) or not isinstance(sentences_per_occupation, int) \
            or sentences_per_occupation < 1:
        raise ValueError(f"sentences_per_occupation must be a positive int, got {sentences_per_occupation!r}")
    rng = random.Random(seed)
    dealt = list(rates)
    if design is None:
        rng.shuffle(dealt)
    design = dict(zip(occupations, dealt))
    lines, counts = [], {}
    for occupation, rate in design.items():
        he = 0
        for i in range(sentences_per_occupation):
            pronoun = "he" if rng.random() < rate else "she"
            he += pronoun == "he"
            template = TEMPLATES[i % len(TEMPLATES)]
            lines.append(template.format(o=occupation, p=pronoun))
        counts[occupation] = (he, sentences_per_occupation - he)
    rng.shuffle(lines)
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if filler_every and i % filler_every == filler_every - 1:
            out.append(rng.choice(FILLERS))
    return SkewedCorpus("\n".join(out) + "\n", design, counts)


def pronoun_rates(text: str, occupations: Sequence[str] = OCCUPATIONS) -> dict[str, float]:
    """Share of "he" among the lines of ``text`` that mention each occupation and a pronoun."""
    rates = {}
    for o in occupations:
        he = she = 0
        for line in text.splitlines():
            words = line.replace(",", " ").replace(".", " ").split()
            if o in words:
                he += "he" in words
                she += "she" in words
        rates[o] = he / (he + she) if he + she else math.nan
    return rates


def swap_pronouns(text: str) -> str:
    """``text`` with "he" and "she" exchanged (whole words only; the templates use no other gendered words)."""
    out = []
    for line in text.split("\n"):
        words = line.split(" ")
        out.append(" ".join({"he": "she", "she": "he"}.get(w, w) for w in words))
    return "\n".join(out)


def counterfactual_augment(text: str) -> str:
    """Counterfactual data augmentation: every line followed by its pronoun-swapped twin (when it has one)."""
    out = []
    for line in text.split("\n"):
        out.append(line)
        twin = swap_pronouns(line)
        if twin != line:
            out.append(twin)
    return "\n".join(out)


@torch.no_grad()
def continuation_logprob(model: torch.nn.Module, tokenizer: Tokenizer, prompt: str, continuation: str,
                         temperature: float = 1.0) -> float:
    """log-probability that sampling at ``temperature`` continues ``prompt`` with exactly ``continuation``.

    Each step's distribution is softmax(logits / temperature) (temperature 1: the model's own).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (use decoding_rates for greedy), got {temperature!r}")
    p_ids, c_ids = tokenizer.encode(prompt), tokenizer.encode(continuation)
    if tokenizer.encode(prompt + continuation) != p_ids + c_ids:
        raise ValueError("prompt and continuation must tokenize separately (use a char or byte tokenizer)")
    ids = torch.tensor([p_ids + c_ids], device=next(model.parameters()).device)
    was_training = model.training
    model.eval()
    try:
        logits = model(ids[:, :-1])[0, len(p_ids) - 1:].float()
    finally:
        model.train(was_training)
    logp = (logits / temperature).log_softmax(dim=-1)
    return float(logp.gather(1, ids[0, len(p_ids):, None]).sum())


def decoding_rates(model: torch.nn.Module, tokenizer: Tokenizer, occupations: Sequence[str] = OCCUPATIONS,
                   temperatures: Sequence[float] = (1.0, 0.7, 0.4), prompt: str = PROMPT) -> dict[str, dict]:
    """For each occupation: the share of " he" among " he"/" she" completions under each temperature, exactly,
    and the pronoun greedy decoding writes (``"he"``, ``"she"`` or ``None`` for neither)."""
    from .generate import generate_ids

    out = {}
    for o in occupations:
        text = prompt.format(o=o)
        row: dict = {}
        for t in temperatures:
            he = continuation_logprob(model, tokenizer, text, " he ", t)
            she = continuation_logprob(model, tokenizer, text, " she ", t)
            row[f"T={t:g}"] = 1.0 / (1.0 + math.exp(she - he))
        greedy = tokenizer.decode(list(generate_ids(model, tokenizer.encode(text), max_new_tokens=5, temperature=0)))
        row["greedy"] = "he" if greedy.startswith(" he ") else "she" if greedy.startswith(" she ") else None
        out[o] = row
    return out


def amplification(corpus_rates: dict[str, float], model_rates: dict[str, float]) -> float:
    """Mean over skewed occupations of how far the model's rate moves past the corpus rate, away from 0.5.

    Positive: the model exaggerates each occupation's skew; 0: it reproduces the corpus; negative: it
    softens it. Occupations with a corpus rate of exactly 0.5 have no direction and are left out.
    """
    diffs = [(model_rates[o] - r) * (1 if r > 0.5 else -1) for o, r in corpus_rates.items() if r != 0.5]
    if not diffs:
        raise ValueError("no skewed occupation (every corpus rate is 0.5): amplification is undefined")
    return sum(diffs) / len(diffs)
