"""Our model and tokenizer as a local transformers folder, and TRL's trainers on it, offline."""

import pytest
import torch

from mmlab.align.sft import encode_conversations
from mmlab.align.trl_compat import (
    hf_replies,
    preference_dataset,
    save_for_transformers,
    trl_dpo,
    trl_reward_accuracy,
    trl_reward_model,
)
from mmlab.data.chat import chat_tokenizer
from mmlab.data.preferences import make_preferences
from mmlab.models.gpt import GPT, GPTConfig


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.manual_seed(0)
    tok = chat_tokenizer()
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=32))
    return model, tok, save_for_transformers(model, tok, tmp_path_factory.mktemp("hf"))


def test_folder_loads_offline_and_matches_our_model(folder):
    from transformers import AutoTokenizer, GPT2LMHeadModel

    model, tok, path = folder
    hf_tok = AutoTokenizer.from_pretrained(path)
    hf = GPT2LMHeadModel.from_pretrained(path).eval()
    pairs = make_preferences(n_train=5, n_held_out=1)["train"]
    data = preference_dataset(pairs)
    ids, _ = encode_conversations([p.instruction.messages(p.chosen) for p in pairs], tok, 24)
    for i, (prompt, chosen) in enumerate(zip(data["prompt"], data["chosen"])):
        encoded = hf_tok(prompt + chosen)["input_ids"]
        assert (
            encoded == hf_tok(prompt)["input_ids"] + hf_tok(chosen)["input_ids"]
        )  # no merge across the boundary
        assert encoded == ids[i, : len(encoded)].tolist()
    with torch.no_grad():
        torch.testing.assert_close(hf(input_ids=ids).logits, model(ids), atol=1e-5, rtol=1e-5)
    assert hf.config.pad_token_id == tok.pad_id and hf_tok.eos_token_id == tok.eot_id


def test_trl_trainers_run_offline(folder):
    model, tok, path = folder
    prefs = make_preferences(n_train=128, n_held_out=64)
    rm = trl_reward_model(path, prefs["train"], steps=30, lr=3e-3)
    assert trl_reward_accuracy(rm, path, prefs["held_out"]) >= 0.8
    policy = trl_dpo(path, prefs["train"], steps=4)
    replies = hf_replies(policy, tok, ["colour of sky", "reverse cat dog"], max_new_tokens=4)
    assert len(replies) == 2 and all(isinstance(r, str) and not tok.unknown(r) for r in replies)
