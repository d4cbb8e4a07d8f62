"""DPO loss against the closed form, log-probabilities against transformers, and a short run."""

import torch
import torch.nn.functional as F

from mmlab.align.dpo import DPOConfig, dpo_loss, dpo_metrics, sequence_logprob, train_dpo
from mmlab.align.sft import encode_conversations
from mmlab.data.chat import chat_tokenizer
from mmlab.data.preferences import make_preferences
from mmlab.models.gpt import GPT, GPTConfig, export_to_gpt2


def test_dpo_loss_is_bce_on_the_scaled_margin():
    pw, pl, rw, rl = -5 * torch.rand(4, 16)
    for beta in (0.1, 0.5, 2.0):
        reference = F.binary_cross_entropy_with_logits(beta * ((pw - rw) - (pl - rl)), torch.ones(16))
        torch.testing.assert_close(dpo_loss(pw, pl, rw, rl, beta), reference, atol=1e-6, rtol=1e-6)
    # at the reference (policy == reference) the loss is log 2 whatever beta
    torch.testing.assert_close(dpo_loss(rw, rl, rw, rl, 0.3), torch.tensor(0.6931472), atol=1e-6, rtol=0)
    m = dpo_metrics(pw, pl, rw, rl, 0.5)
    torch.testing.assert_close(m["margin"], (0.5 * ((pw - rw) - (pl - rl))).mean())
    assert float(m["accuracy"]) == float((((pw - rw) - (pl - rl)) > 0).float().mean())


def test_sequence_logprob_equals_transformers(tmp_path):
    torch.manual_seed(0)
    tok = chat_tokenizer()
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=32))
    hf = export_to_gpt2(model, tmp_path)
    pairs = make_preferences(n_train=4, n_held_out=1)["train"]
    ids, roles = encode_conversations([p.instruction.messages(p.chosen) for p in pairs], tok, 24)
    with torch.no_grad():
        ours = sequence_logprob(model, ids, roles)
        logp = hf(input_ids=ids).logits[:, :-1].log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        theirs = (logp * (roles[:, 1:] == 4)).sum(-1)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_short_run_prefers_the_chosen_replies():
    torch.manual_seed(0)
    tok = chat_tokenizer()
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=32))
    prefs = make_preferences(n_train=300, n_held_out=100)
    policy, history = train_dpo(model, tok, prefs["train"], prefs["held_out"], DPOConfig(steps=40, lr=3e-3))
    assert history.last("accuracy") > 0.8 and history.last("margin") > 0
    assert history.last("loss") < 0.69
