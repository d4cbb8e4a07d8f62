"""WordPiece, BERT's tokenizer, trained with the ``tokenizers`` library and used as a
``transformers`` fast tokenizer (chapter 04).

WordPiece keeps whole words when they are frequent and splits rare words into pieces that are:
"unhashable" -> ``un ##hash ##able``, where ``##`` marks a piece that continues a word. Training
starts from single characters and repeatedly merges the pair of pieces with the highest score
``count(ab) / (count(a) count(b))``, so a merge is made when the pair occurs together more often
than its parts' frequencies predict (BPE merges the most frequent pair instead).

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
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if isinstance(texts, str):
        raise TypeError(
            "train_wordpiece expects an iterable of strings (e.g. text.splitlines()), not one str"
        )
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK, continuing_subword_prefix="##"))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lowercase, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
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


def load_wordpiece(path: str | Path):
    """A tokenizer saved with ``save_pretrained`` (ours or any BERT's), loaded offline."""
    from transformers import AutoTokenizer

    if not Path(path).is_dir():
        raise FileNotFoundError(f"no tokenizer folder at {path}")
    return AutoTokenizer.from_pretrained(str(path))
