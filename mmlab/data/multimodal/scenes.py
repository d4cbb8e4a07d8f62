"""Shape scenes (chapters 09-12): a small RGB image (24 x 24 by default) with 1-3 shapes on a 2 x 2 grid,
each with a kind (circle, square, triangle), a colour (red, green, blue), a size (small, large) and a
position; drawing and describing them, and what sits in each grid cell (chapters 10 and 12 train
their image encoders to name it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw

KINDS = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue")
SIZES = ("small", "large")
RGB = {"red": (220, 50, 50), "green": (40, 180, 60), "blue": (60, 100, 240)}
Scene = list[dict[str, Any]]  # one dict per shape: kind, colour, size, x, y (centre, pixels), cell


@dataclass
class SceneConfig:
    """How scenes look.

    Attributes:
        image_size: side of the square image in pixels (divisible by ``grid``).
        grid: shapes sit in the cells of a ``grid x grid`` layout (one shape per cell).
        min_shapes, max_shapes: how many shapes a scene holds.
        small, large: side (pixels) of a small and a large shape.
        jitter: the largest random shift of a shape from its cell's centre, in pixels.
        noise: standard deviation of the Gaussian pixel noise (0-255 scale).
    """

    image_size: int = 24
    grid: int = 2
    min_shapes: int = 1
    max_shapes: int = 3
    small: int = 7
    large: int = 10
    jitter: int = 1
    noise: float = 8.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_shapes <= self.max_shapes <= self.grid**2:
            raise ValueError(
                f"need 1 <= min_shapes <= max_shapes <= grid**2, got {self.min_shapes}, {self.max_shapes}"
            )


def random_scene(rng: np.random.Generator, config: SceneConfig | None = None) -> Scene:
    """A random scene description: 1-3 shapes in distinct grid cells."""
    config = config or SceneConfig()
    n = int(rng.integers(config.min_shapes, config.max_shapes + 1))
    cells = rng.choice(config.grid**2, size=n, replace=False)
    step = config.image_size / config.grid
    scene = []
    for cell in cells:
        row, col = divmod(int(cell), config.grid)
        scene.append(
            {
                "kind": KINDS[rng.integers(3)],
                "colour": COLOURS[rng.integers(3)],
                "size": SIZES[rng.integers(2)],
                "x": float((col + 0.5) * step + rng.integers(-config.jitter, config.jitter + 1)),
                "y": float((row + 0.5) * step + rng.integers(-config.jitter, config.jitter + 1)),
                "cell": int(cell),
            }
        )
    return scene


def draw_scene(scene: Scene, config: SceneConfig | None = None, rng: np.random.Generator | None = None):
    """Render a scene description as a PIL RGB image."""
    config = config or SceneConfig()
    image = PILImage.new("RGB", (config.image_size, config.image_size), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    for shape in scene:
        half = (config.small if shape["size"] == "small" else config.large) / 2
        x, y, fill = shape["x"], shape["y"], RGB[shape["colour"]]
        box = [x - half, y - half, x + half - 1, y + half - 1]
        if shape["kind"] == "circle":
            draw.ellipse(box, fill=fill)
        elif shape["kind"] == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(x, y - half), (x - half, y + half - 1), (x + half - 1, y + half - 1)], fill=fill)
    if rng is not None and config.noise > 0:
        pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, config.noise, (*image.size[::-1], 3))
        image = PILImage.fromarray(pixels.clip(0, 255).astype(np.uint8))
    return image


def describe_scene(scene: Scene) -> str:
    """A caption: "a large red circle left of a small blue square" style, in left-to-right order."""
    parts = [f"a {s['size']} {s['colour']} {s['kind']}" for s in sorted(scene, key=lambda s: s["x"])]
    return ", ".join(parts) if parts else "an empty picture"


def grid_cell(shape: dict[str, Any], image_size: int, grid: int = 2) -> int:
    """The ``grid x grid`` cell (row by row) that holds ``shape``'s centre (chapters 10 and 12)."""
    col = min(int(shape["x"] * grid / image_size), grid - 1)
    row = min(int(shape["y"] * grid / image_size), grid - 1)
    return row * grid + col


def region_targets(
    scenes: list[Scene], image_size: int, grid: int = 2, sizes: bool = False
) -> dict[str, torch.Tensor]:
    """What sits in each of the ``grid x grid`` regions of each scene, row by row, as class indices:
    ``region_kinds`` (N, grid^2) with 0 = empty, 1 + KINDS index otherwise; ``region_colours``
    likewise, and with ``sizes`` ``region_sizes`` (1 + SIZES index) too (chapter 12's region namer)."""
    names = ("kinds", "colours", "sizes") if sizes else ("kinds", "colours")
    tables = {"kinds": KINDS, "colours": COLOURS, "sizes": SIZES}
    targets = {name: torch.zeros(len(scenes), grid * grid, dtype=torch.long) for name in names}
    for n, scene in enumerate(scenes):
        for shape in scene:
            cell = grid_cell(shape, image_size, grid)
            for name in names:
                targets[name][n, cell] = 1 + tables[name].index(shape[name[:-1]])
    return {f"region_{name}": value for name, value in targets.items()}
