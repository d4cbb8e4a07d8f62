"""Fill-mask demo: type a sentence with one ``[MASK]``, see the model's top-k tokens for it.

Works with the course's :class:`mmlab.models.bert.BertForPreTraining` and with any ``transformers``
masked language model (``BertForPreTraining``, ``AutoModelForMaskedLM``), and any ``transformers``
tokenizer that has a mask token. The function behind the app, :func:`fill_mask`, is tested without
a browser.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmlab.demos.core import MAX_TEXT_CHARS, DemoInputError, check_number, friendly_error, localize_app, tr

__all__ = ["build_fill_mask_demo", "fill_mask", "format_predictions"]


def _mlm_logits(output: Any) -> torch.Tensor:
    for name in ("mlm_logits", "prediction_logits", "logits"):  # ours, BertForPreTraining, *ForMaskedLM
        value = getattr(output, name, None)
        if isinstance(value, torch.Tensor):
            return value
    if isinstance(output, torch.Tensor):
        return output
    raise TypeError(f"cannot find masked-LM logits in the model's output ({type(output).__name__})")


@torch.no_grad()
def fill_mask(model: nn.Module, tokenizer: Any, text: Any, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable tokens for the one mask token in ``text``, with probabilities.

    Raises :class:`DemoInputError` (a message for the user) on empty input, on text without a mask
    token or with several, and on text longer than the model takes.
    """
    mask = tokenizer.mask_token
    if text is None or (isinstance(text, str) and not text.strip()):
        raise DemoInputError(f"Type a sentence with one {mask} first: the input is empty.")
    if not isinstance(text, str):
        raise DemoInputError("The input must be text.")
    if len(text) > MAX_TEXT_CHARS:
        raise DemoInputError(f"The text is {len(text):,} characters long; type at most {MAX_TEXT_CHARS:,}.")
    count = text.count(mask)
    if count == 0:
        raise DemoInputError(f"Put one {mask} where a word should be predicted, e.g. 'a list is {mask}'.")
    if count > 1:
        raise DemoInputError(
            f"Use exactly one {mask}: this text has {count}. Each mask is predicted on its own."
        )
    k = check_number(k, "Top k", low=1, high=100, integer=True)
    unknown = [  # e.g. Chinese characters, for a tokenizer trained on English only
        c
        for c in dict.fromkeys(text)
        if not c.isascii() and tokenizer(c, add_special_tokens=False)["input_ids"] == [tokenizer.unk_token_id]
    ]
    if unknown:
        raise DemoInputError(
            f"The tokenizer knows only the words and pieces of its training vocabulary, not {''.join(unknown[:8])}: "
            f"type a sentence in the language it learned, e.g. 'a list is {mask}'."
        )
    encoded = tokenizer(text.strip(), return_tensors="pt")
    limit = getattr(getattr(model, "config", None), "max_len", None) or getattr(
        getattr(model, "config", None), "max_position_embeddings", None
    )
    length = encoded["input_ids"].size(1)
    if limit is not None and length > limit:
        raise DemoInputError(f"The text is {length} tokens long; this model takes at most {limit}.")
    device = next(model.parameters()).device
    inputs = {
        k_: v.to(device)
        for k_, v in encoded.items()
        if k_ in ("input_ids", "token_type_ids", "attention_mask")
    }
    was_training = model.training
    model.eval()
    try:
        logits = _mlm_logits(model(**inputs))  # (1, T, V)
    finally:
        model.train(was_training)
    position = int((inputs["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0, 0])
    probabilities = logits[0, position].float().softmax(-1)  # (V,)
    top = probabilities.topk(int(k))
    tokens = tokenizer.convert_ids_to_tokens(top.indices.tolist())
    return [(str(t), float(p)) for t, p in zip(tokens, top.values.tolist())]


def format_predictions(text: str, predictions: list[tuple[str, float]], mask: str = "[MASK]") -> str:
    """A Markdown table: rank, token, probability, and the sentence with the token filled in."""
    lines = [tr("| # | token | probability | sentence |"), "|---|---|---|---|"]
    for rank, (token, p) in enumerate(predictions, 1):
        filled = text.replace(mask, f"**{token}**")
        lines.append(f"| {rank} | `{token}` | {p:.3f} | {filled} |")
    return "\n".join(lines)


def build_fill_mask_demo(
    model: nn.Module, tokenizer: Any, *, k: int = 5, title: str = "Fill the mask", example: str | None = None
):
    """A Gradio Blocks app: a sentence with one ``[MASK]`` -> the top-``k`` tokens and probabilities.

    Args:
        model: a masked language model (ours or a ``transformers`` one).
        tokenizer: its ``transformers`` tokenizer (needs a mask token).
        k: how many tokens to show (the app has a slider from 1 to 20).
        title: heading. example: text filled in at the start.
    """
    import gradio as gr

    if getattr(tokenizer, "mask_token", None) is None:
        raise TypeError(
            "the tokenizer has no mask token: a fill-mask demo needs a masked language model's tokenizer"
        )
    mask = tokenizer.mask_token

    def predict(text: Any, top_k: Any = k) -> str:
        """Callback: (text, k) -> Markdown table or a message."""
        try:
            predictions = fill_mask(model, tokenizer, text, top_k)
        except Exception as err:  # shown in the app, never as a traceback
            return friendly_error(err)
        return format_predictions(text.strip(), predictions, mask)

    with gr.Blocks(title=title) as app:
        gr.Markdown(
            f"## {title}\nType a sentence with exactly one `{mask}`; the model ranks the tokens that fit."
        )
        with gr.Row():
            text = gr.Textbox(
                label="sentence",
                value=example or f"a {mask} is an ordered sequence",
                scale=4,
                elem_id="text",
                max_length=MAX_TEXT_CHARS,
            )
            top_k = gr.Slider(1, 20, value=k, step=1, label="top k", elem_id="k")
        button = gr.Button("Predict", variant="primary", elem_id="predict")
        output = gr.Markdown(elem_id="predictions")
        button.click(predict, [text, top_k], output, api_name="predict")
        text.submit(predict, [text, top_k], output, api_visibility="private")
    app.predict = predict  # the callback, for plain unit tests
    return localize_app(app)
