"""Chapter 02's recipe (job ``lstm``): an LSTM over packed sequences classifies generated sentiment
sentences."""

from __future__ import annotations

from dataclasses import dataclass

from mmlab.data.text import Vocab, make_loader, make_sentiment_set, tokenize
from mmlab.models.sequence import RNNClassifier, RNNConfig, sequence_classification_loss
from mmlab.recipes.base import Job, Recipe, Settings, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = ["LSTMSettings", "RECIPE", "build"]


@dataclass(repr=False)
class LSTMSettings(Settings, TrainConfig):
    """Chapter 02's LSTM run."""

    n_train: int = 4000
    n_test: int = 1000
    min_count: int = 2  # words seen fewer times are <unk>
    unk_rate: float = 0.1  # training words replaced by <unk> at random
    d_model: int = 32  # word vectors
    hidden: int = 64  # the LSTM's state
    num_layers: int = 1
    batch_size: int = 64
    max_steps: int = 400
    lr: float = 3e-3


GPU = dict(
    n_train=100000,
    n_test=10000,
    d_model=128,
    hidden=256,
    num_layers=2,
    batch_size=256,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=200,
    eval_every=500,
)
MULTI_GPU = dict(batch_size=32)


def build(s: LSTMSettings) -> Job:
    train, test = make_sentiment_set(n_train=s.n_train, n_test=s.n_test, seed=0)
    vocab = Vocab.build([tokenize(t, punctuation=True) for t in train.texts], min_count=s.min_count)
    train_loader = make_loader(
        train.texts, train.labels, vocab, s.batch_size, shuffle=True, unk_rate=s.unk_rate
    )
    test_loader = make_loader(test.texts, test.labels, vocab, 256)
    config = RNNConfig(len(vocab), s.d_model, hidden=s.hidden, num_layers=s.num_layers, cell="lstm")
    return Job(
        RNNClassifier(config), sequence_classification_loss, train_loader, test_loader, trainer_config(s)
    )


RECIPE = Recipe(
    "lstm",
    "02_embeddings_sequence_models",
    LSTMSettings,
    GPU,
    MULTI_GPU,
    build=build,
    aliases={"dim": "d_model"},
)
