"""Chapter 16's recipe (job ``assistant``): the customer-service assistant's reader, a tiny chat GPT
trained with chapter 07's SFT loss (assistant tokens only) on the shop FAQ's words.

It learns two things from one set of conversations: to answer from a passage given as the system
message (facts with random values, so it must read), and the shop's own facts with no passage
(``closed_book_fraction`` of the conversations: the "fine-tune on the FAQ" baseline, which answers
from memory). :func:`train_reader` trains it from a seed and caches the result per process.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, replace

import torch
from torch.utils.data import DataLoader, TensorDataset

from mmlab.align.instruction_tuning import ChatModelSettings
from mmlab.align.sft import LengthBuckets, encode_conversations, sft_loss
from mmlab.data.chat import PAD, WordTokenizer
from mmlab.data.faq import VOCAB, closed_book_conversations, make_faq, reading_conversations
from mmlab.models.gpt import GPT
from mmlab.recipes.base import Job, Recipe, Settings, trainer_config
from mmlab.recipes.gpt import GPT_ALIASES
from mmlab.train.trainer import TrainConfig, Trainer

__all__ = ["RECIPE", "AssistantSettings", "build", "faq_tokenizer", "train_reader"]


@dataclass(repr=False)
class AssistantSettings(Settings, ChatModelSettings, TrainConfig):
    """Chapter 16's reader: chapter 07's chat GPT (:class:`ChatModelSettings`) over the shop FAQ's
    words, with room for a passage (CPU sized: about 70k parameters, a few seconds on one thread)."""

    vocab = VOCAB  # the shop FAQ's words
    block_size: int = 32
    faq_seed: int = 0  # which knowledge base (the facts the closed-book share memorises)
    n_conversations: int = 6000
    closed_book_fraction: float = 0.3
    batch_size: int = 32
    max_steps: int = 500
    lr: float = 6e-3
    warmup_steps: int = 20
    eval_every: int = 0
    device: str | None = "cpu"
    recogniser_steps: int = (
        300  # the voice assistant's recogniser (chapter 14's recipe; its chapter trains 400)
    )


GPU = dict(
    n_layers=4,
    d_model=128,
    n_conversations=50000,
    batch_size=256,
    max_steps=3000,
    lr=1e-3,
    warmup_steps=200,
    device=None,
    recogniser_steps=4000,  # as the speech recipe's gpu preset
)
MULTI_GPU = dict(batch_size=64)


def faq_tokenizer() -> WordTokenizer:
    """One token per word of the shop FAQ, with the chat template's markers."""
    return WordTokenizer(VOCAB)


def build(s: AssistantSettings, seed: int = 0) -> Job:
    """A fresh GPT, the mixed reading / closed-book conversations as ``(ids, roles)`` batches of
    similar length, and 256 held-out reading conversations for evaluation."""
    tokenizer = faq_tokenizer()
    n_closed = round(s.closed_book_fraction * s.n_conversations)
    conversations = reading_conversations(s.n_conversations - n_closed, seed=seed)
    conversations += closed_book_conversations(make_faq(s.faq_seed), n_closed, seed=seed)
    random.Random(seed).shuffle(conversations)
    ids, roles = encode_conversations(conversations, tokenizer, s.block_size)
    train_loader = LengthBuckets((ids, roles), (roles != PAD).sum(1), s.batch_size, seed=seed)
    held_out = encode_conversations(reading_conversations(256, seed=seed + 10_000), tokenizer, s.block_size)
    return Job(
        GPT(s.model), sft_loss, train_loader, DataLoader(TensorDataset(*held_out), 256), trainer_config(s)
    )


_CACHE: dict[tuple, GPT] = {}


def train_reader(seed: int = 0, settings: AssistantSettings | None = None, progress: bool = False) -> GPT:
    """The reader trained from ``seed`` (cached per seed and settings within a process; callers get copies)."""
    settings = replace(settings or AssistantSettings(), progress=progress)
    key = (seed, repr(settings))
    if key not in _CACHE:
        torch.manual_seed(seed)
        job = build(settings, seed)
        Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config).fit()
        _CACHE[key] = job.model.eval()
    return copy.deepcopy(_CACHE[key])


RECIPE = Recipe(
    "assistant",
    "16b_assistant_api",
    AssistantSettings,
    GPU,
    MULTI_GPU,
    build=build,
    aliases=GPT_ALIASES,
)
