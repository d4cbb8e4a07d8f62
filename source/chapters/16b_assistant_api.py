# %% [markdown]
# # 16b · Applications: a customer-service assistant, a voice assistant and an OpenAI-compatible API
# {{colab_badge}}
#
# **What you will build:** the course's models put to work. A shop's **customer-service assistant**
# answers questions from a knowledge base: it **retrieves** the right passage with the real MiniLM
# encoder and a FAISS index (chapter 16a's dense search), lets a tiny chat GPT trained with chapter
# 07's recipe **read** the answer out of it, and says **"I don't know"** when retrieval finds nothing
# it trusts (retrieval-augmented generation, RAG). You measure it against the baseline a practitioner
# tries first, fine-tuning the model on the FAQ and asking it with no passage. Then you put the
# models behind an **OpenAI-compatible server** (`python -m mmlab.serve`) and call it with the
# official `openai` client exactly as you would call a hosted model, mapping every parameter to what
# the course taught. Last, chapter 14's recogniser goes in front of an assistant that runs a home:
# a **voice assistant**, measured end to end on spoken commands it never heard.

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
import numpy as np
import openai
import torch
from IPython.display import Audio, display
from transformers.utils import logging as hf_logging

from mmlab.assistant import Assistant, FaqRetriever, choose_threshold, evaluate_assistant
from mmlab.data.chat import render_chat
from mmlab.data.faq import IDK, TEST, TRAIN, make_faq, make_questions, reading_conversations
from mmlab.data.speech import SAMPLE_RATE, synthesise
from mmlab.demos.speech import recognise
from mmlab.device import seed_everything
from mmlab.experiments import assert_beats, comparison_table, repeat
from mmlab.recipes.assistant import faq_tokenizer, train_reader
from mmlab.recipes.registry import resolve_settings
from mmlab.recipes.speech import speech_data, speech_tensors, transcribe
from mmlab.search.dense import embed_texts
from mmlab.seq2seq_training import train_model
from mmlab.serve import ChatBackend, create_app
from mmlab.serve.backends import minilm_backend
from mmlab.serve.server import start_server
from mmlab.voice import VoiceAssistant, nearest_command, task_success

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
seed_everything(0)
print(f"torch threads: {torch.get_num_threads()}")

# %% [markdown]
# The chapter's settings are the `assistant` recipe's (`mmlab/recipes/assistant.py`), which
# `python -m mmlab.train assistant` trains too; `SCALE = "gpu"` trains a larger reader on more
# conversations.

# %%
# NBVAL_CHECK_OUTPUT
SCALE = "cpu"
settings = resolve_settings("assistant", SCALE)
SEEDS = (0, 1, 2)  # every comparison that decides a claim is repeated over these
print(settings.summary())

# %% [markdown]
# ## 1. The knowledge base
#
# `mmlab.data.faq` generates a shop: eight products with five attributes each (price, warranty,
# colour, weight, delivery time) and four policies (returns, refunds, cancelling, where orders ship
# from). The **knowledge base** holds one passage per fact, but only three of each product's five
# attributes are written down, so some questions have **no answer in the base**, and a few
# questions are out of scope altogether ("can i pay with cash"). Each fact is asked in seven
# phrasings: four are used for training and for choosing settings, three are **held out** for the
# test.

# %%
faq = make_faq(settings.faq_seed)
answerable, unanswerable = make_questions(faq, TEST)
train_answerable, train_unanswerable = make_questions(faq, TRAIN)
for item in faq[:4] + faq[-2:]:
    print(f"{item.key:16} {item.passage}")
print(f"\n{len(faq)} passages; test questions: {len(answerable)} answerable, {len(unanswerable)} with no answer")
print("held out:", [q.text for q in answerable[:3]], "| no answer:", [q.text for q in unanswerable[:2]])

# %% [markdown]
# ## 2. A reader: chapter 07's chat model, trained to answer from a passage
#
# The assistant's language model is a word-level GPT like chapter 07's, over the FAQ's 143 words,
# trained with the same SFT loss (cross-entropy on the assistant's tokens only). Its conversations
# use the chat roles: the **system** message carries the passage, the **user** asks, the
# **assistant** answers. To make it *read* rather than memorise, the passages carry **random
# values** ("the lamp weighs four kilos" today, "one kilo" in the next conversation). A share of
# the conversations (`closed_book_fraction`) asks the shop's real facts with no passage, in training
# phrasings: that is the baseline, a model fine-tuned on the FAQ that answers from memory.

# %%
example = reading_conversations(1, seed=3)[0]
print(render_chat(example))

# %%
# NBVAL_IGNORE_OUTPUT
tokenizer = faq_tokenizer()
reader = train_reader(0, settings, progress=True)
print(f"{reader.num_parameters():,} parameters")

# %% [markdown]
# ## 3. Retrieval, and when to say "I don't know"
#
# `FaqRetriever` embeds every passage with MiniLM (mean pooling, unit length: chapter 16a) and
# searches an exact inner-product FAISS index, so a score is a cosine similarity. A question with no
# answer in the base still retrieves *something*, usually a passage about the same product or the
# same attribute, but with a lower score. The assistant abstains when the top score is under a
# **threshold**, chosen on the *training* phrasings (the one that best separates answerable from
# unanswerable questions, balanced accuracy), never on the test.

# %%
retriever = FaqRetriever(faq)
threshold = choose_threshold(retriever, train_answerable, train_unanswerable)
good = retriever.search([q.text for q in answerable])[0][:, 0]
bad = retriever.search([q.text for q in unanswerable])[0][:, 0]
print(f"threshold {threshold:.3f} (chosen on training phrasings)")
print(f"top-1 cosine, answerable test questions: mean {good.mean():.3f}, min {good.min():.3f}")
print(f"top-1 cosine, unanswerable test questions: mean {bad.mean():.3f}, max {bad.max():.3f}")
assert good.mean() > bad.mean() + 0.1

# %% [markdown]
# ## 4. With and without retrieval, over 3 seeds
#
# Three assistants on the held-out phrasings, each from the same trained reader (one reader per
# seed):
#
# * **no retrieval**: the fine-tuned model asked with no passage (it answers from memory);
# * **RAG**: the top passage in the system message, always answered;
# * **RAG + abstain**: the same, but "I don't know" under the threshold.
#
# Accuracy is exact match on answerable questions (an abstention counts as wrong there);
# `abstain_unanswerable` is the share of unanswerable questions the assistant declines;
# `abstain_answerable` the share of answerable ones it wrongly declines.

# %%
# NBVAL_IGNORE_OUTPUT
def assistants(seed):
    model = train_reader(seed, settings, progress=True)
    return {
        "no retrieval": Assistant(model, tokenizer, None),
        "RAG": Assistant(model, tokenizer, retriever),
        "RAG + abstain": Assistant(model, tokenizer, retriever, threshold),
    }


runs = {seed: {name: evaluate_assistant(a, answerable, unanswerable) for name, a in assistants(seed).items()} for seed in SEEDS}

# %%
metrics = ("accuracy", "abstain_unanswerable", "abstain_answerable")
results = {
    name: repeat(lambda seed, name=name: {m: runs[seed][name][m] for m in metrics}, SEEDS, label=name)
    for name in ("no retrieval", "RAG", "RAG + abstain")
}
print(comparison_table(list(results.values()), metrics))
print(f"retrieval: the top passage is the asked fact for {runs[0]['RAG']['retrieval_hit']:.0%} of answerable questions")
margin = assert_beats(results["RAG"], results["no retrieval"], "accuracy", min_margin=0.3)
abstain = assert_beats(results["RAG + abstain"], results["RAG"], "abstain_unanswerable", min_margin=0.5)
assert max(results["RAG + abstain"].values("abstain_answerable")) < 0.2
print(f"RAG beats no retrieval by {margin:.2f} accuracy; the threshold declines {abstain:.0%} more unanswerable questions")

# %% [markdown]
# Retrieval wins by a wide margin. The fine-tuned model without retrieval gets some facts right
# from memory, but new phrasings of a question it learned, and facts sharing words with other
# products, confuse it; the reader given the right passage only has to copy two words. Without a
# threshold, RAG answers **every** unanswerable question: it always retrieves something and the
# reader always reads it out. The threshold declines most of them at the cost of a few answerable
# questions whose best passage scored low (the table's last column: the trade-off that choosing a
# threshold makes).
#
# ## 5. A failure: a misleading passage
#
# Retrieval does not know what it does not have. An unanswerable question that retrieves a passage
# about a *similar* fact with a high enough score gets a confident, wrong answer: the reader reads
# whatever it is given.

# %%
rag = assistants(0)["RAG + abstain"]
answers = rag.answers([q.text for q in unanswerable])
fooled = [(q, a) for q, a in zip(unanswerable, answers) if a.reply != IDK]
print(f"{len(fooled)} of {len(unanswerable)} unanswerable test questions were answered anyway, e.g.:")
for q, a in fooled[:3]:
    print(f"  Q: {q.text!r} (the base has no {q.key})\n     read {a.passage.passage!r} (cosine {a.score:.3f}) -> {a.reply!r}")
assert fooled and all(a.passage.key != q.key for q, a in fooled)

# %% [markdown]
# The usual remedies: a stricter threshold (more "I don't know" to right questions too), a reader
# trained to refuse when the passage is about another product or attribute (negative passages in
# its training set), or a re-ranker that scores question and passage together (a cross-encoder).
#
# ## 6. The assistant behind an OpenAI-compatible API
#
# Hosted models are called over HTTP with the OpenAI chat format, and so can ours.
# `mmlab.serve.create_app` is a FastAPI app with `GET /v1/models`, `POST /v1/chat/completions`
# (streaming too) and `POST /v1/embeddings`; `python -m mmlab.serve` runs it with uvicorn on
# 127.0.0.1 (see the README). Here it runs in this notebook, on a free loopback port, serving the
# reader as `mmlab-assistant` and MiniLM as `all-minilm-l6-v2`, with an API key.

# %%
server = start_server(
    create_app({"mmlab-assistant": ChatBackend(reader, tokenizer)}, {"all-minilm-l6-v2": minilm_backend()}, api_key="sk-local")
)
client = openai.OpenAI(base_url=server.url, api_key="sk-local", max_retries=0)
print([m.id for m in client.models.list()])
response = client.chat.completions.create(
    model="mmlab-assistant",
    messages=[
        {"role": "system", "content": "the kettle weighs two kilos"},
        {"role": "user", "content": "How heavy is the kettle?"},
    ],
    temperature=0,
)
print(repr(response.choices[0].message.content), response.choices[0].finish_reason, response.usage)
assert response.choices[0].message.content == "two kilos"

# %% [markdown]
# Every parameter is something the course built:
#
# | parameter | what it does here | where you built it |
# |---|---|---|
# | `messages` (system/user/assistant) | rendered with the chat template `S:`/`U:`/`A:` plus the generation prompt `A:` | chapter 07 |
# | `temperature` | logits divided by it before the softmax; `0` is greedy (argmax) | chapter 06 sampling |
# | `top_p` | nucleus filtering: the smallest set of words with probability ≥ p | chapter 06 sampling |
# | `max_tokens` | the most words generated (`finish_reason="length"` when it cuts) | chapter 06 generation loop |
# | `stop` | extra strings that end the reply; the end-of-turn token (the newline) always does (`finish_reason="stop"`) | chapter 07's end-of-turn token |
# | `n`, `seed` | several samples, each from its own seeded generator | chapter 06 |
# | `stream=true` | each word sent as a server-sent event as soon as it is generated (KV cache) | chapter 06 |
# | `usage` | the prompt's and the reply's token counts | the tokenizer |

# %%
ask = [{"role": "system", "content": "the lamp costs forty dollars"}, {"role": "user", "content": "how much is the lamp"}]
hot = client.chat.completions.create(model="mmlab-assistant", messages=ask, temperature=2.0, n=3, seed=0)
nucleus = client.chat.completions.create(model="mmlab-assistant", messages=ask, temperature=1.0, top_p=0.5, n=3, seed=0)
cut = client.chat.completions.create(model="mmlab-assistant", messages=ask, temperature=0, max_tokens=1)
stopped = client.chat.completions.create(model="mmlab-assistant", messages=ask, temperature=0, stop=[" dollars"])
print("temperature 2:        ", [c.message.content for c in hot.choices])
print("temperature 1, top-p .5:", [c.message.content for c in nucleus.choices])
print("max_tokens=1:", repr(cut.choices[0].message.content), cut.choices[0].finish_reason)
print("stop=' dollars':", repr(stopped.choices[0].message.content), stopped.choices[0].finish_reason)
stream = client.chat.completions.create(model="mmlab-assistant", messages=ask, temperature=0, stream=True)
pieces = [chunk.choices[0].delta.content for chunk in stream if chunk.choices[0].delta.content]
print("streamed pieces:", pieces)
assert all(c.message.content == "forty dollars" for c in nucleus.choices)  # the reader is sure: top-p keeps one word
assert cut.choices[0].finish_reason == "length" and stopped.choices[0].message.content == "forty"
assert "".join(pieces) == "forty dollars"

# %% [markdown]
# At temperature 2 the reader sometimes writes another price or a stray word: dividing the logits by
# 2 flattens the distribution. Top-p 0.5 keeps only the smallest set of words holding half the
# probability; at temperature 1 the reader is sure of "forty", so that set is one word and every
# sample agrees (top-p acts after the temperature, so at temperature 2 the set can grow).
# `max_tokens=1` stops after one word with `finish_reason="length"`; the stop string ends the reply
# before " dollars" with `"stop"`, the reason the end-of-turn token gives too.
#
# The embeddings endpoint returns MiniLM's unit vectors (the client asks for them base64-encoded
# and decodes them), the same the retriever uses. And every mistake a client can make gets
# OpenAI's error JSON with the right status, never a traceback:

# %%
vectors = client.embeddings.create(model="all-minilm-l6-v2", input=["refund policy", "how do i return an item"])
got = np.array([d.embedding for d in vectors.data])
print(got.shape, "cosine:", round(float(got[0] @ got[1]), 3))
assert np.allclose(got, embed_texts(["refund policy", "how do i return an item"]), atol=1e-5)
for bad_request in (
    dict(model="gpt-4o", messages=ask),
    dict(model="mmlab-assistant", messages=[{"role": "tool", "content": "hi"}]),
    dict(model="mmlab-assistant", messages=ask, temperature=5),
    dict(model="mmlab-assistant", messages=[{"role": "user", "content": "how much is the lamp " * 10}]),
):
    try:
        client.chat.completions.create(**bad_request)
    except openai.APIStatusError as err:
        print(err.status_code, err.body["code"], "|", err.body["message"][:90])

# %% [markdown]
# The assistant itself can answer through the API: give it a `reader` that sends the messages to
# the server. Over HTTP it is the same model with the same greedy decoding, so it must get the
# same answers as in-process:

# %%
via_api = Assistant(
    reader,
    tokenizer,
    retriever,
    threshold,
    reader=lambda messages: client.chat.completions.create(
        model="mmlab-assistant", messages=messages, temperature=0
    ).choices[0].message.content,
)
api_metrics = evaluate_assistant(via_api, answerable, unanswerable)
print(api_metrics)
assert api_metrics["accuracy"] == runs[0]["RAG + abstain"]["accuracy"]

# %% [markdown]
# ## 7. A voice assistant
#
# Chapter 14's CTC recogniser in front, a simulated home behind, eSpeak NG speaking the reply. The
# transcript is the user's message and the reply the assistant's, in the same roles as above. The
# recogniser is trained here for `settings.recogniser_steps` steps (chapter 14 trains it longer);
# the task succeeds when the assistant carries out the command that was spoken. Two ways to read a
# transcript: **exact** (chapter 14's `parse_command`: every letter right) and **nearest** (the
# grammar's command closest in character edits, a practitioner's first fix for misspellings).

# %%
# NBVAL_IGNORE_OUTPUT
speech = resolve_settings("speech", SCALE)
spoken = speech_data(speech.repeats, speech.snr_low, speech.snr_high)
recogniser, _, seconds = train_model("speech", SCALE, 0, max_steps=settings.recogniser_steps)
print(f"recogniser trained in {seconds:.0f} s")

# %%
def hear(utterances):
    return transcribe(recogniser, speech_tensors(utterances, speech.n_mels))


success = {}
for split, utterances in (("unheard phrases", spoken.held_out), ("unheard voices", spoken.test)):
    for reading in ("exact", "nearest"):
        success[split, reading] = task_success(VoiceAssistant(hear, reading), utterances)
    print(f"{split:16} ({len(utterances):3} commands): task success exact {success[split, 'exact']:.2f}, nearest {success[split, 'nearest']:.2f}")
assert success["unheard phrases", "nearest"] >= success["unheard phrases", "exact"]
assert success["unheard voices", "nearest"] > 0.5

# %% [markdown]
# One recogniser, so these numbers are one run, not a 3-seed claim. Reading the transcript against
# the grammar never hurts here (a command right letter for letter is also nearest to itself) and
# recovers commands with a misspelt word. It cannot recover a wrong *word* that is itself valid:
# "turn of" is one edit from both "turn on" and "turn off":

# %%
print(nearest_command("turn of the kitchen light"), nearest_command("turn on the kitchen light"))

# %% [markdown]
# A whole conversation, spoken both ways:

# %%
# NBVAL_IGNORE_OUTPUT
voice = VoiceAssistant(hear, "nearest")
turns = voice.handle(spoken.held_out[:3])
for turn in turns:
    print(f"heard {turn.transcript!r:34} -> {turn.reply!r}")
print([m["role"] for m in voice.messages])
display(Audio(turns[0].audio, rate=SAMPLE_RATE))

# %% [markdown]
# And its limit: the recogniser only ever heard home commands. Ask it a shop question and it writes
# letters from its own small world, so the customer-service assistant behind it gets nonsense:

# %%
question = "how heavy is the kettle"
audio = synthesise(question, voice="en-us+m7")
heard, command = recognise(recogniser, audio)  # chapter 14's demo function: beam search over the CTC output
print(f"said {question!r}, heard {heard!r} ({command})")
assert heard != question

# %% [markdown]
# ## 8. The demo
#
# Ask the shop's assistant; the panel beside the chat shows the three passages MiniLM retrieved,
# their cosine scores, and whether the top one cleared the threshold. The demo's assistant is
# `via_api`: its reader is the server above, called with the `openai` client (`server.close()`
# stops the server).

# %% tags=["strip-output"]
# NBVAL_IGNORE_OUTPUT
import mmlab.demos  # noqa: E402

demo = mmlab.demos.build_assistant_demo(via_api)
handle = mmlab.demos.show(demo)

# %% [markdown]
# ## Summary
#
# * RAG = retrieve, then read: MiniLM + FAISS find the passage, a tiny chat GPT reads the answer out
#   of it, and a threshold on the retrieval score decides when to say "I don't know".
# * Measured over 3 seeds on held-out phrasings, retrieval beats fine-tuning on the FAQ by a wide
#   margin; the threshold declines most unanswerable questions and a few answerable ones.
# * A high-scoring passage about a *similar* fact fools the assistant: the reader believes what it reads.
# * An OpenAI-compatible server makes the course's model callable like a hosted one; each parameter
#   is chapter 06's sampling or chapter 07's template.
# * A voice assistant chains chapter 14's recogniser, the command grammar and speech synthesis; the
#   grammar recovers misspelt commands, and nothing recovers words the recogniser never heard.
