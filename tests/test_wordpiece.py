"""WordPiece training with `tokenizers`, used and reloaded as a `transformers` fast tokenizer."""

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from mmlab.data.wordpiece import SPECIAL_TOKENS, load_wordpiece, train_wordpiece

TEXTS = [
    "A list is a mutable sequence. Lists can change.",
    "A tuple is an immutable sequence; tuples cannot change!",
    "Strings are immutable sequences of characters.",
] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(TEXTS, vocab_size=120, min_frequency=2)


def test_special_tokens_and_vocabulary(tokenizer):
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert tokenizer.convert_ids_to_tokens(list(range(5))) == SPECIAL_TOKENS
    assert tokenizer.pad_token_id == 0 and tokenizer.mask_token == "[MASK]"
    assert len(tokenizer) <= 120


def test_pairs_get_cls_sep_and_segment_ids(tokenizer):
    encoded = tokenizer("a list", "a tuple")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens == ["[CLS]", "a", "list", "[SEP]", "a", "tuple", "[SEP]"]
    assert encoded["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]


def test_rare_words_split_into_continuation_pieces(tokenizer):
    pieces = tokenizer.tokenize("Changeable")  # never seen whole: lower-cased, then split
    assert len(pieces) > 1 and not pieces[0].startswith("##")
    assert all(p.startswith("##") for p in pieces[1:])
    assert tokenizer.convert_tokens_to_string(pieces) == "changeable"
    assert tokenizer.tokenize("ωμέγα") == ["[UNK]"]  # a word with characters never seen in training


def test_save_and_load_as_transformers_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    for loaded in (AutoTokenizer.from_pretrained(tmp_path), load_wordpiece(tmp_path)):
        assert (
            loaded("a list [MASK] mutable", "strings")["input_ids"]
            == tokenizer("a list [MASK] mutable", "strings")["input_ids"]
        )
        assert loaded.mask_token_id == tokenizer.mask_token_id
        assert (
            loaded.decode(loaded("Lists can change.")["input_ids"], skip_special_tokens=True)
            == "lists can change."
        )


def test_bad_arguments():
    with pytest.raises(TypeError, match="iterable of strings"):
        train_wordpiece("one long string")
    with pytest.raises(ValueError, match="exceed the 5 special tokens"):
        train_wordpiece(TEXTS, vocab_size=5)
    with pytest.raises(FileNotFoundError):
        load_wordpiece("/nonexistent/folder")
