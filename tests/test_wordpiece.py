"""WordPiece training with `tokenizers`, used and reloaded as a `transformers` fast tokenizer."""

import json
import subprocess
import sys
from collections import Counter

import pytest
from tokenizers import normalizers, pre_tokenizers
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


def bpe_with_continuations(texts: list[str], vocab_size: int, min_frequency: int) -> dict[str, int]:
    """The vocabulary the ``tokenizers`` library's WordPiece trainer builds, written out in Python: BPE
    merges over words split as ``w ##o ##r ##d``, the most frequent pair first, ties to the smallest
    ids (plain characters, sorted, then the ``##`` characters, sorted)."""
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts = Counter(w for t in texts for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(t)))
    vocab = SPECIAL_TOKENS + sorted({c for w in counts for c in w})
    vocab += ["##" + c for c in sorted({c for w in counts for c in w[1:]})]
    ids = {token: i for i, token in enumerate(vocab)}
    splits = {w: [w[0]] + ["##" + c for c in w[1:]] for w in counts}
    while len(ids) < vocab_size:
        pairs = Counter()
        for word, n in counts.items():
            for pair in zip(splits[word], splits[word][1:]):
                pairs[pair] += n
        if not pairs:
            break
        (a, b), n = max(pairs.items(), key=lambda item: (item[1], -ids[item[0][0]], -ids[item[0][1]]))
        if n < min_frequency:
            break
        ids.setdefault(a + b[2:], len(ids))
        for word, pieces in splits.items():
            merged, i = [], 0
            while i < len(pieces):
                if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == (a, b):
                    merged.append(a + b[2:])
                    i += 2
                else:
                    merged.append(pieces[i])
                    i += 1
            splits[word] = merged
    return ids


@pytest.mark.parametrize("vocab_size", [60, 120, 200])
def test_training_makes_the_librarys_merges_in_a_fixed_order(vocab_size):
    # the library's own trainer breaks ties between equally frequent pairs by ids it assigns in
    # hash-map order (huggingface/tokenizers#1794); ours breaks them by sorted ids, as written out above
    got = train_wordpiece(TEXTS, vocab_size=vocab_size, min_frequency=2).get_vocab()
    assert got == bpe_with_continuations(TEXTS, vocab_size, 2)


def test_training_gives_the_same_vocabulary_in_every_process():
    script = (
        "import json; from mmlab.data.wordpiece import train_wordpiece; from mmlab.data.lm import pydoc_corpus\n"
        "print(json.dumps(train_wordpiece(pydoc_corpus().splitlines()[:3000], vocab_size=800).get_vocab(), sort_keys=True))"
    )
    runs = [
        json.loads(
            subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0]) == 800
