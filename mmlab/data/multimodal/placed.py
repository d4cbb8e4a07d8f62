"""Captioned shapes with a place, for generating images from text (chapter 15).

One shape per 16 x 16 image in one of the four cells of a 2 x 2 grid, captioned with its colour, kind
and place: ``"a red circle top left"``. 3 colours x 3 kinds x 4 places make 36 combinations;
:data:`UNSEEN` holds six of them out of training (each colour, kind and place still occurs in
training, only not together), so a generator that composes words it saw apart can be told from one
that memorised pictures. Drawn with chapter 09's :func:`~mmlab.data.multimodal.scenes.draw_scene`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mmlab.data.multimodal.scenes import COLOURS, KINDS, SceneConfig, draw_scene

__all__ = [
    "PLACES",
    "PLACED_CONFIG",
    "UNSEEN",
    "all_combinations",
    "make_placed_shapes",
    "parse_placed_caption",
    "placed_caption",
]

PLACES = ("top left", "top right", "bottom left", "bottom right")  # the 2 x 2 cells, row by row
PLACED_CONFIG = SceneConfig(image_size=16, grid=2, min_shapes=1, max_shapes=1, small=7, large=7, noise=0.0)
Combination = tuple[str, str, str]  # (colour, kind, place)
UNSEEN: tuple[Combination, ...] = (
    ("red", "circle", "top left"),
    ("green", "square", "top right"),
    ("blue", "triangle", "bottom left"),
    ("red", "triangle", "bottom right"),
    ("green", "circle", "bottom left"),
    ("blue", "square", "top left"),
)


def placed_caption(colour: str, kind: str, place: str) -> str:
    """``"a red circle top left"``."""
    return f"a {colour} {kind} {place}"


def parse_placed_caption(caption: str) -> Combination:
    """The inverse of :func:`placed_caption`; a clear ``ValueError`` for anything else."""
    words = caption.lower().split()
    if len(words) != 5 or words[0] != "a":
        raise ValueError(
            f"a caption reads 'a <colour> <kind> <place>', e.g. 'a red circle top left'; got {caption!r}"
        )
    colour, kind, place = words[1], words[2], " ".join(words[3:])
    if colour not in COLOURS or kind not in KINDS or place not in PLACES:
        raise ValueError(
            f"{caption!r}: the colour must be one of {COLOURS}, the kind one of {KINDS}, the place one of {PLACES}"
        )
    return colour, kind, place


def all_combinations() -> list[Combination]:
    """The 36 (colour, kind, place) combinations."""
    return [(c, k, p) for c in COLOURS for k in KINDS for p in PLACES]


def make_placed_shapes(
    n: int, seed: int = 0, combinations: Sequence[Combination] | None = None
) -> dict[str, torch.Tensor | list[str]]:
    """``n`` images drawn uniformly among ``combinations`` (default: all but :data:`UNSEEN`).

    Returns ``images`` ``(n, 3, 16, 16)`` in ``[-1, 1]``, ``captions`` (list of str), and the labels
    ``colours``, ``kinds``, ``places`` ``(n,)`` as indices into :data:`COLOURS`, :data:`KINDS`, :data:`PLACES`.
    """
    if combinations is None:
        combinations = [c for c in all_combinations() if c not in UNSEEN]
    if not combinations:
        raise ValueError("give at least one combination")
    config = PLACED_CONFIG
    rng = np.random.default_rng(seed)
    step = config.image_size / config.grid
    pixels, captions, labels = [], [], []
    for _ in range(n):
        colour, kind, place = combinations[rng.integers(len(combinations))]
        row, col = divmod(PLACES.index(place), config.grid)
        jitter = rng.integers(-config.jitter, config.jitter + 1, size=2)
        shape = {
            "kind": kind,
            "colour": colour,
            "size": "small",
            "x": float((col + 0.5) * step + jitter[0]),
            "y": float((row + 0.5) * step + jitter[1]),
            "cell": PLACES.index(place),
        }
        pixels.append(np.asarray(draw_scene([shape], config)))
        captions.append(placed_caption(colour, kind, place))
        labels.append((COLOURS.index(colour), KINDS.index(kind), PLACES.index(place)))
    images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (n, 3, 16, 16)
    colours, kinds, places = torch.tensor(labels).unbind(1)
    return {"images": images, "captions": captions, "colours": colours, "kinds": kinds, "places": places}
