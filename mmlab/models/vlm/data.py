"""Chapter 12's VLM data: its word tokenizer, the training rows (image slots, question or caption,
targets) and each scene written in cell words for the language model's pretraining."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from mmlab.data.multimodal import grid_cell

IGNORE = -100  # targets that the loss skips (the question, the padding)


class VLMTokenizer:
    """Words and the punctuation ``?`` and ``,`` -> ids, with the special tokens the prompts need.

    ``<answer>`` ends a question (the model answers after it), ``<caption>`` asks for a caption,
    ``<eos>`` ends an answer or a caption. After the words come the *cell words*
    (:meth:`cell_words`): one token per thing a grid cell of a shapes scene can hold,
    ``<small-red-circle>`` ... ``<empty>``, which the language model reads in its prefix slots while
    it is pretrained on text (:func:`scene_words`). No text contains them.
    """

    SPECIALS = ("<pad>", "<unk>", "<answer>", "<caption>", "<eos>")
    PAD, UNK, ANSWER, CAPTION, EOS = range(5)

    def __init__(self, texts: Sequence[str]) -> None:
        words = sorted({w for t in texts for w in self.split(t)})
        self.itos = [*self.SPECIALS, *words, *self.cell_words()]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @staticmethod
    def cell_words() -> list[str]:
        """``<size-colour-kind>`` for every shape of :mod:`mmlab.data.multimodal`, then ``<empty>``."""
        from mmlab.data.multimodal import COLOURS, KINDS, SIZES

        shapes = [f"<{s}-{c}-{k}>" for s in SIZES for c in COLOURS for k in KINDS]
        return [*shapes, "<empty>"]

    @staticmethod
    def split(text: str) -> list[str]:
        return re.findall(r"[a-z]+|[?,]", text.lower().replace("color", "colour"))

    def __len__(self) -> int:
        return len(self.itos)

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in self.split(text) if w not in self.stoi]

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(w, self.UNK) for w in self.split(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text, stopping at ``<eos>`` and leaving out padding."""
        words = []
        for i in ids:
            if i == self.EOS:
                break
            if i != self.PAD:
                words.append(self.itos[i])
        return " ".join(words).replace(" ,", ",").replace(" ?", "?")

    def question_prompt(self, question: str) -> list[int]:
        return [*self.encode(question), self.ANSWER]

    def caption_prompt(self) -> list[int]:
        return [self.CAPTION]


def build_vlm_examples(
    tensors: dict[str, torch.Tensor],
    questions: Sequence[str],
    answers: Sequence[str],
    captions: Sequence[str],
    tokenizer: VLMTokenizer,
    max_len: int,
) -> dict[str, torch.Tensor]:
    """Training rows for the VLM: one per question (``question <answer> answer <eos>``) and one per
    distinct scene (``<caption> caption <eos>``).

    Args:
        tensors: ``vqa_tensors(dataset)`` (its ``images`` and ``scene_ids`` are used; ``words`` too,
            the output of :func:`scene_words`, when present).
        questions, answers, captions: the data set's columns, row-aligned with ``tensors``.
    Returns:
        ``images`` (N, 3, H, W), ``ids`` (N, max_len) inputs, ``targets`` (N, max_len) with the next
        token where the loss counts (the answer or caption and its ``<eos>``) and IGNORE elsewhere,
        ``kind`` (N,) 0 for a question row and 1 for a caption row, and ``words`` (N, P, K) if given.
    """
    rows: list[tuple[int, list[int], int]] = []  # (image row, full token list, where the answer starts)
    for i, (q, a) in enumerate(zip(questions, answers)):
        prompt = tokenizer.question_prompt(q)
        rows.append((i, [*prompt, *tokenizer.encode(a), tokenizer.EOS], len(prompt)))
    seen: set[int] = set()
    for i, sid in enumerate(tensors["scene_ids"].tolist()):
        if sid not in seen:
            seen.add(sid)
            rows.append((i, [tokenizer.CAPTION, *tokenizer.encode(captions[i]), tokenizer.EOS], 1))
    ids = torch.full((len(rows), max_len), tokenizer.PAD, dtype=torch.long)
    targets = torch.full((len(rows), max_len), IGNORE, dtype=torch.long)
    for r, (_, tokens, start) in enumerate(rows):
        if len(tokens) > max_len + 1:
            raise ValueError(f"a row has {len(tokens)} tokens; raise max_len above {max_len}")
        ids[r, : len(tokens) - 1] = torch.tensor(tokens[:-1])
        # input position t predicts token t + 1; only the answer/caption tokens are learned
        targets[r, start - 1 : len(tokens) - 1] = torch.tensor(tokens[start:])
    source = torch.tensor([r[0] for r in rows])
    out = {
        "images": tensors["images"][source],
        "ids": ids,
        "targets": targets,
        "kind": torch.tensor([0] * len(questions) + [1] * len(seen)),
    }
    if "words" in tensors:  # the scene in words (see scene_words), for pretraining the language model
        out["words"] = tensors["words"][source]
    return out


def scene_words(
    scenes: Sequence[Sequence[dict]], tokenizer: VLMTokenizer, image_size: int, grid: int = 2
) -> torch.Tensor:
    """Each cell of each scene as its cell word (:meth:`VLMTokenizer.cell_words`), token ids
    ``(N, grid^2, 1)``: ``<small-red-circle>`` for a cell holding that shape, ``<empty>`` otherwise.

    This is the scene *written in words*, what the language model reads in its prefix slots while it
    is pretrained on text (:func:`scene_words_loss`).
    """
    ids = torch.full((len(scenes), grid * grid, 1), tokenizer.stoi["<empty>"], dtype=torch.long)
    for n, scene in enumerate(scenes):
        for shape in scene:
            word = f"<{shape['size']}-{shape['colour']}-{shape['kind']}>"
            ids[n, grid_cell(shape, image_size, grid), 0] = tokenizer.stoi[word]
    return ids
