"""The chat template, the word tokenizer and the generated instruction set."""

import random

import pytest
import torch

from mmlab.data.chat import (
    ASSISTANT,
    POLITE,
    RUDE,
    SYSTEM,
    TEMPLATE,
    USER,
    WordTokenizer,
    all_instructions,
    chat_tokenizer,
    extract_answer,
    make_instructions,
    parse_chat,
    politeness_score,
    render_chat,
    render_with_roles,
    styled_reply,
)

CHAT = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "what colour is grass"},
    {"role": "assistant", "content": "sure green thanks"},
]


def test_render_and_parse_round_trip():
    text = render_chat(CHAT)
    assert text == "S: be brief\nU: what colour is grass\nA: sure green thanks\n"
    assert parse_chat(text) == CHAT
    prompt = render_chat(CHAT[:2], add_generation_prompt=True)
    assert prompt.endswith("\nA:") and parse_chat(prompt)[-1] == {"role": "assistant", "content": ""}


def test_roles_mark_each_token():
    tokens, roles = render_with_roles(CHAT)
    assert tokens[:4] == ["S:", "be", "brief", "\n"] and len(tokens) == len(roles)
    assert roles[:4] == [TEMPLATE, SYSTEM, SYSTEM, SYSTEM]
    assistant = [t for t, r in zip(tokens, roles) if r == ASSISTANT]
    assert assistant == ["sure", "green", "thanks", "\n"]  # the answer and the stop token
    assert tokens[roles.index(USER) - 1] == "U:"


@pytest.mark.parametrize(
    "messages, error",
    [
        ([{"role": "bot", "content": "hi"}], "roles are"),
        ([{"role": "user", "content": "a\nb"}], "newline"),
        ([{"role": "user"}], "exactly 'role' and 'content'"),
        ("hello", "list of"),
        ([{"role": "user", "content": 3}], "must be a string"),
    ],
)
def test_bad_messages_are_named(messages, error):
    with pytest.raises((ValueError, TypeError), match=error):
        render_chat(messages)


def test_parse_rejects_lines_without_a_marker():
    with pytest.raises(ValueError, match="line 2 does not start with a role marker"):
        parse_chat("U: hi\nhello\n")


def test_tokenizer_round_trip_and_unknown_words():
    tok = chat_tokenizer()
    text = render_chat(CHAT)
    ids = tok.encode(text)
    assert len(ids) == len(render_with_roles(CHAT)[0]) and tok.decode(ids) == text
    assert tok.decode(torch.tensor(ids)) == text
    with pytest.raises(ValueError, match="zebra"):
        tok.encode("what colour is zebra")
    assert tok.unknown("hi zebra yak zebra") == ["zebra", "yak"]


def test_tokenizer_matches_its_transformers_version():
    tok = WordTokenizer()
    hf = tok.to_transformers()
    text = render_chat(CHAT, add_generation_prompt=False)
    assert hf(text)["input_ids"] == tok.encode(text)
    prompt = render_chat(CHAT[:2], add_generation_prompt=True)
    assert hf(prompt)["input_ids"] + hf(" sure green thanks\n")["input_ids"] == tok.encode(text)
    assert hf.eos_token == "\n" and hf.pad_token_id == tok.pad_id and hf.eos_token_id == tok.eot_id


def test_instruction_split_is_disjoint_and_answers_are_right():
    split = make_instructions()
    train, held = {i.prompt for i in split["train"]}, {i.prompt for i in split["held_out"]}
    assert not train & held and len(train) + len(held) == len(all_instructions())
    assert {i.task for i in split["held_out"]} == {"colour", "reverse", "rate"}
    answers = {i.prompt: i.answer for i in all_instructions()}
    assert answers["reverse cat dog"] == "dog cat" and answers["what colour is sky"] == "blue"
    assert answers["rate fun dull nice"] == "good" and answers["rate slow weak great"] == "bad"
    assert make_instructions() == split


def test_politeness_and_answer_extraction():
    assert politeness_score("sure green thanks") == 2 and politeness_score("ugh green") == -1
    assert politeness_score("sure sure sure") == 3 and politeness_score("green") == 0
    assert extract_answer("glad dog cat duh") == "dog cat" and extract_answer("sure sure") == ""
    rng = random.Random(0)
    replies = [styled_reply("red", rng) for _ in range(3000)]
    assert all(extract_answer(r) == "red" for r in replies)
    firsts = [r.split()[0] for r in replies]
    share = {
        kind: sum(w in words for w in firsts) / len(firsts) for kind, words in (("p", POLITE), ("r", RUDE))
    }
    assert abs(share["p"] - 1 / 3) < 0.04 and abs(share["r"] - 1 / 3) < 0.04
