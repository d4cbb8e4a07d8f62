"""Checks for lab 08: the Bradley-Terry loss, the DPO loss, the clipped PPO objective and GAE.

Each check compares the learner's function with the reference in :mod:`mmlab.align` and names the
common mistakes: chosen and rejected swapped, beta outside the log-sigmoid, the policy/reference
ratio inverted, max instead of min in the clipped objective, advantages not accumulated backwards
through time, and a few more.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from mmlab.align.dpo import dpo_loss as reference_dpo_loss
from mmlab.align.ppo import gae as reference_gae
from mmlab.align.ppo import ppo_clip_loss as reference_ppo_clip_loss
from mmlab.align.reward import bradley_terry_loss as reference_bradley_terry_loss
from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check

__all__ = ["check_bradley_terry_loss", "check_dpo_loss", "check_gae", "check_ppo_clip_loss"]

BT_SWAPPED = (
    "chosen and rejected swapped: the loss is -log sigmoid(r_chosen - r_rejected), small when the chosen "
    "reply scores higher"
)
BT_NO_LOG = (
    "sigmoid without the log: the loss is the negative *log*-likelihood, -log sigmoid(r_chosen - r_rejected)"
)
BT_SUM = "a sum over the batch: return the mean, so the loss does not grow with the batch size"
BT_NO_MINUS = "the log-likelihood without its minus sign: the loss is -log sigmoid(r_chosen - r_rejected), which is >= 0"
BT_NO_SIGMOID = (
    "the sigmoid left out (-(r_chosen - r_rejected)): the loss is -log sigmoid(r_chosen - r_rejected), "
    "bounded below by 0, so one pair cannot push the rewards apart forever"
)
BT_PLUS = "r_chosen + r_rejected: the model is about the *difference* of the rewards, r_chosen - r_rejected"

DPO_SWAPPED = (
    "chosen and rejected swapped, or the policy/reference ratio inverted (log pi_ref - log pi; both give the "
    "same number): the implicit reward is beta * (log pi - log pi_ref), and the chosen reply's comes first"
)
DPO_BETA_OUTSIDE = (
    "beta outside the log-sigmoid (-beta * log sigmoid(...)): beta scales the log-ratio margin *inside* the "
    "sigmoid, -log sigmoid(beta * margin)"
)
DPO_NO_BETA = "beta left out: multiply the log-ratio margin by beta inside the sigmoid"
DPO_NO_MINUS = (
    "the log-sigmoid without its minus sign: the loss is -log sigmoid(beta * margin), which is >= 0"
)
DPO_SUM = "a sum over the batch: return the mean"
DPO_DIVIDED = (
    "the log-probabilities divided (log pi / log pi_ref): a log-ratio is a difference, log pi - log pi_ref"
)
DPO_NO_REFERENCE = (
    "the reference left out: DPO compares the policy's log-probabilities with the reference's, "
    "(log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l))"
)

PPO_MAX = (
    "max instead of min in the clipped objective: take the pessimistic (smaller) of rho * A and "
    "clip(rho) * A, then negate the mean to get a loss"
)
PPO_SIGN = "the objective, not the loss: PPO *maximises* mean(min(...)), so the loss is its negative"
PPO_NO_CLIP = "no clipping: the clipped term clip(rho, 1 - clip, 1 + clip) * A is missing from the min"
PPO_RATIO_INVERTED = "the ratio inverted: rho = exp(logp_new - logp_old) = pi_new / pi_old"
PPO_NO_EXP = "the log-ratio used as the ratio: rho = exp(logp_new - logp_old)"
PPO_CLIP_ADVANTAGE = (
    "the advantage clipped instead of the ratio: the clipped term is clip(rho, 1 - clip, 1 + clip) * A"
)
PPO_FIXED_CLIP = "the clip argument ignored (0.2 written in): clip the ratio to [1 - clip, 1 + clip]"
PPO_SUM = "a sum over the batch: return the mean, -mean(min(rho A, clip(rho) A))"
PPO_LOG_DIVIDED = (
    "the log-probabilities divided (logp_new / logp_old): the ratio of probabilities is "
    "exp(logp_new - logp_old)"
)

GAE_FORWARD = (
    "advantages not reversed through time: accumulate A_t = delta_t + gamma * lam * A_{t+1} from the *last* "
    "step back to the first"
)
GAE_TD = (
    "one-step TD errors only: A_t = delta_t + gamma * lam * A_{t+1} also adds the discounted later errors"
)
GAE_NO_LAMBDA = "lam left out: later errors are discounted by gamma * lam, not by gamma alone"
GAE_RETURNS = "returns instead of advantages (A_t + V(s_t)): return the advantages only"
GAE_NO_BOOTSTRAP = (
    "the last value ignored: delta_{T-1} = r_{T-1} + gamma * values[T] - values[T-1] uses values[T]"
)
GAE_DELTA_SIGN = "a TD error with the wrong sign for the values: delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)"
GAE_NOT_FLIPPED = (
    "advantages listed backwards in time order: the loop runs from the last step to the first, so "
    "reverse what you collected (or write A[t] into its own index)"
)
GAE_NO_GAMMA = "gamma left out of the TD error: delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)"


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(8)


def _scalar(got, what: str, case: str) -> None:
    if isinstance(got, torch.Tensor) and got.dim() != 0:
        raise CheckFailed(
            f"your {what} for {case} should be one number (the mean over the batch), got shape {tuple(got.shape)}"
        )


@lab_check("check_bradley_terry_loss")
def check_bradley_terry_loss(bradley_terry_loss: Callable) -> None:
    """``bradley_terry_loss(r_chosen[B], r_rejected[B])`` -> mean of -log sigmoid(r_chosen - r_rejected)."""
    g = _generator()
    cases = [
        ("8 random pairs", torch.randn(8, generator=g), torch.randn(8, generator=g)),
        ("chosen clearly ahead", torch.randn(5, generator=g) + 3, torch.randn(5, generator=g)),
        (
            "very large gaps (numerical stability)",
            torch.tensor([60.0, -60.0, 0.0]),
            torch.tensor([-60.0, 60.0, 0.0]),
        ),
    ]
    for case, r_w, r_l in cases:
        expected = reference_bradley_terry_loss(r_w, r_l)
        got = call(bradley_terry_loss, r_w.clone(), r_l.clone(), case=case)
        _scalar(got, "loss", case)
        mistakes = {
            BT_SWAPPED: -F.logsigmoid(r_l - r_w).mean(),
            BT_NO_LOG: -torch.sigmoid(r_w - r_l).mean(),
            BT_SUM: -F.logsigmoid(r_w - r_l).sum(),
            BT_PLUS: -F.logsigmoid(r_w + r_l).mean(),
            BT_NO_MINUS: F.logsigmoid(r_w - r_l).mean(),
            BT_NO_SIGMOID: -(r_w - r_l).mean(),
        }
        expect_close(got, expected, what="loss", case=case, mistakes=mistakes)
    r_w = torch.randn(4, generator=g, requires_grad=True)
    got = call(bradley_terry_loss, r_w, torch.zeros(4), case="rewards that require grad")
    expect_true(
        isinstance(got, torch.Tensor) and got.requires_grad,
        "your loss does not carry gradients (did you use .item(), .detach() or torch.no_grad()?)",
    )


@lab_check("check_dpo_loss")
def check_dpo_loss(dpo_loss: Callable) -> None:
    """``dpo_loss(pi_w, pi_l, ref_w, ref_l, beta)`` -> mean of -log sigmoid(beta * margin)."""
    g = _generator()

    def logps(n: int) -> torch.Tensor:
        return -5 * torch.rand(n, generator=g) - 1  # log-probabilities of whole replies: negative

    cases = [
        ("8 pairs, beta = 0.1", *(logps(8) for _ in range(4)), 0.1),
        ("6 pairs, beta = 0.5", *(logps(6) for _ in range(4)), 0.5),
        ("policy far from the reference, beta = 2", logps(5) + 3, logps(5) - 3, logps(5), logps(5), 2.0),
    ]
    for case, pw, pl, rw, rl, beta in cases:
        expected = reference_dpo_loss(pw, pl, rw, rl, beta)
        got = call(dpo_loss, pw.clone(), pl.clone(), rw.clone(), rl.clone(), beta, case=case)
        _scalar(got, "loss", case)
        margin = (pw - rw) - (pl - rl)
        mistakes = {
            DPO_SWAPPED: -F.logsigmoid(-beta * margin).mean(),
            DPO_BETA_OUTSIDE: -beta * F.logsigmoid(margin).mean(),
            DPO_NO_BETA: -F.logsigmoid(margin).mean(),
            DPO_NO_REFERENCE: -F.logsigmoid(beta * (pw - pl)).mean(),
            DPO_NO_MINUS: F.logsigmoid(beta * margin).mean(),
            DPO_SUM: -F.logsigmoid(beta * margin).sum(),
            DPO_DIVIDED: -F.logsigmoid(beta * (pw / rw - pl / rl)).mean(),
        }
        expect_close(got, expected, what="loss", case=case, mistakes=mistakes)


@lab_check("check_ppo_clip_loss")
def check_ppo_clip_loss(ppo_clip_loss: Callable) -> None:
    """``ppo_clip_loss(logp_new[B], logp_old[B], advantages[B], clip=0.2)`` -> -mean(min(rho A, clip(rho) A))."""
    g = _generator()
    cases = []
    for case, n, spread, clip in (
        ("ratios near 1", 10, 0.05, 0.2),
        ("ratios far from 1 (clipping matters)", 12, 0.8, 0.2),
        ("clip = 0.1", 12, 0.5, 0.1),
    ):
        old = -3 * torch.rand(n, generator=g)
        new = old + spread * torch.randn(n, generator=g)
        advantages = torch.randn(n, generator=g)
        cases.append((case, new, old, advantages, clip))
    for case, new, old, adv, clip in cases:
        expected = reference_ppo_clip_loss(new, old, adv, clip)
        got = call(ppo_clip_loss, new.clone(), old.clone(), adv.clone(), clip=clip, case=case)
        _scalar(got, "loss", case)
        ratio = torch.exp(new - old)
        clipped = ratio.clamp(1 - clip, 1 + clip) * adv
        inverted = torch.exp(old - new)
        no_exp = new - old
        mistakes = {
            PPO_MAX: -torch.maximum(ratio * adv, clipped).mean(),
            PPO_SIGN: torch.minimum(ratio * adv, clipped).mean(),
            PPO_NO_CLIP: -(ratio * adv).mean(),
            PPO_CLIP_ADVANTAGE: -torch.minimum(ratio * adv, ratio * adv.clamp(1 - clip, 1 + clip)).mean(),
            PPO_SUM: -torch.minimum(ratio * adv, clipped).sum(),
            PPO_RATIO_INVERTED: -torch.minimum(
                inverted * adv, inverted.clamp(1 - clip, 1 + clip) * adv
            ).mean(),
            PPO_NO_EXP: -torch.minimum(no_exp * adv, no_exp.clamp(1 - clip, 1 + clip) * adv).mean(),
            PPO_LOG_DIVIDED: -torch.minimum(
                (new / old) * adv, (new / old).clamp(1 - clip, 1 + clip) * adv
            ).mean(),
        }
        if clip != 0.2:
            mistakes[PPO_FIXED_CLIP] = reference_ppo_clip_loss(new, old, adv, 0.2)
        expect_close(got, expected, what="loss", case=case, mistakes=mistakes)
    new = torch.zeros(4, requires_grad=True)
    got = call(ppo_clip_loss, new, torch.zeros(4), torch.ones(4), case="logp_new that requires grad")
    expect_true(
        isinstance(got, torch.Tensor) and got.requires_grad,
        "your loss does not carry gradients to logp_new (did you detach it?)",
    )


def _gae_loop(
    rewards,
    values,
    gamma,
    lam,
    *,
    forward=False,
    lam_on=True,
    bootstrap=True,
    gamma_in_delta=True,
    delta_sign=1.0,
):
    T = rewards.shape[-1]
    next_values = values[1:].clone()
    if not bootstrap:
        next_values[-1] = 0.0
    deltas = rewards + delta_sign * ((gamma if gamma_in_delta else 1.0) * next_values - values[:-1])
    decay = gamma * lam if lam_on else gamma
    out = torch.zeros(T)
    running = torch.tensor(0.0)
    steps = range(T) if forward else reversed(range(T))
    for t in steps:
        running = deltas[t] + decay * running
        out[t] = running
    return out


@lab_check("check_gae")
def check_gae(gae: Callable) -> None:
    """``gae(rewards[T], values[T + 1], gamma, lam)`` -> advantages ``[T]``."""
    g = _generator()
    cases = [
        ("T = 5, gamma = 1, lam = 0.95", torch.randn(5, generator=g), torch.randn(6, generator=g), 1.0, 0.95),
        ("T = 8, gamma = 0.9, lam = 0.8", torch.randn(8, generator=g), torch.randn(9, generator=g), 0.9, 0.8),
        (
            "a reward at the last step only",
            torch.tensor([0.0, 0.0, 0.0, 2.0]),
            torch.tensor([0.1, 0.5, 0.2, 0.9, 0.7]),
            0.99,
            0.9,
        ),
    ]
    for case, rewards, values, gamma, lam in cases:
        expected = reference_gae(rewards, values, gamma, lam)
        got = call(gae, rewards.clone(), values.clone(), gamma, lam, case=case)
        deltas = rewards + gamma * values[1:] - values[:-1]
        mistakes = {
            GAE_FORWARD: _gae_loop(rewards, values, gamma, lam, forward=True),
            GAE_TD: deltas,
            GAE_NO_LAMBDA: _gae_loop(rewards, values, gamma, lam, lam_on=False),
            GAE_RETURNS: expected + values[:-1],
            GAE_NO_BOOTSTRAP: _gae_loop(rewards, values, gamma, lam, bootstrap=False),
            GAE_NO_GAMMA: _gae_loop(rewards, values, gamma, lam, gamma_in_delta=False),
            GAE_DELTA_SIGN: _gae_loop(rewards, values, gamma, lam, delta_sign=-1.0),
            GAE_NOT_FLIPPED: expected.flip(0),
        }
        expect_close(got, expected, what="advantages", case=case, mistakes=mistakes)
