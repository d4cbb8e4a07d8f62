"""Generated preference pairs whose ground truth is a rule you can read (chapter 08).

Each pair is one prompt of the chat world (:mod:`mmlab.data.chat`) and two replies with the same,
correct answer in different styles. The **preferred** reply is the one with the higher
:func:`~mmlab.data.chat.politeness_score` (kind words "sure", "glad", "thanks" count +1, rude
words "ugh", "meh", "duh" count -1). Pairs are never tied, so every label is certain.

Because both replies of a pair always carry the right answer, the data never shows the reward
model what a *wrong* answer looks like: a reward model trained on it can be fooled by a reply that
is polite and wrong, which is exactly what PPO without a KL penalty finds (chapter 08).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mmlab.data.chat import Instruction, make_instructions, politeness_score, styled_reply

__all__ = ["PreferencePair", "make_preferences", "ground_truth_reward"]


@dataclass(frozen=True)
class PreferencePair:
    """A prompt with a chosen (more polite) and a rejected reply, and their ground-truth scores."""

    instruction: Instruction
    chosen: str
    rejected: str

    @property
    def prompt(self) -> str:
        return self.instruction.prompt

    @property
    def score_chosen(self) -> int:
        return politeness_score(self.chosen)

    @property
    def score_rejected(self) -> int:
        return politeness_score(self.rejected)


def ground_truth_reward(reply: str) -> int:
    """The rule behind every preference: kind words minus rude words."""
    return politeness_score(reply)


def _pairs(
    instructions: list[Instruction],
    n: int,
    rng: random.Random,
    label_noise: float = 0.0,
    flips: random.Random | None = None,
) -> list[PreferencePair]:
    pairs = []
    while len(pairs) < n:
        item = rng.choice(instructions)
        a, b = styled_reply(item.answer, rng), styled_reply(item.answer, rng)
        sa, sb = politeness_score(a), politeness_score(b)
        if sa == sb:
            continue  # never tied: every label is certain
        chosen, rejected = (a, b) if sa > sb else (b, a)
        if label_noise and flips.random() < label_noise:  # a careless annotator swapped the label
            chosen, rejected = rejected, chosen
        pairs.append(PreferencePair(item, chosen, rejected))
    return pairs


def make_preferences(
    n_train: int = 2000, n_held_out: int = 400, seed: int = 0, label_noise: float = 0.0
) -> dict[str, list[PreferencePair]]:
    """Preference pairs on the train and held-out prompts of :func:`make_instructions` (same split,
    so held-out pairs use prompts the models never saw in training).

    ``label_noise`` is the chance that a *training* pair's label is swapped (the rejected reply
    marked as chosen), as careless or disagreeing annotators do; held-out labels stay right, so
    they measure what the model learned about the true rule. The flips have a generator of their
    own, so the pairs are the clean ones with some labels swapped.
    """
    if n_train < 1 or n_held_out < 1:
        raise ValueError(f"n_train and n_held_out must be >= 1, got {n_train}, {n_held_out}")
    if not 0 <= label_noise < 0.5:
        raise ValueError(f"label_noise must be in [0, 0.5), got {label_noise}")
    split = make_instructions(seed=0)
    rng = random.Random(seed)
    return {
        "train": _pairs(split["train"], n_train, rng, label_noise, random.Random(seed + 1_000_003)),
        "held_out": _pairs(split["held_out"], n_held_out, rng),
    }
