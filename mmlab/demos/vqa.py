"""Visual question answering demo (chapter 10): a scene, a question, the answer and where the model looked.

The scene comes from the generator ("new scene"), from an upload, or is drawn in the editor. The
answer is the fusion model's most likely answers; with a cross-attention model the picture on the
right shades each image region by how much the question attended to it. A file reaches the model
only through the upload box or the editor (:func:`mmlab.demos.core.harden` refuses a request that
names a path on the server), and a bad seed, question or picture gets a message, never a traceback.
In the Chinese edition a Chinese question of the four patterns is asked as its English question (the
models were trained on English) and the answers are shown in Chinese, with a note naming the question
asked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from mmlab.data.multimodal import ANSWERS, QuestionVocab, SceneConfig, draw_scene, random_scene
from mmlab.data.multimodal.vqa import question_text
from mmlab.data.multimodal.vqa_zh import EXAMPLES_ZH, answer_zh, parse_question_zh
from mmlab.demos.core import (
    DemoInputError,
    check_number,
    check_text,
    friendly_error,
    localize_app,
    open_picture,
    picture_from_value,
    tr,
)
from mmlab.i18n import get_language

__all__ = [
    "answer_question",
    "attention_overlay",
    "build_vqa_demo",
    "english_question",
    "load_scene",
    "new_scene",
    "scene_seed",
]

MAX_SEED = 2**31 - 1
MAX_QUESTION_CHARS = 200  # the models read at most a dozen words

EXAMPLES = [
    "what colour is the triangle?",
    "what shape is the red one?",
    "how many circles are there?",
    "is the red shape left of the square?",
]
PATTERNS = "; ".join(f"*{q}*" for q in EXAMPLES)  # the questions the models understand, for the help text
PATTERNS_ZH = "；".join(f"*{q}*" for q in EXAMPLES_ZH)


def scene_seed(value: Any) -> int:
    """A scene seed typed in the app (empty means 0), or a :class:`DemoInputError`."""
    return (
        0
        if value is None or value == ""
        else check_number(value, "The scene seed", low=0, high=MAX_SEED, integer=True)
    )


def new_scene(seed: Any = 0, config: SceneConfig | None = None) -> Image.Image:
    """A generated scene (2-3 shapes) for a seed (a whole number from 0 to 2**31 - 1)."""
    config = config or SceneConfig(min_shapes=2)
    rng = np.random.default_rng(scene_seed(seed))
    return draw_scene(random_scene(rng, config), config, rng)


def load_scene(drawn: Any = None, upload: Any = None, size: int = 24) -> Image.Image:
    """The picture to answer about, as an RGB PIL image of ``size x size``.

    ``upload`` (a file path, from the upload box) wins over ``drawn`` (an image editor value: a dict
    with a ``composite``, a PIL image or an array). Raises :class:`DemoInputError` with a readable
    message when there is no picture or the upload is not an image.
    """
    if upload:
        image = open_picture(upload)
    else:
        if isinstance(drawn, dict):
            composite = drawn.get("composite")
            drawn = composite if composite is not None else drawn.get("background")
        image = picture_from_value(drawn)
        if image is None:
            raise DemoInputError("no picture yet: press 'new scene', upload an image or draw one.")
        if image.mode == "RGBA":  # drawn strokes on a transparent canvas: put them on black
            background = Image.new("RGB", image.size, (0, 0, 0))
            background.paste(image, mask=image.split()[-1])
            image = background
        image = image.convert("RGB")
    return image.resize((size, size), Image.Resampling.BILINEAR)


def english_question(question: Any) -> str | None:
    """In the Chinese edition, a Chinese question as the English question of its pattern, which the
    models were trained on (``"有几个圆形？"`` -> ``"how many circles are there?"``); None for any other
    input (English is read as it is). A Chinese question of no pattern is a :class:`DemoInputError`."""
    if get_language() != "zh" or not isinstance(question, str) or question.isascii():
        return None
    if len(question) > MAX_QUESTION_CHARS:
        return None  # too long: the question check says so
    try:
        return question_text(*parse_question_zh(question))
    except ValueError:
        raise DemoInputError(
            f"the model was trained on four question patterns only (its training vocabulary), e.g. '{EXAMPLES_ZH[0]}', "
            f"'{EXAMPLES_ZH[1]}', '{EXAMPLES_ZH[2]}' or '{EXAMPLES_ZH[3]}'."
        ) from None


def attention_overlay(image: Image.Image, weights: torch.Tensor, scale: int = 10) -> Image.Image:
    """Shade ``image`` by region weights (P,) on a sqrt(P) x sqrt(P) grid: bright = attended."""
    grid = int(round(weights.numel() ** 0.5))
    heat = weights.reshape(grid, grid).float()
    heat = (heat / heat.max().clamp_min(1e-8)).numpy()
    side = image.size[0] * scale
    big = np.asarray(image.resize((side, side), Image.Resampling.NEAREST), dtype=np.float32)
    mask = np.kron(heat, np.ones((side // grid, side // grid)))
    mask = np.pad(mask, ((0, side - mask.shape[0]), (0, side - mask.shape[1])), mode="edge")
    shaded = big * (0.25 + 0.75 * mask[..., None])
    return Image.fromarray(shaded.clip(0, 255).astype(np.uint8))


def answer_question(
    model: torch.nn.Module,
    image: Image.Image,
    question: str,
    vocab: QuestionVocab | None = None,
    top: int = 3,
) -> tuple[dict[str, float], Image.Image | None]:
    """The ``top`` answers with probabilities, and the attention overlay (None without cross-attention).

    Raises :class:`DemoInputError` for an empty question or one with words the model never saw.
    """
    vocab = vocab or QuestionVocab()
    question = check_text(
        question, "question", limit=MAX_QUESTION_CHARS, example="what colour is the triangle?"
    )
    top = check_number(top, "The number of answers", low=1, high=len(ANSWERS), integer=True)
    unknown = vocab.unknown_words(question)
    if unknown:
        raise DemoInputError(
            f"the model does not know the word(s) {', '.join(repr(w) for w in unknown[:8])}. "
            f"It knows: {', '.join(vocab.itos[2:])}."
        )
    if len(vocab.words(question)) > vocab.max_len:
        raise DemoInputError(f"the question is too long: at most {vocab.max_len} words.")
    ids = torch.tensor([vocab.encode(question)])
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    device = next(model.parameters()).device
    ids, pixels = ids.to(device), pixels.to(device)
    mask = ids != QuestionVocab.PAD
    model.eval()
    with torch.no_grad():
        probs = model(pixels, ids, mask).softmax(-1)[0].cpu()
    best = probs.topk(top)
    answers = {ANSWERS[int(i)]: float(p) for p, i in zip(best.values, best.indices)}
    overlay = None
    if hasattr(model, "cross_attention_maps") and getattr(model, "mode", None) == "cross_attention":
        maps = model.cross_attention_maps(pixels, ids, mask)[0].cpu()  # (T, P)
        overlay = attention_overlay(image, maps[mask[0].cpu()].mean(0))
    return answers, overlay


def build_vqa_demo(model: torch.nn.Module, vocab: QuestionVocab | None = None, image_size: int = 24):
    """A Gradio app: pick, upload or draw a scene, ask a question, see the answer and the attention.

    ``model`` is a fusion model from :mod:`mmlab.models.fusion` taking pixels (B, 3, H, W); a
    cross-attention model also shows where the question looked. Returns the app, not launched.
    """
    import gradio as gr

    vocab = vocab or QuestionVocab()
    chinese = get_language() == "zh"  # the Chinese edition asks in Chinese
    examples, patterns = (EXAMPLES_ZH, PATTERNS_ZH) if chinese else (EXAMPLES, PATTERNS)

    def ask(drawn, upload, question):
        try:
            image = load_scene(drawn, upload, image_size)
            english = english_question(question)
            answers, overlay = answer_question(model, image, english or question, vocab)
        except Exception as err:  # every failure becomes a message in the app, never a traceback
            return friendly_error(err), {}, None
        best = max(answers, key=answers.get)
        if english is None:
            return f"**{best}** ({answers[best]:.0%})", answers, overlay
        answers = {answer_zh(answer): p for answer, p in answers.items()}
        note = tr(f"The model was trained on English questions: it was asked '{english}'.")
        return f"**{answer_zh(best)}** ({max(answers.values()):.0%})\n\n{note}", answers, overlay

    def fresh(seed):
        try:
            return new_scene(seed).resize((image_size * 8, image_size * 8), Image.Resampling.NEAREST)
        except DemoInputError as err:
            raise gr.Error(str(err), print_exception=False) from None

    with gr.Blocks(title="mmlab: visual question answering") as app:
        gr.Markdown(
            "## Ask a question about a scene\nPress **new scene**, upload a picture, or draw shapes in "
            f"red, green and blue on the black canvas. Questions follow four patterns: {patterns}"
        )
        with gr.Row():
            with gr.Column():
                drawn = gr.ImageEditor(
                    value=fresh(0),
                    type="pil",
                    image_mode="RGB",
                    label="scene",
                    brush=gr.Brush(colors=["#dc3232", "#28b43c", "#3c64f0"], default_size=12),
                    height=300,
                )
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, minimum=0, label="scene seed")
                    new = gr.Button("new scene")
                upload = gr.File(label="or upload a picture (PNG/JPEG)", type="filepath", height=90)
            with gr.Column():
                question = gr.Dropdown(
                    examples, value=examples[0], allow_custom_value=True, label="question", elem_id="question"
                )
                go = gr.Button("answer", variant="primary", elem_id="ask")
                message = gr.Markdown(elem_id="message")
                probs = gr.Label(label="answers", num_top_classes=3, elem_id="answers")
                attention = gr.Image(label="where the question looked", type="pil", height=240)
        new.click(fresh, inputs=seed, outputs=drawn, api_name="new_scene")
        go.click(ask, inputs=[drawn, upload, question], outputs=[message, probs, attention], api_name="ask")
    app.ask = ask  # the callback, for tests without a server
    return localize_app(app)
