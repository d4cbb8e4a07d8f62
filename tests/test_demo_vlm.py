"""The VLM demo: pictures in, clear messages on bad input, and the app through gradio_client."""

import pytest
import torch
from PIL import Image

from mmlab.demos.core import DemoInputError, show
from mmlab.demos.vlm import EXAMPLES, ask_vlm, build_vlm_demo, load_picture, new_scene
from mmlab.models.gpt import GPTConfig
from mmlab.models.vlm import MiniVLM, VLMConfig, VLMTokenizer

TEXTS = [
    *EXAMPLES,
    "red green blue circle square triangle zero one two yes no",
    "a small red circle, a large",
]


@pytest.fixture(scope="module")
def vlm():
    torch.manual_seed(0)
    tok = VLMTokenizer(TEXTS)
    config = VLMConfig(gpt=GPTConfig(vocab_size=len(tok), block_size=24, n_layer=1, n_head=2, n_embd=16))
    return MiniVLM(config, tok).eval()


def test_pictures_become_24_pixel_rgb(tmp_path):
    assert load_picture(new_scene(3)).size == (24, 24)
    path = tmp_path / "big.png"
    new_scene(1).resize((240, 240)).convert("L").save(path)
    image = load_picture(None, str(path))
    assert image.size == (24, 24) and image.mode == "RGB"


def test_answer_and_caption_are_words(vlm):
    answer, caption = ask_vlm(vlm, new_scene(0), EXAMPLES[0])
    assert isinstance(answer, str) and isinstance(caption, str)
    assert all(w in vlm.tokenizer.stoi for w in (answer + " " + caption).replace(",", " ").split())


@pytest.mark.parametrize(
    "question, message",
    [("", "type a question"), ("   ", "type a question"), ("what colour is the banana?", "'banana'")],
)
def test_bad_questions_give_a_clear_message(vlm, question, message):
    with pytest.raises(DemoInputError, match=message):
        ask_vlm(vlm, new_scene(0), question)
    answer, caption, shown = build_vlm_demo(vlm).ask(0, None, question)  # the app's state: a seed
    assert answer == caption == "" and message in shown and "Traceback" not in shown


def test_bad_pictures_give_a_clear_message(vlm, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    huge = tmp_path / "huge.png"
    Image.new("L", (5000, 4000)).save(huge)
    app = build_vlm_demo(vlm)
    for scene, upload, message in [
        (None, None, "no picture yet"),
        (None, str(text), "not an image"),
        (None, str(huge), "at most"),
        (Image.new("L", (5000, 4000)), None, "at most"),
    ]:
        answer, _, shown = app.ask(scene, upload, EXAMPLES[0])
        assert answer == "" and message in shown and "Traceback" not in shown
    with pytest.raises(TypeError, match="needs a MiniVLM"):
        build_vlm_demo(torch.nn.Linear(2, 2))


def test_through_gradio_client(vlm, tmp_path):
    from gradio_client import Client, handle_file

    path = tmp_path / "scene.png"
    new_scene(5).save(path)
    with show(build_vlm_demo(vlm), inline=False) as handle:
        client = Client(handle.url, verbose=False, download_files=str(tmp_path))
        answer, caption, message = client.predict(handle_file(str(path)), EXAMPLES[1], api_name="/ask")
        assert message == "" and answer == vlm.answer(load_picture(new_scene(5)), EXAMPLES[1])
        assert caption == vlm.caption(load_picture(new_scene(5)))
        _, _, message = client.predict(handle_file(str(path)), "", api_name="/ask")
        assert "type a question" in message
        # The scene is the app's state (its seed), not an input: without an upload the answer is
        # about the scene of the session's seed (0 at the start).
        answer, caption, message = client.predict(None, EXAMPLES[1], api_name="/ask")
        assert message == "" and answer == vlm.answer(load_picture(new_scene(0)), EXAMPLES[1])
        scene = client.predict(2, api_name="/new_scene")
        assert scene  # a file path to the new picture
