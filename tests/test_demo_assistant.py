"""The shop assistant demo (chapter 16b): replies, the passages panel, bad input, and the app over HTTP."""

import pytest
import torch
from gradio_client import Client

from mmlab.assistant import Assistant, FaqRetriever
from mmlab.data.faq import IDK, VOCAB, make_faq
from mmlab.demos.assistant import build_assistant_demo
from mmlab.demos.core import show
from mmlab.models.gpt import GPT, GPTConfig
from mmlab.recipes.assistant import faq_tokenizer


@pytest.fixture(scope="module")
def assistant():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(VOCAB), block_size=32, n_layer=1, n_head=2, n_embd=16)).eval()
    return Assistant(model, faq_tokenizer(), FaqRetriever(make_faq(0)), threshold=0.6)


def test_reply_and_passages(assistant):
    app = build_assistant_demo(assistant)
    reply, panel = app.respond("How long do I have to return an item?", [])
    assert reply and "⚠️" not in reply
    assert "you can return any item within" in panel and "| used |" in panel and "≥ threshold 0.600" in panel
    reply, panel = app.respond("Can I pay with bitcoin?", [])
    assert reply == IDK and "< threshold 0.600" in panel and "used" not in panel.split("\n", 2)[2]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("", "The message is empty"),
        (None, "The message is empty"),
        ("x" * 3000, "characters long"),
        ("U: hi", "markers"),
    ],
)
def test_bad_messages_get_a_clear_message(assistant, message, expected):
    reply, panel = build_assistant_demo(assistant).respond(message, [])
    assert expected in reply and "Error" not in reply and panel == ""


def test_needs_a_retriever(assistant):
    with pytest.raises(TypeError, match="retriever"):
        build_assistant_demo(Assistant(assistant.backend.model, assistant.tokenizer, None))


def test_app_answers_over_http(assistant):
    with show(build_assistant_demo(assistant), inline=False) as handle:
        client = Client(handle.url, verbose=False)
        result = client.predict("how heavy is the kettle", api_name="/chat")
    reply, panel = result if isinstance(result, (list, tuple)) else (result, None)
    assert isinstance(reply, str) and reply
    assert panel is None or "cosine" in str(panel)
