"""Multimodal fusion: where and how a question and an image are combined to answer it.

Every model here maps ``(images (B, 3, H, W), questions (B, T) token ids, question_mask (B, T))`` to
answer logits ``(B, n_answers)``, so one loss function (:func:`vqa_loss`) trains them all. They share one frozen
:class:`RegionEncoder` (a CNN trained once to name what is in each region of the scene), so the
comparison is about how the modalities are fused, not about how well each model learned to see:

* :class:`QuestionOnly`, :class:`ImageOnly`: one modality; the baselines a fusion must beat.
* :class:`EarlyFusion`: the inputs are joined before one encoder: word vectors and image-region
  vectors form one sequence for one Transformer (single stream).
* :class:`LateFusion`: each modality has its own encoder; their outputs are joined at the end, by
  concatenation ``[f_1; f_2]`` or by a learned weighted sum ``F = sum_i w_i f_i`` with
  ``w = softmax(weight_logits)``, either of features (then an MLP) or of decisions (per-modality logits).
* :class:`HybridFusion`: the modalities meet inside the network (intermediate fusion): question
  tokens cross-attend to image regions (queries from text, keys and values from the image), or the
  question sets a per-channel scale and shift of the image features (FiLM, Perez et al. 2018).
* :class:`EarlyLateFusion`: hybrid fusion in the textbook sense (Atrey et al. 2010): an early-fusion
  stream's decision and the late, per-modality decisions, combined by a learned weighted sum.

The three joining operations are also plain functions (:func:`weighted_sum_fusion`,
:func:`concat_fusion`, :func:`cross_attend`): they are the reference answers of lab 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.models.attention import padding_mask, record_attention
from mmlab.models.regions import RegionEncoder
from mmlab.models.transformer import Transformer, TransformerConfig
from mmlab.models.vision import CNNConfig

__all__ = [
    "MODEL_NAMES",
    "EarlyFusion",
    "EarlyLateFusion",
    "FiLM",
    "FusionConfig",
    "FusionModel",
    "HybridFusion",
    "ImageOnly",
    "LateFusion",
    "QuestionOnly",
    "build_fusion_model",
    "concat_fusion",
    "cross_attend",
    "predict_answers",
    "vqa_loss",
    "weighted_sum_fusion",
]


# ----------------------------------------------------------------------------- the joining operations


def weighted_sum_fusion(features: list[torch.Tensor], weight_logits: torch.Tensor) -> torch.Tensor:
    """F = sum_i w_i f_i with w = softmax(weight_logits): a convex mix of M same-sized features.

    Args:
        features: M tensors of shape (B, d). weight_logits: (M,) unnormalised weights.
    Returns:
        (B, d).
    """
    if len(features) != weight_logits.numel():
        raise ValueError(f"{len(features)} features but {weight_logits.numel()} weight logits")
    weights = weight_logits.softmax(dim=0)  # (M,), sums to 1
    return (torch.stack(features, dim=0) * weights[:, None, None]).sum(dim=0)  # (M, B, d) -> (B, d)


def concat_fusion(features: list[torch.Tensor]) -> torch.Tensor:
    """[f_1; f_2; ...]: join (B, d_i) features along the feature axis -> (B, sum_i d_i)."""
    return torch.cat(features, dim=-1)


def cross_attend(
    text: torch.Tensor, image: torch.Tensor, image_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """One cross-attention step without projections: softmax(Q K^T / sqrt(d)) V with the text as
    queries Q (B, T, d) and the image patches as keys and values K = V (B, P, d).

    ``image_mask`` (B, P) is True on real patches; masked patches get zero weight. Returns (B, T, d):
    each text token becomes a weighted average of image patches.
    """
    scores = text @ image.transpose(-2, -1) / math.sqrt(text.size(-1))  # (B, T, P)
    if image_mask is not None:
        scores = scores.masked_fill(~image_mask.bool()[:, None, :], float("-inf"))
    return scores.softmax(dim=-1) @ image  # (B, T, d)


# ----------------------------------------------------------------------------- configuration


@dataclass
class FusionConfig:
    """Sizes shared by every fusion model, so they are compared at similar widths.

    Attributes:
        vocab_size, n_answers, max_len: the question vocabulary, the answer classes, question length.
        d: width of features and tokens.
        image: the region encoder's CNN; its ``out_grid**2`` regions of ``channels[-1]`` values are
            the image tokens every fusion model reads.
        n_heads, n_layers: of the Transformers (question tower, early fusion stream, hybrid).
        hidden: width of the MLP answer head.
    """

    vocab_size: int = 26
    n_answers: int = 11
    max_len: int = 8
    d: int = 32
    image: CNNConfig = field(default_factory=lambda: CNNConfig(out_grid=2))
    n_heads: int = 2
    n_layers: int = 1
    hidden: int = 64

    @property
    def n_regions(self) -> int:
        return self.image.grid**2

    @property
    def d_region(self) -> int:
        return self.image.channels[-1]


def _head(d_in: int, config: FusionConfig) -> nn.Module:
    return nn.Sequential(
        nn.Linear(d_in, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.n_answers)
    )


def _masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over the real tokens of x (B, T, d) -> (B, d)."""
    if mask is None:
        return x.mean(dim=1)
    m = mask.to(x.dtype)[..., None]  # (B, T, 1)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)


# ----------------------------------------------------------------------------- the image side


class FusionModel(nn.Module):
    """Base class: holds the frozen, shared region encoder and turns pixels into region tokens.

    ``forward(images, questions, question_mask=None, image_mask=None)`` takes ``images`` either as
    pixels (B, 3, H, W) or as region vectors already computed by the encoder (B, P, c): training
    computes them once for the whole data set, which makes every step cheap.
    """

    def __init__(self, config: FusionConfig, encoder: RegionEncoder | None = None) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder if encoder is not None else RegionEncoder(config.image)
        self.encoder.requires_grad_(False)

    def regions(self, images: torch.Tensor, questions: torch.Tensor) -> torch.Tensor:
        if questions.dim() != 2 or questions.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"questions should be (B, T) integer token ids, got {questions.dtype} {tuple(questions.shape)}"
            )
        if images.size(0) != questions.size(0):
            raise ValueError(f"{images.size(0)} images but {questions.size(0)} questions")
        if images.dim() == 4:
            with torch.no_grad():
                return self.encoder(images)  # (B, P, c)
        expected = (self.config.n_regions, self.config.d_region)
        if images.dim() != 3 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"images should be pixels (B, 3, H, W) or region vectors (B, {expected[0]}, {expected[1]}), "
                f"got shape {tuple(images.shape)}"
            )
        return images

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # frozen: always in eval mode
        return self


class TextEncoder(nn.Module):
    """Word embeddings + learned positions + Transformer blocks; optionally cross-attending to a context."""

    def __init__(self, config: FusionConfig, d_context: int | None = None) -> None:
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size, config.d)
        self.transformer = Transformer(
            TransformerConfig(
                d_model=config.d,
                n_heads=config.n_heads,
                n_layers=config.n_layers,
                d_ff=2 * config.d,
                max_len=config.max_len,
                positions="learned",
                cross_attention=d_context is not None,
                d_context=d_context,
            )
        )

    def forward(
        self,
        questions: torch.Tensor,
        question_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, T) ids -> (B, T, d) token vectors."""
        mask = padding_mask(question_mask) if question_mask is not None else None
        cmask = padding_mask(context_mask) if context_mask is not None else None
        return self.transformer(self.embed(questions), mask=mask, context=context, context_mask=cmask)


class ImageTower(nn.Module):
    """Region vectors (B, P, c) -> one image vector (B, d): an MLP over all regions side by side,
    so where things are is kept."""

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(config.n_regions * config.d_region, config.d), nn.ReLU())

    def forward(self, regions: torch.Tensor) -> torch.Tensor:
        return self.mlp(regions.flatten(1))


# ----------------------------------------------------------------------------- single modalities


class QuestionOnly(FusionModel):
    """Answer from the question alone (the image is ignored)."""

    def __init__(self, config: FusionConfig, encoder: RegionEncoder | None = None) -> None:
        super().__init__(config, encoder)
        self.text = TextEncoder(config)
        self.head = _head(config.d, config)

    def forward(self, images, questions, question_mask=None, image_mask=None) -> torch.Tensor:
        self.regions(images, questions)  # validates the inputs
        return self.head(_masked_mean(self.text(questions, question_mask), question_mask))


class ImageOnly(FusionModel):
    """Answer from the image alone (the question is ignored)."""

    def __init__(self, config: FusionConfig, encoder: RegionEncoder | None = None) -> None:
        super().__init__(config, encoder)
        self.image = ImageTower(config)
        self.head = _head(config.d, config)

    def forward(self, images, questions, question_mask=None, image_mask=None) -> torch.Tensor:
        return self.head(self.image(self.regions(images, questions)))


# ----------------------------------------------------------------------------- early fusion


class EarlyFusion(FusionModel):
    """Join the inputs, then encode once (single stream, like VisualBERT): the question's word
    vectors and the image's region vectors, each tagged with a modality embedding, form one sequence
    for one Transformer; the answer is read from the mean of all real tokens."""

    def __init__(self, config: FusionConfig, encoder: RegionEncoder | None = None) -> None:
        super().__init__(config, encoder)
        self.embed = nn.Embedding(config.vocab_size, config.d)
        self.region_proj = nn.Linear(config.d_region, config.d)
        self.modality = nn.Parameter(torch.zeros(2, config.d))  # text, image
        self.transformer = Transformer(
            TransformerConfig(
                d_model=config.d,
                n_heads=config.n_heads,
                n_layers=config.n_layers,
                d_ff=2 * config.d,
                max_len=config.max_len + config.n_regions,
                positions="learned",
            )
        )
        self.head = _head(config.d, config)

    def forward(self, images, questions, question_mask=None, image_mask=None) -> torch.Tensor:
        regions = self.regions(images, questions)  # (B, P, c)
        B, P = regions.shape[:2]
        text = self.embed(questions) + self.modality[0]  # (B, T, d)
        image = self.region_proj(regions) + self.modality[1]  # (B, P, d)
        x = torch.cat([text, image], dim=1)  # (B, T + P, d)
        q_mask = question_mask if question_mask is not None else torch.ones_like(questions, dtype=torch.bool)
        i_mask = image_mask if image_mask is not None else torch.ones(B, P, dtype=torch.bool, device=x.device)
        mask = torch.cat([q_mask.bool(), i_mask.bool()], dim=1)  # (B, T + P)
        return self.head(_masked_mean(self.transformer(x, mask=padding_mask(mask)), mask))


# ----------------------------------------------------------------------------- late fusion


class LateFusion(FusionModel):
    """Separate encoders; join their outputs at the end.

    Args:
        join: "concat" ([f_text; f_image]) or "weighted_sum" (sum_i softmax(w)_i f_i, w learned).
        level: "features" (join the encoders' vectors, then an MLP answers) or "decisions" (each
            modality answers on its own; the logits are joined: additive, so no interaction).
    """

    def __init__(
        self,
        config: FusionConfig,
        encoder: RegionEncoder | None = None,
        join: Literal["concat", "weighted_sum"] = "concat",
        level: Literal["features", "decisions"] = "features",
    ) -> None:
        super().__init__(config, encoder)
        if join not in ("concat", "weighted_sum") or level not in ("features", "decisions"):
            raise ValueError(
                f"join must be concat/weighted_sum and level features/decisions, got {join}, {level}"
            )
        self.join, self.level = join, level
        self.text = TextEncoder(config)
        self.image = ImageTower(config)
        if level == "features":
            self.head = _head(2 * config.d if join == "concat" else config.d, config)
        else:
            self.text_head, self.image_head = _head(config.d, config), _head(config.d, config)
            if join == "concat":
                self.head = nn.Linear(2 * config.n_answers, config.n_answers)
        if join == "weighted_sum":
            self.weight_logits = nn.Parameter(torch.zeros(2))  # start at w = (1/2, 1/2)

    @property
    def weights(self) -> torch.Tensor:
        """The normalised modality weights (text, image) of a weighted-sum model."""
        return self.weight_logits.softmax(dim=0).detach()

    def forward(self, images, questions, question_mask=None, image_mask=None) -> torch.Tensor:
        regions = self.regions(images, questions)
        f_text = _masked_mean(self.text(questions, question_mask), question_mask)  # (B, d)
        f_image = self.image(regions)  # (B, d)
        if self.level == "decisions":
            f_text, f_image = self.text_head(f_text), self.image_head(f_image)  # (B, n_answers) each
        if self.join == "weighted_sum":
            fused = weighted_sum_fusion([f_text, f_image], self.weight_logits)
            return fused if self.level == "decisions" else self.head(fused)
        return self.head(concat_fusion([f_text, f_image]))


# ----------------------------------------------------------------------------- early + late


class EarlyLateFusion(FusionModel):
    """Hybrid fusion in the textbook sense: early and late fusion side by side, decisions combined.

    An :class:`EarlyFusion` stream answers from the joined inputs; a late model answers from each
    modality on its own (a weighted sum of the two decisions); a learned weighted sum of those two
    answers is the output. Given already trained ``early`` and ``late`` models (the classic recipe:
    combine the decisions of classifiers trained apart), they are frozen and only the two weights
    learn; otherwise both are built here and everything trains together.
    """

    def __init__(
        self,
        config: FusionConfig,
        encoder: RegionEncoder | None = None,
        early: EarlyFusion | None = None,
        late: LateFusion | None = None,
    ) -> None:
        super().__init__(config, encoder)
        if (early is None) != (late is None):
            raise ValueError("pass both trained models (early and late) or neither")
        self.early = early if early is not None else EarlyFusion(config, self.encoder)
        self.late = (
            late if late is not None else LateFusion(config, self.encoder, "weighted_sum", "decisions")
        )
        if early is not None:
            self.early.requires_grad_(False)
            self.late.requires_grad_(False)
        self.weight_logits = nn.Parameter(torch.zeros(2))  # early, late: start at (1/2, 1/2)

    @property
    def weights(self) -> torch.Tensor:
        """The normalised weights (early, late) of the two decisions."""
        return self.weight_logits.softmax(dim=0).detach()

    def forward(self, images, questions, question_mask=None, image_mask=None) -> torch.Tensor:
        regions = self.regions(images, questions)  # (B, P, c), computed once for both
        early = self.early(regions, questions, question_mask, image_mask)  # (B, n_answers)
        late = self.late(regions, questions, question_mask)  # (B, n_answers)
        return weighted_sum_fusion([early, late], self.weight_logits)


# ----------------------------------------------------------------------------- intermediate fusion


class FiLM(nn.Module):
    """Feature-wise linear modulation: h -> (1 + gamma(q)) * h + beta(q), per channel."""

    def __init__(self, d_condition: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_condition, 2 * channels)

    def forward(self, h: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """h (B, ..., C) channels last, condition (B, d_condition) -> same shape as h."""
        gamma, beta = self.proj(condition).chunk(2, dim=-1)  # (B, C) each
        shape = (h.size(0),) + (1,) * (h.dim() - 2) + (h.size(-1),)
        # 1 + gamma: at initialisation (gamma near 0) FiLM is close to the identity.
        return (1 + gamma).view(shape) * h + beta.view(shape)


class HybridFusion(FusionModel):
    """The modalities interact inside the network.

    mode="cross_attention" (two streams): the question tokens are the queries and the image regions
    (plus learned positions) the keys and values of a cross-attention in each block of the text
    Transformer; the answer is read from the mean of the question tokens. ``image_mask`` (B, P),
    True on regions that may be attended to, hides regions. mode="film": the question vector scales
    and shifts every channel of every region (FiLM), then an MLP over the regions answers.
    """

    def __init__(
        self,
        config: FusionConfig,
        encoder: RegionEncoder | None = None,
        mode: Literal["cross_attention", "film"] = "cross_attention",
    ) -> None:
        super().__init__(config, encoder)
        if mode not in ("cross_attention", "film"):
            raise ValueError(f"mode must be 'cross_attention' or 'film', got {mode!r}")
        self.mode = mode
        self.region_proj = nn.Linear(config.d_region, config.d)
        self.region_positions = nn.Parameter(torch.randn(1, config.n_regions, config.d) * 0.02)
        if mode == "cross_attention":
            self.text = TextEncoder(config, d_context=config.d)
            self.head = _head(config.d, config)
        else:
            self.text = TextEncoder(config)
            self.film = FiLM(config.d, config.d)
            self.image = nn.Sequential(
                nn.ReLU(), nn.Flatten(1), nn.Linear(config.n_regions * config.d, config.d), nn.ReLU()
            )
            self.head = _head(config.d, config)

    def forward(self, images, questions, question_mask=None, image_mask=None) -> torch.Tensor:
        regions = self.region_proj(self.regions(images, questions)) + self.region_positions  # (B, P, d)
        if self.mode == "cross_attention":
            tokens = self.text(
                questions, question_mask, context=regions, context_mask=image_mask
            )  # (B, T, d)
            return self.head(_masked_mean(tokens, question_mask))
        q = _masked_mean(self.text(questions, question_mask), question_mask)  # (B, d)
        return self.head(self.image(self.film(regions, q)))

    @torch.no_grad()
    def cross_attention_maps(self, images, questions, question_mask=None) -> torch.Tensor:
        """Attention of each question token over the image regions, averaged over heads and layers:
        (B, T, P). Cross-attention mode only."""
        if self.mode != "cross_attention":
            raise ValueError("attention maps exist only for mode='cross_attention'")
        with record_attention(
            self, layers=[block.cross_attn for block in self.text.transformer.blocks]
        ) as maps:
            self(images, questions, question_mask)
        return torch.stack(maps).mean(dim=(0, 2))  # (L, B, nh, T, P) -> (B, T, P)


# ----------------------------------------------------------------------------- training helpers

MODEL_NAMES = (
    "question only",
    "image only",
    "late: weighted sum of decisions",
    "late: weighted sum of features",
    "late: concatenation of features",
    "early fusion",
    "hybrid: early + late",
    "cross-attention",
    "FiLM",
)


def build_fusion_model(name: str, config: FusionConfig, encoder: RegionEncoder | None = None) -> FusionModel:
    """One of :data:`MODEL_NAMES` (the rows of chapter 10's table), sharing ``encoder`` if given."""
    if name == "question only":
        return QuestionOnly(config, encoder)
    if name == "image only":
        return ImageOnly(config, encoder)
    if name == "late: weighted sum of decisions":
        return LateFusion(config, encoder, join="weighted_sum", level="decisions")
    if name == "late: weighted sum of features":
        return LateFusion(config, encoder, join="weighted_sum", level="features")
    if name == "late: concatenation of features":
        return LateFusion(config, encoder, join="concat", level="features")
    if name == "early fusion":
        return EarlyFusion(config, encoder)
    if name == "hybrid: early + late":
        return EarlyLateFusion(config, encoder)
    if name == "cross-attention":
        return HybridFusion(config, encoder, mode="cross_attention")
    if name == "FiLM":
        return HybridFusion(config, encoder, mode="film")
    raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")


def vqa_loss(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Cross-entropy over the answers, plus accuracy: the Trainer's ``loss_fn`` for every model here."""
    images = batch["regions"] if "regions" in batch else batch["images"]  # precomputed regions if there
    logits = model(images, batch["questions"], batch["question_mask"])
    loss = F.cross_entropy(logits, batch["answers"])
    return loss, {"accuracy": (logits.argmax(-1) == batch["answers"]).float().mean()}


@torch.no_grad()
def predict_answers(
    model: nn.Module, tensors: dict[str, torch.Tensor], batch_size: int = 512
) -> torch.Tensor:
    """Answer indices (N,) for a tensor data set (see ``mmlab.data.multimodal.vqa_tensors``)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(tensors["answers"]), batch_size):
        part = slice(start, start + batch_size)
        logits = model(
            tensors["regions" if "regions" in tensors else "images"][part].to(device),
            tensors["questions"][part].to(device),
            tensors["question_mask"][part].to(device),
        )
        out.append(logits.argmax(-1).cpu())
    model.train(was_training)
    return torch.cat(out)
