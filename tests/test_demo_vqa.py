"""The VQA demo: unit tests of its functions and the running app through gradio_client."""

import socket

import numpy as np
import pytest
import torch
from PIL import Image

from mmlab.data.multimodal import ANSWERS
from mmlab.demos.core import DemoInputError
from mmlab.demos.vqa import answer_question, attention_overlay, build_vqa_demo, load_scene, new_scene
from mmlab.models.fusion import FusionConfig, HybridFusion


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return HybridFusion(FusionConfig(), mode="cross_attention")


def test_new_scene_and_load_scene(tmp_path):
    scene = new_scene(3)
    assert scene.size == (24, 24) and scene.mode == "RGB"
    assert (np.asarray(new_scene(3)) == np.asarray(scene)).all()
    big = scene.resize((96, 96))
    assert load_scene({"composite": big, "background": None, "layers": []}).size == (24, 24)
    path = tmp_path / "scene.png"
    scene.save(path)
    assert load_scene(None, str(path)).size == (24, 24)
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    with pytest.raises(DemoInputError, match="not an image"):
        load_scene(None, str(text))
    with pytest.raises(DemoInputError, match="no picture"):
        load_scene(None, None)
    rgba = Image.new("RGBA", (24, 24), (0, 0, 0, 0))
    assert load_scene(rgba).getpixel((0, 0)) == (0, 0, 0)


def test_answer_question_messages(model):
    scene = new_scene(1)
    answers, overlay = answer_question(model, scene, "what colour is the circle?")
    assert len(answers) == 3 and set(answers) <= set(ANSWERS)
    assert abs(sum(answers.values())) <= 1.0 + 1e-6
    assert overlay is not None and overlay.size == (240, 240)
    with pytest.raises(DemoInputError, match="type a question"):
        answer_question(model, scene, "  ")
    with pytest.raises(DemoInputError, match="'banana'"):
        answer_question(model, scene, "what colour is the banana?")


def test_attention_overlay_brightens_the_attended_region():
    image = Image.new("RGB", (24, 24), (200, 200, 200))
    shaded = attention_overlay(image, torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert shaded.getpixel((10, 10))[0] > shaded.getpixel((230, 230))[0]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_through_gradio_client(model, tmp_path):
    from gradio_client import Client, handle_file

    app = build_vqa_demo(model)
    app.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(app.local_url, verbose=False)
        scene_path = client.predict(4, api_name="/new_scene")
        assert scene_path
        picture = tmp_path / "scene.png"
        new_scene(4).save(picture)
        message, probs, attention = client.predict(
            None, handle_file(str(picture)), "how many circles are there?", api_name="/ask"
        )
        assert message.startswith("**") and probs["label"] in ANSWERS and attention
        text = tmp_path / "notes.txt"
        text.write_text("hello")
        message, _, attention = client.predict(
            None, handle_file(str(text)), "what colour is the circle?", api_name="/ask"
        )
        assert "not an image" in message and attention is None
        message, _, _ = client.predict(None, handle_file(str(picture)), "", api_name="/ask")
        assert "type a question" in message
        message, _, _ = client.predict(
            None, handle_file(str(picture)), "what colour is the dragon?", api_name="/ask"
        )
        assert "'dragon'" in message
    finally:
        app.close()
