"""Two ways to turn text into token ids: one id per character, or byte-level BPE (chapter 06).

* :class:`CharTokenizer`: the vocabulary is the set of characters in the corpus (about 100 for
  English text). Sequences are long (one token per character) but the vocabulary is tiny.
* :func:`train_bpe`: byte-level byte-pair encoding (GPT-2's scheme), trained with the
  ``tokenizers`` library. Start from the 256 byte values and repeatedly merge the most frequent
  adjacent pair into a new token; common words become one token, so sequences are several times
  shorter, at the price of a larger vocabulary (a bigger embedding table and softmax).

Both can be used as a ``transformers`` fast tokenizer (``save_pretrained`` / ``from_pretrained``,
``pipeline("text-generation")``): the BPE one is one already, the character one through
:meth:`CharTokenizer.to_transformers`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["CharTokenizer", "train_bpe", "EOT"]

EOT = "<|endoftext|>"  # GPT-2's end-of-text token, used as the stop token


class CharTokenizer:
    """One token per character, ids in sorted character order.

    Example::

        tok = CharTokenizer.from_text("hello world")
        tok.decode(tok.encode("hello")) == "hello"
    """

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars: list[str] = sorted(set(chars))
        if any(len(c) != 1 for c in self.chars):
            raise ValueError("CharTokenizer's vocabulary must be single characters")
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The vocabulary of every character that occurs in ``text``."""
        if not text:
            raise ValueError("cannot build a vocabulary from empty text")
        return cls(set(text))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return self.vocab_size

    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` that are not in the vocabulary (in order of first appearance)."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; raises ``ValueError`` naming any unknown character."""
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10])
            raise ValueError(f"characters not in the vocabulary ({self.vocab_size} characters): {shown}")
        return [self.stoi[c] for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids (a tensor, a list, ...)."""
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        return "".join(self.chars[int(i)] for i in ids)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"chars": self.chars}), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["chars"])

    def to_transformers(self):
        """The same tokenizer as a ``transformers`` fast tokenizer (ids unchanged).

        Built as a BPE model with single-character tokens and no merges (so text splits into
        characters) and a decoder that concatenates tokens without spaces.
        """
        from tokenizers import Tokenizer, decoders, models
        from transformers import PreTrainedTokenizerFast

        tokenizer = Tokenizer(models.BPE(vocab=dict(self.stoi), merges=[]))
        tokenizer.decoder = decoders.Fuse()
        return PreTrainedTokenizerFast(tokenizer_object=tokenizer, clean_up_tokenization_spaces=False)


def train_bpe(texts: str | Sequence[str], vocab_size: int = 1024, min_frequency: int = 2):
    """Train a byte-level BPE tokenizer (GPT-2's scheme) and return it as a ``transformers`` fast
    tokenizer whose ``eos_token`` is ``<|endoftext|>`` (id 0).

    Args:
        texts: the training text, or a list of documents.
        vocab_size: the final vocabulary, including the 256 byte tokens and ``<|endoftext|>``.
        min_frequency: a pair must occur this often to be merged.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 257 + 1:
        raise ValueError(f"byte-level BPE needs vocab_size > 257 (256 bytes + {EOT}), got {vocab_size}")
    texts = [texts] if isinstance(texts, str) else list(texts)
    tokenizer = Tokenizer(models.BPE())
    # Split into words (a leading space stays with its word, as in GPT-2) and map every byte to a
    # printable character, so any text, in any script, has a spelling and nothing is "unknown".
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOT, clean_up_tokenization_spaces=False
    )
