"""Attention-map demo: type text, see every head's attention, pick the layer and the head.

Works with any model built from :class:`mmlab.models.attention.MultiHeadAttention` (the chapter 03
encoder, the mini-BERT, the mini-GPT) and any tokenizer with ``encode(text) -> list[int]``.
The pieces behind the app are plain functions, tested without a browser:
:func:`attention_maps` (text -> tokens and maps) and :func:`render_attention` (maps -> image).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from mmlab.demos.core import MAX_TEXT_CHARS, DemoInputError, check_number, friendly_error, localize_app, tr
from mmlab.models.attention import MultiHeadAttention, record_attention

__all__ = ["Tokenizer", "attention_maps", "build_attention_demo", "render_attention", "token_labels"]

ALL_HEADS = "all"


@runtime_checkable
class Tokenizer(Protocol):
    """What a demo needs from a tokenizer: ``encode(text)`` returning token ids.

    Optional: ``tokenize(text) -> list[str]`` (labels for the axes; else ``convert_ids_to_tokens``
    or ``decode`` of each id is used).
    """

    def encode(self, text: str) -> Sequence[int]: ...


def token_labels(tokenizer: Tokenizer, text: str, ids: Sequence[int]) -> list[str]:
    """A readable label per id, from the richest method the tokenizer offers."""
    if hasattr(tokenizer, "convert_ids_to_tokens"):  # transformers tokenizers (special tokens included)
        return [str(t) for t in tokenizer.convert_ids_to_tokens(list(ids))]
    if hasattr(tokenizer, "tokenize"):
        tokens = list(tokenizer.tokenize(text))
        if len(tokens) == len(ids):
            return [str(t) for t in tokens]
    if hasattr(tokenizer, "decode"):
        return [str(tokenizer.decode([i])) for i in ids]
    return [str(i) for i in ids]


def attention_layers(model: nn.Module) -> list[MultiHeadAttention]:
    """The model's attention layers in the order they run."""
    layers = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    if not layers:
        raise TypeError(f"{type(model).__name__} has no MultiHeadAttention layer to show")
    return layers


def model_max_len(model: nn.Module) -> int | None:
    """The longest input the model takes, from ``model.max_len`` or its config, if it says."""
    if isinstance(getattr(model, "max_len", None), int):
        return model.max_len
    config = getattr(model, "config", None)
    for holder in (config, getattr(config, "transformer", None)):
        if isinstance(getattr(holder, "max_len", None), int):
            return holder.max_len
    return None


@torch.no_grad()
def attention_maps(
    model: nn.Module,
    tokenizer: Tokenizer,
    text: Any,
    max_len: int | None = None,
    run: Callable[[nn.Module, torch.Tensor], Any] | None = None,
) -> tuple[list[str], list[torch.Tensor], Any]:
    """Run ``model`` on ``text``; return token labels, one ``(nh, T, T)`` map per attention layer,
    and the model's output.

    Raises :class:`DemoInputError` with a message for the user on empty, non-text, untokenizable
    or too long input.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        raise DemoInputError("Type some text first: the input is empty.")
    if not isinstance(text, str):
        raise DemoInputError("The input must be text.")
    if len(text) > MAX_TEXT_CHARS:
        raise DemoInputError(f"The text is {len(text):,} characters long; type at most {MAX_TEXT_CHARS:,}.")
    text = text.strip()
    try:
        ids = list(tokenizer.encode(text))
    except (ValueError, KeyError) as err:
        raise DemoInputError(f"The tokenizer cannot read this text: {err}") from None
    if not ids:
        raise DemoInputError("The tokenizer produced no tokens for this text.")
    limit = max_len if max_len is not None else model_max_len(model)
    if limit is not None and len(ids) > limit:
        raise DemoInputError(
            f"The text is {len(ids)} tokens long; this model takes at most {limit}. Type something shorter."
        )
    device = next(model.parameters()).device
    batch = torch.tensor([ids], device=device)  # (1, T)
    was_training = model.training
    model.eval()
    try:
        with record_attention(model) as maps:
            output = run(model, batch) if run is not None else model(batch)
    finally:
        model.train(was_training)
    return token_labels(tokenizer, text, ids), [m[0].float().cpu() for m in maps], output


def render_attention(
    tokens: Sequence[str], maps: Sequence[torch.Tensor], layer: int, head: int | str = ALL_HEADS
):
    """A PIL image of one head's map (rows: queries, columns: keys), or all heads of ``layer``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from PIL import Image

    layer = check_number(layer, "The layer", low=0, high=len(maps) - 1, integer=True)
    weights = maps[layer]  # (nh, T, T)
    n_heads = weights.size(0)
    if head == ALL_HEADS:
        heads = list(range(n_heads))
    else:
        heads = [
            check_number(head, f"The head ('{ALL_HEADS}' or a number)", low=0, high=n_heads - 1, integer=True)
        ]
    T = len(tokens)
    side = max(2.6, 0.32 * T + 1.4)
    figure = Figure(figsize=(side * len(heads), side), dpi=90)
    axes = figure.subplots(1, len(heads), squeeze=False)[0]
    for ax, h in zip(axes, heads):
        ax.imshow(weights[h].numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(T), tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(T), tokens, fontsize=8)
        ax.set_title(f"layer {layer}, head {h}", fontsize=9)
        ax.set_xlabel("key (attended to)", fontsize=8)
    axes[0].set_ylabel("query (attending)", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def build_attention_demo(
    model: nn.Module,
    tokenizer: Tokenizer,
    *,
    max_len: int | None = None,
    run: Callable[[nn.Module, torch.Tensor], Any] | None = None,
    describe_output: Callable[[Any], str] | None = None,
    title: str = "Attention maps",
    example: str | None = None,
):
    """A Gradio Blocks app: type text, see each head's attention map, pick layer and head.

    Args:
        model: a module containing :class:`MultiHeadAttention` layers; called as ``model(ids)`` with
            ``ids`` of shape ``(1, T)`` unless ``run(model, ids)`` is given.
        tokenizer: anything with ``encode(text) -> ids`` (see :class:`Tokenizer`).
        max_len: longest input in tokens (default: the model's ``max_len``, if it has one).
        describe_output: turns the model's output into a line of text shown under the map
            (e.g. the predicted label).
        title: heading of the app. example: text filled in at the start.
    """
    import gradio as gr

    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"the tokenizer needs an encode(text) method; {type(tokenizer).__name__} has none")
    layers = attention_layers(model)
    n_layers, n_heads = len(layers), layers[0].n_heads
    limit = max_len if max_len is not None else model_max_len(model)

    def explain(text: Any, layer: Any, head: Any):
        """Callback: (text, layer, head) -> (image or None, message)."""
        try:
            tokens, maps, output = attention_maps(model, tokenizer, text, limit, run)
            image = render_attention(tokens, maps, layer, head)
        except Exception as err:  # shown in the app, never as a traceback
            return None, friendly_error(err)
        message = tr(f"{len(tokens)} tokens: {' '.join(tokens)}")
        if describe_output is not None:
            try:
                message += f"  \n{describe_output(output)}"
            except Exception as err:
                message += f"  \n{friendly_error(err)}"
        return image, message

    limit_text = f" (at most {limit} tokens)" if limit else ""
    with gr.Blocks(title=title) as app:
        gr.Markdown(
            f"## {title}\nType text{limit_text}, press **Show attention**, then pick a layer and a head. "
            "In each map, row i shows how much token i (the query) attends to each token (the keys)."
        )
        with gr.Row():
            text = gr.Textbox(
                label="text",
                value=example or "",
                placeholder="type here",
                elem_id="text",
                scale=3,
                max_length=MAX_TEXT_CHARS,
            )
            layer = gr.Dropdown(
                choices=[(f"layer {i}", str(i)) for i in range(n_layers)],
                value="0",
                label="layer",
                elem_id="layer",
            )
            head = gr.Dropdown(
                choices=[("all heads", ALL_HEADS)] + [(f"head {h}", str(h)) for h in range(n_heads)],
                value=ALL_HEADS,
                label="head",
                elem_id="head",
            )
        button = gr.Button("Show attention", variant="primary", elem_id="show")
        message = gr.Markdown(elem_id="message")  # above the map, so it is in view without scrolling
        image = gr.Image(
            label="attention", show_label=False, type="pil", format="png", elem_id="map", height=300
        )
        inputs, outputs = [text, layer, head], [image, message]
        button.click(explain, inputs, outputs, api_name="explain")
        text.submit(explain, inputs, outputs, api_visibility="private")
        layer.change(explain, inputs, outputs, api_visibility="private")
        head.change(explain, inputs, outputs, api_visibility="private")
    app.explain = explain  # the callback, for plain unit tests
    return localize_app(app)
