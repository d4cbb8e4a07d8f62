"""The Chinese edition's GPT (issue 21, chapter 06): the ``gpt`` recipe on generated Chinese text
(:func:`mmlab.recipes.gpt.chinese_job`), one token per character, and the generation demo
continuing a Chinese prompt."""

import math
import re

import pytest
import torch

from mmlab.data.chat_zh import chinese_chat_tokenizer, chinese_corpus
from mmlab.device import seed_everything
from mmlab.i18n import set_language
from mmlab.recipes.gpt import GPTSettings, chinese_job
from mmlab.train.trainer import Trainer

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def trained():
    seed_everything(0)
    job, chars = chinese_job(GPTSettings())  # chapter 06's cell
    history = Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config).fit()
    return job.model.eval(), chars, history.last("loss")


def test_corpus_is_generated_chinese_sentences():
    text = chinese_corpus()
    assert text == chinese_corpus() and text != chinese_corpus(seed=1)  # generated from a seed
    lines = text.strip().split("\n")
    assert len(lines) == 3000 and all(line.endswith("。") for line in lines)
    assert "雪是白色的。" in lines and not re.search(r"[A-Za-z ]", text)
    assert not chinese_chat_tokenizer().unknown(text)  # the chat world's characters, nothing else


def test_recipe_learns_the_text(trained):
    model, chars, loss = trained
    assert chars.vocab_size < 60 and all(CJK.search(c) or c in "。\n" for c in chars.chars)
    assert loss < 0.5 * math.log(chars.vocab_size)  # chapter 06's assert


def test_generate_demo_continues_chinese(trained):
    from mmlab.demos.generate import build_generate_demo

    model, chars, _ = trained
    set_language("zh")
    try:
        app = build_generate_demo(model, chars, max_tokens_limit=50, example="雪是", seed=0)
        text, message = list(app.generate("雪是", 0, 0, 1, 5))[-1]
        assert text == "白色的。\n" and message == "完成：5 个词元。"
        sampled, _ = list(app.generate("倒着说", 0.8, 0, 0.95, 20))[-1]
        assert len(sampled) == 20 and not chars.unknown(sampled)
        refused = list(app.generate("雪是紫色", 0, 0, 1, 5))[-1][-1]
        assert refused.startswith("⚠️") and "紫" in refused and "训练文本中的字符" in refused
    finally:
        set_language("en")
    with torch.no_grad():  # the demo's text is the model's greedy continuation
        ids = model.generate(torch.tensor([chars.encode("雪是")]), 5, temperature=0)[0, 2:]
    assert chars.decode(ids) == "白色的。\n"
