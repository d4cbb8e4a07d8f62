"""DPO loss against the closed form, log-probabilities against transformers, and a short run."""

import torch
import torch.nn.functional as F

from mmlab.align.dpo import DPOConfig, dpo_batch_loss, dpo_loss, dpo_metrics, sequence_logprob, train_dpo
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


def test_batch_loss_adds_the_per_token_sft_loss_on_chosen_replies():
    torch.manual_seed(0)
    tok = chat_tokenizer()
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=32))
    pairs = make_preferences(n_train=8, n_held_out=1)["train"]
    ids_w, roles_w = encode_conversations([p.instruction.messages(p.chosen) for p in pairs], tok, 24)
    ids_l, roles_l = encode_conversations([p.instruction.messages(p.rejected) for p in pairs], tok, 24)
    ref_w, ref_l = -3 * torch.rand(8), -3 * torch.rand(8)
    batch = (ids_w, roles_w, ids_l, roles_l, ref_w, ref_l)
    with torch.no_grad():
        pw, pl = sequence_logprob(model, ids_w, roles_w), sequence_logprob(model, ids_l, roles_l)
        plain, metrics = dpo_batch_loss(model, batch, beta=0.5, nll_weight=0.0)
        mixed, _ = dpo_batch_loss(model, batch, beta=0.5, nll_weight=2.0)
        # the per-token SFT loss of the chosen replies, as transformers-style mean cross-entropy per row
        logits = model(ids_w[:, :-1])
        ce = F.cross_entropy(logits.transpose(1, 2), ids_w[:, 1:], reduction="none")
        mask = roles_w[:, 1:] == 4
        nll = ((ce * mask).sum(1) / mask.sum(1)).mean()
    torch.testing.assert_close(plain, dpo_loss(pw, pl, ref_w, ref_l, 0.5))
    torch.testing.assert_close(mixed, plain + 2.0 * nll, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(metrics["margin"], dpo_metrics(pw, pl, ref_w, ref_l, 0.5)["margin"])


def test_short_run_prefers_the_chosen_replies():
    torch.manual_seed(0)
    tok = chat_tokenizer()
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=32))
    prefs = make_preferences(n_train=300, n_held_out=100)
    policy, history = train_dpo(
        model, tok, prefs["train"], prefs["held_out"], DPOConfig(steps=40, lr=3e-3, nll_weight=0.0)
    )
    assert history.last("accuracy") > 0.8 and history.last("margin") > 0
    assert history.last("loss") < 0.69
