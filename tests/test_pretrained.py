"""The shipped MiniLM loads offline, and our BERT reads its weights and computes the same function."""

import pytest
import torch
import transformers

from mmlab.models.bert import BertModel
from mmlab.pretrained import load_minilm, load_pretrained, minilm_path, random_init_like


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


def test_minilm_loads_offline_with_auto_classes(minilm):
    model, tokenizer = minilm
    assert isinstance(model, transformers.BertModel)
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    assert 22_000_000 < sum(p.numel() for p in model.parameters()) < 23_500_000
    assert tokenizer.convert_ids_to_tokens(tokenizer("hello world")["input_ids"]) == [
        "[CLS]",
        "hello",
        "world",
        "[SEP]",
    ]
    assert (minilm_path() / "config.json").is_file()


def test_our_bert_reproduces_minilm_hidden_states(minilm):
    """MiniLM's weights in our BertModel: same last hidden states within 1e-4."""
    model, tokenizer = minilm
    model.eval()
    ours = BertModel.from_hf(model).eval()
    batch = tokenizer(
        ["the film was great", "a list is mutable, a tuple is not"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        expected = model(**batch).last_hidden_state
        h, _ = ours(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(h[real], expected[real], atol=1e-4, rtol=1e-4)


def test_random_init_has_the_same_shape_and_other_weights(minilm):
    model, _ = minilm
    fresh = random_init_like(model)
    assert fresh.config.to_dict() == model.config.to_dict()
    a = model.embeddings.word_embeddings.weight
    b = fresh.embeddings.word_embeddings.weight
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_unknown_folder_gives_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="has no model files"):
        load_pretrained(tmp_path)
