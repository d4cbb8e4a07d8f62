"""Each demo fits the notebook's inline frame: after one answer, its inputs and its main output are
in view without scrolling, at the frame's height and a notebook's width (headless Chromium).

The viewport is the frame ``show()`` draws (its default height) at 900 px wide, about the output
width of a JupyterLab or Colab notebook. A screenshot of each demo goes to ``tests/artifacts/``.
"""

import inspect

import pytest
import torch
from browser_support import ARTIFACTS, TIMEOUT_S
from test_demo_fuzz import DEMOS

from mmlab.demos.core import show

pytestmark = pytest.mark.browser

WIDTH = 900
HEIGHT = inspect.signature(show).parameters["height"].default

# demo -> (selectors that must be fully in view, the action that asks for an answer, what the answer shows)
LAYOUT = {
    "attention": (["#text textarea", "#show", "#message"], "#show", ("#message", "tokens")),
    "fill_mask": (
        ["#text textarea", "#predict", "#predictions"],
        "#predict",
        ("#predictions", "probability"),
    ),
    "generate": (
        ["#prompt textarea", "#generate", "#message", "#output textarea"],
        "#generate",
        ("#message", "Done"),
    ),
    "chat": (["#chatbot", "#message_box textarea"], "chat", ("#chatbot", "What colour is grass?")),
    "vqa": (["#question", "#ask", "#message", "#answers"], "#ask", ("#message", "%")),
    "sketch": (["#sketch", "#names", "#classify", "#probs", "#message"], "#classify", ("#message", "blank")),
    "sketch_tabs": (
        ["#sketch", "#names", "#classify", "#probs", "#message"],
        "#classify",
        ("#message", "blank"),
    ),
    "vlm": (["#question", "#ask", "#answer", "#caption"], "#ask", ("#answer input", "")),
    "translate": (
        ["#text textarea", "#run", "#output textarea", "#message"],
        "#run",
        ("#message", "words in"),
    ),
    "speech": (["#typed textarea", "#say", "#message", "#transcript textarea"], "#say", ("#message", "Said")),
    "search": (["#query textarea", "#search", "#message", "#results"], "#search", ("#message", "results")),
    "assistant": (["#chatbot", "#message_box textarea", "#passages"], "chat", ("#passages", "cosine")),
    "imagegen": (
        ["#caption input", "#generate", "#message", "#gallery"],
        "#generate",
        ("#message", "pictures"),
    ),
}


def _in_view(driver, selector: str) -> dict:
    return driver.execute_script(
        """const e = document.querySelector(arguments[0]);
        if (!e) return null;
        const r = e.getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height,
                view: window.innerHeight, width: window.innerWidth,
                scrolled: document.scrollingElement.scrollTop};""",
        selector,
    )


@pytest.mark.parametrize("name", list(DEMOS))
def test_inputs_and_answer_are_in_view_without_scrolling(driver, name):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    torch.manual_seed(0)
    visible, action, (answer, text) = LAYOUT[name]
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        with show(DEMOS[name](), inline=False) as handle:
            driver.get(handle.url)
            wait = WebDriverWait(driver, TIMEOUT_S)
            wait.until(lambda d: all(d.find_elements(By.CSS_SELECTOR, s) for s in visible))
            if action == "chat":
                box = driver.find_element(By.CSS_SELECTOR, "#message_box textarea")
                box.send_keys("What colour is grass?", Keys.ENTER)
            else:
                driver.find_element(By.CSS_SELECTOR, action).click()
            wait.until(
                lambda d: (
                    (d.find_element(By.CSS_SELECTOR, answer).get_attribute("value") or "")
                    + d.find_element(By.CSS_SELECTOR, answer).text
                ).strip()
                and text in d.find_element(By.CSS_SELECTOR, answer).text + (d.find_element(By.CSS_SELECTOR, answer).get_attribute("value") or "")
            )  # fmt: skip
            ARTIFACTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / f"layout_{name}.png"))
            for selector in visible:
                box = _in_view(driver, selector)
                assert box is not None, f"{name}: {selector} is missing"
                assert box["scrolled"] == 0, f"{name}: the page scrolled"
                assert box["height"] > 0, f"{name}: {selector} is not shown"
                assert 0 <= box["top"] and box["bottom"] <= box["view"] + 1, (
                    f"{name}: {selector} is out of view at {WIDTH} x {HEIGHT}: {box}"
                )
                assert 0 <= box["left"] and box["right"] <= box["width"] + 1, (name, selector, box)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
