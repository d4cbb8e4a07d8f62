"""Chapter 11's online code (a real CLIP and a Chinese CLIP from the hub), run on tiny local models:
the same calls the markdown shows, so an API change in ``transformers`` fails here, offline."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image


def _tiny(model_class, config_class, text_config: dict, vision_config: dict, path):
    torch.manual_seed(0)
    config = config_class(text_config=text_config, vision_config=vision_config, projection_dim=16)
    model_class(config).save_pretrained(path)
    return model_class.from_pretrained(path).eval()


SIZES = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
VISION = dict(SIZES, image_size=32, patch_size=8)


def test_clip_zero_shot_as_the_chapter_shows_it(tmp_path):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    model = _tiny(CLIPModel, CLIPConfig, dict(SIZES, vocab_size=99), VISION, tmp_path)
    vocab = {
        w: i
        for i, w in enumerate(
            ["<|startoftext|>", "<|endoftext|>", "a</w>", "photo</w>", "of</w>", "cat</w>", "dog</w>"]
        )
    }
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(tmp_path)
    processor = CLIPProcessor.from_pretrained(tmp_path)
    picture = Image.new("RGB", (48, 40), (200, 30, 30))
    inputs = processor(
        text=["a photo of a cat", "a photo of a dog"], images=picture, return_tensors="pt", padding=True
    )
    with torch.no_grad():
        probs = model(**inputs).logits_per_image.softmax(dim=-1)
    assert probs.shape == (1, 2)
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0))


def test_chinese_clip_loads_and_scores_chinese_captions(tmp_path):
    from transformers import (
        BertTokenizer,
        ChineseCLIPConfig,
        ChineseCLIPImageProcessor,
        ChineseCLIPModel,
        ChineseCLIPProcessor,
    )

    chars = list("一张猫狗的照片")
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]))
    model = _tiny(
        ChineseCLIPModel, ChineseCLIPConfig, dict(SIZES, vocab_size=len(chars) + 5), VISION, tmp_path
    )
    tokenizer = BertTokenizer(str(tmp_path / "vocab.txt"))
    image_processor = ChineseCLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    ChineseCLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(tmp_path)
    processor = ChineseCLIPProcessor.from_pretrained(tmp_path)
    inputs = processor(
        text=["一张猫的照片", "一张狗的照片"],
        images=Image.new("RGB", (40, 40)),
        return_tensors="pt",
        padding=True,
    )
    assert inputs["input_ids"].ne(1).all(), "every Chinese character is in the vocabulary"
    with torch.no_grad():
        probs = model(**inputs).logits_per_image.softmax(dim=-1)
    assert probs.shape == (1, 2)


@pytest.mark.parametrize("name", ["openai/clip-vit-base-patch32", "OFA-Sys/chinese-clip-vit-base-patch16"])
def test_the_chapter_names_the_hub_models(name):
    source = (Path(__file__).resolve().parents[1] / "source" / "chapters" / "11_clip.py").read_text()
    assert name in source
