"""Published figures of landmark CPUs and language models, each with its source (a key of references.bib).

Chapter 8 sets its measurements beside them (section 8.1.1: the scaling law beside Moore's law;
section 8.2.1: the compute of the book's runs beside that of landmark training runs). The CPU and
model rows are the data chapter 2 fits its doubling times to.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Chip", "Model", "TrainingRun", "CPUS", "LANGUAGE_MODELS", "TRAINING_RUNS"]


@dataclass(frozen=True)
class Chip:
    name: str
    year: int  # year of introduction
    transistors: int
    architecture: str
    source: str  # short citation
    keys: str  # bibliography keys, space-separated


@dataclass(frozen=True)
class Model:
    name: str
    year: int  # year of the cited paper
    parameters: int
    architecture: str
    source: str
    keys: str


@dataclass(frozen=True)
class TrainingRun:
    """A dense model's training run as its paper reports it."""

    name: str
    year: int
    parameters: float  # N
    tokens: float  # D, training tokens
    reported_flops: float | None  # training compute the paper states, where it states one
    source: str
    keys: str

    @property
    def flops_6nd(self) -> float:
        return 6.0 * self.parameters * self.tokens


CPUS = [
    Chip("Intel 4004", 1971, 2_300, "4-bit", "Intel (2008)", "intel2008quickref"),
    Chip("Intel 8008", 1972, 3_500, "8-bit", "Intel (2008)", "intel2008quickref"),
    Chip("Intel 8086", 1978, 29_000, "16-bit, the first x86", "Intel (2008)", "intel2008quickref"),
    Chip("Intel 286", 1982, 134_000, "16-bit, protected mode", "Intel (2008)", "intel2008quickref"),
    Chip("Intel 386 DX", 1985, 275_000, "32-bit", "Intel (2008)", "intel2008quickref"),
    Chip("Intel 486 DX", 1989, 1_200_000, "pipelined; cache and FPU on chip", "Intel (2008)", "intel2008quickref"),
    Chip("Intel Pentium", 1993, 3_100_000, "superscalar (two pipelines)", "Intel (2008)", "intel2008quickref"),
    Chip("Intel Pentium Pro", 1995, 5_500_000, "out-of-order execution", "Intel (2008)", "intel2008quickref"),
    Chip("Intel Pentium II", 1997, 7_500_000, "P6 core with MMX", "Intel (2008)", "intel2008quickref"),
    Chip("Intel Pentium III", 1999, 9_500_000, "P6 core with SSE", "Intel (2008)", "intel2008quickref"),
    Chip("Intel Pentium 4", 2000, 42_000_000, "NetBurst: a long pipeline for high clock rates", "Intel (2008)",
         "intel2008quickref"),
    Chip("Intel Core 2 Duo", 2006, 291_000_000, "two cores", "Intel (2008)", "intel2008quickref"),
    Chip("Apple M1", 2020, 16_000_000_000, "system on a chip: 8 CPU cores, GPU", "Apple (2020)", "apple2020m1"),
    Chip("Apple M1 Max", 2021, 57_000_000_000, "system on a chip: 10 CPU cores, 32-core GPU", "Apple (2021)",
         "apple2021m1max"),
    Chip("Apple M1 Ultra", 2022, 114_000_000_000, "two M1 Max dies in one package", "Apple (2022)", "apple2022m1ultra"),
    Chip("Apple M2 Ultra", 2023, 134_000_000_000, "two M2 Max dies in one package", "Apple (2023)", "apple2023m2ultra"),
]

LANGUAGE_MODELS = [
    Model("LSTM-8192-1024 + CNN inputs", 2016, 1_040_000_000, "LSTM (recurrent)", "Józefowicz et al. (2016)",
          "jozefowicz2016exploring"),
    Model("GPT", 2018, 117_000_000, "Transformer decoder", "Radford et al. (2018); count: Radford et al. (2019), Table 2",
          "radford2018improving radford2019language"),
    Model("BERT-Large", 2019, 340_000_000, "Transformer encoder (masked LM)", "Devlin et al. (2019)", "devlin2019bert"),
    Model("GPT-2", 2019, 1_542_000_000, "Transformer decoder", "Radford et al. (2019)", "radford2019language"),
    Model("Megatron-LM", 2019, 8_300_000_000, "Transformer decoder, split across GPUs", "Shoeybi et al. (2019)",
          "shoeybi2019megatron"),
    Model("T5-11B", 2020, 11_000_000_000, "Transformer encoder-decoder", "Raffel et al. (2020)", "raffel2020exploring"),
    Model("GPT-3", 2020, 175_000_000_000, "Transformer decoder", "Brown et al. (2020)", "brown2020language"),
    Model("Gopher", 2021, 280_000_000_000, "Transformer decoder", "Rae et al. (2021)", "rae2021scaling"),
    Model("Megatron-Turing NLG", 2022, 530_000_000_000, "Transformer decoder", "Smith et al. (2022)", "smith2022using"),
    Model("PaLM", 2022, 540_000_000_000, "Transformer decoder", "Chowdhery et al. (2022)", "chowdhery2022palm"),
]

TRAINING_RUNS = [
    TrainingRun("GPT-3", 2020, 175e9, 300e9, 3.14e23, "Brown et al. (2020), Table D.1", "brown2020language"),
    TrainingRun("Gopher", 2021, 280e9, 300e9, None, "Rae et al. (2021)", "rae2021scaling"),
    TrainingRun("Megatron-Turing NLG", 2022, 530e9, 270e9, None, "Smith et al. (2022)", "smith2022using"),
    TrainingRun("PaLM", 2022, 540e9, 780e9, None, "Chowdhery et al. (2022)", "chowdhery2022palm"),
    TrainingRun("Chinchilla", 2022, 70e9, 1.4e12, None, "Hoffmann et al. (2022)", "hoffmann2022training"),
    TrainingRun("Llama 3 405B", 2024, 405e9, 15.6e12, 3.8e25, "Grattafiori et al. (2024)", "grattafiori2024llama"),
]
