"""Sketch demo: draw a digit or a shape, see a CLIP's zero-shot probabilities over class names you type.

The app adapts to the model's image tower (or offers one tab per model, as chapter 11's does). A 1-channel model (chapter 11's digits CLIP) gets a black
brush and the ten digit words; a 3-channel model (the shapes CLIP) gets a thick brush in the data
set's red, green and blue, and the nine "colour kind" names with the template "a large {}".

The pieces behind the app are plain functions, tested without a browser: :func:`sketch_to_image`
turns the Sketchpad's value (Gradio 6: a dict with ``background``, ``layers`` and ``composite``) into
the model's input: the ink is cropped, centred in a square with a margin, shrunk, and scaled so the
brightest ink is 1.0. For a 1-channel 8 x 8 model that looks like a scikit-learn digit (grey levels,
the darkest stroke 16 / 16); for a 3-channel model the ink keeps its colour on black, with a wider
margin so the shape covers about the share of the picture a training shape does.
:func:`classify_sketch` adds the class names and returns the probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from mmlab.demos.core import (
    MAX_PIXELS,
    DemoInputError,
    check_text,
    friendly_error,
    localize_app,
    open_picture,
    picture_from_value,
)

__all__ = [
    "MAX_PIXELS",
    "build_sketch_demo",
    "classify_sketch",
    "parse_class_names",
    "parse_template",
    "sketch_defaults",
    "sketch_to_image",
]

MAX_NAMES, MAX_NAME_CHARS, MAX_TEMPLATE_CHARS = 50, 60, 120  # the text tower reads a few words
INK_THRESHOLD = 0.1  # a canvas whose darkest pixel is lighter than this counts as blank
DIGIT_MARGIN = 0.1  # scikit-learn's digits nearly fill their 8 x 8 square
# Training shapes are 7 (small) or 11 (large) pixels of a 16-pixel picture. With a margin of 0.35 of
# the ink's side on each edge a drawing spans 1 / 1.7 of the picture (9.4 of 16 pixels): of the margins
# 0.1-0.5 we measured on user-like drawings (tests/test_demo_sketch.py, chapter 11's shapes CLIP trained
# with 5 seeds), this one read the most of them right.
SHAPE_MARGIN = 0.35
MIN_CHROMA = 0.2  # a colour model needs coloured ink: mean (max - min channel) of the ink pixels
SHAPE_TEMPLATE = "a large {}"  # the user's drawing is scaled to a large shape's size


def _to_pil(value: Any) -> Image.Image | None:
    if isinstance(value, str):  # a file from the upload folder (the app checks requests' paths)
        return open_picture(value)
    return picture_from_value(value)


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
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return image.convert("RGB")


def sketch_to_image(
    value: Any, image_size: int = 8, in_channels: int = 1, margin: float = DIGIT_MARGIN
) -> torch.Tensor:
    """A drawing (dark ink on white) -> a model input ``(1, C, S, S)`` in [0, 1], bright ink on black.

    The ink's bounding box is cut out, centred in a square with ``margin`` of its side on each edge,
    resized to ``image_size`` and scaled so its largest value is 1. With 3 channels the ink keeps its
    colour (for the shapes models); with 1 channel it becomes grey levels (for the digits).
    Raises :class:`DemoInputError` for a blank canvas, a huge image, or (with 3 channels) black or grey
    ink, which on the model's black background would be invisible or colourless.
    """
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 (grey) or 3 (colour), got {in_channels}")
    image = _flatten(value)
    if image is None:
        raise DemoInputError("The canvas is blank: draw something first.")
    rgb = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3), white background
    ink = 1.0 - rgb.min(axis=2)  # 0 on white paper, near 1 where any colour was drawn
    if ink.max() < INK_THRESHOLD:
        raise DemoInputError("The canvas is blank: draw something first.")
    rows, cols = np.nonzero(ink >= INK_THRESHOLD)
    if in_channels == 3:
        chroma = rgb[rows, cols].max(axis=1) - rgb[rows, cols].min(axis=1)  # 0 for black and grey ink
        if chroma.mean() < MIN_CHROMA:
            raise DemoInputError(
                "This model sees colour, and black or grey ink looks like its black background. "
                "Draw in colour: pick red, green or blue from the brush's colours."
            )
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
    """Comma- or newline-separated names -> a list; a clear message when there are none, too many,
    or one is too long."""
    if not isinstance(text, str) or not text.strip():
        raise DemoInputError("Type at least one class name (separate names with commas).")
    check_text(text, "list of class names", limit=MAX_NAMES * (MAX_NAME_CHARS + 2))
    names = [" ".join(n.split()) for n in text.replace("\n", ",").split(",") if n.strip()]
    if not names:
        raise DemoInputError("Type at least one class name (separate names with commas).")
    if len(names) > MAX_NAMES:
        raise DemoInputError(f"Type at most {MAX_NAMES} class names, got {len(names)}.")
    if any(len(n) > MAX_NAME_CHARS for n in names):
        raise DemoInputError(f"A class name may be at most {MAX_NAME_CHARS} characters long.")
    if len(set(names)) != len(names):
        raise DemoInputError("Each class name may appear only once.")
    return names


def parse_template(template: Any) -> str:
    """A prompt template with exactly one ``{}`` and no other braces (so a template is never a
    format specification that could ask for gigabytes, like ``{0:>100000000}``)."""
    template = check_text(template, "prompt template", limit=MAX_TEMPLATE_CHARS, example="a handwritten {}")
    if template.count("{}") != 1 or "{" in template.replace("{}", "") or "}" in template.replace("{}", ""):
        raise DemoInputError(
            f"The prompt template {template!r} needs exactly one '{{}}' where the class name goes, "
            "and no other braces."
        )
    return template


def sketch_defaults(clip_model) -> tuple[list[str], str]:
    """The class names and template the app starts with, by the model's input channels:
    the ten digit words and ``"a handwritten {}"`` for grey, or the nine ``"colour kind"`` names
    (``"red circle"``, ...) and ``"a large {}"`` for colour."""
    from mmlab.data.multimodal import COLOURS, DIGIT_WORDS, KINDS

    if clip_model.config.image.in_channels == 1:
        return list(DIGIT_WORDS), "a handwritten {}"
    return [f"{c} {k}" for c in COLOURS for k in KINDS], SHAPE_TEMPLATE


@torch.no_grad()
def classify_sketch(clip_model, value: Any, class_names: Any, template: str = "{}") -> dict[str, float]:
    """Zero-shot probabilities ``{class name: p}`` of a drawing.

    The drawing is prepared for the model's image tower: grey 8 x 8 digits-like for a 1-channel model,
    coloured and scaled to about a training shape's size (:data:`SHAPE_MARGIN`) for a 3-channel one.
    """
    names = parse_class_names(class_names)
    template = parse_template(template)
    config = clip_model.config.image
    margin = DIGIT_MARGIN if config.in_channels == 1 else SHAPE_MARGIN
    image = sketch_to_image(value, config.image_size, config.in_channels, margin)
    try:
        probs = clip_model.zero_shot_classify(image, names, [template])[0]
    except ValueError as err:  # e.g. a class name longer than the text tower takes
        raise DemoInputError(str(err)) from None
    return {n: float(p) for n, p in zip(names, probs)}


def _sketch_panel(clip_model, class_names: list[str] | None, template: str | None, suffix: str = ""):
    """The controls of one model (inside the current Blocks or Tab): a Sketchpad, editable class names
    and template, a Classify button and the probabilities. Element ids and the endpoint's api name end
    in ``suffix``. Returns the callback."""
    import gradio as gr

    from mmlab.data.multimodal import COLOURS, RGB

    if not hasattr(clip_model, "zero_shot_classify"):
        raise TypeError(f"build_sketch_demo needs a CLIP model, got {type(clip_model).__name__}")
    default_names, default_template = sketch_defaults(clip_model)
    names = ", ".join(class_names or default_names)
    template = template or default_template
    colour = clip_model.config.image.in_channels == 3
    if colour:  # the data set's own colours, so a drawing looks like the training pictures
        palette = ["#{:02x}{:02x}{:02x}".format(*RGB[c]) for c in COLOURS]
        # a thick brush (the Sketchpad's canvas is 800 px): a shape is coloured in with a few strokes
        brush = gr.Brush(colors=palette, default_color=palette[0], color_mode="fixed", default_size=60)
        how = (
            f"Draw **one filled shape** (a circle, a square or a triangle) in {', '.join(COLOURS[:-1])} "
            f"or {COLOURS[-1]} (the brush's colours), large in the middle of the canvas, and colour it "
            "in completely: the model learned solid shapes, not outlines."
        )
    else:
        brush = gr.Brush(colors=["#000000"], color_mode="fixed")
        how = "Draw one digit large in the middle of the canvas."

    def classify(drawing, names_text, template_text):
        try:
            return classify_sketch(clip_model, drawing, names_text, template_text or "{}"), ""
        except Exception as err:  # shown in the app, never a traceback
            return None, friendly_error(err)

    gr.Markdown(how)
    with gr.Row():
        pad = gr.Sketchpad(
            label="drawing",
            type="numpy",
            image_mode="RGBA",
            elem_id=f"sketch{suffix}",
            height=360,
            width=360,
            brush=brush,
        )
        with gr.Column():
            names_box = gr.Textbox(
                names,
                label="class names (comma-separated)",
                elem_id=f"names{suffix}",
                max_length=MAX_NAMES * (MAX_NAME_CHARS + 2),
            )
            template_box = gr.Textbox(
                template, label="prompt template", elem_id=f"template{suffix}", max_length=MAX_TEMPLATE_CHARS
            )
            button = gr.Button("Classify", elem_id=f"classify{suffix}")
            label = gr.Label(num_top_classes=5, label="zero-shot probabilities", elem_id=f"probs{suffix}")
            message = gr.Markdown(elem_id=f"message{suffix}")
    button.click(classify, [pad, names_box, template_box], [label, message], api_name=f"classify{suffix}")
    return classify


def build_sketch_demo(clip_model, class_names: list[str] | None = None, template: str | None = None):
    """A Gradio app: a Sketchpad, editable class names and a template, and the zero-shot probabilities.

    Args:
        clip_model: a trained :class:`mmlab.models.clip.CLIP` (its image config says the input size
            and whether it sees grey digits or coloured shapes), or a dict ``{tab name: CLIP}`` for one
            app with a tab per model (chapter 11: ``{"digits": ..., "shapes": ...}``; each tab starts
            with its model's defaults, and the tabs after the first have element ids and an endpoint
            ending in ``_<tab name>``, e.g. ``/classify_shapes``).
        class_names: the names shown at the start (default: :func:`sketch_defaults`, the ten digit
            words for a 1-channel model, the nine "colour kind" names for a 3-channel one).
        template: how a class name becomes a sentence (default: ``"a handwritten {}"`` for a
            1-channel model, ``"a large {}"`` for a 3-channel one).
    """
    import gradio as gr

    tabs = clip_model if isinstance(clip_model, dict) else None
    if tabs is not None:
        if not tabs or not all(isinstance(k, str) and k.isidentifier() for k in tabs):
            raise ValueError(f"tab names must be identifiers (e.g. 'digits'), got {list(tabs)}")
        if class_names is not None or template is not None:
            raise ValueError(
                "with one tab per model, each tab starts with its model's own names and template"
            )
    with gr.Blocks(title="Zero-shot sketch") as app:
        if tabs is None:  # (with tabs, the tab names head the app: room for the probabilities)
            gr.Markdown("## Draw, then see CLIP's zero-shot guess")
            callbacks = [_sketch_panel(clip_model, class_names, template)]
        else:
            callbacks = []
            with gr.Tabs():
                for i, (name, model) in enumerate(tabs.items()):
                    with gr.Tab(name, elem_id=f"tab_{name}"):
                        callbacks.append(_sketch_panel(model, None, None, "" if i == 0 else f"_{name}"))
    app.classify = callbacks[0]  # the (first tab's) callback, for tests without a server
    return localize_app(app)
