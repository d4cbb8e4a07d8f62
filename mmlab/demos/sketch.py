"""Sketch demo: draw a digit (or a shape), see a CLIP's zero-shot probabilities over class names you type.

The pieces behind the app are plain functions, tested without a browser: :func:`sketch_to_image`
turns the Sketchpad's value (Gradio 6: a dict with ``background``, ``layers`` and ``composite``) into
the model's input, like a scikit-learn digit for a 1-channel 8 x 8 model: the ink is cropped, centred
in a square with a margin, shrunk, and scaled so the darkest stroke is 1.0 (the digits' 16 / 16).
:func:`classify_sketch` adds the class names and returns the probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from mmlab.demos.core import DemoInputError, friendly_error

__all__ = ["MAX_PIXELS", "build_sketch_demo", "classify_sketch", "parse_class_names", "sketch_to_image"]

MAX_PIXELS = 4096 * 4096  # bigger drawings or uploads are refused with a message
INK_THRESHOLD = 0.1  # a canvas whose darkest pixel is lighter than this counts as blank


def _to_pil(value: Any) -> Image.Image | None:
    if value is None:
        return None
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray):
        return Image.fromarray(value.astype(np.uint8))
    if isinstance(value, str):
        return Image.open(value)
    raise DemoInputError(f"Cannot read a drawing of type {type(value).__name__}.")


def _flatten(value: Any) -> Image.Image | None:
    """The drawing as one RGB image on white, from a Sketchpad dict or a plain image."""
    if isinstance(value, dict):
        image = _to_pil(value.get("composite"))
        if image is None:  # no composite: paint the layers over the background
            layers = [_to_pil(x) for x in value.get("layers") or []]
            base = _to_pil(value.get("background"))
            if base is None and not layers:
                return None
            size = (base or layers[0]).size
            image = Image.new("RGBA", size, "white")
            for layer in [base, *layers]:
                if layer is not None:
                    image.alpha_composite(layer.convert("RGBA").resize(size))
    else:
        image = _to_pil(value)
    if image is None:
        return None
    if image.width * image.height > MAX_PIXELS:
        raise DemoInputError(
            f"The image is {image.width} x {image.height} pixels; the demo takes at most "
            f"{MAX_PIXELS:,} pixels. Draw on the canvas or upload a smaller picture."
        )
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return image.convert("RGB")


def sketch_to_image(
    value: Any, image_size: int = 8, in_channels: int = 1, margin: float = 0.1
) -> torch.Tensor:
    """A drawing (dark ink on white) -> a model input ``(1, C, S, S)`` in [0, 1], bright ink on black.

    The ink's bounding box is cut out, centred in a square with ``margin`` of its side on each edge,
    resized to ``image_size`` and scaled so its largest value is 1. With 3 channels the ink keeps its
    colour (for the shapes models); with 1 channel it becomes grey levels (for the digits).
    Raises :class:`DemoInputError` for a blank canvas or a huge image.
    """
    image = _flatten(value)
    if image is None:
        raise DemoInputError("The canvas is blank: draw something first.")
    rgb = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3), white background
    ink = 1.0 - rgb.min(axis=2)  # 0 on white paper, near 1 where any colour was drawn
    if ink.max() < INK_THRESHOLD:
        raise DemoInputError("The canvas is blank: draw something first.")
    rows, cols = np.nonzero(ink >= INK_THRESHOLD)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    side = int(max(bottom - top, right - left) * (1 + 2 * margin)) + 1
    cy, cx = (top + bottom) // 2, (left + right) // 2
    # colour of the ink on black: the drawn colour where there is ink, black elsewhere
    source = ink[..., None] if in_channels == 1 else np.where(ink[..., None] >= INK_THRESHOLD, rgb, 0.0)
    canvas = np.zeros((side, side, source.shape[2]), dtype=np.float32)
    y0, x0 = cy - side // 2, cx - side // 2
    ys, xs = slice(max(y0, 0), min(y0 + side, ink.shape[0])), slice(max(x0, 0), min(x0 + side, ink.shape[1]))
    canvas[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = source[ys, xs]
    pixels = (canvas[..., 0] if in_channels == 1 else canvas) * 255
    mode_image = Image.fromarray(pixels.astype(np.uint8))
    small = (
        np.asarray(mode_image.resize((image_size, image_size), Image.Resampling.BOX), dtype=np.float32) / 255
    )
    small = small[..., None] if small.ndim == 2 else small
    tensor = torch.from_numpy(small).permute(2, 0, 1)[None]  # (1, C, S, S)
    return tensor / tensor.max().clamp_min(1e-6)


def parse_class_names(text: Any) -> list[str]:
    """Comma- or newline-separated names -> a list; a clear message when there are none."""
    if not isinstance(text, str) or not text.strip():
        raise DemoInputError("Type at least one class name (separate names with commas).")
    names = [n.strip() for n in text.replace("\n", ",").split(",") if n.strip()]
    if not names:
        raise DemoInputError("Type at least one class name (separate names with commas).")
    if len(set(names)) != len(names):
        raise DemoInputError("Each class name may appear only once.")
    return names


@torch.no_grad()
def classify_sketch(clip_model, value: Any, class_names: Any, template: str = "{}") -> dict[str, float]:
    """Zero-shot probabilities ``{class name: p}`` of a drawing."""
    names = parse_class_names(class_names)
    if "{}" not in template:
        raise DemoInputError(f"The prompt template {template!r} needs '{{}}' where the class name goes.")
    config = clip_model.config.image
    image = sketch_to_image(value, config.image_size, config.in_channels)
    try:
        probs = clip_model.zero_shot_classify(image, names, [template])[0]
    except ValueError as err:  # e.g. a class name longer than the text tower takes
        raise DemoInputError(str(err)) from None
    return {n: float(p) for n, p in zip(names, probs)}


def build_sketch_demo(clip_model, class_names: list[str] | None = None, template: str = "a handwritten {}"):
    """A Gradio app: a Sketchpad, editable class names and a template, and the zero-shot probabilities.

    Args:
        clip_model: a trained :class:`mmlab.models.clip.CLIP` (its image config says the input size).
        class_names: the names shown at the start (default: the ten digit words).
        template: how a class name becomes a sentence, e.g. ``"a handwritten {}"``.
    """
    import gradio as gr

    from mmlab.data.multimodal import DIGIT_WORDS

    if not hasattr(clip_model, "zero_shot_classify"):
        raise TypeError(f"build_sketch_demo needs a CLIP model, got {type(clip_model).__name__}")
    names = ", ".join(class_names or DIGIT_WORDS)

    def classify(drawing, names_text, template_text):
        try:
            return classify_sketch(clip_model, drawing, names_text, template_text or "{}"), ""
        except Exception as err:  # shown in the app, never a traceback
            return None, friendly_error(err)

    with gr.Blocks(title="Zero-shot sketch") as app:
        gr.Markdown(
            "## Draw, then see CLIP's zero-shot guess\nDraw one digit large in the middle of the canvas."
        )
        with gr.Row():
            pad = gr.Sketchpad(
                label="drawing", type="numpy", image_mode="RGBA", elem_id="sketch", height=360, width=360
            )
            with gr.Column():
                names_box = gr.Textbox(names, label="class names (comma-separated)", elem_id="names")
                template_box = gr.Textbox(template, label="prompt template", elem_id="template")
                button = gr.Button("Classify", elem_id="classify")
                label = gr.Label(num_top_classes=5, label="zero-shot probabilities", elem_id="probs")
                message = gr.Markdown(elem_id="message")
        button.click(classify, [pad, names_box, template_box], [label, message], api_name="classify")
    app.classify = classify  # the callback, for tests without a server
    return app
