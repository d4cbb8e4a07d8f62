"""Generating images from captions, two ways, and judging the results (chapter 15).

* The DALL-E route: a :class:`~mmlab.models.vqvae.VQVAE` turns each 16 x 16 image into a 4 x 4 grid of
  codes; chapter 06's GPT learns the sequence ``[caption words, image codes]`` (:class:`CodeTokens`,
  :func:`code_gpt_loss`) and writes the codes of a new image for a caption (:func:`sample_codes`);
  chapter 11's CLIP re-ranks several samples (:func:`rerank`).
* The DALL-E 2 / Stable Diffusion route: :mod:`mmlab.diffusion`'s sampler and the
  :class:`~mmlab.models.unet.TinyUNet`, conditioned on the caption's CLIP text embedding.

The judge (:class:`Judge`): a chapter 09 CNN trained on real images to read colour, kind and place;
:func:`faithfulness` is the share of images whose three readings all match their caption.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.data.multimodal.placed import PLACES, all_combinations, placed_caption
from mmlab.data.multimodal.scenes import COLOURS, KINDS
from mmlab.models.clip import CLIP, CaptionTokenizer, CLIPConfig, TextTransformer
from mmlab.models.gpt import GPT, GPTConfig
from mmlab.models.vision import CNNConfig, CNNEncoder

__all__ = [
    "CodeTokens",
    "Judge",
    "build_caption_clip",
    "clip_score",
    "code_gpt",
    "code_gpt_loss",
    "diversity",
    "faithfulness",
    "judge_loss",
    "rerank",
    "sample_codes",
]

CAPTION_LEN = 5  # "a red circle top left"


def build_caption_clip(embed_dim: int = 32, d_model: int = 32, image_size: int = 16) -> CLIP:
    """Chapter 11's CLIP for placed shapes: a CNN that keeps where things are (flatten pooling) and a
    word Transformer over the 36 captions' words."""
    captions = [placed_caption(*c) for c in all_combinations()]
    text = TextTransformer(
        CaptionTokenizer(captions, max_len=CAPTION_LEN), d_model=d_model, n_heads=2, n_layers=1
    )
    image = CNNConfig(in_channels=3, image_size=image_size, channels=(16, 32), strides=(2, 2), d_out=64)
    return CLIP(CLIPConfig(image, embed_dim=embed_dim), text)


@torch.no_grad()
def clip_score(clip: CLIP, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
    """``(N,)`` cosine similarity of each image with its own caption in CLIP's space."""
    return (clip.encode_image(images) * clip.encode_text(list(captions))).sum(-1)


@torch.no_grad()
def rerank(clip: CLIP, images: torch.Tensor, caption: str, keep: int = 1) -> torch.Tensor:
    """The ``keep`` images (of ``(N, C, H, W)``, all drawn for ``caption``) CLIP finds most similar to it."""
    scores = clip_score(clip, images, [caption] * len(images))
    return images[scores.topk(keep).indices]


def diversity(images: torch.Tensor) -> float:
    """How different samples for one caption are: the per-pixel variance across ``(N, C, H, W)``, averaged."""
    return images.var(dim=0).mean().item()


# ----------------------------------------------------------------------------- the judge


class Judge(nn.Module):
    """A chapter 09 CNN with three heads: colour, kind and place of the one shape in the image."""

    def __init__(self, image_size: int = 16) -> None:
        super().__init__()
        self.encoder = CNNEncoder(CNNConfig(3, image_size, (16, 32), (2, 2), d_out=64))
        self.heads = nn.ModuleDict(
            {
                "colours": nn.Linear(64, len(COLOURS)),
                "kinds": nn.Linear(64, len(KINDS)),
                "places": nn.Linear(64, len(PLACES)),
            }
        )

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.encoder(images)  # (B, 64)
        return {name: head(h) for name, head in self.heads.items()}  # each (B, n_classes)

    @torch.no_grad()
    def read(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"colours", "kinds", "places"}`` predicted indices ``(N,)``."""
        self.eval()
        return {name: logits.argmax(-1) for name, logits in self(images).items()}


def judge_loss(model: Judge, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The sum of the three heads' cross-entropies; reports the share with all three right."""
    logits = model(batch["images"])
    loss = sum(F.cross_entropy(logits[k], batch[k]) for k in logits)
    right = torch.stack([logits[k].argmax(-1) == batch[k] for k in logits]).all(0)
    return loss, {"accuracy": right.float().mean()}


def faithfulness(judge: Judge, images: torch.Tensor, labels: dict[str, torch.Tensor]) -> dict[str, float]:
    """The share of ``images`` whose colour, kind and place (each, and all three) match ``labels``."""
    read = judge.read(images)
    hits = {name: read[name] == labels[name] for name in read}
    return {"all": torch.stack(list(hits.values())).all(0).float().mean().item()} | {
        name: hit.float().mean().item() for name, hit in hits.items()
    }


# ----------------------------------------------------------------------------- captions and codes as one sequence


@dataclass
class CodeTokens:
    """One vocabulary for caption words and image codes: word ids first, then code ``k`` as
    ``n_words + k``. A row is ``CAPTION_LEN`` word ids followed by ``grid * grid`` code ids."""

    tokenizer: CaptionTokenizer
    codebook_size: int

    @property
    def n_words(self) -> int:
        return len(self.tokenizer)

    @property
    def vocab_size(self) -> int:
        return self.n_words + self.codebook_size

    def rows(self, captions: Sequence[str], codes: torch.Tensor) -> torch.Tensor:
        """``(N, CAPTION_LEN + L)`` token ids from captions and codes ``(N, grid, grid)``."""
        return torch.cat([self.tokenizer.encode(captions), codes.flatten(1) + self.n_words], dim=1)


def code_gpt(tokens: CodeTokens, n_codes: int, n_layer: int = 2, n_head: int = 4, n_embd: int = 64) -> GPT:
    """Chapter 06's GPT sized for ``[caption, codes]`` rows (the last code is never an input)."""
    return GPT(
        GPTConfig(
            vocab_size=tokens.vocab_size,
            block_size=CAPTION_LEN + n_codes - 1,
            n_layer=n_layer,
            n_head=n_head,
            n_embd=n_embd,
        )
    )


def code_gpt_loss(model: GPT, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Next-token cross-entropy on the image codes only (the caption is given, not predicted)."""
    rows = batch["rows"]  # (B, CAPTION_LEN + L)
    logits = model(rows[:, :-1])[:, CAPTION_LEN - 1 :]  # (B, L, V): the predictions of the L codes
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), rows[:, CAPTION_LEN:].reshape(-1))
    return loss, {"bits_per_code": loss.detach() / torch.log(torch.tensor(2.0))}


@torch.no_grad()
def sample_codes(
    model: GPT,
    tokens: CodeTokens,
    captions: Sequence[str],
    n_codes: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Codes ``(N, n_codes)`` (in ``[0, codebook_size)``) for each caption, one at a time; words are
    masked out of the choice, so every sampled token is a code."""
    model.eval()
    device = next(model.parameters()).device
    context = tokens.tokenizer.encode(list(captions)).to(device)  # (N, CAPTION_LEN)
    caches = model.new_kv_caches()
    new = context
    for _ in range(n_codes):
        logits = model(new, kv_caches=caches)[:, -1, tokens.n_words :] / max(temperature, 1e-6)  # (N, K)
        if top_k is not None:
            kth = logits.topk(min(top_k, logits.size(-1))).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        code = torch.multinomial(logits.softmax(-1), 1, generator=generator)  # (N, 1)
        new = code + tokens.n_words
        context = torch.cat([context, new], dim=1)
    return context[:, CAPTION_LEN:] - tokens.n_words
