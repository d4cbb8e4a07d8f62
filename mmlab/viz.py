"""Plots the chapters share: loss curves (static and live), heat maps and image grids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    from mmlab.train.trainer import History

__all__ = ["LivePlot", "plot_heatmap", "plot_history", "show_images"]


def plot_history(history: History, keys: Iterable[str] = ("loss",), ax=None):
    """Train (line) and eval (dots) curves of each metric in ``keys``, one panel per metric."""
    keys = list(keys)
    if ax is None:
        _, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.2), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(ax)
    for panel, key in zip(axes, keys):
        for split, style in (("train", "-"), ("eval", "o-")):
            steps, values = history.series(key, split)
            if steps:
                panel.plot(steps, values, style, label=split, markersize=3)
        panel.set_xlabel("step")
        panel.set_ylabel(key)
        panel.legend()
        panel.grid(alpha=0.3)
    plt.tight_layout()
    return axes


class LivePlot:
    """A loss plot that redraws in place in Jupyter while the Trainer runs."""

    def __init__(self, keys: Sequence[str] = ("loss",)) -> None:
        from IPython.display import display

        self.keys = list(keys)
        self.handle = display(None, display_id=True)

    def update(self, history: History) -> None:
        """Redraw from ``history``."""
        plot_history(history, keys=self.keys)
        figure = plt.gcf()
        if self.handle is not None:
            self.handle.update(figure)
        plt.close(figure)


def plot_heatmap(
    matrix,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    cmap: str = "viridis",
    annotate: bool = False,
):
    """A labelled heat map (attention weights, confusion or similarity matrices)."""
    matrix = np.asarray(matrix.detach().cpu() if hasattr(matrix, "detach") else matrix, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * matrix.shape[1] + 2, 0.45 * matrix.shape[0] + 1.5))
    image = ax.imshow(matrix, cmap=cmap, aspect="auto")
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), row_labels)
    if col_labels is not None:
        ax.set_xticks(range(len(col_labels)), col_labels, rotation=90)
    if annotate:
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=7, color="w")
    if title:
        ax.set_title(title)
    plt.colorbar(image, ax=ax, fraction=0.046)
    return ax


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.4):
    """A grid of images (tensors [N, C, H, W] or [N, H, W], arrays, or PIL images)."""
    images = list(images)
    nrows = (len(images) + ncols - 1) // ncols
    _, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= len(images):
            continue
        image = images[index]
        if hasattr(image, "detach"):
            image = image.detach().cpu().numpy()
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = np.moveaxis(image, 0, -1)
        ax.imshow(image.squeeze(), cmap="gray" if image.squeeze().ndim == 2 else None)
        if titles is not None:
            ax.set_title(titles[index], fontsize=8)
    plt.tight_layout()
    return axes
