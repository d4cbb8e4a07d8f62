"""Vision-language model demo (chapter 12): pick or upload a scene, ask a question, read the answer.

The mini-VLM (:class:`mmlab.models.vlm.MiniVLM`) answers in words it generates itself, and also
captions the picture, so the demo shows both. The generated scene lives on the server: the app keeps
its seed in a ``gr.State`` and redraws it, so no request can hand the model a file by its path; a
learner's own picture comes only through the upload box. Bad input (no question, words the model
never saw, a seed out of range, a file that is not an image, a huge image) becomes a message in the
app, never a traceback.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from mmlab.data.multimodal.vqa_zh import EXAMPLES_ZH, answer_zh, caption_zh
from mmlab.demos.core import (
    MAX_PIXELS,
    DemoInputError,
    check_text,
    friendly_error,
    localize_app,
    open_picture,
    picture_from_value,
    tr,
)
from mmlab.demos.vqa import (
    EXAMPLES,
    MAX_QUESTION_CHARS,
    PATTERNS,
    PATTERNS_ZH,
    english_question,
    new_scene,
    scene_seed,
)
from mmlab.i18n import get_language

__all__ = [
    "EXAMPLES",
    "MAX_PIXELS",
    "ask_vlm",
    "build_vlm_demo",
    "english_question",
    "load_picture",
    "new_scene",
]


def load_picture(scene: Any = None, upload: Any = None, size: int = 24) -> Image.Image:
    """The picture to ask about, as an RGB PIL image of ``size x size``.

    ``upload`` (a file path from the upload box) wins over ``scene`` (a PIL image or an array).
    Raises :class:`DemoInputError` when there is no picture, the file is not an image, or it is huge.
    """
    if upload:
        image = open_picture(upload)
    else:
        image = picture_from_value(scene)
        if image is None:
            raise DemoInputError("no picture yet: press 'new scene' or upload a picture.")
        image = image.convert("RGB")
    return image.resize((size, size), Image.Resampling.BILINEAR)


def ask_vlm(vlm, image: Image.Image, question: Any) -> tuple[str, str]:
    """(answer, caption) of the model for one picture; DemoInputError for a bad question."""
    question = check_text(
        question, "question", limit=MAX_QUESTION_CHARS, example="what colour is the triangle?"
    ).lower()
    foreign = list(dict.fromkeys(c for c in question if not c.isascii()))  # Chinese, say: dropped by split()
    if foreign:
        raise DemoInputError(
            f"the model reads only the English words of its training vocabulary, not {''.join(foreign[:8])}. "
            f"Try '{EXAMPLES[0]}'."
        )
    unknown = vlm.tokenizer.unknown_words(question)
    if unknown:
        known = ", ".join(w for w in vlm.tokenizer.itos if not w.startswith("<"))
        raise DemoInputError(
            f"the model does not know the word(s) {', '.join(repr(w) for w in unknown[:8])}. It knows: {known}."
        )
    room = vlm.config.gpt.block_size - vlm.config.n_prefix - 3  # the answer needs a few positions
    if len(vlm.tokenizer.question_prompt(question)) > room:
        raise DemoInputError(f"the question is too long: at most {room - 1} words.")
    return vlm.answer(image, question), vlm.caption(image)


def build_vlm_demo(vlm, image_size: int | None = None):
    """A Gradio app: a generated or uploaded scene, a question, the VLM's answer and caption.

    ``vlm`` is a :class:`mmlab.models.vlm.MiniVLM`. Returns the app, not launched; ``app.ask`` is the
    callback ``(scene seed or picture, upload path, question) -> (answer, caption, message)``, for
    tests without a server.
    """
    import gradio as gr

    if not hasattr(vlm, "answer") or not hasattr(vlm, "tokenizer"):
        raise TypeError(f"build_vlm_demo needs a MiniVLM, got {type(vlm).__name__}")
    size = image_size or vlm.config.image.image_size

    def ask(scene, upload, question):
        try:
            if not upload and not isinstance(scene, (Image.Image, np.ndarray, type(None))):
                scene = new_scene(scene_seed(scene))  # the app's state holds the seed, not the picture
            image = load_picture(scene, upload, size)
            english = english_question(question)
            answer, caption = ask_vlm(vlm, image, english or question)
        except Exception as err:  # every failure becomes a message in the app, never a traceback
            return "", "", friendly_error(err)
        if english is None:
            return answer, caption, ""
        note = tr(f"The model was trained on English questions: it was asked '{english}'.")
        return answer_zh(answer), caption_zh(caption), note

    def fresh(seed):
        try:
            number = scene_seed(seed)
        except DemoInputError as err:
            raise gr.Error(str(err), print_exception=False) from None
        return new_scene(number).resize((size * 8, size * 8), Image.Resampling.NEAREST), number

    chinese = get_language() == "zh"  # the Chinese edition asks in Chinese
    examples, patterns = (EXAMPLES_ZH, PATTERNS_ZH) if chinese else (EXAMPLES, PATTERNS)
    with gr.Blocks(title="mmlab: a mini vision-language model") as app:
        gr.Markdown(
            "## Ask the mini-VLM about a scene\nPress **new scene** or upload a picture, then ask. "
            f"Questions follow four patterns: {patterns}"
        )
        with gr.Row():
            with gr.Column():
                picture, _ = fresh(0)
                scene = gr.Image(
                    value=picture, type="pil", label="scene", elem_id="scene", interactive=False, height=200
                )
                shown_seed = gr.State(0)  # the scene is redrawn from its seed: requests carry no picture
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, minimum=0, label="scene seed", elem_id="seed")
                    new = gr.Button("new scene", elem_id="new")
                upload = gr.File(label="or upload a picture (PNG/JPEG)", type="filepath", height=90)
            with gr.Column():
                question = gr.Dropdown(
                    examples, value=examples[0], allow_custom_value=True, label="question", elem_id="question"
                )
                go = gr.Button("answer", variant="primary", elem_id="ask")
                answer = gr.Textbox(label="answer", elem_id="answer", max_lines=1)
                caption = gr.Textbox(label="caption", elem_id="caption", lines=2, max_lines=2)
                message = gr.Markdown(elem_id="message")
        new.click(fresh, inputs=seed, outputs=[scene, shown_seed], api_name="new_scene")
        go.click(
            ask, inputs=[shown_seed, upload, question], outputs=[answer, caption, message], api_name="ask"
        )
    app.ask = ask
    return localize_app(app)
