"""Tokenizers (character, byte-level BPE) and next-token data sets."""

import pytest
import torch

from mmlab.data.lm import NextTokenDataset, lm_loaders, pydoc_corpus, split_ids
from mmlab.data.tokenizers import EOT, CharTokenizer, train_bpe

TEXT = "for item in items:\n    print(item)  # café\n" * 30


def test_pydoc_corpus_is_offline_and_stable():
    text = pydoc_corpus()
    assert len(text) > 300_000 and text == pydoc_corpus()
    assert pydoc_corpus(max_chars=100) == text[:100]


def test_char_tokenizer_round_trip_and_unknown_characters(tmp_path):
    tok = CharTokenizer.from_text(TEXT)
    assert tok.vocab_size == len(set(TEXT)) and tok.chars == sorted(set(TEXT))
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.decode(torch.tensor(tok.encode("item"))) == "item"
    with pytest.raises(ValueError, match="'Z'"):
        tok.encode("Zed")
    assert tok.unknown("aZeZQ") == ["Z", "Q"]
    tok.save(tmp_path / "chars.json")
    assert CharTokenizer.load(tmp_path / "chars.json").chars == tok.chars
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_text("")


def test_char_tokenizer_as_transformers_tokenizer_keeps_ids(tmp_path):
    from transformers import AutoTokenizer

    tok = CharTokenizer.from_text(TEXT)
    fast = tok.to_transformers()
    sample = TEXT[:60]
    assert fast(sample)["input_ids"] == tok.encode(sample)
    assert fast.decode(tok.encode(sample)) == sample
    fast.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(sample)["input_ids"] == tok.encode(sample)


def test_bpe_round_trips_any_text_and_shortens_sequences(tmp_path):
    from transformers import AutoTokenizer

    bpe = train_bpe(TEXT, vocab_size=300)
    assert len(bpe) <= 300 and bpe.eos_token == EOT and bpe.eos_token_id == 0
    ids = bpe(TEXT)["input_ids"]
    assert bpe.decode(ids) == TEXT
    assert len(ids) < len(TEXT) / 2  # merges make tokens of several characters
    unseen = "Ünïcödé 漢字 🙂"  # bytes never seen in training still have a spelling
    assert bpe.decode(bpe(unseen)["input_ids"]) == unseen
    bpe.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(TEXT)["input_ids"] == ids
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe(TEXT, vocab_size=100)


def test_bpe_matches_the_tokenizers_library_directly():
    from tokenizers import ByteLevelBPETokenizer

    reference = ByteLevelBPETokenizer()
    reference.train_from_iterator(
        [TEXT], vocab_size=300, min_frequency=2, special_tokens=[EOT], show_progress=False
    )
    ours = train_bpe(TEXT, vocab_size=300)
    assert ours(TEXT)["input_ids"] == reference.encode(TEXT).ids


def test_windows_are_shifted_by_one():
    ids = torch.arange(20)
    data = NextTokenDataset(ids, block_size=5)
    assert len(data) == 15
    x, y = data[3]
    assert x.tolist() == [3, 4, 5, 6, 7] and y.tolist() == [4, 5, 6, 7, 8]
    x, y = data[len(data) - 1]
    assert y[-1] == 19
    disjoint = NextTokenDataset(ids, block_size=5, stride=5)
    assert len(disjoint) == 3 and disjoint[2][0].tolist() == [10, 11, 12, 13, 14]
    with pytest.raises(IndexError):
        disjoint[3]
    with pytest.raises(ValueError, match="block_size"):
        NextTokenDataset(torch.arange(4), block_size=5)


def test_split_and_loaders():
    ids = torch.arange(1000)
    train, val = split_ids(ids, 0.1)
    assert len(train) == 900 and val[0] == 900
    train_loader, val_loader = lm_loaders(ids, block_size=8, batch_size=4, seed=0)
    x, y = next(iter(train_loader))
    assert x.shape == y.shape == (4, 8) and torch.equal(x[:, 1:], y[:, :-1]) and (x < 900).all()
    vx, _ = next(iter(val_loader))
    assert vx[0].tolist() == list(range(900, 908))
    again, _ = next(iter(lm_loaders(ids, block_size=8, batch_size=4, seed=0)[0]))
    assert torch.equal(x, again)  # the shuffle is seeded
    with pytest.raises(ValueError, match="val_fraction"):
        split_ids(ids, 1.5)
