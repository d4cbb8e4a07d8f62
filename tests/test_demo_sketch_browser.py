"""End to end in headless Chromium: draw a stroke on the sketch demo, click, see the probabilities.

Both apps: the digits one (1-channel model, black brush) and the shapes one (3-channel model: its
brush starts in the data set's red, so a stroke reaches the model as colour, not as the black ink it
would refuse). The models are untrained: these tests check the page, not the guesses.

Uses the browser setup of ``tests/test_demo_browser.py`` (Debian's ``chromium`` and
``chromium-driver``; skipped with the reason when absent). A screenshot goes to ``tests/artifacts/``.
"""

import inspect

import pytest
import torch
from browser_support import ARTIFACTS, TIMEOUT_S

from mmlab.demos.core import show
from mmlab.demos.sketch import build_sketch_demo
from mmlab.models.clip import CLIP, CaptionTokenizer, CLIPConfig, TextTransformer
from mmlab.models.vision import CNNConfig

pytestmark = pytest.mark.browser
NAMES = ("zero", "one", "seven")
SHAPE_NAMES = ("red circle", "green square", "blue triangle")


@pytest.fixture(scope="module")
def sketch_url():
    torch.manual_seed(0)
    tok = CaptionTokenizer([f"a handwritten {w}" for w in NAMES], max_len=6)
    config = CLIPConfig(
        CNNConfig(in_channels=1, image_size=8, channels=(8,), strides=(2,), d_out=16), embed_dim=8
    )
    clip = CLIP(config, TextTransformer(tok, 16, 2, 1)).eval()
    with show(build_sketch_demo(clip, class_names=list(NAMES)), inline=False) as handle:
        yield handle.url


@pytest.fixture(scope="module")
def shape_sketch_url():
    torch.manual_seed(0)
    tok = CaptionTokenizer([f"a large {w}" for w in SHAPE_NAMES], max_len=6)
    config = CLIPConfig(
        CNNConfig(in_channels=3, image_size=16, channels=(8,), strides=(2,), d_out=16), embed_dim=8
    )
    clip = CLIP(config, TextTransformer(tok, 16, 2, 1)).eval()
    with show(build_sketch_demo(clip, class_names=list(SHAPE_NAMES)), inline=False) as handle:
        yield handle.url


def _canvas(driver, suffix: str = ""):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def biggest(d):
        found = d.find_elements(By.CSS_SELECTOR, f"#sketch{suffix} canvas")
        canvases = [c for c in found if c.size["width"] > 100]
        return max(canvases, key=lambda c: c.size["width"] * c.size["height"]) if canvases else None

    return WebDriverWait(driver, TIMEOUT_S).until(biggest)


def _draw_and_classify(
    driver, url: str | None, names: tuple[str, ...], screenshot: str, suffix: str = ""
) -> str:
    """Draw a vertical stroke through the middle, click Classify, wait for every name with a
    percentage; returns the message shown under the probabilities. ``url``: None stays on the page
    shown; ``suffix``: the element ids' ending (a tab after the first of a tabbed app)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if url is not None:
        driver.get(url)
    canvas = _canvas(driver, suffix)
    driver.find_element(By.CSS_SELECTOR, f"#sketch{suffix} button[aria-label='Brush']").click()  # draw tool
    height = canvas.size["height"]
    # offsets are from the canvas centre
    chain = ActionChains(driver).move_to_element_with_offset(canvas, 0, -height // 3).click_and_hold()
    for _ in range(10):
        chain = chain.move_by_offset(0, (2 * height // 3) // 10)
    chain.release().perform()
    driver.find_element(By.CSS_SELECTOR, f"#classify{suffix}").click()

    def shown_labels(d):
        text = d.find_element(By.CSS_SELECTOR, f"#probs{suffix}").text
        found = [name for name in names if name in text]
        return found if len(found) == len(names) and "%" in text else None

    assert WebDriverWait(driver, TIMEOUT_S).until(shown_labels) == list(names)
    assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / screenshot))
    assert (ARTIFACTS / screenshot).stat().st_size > 10_000
    return driver.find_element(By.CSS_SELECTOR, f"#message{suffix}").text


def test_draw_a_stroke_and_see_probabilities(driver, sketch_url):  # noqa: F811
    message = _draw_and_classify(driver, sketch_url, NAMES, "sketch_demo.png")  # a "one"
    assert "blank" not in message


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


# last: launching the shapes app stops the digits app (show() runs one demo at a time)
def test_draw_in_colour_on_the_shapes_app(driver, shape_sketch_url):  # noqa: F811
    from selenium.webdriver.common.by import By

    message = _draw_and_classify(driver, shape_sketch_url, SHAPE_NAMES, "sketch_demo_shapes.png")
    assert message == ""  # black ink would say "Draw in colour"; the brush paints red
    assert "one filled shape" in driver.find_element(By.TAG_NAME, "body").text


def _in_view(driver, selector: str) -> bool:
    """Whether the element is shown and wholly inside the window, with the page not scrolled."""
    return driver.execute_script(
        """const e = document.querySelector(arguments[0]);
        if (!e) return false;
        const r = e.getBoundingClientRect();
        return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight + 1 && r.left >= 0
            && r.right <= window.innerWidth + 1 && document.scrollingElement.scrollTop === 0;""",
        selector,
    )


# chapter 11's one live demo after Run All: one app, a tab per model (last: it stops the apps above)
def test_chapter_11_tabbed_app_shows_both_models_in_the_notebook_frame(driver):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    torch.manual_seed(0)
    digits_tok = CaptionTokenizer([f"a handwritten {w}" for w in NAMES], max_len=6)
    digits = CLIP(
        CLIPConfig(
            CNNConfig(in_channels=1, image_size=8, channels=(8,), strides=(2,), d_out=16), embed_dim=8
        ),
        TextTransformer(digits_tok, 16, 2, 1),
    ).eval()
    shapes_tok = CaptionTokenizer([f"a large {w}" for w in SHAPE_NAMES], max_len=6)
    shapes = CLIP(
        CLIPConfig(
            CNNConfig(in_channels=3, image_size=16, channels=(8,), strides=(2,), d_out=16), embed_dim=8
        ),
        TextTransformer(shapes_tok, 16, 2, 1),
    ).eval()
    height = inspect.signature(show).parameters["height"].default  # the inline frame's
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 900, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        with show(build_sketch_demo({"digits": digits, "shapes": shapes}), inline=False) as handle:
            driver.get(handle.url)
            _canvas(driver)
            for selector in ("#sketch", "#names", "#classify"):
                assert _in_view(driver, selector), f"digits tab: {selector} is not in view"
            tab = driver.find_element(By.XPATH, "//button[@role='tab'][contains(., 'shapes')]")
            tab.click()
            _canvas(driver, "_shapes")
            WebDriverWait(driver, TIMEOUT_S).until(lambda d: _in_view(d, "#classify_shapes"))
            assert not _in_view(driver, "#sketch"), "the digits tab stays visible beside the shapes tab"
            assert "one filled shape" in driver.find_element(By.TAG_NAME, "body").text
            box = driver.find_element(By.CSS_SELECTOR, "#names_shapes textarea")
            box.clear()
            box.send_keys(", ".join(SHAPE_NAMES))
            message = _draw_and_classify(driver, None, SHAPE_NAMES, "sketch_demo_tabs.png", "_shapes")
            assert message == ""  # the shapes tab's brush paints in colour
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
