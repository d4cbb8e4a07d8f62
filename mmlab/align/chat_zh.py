"""The Chinese edition's chat model (issue 21, chapter 07): chapter 07's recipe, unchanged, on the
Chinese chat world of :mod:`mmlab.data.chat_zh`, one token per character.

:func:`train_chinese_chat` pretrains the same tiny GPT briefly on plain Chinese sentences about the
world, then fine-tunes it on conversations with the loss on the assistant's tokens only, and
measures exact match on held-out prompts. Chapter 07 runs it (in both editions, so the Chinese
notebook's outputs are the English run's, computed by the same code) and the Chinese edition's chat
demo talks to the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from mmlab.align.instruction_tuning import SFTSettings, fine_tuning_job, pretraining_stage
from mmlab.align.sft import generate_replies, prompt_text
from mmlab.data.chat import Instruction
from mmlab.data.chat_zh import (
    ChineseChatTokenizer,
    chinese_chat_tokenizer,
    extract_answer_zh,
    join_chars,
    make_conversations_zh,
    make_instructions_zh,
    world_corpus_zh,
)
from mmlab.models.gpt import GPT
from mmlab.train.trainer import History, Trainer

__all__ = ["ChineseChat", "exact_match_zh", "train_chinese_chat"]


@dataclass
class ChineseChat:
    """What :func:`train_chinese_chat` returns: the model, its tokenizer and instructions, the
    fine-tuning history and the held-out exact match (``by_task``: per task)."""

    model: GPT
    tokenizer: ChineseChatTokenizer
    instructions: dict[str, list[Instruction]]
    history: History
    exact_match: float
    by_task: dict[str, float]


def exact_match_zh(model: GPT, tokenizer: ChineseChatTokenizer, instructions: Sequence[Instruction]) -> float:
    """Fraction of prompts whose greedy reply, style words removed, is exactly the answer."""
    replies = generate_replies(model, tokenizer, [prompt_text(i.prompt) for i in instructions])
    right = [extract_answer_zh(r) == join_chars(i.answer) for r, i in zip(replies, instructions)]
    return sum(right) / len(instructions)


def train_chinese_chat(
    settings: SFTSettings | None = None, seed: int = 0, progress: bool = False
) -> ChineseChat:
    """Chapter 07's pipeline (``settings``: the ``sft`` recipe's, CPU defaults) on the Chinese world."""
    s = replace(settings or SFTSettings(), progress=progress)
    torch.manual_seed(seed)
    tokenizer = chinese_chat_tokenizer()
    instructions = make_instructions_zh(seed=0)
    model = GPT(replace(s.model, vocab_size=tokenizer.vocab_size))
    pretraining_stage(s, model, tokenizer, instructions, seed, corpus=world_corpus_zh)
    job = fine_tuning_job(s, model, tokenizer, instructions, seed, make_conversations=make_conversations_zh)
    history = Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config).fit()
    model = model.to("cpu").eval()
    held_out = instructions["held_out"]
    by_task = {
        task: exact_match_zh(model, tokenizer, [i for i in held_out if i.task == task])
        for task in ("colour", "reverse", "rate")
    }
    return ChineseChat(
        model, tokenizer, instructions, history, exact_match_zh(model, tokenizer, held_out), by_task
    )
