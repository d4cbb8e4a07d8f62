"""The image-generation demo: caption and settings validation, generation sorted by CLIP score, and
the app's callback (the HTTP and browser checks are in test_demo_fuzz.py and test_demo_layout_browser.py)."""

import pytest
import torch

from mmlab.demos.core import DemoInputError
from mmlab.demos.imagegen import (
    DIFFUSION_METHODS,
    GPT_METHOD,
    GenerationSettings,
    build_imagegen_demo,
    generate_pictures,
    parse_caption,
    parse_generation_settings,
)
from mmlab.diffusion import NoiseSchedule
from mmlab.imagegen import CodeTokens, build_caption_clip, clip_score, code_gpt
from mmlab.models.unet import TinyUNet, UNetConfig
from mmlab.models.vqvae import VQVAE, VQVAEConfig

METHODS = (*DIFFUSION_METHODS, GPT_METHOD)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    clip = build_caption_clip(embed_dim=8, d_model=8).eval()
    unet = TinyUNet(UNetConfig(width=8, cond_dim=8, emb_dim=16)).eval()
    for p in unet.out.parameters():  # the zero-initialised head would draw the same picture every time
        torch.nn.init.normal_(p, std=0.3)
    vqvae = VQVAE(VQVAEConfig(channels=(8, 16), codebook_size=8, code_dim=4)).eval()
    tokens = CodeTokens(clip.text_encoder.tokenizer, 8)
    gpt = code_gpt(tokens, vqvae.config.grid**2, 1, 2, 16).eval()
    return clip, unet, NoiseSchedule(20, beta_schedule="squaredcos_cap_v2"), gpt, vqvae, tokens


def test_parse_caption_accepts_the_vocabulary_in_any_case_and_spacing():
    assert parse_caption("  A Red   circle top LEFT ") == "a red circle top left"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "caption is empty"),
        ("   ", "caption is empty"),
        (None, "caption is empty"),
        (42, "must be text"),
        ("a " * 40, "at most 60"),
        ("a purple circle top left", "colour one of red, green, blue"),
        ("a red hexagon top left", "kind one of"),
        ("a red circle in the middle", "place one of"),
        ("red circle", "a \\[colour\\] \\[kind\\] \\[place\\]"),
    ],
)
def test_parse_caption_names_the_problem(text, message):
    with pytest.raises(DemoInputError, match=message):
        parse_caption(text)


def test_parse_settings_converts_and_checks_ranges():
    assert parse_generation_settings(METHODS[0], "4", 3, 10.0, 7, METHODS, 20) == GenerationSettings(
        METHODS[0], 4, 3.0, 10, 7
    )
    bad = [
        (("euler", 1, 1, 1, 0), "Pick a method"),
        ((METHODS[0], 0, 1, 1, 0), "Number of pictures must be a whole number from 1 to 8"),
        ((METHODS[0], 9, 1, 1, 0), "from 1 to 8"),
        ((METHODS[0], 2.5, 1, 1, 0), "whole number"),
        ((METHODS[0], 1, -1, 1, 0), "Guidance scale must be a number from 0 to 20"),
        ((METHODS[0], 1, float("nan"), 1, 0), "Guidance scale"),
        ((METHODS[0], 1, 1, 21, 0), "Sampling steps must be a whole number from 1 to 20"),
        ((METHODS[0], 1, 1, 0, 0), "Sampling steps"),
        ((METHODS[0], 1, 1, 1, -1), "Seed"),
        ((METHODS[0], 1, 1, 1, "x"), "Seed"),
    ]
    for args, message in bad:
        with pytest.raises(DemoInputError, match=message):
            parse_generation_settings(*args, METHODS, 20)


@pytest.mark.parametrize("method", METHODS)
def test_generate_returns_pictures_sorted_by_clip_score(models, method):
    clip, unet, schedule, gpt, vqvae, tokens = models
    settings = GenerationSettings(method, 3, 2.0, 4, 1)
    images, scores = generate_pictures(
        "a red circle top left", settings, clip, unet, schedule, gpt, vqvae, tokens
    )
    assert images.shape == (3, 3, 16, 16) and images.abs().max() <= 1
    assert scores.tolist() == sorted(scores.tolist(), reverse=True)
    torch.testing.assert_close(scores, clip_score(clip, images, ["a red circle top left"] * 3))
    again, _ = generate_pictures("a red circle top left", settings, clip, unet, schedule, gpt, vqvae, tokens)
    torch.testing.assert_close(again, images)  # the seed fixes the pictures


def test_the_gpt_route_needs_its_models(models):
    clip, unet, schedule, *_ = models
    with pytest.raises(DemoInputError, match="without the VQ-VAE"):
        generate_pictures(
            "a red circle top left", GenerationSettings(GPT_METHOD, 1, 1.0, 1, 0), clip, unet, schedule
        )


def test_app_callback_answers_and_explains(models):
    clip, unet, schedule, gpt, vqvae, tokens = models
    app = build_imagegen_demo(clip, unet, schedule, gpt, vqvae, tokens, ddim_steps=4)
    gallery, message = app.generate("a blue square bottom right", GPT_METHOD, 2, 1.0, 4, 0)
    assert len(gallery) == 2 and "2 pictures" in message
    assert gallery[0][0].size == (96, 96) and gallery[0][1].startswith("CLIP ")
    gallery, message = app.generate("a pink square", DIFFUSION_METHODS[0], 2, 1.0, 4, 0)
    assert gallery == [] and "colour one of" in message and "Error" not in message
    only_diffusion = build_imagegen_demo(clip, unet, schedule)
    _, message = only_diffusion.generate("a red circle top left", GPT_METHOD, 1, 1.0, 4, 0)
    assert "Pick a method" in message
    with pytest.raises(TypeError, match="unet"):
        build_imagegen_demo(clip, "not a model", schedule)
