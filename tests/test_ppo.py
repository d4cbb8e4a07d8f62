"""PPO pieces against straightforward reference loops, and a short run that raises the reward."""

import copy
from dataclasses import replace

import pytest
import torch

from mmlab.align.ppo import (
    PolicyWithValue,
    PPOConfig,
    gae,
    kl_to_reference,
    ppo_clip_loss,
    rollout,
    train_ppo,
    win_rate,
)
from mmlab.align.reward import RewardModel
from mmlab.align.sft import encode_conversations, sft_loss
from mmlab.data.chat import Instruction, chat_tokenizer, politeness_score
from mmlab.models.gpt import GPT, GPTConfig


def gae_loop(rewards, values, gamma, lam):
    """The textbook definition: A_t = sum_k (gamma lam)^k delta_{t+k}."""
    T = len(rewards)
    deltas = [rewards[t] + gamma * values[t + 1] - values[t] for t in range(T)]
    return torch.tensor([sum((gamma * lam) ** k * deltas[t + k] for k in range(T - t)) for t in range(T)])


@pytest.mark.parametrize("gamma, lam", [(1.0, 0.95), (0.9, 0.5), (0.99, 1.0), (1.0, 0.0)])
def test_gae_matches_the_definition(gamma, lam):
    rewards, values = torch.randn(7), torch.randn(8)
    torch.testing.assert_close(gae(rewards, values, gamma, lam), gae_loop(rewards, values, gamma, lam))
    batch = gae(torch.stack([rewards, rewards]), torch.stack([values, values]), gamma, lam)
    torch.testing.assert_close(batch[1], gae_loop(rewards, values, gamma, lam))


def test_gae_padding_after_the_end_adds_nothing():
    rewards, values = torch.randn(4), torch.randn(4)
    short = gae(rewards, torch.cat([values, torch.zeros(1)]), 1.0, 0.9)
    padded = gae(torch.cat([rewards, torch.zeros(3)]), torch.cat([values, torch.zeros(4)]), 1.0, 0.9)
    torch.testing.assert_close(padded[:4], short)
    with pytest.raises(ValueError, match="T \\+ 1"):
        gae(rewards, values, 1.0, 0.9)


def test_clipped_loss_matches_the_formula_and_stops_gradients_beyond_the_clip():
    old, adv = torch.randn(50), torch.randn(50)
    new = (old + 0.5 * torch.randn(50)).requires_grad_()
    ratio = torch.exp(new - old)
    expected = -torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
    loss = ppo_clip_loss(new, old, adv, 0.2)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    r = ratio.detach()
    outside = ((adv > 0) & (r > 1.2)) | ((adv < 0) & (r < 0.8))  # clipped on the side that pays
    assert outside.any() and (new.grad[outside] == 0).all() and (new.grad[~outside] != 0).all()


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    tok = chat_tokenizer()
    policy = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=32))
    # a hand-made reward model: score = the logit of "thanks" read out at the last token
    reward = RewardModel(
        GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=32))
    )
    return tok, policy, reward


def test_rollout_layout(setup):
    tok, policy, _ = setup
    prompts = ["colour of sky", "reverse cat dog", "rate fun dull nice"]
    roll = rollout(policy, tok, prompts, max_new_tokens=5, generator=torch.Generator().manual_seed(0))
    assert roll.ids.shape[0] == 3 and (roll.length >= 1).all() and (roll.length <= 5).all()
    for b in range(len(prompts)):
        reply = roll.ids[b, roll.start[b] : roll.start[b] + roll.length[b]].tolist()
        assert tok.decode([t for t in reply if t != tok.eot_id]) == roll.replies[b]
        assert tok.eot_id not in reply[:-1]  # stops at the first end of turn
    assert kl_to_reference(policy, policy, tok, prompts) == pytest.approx(0.0, abs=1e-6)
    assert win_rate(policy, policy, tok, prompts, politeness_score) == 0.5  # same samples: all ties


def test_short_run_raises_a_simple_reward(setup):
    tok, policy, _ = setup

    class CountThanks(torch.nn.Module):
        """A transparent reward: the number of 'thanks' tokens in the sequence."""

        def forward(self, ids, lengths):
            steps = torch.arange(ids.size(1))[None, :] < lengths[:, None]
            return ((ids == tok.stoi["thanks"]) & steps).sum(1).float()

    config = PPOConfig(beta=0.0, iterations=12, batch_size=32, lr=3e-3, max_new_tokens=4)
    tuned, logs = train_ppo(policy, CountThanks(), tok, ["colour of sky", "reverse cat dog"], config)
    assert set(logs[0]) >= {"score", "kl", "entropy", "clip_frac", "value_loss", "policy_loss"}
    assert logs[-1]["score"] > logs[0]["score"] + 0.5
    assert logs[-1]["kl"] > 0.1 and 0 <= logs[-1]["clip_frac"] <= 1
    for p in policy.parameters():  # the reference (the input model) is untouched
        assert p.grad is None


def test_value_loss_does_not_train_the_policy_body(setup):
    tok, policy, _ = setup
    agent = PolicyWithValue(copy.deepcopy(policy))
    torch.nn.init.normal_(agent.value_head.weight)
    _, values = agent(torch.tensor([tok.encode("U: reverse cat dog\nA: dog cat")]))
    values.pow(2).sum().backward()
    assert agent.value_head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in agent.policy.parameters())


def test_ptx_term_needs_demonstrations_and_keeps_them_likely(setup):
    tok, policy, _ = setup
    prompts = ["colour of sky", "reverse cat dog"]

    class CountSure(torch.nn.Module):
        def forward(self, ids, lengths):
            steps = torch.arange(ids.size(1))[None, :] < lengths[:, None]
            return ((ids == tok.stoi["sure"]) & steps).sum(1).float()

    config = PPOConfig(beta=0.0, iterations=6, batch_size=16, lr=3e-3, max_new_tokens=4, ptx_coef=1.0)
    with pytest.raises(ValueError, match="needs demos"):
        train_ppo(policy, CountSure(), tok, prompts, config)
    demos = encode_conversations(
        [Instruction("colour", "colour of sky", "blue").messages("blue")] * 8, tok, 24
    )
    losses = {}
    for ptx in (0.0, 1.0):
        tuned, _ = train_ppo(
            policy, CountSure(), tok, prompts, replace(config, ptx_coef=ptx), demos=demos, seed=0
        )
        with torch.no_grad():
            losses[ptx] = float(sft_loss(tuned, demos)[0])
    assert losses[1.0] < losses[0.0]  # the demonstrations stay more likely with the ptx term
