"""Chapter 8e (sections 8.2.3 and 8.3.4, reliability and fairness): a corpus with a known skew, two models.

    python scripts/ch8_fairness.py

The corpus (``lmlib.bias.make_corpus``): sentences about 14 occupations, each followed by "he" at a rate
chosen in advance (0.9 ... 0.1, dealt to the occupations at random), with filler sentences between. One
small character-level GPT trains on it as is; a second on its counterfactual augmentation (every sentence
also with the pronouns swapped). For each model and occupation the script records the exact share of
" he" among " he"/" she" completions at temperatures 1, 0.7 and 0.4, and the pronoun greedy decoding
writes; and each model's loss on held-out sentences drawn like the skewed corpus.

Writes ``lmlib/assets/ch8_fairness.json`` and the skewed model, ``lmlib/assets/ch8-bias-gpt.lmlib``, which the
chapter loads to recompute one occupation live. Seeded, one CPU thread.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lmlib import bias, checkpoint, models, tokenizers, train  # noqa: E402

RESULTS = ROOT / "lmlib" / "assets" / "ch8_fairness.json"
MODEL = ROOT / "lmlib" / "assets" / "ch8-bias-gpt.lmlib"


@dataclass
class Recipe:
    sentences_per_occupation: int = 400
    corpus_seed: int = 0
    heldout_seed: int = 1  # held-out sentences: same design rates, other draws
    shape: tuple[int, int, int] = (2, 4, 48)  # n_layer, n_head, n_embd
    block_size: int = 64
    steps: int = 1000
    batch_size: int = 32
    seq_len: int = 64
    lr: float = 3e-3
    warmup_steps: int = 50
    seed: int = 0
    temperatures: tuple[float, ...] = (1.0, 0.7, 0.4)
    threads: int = 1


def main() -> None:
    recipe = Recipe()
    torch.set_num_threads(recipe.threads)
    corpus = bias.make_corpus(recipe.sentences_per_occupation, seed=recipe.corpus_seed)
    heldout = bias.make_corpus(100, seed=recipe.heldout_seed, design=corpus.design)  # same rates, other draws
    augmented = bias.counterfactual_augment(corpus.text)
    tok = tokenizers.CharTokenizer.fit(corpus.text)
    result = {"recipe": asdict(recipe), "design": corpus.design, "corpus_rates": corpus.rates,
              "augmented_rates": bias.pronoun_rates(augmented), "corpus_chars": len(corpus.text),
              "augmented_chars": len(augmented), "models": {}}
    n_layer, n_head, n_embd = recipe.shape
    for name, text in (("skewed corpus", corpus.text), ("counterfactually augmented", augmented)):
        torch.manual_seed(recipe.seed)
        model = models.GPT(models.GPTConfig(vocab_size=tok.vocab_size, block_size=recipe.block_size,
                                            n_layer=n_layer, n_head=n_head, n_embd=n_embd))
        config = train.TrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, seq_len=recipe.seq_len,
                                   lr=recipe.lr, seed=recipe.seed, schedule="cosine",
                                   warmup_steps=recipe.warmup_steps, eval_interval=250, progress=False)
        started = time.process_time()
        history = train.fit(model, tok.encode(text), tok.encode(heldout.text), config, device="cpu")
        rates = bias.decoding_rates(model, tok, temperatures=recipe.temperatures)
        result["models"][name] = {
            "val_loss_heldout_skewed": round(train.evaluate(model, tok.encode(heldout.text), seq_len=recipe.seq_len), 4),
            "rates": rates, "history": {k: history.to_dict()[k] for k in ("steps", "train_loss", "val_loss")},
            "cpu_seconds": round(time.process_time() - started, 1)}
        print(name, {o: round(r["T=1"], 3) for o, r in rates.items()}, flush=True)
        if name == "skewed corpus":
            checkpoint.save(MODEL, model, tok, history=history,
                            extra={"recipe": asdict(recipe), "script": "scripts/ch8_fairness.py"})
    result["machine"] = {"python": platform.python_version(), "torch": torch.__version__}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
