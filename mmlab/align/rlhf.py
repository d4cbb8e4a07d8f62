"""Chapter 08's recipes (jobs ``reward``, ``dpo``, ``ppo``): align chapter 07's chat model to
preferences.

Each job starts from the SFT model: ``base=DIR`` (a folder written by ``python -m mmlab.train sft --out
DIR``), or trained here first as the chapter does (:func:`~mmlab.align.instruction_tuning.train_sft_model`),
and from the preference pairs ``make_preferences(n_pairs, n_held_out_pairs)``. ``reward`` trains a
Bradley-Terry reward model and ``dpo`` tunes the policy with DPO, each one Trainer run built by the
same functions the chapter calls (:func:`~mmlab.align.reward.prepare_reward_training`,
:func:`~mmlab.align.dpo.prepare_dpo_training`). ``ppo`` has its own rollout loop
(:func:`~mmlab.align.ppo.train_ppo`: a run job, one process, no checkpoints) against a reward model
(``reward=DIR`` from the ``reward`` job, or trained here first).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load_model
from torch import nn

from mmlab.align.dpo import DPOConfig, prepare_dpo_training
from mmlab.align.instruction_tuning import SFTSettings, train_sft_model
from mmlab.align.ppo import PPOConfig, kl_to_reference, rollout, train_ppo, win_rate
from mmlab.align.reward import (
    RewardConfig,
    RewardModel,
    prepare_reward_training,
    reward_loss,
    train_reward_model,
)
from mmlab.align.sft import encode_conversations, make_sft_conversations
from mmlab.data.chat import WordTokenizer, chat_tokenizer, make_instructions
from mmlab.data.preferences import ground_truth_reward, make_preferences
from mmlab.models.gpt import GPT, GPTConfig
from mmlab.recipes.base import Job, Recipe, RunSettings, Settings, trainer_config
from mmlab.train.runs import read_run
from mmlab.train.trainer import TrainConfig

__all__ = [
    "DPO_RECIPE",
    "PPO_RECIPE",
    "REWARD_RECIPE",
    "DPOSettings",
    "PPOSetup",
    "PPOSettings",
    "RewardSettings",
    "build_dpo",
    "build_reward",
    "load_reward_model",
    "load_sft_model",
    "prepare_ppo",
    "run_ppo",
]


@dataclass(repr=False)
class Chapter08Base(Settings):
    """What every chapter-08 job starts from: the SFT model (``base``: a run folder; None: train
    chapter 07's recipe here with ``sft_*`` settings) and the preference pairs."""

    base: str | None = None
    sft_pretrain_steps: int = 100
    sft_steps: int = 1000
    sft_conversations: int = 4000
    seed: int = 0
    n_pairs: int = 2000
    n_held_out_pairs: int = 400


BASE_GPU = dict(n_pairs=50000, n_held_out_pairs=2000)


@dataclass(repr=False)
class RewardSettings(Chapter08Base, TrainConfig):
    """Chapter 08's reward model (its ``REWARD``)."""

    batch_size: int = 32
    max_steps: int = 150
    lr: float = 2e-3
    warmup_steps: int = 10
    log_every: int = 10
    device: str | None = "cpu"  # the models are tiny: the CPU is the fast place for them

    def reward_config(self) -> RewardConfig:
        return RewardConfig(steps=self.max_steps, batch_size=self.batch_size, lr=self.lr)


@dataclass(repr=False)
class DPOSettings(RewardSettings):
    """Chapter 08's DPO run (its ``DPO``), from the same SFT model and pairs as the reward model."""

    beta: float = 0.5  # strength of the pull to the reference
    nll_weight: float = 1.0  # weight of the SFT loss on the chosen replies (0: plain DPO)
    max_steps: int = 80
    lr: float = 1e-3

    def dpo_config(self) -> DPOConfig:
        return DPOConfig(
            beta=self.beta,
            steps=self.max_steps,
            batch_size=self.batch_size,
            lr=self.lr,
            nll_weight=self.nll_weight,
        )


PPO_FIELDS = tuple(f.name for f in dataclasses.fields(PPOConfig))


@dataclass(repr=False)
class PPOSettings(Chapter08Base, RunSettings, PPOConfig):
    """Chapter 08's PPO run (its ``PPO``) against its reward model, with InstructGPT's PPO-ptx term
    (``ptx_coef``: SFT loss on demonstrations). PPO runs on the CPU, where its tiny models are
    fastest; ``progress`` shows a progress bar."""

    reward: str | None = None  # a folder from `python -m mmlab.train reward --out DIR`; None: train one here
    reward_steps: int = 150
    reward_batch_size: int = 32
    reward_lr: float = 2e-3
    # the rest of PPOConfig's fields keep its defaults; the chapter's recommended setting differs in two
    beta: float = 1.0
    ptx_coef: float = 1.0
    ptx_demos: int = 2000  # SFT conversations on the training prompts (seed + 1) for the ptx term

    def ppo_config(self) -> PPOConfig:
        return PPOConfig(**{name: getattr(self, name) for name in PPO_FIELDS})

    def reward_config(self) -> RewardConfig:
        return RewardConfig(steps=self.reward_steps, batch_size=self.reward_batch_size, lr=self.reward_lr)


REWARD_GPU = dict(
    **BASE_GPU, batch_size=256, max_steps=2000, lr=1e-3, warmup_steps=100, eval_every=500, device=None
)
DPO_GPU = {**REWARD_GPU, "lr": 5e-4}
# PPO runs in one process (its rollout loop is not the Trainer's): more iterations, bigger batches; the
# model is the base's. There is no multi-gpu variant.
PPO_GPU = dict(iterations=200, batch_size=256, minibatches=4, reward_steps=1000)
MULTI_GPU = dict(batch_size=32)


def _gpt_from(config: dict[str, Any]) -> GPT:
    fields = {f.name for f in dataclasses.fields(GPTConfig)}
    return GPT(GPTConfig(**{k: v for k, v in config.items() if k in fields}))


def load_sft_model(path: str) -> GPT:
    """The chat GPT saved by ``python -m mmlab.train sft --out DIR`` (or by a ``dpo``/``ppo`` run,
    whose policies are the same GPT), rebuilt from ``DIR/run.json`` and ``DIR/model.safetensors``."""
    folder, run = read_run(path, ("sft", "dpo", "ppo"))
    model = _gpt_from(run["model_config"])
    load_model(model, str(folder / "model.safetensors"))
    return model.eval()


def load_reward_model(path: str) -> RewardModel:
    """The reward model saved by ``python -m mmlab.train reward --out DIR``."""
    folder, run = read_run(path, ("reward",))
    model = RewardModel(_gpt_from(run["model_config"]))
    load_model(model, str(folder / "model.safetensors"))
    return model.eval()


def _sft_base(s: Chapter08Base) -> tuple[GPT, WordTokenizer, dict]:
    """(SFT model, tokenizer, instructions): loaded from ``base`` when given, otherwise trained here
    the way chapter 08 does (cached per process, so jobs in one process share it)."""
    if s.base:
        return load_sft_model(s.base), chat_tokenizer(), make_instructions(seed=0)
    sft_settings = SFTSettings(
        pretrain_steps=s.sft_pretrain_steps, max_steps=s.sft_steps, n_conversations=s.sft_conversations
    )
    sft = train_sft_model(seed=s.seed, settings=sft_settings)
    return sft.model, sft.tokenizer, sft.instructions


def build_reward(s: RewardSettings) -> Job:
    """A Bradley-Terry reward model from the SFT model's body; it evaluates the held-out pairwise accuracy."""
    base, tokenizer, _ = _sft_base(s)
    prefs = make_preferences(s.n_pairs, s.n_held_out_pairs, seed=s.seed)
    model, train, held = prepare_reward_training(
        base, tokenizer, prefs["train"], prefs["held_out"], s.batch_size, s.seed
    )
    return Job(model, reward_loss, train, held, trainer_config(s))


def build_dpo(s: DPOSettings) -> Job:
    """DPO on the preference pairs, the SFT model as the frozen reference."""
    reference, tokenizer, _ = _sft_base(s)
    prefs = make_preferences(s.n_pairs, s.n_held_out_pairs, seed=s.seed)
    policy, loss_fn, train, held = prepare_dpo_training(
        reference, tokenizer, prefs["train"], prefs["held_out"], s.beta, s.batch_size, s.seed, s.nll_weight
    )
    return Job(policy, loss_fn, train, held, trainer_config(s))


@dataclass
class PPOSetup:
    """What PPO needs before its loop: the SFT model (policy start and frozen reference), the
    reward model, the tokenizer, the train and held-out prompts, the PPO settings and the SFT
    demonstrations ``(ids, roles)`` of the ptx term."""

    sft: nn.Module
    reward_model: nn.Module
    tokenizer: WordTokenizer
    train_prompts: list[str]
    held_prompts: list[str]
    config: PPOConfig
    demos: tuple[torch.Tensor, torch.Tensor]


def prepare_ppo(s: PPOSettings) -> PPOSetup:
    """The SFT model (``base=DIR`` or trained here) and the reward model (``reward=DIR`` or trained
    here on the preference pairs, as chapter 08 does) for a PPO run with ``s``."""
    sft, tokenizer, instructions = _sft_base(s)
    if s.reward:
        reward_model = load_reward_model(s.reward)
    else:
        prefs = make_preferences(s.n_pairs, s.n_held_out_pairs, seed=s.seed)
        reward_model, _ = train_reward_model(
            sft, tokenizer, prefs["train"], None, s.reward_config(), seed=s.seed
        )
    return PPOSetup(
        sft,
        reward_model,
        tokenizer,
        sorted({item.prompt for item in instructions["train"]}),
        [item.prompt for item in instructions["held_out"]],
        s.ppo_config(),
        # as chapter 08: SFT conversations on the training prompts (seed + 1) for PPO-ptx
        encode_conversations(
            make_sft_conversations(instructions["train"], s.ptx_demos, seed=s.seed + 1),
            tokenizer,
            sft.config.block_size,
        ),
    )


def run_ppo(s: PPOSettings) -> tuple[nn.Module, dict[str, float]]:
    """PPO with a KL penalty to the SFT model, against the reward model. Returns the tuned policy and
    the held-out evaluation: ground-truth reward, KL to the SFT model per reply and win rate against it."""
    if s.device not in (None, "cpu"):
        raise ValueError(
            f"ppo runs on the CPU (its rollouts and tiny models are fastest there), got device={s.device!r}"
        )
    setup = prepare_ppo(s)
    sft, tokenizer, held = setup.sft, setup.tokenizer, setup.held_prompts
    policy, logs = train_ppo(
        sft,
        setup.reward_model,
        tokenizer,
        setup.train_prompts,
        setup.config,
        ground_truth_reward,
        seed=s.seed,
        demos=setup.demos,
        progress=s.progress,
    )
    replies = rollout(policy, tokenizer, held, generator=torch.Generator().manual_seed(s.seed + 1)).replies
    metrics = {
        "iteration": setup.config.iterations,
        "score": logs[-1]["score"],
        "ground_truth": sum(map(ground_truth_reward, replies)) / len(replies),
        "kl": kl_to_reference(policy, sft, tokenizer, held, seed=s.seed + 1),
        "win_rate": win_rate(policy, sft, tokenizer, held, ground_truth_reward, seed=s.seed + 2),
    }
    return policy, metrics


REWARD_RECIPE = Recipe("reward", "08_rlhf_dpo", RewardSettings, REWARD_GPU, MULTI_GPU, build=build_reward)
DPO_RECIPE = Recipe("dpo", "08_rlhf_dpo", DPOSettings, DPO_GPU, MULTI_GPU, build=build_dpo)
PPO_RECIPE = Recipe("ppo", "08_rlhf_dpo", PPOSettings, PPO_GPU, run=run_ppo)
