"""Supervised fine-tuning (SFT): teach a pretrained language model to answer in the chat template.

The data are whole conversations rendered with :func:`mmlab.data.chat.render_with_roles`. The
model reads everything (system prompt, user turn, template markers) but is graded only on what the
assistant writes: the next-token cross-entropy is averaged over the positions whose *target* token
belongs to the assistant,

    L = - (1 / |A|) * sum_{t in A} log p(x_{t+1} | x_{<=t}),   A = {t : role(x_{t+1}) = assistant}.

A user's words are context, not something to imitate, so changing them changes the loss only
through what the model conditions on, never through a term of its own.

The pieces of chapter 07 (and of chapter 08, which starts from its model); the recipe that puts them
together, :func:`mmlab.align.instruction_tuning.train_sft_model`, is in :mod:`mmlab.align.instruction_tuning`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlab.data.chat import (
    ASSISTANT,
    PAD,
    SYSTEM_PROMPTS,
    Instruction,
    WordTokenizer,
    extract_answer,
    group_by_task,
    render_chat,
    render_with_roles,
    styled_reply,
)
from mmlab.data.lm import NextTokenDataset
from mmlab.models.gpt import GPT

__all__ = [
    "LengthBuckets",
    "WindowBatches",
    "assistant_loss_mask",
    "continue_prompts",
    "conversation_loaders",
    "encode_conversations",
    "exact_match",
    "generate_replies",
    "make_sft_conversations",
    "masked_token_loss",
    "prompt_text",
    "sft_loss",
    "whole_batch",
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
    # Padded Python lists, then one tensor each: a tensor per row would cost seconds for 100k rows.
    stoi, pad = tokenizer.stoi, [tokenizer.pad_id] * longest
    ids = [[stoi[t] for t in tokens] + pad[len(tokens) :] for tokens, _ in rows]
    roles = [role + [PAD] * (longest - len(role)) for _, role in rows]
    return torch.tensor(ids, dtype=torch.long), torch.tensor(roles, dtype=torch.long)


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


def world_corpus(instructions: Sequence[Instruction], n_lines: int = 3000, seed: int = 0) -> str:
    """Plain sentences about the chat world (no chat template), for a short pretraining stage:
    "grass is green", "cat dog backwards is dog cat", "fun dull nice is a good review", one a line."""
    rng = random.Random(seed)
    tasks = group_by_task(instructions)
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
    tasks = group_by_task(instructions)
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
def continue_prompts(
    model: GPT,
    encoded: Sequence[Sequence[int]],
    max_new_tokens: int,
    stop_token: int,
    max_len: int,
    generator: torch.Generator | None = None,
    **sampling,
) -> list[list[int]]:
    """The generated tokens after each encoded prompt, up to and including ``stop_token`` when it comes
    (chapter 07's replies and chapter 08's PPO rollouts both come from here).

    Prompts of the same length are generated together in one batch (the model has no padding mask,
    so a batch must share its length); prompt and continuation together are at most ``max_len``
    tokens. ``sampling``: ``temperature`` (0 is greedy), ``top_k``, as :meth:`GPT.generate`.
    """
    device = next(model.parameters()).device
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    continuations: list[list[int]] = [[] for _ in encoded]
    for length, rows in sorted(by_length.items()):
        idx = torch.tensor([list(encoded[i]) for i in rows], device=device)  # (b, length)
        steps = min(max_new_tokens, max_len - length)
        out = model.generate(idx, steps, stop_token=stop_token, generator=generator, **sampling)
        for i, row in zip(rows, out[:, length:].tolist()):
            continuations[i] = row[: row.index(stop_token) + 1] if stop_token in row else row
    return continuations


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
    ``temperature=0`` is greedy."""
    stop = tokenizer.eot_id
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    encoded = [tokenizer.encode(p) for p in prompts]
    # the last generated token is never fed back, so it may reach one past block_size
    rows = continue_prompts(
        model,
        encoded,
        max_new_tokens,
        stop,
        model.config.block_size + 1,
        generator,
        temperature=temperature,
        top_k=top_k,
    )
    return [tokenizer.decode(row[:-1] if row and row[-1] == stop else row) for row in rows]


def exact_match(model: GPT, tokenizer: WordTokenizer, instructions: Sequence[Instruction]) -> float:
    """Fraction of prompts whose greedy reply, style words removed, is exactly the right answer."""
    replies = generate_replies(model, tokenizer, [prompt_text(i.prompt) for i in instructions])
    return sum(extract_answer(r) == i.answer for r, i in zip(replies, instructions)) / len(instructions)


class WindowBatches(NextTokenDataset):
    """:class:`~mmlab.data.lm.NextTokenDataset` that a DataLoader reads a whole batch at a time.

    A DataLoader calls ``__getitems__`` with a batch's indices (and ``collate_fn=whole_batch`` passes
    the result on), so one gather from the ``(N, T + 1)`` table of windows replaces a Python call and
    a collate per row. The batches are the plain DataLoader's, value for value and in the same order;
    at the gpu preset's 256 rows the per-row loop cost about as much as a GPU step.
    """

    def __init__(self, ids: torch.Tensor | Sequence[int], block_size: int, stride: int = 1) -> None:
        super().__init__(ids, block_size, stride)
        self.windows = self.ids.unfold(0, block_size + 1, stride)  # (N, T + 1), a view of the stream

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.windows[torch.as_tensor(indices, dtype=torch.long)]  # (B, T + 1)
        return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()  # (B, T), (B, T)


def whole_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The DataLoader's ``collate_fn`` for :class:`WindowBatches`: the batch is already collated."""
    return batch


def world_corpus_loader(
    tokenizer: WordTokenizer,
    instructions: dict[str, list[Instruction]],
    batch_size: int,
    seed: int = 0,
    corpus: Callable[..., str] = world_corpus,
) -> DataLoader:
    """Pretraining batches: next-token windows (16 tokens, stride 3) of ``corpus`` (:func:`world_corpus`;
    the Chinese world passes its own) over the training instructions, shuffled with ``seed``,
    gathered a batch at a time (:class:`WindowBatches`)."""
    ids = tokenizer.encode(corpus(instructions["train"], seed=seed))
    return DataLoader(
        WindowBatches(ids, 16, stride=3),
        batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=whole_batch,
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
    make_conversations: Callable[..., list[list[dict]]] = make_sft_conversations,
) -> tuple[Iterable, DataLoader]:
    """SFT data: ``n_conversations`` training conversations (batches of similar length with
    ``length_buckets``, else a shuffled DataLoader, which torchrun can shard) and 256 held-out ones
    on held-out instructions, as ``(ids, roles)`` batches. ``make_conversations`` writes them
    (:func:`make_sft_conversations`; the Chinese world passes its own)."""
    conversations = make_conversations(instructions["train"], n_conversations, system_fraction, seed=seed)
    held_out = make_conversations(instructions["held_out"], 256, system_fraction, seed=seed + 1)
    ids, roles = encode_conversations(conversations, tokenizer, block_size)
    if length_buckets:
        train_loader = LengthBuckets((ids, roles), (roles != PAD).sum(1), batch_size, seed=seed)
    else:
        train_loader = DataLoader(TensorDataset(ids, roles), batch_size=batch_size, shuffle=True)
    eval_loader = DataLoader(TensorDataset(*encode_conversations(held_out, tokenizer, block_size)), 256)
    return train_loader, eval_loader
