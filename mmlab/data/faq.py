"""A generated shop FAQ for chapter 16's customer-service assistant: products, policies, orders.

**The knowledge base** (:func:`make_faq`) is a list of one-fact passages, such as "the kettle
weighs two kilos" or "you can return any item within thirty days". Each product has only some of
its five attributes written down (price, warranty, colour, weight, delivery time), so some
questions have **no answer in the base** ("how heavy is the lamp" when no passage gives the lamp's
weight); a few policy questions are not covered at all ("can i pay with cash").

**Questions** come in several phrasings per attribute; :data:`TRAIN` phrasings are for training
and choosing settings, :data:`TEST` phrasings are held out (never seen in training). Every word is
in :data:`VOCAB`, so the course's word-level chat GPT can read passages, questions and answers.

**Reading conversations** (:func:`reading_conversations`) teach the chat model to answer from a
passage: facts with *random* values (so the model cannot memorise the base and must read), the
passage as the system message, the question as the user's, the value as the assistant's reply.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mmlab.data.chat import END, MARKER, PAD_TOKEN, UNK_TOKEN

__all__ = [
    "ATTRIBUTES",
    "IDK",
    "POLICIES",
    "PRODUCTS",
    "TEST",
    "TRAIN",
    "VOCAB",
    "FaqItem",
    "Question",
    "closed_book_conversations",
    "make_faq",
    "make_questions",
    "reading_conversations",
]

IDK = "sorry i do not know"  # the assistant's reply when retrieval finds nothing it trusts
PRODUCTS = ("kettle", "toaster", "blender", "lamp", "heater", "speaker", "camera", "backpack")
NUMBERS = ("ten", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

# attribute -> (passage template, values, phrasings: the first four train, the rest held out)
ATTRIBUTES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "price": (
        "the {p} costs {v}",
        tuple(f"{n} dollars" for n in NUMBERS),
        ("how much is the {p}", "what is the price of the {p}", "{p} price please", "what do you charge for the {p}",
         "what does the {p} cost", "how much does the {p} cost", "price of the {p}"),
    ),
    "warranty": (
        "the {p} comes with a {v} warranty",
        ("one year", "two year", "three year", "five year"),
        ("how long is the {p} warranty", "what warranty does the {p} have", "{p} warranty please",
         "how long is the guarantee on the {p}", "what is the warranty on the {p}", "warranty of the {p}",
         "how many years of warranty for the {p}"),
    ),
    "colour": (
        "the {p} is sold in {v}",
        ("red", "black", "white", "silver", "blue", "green"),
        ("what colour is the {p}", "which colour does the {p} come in", "{p} colour please",
         "what colours can i get the {p} in", "colour of the {p}", "in what colour is the {p} sold",
         "which colour is the {p}"),
    ),
    "weight": (
        "the {p} weighs {v}",
        ("one kilo", "two kilos", "three kilos", "four kilos"),
        ("how heavy is the {p}", "what is the weight of the {p}", "{p} weight please",
         "how many kilos is the {p}", "what does the {p} weigh", "how much does the {p} weigh",
         "weight of the {p}"),
    ),
    "delivery": (
        "the {p} ships in {v}",
        ("one day", "two days", "three days", "five days"),
        ("how fast does the {p} ship", "when will the {p} arrive", "{p} delivery please",
         "how long is delivery for the {p}", "how long does the {p} take to arrive", "delivery time of the {p}",
         "how many days to ship the {p}"),
    ),
}  # fmt: skip

# policy -> (passage template, values, phrasings: the first four train, the rest held out)
POLICIES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "returns": (
        "you can return any item within {v}",
        ("fourteen days", "thirty days", "sixty days"),
        ("how long do i have to return an item", "what is the return window", "returns please",
         "until when can i send an item back", "how many days do i have for a return",
         "how long can i return things", "when can i no longer return an item"),
    ),
    "refund": (
        "refunds reach your card within {v}",
        ("three days", "five days", "ten days"),
        ("when do i get my refund", "how long does a refund take", "refund please",
         "when will my money come back", "how fast is the refund", "how many days until my refund",
         "when is my card refunded"),
    ),
    "cancel": (
        "an order can be cancelled within {v}",
        ("one hour", "two hours", "one day"),
        ("how long can i cancel an order", "until when can i cancel my order", "cancel order please",
         "what is the time to cancel an order", "can i still cancel my order and for how long",
         "how much time do i have to cancel", "when is it too late to cancel my order"),
    ),
    "origin": (
        "orders ship from {v}",
        ("london", "berlin", "paris"),
        ("where do orders ship from", "from which city do you ship", "origin please",
         "where is my order sent from", "which city does my order come from", "where do you send orders from",
         "from where is my order shipped"),
    ),
}  # fmt: skip
N_TRAIN_PHRASINGS = 4
TRAIN, TEST = "train", "test"
# questions the base never answers, whatever it holds (two train, two test)
OUT_OF_SCOPE = (
    ("can i pay with cash", "do you sell gift cards"),
    ("is there a shop in paris i can visit", "can i get the kettle in a gift box"),
)


def _facts() -> dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return {**{f"{p}:{a}": ATTRIBUTES[a] for p in PRODUCTS for a in ATTRIBUTES}, **POLICIES}


def _fill(template: str, key: str, value: str | None = None) -> str:
    product = key.split(":")[0] if ":" in key else ""
    return template.format(p=product, v=value)


def _vocabulary() -> list[str]:
    words = [PAD_TOKEN, UNK_TOKEN, END, *MARKER.values(), *IDK.split()]
    for key, (template, values, phrasings) in _facts().items():
        for text in (template, *phrasings):
            words += _fill(text, key, "").split()
        for value in values:
            words += value.split()
    for group in OUT_OF_SCOPE:
        for q in group:
            words += q.split()
    return list(dict.fromkeys(words))


VOCAB = _vocabulary()


@dataclass(frozen=True)
class FaqItem:
    """One passage of the knowledge base: its key (``"kettle:weight"`` or ``"returns"``), text and answer."""

    key: str
    passage: str
    answer: str


@dataclass(frozen=True)
class Question:
    """A customer's question; ``key`` is the fact it asks for, ``answer`` is None when the base has none."""

    text: str
    key: str
    answer: str | None


def make_faq(seed: int = 0, kept_per_product: int = 3) -> list[FaqItem]:
    """The shop's knowledge base: ``kept_per_product`` of the 5 attributes of each product (random
    values), and every policy. The rest of the product facts are missing: their questions have no answer."""
    rng = random.Random(seed)
    items = []
    for product in PRODUCTS:
        for attribute in sorted(rng.sample(sorted(ATTRIBUTES), kept_per_product)):
            template, values, _ = ATTRIBUTES[attribute]
            value = rng.choice(values)
            items.append(FaqItem(f"{product}:{attribute}", template.format(p=product, v=value), value))
    for policy, (template, values, _) in POLICIES.items():
        value = rng.choice(values)
        items.append(FaqItem(policy, template.format(v=value), value))
    return items


def _phrasings(key: str, split: str) -> list[str]:
    phrasings = _facts()[key][2]
    chosen = phrasings[:N_TRAIN_PHRASINGS] if split == TRAIN else phrasings[N_TRAIN_PHRASINGS:]
    return [_fill(q, key) for q in chosen]


def make_questions(faq: list[FaqItem], split: str = TEST) -> tuple[list[Question], list[Question]]:
    """``(answerable, unanswerable)`` questions in the ``split``'s phrasings: every fact of ``faq``
    asked each way, and every missing product fact and out-of-scope question (answer None)."""
    if split not in (TRAIN, TEST):
        raise ValueError(f"split must be {TRAIN!r} or {TEST!r}, got {split!r}")
    known = {item.key: item.answer for item in faq}
    answerable, unanswerable = [], []
    for key in _facts():
        for text in _phrasings(key, split):
            (answerable if key in known else unanswerable).append(Question(text, key, known.get(key)))
    unanswerable += [Question(q, "out-of-scope", None) for q in OUT_OF_SCOPE[split == TEST]]
    return answerable, unanswerable


def reading_conversations(n: int, seed: int = 0) -> list[list[dict]]:
    """``n`` conversations that teach reading: a random fact (any product or policy, a random value)
    as the system message, a train-phrased question about it, and the value as the reply."""
    rng = random.Random(seed)
    keys = sorted(_facts())
    conversations = []
    for _ in range(n):
        key = rng.choice(keys)
        template, values, _ = _facts()[key]
        value = rng.choice(values)
        conversations.append(
            [
                {"role": "system", "content": _fill(template, key, value)},
                {"role": "user", "content": rng.choice(_phrasings(key, TRAIN))},
                {"role": "assistant", "content": value},
            ]
        )
    return conversations


def closed_book_conversations(faq: list[FaqItem], n: int, seed: int = 0) -> list[list[dict]]:
    """``n`` conversations asking the base's own facts in train phrasings with no passage: what a
    model fine-tuned on the FAQ (the baseline without retrieval) learns from."""
    rng = random.Random(seed)
    return [
        [
            {"role": "user", "content": rng.choice(_phrasings(item.key, TRAIN))},
            {"role": "assistant", "content": item.answer},
        ]
        for item in (rng.choice(faq) for _ in range(n))
    ]
