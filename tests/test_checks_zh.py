"""Lab check messages in Chinese (issue 21): every message a check can produce has its Chinese in
``mmlab/checks/zh/labNN.py``, and a check run after ``mmlab.set_language("zh")`` speaks Chinese."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmlab import messages
from mmlab.checks.framework import CheckFailed
from mmlab.checks.lab01 import check_softmax
from mmlab.checks.lab05 import check_precision_recall_f1
from mmlab.i18n import set_language

ROOT = Path(__file__).resolve().parent.parent
LABS = sorted(path.stem for path in (ROOT / "mmlab" / "checks").glob("lab*.py"))
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def chinese():
    set_language("zh")
    yield
    set_language("en")


def test_every_check_message_has_its_chinese():
    gaps = [m for lab in LABS for m in messages.missing("checks", lab)]
    assert not gaps, (
        f"{len(gaps)} check message(s) have no Chinese. Add each to the ZH dict of "
        "mmlab/checks/zh/<lab>.py (English key exactly as below; `python -m mmlab.messages checks <lab>` "
        "prints them ready to paste):\n"
        + "\n".join(f"  mmlab/checks/{m.module}.py:{m.line}: {m.text!r}" for m in gaps)
    )


@pytest.mark.parametrize("lab", LABS)
def test_catalog_matches_the_source(lab):
    """No stale entry (its English changed or went), and each Chinese keeps its English's fields."""
    module = pytest.importorskip(f"mmlab.checks.zh.{lab}")
    source = {m.text for m in messages.source_messages("checks", lab)}
    stale = [
        english for english in [*module.ZH, *getattr(module, "NOT_MESSAGES", ())] if english not in source
    ]
    assert not stale, f"mmlab/checks/zh/{lab}.py has entries no longer in mmlab/checks/{lab}.py: {stale}"
    for english, chinese in module.ZH.items():
        fields = [
            {m.group(1) for m in messages.FIELD.finditer(text) if m.group(1)} for text in (english, chinese)
        ]
        assert fields[0] == fields[1], f"{lab}: {english!r} has fields {fields[0]}, its Chinese {fields[1]}"
        prose = re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", messages.FIELD.sub("", english))  # not just code
        assert CJK.search(chinese) or not prose, f"{lab}: {english!r} -> {chinese!r} is not Chinese"


def test_translate_fills_fields_and_translates_their_values():
    assert messages.to_chinese("parameter w after the step") == "更新一步之后的参数 w"
    # a mistake built from a constant and more text: both parts translated
    english = "softmax over the wrong axis (dim 0 instead of the dim argument)"
    assert (
        messages.to_chinese(english) == "在错误的维度上做 softmax（用了第 0 维，而不是 dim 参数指定的维度）"
    )
    assert messages.to_chinese("not a check message") == "not a check message"


def wrong_axis_softmax(logits, dim=-1):
    return torch.softmax(logits, dim=0)


def test_a_failing_check_speaks_chinese(chinese, capsys):
    with pytest.raises(CheckFailed) as info:
        check_softmax(wrong_axis_softmax)
    text = str(info.value)
    assert text.startswith(
        "check_softmax: 对于形状为 (4, 5) 的 logits，使用默认的 dim=-1，你的 softmax 看起来是"
    )
    assert "在错误的维度上做 softmax（第 0 维" in text and "期望: 形状为 (4, 5) 的张量" in text, text
    assert "looks like" not in text and "expected" not in text

    def not_done(*args, **kwargs):
        raise NotImplementedError

    assert not check_softmax(not_done)
    assert "还没有实现" in capsys.readouterr().out
    assert check_softmax(lambda x, dim=-1: torch.softmax(x, dim=dim))
    assert "项检查通过" in capsys.readouterr().out


def test_english_stays_the_default():
    with pytest.raises(CheckFailed) as info:
        check_softmax(wrong_axis_softmax)
    assert "looks like softmax over the wrong axis" in str(info.value) and not CJK.search(str(info.value))


def test_a_check_error_raised_in_the_check_itself_is_translated(chinese):
    with pytest.raises(CheckFailed) as info:
        check_precision_recall_f1(lambda confusion, average="macro": 0.5)
    assert "请返回元组 (precision, recall, f1)" in str(info.value), str(info.value)


def test_every_known_wrong_answer_gets_a_chinese_message(tmp_path):
    """Run the lab-check tests with every failing check re-run in Chinese (tests/zh_rerun_plugin.py):
    each Chinese message has Chinese in it and none of the catalog's English sentences."""
    record = tmp_path / "record.json"
    env = {**os.environ, "ZH_RERUN_RECORD": str(record), "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{ROOT}"}
    tests = sorted(str(path) for path in (ROOT / "tests").glob("test_checks_lab*.py"))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "zh_rerun_plugin", "-p", "no:xdist", *tests],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    failures = json.loads(record.read_text(encoding="utf-8"))
    assert len(failures) > 300  # every lab's named mistakes
    english = [text for text in messages.catalog("checks") if "{" not in text and len(text.split()) >= 4]
    english = [text for text in english if messages.catalog("checks")[text] != text]
    bad = [
        f.get("zh") for f in failures
        if not CJK.search(f["zh"]) or any(text in f["zh"] for text in english)
    ]  # fmt: skip
    assert not bad, "Chinese check messages with English left in them:\n" + "\n".join(bad[:20])


@pytest.mark.parametrize("package", ["checks", "demos"])
def test_catalogs_use_the_glossary_terms(package):
    """Where an English message uses a glossary term (outside code), its Chinese uses the glossary's."""
    from test_zh import glossary, prose

    rows = [
        (re.compile(r"\b(" + "|".join(re.escape(f).replace(r"\-", "[- ]") for f in english) + r")(s|es)?\b", re.I), chinese)
        for english, chinese in glossary()
    ]  # fmt: skip
    missing = []
    for english, chinese in messages.catalog(package).items():
        text = prose(re.sub(r"\[[A-Z]+\]", " ", messages.FIELD.sub(" ", english)))  # [MASK] is a token
        for pattern, forms in rows:
            found = pattern.search(text)
            if found and not any(form.lower() in chinese.lower() for form in forms):
                missing.append(f"{english!r}: '{found.group(0)}' should be {forms[0]}")
    assert not missing, "\n".join(missing)
