"""The translation demo (chapter 13): type an English sentence, pick greedy decoding or a beam size,
see the French translation and the cross-attention map; a summary mode condenses a paragraph.

The pieces behind the app are plain functions, tested without a browser: :func:`prepare_input`
(checks and normalises the text, with a clear message for empty, too long, wrong-language and
unknown-word input), :func:`run_model` (decoding and the cross-attention map) and
:func:`render_cross_attention` (the map as an image).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import torch

from mmlab.data.translation import TranslationVocab
from mmlab.demos.core import (
    MAX_TEXT_CHARS,
    DemoInputError,
    check_number,
    check_text,
    friendly_error,
    localize_app,
    tr,
)
from mmlab.models.seq2seq import Seq2Seq

__all__ = ["Task", "build_translate_demo", "prepare_input", "render_cross_attention", "run_model"]

MAX_BEAMS = 8


@dataclass
class Task:
    """A model with its vocabulary and the words its input side knows (English, for both tasks)."""

    model: Seq2Seq
    vocab: TranslationVocab
    source_words: set[str]
    example: str
    keep_periods: bool = False


def prepare_input(text: Any, task: Task) -> str:
    """The text lower-cased, with periods split off (or dropped), checked word by word."""
    text = check_text(text, "sentence", example=task.example).lower().replace(",", " ")
    text = re.sub(r"\s*\.\s*", " . " if task.keep_periods else " ", text)
    words = text.split()
    limit = task.model.config.max_len
    if len(words) > limit:
        raise DemoInputError(f"The input has {len(words)} words; this model reads at most {limit}.")
    if not all(w.isascii() for w in words) and not any(w in task.source_words for w in words):
        raise DemoInputError("This is not English: the model reads English sentences and writes French.")
    unknown = [w for w in dict.fromkeys(words) if w not in task.source_words]
    if unknown:
        french = [w for w in words if w in task.vocab.stoi and w not in task.source_words]
        if len(french) * 2 >= len(words):
            raise DemoInputError(
                f"This looks like French ({', '.join(french[:5])}): the model translates English into "
                f"French, so type English, such as “{task.example}”."
            )
        raise DemoInputError(
            f"The model never saw these words: {', '.join(unknown[:8])}. Try a sentence like “{task.example}”."
        )
    return " ".join(words)


@torch.no_grad()
def run_model(task: Task, text: str, num_beams: int) -> tuple[str, list[str], list[str], torch.Tensor]:
    """Decode ``text`` (already checked); return the output, source and output words, and the last
    decoder layer's cross-attention ``(T_out, S)`` averaged over heads."""
    from mmlab.seq2seq_training import translate

    model, vocab = task.model, task.vocab
    output = translate(model, vocab, [text], num_beams=num_beams, max_new_tokens=model.config.max_len - 1)[0]
    src = vocab.pad_batch([text])
    tgt_in = torch.tensor([[vocab.bos_id, *vocab.encode(output)]])
    weights = model.cross_attention(src, tgt_in)[-1][0].mean(0)  # (T_out + 1, S)
    return output, text.split(), [*output.split(), "</s>"], weights


def render_cross_attention(source: list[str], output: list[str], weights: torch.Tensor):
    """A PIL image: one row per output word (the query that wrote it), one column per source word."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from PIL import Image

    figure = Figure(figsize=(max(3.0, 0.34 * len(source) + 1.6), max(2.4, 0.34 * len(output) + 1.2)), dpi=90)
    ax = figure.subplots()
    ax.imshow(weights.numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), source, rotation=90, fontsize=8)
    ax.set_yticks(range(len(output)), output, fontsize=8)
    ax.set_xlabel("source word (attended to)", fontsize=8)
    ax.set_ylabel("output word written", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def build_translate_demo(
    translator: Seq2Seq,
    vocab: TranslationVocab,
    source_words: set[str],
    summariser: tuple[Seq2Seq, TranslationVocab, set[str]] | None = None,
    example: str = "the small red ball is on the table",
    summary_example: str = "",
    title: str = "Encoder-decoder: translation and summaries",
):
    """A Gradio app around the chapter's translator (and summariser, if given); not launched.

    Args:
        translator, vocab: the English-French :class:`Seq2Seq` and its vocabulary.
        source_words: the English words it was trained on (others are refused with a message).
        summariser: ``(model, vocab, source_words)`` of the summariser, for the summary mode.
        example, summary_example: the text shown at start in each mode.
    """
    import gradio as gr

    if not isinstance(translator, Seq2Seq):
        raise TypeError(f"build_translate_demo needs an mmlab Seq2Seq model, got {type(translator).__name__}")
    tasks = {"translate": Task(translator.eval(), vocab, set(source_words), example)}
    if summariser is not None:
        model, summary_vocab, words = summariser
        tasks["summarise"] = Task(model.eval(), summary_vocab, set(words), summary_example or example, True)

    def run(text: Any, mode: Any, beams: Any):
        """Callback: (text, mode, beam size) -> (output text, image or None, message)."""
        try:
            if mode not in tasks:
                raise DemoInputError(f"Mode must be one of {', '.join(tasks)}, got {mode!r}.")
            task = tasks[mode]
            num_beams = check_number(beams, "Beam size", low=1, high=MAX_BEAMS, integer=True)
            words = prepare_input(text, task)
            output, source, written, weights = run_model(task, words, num_beams)
            image = render_cross_attention(source, written, weights)
        except Exception as err:  # shown in the app, never as a traceback
            return "", None, friendly_error(err)
        how = "greedy decoding" if num_beams == 1 else f"beam search with {num_beams} beams"
        return output, image, tr(f"{mode}: {len(source)} words in, {len(written) - 1} out, {how}.")

    with gr.Blocks(title=title) as app:
        gr.Markdown(f"### {title}\nThe map: the last decoder layer's cross-attention, a row per output word.")
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(
                    label="input", value=example, lines=2, elem_id="text", max_length=MAX_TEXT_CHARS
                )
                with gr.Row():
                    mode = gr.Dropdown(list(tasks), value="translate", label="mode", elem_id="mode")
                    beams = gr.Number(
                        label=f"beam size (1 to {MAX_BEAMS})", value=1, precision=0, elem_id="beams"
                    )
                button = gr.Button("Run", variant="primary", elem_id="run")
                message = gr.Markdown(elem_id="message")
                output = gr.Textbox(label="output", lines=1, max_lines=2, elem_id="output")
            with gr.Column(scale=2):  # beside the inputs: everything fits a notebook's frame
                image = gr.Image(label="cross-attention", type="pil", format="png", elem_id="map", height=380)
        button.click(run, [text, mode, beams], [output, image, message], api_name="run")
        text.submit(run, [text, mode, beams], [output, image, message], api_visibility="private")
    app.run = run  # the callback, for plain unit tests
    return localize_app(app)
