"""Direct preference optimisation (DPO): learn from preference pairs without a reward model or RL (chapter 08).

The policy that maximises ``reward - beta * KL(pi || pi_ref)`` is
``pi*(y|x) ∝ pi_ref(y|x) exp(r(x, y) / beta)``, so a policy defines an *implicit reward*
``r(x, y) = beta * log(pi(y|x) / pi_ref(y|x))`` (up to a term in x only, which cancels in a
pair). Putting it into the Bradley-Terry loss gives DPO:

    L = -log sigmoid( beta * [(log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x))] )

with ``y_w`` the chosen and ``y_l`` the rejected reply, and ``log pi(y|x)`` the sum of the reply's
token log-probabilities. The reference's log-probabilities never change, so they are computed
once before training.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlab.align.sft import assistant_loss_mask, encode_conversations
from mmlab.data.chat import WordTokenizer
from mmlab.data.preferences import PreferencePair
from mmlab.models.gpt import GPT
from mmlab.train.trainer import History, TrainConfig, Trainer

__all__ = [
    "DPOConfig",
    "dpo_batch_loss",
    "dpo_loss",
    "dpo_metrics",
    "prepare_dpo_training",
    "sequence_logprob",
    "train_dpo",
]


def dpo_loss(
    policy_chosen_logp: torch.Tensor,
    policy_rejected_logp: torch.Tensor,
    ref_chosen_logp: torch.Tensor,
    ref_rejected_logp: torch.Tensor,
    beta: float = 0.1,
) -> torch.Tensor:
    """The mean DPO loss over a batch of pairs (each argument ``(B,)``: summed reply log-probs)."""
    logits = (policy_chosen_logp - ref_chosen_logp) - (policy_rejected_logp - ref_rejected_logp)
    return -F.logsigmoid(beta * logits).mean()


def dpo_metrics(
    policy_chosen_logp: torch.Tensor,
    policy_rejected_logp: torch.Tensor,
    ref_chosen_logp: torch.Tensor,
    ref_rejected_logp: torch.Tensor,
    beta: float = 0.1,
) -> dict[str, torch.Tensor]:
    """Implicit rewards ``beta * log(pi / pi_ref)`` of both replies, how often the chosen one's is
    higher (``accuracy``) and by how much on average (``margin``)."""
    chosen = beta * (policy_chosen_logp - ref_chosen_logp)
    rejected = beta * (policy_rejected_logp - ref_rejected_logp)
    return {
        "reward_chosen": chosen.mean(),
        "reward_rejected": rejected.mean(),
        "accuracy": (chosen > rejected).float().mean(),
        "margin": (chosen - rejected).mean(),
    }


def sequence_logprob(model: nn.Module, ids: torch.Tensor, roles: torch.Tensor) -> torch.Tensor:
    """``log pi(reply | prompt)`` ``(B,)``: the sum of log-probabilities of the assistant's tokens."""
    logits = model(ids[:, :-1])  # (B, L-1, V)
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, L-1)
    return (logp * assistant_loss_mask(roles[:, 1:])).sum(-1)


def dpo_batch_loss(model: nn.Module, batch, beta: float = 0.1, nll_weight: float = 0.0):
    """The Trainer's loss on a batch ``(ids_w, roles_w, ids_l, roles_l, ref_w, ref_l)`` (chosen and
    rejected conversations, the reference's log-probabilities of both): DPO, plus ``nll_weight``
    times the per-token SFT loss on the chosen replies (0: plain DPO). Also returns the metrics of
    :func:`dpo_metrics`."""
    ids_w, roles_w, ids_l, roles_l, ref_w, ref_l = batch
    pol_w, pol_l = sequence_logprob(model, ids_w, roles_w), sequence_logprob(model, ids_l, roles_l)
    metrics = dpo_metrics(pol_w, pol_l, ref_w, ref_l, beta)
    loss = dpo_loss(pol_w, pol_l, ref_w, ref_l, beta)
    if nll_weight:
        tokens = assistant_loss_mask(roles_w[:, 1:]).sum(-1).clamp_min(1)  # (B,)
        loss = loss - nll_weight * (pol_w / tokens).mean()
    return loss, {k: v.detach() for k, v in metrics.items()}


@dataclass
class DPOConfig:
    """DPO settings: ``beta`` (strength of the pull to the reference), steps, batch size, rate, and
    ``nll_weight``: the weight of the SFT loss on the chosen replies added to DPO's (0: plain DPO;
    a positive weight keeps the chosen replies, and their right answers, likely; TRL's
    ``rpo_alpha``)."""

    beta: float = 0.5
    steps: int = 80
    batch_size: int = 32
    lr: float = 1e-3
    nll_weight: float = 1.0


def _encode(pairs: Sequence[PreferencePair], tokenizer: WordTokenizer, block: int):
    chosen = encode_conversations([p.instruction.messages(p.chosen) for p in pairs], tokenizer, block)
    rejected = encode_conversations([p.instruction.messages(p.rejected) for p in pairs], tokenizer, block)
    return (*chosen, *rejected)


def prepare_dpo_training(
    sft_model: GPT,
    tokenizer: WordTokenizer,
    train_pairs: Sequence[PreferencePair],
    eval_pairs: Sequence[PreferencePair] | None,
    beta: float,
    batch_size: int,
    seed: int = 0,
    nll_weight: float = 0.0,
):
    """``(policy, loss_fn, train batches, held-out batches)`` for DPO: the policy is a copy of
    ``sft_model``, the loss :func:`dpo_batch_loss` (``beta``, ``nll_weight``). The frozen reference
    (``sft_model`` itself) is only needed for its log-probabilities of each reply, which never
    change: they are computed once here and ride along in the batches. What :func:`train_dpo` and
    the ``dpo`` job train."""
    torch.manual_seed(seed)
    block = sft_model.config.block_size
    reference = sft_model.eval()

    def with_reference(pairs):
        ids_w, roles_w, ids_l, roles_l = _encode(pairs, tokenizer, block)
        with torch.no_grad():
            ref_w, ref_l = (
                sequence_logprob(reference, ids_w, roles_w),
                sequence_logprob(reference, ids_l, roles_l),
            )
        return TensorDataset(ids_w, roles_w, ids_l, roles_l, ref_w, ref_l)

    policy = copy.deepcopy(sft_model).train()
    train = DataLoader(
        with_reference(train_pairs), batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    held = DataLoader(with_reference(eval_pairs), 512) if eval_pairs else None
    return policy, partial(dpo_batch_loss, beta=beta, nll_weight=nll_weight), train, held


def train_dpo(
    sft_model: GPT,
    tokenizer: WordTokenizer,
    train_pairs: Sequence[PreferencePair],
    eval_pairs: Sequence[PreferencePair] | None = None,
    config: DPOConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[GPT, History]:
    """Tune a copy of ``sft_model`` with DPO (:func:`prepare_dpo_training`); the history logs the
    implicit-reward accuracy and margin."""
    config = config or DPOConfig()
    policy, loss_fn, train, held = prepare_dpo_training(
        sft_model, tokenizer, train_pairs, eval_pairs, config.beta, config.batch_size, seed, config.nll_weight
    )
    train_config = TrainConfig(
        max_steps=config.steps, lr=config.lr, warmup_steps=10, progress=progress, device="cpu", log_every=10
    )
    history = Trainer(policy, loss_fn, train, held, train_config).fit()
    return policy.eval(), history
