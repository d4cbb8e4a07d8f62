"""Chinese templates of the shapes world (mmlab/data/multimodal/vqa_zh.py) and the VLM demo taking
Chinese questions in the Chinese edition (issue 21)."""

import re

import pytest
import torch
from PIL import Image

from mmlab.data.multimodal.scenes import COLOURS, KINDS, describe_scene
from mmlab.data.multimodal.vqa import ANSWERS, make_vqa, parse_question, question_text
from mmlab.data.multimodal.vqa_zh import (
    ANSWERS_ZH,
    EXAMPLES_ZH,
    answer_zh,
    caption_zh,
    parse_question_zh,
    question_text_zh,
)
from mmlab.i18n import set_language

CJK = re.compile(r"[\u4e00-\u9fff]")
EVERY_QUESTION = (
    [("colour", (k,)) for k in KINDS]
    + [("shape", (c,)) for c in COLOURS]
    + [("count", (k,)) for k in KINDS]
    + [("relation", (c, k)) for c in COLOURS for k in KINDS]
)


@pytest.fixture
def chinese():
    set_language("zh")
    yield
    set_language("en")


@pytest.mark.parametrize("qtype, args", EVERY_QUESTION)
def test_every_question_reads_back_in_both_languages(qtype, args):
    chinese = question_text_zh(qtype, args)
    assert CJK.search(chinese) and not re.search(r"[A-Za-z]", chinese)
    assert parse_question_zh(chinese) == (qtype, args) == parse_question(question_text(qtype, args))


def test_typed_variants_and_refusals():
    assert parse_question_zh("圆是什么颜色") == ("colour", ("circle",))
    assert parse_question_zh("有多少个方块?") == ("count", ("square",))
    assert parse_question_zh("红的在三角左边吗") == ("relation", ("red", "triangle"))
    assert parse_question_zh(" 蓝色的是什么形状 ？") == ("shape", ("blue",))
    for question in (
        "天空是什么颜色",
        "三角形和圆形是什么颜色",
        "你好",
        "红色的是什么颜色",
        "\x00圆是什么颜色",
        "圆是什么颜色x",
    ):
        with pytest.raises(ValueError):
            parse_question_zh(question)


def test_answers_and_captions_of_the_generated_world():
    assert set(ANSWERS_ZH) == set(ANSWERS) and len(set(ANSWERS_ZH.values())) == len(ANSWERS)
    rows = make_vqa(40, seed=3).select_columns(["scene", "caption"]).to_dict()
    for scene, caption in zip(rows["scene"], rows["caption"]):
        chinese = caption_zh(caption)
        assert caption == describe_scene(scene)
        assert CJK.search(chinese) and not re.search(r"[A-Za-z]", chinese), (caption, chinese)
        assert chinese.count("一个") == len(scene) or chinese == "一张空白的图"
    assert caption_zh("a large red circle, a small blue square") == "一个大的红色圆形，一个小的蓝色正方形"
    assert caption_zh("a red red") == "a red red"  # a malformed caption stays as the model wrote it
    assert answer_zh("two") == "两个" and answer_zh("yes") == "是" and answer_zh("circle") == "圆形"


def _vlm():
    from mmlab.models.gpt import GPTConfig
    from mmlab.models.vlm import MiniVLM, VLMConfig, VLMTokenizer

    tok = VLMTokenizer(
        [*(question_text(t, a) for t, a in EVERY_QUESTION), " ".join(ANSWERS), "a large small"]
    )
    config = VLMConfig(gpt=GPTConfig(vocab_size=len(tok), block_size=24, n_layer=1, n_head=2, n_embd=16))
    return MiniVLM(config, tok).eval()


def test_vlm_demo_answers_a_chinese_question_in_chinese(chinese):
    from mmlab.demos.vlm import build_vlm_demo

    vlm, asked = _vlm(), []
    english_answer = vlm.answer

    def spy(image, question):
        asked.append(question)
        return english_answer(image, question)

    vlm.answer = spy
    app = build_vlm_demo(vlm)
    for qtype, args in EVERY_QUESTION:
        answer, caption, note = app.ask(0, None, question_text_zh(qtype, args))
        assert asked[-1] == question_text(qtype, args)  # the question of the model's training pattern
        assert answer == answer_zh(english_answer_of(vlm, asked[-1], english_answer))
        assert "英文" in note and question_text(qtype, args) in note and "⚠️" not in note
        assert caption == caption_zh(vlm.caption(_scene_picture(vlm)))
    refused = app.ask(0, None, "天空是什么颜色")
    assert refused[:2] == ("", "") and "⚠️" in refused[2] and "训练词表" in refused[2]
    assert EXAMPLES_ZH[0] in refused[2]
    english = app.ask(0, None, "what colour is the triangle?")  # English still works as it is
    assert english[2] == "" and english[0] == english_answer_of(
        vlm, "what colour is the triangle?", english_answer
    )


def test_english_edition_keeps_refusing_chinese():
    from mmlab.demos.vlm import build_vlm_demo

    answer, caption, message = build_vlm_demo(_vlm()).ask(0, None, EXAMPLES_ZH[0])
    assert (answer, caption) == ("", "") and "⚠️" in message


def _scene_picture(vlm):
    from mmlab.demos.vlm import load_picture, new_scene

    return load_picture(new_scene(0), None, vlm.config.image.image_size)


def english_answer_of(vlm, question, answer_fn):
    return answer_fn(_scene_picture(vlm), question)


def test_hostile_questions_in_the_chinese_edition_get_a_clear_message(chinese):
    from test_demo_fuzz import LEAK

    from mmlab.demos.vlm import build_vlm_demo

    app = build_vlm_demo(_vlm())
    hostile = [
        None,
        "",
        "  ",
        12345,
        ["三角形"],
        "三角形是什么颜色？" + "啊" * 5000,
        "\x00三角形是什么颜色",
        "😀",
        "圆" * 300,
    ]
    for question in hostile:
        answer, caption, message = app.ask(0, None, question)
        assert (answer, caption) == ("", "") and message.startswith("⚠️"), (question, message)
        assert CJK.search(message) and not LEAK.search(message), (question, message)
    answer, caption, message = app.ask(-1, None, EXAMPLES_ZH[0])  # a bad seed still gets its message
    assert message.startswith("⚠️") and not LEAK.search(message)


def test_the_chinese_edition_offers_chinese_questions(chinese):
    from test_demos_zh import shown_texts

    from mmlab.demos.vlm import build_vlm_demo

    texts = " ".join(shown_texts(build_vlm_demo(_vlm())))
    assert all(q in texts for q in EXAMPLES_ZH) and "what colour is the triangle?" not in texts


def _vqa_model():
    from mmlab.models.fusion import FusionConfig, HybridFusion

    torch.manual_seed(0)
    return HybridFusion(FusionConfig(), mode="cross_attention").eval()


def test_vqa_demo_answers_a_chinese_question_in_chinese(chinese):
    from mmlab.demos.vqa import answer_question, build_vqa_demo, new_scene

    model = _vqa_model()
    app = build_vqa_demo(model)
    scene = new_scene(3).resize((192, 192))
    image = scene.resize((24, 24), Image.Resampling.BILINEAR)
    for qtype, args in EVERY_QUESTION:
        message, answers, overlay = app.ask(scene, None, question_text_zh(qtype, args))
        english, _ = answer_question(model, image, question_text(qtype, args))  # what the model answers
        assert answers == {answer_zh(a): p for a, p in english.items()}
        best = max(english, key=english.get)
        assert message.startswith(f"**{answer_zh(best)}**") and question_text(qtype, args) in message
        assert "英文" in message and "⚠️" not in message and overlay is not None
    refused, answers, _ = app.ask(scene, None, "天空是什么颜色")
    assert "⚠️" in refused and "四种句式" in refused and answers == {}
    message, answers, _ = app.ask(scene, None, "what colour is the triangle?")  # English as it is
    assert "⚠️" not in message and set(answers) <= set(ANSWERS)


def test_vqa_demo_in_english_refuses_chinese_by_its_vocabulary():
    from mmlab.demos.vqa import build_vqa_demo, new_scene

    message, answers, _ = build_vqa_demo(_vqa_model()).ask(new_scene(3), None, "有几个圆形？")
    assert "⚠️" in message and "does not know" in message and answers == {}
