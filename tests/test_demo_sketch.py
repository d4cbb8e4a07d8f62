"""The sketch demo: drawing -> digits-like input, clear messages, and the app through gradio_client."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from mmlab.demos.core import DemoInputError, show
from mmlab.demos.sketch import build_sketch_demo, classify_sketch, sketch_to_image
from mmlab.models.clip import CLIP, CLIPConfig, TextTransformer, WordTokenizer
from mmlab.models.vision import CNNConfig


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(0)
    tok = WordTokenizer([f"a handwritten {w}" for w in ("zero", "one", "seven")], max_len=6)
    config = CLIPConfig(
        CNNConfig(in_channels=1, image_size=8, channels=(8,), strides=(2,), d_out=16), embed_dim=8
    )
    return CLIP(config, TextTransformer(tok, 16, 2, 1)).eval()


def drawing(size=200, mode="RGBA"):
    image = Image.new(mode, (size, size), (255, 255, 255, 0) if mode == "RGBA" else "white")
    ImageDraw.Draw(image).line([(100, 40), (100, 160)], fill="black", width=12)  # a "one"
    return image


def test_drawing_becomes_a_centred_bright_digit():
    x = sketch_to_image({"background": None, "layers": [], "composite": np.asarray(drawing())})
    assert x.shape == (1, 1, 8, 8) and x.max().item() == pytest.approx(1.0)
    column = x[0, 0].sum(0)
    assert column[3:5].sum() > 0.8 * column.sum()  # the vertical stroke lands in the middle columns
    assert x[0, 0, :, 0].sum() == 0  # background is black
    rgb = sketch_to_image(drawing(mode="RGB"), image_size=24, in_channels=3)
    assert rgb.shape == (1, 3, 24, 24)


@pytest.mark.parametrize(
    "value, names, message",
    [
        (None, "one", "canvas is blank"),
        ({"background": None, "layers": [], "composite": None}, "one", "canvas is blank"),
        (np.full((50, 50, 3), 255, np.uint8), "one", "canvas is blank"),
        ("drawing", "", "at least one class name"),
        ("drawing", " , ", "at least one class name"),
        ("drawing", "one, one", "only once"),
        (Image.new("L", (5000, 4000), 0), "one", "at most"),
    ],
)
def test_bad_input_gives_a_clear_message(clip, value, names, message):
    value = drawing() if isinstance(value, str) else value
    with pytest.raises(DemoInputError, match=message):
        classify_sketch(clip, value, names, "a handwritten {}")
    label, shown = build_sketch_demo(clip).classify(value, names, "a handwritten {}")
    assert label is None and message in shown and "Traceback" not in shown


def test_probabilities_over_the_class_names(clip):
    probs = classify_sketch(clip, drawing(), "zero, one, seven", "a handwritten {}")
    assert list(probs) == ["zero", "one", "seven"] and sum(probs.values()) == pytest.approx(1.0, abs=1e-5)


def test_through_gradio_client(clip, tmp_path):
    from gradio_client import Client, handle_file

    path = tmp_path / "one.png"
    drawing().save(path)
    with show(build_sketch_demo(clip), inline=False) as handle:
        client = Client(handle.url, verbose=False, download_files=str(tmp_path))
        value = {"background": None, "layers": [], "composite": handle_file(str(path)), "id": None}
        label, message = client.predict(value, "zero, one, seven", "a handwritten {}", api_name="/classify")
        assert {c["label"] for c in label["confidences"]} == {"zero", "one", "seven"} and message == ""
        label, message = client.predict(value, "", "a handwritten {}", api_name="/classify")
        assert "at least one class name" in message
