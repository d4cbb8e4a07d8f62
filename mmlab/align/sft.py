"""Supervised fine-tuning (SFT): teach a pretrained language model to answer in the chat template.

The data are whole conversations rendered with :func:`mmlab.data.chat.render_with_roles`. The
model reads everything (system prompt, user turn, template markers) but is graded only on what the
assistant writes: the next-token cross-entropy is averaged over the positions whose *target* token
belongs to the assistant,

    L = - (1 / |A|) * sum_{t in A} log p(x_{t+1} | x_{<=t}),   A = {t : role(x_{t+1}) = assistant}.

A user's words are context, not something to imitate, so changing them changes the loss only
through what the model conditions on, never through a term of its own.

:func:`train_sft_model` is the whole pipeline of chapter 07 in one call (a tiny character GPT,
pretrained briefly on plain sentences about the chat world, then fine-tuned on conversations);
chapter 08 starts from it.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlab.data.chat import (
    ASSISTANT,
    PAD,
    SYSTEM_PROMPTS,
    VOCAB,
    Instruction,
    WordTokenizer,
    chat_tokenizer,
    extract_answer,
    make_instructions,
    render_chat,
    render_with_roles,
    styled_reply,
)
from mmlab.data.lm import NextTokenDataset
from mmlab.models.gpt import GPT, GPTConfig, next_token_loss
from mmlab.train.trainer import History, TrainConfig, Trainer

__all__ = [
    "SFTConfig",
    "SFTResult",
    "LengthBuckets",
    "assistant_loss_mask",
    "conversation_loaders",
    "encode_conversations",
    "exact_match",
    "generate_replies",
    "make_sft_conversations",
    "masked_token_loss",
    "prompt_text",
    "sft_loss",
    "train_sft_model",
    "world_corpus",
    "world_corpus_loader",
]


def assistant_loss_mask(token_roles: torch.Tensor) -> torch.Tensor:
    """True where the loss counts: tokens written by the assistant. ``(B, T)`` role ids -> ``(B, T)`` bool."""
    return token_roles == ASSISTANT


def encode_conversations(
    conversations: Sequence[Sequence[dict]], tokenizer: WordTokenizer, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and role ids ``(N, L)`` of rendered conversations, right-padded with the pad
    character (role ``PAD``); ``L`` is the longest conversation, at most ``block_size + 1``."""
    rows = [render_with_roles(c) for c in conversations]
    longest = max(len(tokens) for tokens, _ in rows)
    if longest > block_size + 1:
        raise ValueError(f"a conversation is {longest} tokens; the model takes {block_size + 1} at most")
    ids = torch.full((len(rows), longest), tokenizer.pad_id, dtype=torch.long)
    roles = torch.full((len(rows), longest), PAD, dtype=torch.long)
    for i, (tokens, role) in enumerate(rows):
        ids[i, : len(tokens)] = torch.tensor([tokenizer.stoi[t] for t in tokens])
        roles[i, : len(tokens)] = torch.tensor(role)
    return ids, roles


class LengthBuckets:
    """Batches of similar length, padded only to their own longest row (less wasted compute than
    padding everything to the longest conversation); a new random batch order every epoch.

    ``tensors`` are ``(N, L)`` right-padded tensors and ``lengths`` the true lengths ``(N,)``.
    """

    def __init__(
        self, tensors: Sequence[torch.Tensor], lengths: torch.Tensor, batch_size: int, seed: int = 0
    ):
        order = lengths.argsort(stable=True)
        self.batches = []
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = int(lengths[rows].max())
            self.batches.append(tuple(t[rows, :width] for t in tensors))
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for i in torch.randperm(len(self.batches), generator=self.generator).tolist():
            yield self.batches[i]


def masked_token_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` ``(B, T, V)`` against ``targets`` ``(B, T)`` over the
    positions where ``mask`` ``(B, T)`` is True (targets elsewhere are never read)."""
    if not mask.any():
        raise ValueError("no assistant tokens in this batch: nothing to learn from")
    losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T)
    return (losses * mask).sum() / mask.sum()


def sft_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
    """Cross-entropy on assistant tokens only (the Trainer's loss function).

    ``batch`` is ``(ids, roles)``, both ``(B, L)``. Position ``t`` predicts token ``t + 1``, so the
    mask is taken on the targets' roles. Also returns the token accuracy on those positions.
    """
    ids, roles = batch
    logits = model(ids[:, :-1])  # (B, L-1, V)
    targets = ids[:, 1:]  # (B, L-1)
    mask = assistant_loss_mask(roles[:, 1:])  # (B, L-1)
    loss = masked_token_loss(logits, targets, mask)
    accuracy = ((logits.argmax(-1) == targets) & mask).sum() / mask.sum()
    return loss, {"accuracy": accuracy.detach()}


def _by_task(instructions: Sequence[Instruction]) -> list[list[Instruction]]:
    tasks: dict[str, list[Instruction]] = {}
    for item in instructions:
        tasks.setdefault(item.task, []).append(item)
    return list(tasks.values())


def world_corpus(instructions: Sequence[Instruction], n_lines: int = 3000, seed: int = 0) -> str:
    """Plain sentences about the chat world (no chat template), for a short pretraining stage:
    "grass is green", "cat dog backwards is dog cat", "fun dull nice is a good review", one a line."""
    rng = random.Random(seed)
    tasks = _by_task(instructions)
    lines = []
    for _ in range(n_lines):
        item = rng.choice(rng.choice(tasks))  # each task equally often, whatever its number of prompts
        if item.task == "colour":
            lines.append(f"{item.prompt.split()[-1]} is {item.answer}")
        elif item.task == "reverse":
            lines.append(f"{item.prompt.removeprefix('reverse ')} backwards is {item.answer}")
        else:
            lines.append(f"{item.prompt.removeprefix('rate ')} is a {item.answer} review")
    return "\n".join(lines) + "\n"


def make_sft_conversations(
    instructions: Sequence[Instruction], n: int, system_fraction: float = 0.25, seed: int = 0
) -> list[list[dict]]:
    """``n`` conversations: a random task and prompt (each task equally often), sometimes a system
    prompt, a reply in a random style."""
    rng = random.Random(seed)
    tasks = _by_task(instructions)
    conversations = []
    for _ in range(n):
        item = rng.choice(rng.choice(tasks))
        system = rng.choice(SYSTEM_PROMPTS) if rng.random() < system_fraction else None
        conversations.append(item.messages(styled_reply(item.answer, rng), system=system))
    return conversations


def prompt_text(prompt: str, system: str | None = None) -> str:
    """The rendered prompt of one user message, ending with the generation prompt ``"A:"``."""
    messages = [{"role": "system", "content": system}] if system else []
    return render_chat([*messages, {"role": "user", "content": prompt}], add_generation_prompt=True)


@torch.no_grad()
def generate_replies(
    model: GPT,
    tokenizer: WordTokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 24,
    temperature: float = 0.0,
    seed: int | None = None,
    top_k: int | None = None,
) -> list[str]:
    """Replies to rendered prompts (from :func:`prompt_text`), cut at the end-of-turn newline.

    Prompts of the same length are generated together in one batch (the model has no padding mask,
    so a batch must share its length). ``temperature=0`` is greedy.
    """
    stop = tokenizer.eot_id
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    by_length: dict[int, list[int]] = {}
    encoded = [tokenizer.encode(p) for p in prompts]
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    replies: list[str] = [""] * len(prompts)
    for length, rows in sorted(by_length.items()):
        idx = torch.tensor([encoded[i] for i in rows], device=device)  # (b, length)
        steps = min(max_new_tokens, model.config.block_size - length + 1)
        out = model.generate(
            idx, steps, temperature=temperature, top_k=top_k, stop_token=stop, generator=generator
        )
        for i, row in zip(rows, out[:, length:].tolist()):
            row = row[: row.index(stop)] if stop in row else row
            replies[i] = tokenizer.decode(row)
    return replies


def exact_match(model: GPT, tokenizer: WordTokenizer, instructions: Sequence[Instruction]) -> float:
    """Fraction of prompts whose greedy reply, style words removed, is exactly the right answer."""
    replies = generate_replies(model, tokenizer, [prompt_text(i.prompt) for i in instructions])
    return sum(extract_answer(r) == i.answer for r, i in zip(replies, instructions)) / len(instructions)


@dataclass
class SFTConfig:
    """The whole chapter-07 pipeline's settings (CPU sized: about 100k parameters).

    Attributes:
        model: the GPT's shape (the vocabulary size is set from the tokenizer).
        pretrain_steps: next-token steps on :func:`world_corpus` (0 skips pretraining).
        sft_steps, n_conversations: fine-tuning steps and the size of the conversation set.
        batch_size, lr: for both stages.
        system_fraction: share of conversations with a system prompt.
    """

    model: GPTConfig = field(
        default_factory=lambda: GPTConfig(
            vocab_size=len(VOCAB), block_size=24, n_layer=2, n_head=4, n_embd=48
        )
    )
    pretrain_steps: int = 100
    sft_steps: int = 1000
    n_conversations: int = 4000
    batch_size: int = 32
    lr: float = 6e-3
    system_fraction: float = 0.25


def world_corpus_loader(
    tokenizer: WordTokenizer, instructions: dict[str, list[Instruction]], batch_size: int, seed: int = 0
) -> DataLoader:
    """Pretraining batches: next-token windows (16 tokens, stride 3) of :func:`world_corpus` over the
    training instructions, shuffled with ``seed``."""
    ids = tokenizer.encode(world_corpus(instructions["train"], seed=seed))
    return DataLoader(
        NextTokenDataset(ids, 16, stride=3),
        batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )


def conversation_loaders(
    tokenizer: WordTokenizer,
    instructions: dict[str, list[Instruction]],
    n_conversations: int,
    system_fraction: float,
    block_size: int,
    batch_size: int,
    seed: int = 0,
    length_buckets: bool = True,
) -> tuple[Iterable, DataLoader]:
    """SFT data: ``n_conversations`` training conversations (batches of similar length with
    ``length_buckets``, else a shuffled DataLoader, which torchrun can shard) and 256 held-out ones
    on held-out instructions, as ``(ids, roles)`` batches."""
    conversations = make_sft_conversations(instructions["train"], n_conversations, system_fraction, seed=seed)
    held_out = make_sft_conversations(instructions["held_out"], 256, system_fraction, seed=seed + 1)
    ids, roles = encode_conversations(conversations, tokenizer, block_size)
    if length_buckets:
        train_loader = LengthBuckets((ids, roles), (roles != PAD).sum(1), batch_size, seed=seed)
    else:
        train_loader = DataLoader(TensorDataset(ids, roles), batch_size=batch_size, shuffle=True)
    eval_loader = DataLoader(TensorDataset(*encode_conversations(held_out, tokenizer, block_size)), 256)
    return train_loader, eval_loader


@dataclass
class SFTResult:
    """What :func:`train_sft_model` returns: the pretrained and fine-tuned models and their data."""

    pretrained: GPT
    model: GPT
    tokenizer: WordTokenizer
    instructions: dict[str, list[Instruction]]
    pretrain_history: History | None
    history: History


_CACHE: dict[tuple, SFTResult] = {}


def train_sft_model(seed: int = 0, config: SFTConfig | None = None, progress: bool = False) -> SFTResult:
    """Build a tiny character GPT, pretrain it on plain sentences about the chat world, then
    fine-tune it on conversations with the loss on the assistant's tokens only.

    Results are cached per (seed, config) within a process; callers get independent copies.
    """
    config = config or SFTConfig()
    key = (seed, repr(config))
    if key not in _CACHE:
        _CACHE[key] = _train_sft_model(seed, config, progress)
    return copy.deepcopy(_CACHE[key])


def _train_sft_model(seed: int, config: SFTConfig, progress: bool) -> SFTResult:
    torch.manual_seed(seed)
    tokenizer = chat_tokenizer()
    instructions = make_instructions(seed=0)
    model_config = replace(config.model, vocab_size=tokenizer.vocab_size)
    model = GPT(model_config)
    block = model_config.block_size
    pretrain_history = None
    if config.pretrain_steps:
        loader = world_corpus_loader(tokenizer, instructions, config.batch_size, seed=seed)
        train_config = TrainConfig(
            max_steps=config.pretrain_steps, lr=config.lr, warmup_steps=20, progress=progress, device="cpu"
        )
        pretrain_history = Trainer(model, next_token_loss, loader, None, train_config).fit()
    pretrained = copy.deepcopy(model).eval()
    train_loader, eval_loader = conversation_loaders(
        tokenizer,
        instructions,
        config.n_conversations,
        config.system_fraction,
        block,
        config.batch_size,
        seed,
    )
    train_config = TrainConfig(
        max_steps=config.sft_steps, lr=config.lr, warmup_steps=20, progress=progress, device="cpu"
    )
    history = Trainer(model, sft_loss, train_loader, eval_loader, train_config).fit()
    return SFTResult(pretrained, model.eval(), tokenizer, instructions, pretrain_history, history)
