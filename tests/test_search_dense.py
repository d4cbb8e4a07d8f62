"""Chapter 16's dense retrieval: MiniLM embeddings match sentence-transformers; the index is exact search."""

import numpy as np
import pytest
import torch

from mmlab.search.dense import DenseIndex, embed_texts, load_encoder, mean_pool

TEXTS = [
    "a list is mutable, a tuple is not",
    "how do I sort a dictionary by value",
    "the with statement calls __enter__ and __exit__",
    "x",
    "a much longer sentence about generators, which yield values one at a time and keep their state "
    "between calls, so a loop can read an endless stream without holding it in memory",
]


def test_embeddings_match_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    from mmlab.pretrained import minilm_path

    reference = SentenceTransformer(str(minilm_path()), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    ours = embed_texts(TEXTS, batch_size=2)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=2e-5)


def test_embeddings_are_unit_rows_in_input_order_whatever_the_batch():
    one = embed_texts(TEXTS, batch_size=1)
    np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embed_texts(TEXTS, batch_size=64), one, atol=2e-5)
    np.testing.assert_allclose(embed_texts(TEXTS[::-1], batch_size=3), one[::-1], atol=2e-5)
    raw = embed_texts(TEXTS[:2], normalize=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    assert embed_texts([]).shape == (0, 384)


def test_mean_pool_by_hand_ignores_padding():
    model, tokenizer = load_encoder()
    batch = tokenizer(["short", "a somewhat longer text"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    pooled = mean_pool(hidden, batch["attention_mask"])
    n = int(batch["attention_mask"][0].sum())
    torch.testing.assert_close(pooled[0], hidden[0, :n].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(0))


def test_embed_texts_rejects_bad_input():
    with pytest.raises(TypeError, match="sequence of strings"):
        embed_texts("one string")
    with pytest.raises(TypeError, match="sequence of strings"):
        embed_texts(["ok", 3])
    with pytest.raises(ValueError, match="batch_size"):
        embed_texts(["ok"], batch_size=0)


def test_index_is_exact_inner_product_search():
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((200, 16)).astype(np.float32)
    queries = rng.standard_normal((7, 16)).astype(np.float32)
    index = DenseIndex(16)
    index.add(docs[:120])
    index.add(docs[120:])
    assert len(index) == 200
    scores, ids = index.search(queries, k=5)
    full = queries @ docs.T
    expected_ids = np.argsort(-full, axis=1)[:, :5]
    assert ids.dtype == np.int64 and ids.shape == (7, 5)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected_ids, 1), rtol=1e-5, atol=1e-5)
    assert index.search(queries, k=500)[1].shape == (7, 200)  # k is capped at the index size


def test_index_finds_the_paraphrase_with_minilm():
    docs = ["lists can be changed after creation", "files are opened with open()", "tuples are immutable"]
    index = DenseIndex(384)
    index.add(embed_texts(docs))
    _, ids = index.search(embed_texts(["how to read a file", "can I modify a list"]), k=1)
    assert ids[:, 0].tolist() == [1, 0]


def test_index_rejects_bad_shapes_and_values():
    index = DenseIndex(4)
    with pytest.raises(ValueError, match="empty"):
        index.search(np.zeros((1, 4), np.float32), k=1)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        index.add(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        index.add(np.full((1, 4), np.nan, np.float32))
    index.add(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.zeros((1, 4), np.float32), k=0)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        index.search(np.zeros(4, np.float32), k=1)
