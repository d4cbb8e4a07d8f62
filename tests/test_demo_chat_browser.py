"""The chat demo end to end in headless Chromium: type a question, send, see the reply appear.

Needs Debian's ``chromium`` and ``chromium-driver``; skipped with the reason when they are absent.
A screenshot is saved to ``tests/artifacts/`` for review.
"""

import pytest
import torch
from browser_support import ARTIFACTS, TIMEOUT_S

from mmlab.align.instruction_tuning import SFTSettings, train_sft_model
from mmlab.demos.chat import build_chat_demo, chat_reply
from mmlab.demos.core import show

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo():
    result = train_sft_model(seed=0, settings=SFTSettings(pretrain_steps=10, max_steps=120))
    app = build_chat_demo(result.model, result.tokenizer)
    with show(app, inline=False) as handle:
        yield handle.url, result.model, result.tokenizer


def _send(driver, url: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    box = WebDriverWait(driver, TIMEOUT_S).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "textarea[data-testid='textbox']:not([disabled])"))
    )
    boxes = [b for b in driver.find_elements(By.CSS_SELECTOR, "textarea") if b.is_displayed()]
    box = boxes[-1]  # the chat input is the last text area (the first is the system prompt)
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def _bot_messages(driver) -> list[str]:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return [
            e.text
            for e in driver.find_elements(By.CSS_SELECTOR, ".message.bot, [data-testid='bot']")
            if e.text
        ]
    except StaleElementReferenceException:  # the chat re-rendered while we read it: read again next time
        return []


def test_type_a_question_and_see_the_reply(driver, demo):
    from selenium.webdriver.support.ui import WebDriverWait

    url, model, tok = demo
    expected = chat_reply(model, tok, "what colour is grass", generator=torch.Generator().manual_seed(0))
    _send(driver, url, "what colour is grass")
    WebDriverWait(driver, TIMEOUT_S).until(lambda d: any(expected in m for m in _bot_messages(d)))
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "chat_demo.png"))
    assert (ARTIFACTS / "chat_demo.png").stat().st_size > 10_000


def test_unknown_words_show_a_message_not_a_traceback(driver, demo):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _, _ = demo
    _send(driver, url, "what colour is a zebra")
    WebDriverWait(driver, TIMEOUT_S).until(lambda d: any("unknown: zebra" in m for m in _bot_messages(d)))
    page = driver.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in page
