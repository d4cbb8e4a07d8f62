"""Chapter 06's recipe (job ``gpt``): a character-level mini-GPT on a text file (default: Python's
documentation)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mmlab.data.lm import lm_loaders, pydoc_corpus
from mmlab.data.tokenizers import CharTokenizer
from mmlab.models.gpt import GPT, GPTConfig, next_token_loss
from mmlab.recipes.base import Job, Recipe, Settings, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = ["GPT_ALIASES", "GPTSettings", "RECIPE", "build", "chinese_job", "gpt_config"]


@dataclass(repr=False)
class GPTSettings(Settings, TrainConfig):
    """Chapter 06's config cell: trains in well under a minute on one CPU thread."""

    text: str | None = None  # a text file; None: Python's documentation
    block_size: int = 64
    batch_size: int = 32
    n_layers: int = 2
    n_heads: int = 4
    d_model: int = 64
    dropout: float = 0.0
    fused: bool = False  # the production attention path (see GPTConfig.fused); the chapter keeps it off
    max_steps: int = 600
    lr: float = 3e-3
    warmup_steps: int = 50
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.1
    eval_every: int = 100
    log_every: int = 20


# nanoGPT's GPU recipe: 6 x 6 x 384, context 256
GPU = dict(
    block_size=256,
    batch_size=64,
    n_layers=6,
    n_heads=6,
    d_model=384,
    dropout=0.2,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=100,
    eval_every=500,
    eval_batches=50,
    compile=True,  # as nanoGPT's GPU recipe; --set compile=False to skip compiling
    fused=True,  # one QKV matrix multiply and is_causal: PyTorch's flash kernel
)
MULTI_GPU = dict(batch_size=8)
GPT_ALIASES = {"n_embd": "d_model", "n_layer": "n_layers", "n_head": "n_heads"}  # nanoGPT's names


def gpt_config(s: Any, vocab_size: int, block_size: int | None = None) -> GPTConfig:
    """The GPT a recipe's settings describe, for a vocabulary of ``vocab_size``: their ``n_layers``,
    ``n_heads``, ``d_model``, ``block_size`` (unless given), ``dropout`` and ``fused`` (GPTConfig's
    defaults where the settings have none). Chapter 06's job and every recipe with a GPT inside (chapters 07 and 16b,
    chapter 12's language model) build it here."""
    return GPTConfig(
        vocab_size=vocab_size,
        block_size=s.block_size if block_size is None else block_size,
        n_layer=s.n_layers,
        n_head=s.n_heads,
        n_embd=s.d_model,
        dropout=getattr(s, "dropout", GPTConfig.dropout),
        fused=getattr(s, "fused", GPTConfig.fused),
    )


def build(s: GPTSettings) -> Job:
    text = Path(s.text).read_text(encoding="utf-8") if s.text else pydoc_corpus()
    tokenizer = CharTokenizer.from_text(text)
    train_loader, val_loader = lm_loaders(
        tokenizer.encode(text), s.block_size, s.batch_size, val_fraction=0.1, seed=0
    )
    model = GPT(gpt_config(s, tokenizer.vocab_size))
    return Job(model, next_token_loss, train_loader, val_loader, trainer_config(s))


RECIPE = Recipe(
    "gpt",
    "06_gpt",
    GPTSettings,
    GPU,
    MULTI_GPU,
    build=build,
    aliases=GPT_ALIASES,
)


CHINESE_STEPS = 200  # the Chinese text is small and regular: a short run learns it (chapter 06 asserts it)


def chinese_job(s: GPTSettings, steps: int = CHINESE_STEPS) -> tuple[Job, CharTokenizer]:
    """The same recipe on the Chinese edition's text (issue 21): :func:`~mmlab.data.chat_zh.chinese_corpus`,
    sentences generated from the Chinese chat world's templates, one token per character, trained
    for ``steps`` steps. Chapter 06 trains it in both editions; the Chinese edition's generation
    demo continues Chinese with it. Returns the job and its tokenizer."""
    from mmlab.data.chat_zh import chinese_corpus

    text = chinese_corpus()
    tokenizer = CharTokenizer.from_text(text)
    train_loader, val_loader = lm_loaders(
        tokenizer.encode(text), s.block_size, s.batch_size, val_fraction=0.1, seed=0
    )
    model = GPT(gpt_config(s, tokenizer.vocab_size))
    config = replace(trainer_config(s), max_steps=steps)
    return Job(model, next_token_loss, train_loader, val_loader, config), tokenizer
