"""The reward model equals transformers' GPT2ForSequenceClassification; the Bradley-Terry loss; training."""

import pytest
import torch
import torch.nn.functional as F

from mmlab.align.reward import (
    RewardConfig,
    RewardModel,
    bradley_terry_loss,
    encode_preference_pairs,
    pairwise_accuracy,
    reward_margin,
    score_conversations,
    train_reward_model,
)
from mmlab.data.chat import chat_tokenizer
from mmlab.data.preferences import make_preferences
from mmlab.models.gpt import GPT, GPTConfig, export_to_gpt2


def test_bradley_terry_equals_binary_cross_entropy():
    r_w, r_l = torch.randn(32), torch.randn(32)
    reference = F.binary_cross_entropy_with_logits(r_w - r_l, torch.ones(32))
    torch.testing.assert_close(bradley_terry_loss(r_w, r_l), reference, atol=1e-6, rtol=1e-6)
    big = bradley_terry_loss(torch.tensor([-200.0]), torch.tensor([200.0]))
    assert torch.isfinite(big) and abs(float(big) - 400) < 1e-3  # stable for huge gaps


def test_reward_model_equals_gpt2_for_sequence_classification(tmp_path):
    from transformers import GPT2ForSequenceClassification

    torch.manual_seed(0)
    tok = chat_tokenizer()
    body = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=2, n_head=2, n_embd=32))
    model = RewardModel(body).eval()
    export_to_gpt2(body, tmp_path, eos_token_id=tok.eot_id)
    hf = GPT2ForSequenceClassification.from_pretrained(tmp_path, num_labels=1, pad_token_id=tok.pad_id).eval()
    hf.score.weight.data.copy_(model.score.weight)
    pairs = make_preferences(n_train=6, n_held_out=1)["train"]
    ids, lengths, _, _ = encode_preference_pairs(pairs, tok, 24)
    with torch.no_grad():
        ours = model(ids, lengths)
        theirs = hf(input_ids=ids).logits.squeeze(-1)  # last non-pad token, found through pad_token_id
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_training_separates_chosen_from_rejected():
    torch.manual_seed(0)
    tok = chat_tokenizer()
    body = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=32))
    prefs = make_preferences(n_train=400, n_held_out=100)
    before = pairwise_accuracy(RewardModel(body), tok, prefs["held_out"])
    model, history = train_reward_model(body, tok, prefs["train"], prefs["held_out"], RewardConfig(steps=60))
    after = pairwise_accuracy(model, tok, prefs["held_out"])
    assert after >= 0.85 and after > before
    assert abs(history.last("accuracy") - after) < 1e-6
    chosen = score_conversations(model, tok, [p.instruction.messages(p.chosen) for p in prefs["held_out"]])
    rejected = score_conversations(
        model, tok, [p.instruction.messages(p.rejected) for p in prefs["held_out"]]
    )
    assert reward_margin(model, tok, prefs["held_out"]) == pytest.approx(float((chosen - rejected).mean()))
