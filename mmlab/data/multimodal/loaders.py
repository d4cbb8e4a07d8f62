"""The generated data sets as tensors, converted once before training, and batches of them (chapters
09-12): :class:`TensorLoader` is much faster than a per-example DataLoader."""

from __future__ import annotations

import io

import numpy as np
import torch
from datasets import Dataset, Image
from PIL import Image as PILImage

from mmlab.data.multimodal.scenes import COLOURS, KINDS, SIZES, region_targets
from mmlab.data.multimodal.vqa import ANSWERS, QUESTION_TYPES, QuestionVocab


def _pixels(images: list) -> torch.Tensor:
    """PIL images, arrays or ``{"bytes": ...}`` encoded images -> float tensor (N, C, H, W) in [0, 1]."""
    decoded = [PILImage.open(io.BytesIO(im["bytes"])) if isinstance(im, dict) else im for im in images]
    arrays = np.stack([np.asarray(im) for im in decoded])
    if arrays.ndim == 3:  # greyscale (N, H, W)
        arrays = arrays[..., None]
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255.0


def _columns(dataset: Dataset, names: list[str]) -> dict[str, list]:
    """Whole columns as Python lists, images left encoded (much faster than row-by-row access)."""
    if "image" in names:
        dataset = dataset.cast_column("image", Image(decode=False))
    return dataset.select_columns(names).to_dict()


def image_tensors(dataset: Dataset) -> dict[str, torch.Tensor]:
    """A classification data set -> ``{"images": (N, C, H, W) in [0, 1], "labels": (N,)}``, decoded once."""
    columns = _columns(dataset, ["image", "label"])
    return {"images": _pixels(columns["image"]), "labels": torch.tensor(columns["label"])}


def shape_caption_tensors(dataset: Dataset) -> dict[str, torch.Tensor]:
    """A :func:`make_shape_captions` data set -> ``images`` (N, 3, H, W) in [0, 1] and the attributes
    as indices: ``kinds`` into :data:`KINDS`, ``colours`` into :data:`COLOURS`, ``sizes`` into ``SIZES``."""
    columns = _columns(dataset, ["image", "kind", "colour", "size"])
    return {
        "images": _pixels(columns["image"]),
        "kinds": torch.tensor([KINDS.index(k) for k in columns["kind"]]),
        "colours": torch.tensor([COLOURS.index(c) for c in columns["colour"]]),
        "sizes": torch.tensor([SIZES.index(s) for s in columns["size"]]),
    }


def vqa_tensors(dataset: Dataset, vocab: QuestionVocab | None = None) -> dict[str, torch.Tensor]:
    """A VQA data set -> tensors, each scene's image decoded once (not per step of training).

    Returns ``images`` (N, 3, H, W) in [0, 1], ``questions`` (N, T) token ids, ``question_mask``
    (N, T) True on real tokens, ``answers`` (N,) indices into :data:`ANSWERS`, ``types`` (N,)
    indices into :data:`QUESTION_TYPES` and ``scene_ids`` (N,).
    """
    vocab = vocab or QuestionVocab()
    columns = _columns(dataset, ["image", "question", "answer", "question_type", "scene_id", "scene"])
    scene_ids = columns["scene_id"]
    first: dict[int, int] = {}  # the questions of a scene share its image: decode it once
    for index, sid in enumerate(scene_ids):
        first.setdefault(sid, index)
    decoded = _pixels([columns["image"][i] for i in first.values()])
    side = decoded.size(-1)
    position = {sid: i for i, sid in enumerate(first)}
    questions = torch.tensor([vocab.encode(q) for q in columns["question"]])
    return {
        "images": decoded[torch.tensor([position[s] for s in scene_ids])],
        "questions": questions,
        "question_mask": questions != QuestionVocab.PAD,
        "answers": torch.tensor([ANSWERS.index(a) for a in columns["answer"]]),
        "types": torch.tensor([QUESTION_TYPES.index(t) for t in columns["question_type"]]),
        "scene_ids": torch.tensor(scene_ids),
        **region_targets(columns["scene"], side),
    }


class TensorLoader:
    """Batches of a dict of equally long tensors, as dicts; much faster than a per-example DataLoader.

    Like a ``DataLoader(shuffle=True)``, each pass draws its order from the global torch RNG, so the
    Trainer's seeding and resuming work the same way.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int = 64, shuffle: bool = False) -> None:
        lengths = {len(v) for v in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"all tensors need the same length, got lengths {sorted(lengths)}")
        self.tensors, self.batch_size, self.shuffle = tensors, batch_size, shuffle
        self.n = lengths.pop()

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        order = torch.randperm(self.n) if self.shuffle else torch.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            index = order[start : start + self.batch_size]
            yield {k: v[index] for k, v in self.tensors.items()}
