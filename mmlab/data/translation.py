"""Generated parallel text for chapter 13: English to French (or Chinese) translation and scene summaries.

Everything is produced offline from a seed by a small rule system with the difficulties of real
translation:

* **word order**: French puts colours after the noun and sizes before it
  ("the small red ball" -> "la petite balle rouge");
* **agreement**: article, adjectives and verb follow the noun's gender and number
  ("three small red balls are" -> "trois petites balles rouges sont");
* **numbers spelled out** by ``num2words`` (a real rule system with its own reordering:
  "ninety seven" -> "quatre vingt dix sept", "seventy one" -> "soixante et onze");
* **held-out compositions**: some colour-noun pairs never occur in training, only in a test split.

The same scenes also render in Chinese (``lang="zh"``, :func:`translate_rule_zh`), with other
difficulties: the **place comes first** in an existential sentence ("the red ball is on the table"
-> "桌子 上 有 一 个 红 球", "on the table there is one red ball"), every count takes a **measure
word** chosen by the noun (个 for a ball, 只 for a cat, 本 for a book, 辆 for a car), "two" before a
measure word is 两, not 二, and nouns do not mark the plural. Chinese words are separated by
spaces (the segmentation is given), number words one character a token.

Each :class:`Pair` also records which source word each target content word translates (the
alignment), so the chapter can measure whether cross-attention looks at the right word.

The summarisation set maps a paragraph of three scene sentences to the one sentence that names the
two objects on the table: the summary must *select* (the two sentences about the table, wherever they
are) and *compress* (drop the adjectives and places). Which objects to name is decided by the
paragraph alone, so a summariser that writes the same sentence for every paragraph names the right
objects only by chance (:func:`named_objects` reads them back).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from num2words import num2words

__all__ = [
    "HELD_OUT_PAIRS",
    "Pair",
    "TranslationData",
    "TranslationVocab",
    "make_summaries",
    "make_translation_data",
    "named_objects",
    "summary_pair",
    "translate_rule",
    "translate_rule_zh",
]

PAD, BOS, EOS, UNK, SEP = "<pad>", "<s>", "</s>", "<unk>", "<sep>"
SPECIALS = (PAD, BOS, EOS, UNK, SEP)

# noun: (English singular, English plural, French singular, gender)
NOUNS = {
    "ball": ("balls", "balle", "f"),
    "cube": ("cubes", "cube", "m"),
    "cat": ("cats", "chat", "m"),
    "box": ("boxes", "boîte", "f"),
    "dog": ("dogs", "chien", "m"),
    "cup": ("cups", "tasse", "f"),
    "book": ("books", "livre", "m"),
    "car": ("cars", "voiture", "f"),
}
# adjective: French forms (masculine singular, feminine singular, masculine plural, feminine plural)
COLOURS = {
    "red": ("rouge", "rouge", "rouges", "rouges"),
    "blue": ("bleu", "bleue", "bleus", "bleues"),
    "green": ("vert", "verte", "verts", "vertes"),
    "black": ("noir", "noire", "noirs", "noires"),
    "white": ("blanc", "blanche", "blancs", "blanches"),
}
SIZES = {"small": ("petit", "petite", "petits", "petites"), "big": ("grand", "grande", "grands", "grandes")}
PLACES = {
    "on the table": "sur la table",
    "under the bed": "sous le lit",
    "near the window": "près de la fenêtre",
    "in the garden": "dans le jardin",
    "behind the door": "derrière la porte",
}
# Chinese: noun -> (noun, measure word); colours, sizes and places (the place reads first)
CHINESE_NOUNS = {
    "ball": ("球", "个"),
    "cube": ("方块", "块"),
    "cat": ("猫", "只"),
    "box": ("盒子", "个"),
    "dog": ("狗", "只"),
    "cup": ("杯子", "个"),
    "book": ("书", "本"),
    "car": ("车", "辆"),
}
CHINESE_COLOURS = {"red": "红", "blue": "蓝", "green": "绿", "black": "黑", "white": "白"}
CHINESE_SIZES = {"small": "小", "big": "大"}
CHINESE_PLACES = {
    "on the table": "桌子 上",
    "under the bed": "床 下",
    "near the window": "窗户 旁边",
    "in the garden": "花园 里",
    "behind the door": "门 后",
}
# colour-noun pairs that training never shows: the test of composition
HELD_OUT_PAIRS = (("blue", "cat"), ("green", "box"), ("white", "car"), ("black", "ball"), ("red", "book"))


def _number_words(n: int, lang: str) -> list[str]:
    if lang == "zh":  # Chinese numerals are written as num2words' Japanese ones; 两 counts two things
        return ["两"] if n == 2 else list(num2words(n, lang="ja"))
    return num2words(n, lang=lang).replace("-", " ").split()


@dataclass(frozen=True)
class Pair:
    """A source and target sentence (space-separated words) and the alignment of content words:
    ``(target word index, source word index)`` for nouns, colours and sizes."""

    source: str
    target: str
    alignment: tuple[tuple[int, int], ...] = ()


def translate_rule(count: int, size: str | None, colour: str, noun: str, place: str) -> Pair:
    """The English sentence and its French translation, built by the grammar's rules."""
    plural_en, french, gender = NOUNS[noun]
    form = (gender == "f") + 2 * (count > 1)  # index into the adjective forms
    src: list[str] = ["the"] if count == 1 else _number_words(count, "en")
    tgt: list[str] = [("le", "la")[gender == "f"]] if count == 1 else _number_words(count, "fr")
    alignment = []
    if size:
        alignment.append((len(tgt), len(src)))
        src.append(size)
        tgt.append(SIZES[size][form])  # French sizes come before the noun, as in English
    colour_src = len(src)
    src.append(colour)
    alignment.append((len(tgt), len(src)))  # the noun moves before the colour in French
    src.append(noun if count == 1 else plural_en)
    tgt.append(french if count == 1 else french + "s")
    alignment.append((len(tgt), colour_src))
    tgt.append(COLOURS[colour][form])
    src += ["is" if count == 1 else "are", *place.split()]
    tgt += ["est" if count == 1 else "sont", *PLACES[place].split()]
    return Pair(" ".join(src), " ".join(tgt), tuple(sorted(alignment)))


def translate_rule_zh(count: int, size: str | None, colour: str, noun: str, place: str) -> Pair:
    """The English sentence and its Chinese translation: place, 有 ("there is"), the count (一 for
    "the": Chinese has no articles), the noun's measure word, size, colour, noun."""
    source = translate_rule(count, size, colour, noun, place).source
    number = 1 if count == 1 else len(_number_words(count, "en"))  # source words before the adjectives
    chinese, measure = CHINESE_NOUNS[noun]
    tgt = [*CHINESE_PLACES[place].split(), "有", *_number_words(count, "zh"), measure]
    alignment = []
    for english, word in (
        (size, CHINESE_SIZES.get(size or "")),
        (colour, CHINESE_COLOURS[colour]),
        (noun, chinese),
    ):
        if english:
            alignment.append((len(tgt), number + len(alignment)))
            tgt.append(word)
    return Pair(source, " ".join(tgt), tuple(alignment))


RULES = {"fr": translate_rule, "zh": translate_rule_zh}


def _random_pair(
    rng: random.Random, allowed: Sequence[tuple[str, str]], max_count: int, lang: str = "fr"
) -> Pair:
    colour, noun = rng.choice(allowed)
    count = 1 if rng.random() < 0.4 else rng.randint(2, max_count)
    size = rng.choice([None, *SIZES])
    return RULES[lang](count, size, colour, noun, rng.choice(list(PLACES)))


class TranslationVocab:
    """A word-level vocabulary shared by source and target (the model ties their embeddings).

    ``encode`` splits on spaces and maps unknown words to ``<unk>``; ``decode`` stops at the end
    token and drops the special tokens.
    """

    def __init__(self, words: Iterable[str]) -> None:
        self.itos = list(SPECIALS) + sorted(set(words) - set(SPECIALS))
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id, self.sep_id = range(len(SPECIALS))

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> TranslationVocab:
        return cls(word for text in texts for word in text.split())

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def unknown(self, text: str) -> list[str]:
        """The words of ``text`` this vocabulary does not have, in order, without repeats."""
        return list(dict.fromkeys(w for w in text.split() if w not in self.stoi))

    def encode(self, text: str, eos: bool = False) -> list[int]:
        ids = [self.stoi.get(w, self.unk_id) for w in text.split()]
        return ids + [self.eos_id] if eos else ids

    def decode(self, ids: Iterable[int]) -> str:
        words = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i >= len(SPECIALS):
                words.append(self.itos[i])
        return " ".join(words)

    def pad_batch(self, texts: Sequence[str], eos: bool = False) -> torch.Tensor:
        """``(B, T)`` ids of ``texts``, right-padded with ``<pad>``."""
        rows = [self.encode(t, eos=eos) for t in texts]
        out = torch.full((len(rows), max(map(len, rows))), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return out


@dataclass
class TranslationData:
    """Train and test splits of :class:`Pair` and the vocabulary of all of them."""

    train: list[Pair]
    test: list[Pair]
    held_out: list[Pair]
    vocab: TranslationVocab = field(repr=False)

    def tensors(self, pairs: Sequence[Pair]) -> dict[str, torch.Tensor]:
        """``src`` ``(N, S)`` source ids and ``tgt`` ``(N, T)`` target ids ending with ``</s>``."""
        return {
            "src": self.vocab.pad_batch([p.source for p in pairs]),
            "tgt": self.vocab.pad_batch([p.target for p in pairs], eos=True),
        }


def make_translation_data(
    n_train: int = 3000, n_test: int = 200, seed: int = 0, max_count: int = 99, lang: str = "fr"
) -> TranslationData:
    """English-French (``lang="zh"``: English-Chinese) pairs: ``train`` and ``test`` over the seen
    colour-noun pairs (no test sentence occurs in training), ``held_out`` over :data:`HELD_OUT_PAIRS`
    only."""
    if lang not in RULES:
        raise ValueError(f"lang must be one of {sorted(RULES)}, not {lang!r}")
    rng = random.Random(seed)
    all_pairs = [(c, n) for c in COLOURS for n in NOUNS]
    seen = [p for p in all_pairs if p not in HELD_OUT_PAIRS]
    train = [_random_pair(rng, seen, max_count, lang) for _ in range(n_train)]
    train_sources = {p.source for p in train}
    test: list[Pair] = []
    while len(test) < n_test:
        pair = _random_pair(rng, seen, max_count, lang)
        if pair.source not in train_sources:
            test.append(pair)
    held_out = [_random_pair(rng, HELD_OUT_PAIRS, max_count, lang) for _ in range(n_test)]
    if lang == "zh":
        target_words = [
            *(w for n in range(1, max_count + 1) for w in _number_words(n, "zh")),
            *(w for pair in CHINESE_NOUNS.values() for w in pair),
            *CHINESE_COLOURS.values(),
            *CHINESE_SIZES.values(),
        ]
    else:
        target_words = [
            *(w for n in range(1, max_count + 1) for w in _number_words(n, "fr")),
            *(w for plural, french, _ in NOUNS.values() for w in (french, french + "s")),
            *(w for forms in (*COLOURS.values(), *SIZES.values()) for w in forms),
        ]
    words = [
        *(w for p in (*train, *test, *held_out) for w in (*p.source.split(), *p.target.split())),
        *(w for n in range(1, max_count + 1) for w in _number_words(n, "en")),
        *(w for noun, (plural, _, _) in NOUNS.items() for w in (noun, plural)),
        *COLOURS,
        *SIZES,
        *target_words,
        "and",
        ".",
    ]
    return TranslationData(train, test, held_out, TranslationVocab(words))


def summary_pair(objects: Sequence[tuple[str | None, str, str, str]]) -> Pair:
    """A paragraph of singular scene sentences ``(size, colour, noun, place)`` and its summary:
    the two objects on the table, without adjectives, in paragraph order."""
    sentences, on_table = [], []
    for size, colour, noun, place in objects:
        words = ["the", *([size] if size else []), colour, noun, "is", *place.split(), "."]
        sentences.append(" ".join(words))
        if place == "on the table":
            on_table.append(noun)
    if len(on_table) != 2:
        raise ValueError(f"a summary needs exactly two objects on the table, got {len(on_table)}")
    summary = f"the {on_table[0]} and the {on_table[1]} are on the table"
    return Pair(" ".join(sentences), summary)


def named_objects(text: str) -> list[str]:
    """The nouns ``text`` names, in order (singular or plural): what a summary says is on the table."""
    singular = {plural: noun for noun, (plural, _, _) in NOUNS.items()}
    return [singular.get(w, w) for w in text.split() if w in NOUNS or w in singular]


def make_summaries(
    n_train: int = 5000, n_test: int = 200, seed: int = 0, n_sentences: int = 3
) -> tuple[list[Pair], list[Pair]]:
    """Paragraphs of ``n_sentences`` scene sentences, exactly two of them "on the table", and their
    one-sentence summaries. Test paragraphs whose two table objects form an ordered pair of nouns
    never summarised together in training: selection must generalise, not be memorised."""
    rng = random.Random(seed)
    nouns = list(NOUNS)
    held = {(a, b) for a in nouns for b in nouns if a != b and (nouns.index(a) + 2 * nouns.index(b)) % 7 == 0}
    others = [p for p in PLACES if p != "on the table"]

    def paragraph(want_held: bool) -> Pair:
        while True:
            chosen = rng.sample(nouns, n_sentences)
            table = sorted(rng.sample(range(n_sentences), 2))
            if ((chosen[table[0]], chosen[table[1]]) in held) == want_held:
                break
        objects = [
            (
                rng.choice([None, *SIZES]),
                rng.choice(list(COLOURS)),
                noun,
                "on the table" if i in table else rng.choice(others),
            )
            for i, noun in enumerate(chosen)
        ]
        return summary_pair(objects)

    return [paragraph(False) for _ in range(n_train)], [paragraph(True) for _ in range(n_test)]
