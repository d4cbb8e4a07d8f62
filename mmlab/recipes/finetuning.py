"""Chapter 05's recipe (job ``finetune``): fine-tuning a pretrained `transformers` encoder for sentence
classification.

The classifier reads the encoder's pooled [CLS] vector ``u = tanh(W_p h_[CLS] + b_p)`` and maps it to
class scores ``z = W_c dropout(u) + b_c``; fine-tuning trains every weight with the cross-entropy
``-log softmax(z)_y``. This is the layout of ``transformers``' ``BertForSequenceClassification``
(its ``classifier`` is our ``head``), on any ``AutoModel`` encoder with a pooler.

Typical use::

    encoder, tokenizer = load_minilm()
    model = HFClassifier(encoder, n_classes=2)
    train_loader = sentence_loader(tokenizer, texts, labels, batch_size=16, shuffle=True)
    Trainer(model, classification_loss, train_loader, None, TrainConfig(max_steps=30, lr=1e-4)).fit()

:func:`load_text_classification` reads a labelled data set for it: a hub id (``"stanfordnlp/sst2"``,
online) or a local CSV/JSON/JSON-lines file (offline), as training and held-out :class:`LabelledTexts`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mmlab.data.text import make_sentiment_set
from mmlab.pretrained import load_minilm, load_pretrained, random_init_like
from mmlab.recipes.base import Job, Recipe, Settings, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = [
    "RECIPE",
    "FinetuneSettings",
    "HFClassifier",
    "LabelledTexts",
    "SentenceCollator",
    "build",
    "classification_loss",
    "load_text_classification",
    "predict",
    "sentence_loader",
]


class HFClassifier(nn.Module):
    """A `transformers` encoder (``AutoModel``) + dropout + a linear head on its pooled [CLS] vector."""

    def __init__(self, encoder: nn.Module, n_classes: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        if getattr(encoder, "pooler", None) is None:
            raise ValueError(
                f"{type(encoder).__name__} has no pooler: load it with AutoModel (add_pooling_layer=True)"
            )
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Class scores ``(B, n_classes)`` of token ids ``(B, T)`` (padding marked by ``attention_mask``)."""
        pooled = self.encoder(
            input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask
        ).pooler_output  # (B, C)
        return self.head(self.dropout(pooled))  # (B, n_classes)


class SentenceCollator:
    """Turns a list of example indices into a padded batch dict: ``input_ids``, ``attention_mask``,
    ``token_type_ids`` (when the tokenizer makes them) and ``labels``, each ``(B, T)`` or ``(B,)``.

    A class rather than a closure, so a ``DataLoader`` with worker processes can pickle it.
    """

    def __init__(self, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], max_length: int) -> None:
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        self.tokenizer, self.texts, self.labels, self.max_length = tokenizer, texts, labels, max_length

    def __call__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(
            [self.texts[i] for i in indices],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        batch = {k: encoded[k] for k in ("input_ids", "token_type_ids", "attention_mask") if k in encoded}
        batch["labels"] = torch.tensor([self.labels[i] for i in indices])
        return batch


def sentence_loader(
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    batch_size: int,
    shuffle: bool = False,
    max_length: int = 24,
    seed: int = 0,
) -> DataLoader:
    """Batches of tokenized ``texts`` with their ``labels``, padded to the longest in each batch.

    The loader draws indices (its dataset is ``range(len(texts))``) and tokenizes in the collate
    function; its shuffle order comes from its own generator seeded with ``seed``.
    """
    return DataLoader(
        range(len(texts)),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=SentenceCollator(tokenizer, texts, labels, max_length),
    )


def _logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"))


def classification_loss(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Cross-entropy of the classifier on a :func:`sentence_loader` batch, and its accuracy."""
    logits = _logits(model, batch)  # (B, n_classes)
    loss = F.cross_entropy(logits, batch["labels"])
    return loss, {"accuracy": (logits.argmax(-1) == batch["labels"]).float().mean()}


@torch.no_grad()
def predict(model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Predicted classes ``(N,)`` over all ``batches`` (on the model's device), in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    predictions = [_logits(model, {k: v.to(device) for k, v in b.items()}).argmax(-1).cpu() for b in batches]
    return torch.cat(predictions)


# ----------------------------------------------------------------------------- labelled data sets
TEXT_FIELDS = ("sentence", "text", "review", "content")  # tried in order when text_field is None
_FILE_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json"}


@dataclass
class LabelledTexts:
    """Sentences and their integer class labels (the shape of a split of ``make_sentiment_set``)."""

    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


def load_text_classification(
    source: str | Path,
    n_train: int | None = None,
    n_test: int | None = None,
    text_field: str | None = None,
    label_field: str = "label",
    seed: int = 0,
) -> tuple[LabelledTexts, LabelledTexts]:
    """(train, held-out) sentences with integer labels from a hub data set or a local file.

    Args:
        source: a local ``.csv``, ``.json`` or ``.jsonl`` file (offline; one row per example), or a hub id
            such as ``"stanfordnlp/sst2"`` (needs the internet and ``HF_DATASETS_OFFLINE`` unset).
        n_train, n_test: keep at most this many examples of each split (None: all).
        text_field: the column holding the text (default: the first of ``sentence``, ``text``,
            ``review``, ``content`` present). label_field: the column of integer labels.
        seed: a local file has one split: a seeded shuffle holds out ``n_test`` rows (default a fifth).

    A hub data set's ``train`` split trains and its ``validation`` split (else ``test``) is held out;
    SST-2's ``test`` split has no labels (-1), hence ``validation`` first.
    """
    import datasets

    local = Path(str(source)).expanduser()
    if local.suffix.lower() in _FILE_FORMATS:
        if not local.is_file():
            raise FileNotFoundError(f"no data file at {local}")
        rows = datasets.load_dataset(
            _FILE_FORMATS[local.suffix.lower()], data_files=str(local), split="train"
        )
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
        held = n_test if n_test is not None else max(1, len(rows) // 5)
        if held >= len(rows):
            raise ValueError(
                f"{local} has {len(rows)} rows: too few to hold out {held} and train on the rest"
            )
        test_rows, train_rows = rows.select(order[:held]), rows.select(order[held:])
    else:
        try:
            splits = datasets.load_dataset(str(source))
        except Exception as err:  # offline, unknown id, no access: one clear message
            raise OSError(
                f"could not load the data set {str(source)!r}: a hub id needs the internet (and "
                "HF_DATASETS_OFFLINE unset); offline, pass a local .csv/.json/.jsonl file"
            ) from err
        held_name = next((name for name in ("validation", "test") if name in splits), None)
        if "train" not in splits or held_name is None:
            raise ValueError(
                f"{source!r} needs a train split and a validation or test split; it has {list(splits)}"
            )
        train_rows, test_rows = splits["train"], splits[held_name]
    columns = train_rows.column_names
    text_field = text_field or next((name for name in TEXT_FIELDS if name in columns), None)
    if text_field not in columns or label_field not in columns:
        raise KeyError(
            f"{source!s} has columns {columns}; name the text and label columns with text_field= and label_field="
        )

    def take(rows, limit: int | None) -> LabelledTexts:
        rows = rows.select(range(min(limit, len(rows)))) if limit is not None else rows
        return LabelledTexts([str(t) for t in rows[text_field]], [int(y) for y in rows[label_field]])

    return take(train_rows, n_train), take(test_rows, n_test)


@dataclass(repr=False)
class FinetuneSettings(Settings, TrainConfig):
    """Chapter 05's config cell: its MiniLM run (the mini-BERT rows have their own steps and rates there).

    ``model`` is ``None`` for the offline MiniLM, or a folder or hub id for ``from_pretrained``
    (``"bert-base-uncased"`` downloads on first use). ``pretrained=False`` trains the same network
    from random weights: the chapter's control for what pretraining is worth. ``dataset`` is ``None``
    for the generated sentiment set, or a hub id (``stanfordnlp/sst2``) or a local CSV/JSON file read
    by :func:`load_text_classification`.
    """

    model: str | None = None
    dataset: str | None = None
    pretrained: bool = True
    seed: int = 0
    n_train: int = 800
    n_test: int = 200
    max_len: int = 24  # tokens; the longest generated sentence is shorter
    dropout: float = 0.1
    batch_size: int = 16
    max_steps: int = 20
    lr: float = 2e-4
    warmup_steps: int = 2  # a tenth of the steps
    schedule: str = "linear"


GPU = dict(
    model="bert-base-uncased",  # downloads once: needs the internet
    n_train=20000,
    n_test=2000,
    max_len=64,
    batch_size=64,
    max_steps=1000,
    lr=3e-5,
    warmup_steps=100,
    eval_every=200,
)
MULTI_GPU = dict(batch_size=8)


def build(s: FinetuneSettings) -> Job:
    encoder, tokenizer = load_pretrained(s.model) if s.model else load_minilm()
    if not s.pretrained:
        encoder = random_init_like(encoder, seed=s.seed)
    if s.dataset:  # a hub id (e.g. stanfordnlp/sst2) or a local .csv/.json/.jsonl file
        train, test = load_text_classification(s.dataset, s.n_train, s.n_test)
    else:
        train, test = make_sentiment_set(n_train=s.n_train, n_test=s.n_test, seed=0)
    model = HFClassifier(encoder, n_classes=max(2, max(train.labels) + 1), dropout=s.dropout)
    train_loader = sentence_loader(
        tokenizer, train.texts, train.labels, s.batch_size, shuffle=True, max_length=s.max_len
    )
    test_loader = sentence_loader(tokenizer, test.texts, test.labels, 100, max_length=s.max_len)
    return Job(model, classification_loss, train_loader, test_loader, trainer_config(s))


RECIPE = Recipe("finetune", "05_bert_finetuning", FinetuneSettings, GPU, MULTI_GPU, build=build)
