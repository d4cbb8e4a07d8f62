"""Chapter 16a's demo: search and recommendation callbacks, their input checks, and the app over HTTP."""

import numpy as np
import pytest

from mmlab.data.text import tokenize
from mmlab.demos.core import DemoInputError, show
from mmlab.demos.search import Recommendations, SearchEngine, build_search_demo, run_recommend, run_search
from mmlab.search.bm25 import BM25
from mmlab.search.corpus import pydoc_passages
from mmlab.search.dense import DenseIndex, embed_texts
from mmlab.search.recommenders import interaction_matrix


@pytest.fixture(scope="module")
def engine():
    wanted = {'The "break" statement', "Lambdas", 'The "import" statement', "Slicings", "__slots__"}
    passages = [p for p in pydoc_passages() if p.title in wanted]
    index = DenseIndex(384)
    index.add(embed_texts([p.text for p in passages]))
    return SearchEngine(passages, BM25([tokenize(p.text) for p in passages]), index, alpha=0.8)


@pytest.fixture(scope="module")
def recs():
    seen = interaction_matrix(np.array([[0, 0], [0, 1], [1, 2]]), 2, 6)
    scores = np.array([[9.0, 8, 1, 2, 3, 4], [1.0, 2, 3, 4, 5, 6]])
    return Recommendations([f"item {i}" for i in range(6)], seen, scores, n_warm=5)


@pytest.mark.parametrize("method", ["BM25", "dense", "hybrid"])
def test_search_finds_the_section(engine, method):
    table = run_search(engine, "leave a loop early", method, 3)
    rows = table.splitlines()[2:]
    assert len(rows) == 3 and 'The "break" statement' in rows[0]


def test_dense_search_finds_a_paraphrase_bm25_misses(engine):
    query = "save memory by declaring a fixed set of instance attributes"
    assert "slots" in run_search(engine, query, "dense", 1).splitlines()[2]


@pytest.mark.parametrize(
    ("query", "method", "k", "message"),
    [
        ("", "dense", 3, "The query is empty"),
        ("x" * 5000, "dense", 3, "characters long"),
        ("loop", "tf-idf", 3, "Method must be one of"),
        ("loop", "BM25", 0, "Results must be a whole number from 1 to 10"),
        ("loop", "BM25", float("nan"), "Results must be"),
        ("loop", "BM25", 2.5, "Results must be a whole number"),
    ],
)
def test_bad_search_input_gets_a_clear_message(engine, query, method, k, message):
    with pytest.raises(DemoInputError, match=message):
        run_search(engine, query, method, k)


def test_recommend_skips_seen_items_and_marks_new_ones(recs):
    history, picks = run_recommend(recs, 0, 3)
    assert history.splitlines() == ["- item 0", "- item 1"]
    assert [line.split(" (")[0] for line in picks.splitlines()] == [
        "1. item 5 **(new)**",
        "2. item 4",
        "3. item 3",
    ]
    with pytest.raises(DemoInputError, match="User must be a whole number from 0 to 1"):
        run_recommend(recs, 2, 3)
    with pytest.raises(DemoInputError, match="User must be"):
        run_recommend(recs, -1, 3)


def test_app_answers_over_http(engine, recs):
    from gradio_client import Client

    app = build_search_demo(engine, recs)
    assert "⚠️" in app.search("", "dense", 3)[1]
    with show(app, inline=False) as handle:
        client = Client(handle.url, verbose=False)
        table, message = client.predict("leave a loop early", "hybrid", 2, api_name="/search")
        assert "break" in table and message.startswith("hybrid: 2 results")
        history, picks, message = client.predict(1, 2, api_name="/recommend")
        assert "item 2" in history and message == "User 1: 2 recommendations."
