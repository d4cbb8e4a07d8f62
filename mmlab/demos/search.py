"""The search and recommendation demo (chapter 16a): a search box over Python's documentation (BM25,
dense or hybrid) in one tab, a chosen user's history and recommendations in the other.

The pieces behind the app are plain functions, tested without a browser: :func:`run_search` and
:func:`run_recommend` check their inputs (clear messages for empty, too long or out-of-range values)
and return Markdown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from mmlab.data.text import tokenize
from mmlab.demos.core import (
    MAX_TEXT_CHARS,
    DemoInputError,
    check_number,
    check_text,
    friendly_error,
    localize_app,
    tr,
)
from mmlab.search.bm25 import BM25
from mmlab.search.corpus import Passage
from mmlab.search.dense import DenseIndex, embed_texts
from mmlab.search.hybrid import fuse_scores

__all__ = ["METHODS", "Recommendations", "SearchEngine", "build_search_demo", "run_recommend", "run_search"]

METHODS = ("hybrid", "dense", "BM25")
METHOD_LABELS = {
    "hybrid": "hybrid (BM25 + dense)",
    "dense": "dense (MiniLM embeddings)",
    "BM25": "BM25 (word matches)",
}
MAX_K = 10


@dataclass
class SearchEngine:
    """Passages with their BM25 index and dense index; ``alpha`` weighs dense in the hybrid."""

    passages: list[Passage]
    bm25: BM25
    index: DenseIndex
    alpha: float = 0.8
    embed: Callable[[list[str]], np.ndarray] = embed_texts


@dataclass
class Recommendations:
    """Item texts, each user's training items and the recommender's scores (n_users, n_items); the
    items from ``n_warm`` on are the new releases."""

    texts: list[str]
    seen: sparse.csr_matrix
    scores: np.ndarray
    n_warm: int


def run_search(engine: SearchEngine, query: Any, method: Any, k: Any) -> str:
    """The top ``k`` passages for ``query`` as a Markdown table (rank, score, section, start of the text)."""
    if method not in METHODS:
        raise DemoInputError(f"Method must be one of {', '.join(METHODS)}, got {str(method)[:20]!r}.")
    k = check_number(k, "Results", low=1, high=MAX_K, integer=True)
    query = check_text(query, "query", example="how do I leave a loop early")
    lexical = engine.bm25.scores(tokenize(query))[None, :]  # (1, N)
    if method == "BM25":
        scores = lexical
    else:
        sims, ids = engine.index.search(engine.embed([query]), len(engine.index))
        dense = np.empty_like(lexical)
        dense[0, ids[0]] = sims[0]
        scores = dense if method == "dense" else fuse_scores(dense, lexical, engine.alpha)
    top = np.argsort(-scores[0], kind="stable")[:k]
    rows = [
        f"| {r + 1} | {scores[0, i]:.3f} | {_cell(engine.passages[i].title, 60)} | {_cell(engine.passages[i].text, 90)} |"
        for r, i in enumerate(top)
    ]
    return tr("| # | score | section | text |\n|---|---|---|---|\n") + "\n".join(rows)


def _cell(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with Markdown's special characters shown as themselves."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in text)


def run_recommend(recs: Recommendations, user: Any, k: Any) -> tuple[str, str]:
    """(the user's training items, their top ``k`` unseen items) as Markdown lists; new releases marked."""
    n_users = recs.scores.shape[0]
    user = check_number(user, "User", low=0, high=n_users - 1, integer=True)
    k = check_number(k, "Results", low=1, high=MAX_K, integer=True)
    seen = recs.seen[user].indices
    history = "\n".join(f"- {recs.texts[i]}" for i in sorted(seen)[:12]) or tr("- (nothing yet)")
    if len(seen) > 12:
        history += tr(f"\n- … and {len(seen) - 12} more")
    scores = np.array(recs.scores[user], dtype=np.float64)
    scores[seen] = -np.inf
    top = np.argsort(-scores, kind="stable")[:k]
    picks = "\n".join(
        f"{r + 1}. {recs.texts[i]}{' **(new)**' if i >= recs.n_warm else ''} ({scores[i]:.2f})"
        for r, i in enumerate(top)
    )
    return history, picks


def build_search_demo(
    engine: SearchEngine,
    recommendations: Recommendations | None = None,
    title: str = "Search and recommendation",
):
    """A Gradio app: a search tab over ``engine`` and, if given, a recommendation tab; not launched."""
    import gradio as gr

    def search(query: Any, method: Any, k: Any):
        """Callback: (query, method, number of results) -> (results table, message)."""
        try:
            table = run_search(engine, query, method, k)
        except Exception as err:  # shown in the app, never as a traceback
            return "", friendly_error(err)
        return table, tr(
            f"{method}: {table.count(chr(10)) - 1} results from {len(engine.passages)} sections."
        )

    def recommend(user: Any, k: Any):
        """Callback: (user, number of results) -> (history, recommendations, message)."""
        try:
            history, picks = run_recommend(recommendations, user, k)
        except Exception as err:
            return "", "", friendly_error(err)
        return history, picks, tr(f"User {int(float(user))}: {picks.count(chr(10)) + 1} recommendations.")

    with gr.Blocks(title=title) as app:
        gr.Markdown(f"### {title} (by words, by meaning or both)")
        with gr.Tab("Search"):
            with gr.Row():
                query = gr.Textbox(
                    label="query",
                    value="how do I leave a loop early",
                    lines=1,
                    max_length=MAX_TEXT_CHARS,
                    elem_id="query",
                    scale=4,
                )
                method = gr.Dropdown(
                    [(METHOD_LABELS[m], m) for m in METHODS],
                    value="hybrid",
                    label="method",
                    elem_id="method",
                    scale=1,
                )
                k = gr.Number(label=f"results (1 to {MAX_K})", value=5, precision=0, elem_id="k", scale=1)
            button = gr.Button("Search", variant="primary", elem_id="search")
            message = gr.Markdown(elem_id="message")
            results = gr.Markdown(elem_id="results", max_height=230)  # scrolls: the frame stays in view
            button.click(search, [query, method, k], [results, message], api_name="search")
            query.submit(search, [query, method, k], [results, message], api_visibility="private")
        if recommendations is not None:
            with gr.Tab("Recommend"):
                with gr.Row():
                    user = gr.Number(
                        label=f"user (0 to {recommendations.scores.shape[0] - 1})",
                        value=0,
                        precision=0,
                        elem_id="user",
                    )
                    rec_k = gr.Number(label=f"results (1 to {MAX_K})", value=10, precision=0, elem_id="rec_k")
                go = gr.Button("Recommend", variant="primary", elem_id="recommend")
                rec_message = gr.Markdown(elem_id="rec_message")
                with gr.Row():
                    history = gr.Markdown(label="history", elem_id="history")
                    picks = gr.Markdown(label="recommended", elem_id="picks")
                go.click(recommend, [user, rec_k], [history, picks, rec_message], api_name="recommend")
    app.search, app.recommend = search, recommend  # the callbacks, for plain unit tests
    return localize_app(app)
