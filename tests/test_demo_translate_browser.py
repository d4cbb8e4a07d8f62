"""The translation demo end to end in headless Chromium: type, click, see the translation and the map."""

import pytest
import torch
from browser_support import ARTIFACTS, TIMEOUT_S

from mmlab.data.translation import make_translation_data
from mmlab.demos.core import show
from mmlab.demos.translate import build_translate_demo
from mmlab.models.seq2seq import Seq2Seq, Seq2SeqConfig

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_url():
    data = make_translation_data(200, 10)
    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(vocab_size=data.vocab.vocab_size, d_model=16, n_heads=2, max_len=12)).eval()
    english = {w for p in data.train for w in p.source.split()}
    with show(build_translate_demo(model, data.vocab, english), inline=False) as handle:
        yield handle.url


def _type_and_run(driver, url: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    box = WebDriverWait(driver, TIMEOUT_S).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "#text textarea"))
    )
    box.clear()
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#run").click()


def test_translate_and_see_the_map(driver, demo_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _type_and_run(driver, demo_url, "the small blue cat is under the bed")
    image = WebDriverWait(driver, TIMEOUT_S).until(
        lambda d: next(
            (e for e in d.find_elements(By.CSS_SELECTOR, "#map img") if e.get_attribute("src")), None
        )
    )
    WebDriverWait(driver, TIMEOUT_S).until(
        lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0
    )
    assert image.size["width"] > 100
    assert "translate: 8 words in" in driver.find_element(By.CSS_SELECTOR, "#message").text
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "translate_demo.png"))


def test_french_input_shows_a_message_not_a_traceback(driver, demo_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _type_and_run(driver, demo_url, "le petit chat bleu est sous le lit")
    WebDriverWait(driver, TIMEOUT_S).until(
        lambda d: "This looks like French" in d.find_element(By.CSS_SELECTOR, "#message").text
    )
    page = driver.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in page and "Error" not in page
