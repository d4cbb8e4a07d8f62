"""Demos in Chinese (issue 21): every label, placeholder, button, help text and message of a demo
has its Chinese in ``mmlab/demos/zh/<demo>.py``; a demo built after ``mmlab.set_language("zh")``
shows it, and Chinese input gets a clear Chinese message (the models know only their training
vocabulary). English stays the default (tests/test_demo_fuzz.py and the layout tests)."""

import re

import pytest
from test_demo_fuzz import DEMOS, LEAK

from mmlab import messages
from mmlab.i18n import set_language

CJK = re.compile(r"[\u4e00-\u9fff]")
MODULES = messages.modules("demos")
CHINESE_INPUT = "天空是什么颜色"  # "what colour is the sky"
VOCABULARY_MESSAGES = {
    "chat": "训练词表",
    "vqa": "训练词表",
    "vlm": "训练词表",
    "attention": "训练词表",
    "fill_mask": "训练词表",
    "generate": "训练文本中的字符",
    "translate": "训练词表",
}


@pytest.fixture
def chinese():
    set_language("zh")
    yield
    set_language("en")


def test_every_demo_text_has_its_chinese():
    gaps = [m for module in MODULES for m in messages.missing("demos", module)]
    assert not gaps, (
        f"{len(gaps)} demo text(s) have no Chinese. Add each to the ZH dict of mmlab/demos/zh/<demo>.py "
        "(`python -m mmlab.messages demos <demo>` prints them ready to paste):\n"
        + "\n".join(f"  mmlab/demos/{m.module}.py:{m.line}: {m.text!r}" for m in gaps)
    )


@pytest.mark.parametrize("module", MODULES)
def test_catalog_matches_the_source(module):
    catalog = pytest.importorskip(f"mmlab.demos.zh.{module}")
    source = {m.text for m in messages.source_messages("demos", module)}
    stale = [text for text in [*catalog.ZH, *getattr(catalog, "NOT_MESSAGES", ())] if text not in source]
    assert not stale, f"mmlab/demos/zh/{module}.py has entries no longer in mmlab/demos/{module}.py: {stale}"
    for english, chinese in catalog.ZH.items():
        fields = [{m.group(1) for m in messages.FIELD.finditer(t) if m.group(1)} for t in (english, chinese)]
        assert fields[0] == fields[1], (
            f"{module}: {english!r} has fields {fields[0]}, its Chinese {fields[1]}"
        )
        assert CJK.search(chinese) or chinese == english, f"{module}: {english!r} -> {chinese!r}"


def shown_texts(app) -> list[str]:
    """The labels, placeholders, info texts, button texts, markdown and choices an app shows."""
    import gradio as gr

    texts = []
    for block in app.blocks.values():
        if not getattr(block, "visible", True):
            continue
        texts += [getattr(block, n) for n in ("label", "placeholder", "info") if getattr(block, n, None)]
        if isinstance(block, (gr.Button, gr.Markdown)) and isinstance(block.value, str) and block.value:
            texts.append(block.value)
        texts += [label for label, _ in getattr(block, "choices", None) or [] if isinstance(label, str)]
    return texts


@pytest.mark.parametrize("name", list(DEMOS))
def test_a_demo_built_in_chinese_shows_chinese(name, chinese):
    app = DEMOS[name]()
    texts = shown_texts(app)
    assert len(texts) >= 4
    english = [t for t in texts if not CJK.search(t) and re.search(r"[A-Za-z]{3}", t)]
    # the models' own English (example questions: NOT_MESSAGES), the translate demo's mode names
    allowed = {"translate", "summarise", "summarize", "digits", "shapes"}  # + sketch_tabs' tab names
    for module in MODULES:
        allowed |= set(getattr(pytest.importorskip(f"mmlab.demos.zh.{module}"), "NOT_MESSAGES", ()))
    assert not [t for t in english if t not in allowed], english
    assert CJK.search(app.title)


@pytest.mark.parametrize("name", list(DEMOS))
def test_english_stays_the_default(name):
    texts = shown_texts(DEMOS[name]())
    assert not any(CJK.search(t) for t in texts)


def ask(name: str, app, text) -> str:
    """The demo's main callback on ``text``; returns the message the app shows."""
    if name == "chat":
        return app.respond(text, [], "", 0, 4)
    if name == "vqa":
        from mmlab.demos.vqa import new_scene

        return app.ask(new_scene(0), None, text)[0]
    if name == "vlm":
        return app.ask(0, None, text)[-1]  # the app's state holds the scene's seed
    if name == "attention":
        return app.explain(text, "0", "all")[1]
    if name == "fill_mask":
        return app.predict(f"{text} [MASK]" if isinstance(text, str) and text.strip() else text)
    if name == "generate":
        return list(app.generate(text, 0, 0, 1, 5))[-1][-1]
    if name == "translate":
        return app.run(text, "translate", 1)[-1]
    pytest.skip(f"{name} takes no typed question")


@pytest.mark.parametrize("name", ["chat", "vqa", "vlm", "attention", "fill_mask", "generate", "translate"])
def test_chinese_input_gets_a_clear_chinese_message(name, chinese):
    message = ask(name, DEMOS[name](), CHINESE_INPUT)
    assert CJK.search(message) and not LEAK.search(message), message
    assert "⚠️" in message, message
    if name in VOCABULARY_MESSAGES:  # not a generic rejection: the model knows only its vocabulary
        assert VOCABULARY_MESSAGES[name] in message, message


BAD_TEXTS = ["", None, "x" * 5000, 12345, "   "]


@pytest.mark.parametrize("name", ["chat", "vqa", "vlm", "attention", "fill_mask", "generate", "translate"])
def test_bad_input_in_chinese_gets_a_clear_chinese_message(name, chinese):
    """The fuzz test's rule (a message, never an exception's name) holds in Chinese too."""
    app = DEMOS[name]()
    for value in BAD_TEXTS:
        message = ask(name, app, value)
        assert CJK.search(message) and not LEAK.search(message), (value, message)
