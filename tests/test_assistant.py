"""Chapter 16's customer-service assistant (FAQ, reader, retrieval, abstention) and voice assistant."""

import numpy as np
import pytest

from mmlab.assistant import Assistant, FaqRetriever, choose_threshold, evaluate_assistant
from mmlab.data.chat import render_chat
from mmlab.data.faq import (
    IDK,
    TEST,
    TRAIN,
    VOCAB,
    closed_book_conversations,
    make_faq,
    make_questions,
    reading_conversations,
)
from mmlab.data.speech import Utterance, command_text
from mmlab.recipes.assistant import AssistantSettings, faq_tokenizer, train_reader
from mmlab.recipes.registry import build_job
from mmlab.voice import Home, VoiceAssistant, nearest_command, task_success


def test_faq_has_missing_facts_and_held_out_phrasings():
    faq = make_faq(0)
    assert len(faq) == 8 * 3 + 4 and len({item.key for item in faq}) == len(faq)
    answerable, unanswerable = make_questions(faq, TEST)
    train_answerable, _ = make_questions(faq, TRAIN)
    assert {q.text for q in answerable}.isdisjoint(q.text for q in train_answerable)
    assert all(q.answer is None for q in unanswerable) and len(unanswerable) > 20
    assert all(q.answer in item.passage for q in answerable for item in faq if item.key == q.key)
    tokenizer = faq_tokenizer()
    for q in answerable + unanswerable:
        tokenizer.encode(q.text)  # every word is the reader's
    assert make_faq(0) == faq and make_faq(1) != faq


def test_conversations_use_the_roles_and_fit_the_reader():
    settings = AssistantSettings()
    tokenizer = faq_tokenizer()
    for conversation in reading_conversations(200) + closed_book_conversations(make_faq(0), 50):
        roles = [m["role"] for m in conversation]
        assert roles in (["system", "user", "assistant"], ["user", "assistant"])
        ids = tokenizer.encode(render_chat(conversation))
        assert len(ids) <= settings.block_size + 1
    passages = {c[0]["content"] for c in reading_conversations(500)}
    assert len(passages) > 150  # random values: nothing to memorise
    assert len(VOCAB) == tokenizer.vocab_size


def test_the_assistant_job_builds():
    job = build_job("assistant", overrides={"n_conversations": 200})
    ids, roles = next(iter(job.train_loader))
    loss, extra = job.loss_fn(job.model, (ids, roles))
    assert loss.item() == pytest.approx(np.log(len(VOCAB)), rel=0.2)  # untrained: about uniform


@pytest.fixture(scope="module")
def trained():
    faq = make_faq(0)
    return train_reader(0), faq_tokenizer(), faq, FaqRetriever(faq)


def test_retrieval_reads_and_abstains(trained):
    model, tokenizer, faq, retriever = trained
    answerable, unanswerable = make_questions(faq, TEST)
    threshold = choose_threshold(retriever, *make_questions(faq, TRAIN))
    closed = evaluate_assistant(Assistant(model, tokenizer, None), answerable, unanswerable)
    rag = evaluate_assistant(Assistant(model, tokenizer, retriever, threshold), answerable, unanswerable)
    assert rag["retrieval_hit"] > 0.9
    assert rag["accuracy"] > closed["accuracy"] + 0.3
    assert closed["abstain_unanswerable"] == 0.0 and rag["abstain_unanswerable"] > 0.5
    assert rag["abstain_answerable"] < 0.2


def test_the_reader_answers_from_the_passage_it_is_given(trained):
    model, tokenizer, faq, retriever = trained
    assistant = Assistant(model, tokenizer, retriever)
    assert assistant.read("How heavy is the lamp?", "the lamp weighs three kilos") == "three kilos"
    assert (
        assistant.read("how heavy is the lamp", "the lamp weighs one kilo") == "one kilo"
    )  # reads, not memory
    answer = assistant.reply(
        [{"role": "system", "content": "x"}, {"role": "user", "content": "what is the return window?"}]
    )
    assert answer.passage.key == "returns" and answer.reply == answer.passage.answer
    assert len(answer.retrieved) == 3 and answer.retrieved[0][1] >= answer.retrieved[1][1]
    strict = Assistant(model, tokenizer, retriever, threshold=1.01)
    assert strict.reply([{"role": "user", "content": "how heavy is the lamp"}]).reply == IDK
    with pytest.raises(ValueError, match="no user message"):
        assistant.reply([{"role": "system", "content": "hi"}])


def test_choose_threshold_separates_scores(trained):
    _, _, faq, retriever = trained
    answerable, unanswerable = make_questions(faq, TRAIN)
    t = choose_threshold(retriever, answerable, unanswerable)
    good = retriever.search([q.text for q in answerable])[0][:, 0]
    bad = retriever.search([q.text for q in unanswerable])[0][:, 0]
    assert bad.mean() < t <= good.max()
    best = ((good >= t).mean() + (bad < t).mean()) / 2
    for other in np.linspace(0, 1, 21):
        assert best >= ((good >= other).mean() + (bad < other).mean()) / 2 - 1e-12


def _utterance(action, device, place):
    return Utterance(
        command_text(action, device, place), action, device, place, "en", 170, 50, np.zeros(10, np.float32)
    )


def test_nearest_command_fixes_a_misspelling():
    assert nearest_command("turn off the kichen lite")[0] == ("turn off", "light", "kitchen")
    # "of" is one edit from both "on" and "off": the nearest command cannot tell them apart
    assert (
        nearest_command("turn of the kitchen light")[1] == nearest_command("turn on the kitchen light")[1] + 1
    )
    assert nearest_command("check the garden radio")[1] == 0


def test_voice_assistant_acts_keeps_roles_and_measures_success():
    said = [
        _utterance("turn on", "fan", "garden"),
        _utterance("turn off", "fan", "garden"),
        _utterance("check", "fan", "garden"),
    ]
    heard = ["turn on the garden fan", "turn off the gardn fan", "zzz"]
    exact = VoiceAssistant(lambda us: heard, reading="exact")
    nearest = VoiceAssistant(lambda us: heard, reading="nearest")
    assert task_success(exact, said) == pytest.approx(1 / 3)
    assert task_success(nearest, said) == pytest.approx(2 / 3)
    assert nearest.home.on == set()  # on, then off
    assert [m["role"] for m in nearest.messages] == ["system"] + ["user", "assistant"] * 3
    assert nearest.messages[-1]["content"] == "sorry, say that again"
    turn = VoiceAssistant(lambda us: ["check the office heater"]).handle(said[:1])[0]
    assert turn.reply == "the office heater is off" and turn.audio.size > 1000  # spoken by eSpeak NG
    with pytest.raises(ValueError, match="reading"):
        VoiceAssistant(lambda us: [], reading="fuzzy")


def test_home_replies():
    home = Home()
    assert home.apply(("turn on", "light", "office")) == "okay, the office light is on"
    assert home.apply(("check", "light", "office")) == "the office light is on"
