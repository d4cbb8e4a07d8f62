"""The image-generation demo (chapter 15): type a caption, pick the method and settings, see the pictures
with their CLIP scores.

``build_imagegen_demo(clip, unet, schedule, gpt=..., vqvae=..., tokens=...)`` offers diffusion with
DDIM or DDPM sampling (:mod:`mmlab.diffusion`) and, when chapter 15a's models are given, the VQ-VAE
+ GPT route. The caption must use the data set's words ("a red circle top left"); every bad input
(an empty or too long caption, an unknown word, a setting out of range) is answered with a message
in the app. The pictures are made from a seed, never read from a file.

The pieces behind the app are plain functions, tested without a browser: :func:`parse_caption`,
:func:`parse_generation_settings` and :func:`generate_pictures` (pictures sorted by CLIP score, best first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from mmlab.data.multimodal.placed import PLACES, parse_placed_caption, placed_caption
from mmlab.data.multimodal.scenes import COLOURS, KINDS
from mmlab.demos.core import DemoInputError, check_number, check_text, friendly_error, localize_app, tr
from mmlab.diffusion import NoiseSchedule, sample
from mmlab.imagegen import CodeTokens, clip_score, sample_codes

__all__ = [
    "DIFFUSION_METHODS",
    "GPT_METHOD",
    "GenerationSettings",
    "build_imagegen_demo",
    "generate_pictures",
    "parse_caption",
    "parse_generation_settings",
]

DIFFUSION_METHODS = ("diffusion (DDIM)", "diffusion (DDPM)")
GPT_METHOD = "VQ-VAE + GPT"
MAX_CAPTION_CHARS = 60
MAX_SAMPLES = 8
MAX_GUIDANCE = 20.0
MAX_SEED = 2**31 - 1
SHOWN_SIZE = 96  # pixels per side of each picture shown (the model draws 16 x 16)


@dataclass(frozen=True)
class GenerationSettings:
    """Validated settings: ``method`` one of the offered names, ``steps`` the sampler's (diffusion)."""

    method: str
    samples: int
    guidance: float
    steps: int
    seed: int


def parse_caption(text: Any) -> str:
    """A caption in the data set's words, lower-cased, or a :class:`DemoInputError` that lists them."""
    caption = check_text(text, "caption", limit=MAX_CAPTION_CHARS, example="a red circle top left").lower()
    try:
        return placed_caption(*parse_placed_caption(caption))
    except ValueError:
        raise DemoInputError(
            f"This model knows only captions 'a [colour] [kind] [place]': colour one of {', '.join(COLOURS)}; "
            f"kind one of {', '.join(KINDS)}; place one of {', '.join(PLACES)}. "
            f"For example 'a red circle top left'."
        ) from None


def parse_generation_settings(
    method: Any, samples: Any, guidance: Any, steps: Any, seed: Any, methods: tuple[str, ...], max_steps: int
) -> GenerationSettings:
    """Check the demo's settings; ``methods`` are the ones offered, ``max_steps`` the schedule's T."""
    if method not in methods:
        raise DemoInputError(f"Pick a method: {', '.join(methods)}.")
    return GenerationSettings(
        method=method,
        samples=check_number(samples, "Number of pictures", low=1, high=MAX_SAMPLES, integer=True),
        guidance=check_number(guidance, "Guidance scale", low=0, high=MAX_GUIDANCE),
        steps=check_number(steps, "Sampling steps", low=1, high=max_steps, integer=True),
        seed=check_number(seed, "Seed", low=0, high=MAX_SEED, integer=True),
    )


@torch.no_grad()
def generate_pictures(
    caption: str,
    settings: GenerationSettings,
    clip: nn.Module,
    unet: nn.Module,
    schedule: NoiseSchedule,
    gpt: nn.Module | None = None,
    vqvae: nn.Module | None = None,
    tokens: CodeTokens | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``settings.samples`` pictures ``(N, 3, H, W)`` in ``[-1, 1]`` for ``caption`` and their CLIP
    scores ``(N,)``, best first."""
    captions = [caption] * settings.samples
    generator = torch.Generator().manual_seed(settings.seed)
    if settings.method == GPT_METHOD:
        if gpt is None or vqvae is None or tokens is None:
            raise DemoInputError(f"This demo was started without the {GPT_METHOD} models.")
        grid = vqvae.config.grid
        codes = sample_codes(gpt, tokens, captions, grid * grid, generator=generator)
        images = vqvae.decode(codes.view(-1, grid, grid)).clamp(-1, 1)
    else:
        method = "ddpm" if settings.method == DIFFUSION_METHODS[1] else "ddim"
        shape = (unet.config.in_channels, unet.config.image_size, unet.config.image_size)
        cond = clip.encode_text(captions)
        images = sample(unet, cond, schedule, shape, settings.steps, method, settings.guidance, generator)
    scores = clip_score(clip, images, captions)
    order = scores.argsort(descending=True)
    return images[order], scores[order]


def _picture(image: torch.Tensor) -> Image.Image:
    """``(3, H, W)`` in ``[-1, 1]`` -> an enlarged PIL picture (sharp pixels)."""
    array = ((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(array)).resize(
        (SHOWN_SIZE, SHOWN_SIZE), Image.Resampling.NEAREST
    )


def build_imagegen_demo(
    clip: nn.Module,
    unet: nn.Module,
    schedule: NoiseSchedule,
    gpt: nn.Module | None = None,
    vqvae: nn.Module | None = None,
    tokens: CodeTokens | None = None,
    ddim_steps: int = 10,
    guidance: float = 1.0,
    title: str = "Text to image",
):
    """A Gradio app around :func:`generate_pictures`; returns the (not launched) ``gr.Blocks``.

    Args:
        clip: the caption CLIP (its text tower conditions the U-Net; its score ranks the pictures).
        unet: the denoiser, with ``config.in_channels`` and ``config.image_size``. schedule: its noise schedule.
        gpt, vqvae, tokens: chapter 15a's models; with all three the app offers the GPT route too.
        ddim_steps, guidance: the settings the app starts with.
    """
    import gradio as gr

    for name, model in (("clip", clip), ("unet", unet)):
        if not isinstance(model, nn.Module):
            raise TypeError(f"{name} must be a torch module, got {type(model).__name__}")
    methods = DIFFUSION_METHODS + ((GPT_METHOD,) if None not in (gpt, vqvae, tokens) else ())
    T = schedule.num_train_timesteps
    for model in (clip, unet, gpt, vqvae):
        if model is not None:
            model.eval()

    def run(caption: Any, method: Any, samples: Any, scale: Any, steps: Any, seed: Any):
        try:
            text = parse_caption(caption)
            settings = parse_generation_settings(method, samples, scale, steps, seed, methods, T)
            images, scores = generate_pictures(text, settings, clip, unet, schedule, gpt, vqvae, tokens)
            gallery = [(_picture(x), tr(f"CLIP {s:.2f}")) for x, s in zip(images, scores.tolist())]
            return (
                gallery,
                tr(f"{len(gallery)} pictures for '{text}' ({settings.method}), best CLIP score first."),
            )
        except Exception as err:  # shown in the app, never as a traceback
            return [], friendly_error(err)

    with gr.Blocks(title=title) as app:
        gr.Markdown(
            f"## {title}\nCaptions read 'a [colour] [kind] [place]': {', '.join(COLOURS)}; "
            f"{', '.join(KINDS)}; {', '.join(PLACES)}. Steps apply to diffusion (at most {T}); guidance "
            "0 ignores the caption, 1 is the plain conditional model."
        )
        with gr.Row(equal_height=True):
            caption = gr.Textbox(
                label="caption",
                value="a red circle top left",
                max_lines=1,
                elem_id="caption",
                max_length=MAX_CAPTION_CHARS,
                scale=3,
            )
            method = gr.Dropdown(list(methods), value=methods[0], label="method", elem_id="method", scale=2)
            button = gr.Button("Generate", variant="primary", elem_id="generate", scale=1)
        with gr.Row():
            samples = gr.Number(
                label=f"pictures (1 to {MAX_SAMPLES})", value=4, precision=0, elem_id="samples"
            )
            scale = gr.Number(label=f"guidance (0 to {MAX_GUIDANCE:g})", value=guidance, elem_id="guidance")
            steps = gr.Number(label=f"steps (1 to {T})", value=ddim_steps, precision=0, elem_id="steps")
            seed = gr.Number(label="seed", value=0, precision=0, elem_id="seed")
        message = gr.Markdown(elem_id="message")
        gallery = gr.Gallery(
            label="pictures", columns=MAX_SAMPLES, height=150, object_fit="contain", elem_id="gallery"
        )
        inputs = [caption, method, samples, scale, steps, seed]
        button.click(run, inputs, [gallery, message], api_name="generate")
        caption.submit(run, inputs, [gallery, message], api_visibility="private")
    app.generate = run  # the callback, for plain unit tests
    return localize_app(app)
