"""Run All in JupyterLab, as a learner does, leaves every chapter's demo live and answering.

For each chapter that shows a demo, a real JupyterLab server (on 127.0.0.1, in a scratch folder
with copies of the notebooks) opens the notebook in headless Chromium, runs "Run All Cells", waits
for the last cell, and then checks in the notebook page itself that training drew real progress bars (ipywidgets),
that every demo frame the run left
behind answers a question inside its frame (a frame whose server was closed still shows the app,
but never answers). A screenshot of each chapter's demo goes to ``tests/artifacts/``.

The edition is chosen by ``MMLAB_EDITION``: ``zh`` (the default, and ``make runall``'s) runs the
Chinese chapters (``zh/chapters/``), which nothing else executes (nbval runs the English demo
chapters and the zh chapters without a demo: ``tools/zh.py nbval``); their demos are asked in
Chinese where they take it (the chat demo answers the Chinese chat world) and must answer in
Chinese. ``MMLAB_EDITION=en`` (``make runall EDITION=en``) runs the English chapters.

These are the slowest tests of the suite (each runs a whole chapter, about as long as nbval does),
marked ``runall`` and run by ``make runall``, the last phase of ``make test``, two chapters at once
with one torch thread per kernel. Each chapter opens in a JupyterLab workspace of its own and is
closed afterwards, and frames and bars are looked for in that notebook only: one browser serves
several chapters in turn, and a notebook an earlier test left open (with its closed demo's frame)
once made three chapters fail, one of them with "demo 1 of 2 does not answer".
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, TIMEOUT_S
from test_demo_layout_browser import LAYOUT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import zh  # noqa: E402  (tools/zh.py: which chapters show a demo)

EDITION = os.environ.get("MMLAB_EDITION", "zh")
RUN_ALL_TIMEOUT_S = 900  # a whole chapter, on a CI machine that runs two tests at once
ANSWER_TIMEOUT_S = 3 * TIMEOUT_S  # a demo's first answer (its app loads in the frame, then computes)
# chapter notebook -> the demo it shows last (a key of the layout test's table)
CHAPTER_DEMO = {
    "03_attention_transformer": "attention",
    "04_bert_pretraining": "fill_mask",
    "06_gpt": "generate",
    "07_instruction_tuning": "chat",
    "10_multimodal_fusion": "vqa",
    "11_clip": "sketch",
    "12_vision_language_model": "vlm",
    "13_encoder_decoder": "translate",
    "14_speech": "speech",
    "16a_search_recommendation": "search",
    "16b_assistant_api": "assistant",
    "15b_diffusion": "imagegen",
}
# What each demo's answer shows in the Chinese edition (LAYOUT has the English); every answer is
# in Chinese (the VQA and VLM demos ask their models the English question of a Chinese question's pattern).
ANSWER_ZH = {
    "attention": "个词元",
    "fill_mask": "概率",
    "generate": "完成",
    "chat": "白色",  # the Chinese chat world's answer to CHAT_QUESTION["zh"]
    "vqa": "%",
    "sketch": "空白",
    "vlm": "",  # the answer to the default Chinese question: any Chinese colour, shape or number
    "translate": "个词，输出",
    "speech": "合成了",
    "search": "条结果",
    "assistant": "余弦",
    "imagegen": "张图片",
}
CHAT_QUESTION = {"en": "What colour is grass?", "zh": "雪是什么颜色"}
CJK = re.compile(r"[\u4e00-\u9fff]")
# JupyterLab settings for the test: every cell stays in the page (no virtual scrolling), no news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def test_every_chapter_that_shows_a_demo_is_run_here():
    shown = set(zh.demo_chapters())
    assert shown == set(CHAPTER_DEMO), f"add or remove in CHAPTER_DEMO: {shown ^ set(CHAPTER_DEMO)}"
    assert set(CHAPTER_DEMO.values()) <= set(LAYOUT) and set(CHAPTER_DEMO.values()) <= set(ANSWER_ZH)
    assert EDITION in ("en", "zh"), f"MMLAB_EDITION must be en or zh, not {EDITION!r}"


def edition_dir() -> Path:
    """The chapters Run All runs: the Chinese edition's, or the English ones."""
    return ROOT / "zh" / "chapters" if EDITION == "zh" else ROOT / "chapters"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 over a scratch copy of the demo chapters; yields its URL."""
    home = tmp_path_factory.mktemp("runall")
    notebooks = home / "chapters"
    notebooks.mkdir()
    for stem in CHAPTER_DEMO:
        shutil.copy(edition_dir() / f"{stem}.ipynb", notebooks)
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={notebooks}",
        "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (home / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=notebooks)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                _get_json(f"{url}/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(home / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# The notebook's state, read from JupyterLab's own model of it: code cells, cells not yet run,
# the first error output, widget outputs (the progress bars), and the kernel's status.
NOTEBOOK_STATE = """
const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!panel || !panel.content || !panel.sessionContext) return null;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
let code = 0, pending = 0, error = null, widgets = 0;
for (const cell of panel.content.widgets) {
  if (cell.model.type !== 'code') continue;
  code++;
  if (cell.model.executionState === 'running' || cell.model.executionCount === null) pending++;
  const outputs = cell.model.outputs;
  for (let i = 0; i < outputs.length; i++) {
    const output = outputs.get(i).toJSON();
    if (output.output_type === 'error' && !error) error = output.ename + ': ' + output.evalue;
    if (output.data && output.data['application/vnd.jupyter.widget-view+json']) widgets++;
  }
}
return {path: panel.context.path, code, pending, error, widgets, kernel: kernel ? kernel.status : null};
"""
# the demo frames in the current notebook only (another notebook left open keeps its dead frames)
DEMO_FRAMES = """const panel = window.jupyterapp.shell.currentWidget;
return panel ? Array.from(panel.node.querySelectorAll('.jp-OutputArea iframe')) : [];"""
# close the current notebook without a "save changes?" dialog: the next chapter opens alone
CLOSE_NOTEBOOK = """const panel = window.jupyterapp.shell.currentWidget;
if (panel && panel.context) { panel.context.model.dirty = false; panel.dispose(); }"""


def _run_all(driver, url: str, stem: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    # A workspace of its own, reset: no notebook of an earlier test is restored beside this one. Now and
    # then the page's kernel connection stays at "Connecting" (seen once in CI, on a worker's first
    # notebook); a learner reloads the page, and so does the test, once, keeping a screenshot.
    for attempt in (1, 2):
        driver.get(f"{url}/lab/workspaces/{stem}/tree/{stem}.ipynb?reset")
        try:
            WebDriverWait(driver, 3 * TIMEOUT_S).until(
                lambda d: (
                    (d.execute_script(NOTEBOOK_STATE) or {}).get("path") == f"{stem}.ipynb"
                    and d.execute_script(NOTEBOOK_STATE)["kernel"] == "idle"
                )
            )
            break
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / f"runall_{stem}_no_kernel_{attempt}.png"))
            state = driver.execute_script(NOTEBOOK_STATE)
            if attempt == 2:
                pytest.fail(f"{stem}: the notebook's kernel was not ready, page loaded twice: {state}")
            print(f"{stem}: kernel not ready after {3 * TIMEOUT_S} s ({state}); reloading the page")
    # not awaited: the command's promise settles only when the last cell has run
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    while True:
        state = driver.execute_script(NOTEBOOK_STATE)
        assert state["error"] is None, f"{stem}: a cell failed under Run All: {state['error']}"
        if state["pending"] == 0 and state["kernel"] == "idle":
            return
        assert time.monotonic() < deadline, (
            f"{stem}: Run All did not finish in {RUN_ALL_TIMEOUT_S} s: {state}"
        )
        time.sleep(2)


def _scroll_to_cell(driver, index_js: str) -> None:
    """Scroll the notebook to the cell at ``index_js`` (a JavaScript expression; -1 is the last)."""
    driver.execute_script(
        f"""const notebook = window.jupyterapp.shell.currentWidget.content;
        let index = {index_js};
        if (index < 0) index += notebook.widgets.length;
        notebook.scrollToItem(index);"""
    )


# the index of the first cell with a widget output (a progress bar)
FIRST_BAR = """(() => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  for (let c = 0; c < cells.length; c++) {
    const outputs = cells[c].model.type === 'code' ? cells[c].model.outputs : null;
    for (let i = 0; outputs && i < outputs.length; i++) {
      const data = outputs.get(i).toJSON().data;
      if (data && data['application/vnd.jupyter.widget-view+json']) return c;
    }
  }
  return 0;
})()"""


def _a_bar_is_drawn(driver) -> bool:
    """Scroll to the first cell with a progress bar and wait for the bar to be drawn."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    _scroll_to_cell(driver, FIRST_BAR)
    drawn = """return window.jupyterapp.shell.currentWidget.node
        .querySelectorAll('.jp-OutputArea .widget-hprogress').length"""
    try:
        WebDriverWait(driver, TIMEOUT_S).until(lambda d: d.execute_script(drawn))
        return True
    except TimeoutException:
        return False


def _ask(driver, name: str) -> None:
    """Inside a demo's frame: wait for its inputs, ask for an answer, wait for it to show."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    visible, action, (answer, text) = LAYOUT[name]
    chinese = EDITION == "zh"
    if chinese:
        text = ANSWER_ZH[name]
    wait = WebDriverWait(driver, ANSWER_TIMEOUT_S)
    wait.until(lambda d: all(d.find_elements(By.CSS_SELECTOR, s) for s in visible))
    if action == "chat":
        driver.find_element(By.CSS_SELECTOR, "#message_box textarea").send_keys(
            CHAT_QUESTION[EDITION], Keys.ENTER
        )
    else:
        driver.find_element(By.CSS_SELECTOR, action).click()

    def answered(d) -> bool:
        element = d.find_element(By.CSS_SELECTOR, answer)
        shown = element.text + (element.get_attribute("value") or "")
        in_chinese = not chinese or CJK.search(shown)
        return bool(shown.strip()) and text in shown and bool(in_chinese)

    wait.until(answered)


@pytest.mark.runall
@pytest.mark.parametrize("stem", list(CHAPTER_DEMO))
def test_run_all_leaves_the_demo_live_and_answering(driver, lab, stem):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    _run_all(driver, lab, stem)
    try:
        # JupyterLab may detach cells far from view, so the bars are counted in its model, and one
        # drawn bar is looked for in the page
        assert driver.execute_script(NOTEBOOK_STATE)["widgets"], f"{stem}: training showed no progress bar"
        assert _a_bar_is_drawn(driver), f"{stem}: a progress bar is in the notebook but not drawn"
        _scroll_to_cell(driver, "-1")  # the demo is shown near the end; cells far from view may be detached
        try:
            WebDriverWait(driver, TIMEOUT_S).until(lambda d: d.execute_script(DEMO_FRAMES))
        except TimeoutException:
            pytest.fail(f"{stem}: Run All left no demo frame in the notebook")
        frames = driver.execute_script(DEMO_FRAMES)
        for index, frame in enumerate(frames):  # every demo Run All left behind must answer
            driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", frame)
            driver.switch_to.frame(frame)
            try:
                _ask(driver, CHAPTER_DEMO[stem])
            except TimeoutException:
                pytest.fail(f"{stem}: demo {index + 1} of {len(frames)} does not answer after Run All")
            finally:
                driver.switch_to.default_content()
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"runall_{EDITION}_{stem}.png"))
    finally:
        driver.switch_to.default_content()
        # stop the kernel (frees the chapter's memory and closes its demo), then close the notebook
        driver.execute_script("return window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        driver.execute_script(CLOSE_NOTEBOOK)
