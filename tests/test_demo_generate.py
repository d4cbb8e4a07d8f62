"""The generation demo: settings validation, streaming, and the app through gradio_client."""

import pytest
import torch

from mmlab.data.tokenizers import CharTokenizer, train_bpe
from mmlab.demos.core import DemoInputError, show
from mmlab.demos.generate import SamplingSettings, build_generate_demo, parse_settings, stream_text
from mmlab.models.gpt import GPT, GPTConfig

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 10


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    return GPT(
        GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16)
    ).eval()


def test_parse_settings_switches_filters_off():
    assert parse_settings(0.7, 0, 1, 10, 50) == SamplingSettings(0.7, None, None, 10)
    assert parse_settings("0", "5", "0.9", "3", 50) == SamplingSettings(0.0, 5, 0.9, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 0, 1, 10), "Temperature must be 0 or more"),
        (("hot", 0, 1, 10), "Temperature must be a number"),
        ((float("inf"), 0, 1, 10), "finite"),
        ((1, -3, 1, 10), "Top-k must be a whole number"),
        ((1, 2.5, 1, 10), "Top-k must be a whole number"),
        ((1, 0, 1.5, 10), "Top-p must be above 0 and at most 1"),
        ((1, 0, 0, 10), "Top-p must be above 0 and at most 1"),
        ((1, 0, 1, 51), "Max tokens must be a whole number from 1 to 50"),
        ((1, 0, 1, 0), "from 1 to 50"),
        ((1, 0, 1, None), "Max tokens must be a number"),
    ],
)
def test_absurd_settings_give_clear_messages(model, tokenizer, args, message):
    with pytest.raises(DemoInputError, match=message):
        parse_settings(*args, limit=50)
    outputs = list(build_generate_demo(model, tokenizer, max_tokens_limit=50).generate("the", *args))
    assert outputs[-1][0] == "" and message in outputs[-1][1] and "Traceback" not in outputs[-1][1]


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "prompt is empty"),
        ("   ", "prompt is empty"),
        (None, "prompt is empty"),
        ("THE", "never saw: 'T', 'H', 'E'"),
    ],
)
def test_bad_prompts_give_clear_messages(model, tokenizer, prompt, message):
    text, shown = list(build_generate_demo(model, tokenizer).generate(prompt, 1, 0, 1, 5))[-1]
    assert text == "" and message in shown


def test_stream_grows_token_by_token_and_matches_generate(model, tokenizer):
    settings = SamplingSettings(0.0, None, None, 40)  # longer than block_size 16: sliding window
    chunks = list(stream_text(model, tokenizer, "the ", settings))
    assert len(chunks) == 40 and all(
        b.startswith(a) and len(b) == len(a) + 1 for a, b in zip(chunks, chunks[1:])
    )
    expected = model.generate(torch.tensor([tokenizer.encode("the ")]), 40, temperature=0, use_cache=False)
    assert chunks[-1] == tokenizer.decode(expected[0, 4:])


def test_seeded_demo_is_reproducible(model, tokenizer):
    app = build_generate_demo(model, tokenizer, seed=1)
    first = list(app.generate("the ", 1.0, 5, 0.9, 12))[-1]
    assert first == list(app.generate("the ", 1.0, 5, 0.9, 12))[-1] and first[1] == "Done: 12 tokens."


def test_bpe_tokenizer_stops_at_end_of_text():
    tokenizer = train_bpe(TEXT, vocab_size=280)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tokenizer), block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    with torch.no_grad():  # make end-of-text the most likely next token everywhere
        model.tok_emb.weight[tokenizer.eos_token_id] *= 50
        model.transformer.norm.weight.zero_()  # the last hidden state is the final norm's bias
        model.transformer.norm.bias.copy_(model.tok_emb.weight[tokenizer.eos_token_id])
    chunks = list(stream_text(model, tokenizer, "the fox", SamplingSettings(0.0, None, None, 10)))
    assert chunks == []


def test_build_rejects_wrong_arguments(tokenizer, model):
    with pytest.raises(TypeError, match="mmlab GPT"):
        build_generate_demo(torch.nn.Linear(2, 2), tokenizer)
    with pytest.raises(TypeError, match="encode"):
        build_generate_demo(model, object())


def test_through_gradio_client(model, tokenizer):
    from gradio_client import Client

    app = build_generate_demo(model, tokenizer, max_tokens_limit=100, seed=0)
    with show(app, inline=False) as handle:
        client = Client(handle.url, verbose=False)
        assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == [
            "/generate"
        ]
        job = client.submit("the ", 0, 0, 1, 20, api_name="/generate")
        final = job.result()
        streamed = job.outputs()
        assert len(streamed) >= 20  # one update per token, then "Done"
        assert final[1] == "Done: 20 tokens." and len(final[0]) == 20
        expected = model.generate(torch.tensor([tokenizer.encode("the ")]), 20, temperature=0, use_cache=None)
        assert final[0] == tokenizer.decode(expected[0, 4:])
        for args, expected_message in [
            (("", 1, 0, 1, 5), "prompt is empty"),
            (("the", -1, 0, 1, 5), "Temperature must be 0 or more"),
            (("the", 1, 0, 2, 5), "Top-p must be above 0 and at most 1"),
            (("the", 1, 0, 1, 1000), "from 1 to 100"),
        ]:
            text, message = client.predict(*args, api_name="/generate")
            assert text == "" and expected_message in message
