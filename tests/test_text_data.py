"""Tests for mmlab.data.text: tokenizer, vocabulary, corpora, generated sets and batching."""

import pytest
import torch

from mmlab.data.lm import pydoc_corpus
from mmlab.data.text import (
    NEGATORS,
    PAD,
    UNK,
    Vocab,
    load_corpus,
    make_loader,
    make_negation_distance_set,
    make_sentiment_set,
    pad_batch,
    tokenize,
)


def test_tokenize_words_and_punctuation():
    assert tokenize("A list's __init__ has 3 items.") == ["a", "list", "s", "__init__", "has", "3", "items"]
    assert tokenize("not good, ok", punctuation=True) == ["not", "good", ",", "ok"]
    assert tokenize("Big Word", lowercase=False) == ["Big", "Word"]
    with pytest.raises(TypeError):
        tokenize(["not", "a", "string"])


def test_vocab_min_count_specials_and_order():
    vocab = Vocab.build([["b", "a", "b", "c"], ["a", "b"]], min_count=2)
    assert vocab.itos == [PAD, UNK, "b", "a"]  # by count, then alphabetically; "c" is too rare
    assert vocab.pad_id == 0 and vocab.unk_id == 1
    assert vocab.encode(["a", "c", "b"]) == [3, 1, 2]
    assert vocab.decode([3, 0]) == ["a", PAD]
    assert "c" not in vocab and len(vocab) == 4
    assert vocab.count_tensor().tolist() == [0.0, 0.0, 3.0, 2.0]
    assert len(Vocab.build([list("abcdef")], max_size=4)) == 4
    with pytest.raises(TypeError, match="list of token lists"):
        Vocab.build(["a", "b"])
    with pytest.raises(ValueError):
        Vocab.build([["a"]], min_count=0)
    with pytest.raises(IndexError):
        vocab.decode([99])


def test_vocab_build_accepts_a_generator():
    vocab = Vocab.build(tokenize(t) for t in ["x y", "y z"])
    assert vocab.itos[2] == "y" and len(vocab) == 5


def test_vocab_save_load_roundtrip(tmp_path):
    vocab = Vocab.build([tokenize("the cat sat on the mat the end")], min_count=1)
    path = tmp_path / "vocab.json"
    vocab.save(path)
    loaded = Vocab.load(path)
    assert loaded.itos == vocab.itos and loaded.counts == vocab.counts
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a saved Vocab"):
        Vocab.load(path)


def test_load_corpus_pydoc_and_local_file(tmp_path):
    text = load_corpus("pydoc")
    assert text == pydoc_corpus() and len(tokenize(text)) > 50_000
    assert "lambda" in tokenize(text)
    path = tmp_path / "corpus.txt"
    path.write_text("hello offline world\n", encoding="utf-8")
    assert load_corpus(path) == "hello offline world\n"
    assert load_corpus(str(path)) == "hello offline world\n"


def test_load_corpus_bad_arguments_and_offline_hub(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(ValueError):
        load_corpus("")
    # HF_HUB_OFFLINE=1 in tests: a hub id fails with a message that says what to do offline.
    with pytest.raises(RuntimeError, match="load_corpus\\('pydoc'\\)"):
        load_corpus("someone/no-such-dataset-mmlab")


def test_sentiment_set_is_balanced_seeded_and_heldout_differs():
    train, test = make_sentiment_set(n_train=1000, n_test=400, seed=3)
    again, _ = make_sentiment_set(n_train=1000, n_test=400, seed=3)
    assert train.texts == again.texts and len(train) == 1000 and len(test) == 400
    assert abs(sum(train.labels) / len(train) - 0.5) < 0.06
    for split in (train, test):
        for text, negated in zip(split.texts, split.negated):
            assert negated == any(w in NEGATORS for w in text.split())
    train_words = {w for t in train.texts for w in tokenize(t, punctuation=True)}
    test_words = {w for t in test.texts for w in tokenize(t, punctuation=True)}
    assert "restaurant" in test_words - train_words  # held-out nouns are new
    assert {"good", "bad", "not"} <= train_words & test_words  # sentiment words are shared
    # no held-out sentence appears in training: templates differ, not just nouns
    assert not set(test.texts) & set(train.texts)
    # negation flips the label: "not good" is negative
    for text, label in zip(train.texts, train.labels):
        words = text.split()
        if "good" in words:
            assert label == int(not any(n in words for n in NEGATORS))


def test_negation_distance_set_puts_negator_d_words_before():
    texts, labels, dists = make_negation_distance_set(200, [3, 7], seed=0)
    assert sorted(set(dists)) == [3, 7]
    for text, d in zip(texts, dists):
        words = text.split()
        assert len(words) == d + 1  # opener, d - 1 fillers, sentiment word
        assert not any(w in NEGATORS for w in words[1:])
    assert abs(sum(labels) / len(labels) - 0.5) < 0.1
    with pytest.raises(ValueError):
        make_negation_distance_set(10, [0])


def test_pad_batch_and_loader():
    ids, lengths = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="empty"):
        pad_batch([[1], []])
    vocab = Vocab.build([tokenize("good bad film")])
    loader = make_loader(["good film", "bad"], [1, 0], vocab, batch_size=2)
    batch = next(iter(loader))
    assert batch["ids"].shape == (2, 2) and batch["labels"].tolist() == [1, 0]
    assert batch["lengths"].tolist() == [2, 1]


def test_loader_unk_rate_replaces_only_real_tokens():
    vocab = Vocab.build([tokenize("a b c d e f")])
    texts = ["a b c d e f", "a"] * 50
    loader = make_loader(texts, [0, 1] * 50, vocab, batch_size=100, unk_rate=0.5)
    ids = next(iter(loader))["ids"]
    real = (
        torch.arange(ids.shape[1])[None]
        < next(iter(make_loader(texts, [0, 1] * 50, vocab, 100)))["lengths"][:, None]
    )
    assert (ids[~real] == vocab.pad_id).all()  # padding is never turned into <unk>
    share = (ids[real] == vocab.unk_id).float().mean().item()
    assert 0.35 < share < 0.65
    with pytest.raises(ValueError):
        make_loader(texts, [0], vocab)
