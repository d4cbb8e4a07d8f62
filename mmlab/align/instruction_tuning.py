"""Chapter 07's recipe (job ``sft``; chapter 08 starts from its model): a tiny GPT over the chat
world's words, pretrained briefly on plain sentences about that world, then fine-tuned on
conversations with the loss on the assistant's tokens only.

:func:`build` is what ``python -m mmlab.train sft`` trains (the pretraining stage runs inside it);
:func:`train_sft_model` runs the same recipe in one call and keeps the pretrained model too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from mmlab.align.sft import (
    conversation_loaders,
    make_sft_conversations,
    sft_loss,
    world_corpus,
    world_corpus_loader,
)
from mmlab.data.chat import VOCAB, Instruction, WordTokenizer, chat_tokenizer, make_instructions
from mmlab.models.gpt import GPT, GPTConfig, next_token_loss
from mmlab.recipes.base import Job, Recipe, Settings, trainer_config
from mmlab.recipes.gpt import GPT_ALIASES, gpt_config
from mmlab.train.distributed import launched_by_torchrun
from mmlab.train.trainer import History, TrainConfig, Trainer

__all__ = [
    "RECIPE",
    "ChatModelSettings",
    "SFTResult",
    "SFTSettings",
    "build",
    "pretraining_config",
    "train_sft_model",
]


@dataclass(repr=False)
class ChatModelSettings:
    """The chat GPT's shape (CPU sized: about 100k parameters), over the words of ``vocab``: chapter
    07's SFT model, and chapter 16b's assistant, which reads a longer context over the shop's words."""

    vocab: ClassVar[Sequence[str]] = VOCAB  # the chat world's words
    block_size: int = 24
    n_layers: int = 2
    n_heads: int = 4
    d_model: int = 48

    @property
    def model(self) -> GPTConfig:
        """The GPT's shape over the vocabulary."""
        return gpt_config(self, len(self.vocab))


@dataclass(repr=False)
class SFTSettings(Settings, ChatModelSettings, TrainConfig):
    """Chapter 07's config (the model: :class:`ChatModelSettings`). The loop settings (``max_steps``,
    ``lr``, ...) are the fine-tuning stage's; ``pretrain_steps`` next-token steps at ``pretrain_lr``
    come first (0 skips them)."""

    pretrain_steps: int = 100
    pretrain_lr: float = 6e-3
    pretrain_warmup_steps: int = 20
    n_conversations: int = 4000
    system_fraction: float = 0.25  # share of conversations with a system prompt
    batch_size: int = 32
    max_steps: int = 1000
    lr: float = 6e-3
    warmup_steps: int = 20
    device: str | None = "cpu"  # the model is tiny: the CPU is the fast place for it


GPU = dict(
    n_layers=6,
    n_heads=8,
    d_model=256,
    pretrain_steps=2000,
    pretrain_lr=1e-3,
    n_conversations=100000,
    batch_size=256,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=200,
    eval_every=500,
    device=None,
)
MULTI_GPU = dict(batch_size=32)


@dataclass
class SFTResult:
    """What :func:`train_sft_model` returns: the pretrained and fine-tuned models and their data."""

    pretrained: GPT
    model: GPT
    tokenizer: WordTokenizer
    instructions: dict[str, list[Instruction]]
    pretrain_history: History | None
    history: History


def pretraining_config(s: SFTSettings) -> TrainConfig:
    """The pretraining stage's loop settings (its own steps, learning rate and warmup)."""
    return TrainConfig(
        max_steps=s.pretrain_steps,
        lr=s.pretrain_lr,
        warmup_steps=s.pretrain_warmup_steps,
        progress=s.progress,
        device=s.device,
    )


def pretraining_stage(
    s: SFTSettings, model: GPT, tokenizer, instructions, seed: int, corpus: Callable[..., str] = world_corpus
) -> History | None:
    """Train ``model`` for ``s.pretrain_steps`` steps on the world's ``corpus`` (none: no stage)
    and return the stage's history; the model is left on the CPU."""
    if not s.pretrain_steps:
        return None
    loader = world_corpus_loader(tokenizer, instructions, s.batch_size, seed=seed, corpus=corpus)
    history = Trainer(model, next_token_loss, loader, None, pretraining_config(s)).fit()
    model.to("cpu")
    return history


def fine_tuning_job(
    s: SFTSettings,
    model: GPT,
    tokenizer,
    instructions,
    seed: int,
    make_conversations: Callable[..., list[list[dict]]] = make_sft_conversations,
) -> Job:
    """The fine-tuning stage: the world's conversations (``make_conversations``), the loss and the loop."""
    # batches of similar length, as in the chapter; under torchrun a DataLoader, which it can shard
    train_loader, eval_loader = conversation_loaders(
        tokenizer,
        instructions,
        s.n_conversations,
        s.system_fraction,
        s.block_size,
        s.batch_size,
        seed=seed,
        length_buckets=not launched_by_torchrun(),
        make_conversations=make_conversations,
    )
    return Job(model, sft_loss, train_loader, eval_loader, trainer_config(s))


def _pretrained(s: SFTSettings, seed: int) -> tuple[GPT, WordTokenizer, dict, History | None]:
    """The GPT after the pretraining stage, the tokenizer, the instructions and the stage's history."""
    tokenizer = chat_tokenizer()
    instructions = make_instructions(seed=0)
    model = GPT(s.model)
    return model, tokenizer, instructions, pretraining_stage(s, model, tokenizer, instructions, seed)


def build(s: SFTSettings, seed: int = 0) -> Job:
    """The pretrained GPT (the pretraining stage runs here) and the fine-tuning stage's data and loss."""
    if s.progress and s.pretrain_steps:  # two progress bars follow: say which is which
        print(
            f"sft: {s.pretrain_steps} pretraining steps on the world corpus (pretrain_steps=0 skips them), "
            f"then {s.n_conversations:,} conversations are generated for the {s.max_steps} fine-tuning steps"
        )
    model, tokenizer, instructions, _ = _pretrained(s, seed)
    return fine_tuning_job(s, model, tokenizer, instructions, seed)


_CACHE: dict[tuple, SFTResult] = {}


def train_sft_model(seed: int = 0, settings: SFTSettings | None = None, progress: bool = False) -> SFTResult:
    """Chapter 07's whole pipeline in one call: :func:`build`'s stages, trained, from ``seed``.

    Results are cached per (seed, settings) within a process; callers get independent copies.
    """
    from dataclasses import replace

    settings = replace(settings or SFTSettings(), progress=progress)
    key = (seed, repr(settings))
    if key not in _CACHE:
        torch.manual_seed(seed)
        model, tokenizer, instructions, pretrain_history = _pretrained(settings, seed)
        pretrained = copy.deepcopy(model).eval()
        job = fine_tuning_job(settings, model, tokenizer, instructions, seed)
        history = Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config).fit()
        _CACHE[key] = SFTResult(pretrained, model.eval(), tokenizer, instructions, pretrain_history, history)
    return copy.deepcopy(_CACHE[key])


RECIPE = Recipe(
    "sft",
    "07_instruction_tuning",
    SFTSettings,
    GPU,
    MULTI_GPU,
    build=build,
    aliases=GPT_ALIASES,
)
