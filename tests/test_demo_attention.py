"""The attention-map demo: the functions behind it, and the app through gradio_client."""

import pytest
import torch
from PIL import Image

from mmlab.data.synthetic import LetterTokenizer
from mmlab.demos.attention import (
    ALL_HEADS,
    attention_maps,
    build_attention_demo,
    render_attention,
    token_labels,
)
from mmlab.demos.core import DemoInputError, show
from mmlab.models.attention import record_attention
from mmlab.models.encoder import EncoderClassifier, EncoderConfig
from mmlab.models.transformer import TransformerConfig

MAX_LEN = 8


@pytest.fixture(scope="module")
def tokenizer():
    return LetterTokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    config = EncoderConfig(
        tokenizer.vocab_size, tokenizer.vocab_size, transformer=TransformerConfig(32, 4, 2, max_len=MAX_LEN)
    )
    return EncoderClassifier(config).eval()


def test_attention_maps_equal_the_recorded_weights(model, tokenizer):
    tokens, maps, logits = attention_maps(model, tokenizer, "  hello ")
    assert tokens == list("hello") and logits.shape == (1, 5, tokenizer.vocab_size)
    assert [m.shape for m in maps] == [(4, 5, 5), (4, 5, 5)]
    with record_attention(model) as expected:
        model(torch.tensor([tokenizer.encode("hello")]))
    for got, want in zip(maps, expected):
        torch.testing.assert_close(got, want[0])
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(4, 5))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "input is empty"),
        ("   ", "input is empty"),
        (None, "input is empty"),
        (42, "must be text"),
        ("abcdefghi", "9 tokens long; this model takes at most 8"),
        ("hi there", "' ' not in the alphabet"),
        ("été", "'é' not in the alphabet"),
    ],
)
def test_bad_input_gives_a_clear_message(model, tokenizer, text, message):
    with pytest.raises(DemoInputError, match=message):
        attention_maps(model, tokenizer, text)
    image, shown = build_attention_demo(model, tokenizer).explain(text, "0", ALL_HEADS)
    assert image is None and message in shown and "Traceback" not in shown


def test_render_one_head_and_all_heads(model, tokenizer):
    tokens, maps, _ = attention_maps(model, tokenizer, "abc")
    one, every = render_attention(tokens, maps, 1, 2), render_attention(tokens, maps, 1, ALL_HEADS)
    assert isinstance(one, Image.Image) and every.width > 3 * one.width
    with pytest.raises(DemoInputError, match="layer must be a whole number from 0 to 1, got 5"):
        render_attention(tokens, maps, 5)
    with pytest.raises(DemoInputError, match="head .* from 0 to 3, got 4"):
        render_attention(tokens, maps, 0, 4)


def test_token_labels_from_any_tokenizer():
    class HFLike:
        def encode(self, text):
            return [101, 7, 102]

        def convert_ids_to_tokens(self, ids):
            return [{101: "[CLS]", 7: "hi", 102: "[SEP]"}[i] for i in ids]

    class DecodeOnly:
        def encode(self, text):
            return [1, 2]

        def decode(self, ids):
            return "xy"[ids[0] - 1]

    assert token_labels(HFLike(), "hi", [101, 7, 102]) == ["[CLS]", "hi", "[SEP]"]
    assert token_labels(DecodeOnly(), "xy", [1, 2]) == ["x", "y"]


def test_build_rejects_what_it_cannot_show(model):
    with pytest.raises(TypeError, match="encode"):
        build_attention_demo(model, object())
    with pytest.raises(TypeError, match="no MultiHeadAttention"):
        build_attention_demo(torch.nn.Linear(2, 2), LetterTokenizer())


def test_describe_output_is_shown(model, tokenizer):
    app = build_attention_demo(
        model, tokenizer, describe_output=lambda logits: f"shape {tuple(logits.shape)}"
    )
    image, message = app.explain("abc", "1", "0")
    assert isinstance(image, Image.Image) and "3 tokens: a b c" in message and "shape (1, 3, 27)" in message


def test_through_gradio_client(model, tokenizer, tmp_path):
    from gradio_client import Client

    app = build_attention_demo(model, tokenizer)
    with show(app, inline=False) as handle:
        client = Client(handle.url, verbose=False, download_files=str(tmp_path))
        assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == [
            "/explain"
        ]
        image_path, message = client.predict("attend", "1", ALL_HEADS, api_name="/explain")
        with Image.open(image_path) as image:
            assert image.format == "PNG" and image.width > image.height > 100
        assert message.startswith("6 tokens: a t t e n d")
        for text, expected in [("", "input is empty"), ("x" * 20, "at most 8"), (3.5, "'3', '.', '5'")]:
            image_path, message = client.predict(text, "0", "1", api_name="/explain")
            assert image_path is None and expected in message


def test_registered_in_mmlab_demos():
    import mmlab.demos

    assert mmlab.demos.build_attention_demo is build_attention_demo
