"""Repeat an experiment over seeds and decide a claim by its margin (every chapter that compares).

A sentence such as "pretraining helps" is a claim about a *difference between means*, and one run
cannot carry it: seeds move results. :func:`repeat` runs a function once per seed and keeps every
metric it returns; :func:`assert_beats` checks that one setting beats another by more than the
seed-to-seed spread (and an optional minimum margin), and says by how much when it does not.

    >>> a = repeat(lambda seed: {"acc": 0.9 + 0.01 * seed}, seeds=(0, 1, 2), label="fine-tuned")
    >>> b = repeat(lambda seed: {"acc": 0.5}, seeds=(0, 1, 2), label="random init")
    >>> round(assert_beats(a, b, "acc", min_margin=0.1), 2)
    0.41
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mmlab.device import seed_everything

__all__ = ["Repeats", "assert_beats", "comparison_table", "repeat"]

DEFAULT_SEEDS = (0, 1, 2)


@dataclass
class Repeats:
    """The metrics of one setting, one row per seed."""

    label: str
    seeds: list[int]
    runs: list[dict[str, float]] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        if not self.runs or metric not in self.runs[0]:
            known = sorted(self.runs[0]) if self.runs else []
            raise KeyError(f"{self.label!r} has no metric {metric!r}; it has {known}")
        return [float(run[metric]) for run in self.runs]

    def mean(self, metric: str) -> float:
        return statistics.fmean(self.values(metric))

    def std(self, metric: str) -> float:
        """Sample standard deviation over seeds (0 for a single seed)."""
        values = self.values(metric)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def spread(self, metric: str) -> float:
        """Largest minus smallest value over seeds."""
        values = self.values(metric)
        return max(values) - min(values)

    def summary(self, metric: str, digits: int = 3) -> str:
        """``mean ± std (min-max)`` as text."""
        values = self.values(metric)
        return (
            f"{self.mean(metric):.{digits}f} ± {self.std(metric):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})"
        )

    def select(self, metric: str, label: str, name: str = "value") -> Repeats:
        """One metric of these runs, renamed ``name``, as a setting of its own: so two metrics of
        the same runs (e.g. accuracy on seen and on unseen classes) can go to :func:`assert_beats`."""
        return Repeats(label, list(self.seeds), [{name: value} for value in self.values(metric)])

    def __repr__(self) -> str:
        metrics = list(self.runs[0]) if self.runs else []
        body = ", ".join(f"{m}={self.summary(m)}" for m in metrics)
        return f"Repeats({self.label!r}, seeds={self.seeds}: {body})"


def repeat(
    fn: Callable[[int], Mapping[str, float]],
    seeds: Iterable[int] = DEFAULT_SEEDS,
    label: str = "",
    reseed: bool = True,
) -> Repeats:
    """Run ``fn(seed)`` for every seed and collect the metrics it returns.

    ``fn`` returns a mapping of metric name to number; every run must return the same names.
    With ``reseed`` (the default) the global generators are seeded before each call, so a function
    that forgets to seed is still reproducible.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("repeat needs at least one seed")
    result = Repeats(label=label or getattr(fn, "__name__", "run"), seeds=seeds)
    for seed in seeds:
        if reseed:
            seed_everything(seed)
        metrics = {name: float(value) for name, value in dict(fn(seed)).items()}
        if result.runs and set(metrics) != set(result.runs[0]):
            raise ValueError(
                f"seed {seed} returned metrics {sorted(metrics)}, the first seed {sorted(result.runs[0])}"
            )
        bad = [name for name, value in metrics.items() if not math.isfinite(value)]
        if bad:
            raise ValueError(f"seed {seed} returned a non-finite value for {bad}")
        result.runs.append(metrics)
    return result


def assert_beats(
    better: Repeats,
    worse: Repeats,
    metric: str,
    min_margin: float = 0.0,
    higher_is_better: bool = True,
) -> float:
    """Assert that ``better`` beats ``worse`` on ``metric`` by more than the seed spread.

    The margin is the difference of means (oriented so that positive means ``better`` wins). It
    must exceed both ``min_margin`` and the larger of the two settings' standard deviations over
    seeds. Returns the margin; raises ``AssertionError`` with the numbers when the claim fails.
    """
    sign = 1.0 if higher_is_better else -1.0
    margin = sign * (better.mean(metric) - worse.mean(metric))
    noise = max(better.std(metric), worse.std(metric))
    needed = max(min_margin, noise)
    if not margin > needed:
        raise AssertionError(
            f"{better.label!r} does not beat {worse.label!r} on {metric}: "
            f"{better.summary(metric)} vs {worse.summary(metric)}; margin {margin:.4f}, "
            f"needed more than {needed:.4f} (min_margin {min_margin}, largest std {noise:.4f})"
        )
    return margin


def comparison_table(settings: Sequence[Repeats], metrics: Sequence[str], digits: int = 3) -> str:
    """A Markdown table: one row per setting, ``mean ± std (min-max)`` per metric."""
    header = "| setting | seeds | " + " | ".join(metrics) + " |"
    rule = "|---|---|" + "---|" * len(metrics)
    rows = [
        f"| {s.label} | {len(s.seeds)} | " + " | ".join(s.summary(m, digits) for m in metrics) + " |"
        for s in settings
    ]
    return "\n".join([header, rule, *rows])
