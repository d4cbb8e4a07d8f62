"""End to end in headless Chromium: type a sentence, click, see the heat map appear.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser`` installs them); skipped with
the reason when they are absent. A screenshot is saved to ``tests/artifacts/`` for review.
"""

import pytest
import torch
from browser_support import ARTIFACTS, TIMEOUT_S

from mmlab.data.synthetic import LetterTokenizer
from mmlab.demos.attention import build_attention_demo
from mmlab.demos.core import show
from mmlab.models.encoder import EncoderClassifier, EncoderConfig
from mmlab.models.transformer import TransformerConfig

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_url():
    torch.manual_seed(0)
    tokenizer = LetterTokenizer()
    config = EncoderConfig(27, 27, transformer=TransformerConfig(32, 4, 2, max_len=8))
    model = EncoderClassifier(config).eval()
    app = build_attention_demo(
        model, tokenizer, describe_output=lambda logits: "sorted: " + tokenizer.decode(logits.argmax(-1)[0])
    )
    with show(app, inline=False) as handle:
        yield handle.url


def _type_and_click(driver, url: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    box = WebDriverWait(driver, TIMEOUT_S).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "#text textarea"))
    )
    box.clear()
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#show").click()


def test_type_click_and_see_the_heat_map(driver, demo_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _type_and_click(driver, demo_url, "heads")
    image = WebDriverWait(driver, TIMEOUT_S).until(
        lambda d: next(
            (e for e in d.find_elements(By.CSS_SELECTOR, "#map img") if e.get_attribute("src")), None
        )
    )
    WebDriverWait(driver, TIMEOUT_S).until(
        lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0
    )
    assert image.size["width"] > 100 and image.size["height"] > 20
    message = driver.find_element(By.CSS_SELECTOR, "#message").text
    assert "5 tokens: h e a d s" in message and "sorted:" in message
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "attention_demo.png"))
    assert (ARTIFACTS / "attention_demo.png").stat().st_size > 10_000


def test_too_long_input_shows_a_message_not_a_traceback(driver, demo_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _type_and_click(driver, demo_url, "transformers")
    WebDriverWait(driver, TIMEOUT_S).until(
        lambda d: "at most 8" in d.find_element(By.CSS_SELECTOR, "#message").text
    )
    page = driver.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in page and "Error" not in page
    assert not [e for e in driver.find_elements(By.CSS_SELECTOR, "#map img") if e.get_attribute("src")]
    driver.save_screenshot(str(ARTIFACTS / "attention_demo_too_long.png"))
