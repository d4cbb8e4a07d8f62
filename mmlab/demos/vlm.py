"""Vision-language model demo (chapter 12): pick or upload a scene, ask a question, read the answer.

The mini-VLM (:class:`mmlab.models.vlm.MiniVLM`) answers in words it generates itself, and also
captions the picture, so the demo shows both. Bad input (no question, words the model never saw,
a file that is not an image, a huge image) becomes a message in the app, never a traceback.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from mmlab.demos.core import DemoInputError, friendly_error
from mmlab.demos.vqa import EXAMPLES, new_scene  # the same scenes and questions as the VQA demo

__all__ = ["EXAMPLES", "MAX_PIXELS", "ask_vlm", "build_vlm_demo", "load_picture", "new_scene"]

MAX_PIXELS = 4096 * 4096  # bigger uploads are refused with a message


def _check_size(image: Image.Image) -> None:
    if image.width * image.height > MAX_PIXELS:
        raise DemoInputError(
            f"the picture is {image.width} x {image.height} pixels; the demo takes at most "
            f"{MAX_PIXELS:,} pixels. Upload a smaller picture."
        )


def load_picture(scene: Any = None, upload: Any = None, size: int = 24) -> Image.Image:
    """The picture to ask about, as an RGB PIL image of ``size x size``.

    ``upload`` (a file path) wins over ``scene`` (a PIL image or an array). Raises
    :class:`DemoInputError` when there is no picture, the file is not an image, or it is huge.
    """
    if upload:
        path = upload if isinstance(upload, (str, os.PathLike)) else getattr(upload, "name", upload)
        try:
            with Image.open(path) as opened:  # opening reads the header only: check the size first
                _check_size(opened)
                image = opened.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as err:
            if isinstance(err, DemoInputError):
                raise
            name = os.path.basename(str(path))
            raise DemoInputError(
                f"'{name}' is not an image this demo can read: upload a PNG or JPEG."
            ) from err
    else:
        if scene is None:
            raise DemoInputError("no picture yet: press 'new scene' or upload a picture.")
        image = (
            scene if isinstance(scene, Image.Image) else Image.fromarray(np.asarray(scene).astype(np.uint8))
        )
        _check_size(image)
        image = image.convert("RGB")
    return image.resize((size, size), Image.Resampling.BILINEAR)


def ask_vlm(vlm, image: Image.Image, question: str) -> tuple[str, str]:
    """(answer, caption) of the model for one picture; DemoInputError for a bad question."""
    question = (question or "").strip()
    if not question:
        raise DemoInputError("type a question first, e.g. 'what colour is the triangle?'")
    unknown = vlm.tokenizer.unknown_words(question)
    if unknown:
        known = ", ".join(w for w in vlm.tokenizer.itos if not w.startswith("<"))
        raise DemoInputError(
            f"the model does not know the word(s) {', '.join(repr(w) for w in unknown)}. It knows: {known}."
        )
    room = vlm.config.gpt.block_size - vlm.config.n_prefix - 3  # the answer needs a few positions
    if len(vlm.tokenizer.question_prompt(question)) > room:
        raise DemoInputError(f"the question is too long: at most {room - 1} words.")
    return vlm.answer(image, question), vlm.caption(image)


def build_vlm_demo(vlm, image_size: int | None = None):
    """A Gradio app: a generated or uploaded scene, a question, the VLM's answer and caption.

    ``vlm`` is a :class:`mmlab.models.vlm.MiniVLM`. Returns the app, not launched; ``app.ask`` is the
    callback (for tests without a server).
    """
    import gradio as gr

    if not hasattr(vlm, "answer") or not hasattr(vlm, "tokenizer"):
        raise TypeError(f"build_vlm_demo needs a MiniVLM, got {type(vlm).__name__}")
    size = image_size or vlm.config.image.image_size

    def ask(scene, upload, question):
        try:
            image = load_picture(scene, upload, size)
            answer, caption = ask_vlm(vlm, image, question)
        except Exception as err:  # every failure becomes a message in the app, never a traceback
            return "", "", friendly_error(err)
        return answer, caption, ""

    def fresh(seed):
        return new_scene(seed).resize((size * 8, size * 8), Image.Resampling.NEAREST)

    with gr.Blocks(title="mmlab: a mini vision-language model") as app:
        gr.Markdown(
            "## Ask the mini-VLM about a scene\nPress **new scene** or upload a picture, then ask. "
            "Questions follow four patterns: " + "; ".join(f"*{q}*" for q in EXAMPLES)
        )
        with gr.Row():
            with gr.Column():
                scene = gr.Image(value=fresh(0), type="pil", image_mode="RGB", label="scene", elem_id="scene")
                seed = gr.Number(value=0, precision=0, label="scene seed")
                new = gr.Button("new scene", elem_id="new")
                upload = gr.File(label="or upload a picture (PNG/JPEG)", type="filepath")
            with gr.Column():
                question = gr.Dropdown(
                    EXAMPLES, value=EXAMPLES[0], allow_custom_value=True, label="question", elem_id="question"
                )
                go = gr.Button("answer", variant="primary", elem_id="ask")
                answer = gr.Textbox(label="answer", elem_id="answer")
                caption = gr.Textbox(label="caption", elem_id="caption")
                message = gr.Markdown(elem_id="message")
        new.click(fresh, inputs=seed, outputs=scene, api_name="new_scene")
        go.click(ask, inputs=[scene, upload, question], outputs=[answer, caption, message], api_name="ask")
    app.ask = ask
    return app
