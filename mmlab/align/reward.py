"""A reward model: the GPT's body with a scalar head, trained on preference pairs (Bradley-Terry) (chapter 08).

The model reads a whole conversation (prompt and reply) and returns one number per sequence, the
head applied to the hidden state of the last token: causal attention makes that the one position
that has seen everything. Training uses the Bradley-Terry model of preferences,

    P(chosen > rejected) = sigmoid(r(x, y_w) - r(x, y_l)),   L = -log sigmoid(r_w - r_l),

where ``r_w`` and ``r_l`` are the rewards of the chosen (won) and rejected (lost) replies to the
same prompt ``x``. Only differences of rewards matter, so the scale's zero is arbitrary.

The layout is ``transformers``' ``GPT2ForSequenceClassification`` (a bias-free linear ``score``
on the last non-padding token), which the tests check to float precision.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlab.align.sft import encode_conversations
from mmlab.data.chat import PAD, WordTokenizer
from mmlab.data.preferences import PreferencePair
from mmlab.models.gpt import GPT
from mmlab.train.trainer import History, TrainConfig, Trainer

__all__ = [
    "RewardConfig",
    "RewardModel",
    "bradley_terry_loss",
    "encode_preference_pairs",
    "pairwise_accuracy",
    "prepare_reward_training",
    "reward_loss",
    "reward_margin",
    "score_conversations",
    "train_reward_model",
]


class RewardModel(nn.Module):
    """A GPT body (token embeddings + Transformer) and a linear head to one scalar."""

    def __init__(self, body: GPT) -> None:
        super().__init__()
        self.body = body
        self.score = nn.Linear(body.config.n_embd, 1, bias=False)
        nn.init.normal_(self.score.weight, std=0.02)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Rewards ``(B,)`` of right-padded sequences ``ids`` ``(B, T)`` with true ``lengths`` ``(B,)``."""
        if lengths.min() < 1 or lengths.max() > ids.size(1):
            raise ValueError(f"lengths must be in [1, {ids.size(1)}], got {lengths.tolist()}")
        hidden = self.body.transformer(self.body.tok_emb(ids))  # (B, T, C), final LayerNorm included
        last = hidden[torch.arange(ids.size(0), device=ids.device), lengths - 1]  # (B, C)
        return self.score(last).squeeze(-1)  # (B,)


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean of ``-log sigmoid(r_chosen - r_rejected)`` (``logsigmoid`` is stable for large gaps)."""
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"r_chosen {tuple(r_chosen.shape)} and r_rejected {tuple(r_rejected.shape)} differ")
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def encode_preference_pairs(pairs: Sequence[PreferencePair], tokenizer: WordTokenizer, block_size: int):
    """``(ids_chosen, len_chosen, ids_rejected, len_rejected)``: the rendered conversations."""
    out = []
    for side in ("chosen", "rejected"):
        ids, roles = encode_conversations(
            [p.instruction.messages(getattr(p, side)) for p in pairs], tokenizer, block_size
        )
        out += [ids, (roles != PAD).sum(1)]
    return tuple(out)


def reward_loss(model: RewardModel, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Bradley-Terry loss of a batch from :func:`encode_preference_pairs`, and the pairwise accuracy."""
    ids_w, len_w, ids_l, len_l = batch
    r_w, r_l = model(ids_w, len_w), model(ids_l, len_l)
    return bradley_terry_loss(r_w, r_l), {"accuracy": (r_w > r_l).float().mean().detach()}


@torch.no_grad()
def score_conversations(
    model: RewardModel, tokenizer: WordTokenizer, conversations: Sequence[Sequence[dict]]
):
    """Rewards ``(N,)`` of whole conversations (lists of messages)."""
    ids, roles = encode_conversations(conversations, tokenizer, model.body.config.block_size)
    device = next(model.parameters()).device
    return model.eval()(ids.to(device), (roles != PAD).sum(1).to(device)).cpu()


def _pair_rewards(model: RewardModel, tokenizer: WordTokenizer, pairs: Sequence[PreferencePair]):
    r_w = score_conversations(model, tokenizer, [p.instruction.messages(p.chosen) for p in pairs])
    r_l = score_conversations(model, tokenizer, [p.instruction.messages(p.rejected) for p in pairs])
    return r_w, r_l


def pairwise_accuracy(model: RewardModel, tokenizer: WordTokenizer, pairs: Sequence[PreferencePair]) -> float:
    """Fraction of pairs where the chosen reply gets the higher reward."""
    r_w, r_l = _pair_rewards(model, tokenizer, pairs)
    return float((r_w > r_l).float().mean())


def reward_margin(model: RewardModel, tokenizer: WordTokenizer, pairs: Sequence[PreferencePair]) -> float:
    """Mean reward gap ``r(chosen) - r(rejected)`` over ``pairs``: how sure the model is (a gap of
    ``m`` means ``P(chosen preferred) = sigmoid(m)`` under Bradley-Terry)."""
    r_w, r_l = _pair_rewards(model, tokenizer, pairs)
    return float((r_w - r_l).mean())


@dataclass
class RewardConfig:
    """Training settings: steps, batch size, learning rate."""

    steps: int = 150
    batch_size: int = 32
    lr: float = 2e-3


def prepare_reward_training(
    sft_model: GPT,
    tokenizer: WordTokenizer,
    train_pairs: Sequence[PreferencePair],
    eval_pairs: Sequence[PreferencePair] | None,
    batch_size: int,
    seed: int = 0,
) -> tuple[RewardModel, DataLoader, DataLoader | None]:
    """A reward model initialised from a copy of the SFT model's body (it already reads the
    template), and the shuffled (``seed``) training pairs and held-out pairs as batches for
    :func:`reward_loss`: what :func:`train_reward_model` and the ``reward`` job train."""
    torch.manual_seed(seed)  # the head's initial weights
    model = RewardModel(copy.deepcopy(sft_model)).train()
    block = sft_model.config.block_size
    train = DataLoader(
        TensorDataset(*encode_preference_pairs(train_pairs, tokenizer, block)),
        batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    held = (
        DataLoader(TensorDataset(*encode_preference_pairs(eval_pairs, tokenizer, block)), 512)
        if eval_pairs
        else None
    )
    return model, train, held


def train_reward_model(
    sft_model: GPT,
    tokenizer: WordTokenizer,
    train_pairs: Sequence[PreferencePair],
    eval_pairs: Sequence[PreferencePair] | None = None,
    config: RewardConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[RewardModel, History]:
    """:func:`prepare_reward_training`, trained with the Bradley-Terry loss for ``config.steps``."""
    config = config or RewardConfig()
    model, train, held = prepare_reward_training(
        sft_model, tokenizer, train_pairs, eval_pairs, config.batch_size, seed
    )
    train_config = TrainConfig(
        max_steps=config.steps, lr=config.lr, warmup_steps=10, progress=progress, device="cpu", log_every=10
    )
    history = Trainer(model, reward_loss, train, held, train_config).fit()
    return model.eval(), history
