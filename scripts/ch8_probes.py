"""Chapter 8f (sections 8.1.5 and 8.3.3, interpretability): linear probes on real Python source.

    python scripts/ch8_probes.py

Source: modules of Python's own standard library (on disk everywhere), labelled byte by byte with
``lmlib.probes.code_labels`` (Python's ``tokenize``): inside a string literal, indentation depth, token
class. Probes train on the bytes of ``TRAIN_MODULES`` (a seeded sample of ``train_positions``) and are
tested on all bytes of ``TEST_MODULES`` (other files). Models: the bundled base GPT (``base.lmlib``, chapter
6's pretrained model, which read Python source with a 256-byte context; the test modules are not in its
training text), the bundled first-taste GRU and chapter 8's GPT (``ch8-gpt.lmlib``, made by
``scripts/ch8_compression.py``), each beside an untrained model of the same shape (the control), layer by
layer. The spot check the chapter re-runs live uses the base model.

Writes ``lmlib/assets/ch8_probes.json``. The modules' text differs a little between Python releases, so
accuracies move in their second decimal from one release to another. Deterministic on one machine.
"""

from __future__ import annotations

import importlib
import inspect
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

from lmlib import checkpoint, models, probes, tokenizers  # noqa: E402

RESULTS = ROOT / "lmlib" / "assets" / "ch8_probes.json"
TRAIN_MODULES = ("textwrap", "shlex", "fnmatch", "heapq", "bisect", "colorsys", "glob")
TEST_MODULES = ("json.decoder", "json.encoder")
SPOT_CHECK_BYTES = 8192


@dataclass
class Recipe:
    train_positions: int = 20_000
    seed: int = 0
    weight_decay: float = 1e-3
    max_iter: int = 100
    threads: int = 1


def module_source(names) -> str:
    """The concatenated source of the named standard-library modules, one after another."""
    return "".join(inspect.getsource(importlib.import_module(n)) for n in names)


def labelled(names) -> tuple[str, torch.Tensor, dict[str, torch.Tensor]]:
    parts_ids, parts_labels = [], {k: [] for k in ("in_string", "depth", "token_class")}
    text = ""
    for n in names:
        src = inspect.getsource(importlib.import_module(n))
        text += src
        labels = probes.code_labels(src)
        for k in parts_labels:
            parts_labels[k].extend(labels[k])
    ids = torch.tensor(tokenizers.ByteTokenizer().encode(text))
    return text, ids, {k: torch.tensor(v) for k, v in parts_labels.items()}


def main() -> None:
    recipe = Recipe()
    torch.set_num_threads(recipe.threads)
    _, train_ids, train_labels = labelled(TRAIN_MODULES)
    _, test_ids, test_labels = labelled(TEST_MODULES)
    pick = torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(recipe.seed))[:recipe.train_positions]
    gru, _ = checkpoint.load(checkpoint.bundled("first-taste"))
    gpt, _ = checkpoint.load(ROOT / "lmlib" / "assets" / "ch8-gpt.lmlib")
    base, _ = checkpoint.load(checkpoint.bundled("base"))
    torch.manual_seed(recipe.seed)
    base_random = models.build("gpt", base.config_dict()).eval()
    torch.manual_seed(recipe.seed)
    gru_random = models.build("rnn", gru.config_dict()).eval()
    torch.manual_seed(recipe.seed)
    gpt_random = models.build("gpt", gpt.config_dict()).eval()
    result = {"recipe": asdict(recipe), "train_modules": TRAIN_MODULES, "test_modules": TEST_MODULES,
              "train_bytes": len(train_ids), "test_bytes": len(test_ids),
              "label_shares": {k: [round(float((v == c).float().mean()), 4) for c in range(int(v.max()) + 1)]
                               for k, v in test_labels.items()},
              "majority": {k: round(probes.majority_accuracy(train_labels[k][pick], test_labels[k]), 4)
                           for k in train_labels},
              "rows": []}
    result["context"] = {"GPT (base)": base.config.block_size, "GPT (ch8-gpt)": gpt.config.block_size,
                         "GRU (first-taste)": "unbounded (recurrent)"}
    for model_name, model in (("GPT (base)", base), ("GPT base, untrained", base_random),
                              ("GRU (first-taste)", gru), ("GRU, untrained", gru_random),
                              ("GPT (ch8-gpt)", gpt), ("GPT, untrained", gpt_random)):
        started = time.process_time()
        train_states = probes.layer_states(model, train_ids)
        test_states = dict(probes.layer_states(model, test_ids))
        for layer, states in train_states:
            row = {"model": model_name, "layer": layer, "width": states.shape[1]}
            for prop in ("in_string", "depth", "token_class"):
                probe = probes.fit_probe(states[pick], train_labels[prop][pick], weight_decay=recipe.weight_decay,
                                         max_iter=recipe.max_iter,
                                         n_classes=int(max(train_labels[prop].max(), test_labels[prop].max())) + 1)
                row[prop] = round(probes.probe_accuracy(probe, test_states[layer], test_labels[prop]), 4)
            result["rows"].append(row)
            print(row, flush=True)
        result.setdefault("cpu_seconds", {})[model_name] = round(time.process_time() - started, 1)
    # A small probe the chapter re-runs live: the base GPT's last block, inside-a-string, first 8,192 bytes of each side.
    n = SPOT_CHECK_BYTES
    spot_train = probes.layer_states(base, train_ids[:n])[-1][1]
    spot_test = probes.layer_states(base, test_ids[:n])[-1][1]
    spot = probes.fit_probe(spot_train, train_labels["in_string"][:n], n_classes=2, weight_decay=recipe.weight_decay,
                            max_iter=recipe.max_iter)
    result["spot_check"] = {"model": "GPT (base)", "layer": "last block",
                            "property": "in_string", "bytes": n,
                            "accuracy": round(probes.probe_accuracy(spot, spot_test, test_labels["in_string"][:n]), 4)}
    result["machine"] = {"python": platform.python_version(), "torch": torch.__version__}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
