"""A generated recommendation data set with hidden tastes (chapter 16a).

A catalogue of items, each about two topics of one genre ("a gripping novel about starships and time
travel"), and users who like one or two genres. Hidden from every model: each topic has a latent
vector (its genre's direction plus its own offset), an item's vector is the mean of its two topics',
a user's is the sum of their genres' directions plus noise. A user picks items one after another,
without replacement, with probability proportional to ``exp(taste * u . v_i + log popularity_i)``
(popularity is log-normal: a few hits and a long tail). Each user's events are spread over time; the
split is by time: everything before ``split_time`` is training, the rest is held out. The newest
``n_cold`` items are released at ``split_time``: they have a text but no training interaction
(cold start).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GENRES", "Catalogue", "Interactions", "make_catalogue", "make_interactions"]

GENRES: dict[str, tuple[str, ...]] = {
    "science fiction": (
        "starships",
        "alien worlds",
        "time travel",
        "robots",
        "space colonies",
        "artificial minds",
    ),
    "cooking": (
        "italian pasta",
        "baking bread",
        "spicy curries",
        "vegetarian meals",
        "french pastry",
        "grilling",
    ),
    "history": (
        "ancient rome",
        "the middle ages",
        "world war two",
        "the silk road",
        "empires",
        "revolutions",
    ),
    "football": ("the world cup", "famous strikers", "tactics", "goalkeepers", "club rivalries", "transfers"),
    "gardening": ("roses", "vegetable beds", "houseplants", "composting", "fruit trees", "garden design"),
    "programming": ("python", "algorithms", "databases", "web servers", "compilers", "debugging"),
    "jazz": ("saxophone legends", "bebop", "big bands", "jazz piano", "improvisation", "swing dancing"),
    "travel": ("backpacking", "japan", "mountain hikes", "island beaches", "road trips", "city breaks"),
}
_KINDS = ("book", "novel", "documentary", "podcast", "course", "magazine", "film", "guide")
_ADJECTIVES = ("gripping", "gentle", "practical", "funny", "thorough", "short", "beautiful", "surprising")


@dataclass
class Catalogue:
    """Items with a text each and their hidden vectors; the last ``n_cold`` items are the new releases."""

    texts: list[str]
    genre: np.ndarray  # (n_items,) int
    vectors: np.ndarray  # (n_items, n_genres) hidden
    log_popularity: np.ndarray  # (n_items,) hidden
    n_cold: int

    @property
    def n_items(self) -> int:
        return len(self.texts)

    @property
    def n_warm(self) -> int:
        return self.n_items - self.n_cold


@dataclass
class Interactions:
    """Implicit feedback (user u consumed item i at time t), split by time.

    ``train``: (n, 2) int rows (user, item) before ``split_time``, users interleaved; ``test_warm`` and
    ``test_cold``: for each user, the held-out items (after ``split_time``) among the warm and the new
    items; ``user_genres``: each user's hidden favourite genres (for reading results, never training).
    """

    n_users: int
    train: np.ndarray
    test_warm: list[set[int]]
    test_cold: list[set[int]]
    user_genres: list[tuple[int, ...]]


def make_catalogue(
    n_items: int = 600, n_cold: int = 100, popularity_sigma: float = 1.0, seed: int = 0
) -> Catalogue:
    """``n_items`` items with texts; topic offsets of size 0.6 around each genre's unit direction."""
    rng = np.random.default_rng(seed)
    names = list(GENRES)
    g = len(names)
    topic_vecs = {
        (k, t): np.eye(g)[k] + 0.6 * rng.standard_normal(g) / np.sqrt(g) for k in range(g) for t in range(6)
    }
    texts, genre, vectors = [], [], []
    for _ in range(n_items):
        k = int(rng.integers(g))
        t1, t2 = rng.choice(6, size=2, replace=False)
        topics = GENRES[names[k]]
        texts.append(f"a {rng.choice(_ADJECTIVES)} {rng.choice(_KINDS)} about {topics[t1]} and {topics[t2]}")
        genre.append(k)
        vectors.append((topic_vecs[k, t1] + topic_vecs[k, t2]) / 2)
    return Catalogue(
        texts, np.array(genre), np.array(vectors), rng.normal(0.0, popularity_sigma, n_items), n_cold
    )


def _pick(rng: np.random.Generator, logits: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws without replacement from softmax(logits), in draw order (the Gumbel top-k trick)."""
    return np.argsort(-(logits + rng.gumbel(size=logits.shape)))[:n]


def make_interactions(
    catalogue: Catalogue,
    n_users: int = 2000,
    mean_events: float = 20.0,
    taste: float = 4.0,
    split_time: float = 0.8,
    seed: int = 0,
) -> Interactions:
    """Each user: 1 or 2 favourite genres, ``3 + Poisson(mean_events - 3)`` events at uniform times in
    [0, 1]; events before ``split_time`` choose among the warm items, later ones among all items."""
    rng = np.random.default_rng(seed)
    g = catalogue.vectors.shape[1]
    train, test_warm, test_cold, user_genres = [], [], [], []
    warm = catalogue.n_warm
    for u in range(n_users):
        likes = tuple(int(k) for k in rng.choice(g, size=int(rng.integers(1, 3)), replace=False))
        vector = np.eye(g)[list(likes)].sum(0) + 0.3 * rng.standard_normal(g)
        logits = taste * catalogue.vectors @ vector + catalogue.log_popularity  # (n_items,)
        n = 3 + int(rng.poisson(mean_events - 3))
        n_before = int((rng.random(n) < split_time).sum())
        before = _pick(rng, logits[:warm], n_before)
        rest = logits.copy()
        rest[before] = -np.inf
        after = _pick(rng, rest, n - n_before)
        train.extend((u, int(i)) for i in before)
        test_warm.append({int(i) for i in after if i < warm})
        test_cold.append({int(i) for i in after if i >= warm})
        user_genres.append(likes)
    order = np.random.default_rng(seed + 1).permutation(len(train))  # users interleave in time
    return Interactions(n_users, np.array(train)[order], test_warm, test_cold, user_genres)
