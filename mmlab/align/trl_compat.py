"""The same reward model and DPO through TRL (trl 1.x), offline, for comparison with ours.

TRL works with ``transformers`` models and tokenizers, so the course's model and tokenizer are
first saved as a local folder (:func:`save_for_transformers`): the GPT as a ``GPT2LMHeadModel``
(:func:`~mmlab.models.gpt.export_to_gpt2`), the word tokenizer as a fast tokenizer whose
end-of-sequence token is the end-of-turn newline. Everything then loads from that folder, so
nothing is downloaded, and ``DPOTrainer`` gets an explicit ``ref_model`` loaded from it.

trl 1.x traps handled here: its configs default to ``bf16=True`` and
``gradient_checkpointing=True`` (both off here; transformers 5 calls the latter
``activation_checkpointing``), and they log to installed trackers unless ``report_to="none"``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mmlab.align.sft import prompt_text
from mmlab.data.chat import WordTokenizer
from mmlab.data.preferences import PreferencePair
from mmlab.models.gpt import GPT, export_to_gpt2

__all__ = [
    "hf_replies",
    "preference_dataset",
    "save_for_transformers",
    "trl_dpo",
    "trl_reward_model",
    "trl_reward_accuracy",
]

COMMON = dict(
    bf16=False,
    fp16=False,
    activation_checkpointing=False,  # transformers 5's name; trl's gradient_checkpointing=True is its deprecated alias
    report_to="none",
    use_cpu=True,
    save_strategy="no",
    logging_strategy="no",
    disable_tqdm=True,
    dataloader_num_workers=0,
    seed=0,
)


def save_for_transformers(model: GPT, tokenizer: WordTokenizer, folder: str | Path) -> Path:
    """Write ``model`` (as GPT-2) and ``tokenizer`` (as a fast tokenizer) to ``folder``."""
    _quiet()
    folder = Path(folder)
    hf_tokenizer = tokenizer.to_transformers()
    export_to_gpt2(model, folder, bos_token_id=tokenizer.eot_id, eos_token_id=tokenizer.eot_id)
    hf_tokenizer.save_pretrained(folder)
    # pad with <pad>, not with the end-of-turn token export_to_gpt2 uses by default
    from transformers import GPT2Config

    config = GPT2Config.from_pretrained(folder)
    config.pad_token_id = tokenizer.pad_id
    config.save_pretrained(folder)
    return folder


def preference_dataset(pairs: Sequence[PreferencePair]):
    """A ``datasets.Dataset`` in TRL's explicit-prompt format: the rendered prompt (ending in
    ``"A:"``) and each reply with its leading space and closing newline, so that
    ``prompt + chosen`` is exactly the conversation our models read."""
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "prompt": [prompt_text(p.prompt) for p in pairs],
            "chosen": [f" {p.chosen}\n" for p in pairs],
            "rejected": [f" {p.rejected}\n" for p in pairs],
        }
    )


def _quiet() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import warnings

    import datasets
    from transformers.utils import logging

    warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    datasets.disable_progress_bars()


def _silence(trainer: Any) -> None:
    """No per-step log printing (transformers prints logs when its progress bar is off)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def _run_config(
    config: type, prefix: str, output_dir: str | None, steps: int, batch_size: int, lr: float, **extra: Any
) -> Any:
    """TRL's ``config`` (``RewardConfig``, ``DPOConfig``) for one of our short CPU runs: ``steps``
    steps of ``batch_size`` pairs at ``lr`` with a cosine schedule after 10 warmup steps, no length
    cut, into ``output_dir`` (default: a new temporary folder named ``prefix...``)."""
    return config(
        output_dir=output_dir or tempfile.mkdtemp(prefix=prefix),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=lr,
        lr_scheduler_type="cosine",
        warmup_steps=10,
        max_length=None,
        **extra,
        **COMMON,
    )


def trl_reward_model(
    folder: str | Path,
    train_pairs: Sequence[PreferencePair],
    steps: int = 100,
    batch_size: int = 32,
    lr: float = 2e-3,
    output_dir: str | None = None,
):
    """Train ``GPT2ForSequenceClassification`` (``num_labels=1``, body from ``folder``) with TRL's
    ``RewardTrainer``; returns the trained model."""
    _quiet()
    from transformers import AutoTokenizer, GPT2ForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = GPT2ForSequenceClassification.from_pretrained(folder, num_labels=1)
    args = _run_config(RewardConfig, "mmlab-trl-rm-", output_dir, steps, batch_size, lr)
    trainer = RewardTrainer(
        model=model, args=args, train_dataset=preference_dataset(train_pairs), processing_class=tokenizer
    )
    _silence(trainer)
    trainer.train()
    return trainer.model.eval()


@torch.no_grad()
def trl_reward_accuracy(model: Any, folder: str | Path, pairs: Sequence[PreferencePair]) -> float:
    """Held-out pairwise accuracy of a ``GPT2ForSequenceClassification`` reward model."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    data = preference_dataset(pairs)

    def rewards(key: str) -> torch.Tensor:
        texts = [p + c for p, c in zip(data["prompt"], data[key])]
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        return model(**batch).logits.squeeze(-1)

    return float((rewards("chosen") > rewards("rejected")).float().mean())


def trl_dpo(
    folder: str | Path,
    train_pairs: Sequence[PreferencePair],
    beta: float = 0.1,
    steps: int = 100,
    batch_size: int = 32,
    lr: float = 1e-3,
    output_dir: str | None = None,
):
    """DPO with TRL's ``DPOTrainer``: policy and (frozen) reference both loaded from ``folder``;
    returns the trained ``GPT2LMHeadModel``."""
    _quiet()
    from transformers import AutoTokenizer, GPT2LMHeadModel
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = GPT2LMHeadModel.from_pretrained(folder)
    reference = GPT2LMHeadModel.from_pretrained(folder)  # explicit: never rebuilt from a hub name
    args = _run_config(DPOConfig, "mmlab-trl-dpo-", output_dir, steps, batch_size, lr, beta=beta)
    trainer = DPOTrainer(
        model=model,
        ref_model=reference,
        args=args,
        train_dataset=preference_dataset(train_pairs),
        processing_class=tokenizer,
    )
    _silence(trainer)
    trainer.train()
    return trainer.model.eval()


@torch.no_grad()
def hf_replies(
    model: Any, tokenizer: WordTokenizer, prompts: Sequence[str], max_new_tokens: int = 8, seed: int = 0
) -> list[str]:
    """Sampled replies (temperature 1) of a ``transformers`` causal LM to user prompts, decoded with
    our tokenizer (same ids), cut at the end-of-turn token."""
    torch.manual_seed(seed)
    encoded = [tokenizer.encode(prompt_text(p)) for p in prompts]
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)  # equal lengths: a batch needs no padding
    replies = [""] * len(prompts)
    for length, rows in sorted(by_length.items()):
        ids = torch.tensor([encoded[i] for i in rows])
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            top_k=0,
            max_new_tokens=max_new_tokens,
            eos_token_id=tokenizer.eot_id,
            pad_token_id=tokenizer.pad_id,
        )
        for i, row in zip(rows, out[:, length:].tolist()):
            row = row[: row.index(tokenizer.eot_id)] if tokenizer.eot_id in row else row
            replies[i] = tokenizer.decode(row)
    return replies
