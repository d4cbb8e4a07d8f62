"""Chapter 03's recipe (job ``sort``): a Transformer encoder sorts the letters of a word."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import DataLoader

from mmlab.data.synthetic import LetterTokenizer, SequenceTask, make_task
from mmlab.models.encoder import EncoderClassifier, EncoderConfig, token_classification_loss
from mmlab.models.transformer import TransformerConfig
from mmlab.recipes.base import Job, Recipe, Settings, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = ["RECIPE", "SortSettings", "build", "sort_config", "sort_data"]


@dataclass(repr=False)
class SortSettings(Settings, TrainConfig):
    """Chapter 03's config cell."""

    n_train: int = 20000
    n_test: int = 2000
    max_len: int = 8  # longest word (in letters) the model sorts
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    batch_size: int = 64
    max_steps: int = 600
    lr: float = 3e-3
    warmup_steps: int = 50
    eval_every: int = 100


GPU = dict(
    n_train=200000,
    n_test=5000,
    max_len=16,
    d_model=256,
    n_heads=8,
    n_layers=4,
    batch_size=256,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=200,
    eval_every=500,
)
MULTI_GPU = dict(batch_size=32)


def sort_data(s: SortSettings) -> tuple[LetterTokenizer, SequenceTask, SequenceTask]:
    """The tokenizer and the generated words (2 to ``s.max_len`` letters) to train and to test on."""
    tokenizer = LetterTokenizer()
    train = make_task("sort", s.n_train, tokenizer.vocab_size, 2, s.max_len, seed=1)
    test = make_task("sort", s.n_test, tokenizer.vocab_size, 2, s.max_len, seed=2)
    return tokenizer, train, test


def sort_config(s: SortSettings, vocab_size: int) -> EncoderConfig:
    """The encoder these settings describe: one letter class per position over ``vocab_size`` ids."""
    transformer = TransformerConfig(
        d_model=s.d_model, n_heads=s.n_heads, n_layers=s.n_layers, max_len=s.max_len
    )
    return EncoderConfig(vocab_size, vocab_size, transformer=transformer)


def build(s: SortSettings) -> Job:
    tokenizer, train, test = sort_data(s)
    model = EncoderClassifier(sort_config(s, tokenizer.vocab_size))
    train_loader = DataLoader(train.dataset(), batch_size=s.batch_size, shuffle=True)
    test_loader = DataLoader(test.dataset(), batch_size=500)
    return Job(model, token_classification_loss, train_loader, test_loader, trainer_config(s))


RECIPE = Recipe("sort", "03_attention_transformer", SortSettings, GPU, MULTI_GPU, build=build)
