"""Chapter 04's recipe (job ``bert``; chapter 05 reuses its model): pretrain the mini-BERT on the offline
corpus: WordPiece tokenizer, MLM + NSP data, the course Trainer, and held-out evaluation against baselines.

Chapter 04 walks through these steps one by one and then calls :func:`pretrain_mini_bert`;
chapter 05 calls the same function (with the same seed it rebuilds the same model, or loads the copy
chapter 04 saved in the course cache, :func:`mmlab.cache.cache_dir`), so no notebook depends on
another having run first. The cache is written atomically and guarded by a file lock, so two
notebooks running at once train it only once.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock
from torch import nn
from torch.utils.data import DataLoader

from mmlab.data.mlm import IGNORE_INDEX, MLMCollator, encode_pairs, make_nsp_pairs, pydoc_documents
from mmlab.data.wordpiece import load_wordpiece, train_wordpiece
from mmlab.device import seed_everything
from mmlab.models.bert import BertConfig, BertForPreTraining
from mmlab.recipes.base import Job, Recipe, Settings, trainer_config
from mmlab.train.trainer import History, TrainConfig, Trainer

__all__ = [
    "RECIPE",
    "PretrainConfig",
    "PretrainResult",
    "PretrainingData",
    "build",
    "build_pretraining_data",
    "evaluate_pretraining",
    "mlm_nsp_loss",
    "pretrain_mini_bert",
    "bigram_baseline",
    "unigram_baseline",
]


METRICS = ("mlm_accuracy", "nsp_accuracy", "unigram_accuracy", "bigram_accuracy")


@dataclass(repr=False)
class PretrainConfig(Settings, TrainConfig):
    """Everything that decides the pretrained mini-BERT (same config + seed = same model): chapter 04's
    config cell, and the ``bert`` job's cpu preset.

    Attributes:
        vocab_size: WordPiece vocabulary. d_model, n_heads, n_layers: the model's shape.
        max_len: longest pair ``[CLS] A [SEP] B [SEP]`` in tokens. sentences_per_segment: sentences
            in each of A and B. pair_samplings: how many times the random B segments of the
            training pairs are drawn (each with its own seed): fresh negatives keep NSP from
            memorising the few thousand pairs of a small corpus.
        heldout_every: every N-th document (topic) is held out for evaluation, never trained on.
        max_steps, batch_size, lr, warmup_steps: the optimisation (the rest of TrainConfig too). dropout: BERT's is 0.1; a run of a
            few hundred steps on a tiny model learns faster without it.
        seed: seeds the pairs, the masks and the initialisation.
    """

    vocab_size: int = 2000
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    max_len: int = 64
    sentences_per_segment: int = 2
    pair_samplings: int = 4
    heldout_every: int = 10
    max_steps: int = 600
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 30
    eval_every: int = 150
    log_every: int = 15
    dropout: float = 0.0
    seed: int = 0

    def bert(self, vocab_size: int) -> BertConfig:
        return BertConfig(
            vocab_size=vocab_size,
            d_model=self.d_model,
            n_heads=self.n_heads,
            n_layers=self.n_layers,
            max_len=self.max_len,
            dropout=self.dropout,
        )


@dataclass
class PretrainingData:
    """The tokenizer, encoded training pairs and fixed (pre-masked) held-out batches."""

    tokenizer: Any
    train_examples: list[dict]
    eval_batches: list[dict[str, torch.Tensor]]
    collator: MLMCollator


def build_pretraining_data(config: PretrainConfig) -> PretrainingData:
    """Split the pydoc documents, train WordPiece on the training ones, build NSP pairs and
    encode them; mask the held-out pairs once, so every evaluation sees the same masks."""
    documents = pydoc_documents()
    train_docs = [d for i, d in enumerate(documents) if i % config.heldout_every != 0]
    heldout_docs = [d for i, d in enumerate(documents) if i % config.heldout_every == 0]
    tokenizer = train_wordpiece([s for doc in train_docs for s in doc], vocab_size=config.vocab_size)
    train_pairs = [
        pair
        for k in range(config.pair_samplings)
        for pair in make_nsp_pairs(
            train_docs, seed=config.seed + 100 * k, sentences_per_segment=config.sentences_per_segment
        )
    ]
    train_examples = encode_pairs(tokenizer, train_pairs, config.max_len)
    heldout_pairs = [
        pair
        for k in range(config.pair_samplings)
        for pair in make_nsp_pairs(
            heldout_docs, seed=config.seed + 1 + 100 * k, sentences_per_segment=config.sentences_per_segment
        )
    ]  # several draws of the random B segments: a larger (if correlated) held-out NSP set
    heldout = encode_pairs(tokenizer, heldout_pairs, config.max_len)
    fixed = MLMCollator(tokenizer, seed=config.seed + 2)
    eval_batches = [fixed(heldout[i : i + 64]) for i in range(0, len(heldout), 64)]
    return PretrainingData(tokenizer, train_examples, eval_batches, MLMCollator(tokenizer, seed=config.seed))


def mlm_nsp_loss(model: nn.Module, batch: dict[str, torch.Tensor]):
    """The pretraining loss (MLM + NSP) and both accuracies, for :class:`mmlab.train.Trainer`."""
    out = model(**batch, only_labelled=True)  # mlm_logits (N, V) at the N chosen positions
    targets = batch["labels"][batch["labels"] != IGNORE_INDEX]  # (N,)
    mlm_accuracy = (out.mlm_logits.argmax(-1) == targets).float().mean()
    nsp_accuracy = (out.nsp_logits.argmax(-1) == batch["next_sentence_label"]).float().mean()
    return out.loss, {
        "mlm_loss": out.mlm_loss.detach(),
        "nsp_loss": out.nsp_loss.detach(),
        "mlm_accuracy": mlm_accuracy,
        "nsp_accuracy": nsp_accuracy,
    }


@torch.no_grad()
def evaluate_pretraining(model: nn.Module, batches: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    """MLM accuracy over all chosen tokens (token-weighted) and NSP accuracy over all pairs."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    mlm_right = mlm_total = nsp_right = nsp_total = 0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(**{k: v for k, v in batch.items() if k not in ("labels", "next_sentence_label")})
        chosen = batch["labels"] != IGNORE_INDEX
        mlm_right += int((out.mlm_logits.argmax(-1)[chosen] == batch["labels"][chosen]).sum())
        mlm_total += int(chosen.sum())
        nsp_right += int((out.nsp_logits.argmax(-1) == batch["next_sentence_label"]).sum())
        nsp_total += len(batch["next_sentence_label"])
    model.train(was_training)
    return {"mlm_accuracy": mlm_right / mlm_total, "nsp_accuracy": nsp_right / nsp_total}


def unigram_baseline(
    train_examples: list[dict], eval_batches: list[dict[str, torch.Tensor]], tokenizer
) -> dict:
    """The best context-free guess: always predict the most frequent (non-special) training token.
    Returns that token and its accuracy on the held-out masked positions."""
    special = set(tokenizer.all_special_ids)
    counts = Counter(t for e in train_examples for t in e["input_ids"] if t not in special)
    top_id = counts.most_common(1)[0][0]
    right = sum(int((b["labels"] == top_id).sum()) for b in eval_batches)
    total = sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in eval_batches)
    return {"token": tokenizer.convert_ids_to_tokens(top_id), "accuracy": right / total}


def bigram_baseline(
    train_examples: list[dict], eval_batches: list[dict[str, torch.Tensor]], tokenizer
) -> dict:
    """A guess from the left neighbour: at each masked position, the token that most often follows
    the token just before it in the training pairs (the left neighbour as the model sees it, so a
    ``[MASK]`` neighbour gets the unigram guess, as does a neighbour never seen in training).

    Returns ``accuracy`` on the held-out masked positions and ``right``, a list of ``(B, T)`` bool
    tensors (one per batch) marking the positions it gets right.
    """
    special = set(tokenizer.all_special_ids) - {tokenizer.cls_token_id}  # [CLS] starts a sentence
    follows: dict[int, Counter] = {}
    unigram: Counter = Counter()
    for e in train_examples:
        ids = e["input_ids"]
        unigram.update(t for t in ids if t not in special and t != tokenizer.cls_token_id)
        for prev, nxt in zip(ids, ids[1:]):
            if nxt not in special and nxt != tokenizer.cls_token_id:
                follows.setdefault(prev, Counter())[nxt] += 1
    top_id = unigram.most_common(1)[0][0]
    best = {prev: counts.most_common(1)[0][0] for prev, counts in follows.items()}
    right_masks, right, total = [], 0, 0
    for b in eval_batches:
        left = torch.cat([b["input_ids"][:, :1], b["input_ids"][:, :-1]], dim=1)  # (B, T) left neighbours
        guess = left.clone().apply_(lambda t: best.get(t, top_id))  # (B, T)
        chosen = b["labels"] != IGNORE_INDEX
        hit = chosen & (guess == b["labels"])
        right_masks.append(hit)
        right += int(hit.sum())
        total += int(chosen.sum())
    return {"accuracy": right / total, "right": right_masks}


@dataclass
class PretrainResult:
    """The pretrained model and everything measured about it."""

    model: BertForPreTraining
    tokenizer: Any
    history: History
    metrics: dict[str, float]
    config: PretrainConfig
    data: PretrainingData | None = field(default=None, repr=False)
    loaded_from: str | None = None


def build(config: PretrainConfig, data: PretrainingData | None = None) -> Job:
    """The mini-BERT, its MLM + NSP loss, the shuffled training pairs (seeded by ``config.seed``) and
    the fixed held-out batches: what :func:`pretrain_mini_bert` and the ``bert`` job train."""
    data = data or build_pretraining_data(config)
    seed_everything(config.seed)
    model = BertForPreTraining(config.bert(len(data.tokenizer)))
    generator = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(
        data.train_examples,
        batch_size=config.batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=data.collator,
    )
    return Job(model, mlm_nsp_loss, loader, data.eval_batches, trainer_config(config))


def pretrain_mini_bert(
    config: PretrainConfig | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    data: PretrainingData | None = None,
) -> PretrainResult:
    """Pretrain the mini-BERT with MLM + NSP; return model, tokenizer, history and held-out metrics.

    Args:
        config: what to train (default :class:`PretrainConfig`).
        cache_dir: a folder for the result. If it holds a model trained with the same config, that
            model is loaded instead of training; otherwise the new one is written there.
        progress: show the Trainer's progress bar.
        data: the output of :func:`build_pretraining_data` for this config, if already built.

    The metrics are ``mlm_accuracy`` and ``nsp_accuracy`` on the held-out documents, and two
    baselines on the same masked positions: ``unigram_accuracy`` (always the most frequent training
    token) and ``bigram_accuracy`` (the most frequent follower of the left neighbour).
    """
    config = config or PretrainConfig()
    if cache_dir is None:
        return _pretrain(config, progress, data)
    folder = Path(cache_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # One lock per cache folder: when two notebooks (chapters 04 and 05 on two CI workers) ask for
    # the same model at once, the first trains and saves it, the second waits and loads the copy.
    with FileLock(f"{folder}.lock"):
        cached = _load_cached(folder, config)
        if cached is not None:
            return cached
        result = _pretrain(config, progress, data)
        _save_cached(folder, result)
    return result


def _pretrain(config: PretrainConfig, progress: bool, data: PretrainingData | None) -> PretrainResult:
    seed_everything(config.seed)
    data = data or build_pretraining_data(config)
    job = build(config, data)
    device = "cpu" if not torch.cuda.is_available() else None
    history = Trainer(
        job.model,
        job.loss_fn,
        job.train_loader,
        job.eval_loader,
        replace(job.config, device=device, progress=progress),
    ).fit()
    model = job.model
    metrics = evaluate_pretraining(model, data.eval_batches)
    unigram = unigram_baseline(data.train_examples, data.eval_batches, data.tokenizer)
    bigram = bigram_baseline(data.train_examples, data.eval_batches, data.tokenizer)
    metrics.update(unigram_accuracy=unigram["accuracy"], bigram_accuracy=bigram["accuracy"])
    model.eval()
    return PretrainResult(model, data.tokenizer, history, metrics, config, data)


CACHE_VERSION = 2  # 2: WordPiece trained in a fixed merge order (a cache from before is retrained)


def _cache_key(config: PretrainConfig) -> dict[str, Any]:
    """What decides the model (not where it ran or how it reported), as JSON would read it back."""
    key = {k: v for k, v in asdict(config).items() if k not in ("device", "progress", "live_plot")}
    return json.loads(json.dumps({**key, "cache_version": CACHE_VERSION}))


def _load_cached(folder: Path, config: PretrainConfig) -> PretrainResult | None:
    try:
        saved = json.loads((folder / "pretrain.json").read_text())
        if saved["config"] != _cache_key(config) or set(saved["metrics"]) != set(METRICS):
            return None  # another config, or written by a version that measured other things
        tokenizer = load_wordpiece(folder / "tokenizer")
        model = BertForPreTraining(BertConfig(**saved["bert"]))
        model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    except (OSError, KeyError, ValueError, RuntimeError):
        return None  # absent, partial or from another version: train instead
    history = History(train=saved["history"]["train"], eval=saved["history"]["eval"])
    return PretrainResult(model.eval(), tokenizer, history, saved["metrics"], config, None, str(folder))


def _save_cached(folder: Path, result: PretrainResult) -> None:
    # Write into a private folder, then rename: a notebook reading the cache at the same time
    # sees either the old complete copy or the new complete copy, never half of one.
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    result.tokenizer.save_pretrained(str(tmp / "tokenizer"))
    torch.save(result.model.state_dict(), tmp / "model.pt")
    record = {
        "config": _cache_key(result.config),
        "bert": asdict(result.model.config),
        "metrics": result.metrics,
        "history": {"train": result.history.train, "eval": result.history.eval},
    }
    (tmp / "pretrain.json").write_text(json.dumps(record))
    shutil.rmtree(folder, ignore_errors=True)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process saved it first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)


GPU = dict(
    vocab_size=8000,
    d_model=256,
    n_heads=4,
    n_layers=4,
    max_len=128,
    dropout=0.1,
    batch_size=128,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=200,
    eval_every=500,
    log_every=50,
)
MULTI_GPU = dict(batch_size=16)
RECIPE = Recipe(
    "bert", "04_bert_pretraining", PretrainConfig, GPU, MULTI_GPU, build=build, aliases={"steps": "max_steps"}
)
