"""End to end in headless Chromium: draw a stroke on the sketch demo, click, see the probabilities.

Uses the browser setup of ``tests/test_demo_browser.py`` (Debian's ``chromium`` and
``chromium-driver``; skipped with the reason when absent). A screenshot goes to ``tests/artifacts/``.
"""

import pytest
import torch
from browser_support import ARTIFACTS, TIMEOUT_S

from mmlab.demos.core import show
from mmlab.demos.sketch import build_sketch_demo
from mmlab.models.clip import CLIP, CLIPConfig, TextTransformer, WordTokenizer
from mmlab.models.vision import CNNConfig

pytestmark = pytest.mark.browser
NAMES = ("zero", "one", "seven")


@pytest.fixture(scope="module")
def sketch_url():
    torch.manual_seed(0)
    tok = WordTokenizer([f"a handwritten {w}" for w in NAMES], max_len=6)
    config = CLIPConfig(
        CNNConfig(in_channels=1, image_size=8, channels=(8,), strides=(2,), d_out=16), embed_dim=8
    )
    clip = CLIP(config, TextTransformer(tok, 16, 2, 1)).eval()
    with show(build_sketch_demo(clip, class_names=list(NAMES)), inline=False) as handle:
        yield handle.url


def _canvas(driver):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def biggest(d):
        canvases = [c for c in d.find_elements(By.CSS_SELECTOR, "#sketch canvas") if c.size["width"] > 100]
        return max(canvases, key=lambda c: c.size["width"] * c.size["height"]) if canvases else None

    return WebDriverWait(driver, TIMEOUT_S).until(biggest)


def test_draw_a_stroke_and_see_probabilities(driver, sketch_url):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(sketch_url)
    canvas = _canvas(driver)
    driver.find_element(By.CSS_SELECTOR, "#sketch button[aria-label='Brush']").click()  # the draw tool
    height = canvas.size["height"]
    # a vertical stroke through the middle: a "one" (offsets are from the canvas centre)
    chain = ActionChains(driver).move_to_element_with_offset(canvas, 0, -height // 3).click_and_hold()
    for _ in range(10):
        chain = chain.move_by_offset(0, (2 * height // 3) // 10)
    chain.release().perform()
    driver.find_element(By.CSS_SELECTOR, "#classify").click()

    def shown_labels(d):
        text = d.find_element(By.CSS_SELECTOR, "#probs").text
        found = [name for name in NAMES if name in text]
        return found if len(found) == len(NAMES) and "%" in text else None

    assert WebDriverWait(driver, TIMEOUT_S).until(shown_labels) == list(NAMES)
    message = driver.find_element(By.CSS_SELECTOR, "#message").text
    page = driver.find_element(By.TAG_NAME, "body").text
    assert "blank" not in message and "Traceback" not in page
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "sketch_demo.png"))
    assert (ARTIFACTS / "sketch_demo.png").stat().st_size > 10_000


def test_blank_canvas_says_so(driver, sketch_url):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(sketch_url)
    _canvas(driver)
    driver.find_element(By.CSS_SELECTOR, "#classify").click()
    WebDriverWait(driver, TIMEOUT_S).until(
        lambda d: "blank" in d.find_element(By.CSS_SELECTOR, "#message").text
    )
    assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text
