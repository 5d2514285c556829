"""Chapter 8g (sections 8.1.3, 8.1.4, 8.2.5): a tiny image-to-text model on scikit-learn's 8x8 digits.

    python scripts/ch8_multimodal.py

Runs, all on one seeded train/test split (1,438 / 359 images):

* image-to-text models (``lmlib.multimodal.ImageToText``) with patches of 2, 4 and 8 pixels (16, 4 and 1
  patch tokens per image): test accuracy of the greedy caption, tokens per image, training loss;
* a control: the patch-4 model shown blank images (what it writes without looking);
* a pixel baseline: multinomial logistic regression on the 64 pixels (``lmlib.probes.fit_probe``);
* semi-supervised learning (section 8.1.4): 50 labelled training images only, then self-training (the
  model captions the other training images, confident captions become labels, a fresh model trains on
  both), against the same 50 images and against all labels.

Writes ``lmlib/assets/ch8_multimodal.json`` and the patch-4 model, ``lmlib/assets/ch8-digits-captioner.safetensors``,
which the chapter loads to recompute its test accuracy live. Seeded, one CPU thread.
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

from lmlib import multimodal as mm  # noqa: E402
from lmlib import probes  # noqa: E402

RESULTS = ROOT / "lmlib" / "assets" / "ch8_multimodal.json"
MODEL = ROOT / "lmlib" / "assets" / "ch8-digits-captioner.safetensors"


@dataclass
class Recipe:
    split_seed: int = 0
    test_fraction: float = 0.2
    patch_sizes: tuple[int, ...] = (2, 4, 8)
    shape: tuple[int, int, int] = (2, 4, 64)  # n_layer, n_head, n_embd
    steps: int = 800
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0
    labelled: int = 50  # semi-supervised: labelled training images
    small_steps: int = 400  # steps when training on the 50 labelled images
    confidence: float = 0.9  # self-training keeps captions the model gives at least this probability
    threads: int = 1


def model_for(recipe: Recipe, tok, patch: int) -> mm.ImageToText:
    n_layer, n_head, n_embd = recipe.shape
    torch.manual_seed(recipe.seed)
    return mm.ImageToText(mm.ImageTextConfig(vocab_size=tok.vocab_size, patch_size=patch, n_layer=n_layer,
                                             n_head=n_head, n_embd=n_embd))


def main() -> None:
    recipe = Recipe()
    torch.set_num_threads(recipe.threads)
    images, labels = mm.load_digits()
    Xtr, ytr, Xte, yte = mm.split(images, labels, recipe.test_fraction, recipe.split_seed)
    tok = mm.caption_tokenizer()
    caps = mm.encode_captions(ytr, tok)
    out = {"recipe": asdict(recipe), "n_train": len(ytr), "n_test": len(yte), "patch_runs": []}

    for patch in recipe.patch_sizes:
        model = model_for(recipe, tok, patch)
        started = time.process_time()
        losses = mm.train_captioner(model, Xtr, caps, recipe.steps, recipe.batch_size, recipe.lr, recipe.seed)
        acc = mm.accuracy(model, Xte, yte, tok)
        written = mm.captions(model, Xte, tok)
        confusion = [[0] * 10 for _ in range(10)]
        for w, y in zip(written, yte.tolist()):
            if w in mm.DIGIT_WORDS:
                confusion[y][mm.DIGIT_WORDS.index(w)] += 1
        out["patch_runs"].append({
            "patch_size": patch, "patch_tokens": model.config.n_patches,
            "sequence_tokens": model.config.n_patches + model.config.max_text - 1,
            "parameters": sum(p.numel() for p in model.parameters()), "test_accuracy": round(acc, 4),
            "not_a_digit_word": sum(w not in mm.DIGIT_WORDS for w in written), "confusion": confusion,
            "loss_every_50": [round(sum(losses[i:i + 50]) / len(losses[i:i + 50]), 4)
                              for i in range(0, len(losses), 50)],
            "cpu_seconds": round(time.process_time() - started, 1)})
        print(out["patch_runs"][-1]["patch_size"], acc, flush=True)
        if patch == 4:
            blank = mm.captions(model, torch.zeros_like(Xte), tok)
            out["blank_images"] = {"caption": blank[0], "accuracy": round(
                sum(w == mm.DIGIT_WORDS[y] for w, y in zip(blank, yte.tolist())) / len(yte), 4)}
            mm.save(MODEL, model, tok, extra={"recipe": asdict(recipe), "test_accuracy": round(acc, 4),
                                              "script": "scripts/ch8_multimodal.py"})

    flat_tr, flat_te = Xtr.reshape(len(Xtr), -1), Xte.reshape(len(Xte), -1)
    probe = probes.fit_probe(flat_tr, ytr, 10)
    out["pixel_logistic_regression"] = round(probes.probe_accuracy(probe, flat_te, yte), 4)

    # Semi-supervised: a few labels, then self-training on the model's own confident captions.
    order = torch.randperm(len(Xtr), generator=torch.Generator().manual_seed(recipe.seed))
    lab, unlab = order[:recipe.labelled], order[recipe.labelled:]
    few = model_for(recipe, tok, 4)
    mm.train_captioner(few, Xtr[lab], caps[lab], recipe.small_steps, recipe.batch_size, recipe.lr, recipe.seed)
    few_acc = mm.accuracy(few, Xte, yte, tok)
    written, conf = mm.captions(few, Xtr[unlab], tok, return_confidence=True)
    keep = [i for i, (w, c) in enumerate(zip(written, conf.tolist())) if w in mm.DIGIT_WORDS and c >= recipe.confidence]
    pseudo = torch.tensor([mm.DIGIT_WORDS.index(written[i]) for i in keep], dtype=torch.long)
    pseudo_right = float((pseudo == ytr[unlab][keep]).float().mean()) if keep else float("nan")
    X_self = torch.cat([Xtr[lab], Xtr[unlab][keep]])
    y_self = torch.cat([ytr[lab], pseudo])
    selfm = model_for(recipe, tok, 4)
    mm.train_captioner(selfm, X_self, mm.encode_captions(y_self, tok), recipe.steps, recipe.batch_size, recipe.lr,
                       recipe.seed)
    few_pixels = probes.probe_accuracy(probes.fit_probe(flat_tr[lab], ytr[lab], 10), flat_te, yte)
    out["semi_supervised"] = {
        "labelled": recipe.labelled, "unlabelled": len(unlab), "supervised_only_accuracy": round(few_acc, 4),
        "pseudo_labels_kept": len(keep), "pseudo_labels_correct": round(pseudo_right, 4),
        "self_trained_accuracy": round(mm.accuracy(selfm, Xte, yte, tok), 4),
        "pixel_logistic_regression_50_labels": round(few_pixels, 4),
        "all_labels_accuracy": next(r["test_accuracy"] for r in out["patch_runs"] if r["patch_size"] == 4)}
    print(out["semi_supervised"], flush=True)
    out["machine"] = {"python": platform.python_version(), "torch": torch.__version__}
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
