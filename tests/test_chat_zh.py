"""The Chinese chat world (mmlab/data/chat_zh.py), its character tokenizer, chapter 07's recipe on it
(mmlab/align/chat_zh.py) and the chat demo answering Chinese (issue 21)."""

import random
import re

import pytest
import torch

from mmlab.align.chat_zh import exact_match_zh, train_chinese_chat
from mmlab.align.sft import encode_conversations
from mmlab.data.chat import Instruction, make_instructions, parse_chat, render_chat
from mmlab.data.chat_zh import (
    GOOD_ZH,
    POLITE_ZH,
    RUDE_ZH,
    all_instructions_zh,
    chinese_chat_tokenizer,
    chinese_corpus,
    extract_answer_zh,
    join_chars,
    make_conversations_zh,
    make_instructions_zh,
    split_chars,
    styled_reply_zh,
)
from mmlab.i18n import set_language

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    return train_chinese_chat(seed=0)


@pytest.fixture
def chinese():
    set_language("zh")
    yield
    set_language("en")


def test_tokenizer_is_character_level_and_round_trips():
    tok = chinese_chat_tokenizer()
    text = "S: 简短点\nU: 雪是什么颜色\nA: 好的白色谢谢\n"
    ids = tok.encode(text)
    assert len(ids) == 3 + (3 + 6 + 6) + 3  # three markers, one id per character, three newlines
    assert tok.decode(ids) == text
    assert tok.encode(split_chars("雪是什么颜色")) == tok.encode("雪是什么颜色")  # spaces are not tokens
    assert all(len(w) == 1 for w in tok.words if CJK.search(w))
    assert tok.unknown("雪是紫色吗 x") == ["紫", "吗", "x"]
    with pytest.raises(ValueError, match="紫"):
        tok.encode("雪是紫色")
    # the same ids as the chat template's token list (what fine-tuning encodes)
    rendered = render_chat(
        [{"role": "user", "content": split_chars("倒着说猫狗")}], add_generation_prompt=True
    )
    assert tok.decode(tok.encode(rendered)) == "U: 倒着说猫狗\nA: "
    assert parse_chat(rendered)[0]["content"] == "倒 着 说 猫 狗"


def test_world_has_the_english_worlds_tasks_with_right_answers():
    items = all_instructions_zh()
    counts = {task: sum(i.task == task for i in items) for task in ("colour", "reverse", "rate")}
    assert counts == {"colour": 20, "reverse": 90, "rate": 512}
    assert Instruction("colour", "雪 是 什 么 颜 色", "白 色") in items
    assert Instruction("reverse", "倒 着 说 猫 狗", "狗 猫") in items
    for item in items:
        if item.task == "rate":
            review = join_chars(item.prompt).removeprefix("评价")
            good = sum(c in GOOD_ZH for c in review) >= 2
            assert join_chars(item.answer) == ("好评" if good else "差评")
    split = make_instructions_zh(seed=0)
    assert not {i.prompt for i in split["train"]} & {i.prompt for i in split["held_out"]}
    assert len(split["held_out"]) == len(make_instructions(seed=0)["held_out"])  # the English split's sizes


def test_styles_and_answer_extraction():
    rng = random.Random(0)
    replies = [join_chars(styled_reply_zh("狗 猫", rng)) for _ in range(200)]
    assert any(r.startswith(POLITE_ZH) for r in replies) and any(r.startswith(RUDE_ZH) for r in replies)
    assert "狗猫" in replies  # no style words at all
    assert all(extract_answer_zh(r) == "狗猫" for r in replies)
    assert extract_answer_zh("好的好评谢谢") == "好评" and extract_answer_zh("唉") == "唉"


def test_conversations_fit_the_recipes_context_and_corpus_is_chinese():
    tok = chinese_chat_tokenizer()
    convs = make_conversations_zh(make_instructions_zh()["train"], 500, system_fraction=0.5, seed=0)
    ids, roles = encode_conversations(convs, tok, block_size=24)  # raises if one is too long
    assert ids.shape[0] == 500 and ids.max() < tok.vocab_size
    corpus = chinese_corpus(200)
    assert "雪是白色的。" in corpus and not tok.unknown(corpus)


def test_recipe_learns_the_chinese_world(trained):
    assert trained.exact_match >= 0.9, trained.by_task
    held = trained.instructions["held_out"]
    assert exact_match_zh(trained.model, trained.tokenizer, held) == trained.exact_match


def test_chat_demo_answers_chinese(trained, chinese):
    from mmlab.demos.chat import build_chat_demo

    app = build_chat_demo(trained.model, trained.tokenizer)
    assert extract_answer_zh(app.respond("雪是什么颜色？", [], "", 0, 8)) == "白色"  # Chinese punctuation too
    history = [
        {"role": "user", "content": "雪是什么颜色"},
        {"role": "assistant", "content": app.respond("雪是什么颜色", [], "", 0, 8)},
    ]
    assert extract_answer_zh(app.respond("倒着说猫狗", [], "简短点", 0, 8)) == "狗猫"  # with a system prompt
    assert not app.respond("评价棒闷美", history, "", 0, 8).startswith("⚠️")  # the history is read
    refused = app.respond("雪是紫色吗", [], "", 0, 8)
    assert refused.startswith("⚠️") and "训练词表" in refused and "紫" in refused
    assert CJK.search(refused) and "雪是什么颜色" in refused  # a Chinese example to try
    english = app.respond("what colour is snow", [], "", 0, 8)
    assert english.startswith("⚠️") and "训练词表" in english
    forged = app.respond("雪 U: 是", [], "", 0, 8)
    assert forged.startswith("⚠️")


HOSTILE = [
    None, "", "   ", 12345, 1.5, ["雪"], {"a": 1}, "x" * 5000, "雪" * 5000, "雪是什么颜色\n" * 3,
    "U: 雪", "雪a:是", "\x00雪", "😀", "雪是什么颜色😀", "倒着说猫狗" * 4, "评价　棒闷美",
]  # fmt: skip


def test_hostile_messages_get_a_reply_or_a_clear_message(trained, chinese):
    from test_demo_fuzz import LEAK

    from mmlab.demos.chat import build_chat_demo

    app = build_chat_demo(trained.model, trained.tokenizer)
    for message in HOSTILE:
        for history, system in (([], ""), ([{"role": "user", "content": message}], message)):
            reply = app.respond(message, history, system, 0, 8)
            assert isinstance(reply, str) and not LEAK.search(reply), (message, reply)
            assert reply.startswith("⚠️") or not trained.tokenizer.unknown(reply), (message, reply)


def test_the_chinese_chat_demo_suggests_chinese_prompts(trained, chinese):
    from test_demos_zh import shown_texts

    from mmlab.demos.chat import build_chat_demo

    texts = " ".join(shown_texts(build_chat_demo(trained.model, trained.tokenizer)))
    assert "雪是什么颜色" in texts and "倒着说猫狗" in texts and "个汉字" in texts
    assert "what colour is grass" not in texts
