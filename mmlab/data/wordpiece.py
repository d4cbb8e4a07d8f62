"""WordPiece, BERT's tokenizer, trained with the ``tokenizers`` library and used as a
``transformers`` fast tokenizer (chapter 04).

WordPiece keeps whole words when they are frequent and splits rare words into pieces that are:
"unhashable" -> ``un ##hash ##able``, where ``##`` marks a piece that continues a word, and encodes a
word by taking the longest piece of the vocabulary that starts it, then the longest that continues it.
Google's WordPiece chooses its merges by the score ``count(ab) / (count(a) count(b))``; the
``tokenizers`` library (used here) builds the vocabulary as BPE does: starting from single characters
(``a`` at the start of a word, ``##a`` inside one), it repeatedly merges the most frequent pair.

The library's ``WordPieceTrainer`` gives a different vocabulary from one process to the next
(huggingface/tokenizers#1794: the ``##`` pieces get their ids in hash-map order, and ties between
equally frequent pairs are broken by id). :func:`train_wordpiece` therefore runs the library's BPE
trainer on words whose inner characters are written as private-use characters (``unhash`` ->
``u`` + the private twins of ``nhash``), whose ids come from the sorted alphabet, and reads the
private twins back as ``##`` pieces: the same merges, made in the same order in every process.

Typical use::

    tokenizer = train_wordpiece(load_corpus("pydoc").splitlines(), vocab_size=4000)
    tokenizer("a list is mutable", "it can change")   # input_ids, token_type_ids, attention_mask
    tokenizer.save_pretrained("runs/wordpiece")      # AutoTokenizer.from_pretrained loads it back
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["SPECIAL_TOKENS", "load_wordpiece", "train_wordpiece"]

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]  # ids 0..4, in this order


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int = 4000,
    min_frequency: int = 2,
    lowercase: bool = True,
    model_max_length: int = 512,
):
    """Train a BERT-style WordPiece tokenizer on ``texts`` and return it as a
    ``transformers.PreTrainedTokenizerFast``.

    It lower-cases and strips accents (``lowercase=True``, "uncased" as all-MiniLM-L6-v2), splits on
    whitespace and punctuation, adds ``[CLS] A [SEP]`` (and ``[CLS] A [SEP] B [SEP]`` for pairs,
    with token type 1 for segment B), and pads with ``[PAD]`` (id 0).

    Args:
        texts: the training text, e.g. one string per line or paragraph.
        vocab_size: size of the vocabulary, the 5 special tokens and all characters included.
        min_frequency: a merge needs a pair seen at least this often.
        lowercase: lower-case (and strip accents) before anything else.
        model_max_length: longest input the tokenizer truncates to when asked.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if isinstance(texts, str):
        raise TypeError(
            "train_wordpiece expects an iterable of strings (e.g. text.splitlines()), not one str"
        )
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lowercase, lowercase=lowercase
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = [
        [word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))] for text in texts
    ]
    vocab = _train_pieces(words, vocab_size, min_frequency)
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token=UNK, continuing_subword_prefix="##"))
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer
    cls_id, sep_id = tokenizer.token_to_id(CLS), tokenizer.token_to_id(SEP)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS}:0 $A:0 {SEP}:0",
        pair=f"{CLS}:0 $A:0 {SEP}:0 $B:1 {SEP}:1",
        special_tokens=[(CLS, cls_id), (SEP, sep_id)],
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token=UNK,
        pad_token=PAD,
        cls_token=CLS,
        sep_token=SEP,
        mask_token=MASK,
        model_max_length=model_max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


PRIVATE_USE = 0xF0000  # the first code point of plane 15, private use: no text has these


def _train_pieces(words: list[list[str]], vocab_size: int, min_frequency: int) -> dict[str, int]:
    """The WordPiece vocabulary (piece -> id) of BPE merges on ``words`` (one list per text),
    made in the same order in every process (see the module docstring)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    characters = sorted({c for text in words for word in text for c in word})
    inside = sorted({c for text in words for word in text for c in word[1:]})
    if len(inside) > 0xFFFE:
        raise ValueError(f"the text has {len(inside):,} distinct characters; at most 65,534 are supported")
    inner = {c: chr(PRIVATE_USE + i) for i, c in enumerate(inside)}  # sorted as their characters are
    outer = {twin: c for c, twin in inner.items()}
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=characters,  # every character can start a word, as in the library's trainer
        show_progress=False,
    )
    marked = (" ".join(word[0] + "".join(inner[c] for c in word[1:]) for word in text) for text in words)
    bpe.train_from_iterator(marked, trainer=trainer)

    def piece(token: str) -> str:
        if token in SPECIAL_TOKENS or token[0] not in outer:
            return "".join(outer.get(c, c) for c in token)  # a word's start ("un", "unhash")
        return "##" + "".join(outer[c] for c in token)  # a continuation ("##hash")

    return {piece(token): i for token, i in bpe.get_vocab().items()}


def load_wordpiece(path: str | Path):
    """A tokenizer saved with ``save_pretrained`` (ours or any BERT's), loaded offline."""
    from transformers import AutoTokenizer

    if not Path(path).is_dir():
        raise FileNotFoundError(f"no tokenizer folder at {path}")
    return AutoTokenizer.from_pretrained(str(path))
