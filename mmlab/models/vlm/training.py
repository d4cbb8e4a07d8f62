"""How chapter 12's VLM learns and is measured: its losses (image + text, text only, scene in words),
the region namer that trains its image encoder, and the held-out measurements."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mmlab.models.vlm.data import IGNORE
from mmlab.models.vlm.model import MiniVLM


def vlm_loss(model: MiniVLM, batch: dict[str, torch.Tensor], use_image: bool = True):
    """Cross-entropy on the answer and caption tokens; reports the token accuracy there."""
    logits = model(batch["images"] if use_image else None, batch["ids"])  # (B, T, V)
    return _masked_loss(logits, batch["targets"])


def _masked_loss(logits: torch.Tensor, targets: torch.Tensor):
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
    with torch.no_grad():
        counted = targets != IGNORE
        accuracy = (logits.argmax(-1) == targets)[counted].float().mean()
    return loss, {"accuracy": accuracy}


def text_only_loss(model: MiniVLM, batch: dict[str, torch.Tensor]):
    """:func:`vlm_loss` without the image: the language model sees the text alone."""
    return vlm_loss(model, batch, use_image=False)


def scene_words_loss(model: MiniVLM, batch: dict[str, torch.Tensor]):
    """:func:`vlm_loss` with the scene written in words (``batch["words"]``) in the image slots:
    language-model pretraining (stage 0), no pixels involved."""
    return _masked_loss(model(None, batch["ids"], words=batch["words"]), batch["targets"])


@torch.no_grad()
def encode_images(model: MiniVLM, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Patch features of many images, (N, 3, H, W) -> (N, P, d_v), in eval mode and without gradients."""
    was_training = model.image_encoder.training
    model.image_encoder.eval()
    out = [
        model.image_encoder.tokens(images[i : i + batch_size].to(model.device)).cpu()
        for i in range(0, len(images), batch_size)
    ]
    model.image_encoder.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def answer_accuracy(
    model: MiniVLM,
    images: torch.Tensor | None,
    questions: Sequence[str],
    answers: Sequence[str],
    batch_size: int = 512,
    words: torch.Tensor | None = None,
) -> float:
    """Exact match of the first generated word with the one-word answer, for many questions at once.

    The first greedy word is the argmax at the ``<answer>`` position, so one forward pass per batch
    scores it (same result as :meth:`MiniVLM.answer`). ``images`` None scores the text-only model, or
    with ``words`` (N, P, K) the language model reading the scene in words.
    """
    tok = model.tokenizer
    prompts = [tok.question_prompt(q) for q in questions]
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), tok.PAD, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)] = torch.tensor(prompt)
    last = torch.tensor([len(p) - 1 for p in prompts])
    target = torch.tensor([tok.stoi.get(a, tok.UNK) for a in answers])
    was_training = model.training
    model.eval()
    right = 0
    for i in range(0, len(prompts), batch_size):
        sl = slice(i, i + batch_size)
        img = None if images is None else images[sl].to(model.device)
        said = None if words is None else words[sl].to(model.device)
        logits = model(img, ids[sl].to(model.device), words=said)  # (b, T, V)
        guess = logits[torch.arange(logits.size(0)), last[sl].to(model.device)].argmax(-1).cpu()
        right += int((guess == target[sl]).sum())
    model.train(was_training)
    return right / len(prompts)


@torch.no_grad()
def nearest_words(model: MiniVLM, image: torch.Tensor, k: int = 1) -> list[list[str]]:
    """For each image token, the ``k`` vocabulary words whose embeddings have the highest cosine
    similarity with it: how the language model might "read" the projected patch."""
    prefix = model.prefix(model._images(image).to(model.device))[0]  # (P, C)
    sims = F.normalize(prefix, dim=-1) @ F.normalize(model.gpt.tok_emb.weight, dim=-1).t()  # (P, V)
    return [
        [model.tokenizer.itos[i] if i < len(model.tokenizer) else "?" for i in row]
        for row in sims.topk(k, dim=-1).indices.tolist()
    ]


@torch.no_grad()
def nearest_word_match(
    model: MiniVLM, features: torch.Tensor, words: torch.Tensor, cells: torch.Tensor | None = None
) -> float:
    """The fraction of cells whose projected patch "reads" as the cell's words: the set of its ``k``
    nearest vocabulary words (cosine) equals the set of the cell's words (``k`` = how many distinct
    words the cell has; 1 for the cell words of :func:`scene_words`).

    Args:
        features: patch features (N, P, d_v) (or pixels); words: :func:`scene_words` ids (N, P, K).
        cells: optional (N, P) bool, True on the cells to score (e.g. only the non-empty ones).
    """
    prefix = model.prefix(features.to(model.device)).flatten(0, 1)  # (N P, C)
    sims = F.normalize(prefix, dim=-1) @ F.normalize(model.gpt.tok_emb.weight, dim=-1).t()  # (N P, V)
    ranked = sims.topk(words.size(-1), dim=-1).indices.cpu()  # (N P, K)
    right = [set(r[: len(set(w))].tolist()) == set(w) for r, w in zip(ranked, words.flatten(0, 1).tolist())]
    if cells is not None:
        right = [r for r, keep in zip(right, cells.flatten().tolist()) if keep]
        if not right:
            raise ValueError("no cell selected by cells")
    return sum(right) / len(right)
