"""PPO from scratch: a language model tuned to please a reward model, held near where it started (chapter 08).

One iteration:

1. **Rollouts.** Sample a reply to each of a batch of prompts from the current policy.
2. **Rewards.** The reward model scores each whole reply once (``score``); every token also pays
   for moving away from the frozen reference (the SFT model):

       r_t = -beta * (log pi(y_t | s_t) - log pi_ref(y_t | s_t)) + [t is the last token] * score

   Summed over a reply, the penalty is ``beta`` times a sample of KL(pi || pi_ref).
3. **Advantages** with a value head ``V(s_t)`` and generalised advantage estimation (GAE):

       delta_t = r_t + gamma * V(s_{t+1}) - V(s_t),   A_t = sum_k (gamma * lam)^k delta_{t+k}

4. **Several epochs** of the clipped objective on these (now fixed) samples, with
   ``rho_t = pi(y_t | s_t) / pi_old(y_t | s_t)``:

       L = -mean( min(rho_t * A_t, clip(rho_t, 1 - eps, 1 + eps) * A_t) ) + c_v * mean((V - R)^2)

   where ``R_t = A_t + V(s_t)``. The ``min`` keeps the pessimistic of the two, so moving ``rho``
   outside ``[1 - eps, 1 + eps]`` never pays: that is what lets PPO reuse a batch safely.

Logged per iteration: the reward model's score, the ground truth (if a function is given), the KL
to the reference, the entropy, the fraction of clipped ratios and the value loss.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mmlab.align.reward import RewardModel
from mmlab.align.sft import continue_prompts, prompt_text, sft_loss
from mmlab.data.chat import WordTokenizer
from mmlab.models.gpt import GPT

__all__ = [
    "PPOConfig",
    "PolicyWithValue",
    "Rollout",
    "gae",
    "kl_to_reference",
    "ppo_clip_loss",
    "rollout",
    "train_ppo",
    "win_rate",
]


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float = 1.0, lam: float = 0.95) -> torch.Tensor:
    """Generalised advantage estimates ``(..., T)`` from ``rewards`` ``(..., T)`` and ``values``
    ``(..., T + 1)`` (the last one is the value after the final step: 0 when the episode ended).

    Steps after a reply's end should carry reward 0 and value 0: they then add nothing.
    """
    if values.shape[-1] != rewards.shape[-1] + 1 or values.shape[:-1] != rewards.shape[:-1]:
        raise ValueError(
            f"values must be (..., T + 1) for rewards (..., T): got {tuple(values.shape)}, {tuple(rewards.shape)}"
        )
    deltas = rewards + gamma * values[..., 1:] - values[..., :-1]  # (..., T)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[..., 0])
    for t in reversed(range(rewards.shape[-1])):  # back through time: A_t = delta_t + gamma lam A_{t+1}
        running = deltas[..., t] + gamma * lam * running
        advantages[..., t] = running
    return advantages


def ppo_clip_loss(
    logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, clip: float = 0.2
) -> torch.Tensor:
    """The clipped surrogate, as a loss to minimise: ``-mean(min(rho A, clip(rho) A))``."""
    ratio = torch.exp(logp_new - logp_old)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * advantages
    return -torch.minimum(unclipped, clipped).mean()


class PolicyWithValue(nn.Module):
    """The policy GPT plus a value head on its hidden states (one body, two heads)."""

    def __init__(self, policy: GPT) -> None:
        super().__init__()
        self.policy = policy
        self.value_head = nn.Linear(policy.config.n_embd, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B, T, V)`` and values ``(B, T)``."""
        hidden = self.policy.transformer(self.policy.tok_emb(ids))  # (B, T, C)
        return self.policy.lm_head(hidden), self.value_head(hidden.detach()).squeeze(-1)


@dataclass
class Rollout:
    """A batch of sampled replies. ``ids`` ``(B, L)`` are prompt + reply, right-padded; reply
    token ``j`` of row ``b`` sits at ``ids[b, start[b] + j]`` for ``j < length[b]``."""

    ids: torch.Tensor
    start: torch.Tensor
    length: torch.Tensor
    prompts: list[str]
    replies: list[str]

    @property
    def mask(self) -> torch.Tensor:  # (B, Tr): True on real reply tokens
        steps = torch.arange(int(self.length.max()))
        return steps[None, :] < self.length[:, None]

    def positions(self) -> torch.Tensor:  # (B, Tr): where each reply token is predicted (its index - 1)
        steps = torch.arange(int(self.length.max()))
        index = self.start[:, None] - 1 + steps[None, :]
        return index.clamp(max=self.ids.size(1) - 2)


def _reply_logp(logits: torch.Tensor, roll: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities ``(B, Tr)`` of the sampled reply tokens and the entropies there."""
    pos = roll.positions()
    picked = logits.gather(1, pos[..., None].expand(-1, -1, logits.size(-1)))  # (B, Tr, V)
    logp_all = F.log_softmax(picked.float(), dim=-1)
    targets = roll.ids.gather(1, pos + 1)  # (B, Tr)
    logp = logp_all.gather(-1, targets[..., None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


@torch.no_grad()
def rollout(
    policy: GPT,
    tokenizer: WordTokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 8,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Rollout:
    """Sample one reply per user prompt (the end-of-turn token included when produced); prompt and
    reply fit in the policy's block, so the PPO updates can read them whole."""
    stop = tokenizer.eot_id
    encoded = [tokenizer.encode(prompt_text(p)) for p in prompts]
    replies_ids = continue_prompts(
        policy, encoded, max_new_tokens, stop, policy.config.block_size, generator, temperature=temperature
    )
    sequences = [e + r for e, r in zip(encoded, replies_ids)]
    lengths = [len(r) for r in replies_ids]
    width = max(len(s) for s in sequences)
    ids = torch.full((len(prompts), width), tokenizer.pad_id, dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = torch.tensor(seq)
    start = torch.tensor([len(e) for e in encoded])
    replies = [tokenizer.decode([t for t in s[len(e) :] if t != stop]) for s, e in zip(sequences, encoded)]
    return Rollout(ids, start, torch.tensor(lengths), list(prompts), replies)


@dataclass
class PPOConfig:
    """PPO settings (sized for a CPU: a few seconds per beta).

    Attributes:
        beta: weight of the KL penalty to the reference. iterations: rollout + update rounds.
        batch_size: prompts per rollout. ppo_epochs, minibatches: passes over each rollout.
        lr: Adam learning rate. clip: epsilon of the clipped ratio. gamma, lam: GAE discount and
        smoothing. vf_coef: weight of the value loss. ent_coef: entropy bonus (0: none).
        max_new_tokens: longest reply. whiten: normalise advantages per batch.
        ptx_coef: weight of InstructGPT's "PPO-ptx" term, the SFT loss on demonstrations (``demos``
        of :func:`train_ppo`) added to every update; 0: plain PPO.
    """

    beta: float = 0.1
    iterations: int = 25
    batch_size: int = 64
    ppo_epochs: int = 4
    minibatches: int = 2
    lr: float = 1e-3
    clip: float = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_new_tokens: int = 8
    whiten: bool = True
    ptx_coef: float = 0.0


def _whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = x[mask].mean()
    std = x[mask].std().clamp_min(1e-6)
    return ((x - mean) / std) * mask


def train_ppo(
    sft_model: GPT,
    reward_model: RewardModel,
    tokenizer: WordTokenizer,
    prompts: Sequence[str],
    config: PPOConfig | None = None,
    ground_truth: Callable[[str], float] | None = None,
    seed: int = 0,
    demos: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: bool = True,
) -> tuple[GPT, list[dict[str, float]]]:
    """Tune a copy of ``sft_model`` with PPO against ``reward_model``; the reference is ``sft_model``
    itself (frozen). Returns the tuned policy and one log row per iteration (``progress``: a
    progress bar showing the latest score and KL).

    With ``config.ptx_coef > 0``, ``demos`` are SFT conversations ``(ids, roles)`` (from
    :func:`~mmlab.align.sft.encode_conversations`): each update also minimises ``ptx_coef`` times
    the SFT loss on a random batch of them, which keeps what SFT taught (here: the answers) while
    PPO changes the style."""
    config = config or PPOConfig()
    if config.ptx_coef and demos is None:
        raise ValueError("ptx_coef > 0 needs demos: SFT conversations (ids, roles) to keep training on")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    reference = sft_model.eval()
    agent = PolicyWithValue(copy.deepcopy(sft_model))
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.lr)
    reward_model.eval()
    logs = []
    bar = tqdm(range(config.iterations), desc="ppo", disable=not progress)
    for iteration in bar:
        batch_prompts = [rng.choice(prompts) for _ in range(config.batch_size)]
        roll = rollout(agent.policy, tokenizer, batch_prompts, config.max_new_tokens, generator=generator)
        mask = roll.mask  # (B, Tr)
        with torch.no_grad():
            logits, values_all = agent(roll.ids)
            logp_old, entropy = _reply_logp(logits, roll)  # (B, Tr)
            logp_ref, _ = _reply_logp(reference(roll.ids), roll)
            values = values_all.gather(1, roll.positions()) * mask  # V(s_t), (B, Tr)
            score = reward_model(roll.ids, roll.start + roll.length)  # (B,)
            kl = (logp_old - logp_ref) * mask  # per-token sample of KL(pi || ref)
            rewards = -config.beta * kl
            last = (roll.length - 1).clamp_min(0)
            rewards[torch.arange(len(last)), last] += score
            advantages = gae(rewards, F.pad(values, (0, 1)), config.gamma, config.lam) * mask
            returns = advantages + values
            if config.whiten:
                advantages = _whiten(advantages, mask)
        stats: dict[str, list[float]] = {"clip_frac": [], "value_loss": [], "policy_loss": []}
        order = torch.arange(config.batch_size)
        for _ in range(config.ppo_epochs):
            order = order[torch.randperm(config.batch_size, generator=generator)]
            for chunk in order.chunk(config.minibatches):
                sub = Rollout(roll.ids[chunk], roll.start[chunk], roll.length[chunk], [], [])
                width = int(sub.length.max())
                m = mask[chunk, :width]
                logits, values_new = agent(sub.ids)
                logp_new, ent = _reply_logp(logits, sub)
                v_new = values_new.gather(1, sub.positions())
                policy_loss = ppo_clip_loss(
                    logp_new[m], logp_old[chunk, :width][m], advantages[chunk, :width][m], config.clip
                )
                value_loss = ((v_new - returns[chunk, :width]) ** 2)[m].mean()
                loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * ent[m].mean()
                if config.ptx_coef:
                    rows = torch.randint(len(demos[0]), (len(chunk),), generator=generator)
                    loss = (
                        loss + config.ptx_coef * sft_loss(agent.policy, (demos[0][rows], demos[1][rows]))[0]
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), 1.0)
                optimizer.step()
                ratio = torch.exp(logp_new[m] - logp_old[chunk, :width][m]).detach()
                stats["clip_frac"].append(float(((ratio - 1).abs() > config.clip).float().mean()))
                stats["value_loss"].append(float(value_loss.detach()))
                stats["policy_loss"].append(float(policy_loss.detach()))
        row = {
            "iteration": iteration + 1,
            "score": float(score.mean()),
            "kl": float(kl.sum(1).mean()),
            "entropy": float(entropy[mask].mean()),
            "length": float(roll.length.float().mean()),
            **{k: sum(v) / len(v) for k, v in stats.items()},
        }
        if ground_truth is not None:
            row["ground_truth"] = sum(ground_truth(r) for r in roll.replies) / len(roll.replies)
        logs.append(row)
        bar.set_postfix(score=f"{row['score']:.3f}", kl=f"{row['kl']:.3f}")
    return agent.policy.eval(), logs


@torch.no_grad()
def kl_to_reference(
    policy: GPT,
    reference: GPT,
    tokenizer: WordTokenizer,
    prompts: Sequence[str],
    seed: int = 0,
    max_new_tokens: int = 8,
) -> float:
    """Mean over prompts of the sampled KL(pi || pi_ref) of a whole reply: replies are sampled from
    ``policy`` and ``sum_t log pi(y_t) - log pi_ref(y_t)`` is averaged (an unbiased estimate)."""
    roll = rollout(policy, tokenizer, prompts, max_new_tokens, generator=torch.Generator().manual_seed(seed))
    logp, _ = _reply_logp(policy(roll.ids), roll)
    logp_ref, _ = _reply_logp(reference(roll.ids), roll)
    return float(((logp - logp_ref) * roll.mask).sum(1).mean())


@torch.no_grad()
def win_rate(
    policy: GPT,
    baseline: GPT,
    tokenizer: WordTokenizer,
    prompts: Sequence[str],
    score: Callable[[str], float],
    seed: int = 0,
    max_new_tokens: int = 8,
) -> float:
    """Fraction of prompts where ``policy``'s sampled reply scores higher than ``baseline``'s
    (ties count one half). Both sample at temperature 1 from the same seed."""
    ours = rollout(policy, tokenizer, prompts, max_new_tokens, generator=torch.Generator().manual_seed(seed))
    theirs = rollout(
        baseline, tokenizer, prompts, max_new_tokens, generator=torch.Generator().manual_seed(seed)
    )
    wins = [
        1.0 if score(a) > score(b) else 0.5 if score(a) == score(b) else 0.0
        for a, b in zip(ours.replies, theirs.replies)
    ]
    return sum(wins) / len(wins)
