# %% [markdown]
# # Lab 16 · Search and recommendation metrics, BM25 and the in-batch softmax
# {{colab_badge}}
#
# **What you will build:** the pieces of chapter 16a from scratch: BM25's score of every document for
# a query, recall@k and NDCG@k of a ranking, and the two-tower model's in-batch softmax loss. Each
# exercise is followed by a check that compares your function with the course's and names the mistake.

# %%
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # a normal (not editable) install imports without restarting the runtime
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "mmlab @ git+{{repository}}"],
        check=True,
    )

# %%
import math

import torch
import torch.nn.functional as F

from mmlab.checks.lab16 import check_bm25_scores, check_in_batch_softmax, check_ndcg_at_k, check_recall_at_k
from mmlab.device import get_device, seed_everything

seed_everything(0)
print(f"device: {get_device()}")

# %% [markdown]
# ## Exercise 1: BM25
#
# `docs` is a list of tokenised documents (lists of words), `query` a list of words. Return a tensor
# with one score per document:
#
# $$\mathrm{score}(q, d) = \sum_{w \in q} \mathrm{idf}(w)\,
#   \frac{f(w, d)\,(k_1 + 1)}{f(w, d) + k_1\left(1 - b + b\,\frac{|d|}{\overline{|d|}}\right)},
# \qquad \mathrm{idf}(w) = \ln\!\left(1 + \frac{N - n_w + 0.5}{n_w + 0.5}\right)$$
#
# with $f(w, d)$ the count of $w$ in $d$, $|d|$ its length in words, $\overline{|d|}$ the mean length
# of the $N$ documents, and $n_w$ the number of documents containing $w$. A query word that appears in
# no document adds nothing. Hints: `doc.count(word)`, `math.log`.


# %%
def bm25_scores(query: list[str], docs: list[list[str]], k1: float = 1.5, b: float = 0.75) -> torch.Tensor:
    # BEGIN SOLUTION
    n_docs = len(docs)
    avg_len = sum(len(d) for d in docs) / n_docs
    scores = torch.zeros(n_docs, dtype=torch.float64)
    for word in query:
        n_w = sum(word in d for d in docs)
        if n_w == 0:
            continue
        idf = math.log(1 + (n_docs - n_w + 0.5) / (n_w + 0.5))
        for i, d in enumerate(docs):
            f = d.count(word)
            scores[i] += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(d) / avg_len))
    return scores
    # END SOLUTION


# %%
check_bm25_scores(bm25_scores)

# %% [markdown]
# ## Exercise 2: recall@k
#
# `ranked` holds one list of item ids per query, best first; `relevant` one set of relevant ids per
# query (every query has at least one). recall@k of a query is the share of its relevant items found
# in its first `k`: $|\mathrm{top}_k \cap \mathrm{relevant}| / |\mathrm{relevant}|$. Return the mean
# over the queries (a float).


# %%
def recall_at_k(ranked: list[list[int]], relevant: list[set[int]], k: int) -> float:
    # BEGIN SOLUTION
    values = [len(set(row[:k]) & rel) / len(rel) for row, rel in zip(ranked, relevant)]
    return sum(values) / len(values)
    # END SOLUTION


# %%
check_recall_at_k(recall_at_k)

# %% [markdown]
# ## Exercise 3: NDCG@k
#
# With binary relevance ($\mathrm{rel}_r = 1$ if the item at rank $r$ is relevant), the discounted
# cumulative gain is $\mathrm{DCG@k} = \sum_{r=1}^{k} \mathrm{rel}_r / \log_2(r + 1)$: a hit at the top
# counts 1, at rank 3 only 0.5. NDCG@k divides it by the ideal DCG, that of the best possible ranking
# (all relevant items first, at most `k` of them): $\mathrm{IDCG@k} = \sum_{r=1}^{\min(k, |\mathrm{relevant}|)} 1/\log_2(r + 1)$.
# Return the mean NDCG@k over the queries (a float).


# %%
def ndcg_at_k(ranked: list[list[int]], relevant: list[set[int]], k: int) -> float:
    # BEGIN SOLUTION
    values = []
    for row, rel in zip(ranked, relevant):
        dcg = sum(1 / math.log2(i + 2) for i, item in enumerate(row[:k]) if item in rel)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(rel))))
        values.append(dcg / ideal)
    return sum(values) / len(values)
    # END SOLUTION


# %%
check_ndcg_at_k(ndcg_at_k)

# %% [markdown]
# ## Exercise 4: the two-tower in-batch softmax
#
# A batch holds $B$ pairs: row $i$ of `user_emb` is a user and row $i$ of `item_emb` the item they
# consumed (both `[B, d]`, **not** normalised). The score is the cosine similarity over a temperature
# $\tau$: $\ell_{ij} = \cos(u_i, v_j) / \tau$. User $i$ must pick their own item $i$ among the $B$
# items of the batch: return the mean cross-entropy of the rows of $\ell$ with targets $0, 1, \dots, B-1$
#
# $$\mathcal{L} = -\frac{1}{B}\sum_{i=1}^{B} \log \frac{e^{\ell_{ii}}}{\sum_{j=1}^{B} e^{\ell_{ij}}}.$$
#
# (CLIP averages this with the other direction, items picking users; here, only users pick.) Hints:
# `F.normalize(x, dim=-1)`, `torch.arange(B)`, `F.cross_entropy`.


# %%
def in_batch_softmax(user_emb: torch.Tensor, item_emb: torch.Tensor, temperature: float) -> torch.Tensor:
    # BEGIN SOLUTION
    logits = F.normalize(user_emb, dim=-1) @ F.normalize(item_emb, dim=-1).T / temperature  # (B, B)
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))
    # END SOLUTION


# %%
check_in_batch_softmax(in_batch_softmax)

# %% [markdown]
# ## Done
# These are `mmlab.search.bm25.BM25`, `mmlab.search.metrics.recall_at` and `ndcg_at`, and
# `mmlab.models.two_tower.in_batch_softmax` in chapter 16a. Chapter 16b builds an assistant on
# retrieval.
