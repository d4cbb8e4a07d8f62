"""The chat demo end to end in headless Chromium: type a question, send, see the reply appear.

Needs Debian's ``chromium`` and ``chromium-driver``; skipped with the reason when they are absent.
A screenshot is saved to ``tests/artifacts/`` for review.
"""

import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from mmlab.align.sft import SFTConfig, train_sft_model
from mmlab.demos.chat import build_chat_demo, chat_reply
from mmlab.demos.core import show

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
TIMEOUT_S = 60


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"{path} not found: install Debian's {package} (`make browser`) to run the browser tests"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def driver():
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mmlab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1400",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(TIMEOUT_S)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def demo():
    result = train_sft_model(seed=0, config=SFTConfig(pretrain_steps=10, sft_steps=120))
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
    from selenium.webdriver.common.by import By

    return [
        e.text for e in driver.find_elements(By.CSS_SELECTOR, ".message.bot, [data-testid='bot']") if e.text
    ]


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
