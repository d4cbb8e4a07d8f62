"""Chapter 16's customer-service assistant: retrieve a passage, answer from it, or say "I don't know".

:class:`FaqRetriever` embeds the knowledge base's passages with MiniLM and searches them with the
exact FAISS index of :mod:`mmlab.search.dense` (cosine similarity of unit vectors).
:class:`Assistant` answers a chat (system/user/assistant messages): it retrieves the best passage
for the user's last message and, when its cosine score is at least ``threshold``, puts it in the
system message and lets the reader GPT (:mod:`mmlab.recipes.assistant`) write the answer;
otherwise it replies :data:`~mmlab.data.faq.IDK` without calling the model.
:func:`evaluate_assistant` measures answer accuracy, abstention on unanswerable questions and the answers
without retrieval; :func:`choose_threshold` picks the threshold on training phrasings only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mmlab.data.chat import WordTokenizer, split_tokens
from mmlab.data.faq import IDK, FaqItem, Question
from mmlab.models.gpt import GPT
from mmlab.search.dense import DenseIndex, embed_texts
from mmlab.serve.backends import ChatBackend, message_words

__all__ = ["Answer", "Assistant", "FaqRetriever", "choose_threshold", "evaluate_assistant"]


class FaqRetriever:
    """Dense retrieval over the FAQ's passages: MiniLM embeddings in an exact inner-product index."""

    def __init__(self, faq: Sequence[FaqItem]) -> None:
        self.faq = list(faq)
        vectors = embed_texts([item.passage for item in self.faq])  # (N, 384), unit rows
        self.index = DenseIndex(vectors.shape[1])
        self.index.add(vectors)

    def search(self, questions: Sequence[str], k: int = 1) -> tuple[np.ndarray, list[list[FaqItem]]]:
        """Cosine scores ``(Q, k)`` and the ``k`` best passages of each question, best first."""
        scores, ids = self.index.search(embed_texts(list(questions)), k)
        return scores, [[self.faq[i] for i in row] for row in ids]


@dataclass
class Answer:
    """The assistant's reply, the passage it read (None when it abstained or had none) and its score."""

    reply: str
    passage: FaqItem | None
    score: float
    retrieved: list[tuple[FaqItem, float]] = field(default_factory=list)


class Assistant:
    """The RAG assistant: retriever + reader GPT + an abstention threshold on the top cosine score.

    Args:
        model, tokenizer: the reader (:func:`mmlab.recipes.assistant.train_reader`, :func:`faq_tokenizer`).
        retriever: a :class:`FaqRetriever`; None answers from the model's memory alone (no retrieval).
        threshold: the lowest top-1 cosine score the assistant trusts; below it, it says it does not know.
        k: how many passages to retrieve (the reader reads the best one; the demo shows all).
        reader: ``messages -> reply`` to answer through instead of calling the model here, e.g. the
            OpenAI-compatible server (:mod:`mmlab.serve`) through the ``openai`` client; default greedy, local.
    """

    def __init__(
        self,
        model: GPT,
        tokenizer: WordTokenizer,
        retriever: FaqRetriever | None,
        threshold: float = 0.0,
        k: int = 3,
        reader: Callable[[list[dict]], str] | None = None,
    ) -> None:
        self.backend = ChatBackend(model, tokenizer)
        self.tokenizer, self.retriever, self.threshold, self.k = tokenizer, retriever, threshold, k
        self.reader = reader

    def _reader_text(self, text: str) -> str:
        """``text`` in the reader's words: lower case, no punctuation, unknown words dropped."""
        return " ".join(w for w in split_tokens(message_words(text, "content")) if w in self.tokenizer.stoi)

    def read(self, question: str, passage: str | None) -> str:
        """The reader's greedy answer to ``question`` given ``passage`` as the system message (or none)."""
        messages = [{"role": "system", "content": passage}] if passage else []
        messages.append({"role": "user", "content": self._reader_text(question)})
        if self.reader is not None:
            return self.reader(messages)
        ids = self.backend.prompt_ids(messages)
        return self.backend.complete(ids, temperature=0.0, top_p=1.0, max_tokens=None).text

    def answers(self, questions: Sequence[str]) -> list[Answer]:
        """Answers to many questions at once (one retrieval batch)."""
        if self.retriever is None:
            return [Answer(self.read(q, None), None, float("nan")) for q in questions]
        scores, passages = self.retriever.search(questions, self.k)
        out = []
        for q, row_scores, row in zip(questions, scores, passages, strict=True):
            retrieved = [(p, float(s)) for p, s in zip(row, row_scores, strict=True)]
            best, score = retrieved[0]
            if score < self.threshold:
                out.append(Answer(IDK, None, score, retrieved))
            else:
                out.append(Answer(self.read(q, best.passage), best, score, retrieved))
        return out

    def reply(self, messages: Sequence[dict]) -> Answer:
        """The answer to a chat: the user's last message is the question (earlier turns are context the
        tiny reader cannot hold; the retrieved passage becomes the system message)."""
        users = [m["content"] for m in messages if m.get("role") == "user"]
        if not users:
            raise ValueError("the conversation has no user message to answer")
        return self.answers([users[-1]])[0]


def choose_threshold(
    retriever: FaqRetriever, answerable: Sequence[Question], unanswerable: Sequence[Question]
) -> float:
    """The top-1 score threshold that best separates answerable from unanswerable questions
    (balanced accuracy; call it with training phrasings, never the test set)."""
    good = retriever.search([q.text for q in answerable])[0][:, 0]
    bad = retriever.search([q.text for q in unanswerable])[0][:, 0]
    candidates = np.unique(np.concatenate([good, bad]))
    balanced = [((good >= t).mean() + (bad < t).mean()) / 2 for t in candidates]
    return float(candidates[int(np.argmax(balanced))])


def evaluate_assistant(
    assistant: Assistant, answerable: Sequence[Question], unanswerable: Sequence[Question]
) -> dict[str, float]:
    """``accuracy`` (exact answers to answerable questions; an abstention counts as wrong),
    ``abstain_unanswerable`` (share of unanswerable questions answered "I don't know"),
    ``abstain_answerable`` (the wrongly refused share) and ``retrieval_hit`` (top-1 passage is the right fact)."""
    with torch.no_grad():
        good = assistant.answers([q.text for q in answerable])
        bad = assistant.answers([q.text for q in unanswerable])
    metrics = {
        "accuracy": float(np.mean([a.reply == q.answer for a, q in zip(good, answerable, strict=True)])),
        "abstain_unanswerable": float(np.mean([a.reply == IDK for a in bad])),
        "abstain_answerable": float(np.mean([a.reply == IDK for a in good])),
    }
    if assistant.retriever is not None:
        hits = [
            bool(a.retrieved) and a.retrieved[0][0].key == q.key
            for a, q in zip(good, answerable, strict=True)
        ]
        metrics["retrieval_hit"] = float(np.mean(hits))
    return metrics
