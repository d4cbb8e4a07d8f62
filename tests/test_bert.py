"""The mini-BERT against transformers: one layer with copied weights, and whole models both ways."""

import pytest
import torch
import transformers

from mmlab.models.attention import padding_mask
from mmlab.models.bert import (
    BertClassifier,
    BertConfig,
    BertForPreTraining,
    BertModel,
    from_hf_state_dict,
    hf_config,
    to_hf_state_dict,
)
from mmlab.models.transformer import TransformerBlock, TransformerConfig

CONFIG = BertConfig(vocab_size=120, d_model=32, n_heads=4, n_layers=2, max_len=16, dropout=0.0)


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, CONFIG.vocab_size, (3, 10), generator=g)
    types = torch.zeros_like(ids)
    types[:, 6:] = 1
    attention = torch.ones_like(ids)
    attention[1, 7:] = 0  # the second sequence is padded
    ids[1, 7:] = CONFIG.pad_id
    return ids, types, attention


def test_one_block_computes_the_same_function_as_a_transformers_bert_layer():
    """Weights copied from transformers.BertLayer into our post-LN TransformerBlock; tolerance 1e-5."""
    torch.manual_seed(0)
    hf_cfg = transformers.BertConfig(
        hidden_size=32, num_attention_heads=4, intermediate_size=64, hidden_act="gelu", layer_norm_eps=1e-12,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    hf_model = transformers.BertModel(hf_cfg).eval()
    with torch.no_grad():  # random LayerNorm gains and biases, so a wrong mapping cannot hide
        for p in hf_model.parameters():
            p.normal_(0, 0.3)
    layer = hf_model.encoder.layer[0]
    block = TransformerBlock(
        TransformerConfig(32, 4, d_ff=64, norm_first=False, activation="gelu", layer_norm_eps=1e-12)
    ).eval()
    pairs = [
        (block.attn.q_proj, layer.attention.self.query),
        (block.attn.k_proj, layer.attention.self.key),
        (block.attn.v_proj, layer.attention.self.value),
        (block.attn.out_proj, layer.attention.output.dense),
        (block.norm1, layer.attention.output.LayerNorm),
        (block.mlp.fc, layer.intermediate.dense),
        (block.mlp.proj, layer.output.dense),
        (block.norm2, layer.output.LayerNorm),
    ]
    for ours, theirs in pairs:
        ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 10, 32)
    attention = torch.ones(3, 10, dtype=torch.long)
    attention[0, 6:] = 0
    # transformers' layers take an additive mask: 0 where allowed, the dtype's minimum elsewhere.
    additive = (1.0 - attention[:, None, None, :].float()) * torch.finfo(torch.float32).min  # (B, 1, 1, T)
    expected = layer(x, attention_mask=additive)
    expected = expected[0] if isinstance(expected, tuple) else expected
    got = block(x, mask=padding_mask(attention))
    real = attention.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)


def test_to_hf_checkpoint_loads_with_from_pretrained_and_gives_the_same_logits(tmp_path):
    torch.manual_seed(0)
    model = BertForPreTraining(CONFIG).eval()
    ids, types, attention = inputs()
    ours = model(ids, types, attention)
    model.to_hf(tmp_path)
    hf = transformers.BertForPreTraining.from_pretrained(tmp_path).eval()
    theirs = hf(input_ids=ids, token_type_ids=types, attention_mask=attention)
    real = attention.bool()
    torch.testing.assert_close(ours.mlm_logits[real], theirs.prediction_logits[real], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours.nsp_logits, theirs.seq_relationship_logits, atol=1e-4, rtol=1e-4)
    # and back: from_hf gives our model with identical weights
    again = BertForPreTraining.from_hf(tmp_path).eval()
    torch.testing.assert_close(again(ids, types, attention).mlm_logits, ours.mlm_logits)


def test_mlm_decoder_is_tied_to_the_word_embeddings():
    model = BertForPreTraining(CONFIG)
    assert model.mlm.word_embeddings.weight is model.bert.embeddings.word.weight
    n_params = sum(p.numel() for p in model.parameters())
    hf = transformers.BertForPreTraining(hf_config(CONFIG))
    assert n_params == sum(p.numel() for p in hf.parameters())  # same count: the tie is not a copy


def test_state_dict_names_round_trip():
    state = BertForPreTraining(CONFIG).state_dict()
    hf_state = to_hf_state_dict(state)
    assert "bert.encoder.layer.1.attention.self.query.weight" in hf_state
    back = from_hf_state_dict(hf_state)
    assert set(back) == {k for k in state if not k.startswith("mlm.word_embeddings")}


def test_loss_on_labelled_positions_only_equals_the_full_loss():
    torch.manual_seed(0)
    model = BertForPreTraining(CONFIG).eval()
    ids, types, attention = inputs()
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[2, 5], labels[1, 3] = 7, 9, 11
    nsp = torch.tensor([0, 1, 0])
    full = model(ids, types, attention, labels, nsp)
    fast = model(ids, types, attention, labels, nsp, only_labelled=True)
    assert fast.mlm_logits.shape == (3, CONFIG.vocab_size)
    torch.testing.assert_close(fast.loss, full.loss)
    torch.testing.assert_close(full.loss, full.mlm_loss + full.nsp_loss)


def test_padding_does_not_change_the_real_positions():
    torch.manual_seed(0)
    model = BertModel(CONFIG).eval()
    ids, types, attention = inputs()
    h, _ = model(ids[1:2, :7], types[1:2, :7], attention[1:2, :7])
    h_padded, _ = model(ids[1:2], types[1:2], attention[1:2])
    torch.testing.assert_close(h_padded[:, :7], h, atol=1e-5, rtol=1e-5)


def test_bert_model_from_hf_matches_transformers_bert_model():
    torch.manual_seed(0)
    hf = transformers.BertModel(hf_config(CONFIG)).eval()
    ours = BertModel.from_hf(hf).eval()
    ids, types, attention = inputs()
    expected = hf(input_ids=ids, token_type_ids=types, attention_mask=attention)
    h, pooled = ours(ids, types, attention)
    real = attention.bool()
    torch.testing.assert_close(h[real], expected.last_hidden_state[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pooled, expected.pooler_output, atol=1e-5, rtol=1e-5)


def test_classifier_shape_and_errors():
    classifier = BertClassifier(BertModel(CONFIG), n_classes=3)
    ids, types, attention = inputs()
    assert classifier(ids, types, attention).shape == (3, 3)
    with pytest.raises(ValueError, match="batch, time"):
        classifier(ids[0])
    with pytest.raises(ValueError, match="longer than max_len=16"):
        classifier(torch.zeros(1, 17, dtype=torch.long))
