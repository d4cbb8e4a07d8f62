"""The bag-of-words classifier and the generated topic sentences."""

import pytest
import torch
from torch.utils.data import DataLoader

from mmlab.data.toy_text import (
    TEST_TEMPLATES,
    TOPICS,
    TRAIN_TEMPLATES,
    TopicVocab,
    load_topics,
    make_topic_sentences,
)
from mmlab.losses import cross_entropy
from mmlab.models.bow import BoWClassifier, BoWConfig
from mmlab.train.trainer import TrainConfig, Trainer


def test_forward_is_the_mean_of_word_vectors_through_the_head():
    model = BoWClassifier(BoWConfig(vocab_size=10, num_classes=3, embed_dim=4, unk_id=1))
    ids = torch.tensor([[2, 3, 1, 0, 0], [4, 4, 4, 0, 0]])  # padding (0) and unknown (1) are skipped
    expected = torch.stack([model.embed.weight[[2, 3]].mean(0), model.embed.weight[4]])
    torch.testing.assert_close(model(ids), model.head(expected), atol=1e-6, rtol=1e-6)
    assert model(ids).shape == (2, 3)


def test_order_does_not_matter():
    model = BoWClassifier(BoWConfig(vocab_size=10, num_classes=3))
    torch.testing.assert_close(model(torch.tensor([[2, 5, 7]])), model(torch.tensor([[7, 2, 5]])))


def test_bad_config_and_input():
    with pytest.raises(ValueError):
        BoWConfig(vocab_size=10, num_classes=1)
    with pytest.raises(ValueError, match="pad_id"):
        BoWConfig(vocab_size=10, num_classes=2, pad_id=10)
    with pytest.raises(ValueError, match="shape"):
        BoWClassifier(BoWConfig(vocab_size=10, num_classes=2))(torch.tensor([1, 2]))


def test_sentences_are_balanced_deterministic_and_splits_use_different_templates():
    texts, labels = make_topic_sentences(400, "train", seed=3)
    assert (texts, labels) == make_topic_sentences(400, "train", seed=3)
    assert sorted(set(labels)) == list(range(len(TOPICS))) and labels.count(0) == 100
    frames = lambda templates: {t.split("{a}")[0] for t in templates}
    assert not frames(TRAIN_TEMPLATES) & frames(TEST_TEMPLATES)
    test_texts, _ = make_topic_sentences(100, "test", seed=3)
    assert all(any(t.startswith(f) for f in frames(TEST_TEMPLATES)) for t in test_texts)


def test_vocab_round_trip_and_padding():
    vocab = TopicVocab.build(["the goal", "the rain"])
    ids = vocab.encode_batch(["the goal", "rain", "unseen words"])
    assert ids.shape == (3, 2) and ids[1, 1] == vocab.pad_id and ids[2, 0] == vocab.unk_id
    assert vocab.decode(ids[0]) == "the goal"


def test_trains_to_high_held_out_accuracy():
    data = load_topics(n_train=800, n_test=200, seed=0)
    model = BoWClassifier(
        BoWConfig(len(data.vocab), len(data.classes), embed_dim=16, unk_id=data.vocab.unk_id)
    )

    def loss_fn(model, batch):
        ids, y = batch
        logits = model(ids)
        return cross_entropy(logits, y), {"accuracy": (logits.argmax(-1) == y).float().mean()}

    trainer = Trainer(
        model,
        loss_fn,
        DataLoader(data.train, batch_size=32, shuffle=True),
        DataLoader(data.test, batch_size=200),
        TrainConfig(max_steps=200, lr=1e-2, progress=False, device="cpu"),
    )
    history = trainer.fit()
    assert history.last("accuracy") > 0.9
