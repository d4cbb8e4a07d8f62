"""Chapter 15's recipe (job ``imagegen``): generate placed shapes from captions, two ways.

Stages, each a Trainer run (:func:`train_stage`), all on :func:`~mmlab.data.multimodal.placed.make_placed_shapes`
(the :data:`~mmlab.data.multimodal.placed.UNSEEN` combinations never in training):

1. the judge (:class:`~mmlab.imagegen.Judge`), on real images of all 36 combinations: a measuring
   instrument, trained apart from both generators;
2. the CLIP (chapter 11) on the training images and captions;
3. the VQ-VAE, then the GPT on ``[caption, codes]`` rows (the DALL-E route);
4. the U-Net denoiser on the images and their CLIP caption embeddings (the diffusion route, chapter 15b).

:func:`run_imagegen` runs them all from :class:`ImageGenSettings` (whose defaults are chapter 15's)
and returns the models with the held-out measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmlab.data.multimodal import TensorLoader
from mmlab.data.multimodal.placed import UNSEEN, all_combinations, make_placed_shapes
from mmlab.device import seed_everything
from mmlab.diffusion import NoiseSchedule, diffusion_loss, sample
from mmlab.imagegen import (
    CodeTokens,
    Judge,
    build_caption_clip,
    code_gpt,
    code_gpt_loss,
    faithfulness,
    judge_loss,
    sample_codes,
)
from mmlab.models.clip import clip_training_loss
from mmlab.models.unet import TinyUNet, UNetConfig
from mmlab.models.vqvae import VQVAE, VQVAEConfig, vqvae_loss
from mmlab.recipes.base import Recipe, RunSettings
from mmlab.train.trainer import TrainConfig, Trainer

__all__ = [
    "GPU",
    "RECIPE",
    "ImageGenModels",
    "ImageGenSettings",
    "generate_images",
    "held_out",
    "measure",
    "noise_schedule",
    "run_imagegen",
    "train_clip",
    "train_code_gpt",
    "train_denoiser",
    "train_judge",
    "train_stage",
    "train_vqvae",
]


@dataclass(repr=False)
class ImageGenSettings(RunSettings):
    """Chapter 15's config cell (what CI runs on one thread)."""

    n_train: int = 3000  # images of the 30 seen combinations
    n_judge: int = 3000  # real images of all 36 combinations, for the judge only
    batch_size: int = 64
    judge_steps: int = 300
    clip_steps: int = 300
    embed_dim: int = 32  # CLIP's shared space: the diffusion model's caption vector
    vq_channels: tuple[int, ...] = (32, 64)
    codebook_size: int = 32
    code_dim: int = 16
    beta: float = 0.25  # the commitment weight
    vq_steps: int = 600
    gpt_layers: int = 2
    gpt_heads: int = 4
    d_model: int = 64
    gpt_steps: int = 600
    unet_width: int = 16
    p_uncond: float = 0.15  # captions dropped in diffusion training (classifier-free guidance)
    diffusion_steps: int = 400
    diffusion_batch_size: int = 32
    diffusion_lr: float = 2e-3
    timesteps: int = 200  # T, the forward process's length (and DDPM's sampling steps)
    beta_schedule: str = "squaredcos_cap_v2"  # cosine: spends fewer of T's steps on pure noise
    prediction: str = "sample"  # the U-Net predicts x_0 (learns faster here than the noise)
    ddim_steps: int = 10  # DDIM's sampling steps (a stride of T // ddim_steps)
    guidance: float = 1.0  # the classifier-free guidance scale the measurements use
    lr: float = 3e-3
    seed: int = 0
    progress: bool = True


GPU = dict(
    n_train=50000,
    n_judge=20000,
    batch_size=256,
    judge_steps=2000,
    clip_steps=3000,
    embed_dim=64,
    codebook_size=128,
    vq_channels=(64, 128),
    vq_steps=5000,
    gpt_layers=6,
    gpt_heads=8,
    d_model=256,
    gpt_steps=5000,
    unet_width=64,
    diffusion_steps=20000,
    diffusion_batch_size=256,
    timesteps=1000,
    ddim_steps=50,
    lr=1e-3,
)


class ImageGenModels(nn.Module):
    """Everything :func:`run_imagegen` trains, as one module (``python -m mmlab.train`` saves its
    weights together), and the held-out measurements."""

    def __init__(
        self,
        judge: Judge,
        clip: nn.Module,
        vqvae: VQVAE,
        tokens: CodeTokens,
        gpt: nn.Module,
        unet: TinyUNet | None,
        schedule: NoiseSchedule,
    ) -> None:
        super().__init__()
        self.judge, self.clip, self.vqvae, self.gpt, self.unet = judge, clip, vqvae, gpt, unet
        self.tokens = tokens
        self.schedule = schedule
        self.metrics: dict[str, float] = {}


def train_stage(
    model: nn.Module,
    loss_fn,
    tensors: dict,
    steps: int,
    s: ImageGenSettings,
    lr: float | None = None,
    batch_size: int | None = None,
):
    """One Trainer run over ``tensors`` (shuffled batches), cosine schedule with a short warmup;
    ``lr`` and ``batch_size`` override the settings' shared ones."""
    config = TrainConfig(
        max_steps=steps,
        lr=lr or s.lr,
        warmup_steps=min(50, steps // 10),
        progress=s.progress,
        device=s.device,
        log_every=max(1, steps // 20),
    )
    loader = TensorLoader(tensors, batch_size or s.batch_size, shuffle=True)
    return Trainer(model, loss_fn, loader, None, config).fit()


def train_judge(s: ImageGenSettings) -> Judge:
    """The judge, on real images of all 36 combinations (its own seed, apart from the generators' data)."""
    judged = make_placed_shapes(s.n_judge, seed=10_000 + s.seed, combinations=all_combinations())
    judge = Judge()
    labels = {k: judged[k] for k in ("colours", "kinds", "places")}
    train_stage(judge, judge_loss, {"images": judged["images"], **labels}, s.judge_steps, s)
    return judge


def train_clip(train: dict, s: ImageGenSettings) -> nn.Module:
    """Chapter 11's CLIP on the training images and captions."""
    clip = build_caption_clip(embed_dim=s.embed_dim)
    text = clip.text_encoder.prepare(train["captions"])
    train_stage(clip, clip_training_loss, {"images": train["images"], "text": text}, s.clip_steps, s)
    return clip


def train_vqvae(train: dict, s: ImageGenSettings, beta: float | None = None) -> VQVAE:
    """The VQ-VAE, its codebook started from encoder outputs; ``beta`` overrides the commitment weight."""
    config = VQVAEConfig(
        channels=tuple(s.vq_channels),
        codebook_size=s.codebook_size,
        code_dim=s.code_dim,
        beta=s.beta if beta is None else beta,
    )
    vqvae = VQVAE(config)
    vqvae.init_codebook(train["images"][:256])
    train_stage(vqvae, vqvae_loss, {"images": train["images"]}, s.vq_steps, s)
    return vqvae.eval()


def train_code_gpt(train: dict, vqvae: VQVAE, tokenizer, s: ImageGenSettings) -> tuple[nn.Module, CodeTokens]:
    """Chapter 06's GPT on ``[caption, codes]`` rows of the training images."""
    with torch.no_grad():
        codes = vqvae.eval().encode(train["images"])  # (N, grid, grid)
    tokens = CodeTokens(tokenizer, vqvae.config.codebook_size)
    gpt = code_gpt(tokens, vqvae.config.grid**2, s.gpt_layers, s.gpt_heads, s.d_model)
    train_stage(gpt, code_gpt_loss, {"rows": tokens.rows(train["captions"], codes)}, s.gpt_steps, s)
    return gpt, tokens


def noise_schedule(s: ImageGenSettings) -> NoiseSchedule:
    """The forward process the settings name (T, beta schedule, what the network predicts)."""
    return NoiseSchedule(s.timesteps, beta_schedule=s.beta_schedule, prediction=s.prediction)


def train_denoiser(train: dict, clip: nn.Module, schedule: NoiseSchedule, s: ImageGenSettings) -> TinyUNet:
    """The U-Net on the training images and their captions' CLIP text embeddings."""
    with torch.no_grad():
        cond = clip.encode_text(train["captions"])  # (N, E), fixed
    unet = TinyUNet(UNetConfig(width=s.unet_width, cond_dim=s.embed_dim))
    tensors = {"images": train["images"], "cond": cond}
    loss = lambda m, b: diffusion_loss(m, b, schedule, s.p_uncond)  # noqa: E731
    train_stage(
        unet, loss, tensors, s.diffusion_steps, s, lr=s.diffusion_lr, batch_size=s.diffusion_batch_size
    )
    return unet.eval()


def run_imagegen(s: ImageGenSettings) -> tuple[ImageGenModels, dict[str, float]]:
    """Train the judge, the CLIP, the VQ-VAE + GPT and the diffusion model; measure faithfulness of 4
    samples per held-out caption (seen and unseen combinations) for both routes."""
    seed_everything(s.seed)
    train = make_placed_shapes(s.n_train, seed=s.seed)
    judge = train_judge(s)
    clip = train_clip(train, s)
    vqvae = train_vqvae(train, s)
    gpt, tokens = train_code_gpt(train, vqvae, clip.text_encoder.tokenizer, s)
    models = ImageGenModels(judge, clip, vqvae, tokens, gpt, None, noise_schedule(s))
    models.unet = train_denoiser(train, clip, models.schedule, s)
    models.metrics = measure(models, s)
    return models, models.metrics


def held_out(per_combination: int = 4, unseen: bool = False, seed: int = 99) -> dict:
    """Real images of the seen (or unseen) combinations, ``per_combination`` each (their captions are the prompts)."""
    combos = [c for c in all_combinations() if (c in UNSEEN) == unseen]
    return make_placed_shapes(per_combination * len(combos), seed=seed, combinations=combos)


@torch.no_grad()
def generate_images(
    models: ImageGenModels, captions: list[str], method: str, seed: int = 0, **options
) -> torch.Tensor:
    """Images ``(N, 3, 16, 16)`` in ``[-1, 1]`` for ``captions`` by ``method``: "gpt" (VQ codes) or "ddim"/"ddpm"."""
    generator = torch.Generator().manual_seed(seed)
    if method == "gpt":
        n_codes = models.vqvae.config.grid**2
        codes = sample_codes(models.gpt, models.tokens, captions, n_codes, generator=generator, **options)
        grid = models.vqvae.config.grid
        return models.vqvae.eval().decode(codes.view(-1, grid, grid)).clamp(-1, 1)
    cond = models.clip.encode_text(captions)
    return sample(
        models.unet, cond, models.schedule, (3, 16, 16), method=method, generator=generator, **options
    )


def measure(models: ImageGenModels, s: ImageGenSettings) -> dict[str, float]:
    """Faithfulness of real images, of both routes and of random training images, on seen and unseen captions."""
    out: dict[str, float] = {}
    for split in ("seen", "unseen"):
        real = held_out(unseen=split == "unseen")
        labels = {k: real[k] for k in ("colours", "kinds", "places")}
        out[f"real_{split}"] = faithfulness(models.judge, real["images"], labels)["all"]
        gpt = generate_images(models, real["captions"], "gpt", seed=s.seed)
        out[f"gpt_{split}"] = faithfulness(models.judge, gpt, labels)["all"]
        ddim = generate_images(
            models, real["captions"], "ddim", seed=s.seed, num_steps=s.ddim_steps, guidance=s.guidance
        )
        out[f"ddim_{split}"] = faithfulness(models.judge, ddim, labels)["all"]
        shuffled = real["images"][
            torch.randperm(len(real["images"]), generator=torch.Generator().manual_seed(1))
        ]
        out[f"random_{split}"] = faithfulness(models.judge, shuffled, labels)["all"]
    return out


RECIPE = Recipe("imagegen", "15a_image_tokens", ImageGenSettings, GPU, run=run_imagegen)
