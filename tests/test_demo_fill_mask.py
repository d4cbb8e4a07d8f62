"""The fill-mask demo: the function behind it, and the app through gradio_client."""

import pytest
import torch

from mmlab.data.wordpiece import train_wordpiece
from mmlab.demos.core import DemoInputError, show
from mmlab.demos.fill_mask import build_fill_mask_demo, fill_mask
from mmlab.models.bert import BertConfig, BertForPreTraining

TEXTS = [
    "a list is a mutable sequence",
    "a tuple is an immutable sequence",
    "a dict maps keys to values",
] * 10


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(TEXTS, vocab_size=80, min_frequency=1)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    return BertForPreTraining(
        BertConfig(len(tokenizer), d_model=32, n_heads=2, n_layers=1, max_len=12)
    ).eval()


def test_predictions_are_the_softmax_at_the_mask(model, tokenizer):
    predictions = fill_mask(model, tokenizer, "a list is a [MASK] sequence", k=4)
    batch = tokenizer("a list is a [MASK] sequence", return_tensors="pt")
    position = batch["input_ids"][0].tolist().index(tokenizer.mask_token_id)
    with torch.no_grad():
        probs = model(batch["input_ids"], batch["token_type_ids"]).mlm_logits[0, position].softmax(-1)
    top = probs.topk(4)
    assert [t for t, _ in predictions] == tokenizer.convert_ids_to_tokens(top.indices.tolist())
    assert [p for _, p in predictions] == pytest.approx(top.values.tolist(), abs=1e-6)


def test_same_predictions_from_the_transformers_copy(model, tokenizer, tmp_path):
    hf = model.to_hf(tmp_path)
    ours = fill_mask(model, tokenizer, "a [MASK] maps keys to values")
    theirs = fill_mask(hf, tokenizer, "a [MASK] maps keys to values")
    assert [t for t, _ in ours] == [t for t, _ in theirs]
    assert [p for _, p in ours] == pytest.approx([p for _, p in theirs], abs=1e-5)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "input is empty"),
        (None, "input is empty"),
        ("a list is mutable", "Put one [MASK]"),
        ("a [MASK] is [MASK]", "exactly one [MASK]: this text has 2"),
        ("a [MASK] " + "list " * 20, "takes at most 12"),
        (7, "must be text"),
    ],
)
def test_bad_input_gives_a_clear_message(model, tokenizer, text, message):
    with pytest.raises(DemoInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        fill_mask(model, tokenizer, text)
    shown = build_fill_mask_demo(model, tokenizer).predict(text)
    assert message in shown and "Traceback" not in shown


def test_through_gradio_client(model, tokenizer):
    from gradio_client import Client

    app = build_fill_mask_demo(model, tokenizer)
    with show(app, inline=False) as handle:
        client = Client(handle.url, verbose=False)
        assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == [
            "/predict"
        ]
        table = client.predict("a list is a [MASK] sequence", 3, api_name="/predict")
        expected = fill_mask(model, tokenizer, "a list is a [MASK] sequence", k=3)
        assert table.count("\n") == 4  # header, rule and 3 rows
        for token, p in expected:
            assert f"`{token}` | {p:.3f}" in table
        assert "Put one [MASK]" in client.predict("no mask here", 3, api_name="/predict")
        assert "exactly one [MASK]" in client.predict("[MASK] [MASK]", 3, api_name="/predict")


def test_registered_in_mmlab_demos():
    import mmlab.demos

    assert mmlab.demos.build_fill_mask_demo is build_fill_mask_demo
