"""Chapter 11's recipes: ``clip``, a mini-CLIP (CNN image tower, word Transformer text tower) on
digit/caption pairs, and ``clip_shapes``, the same on one coloured shape per 16 x 16 image ("a small
red triangle"), whose ``exclude`` leaves (colour, kind) pairs out of training as the chapter's second
run does. Chapter 11 builds its models with the same builders (:func:`digits_image`,
:func:`shapes_image`, :func:`text_tower`, :func:`build_clip`) from these settings."""

from __future__ import annotations

from dataclasses import dataclass

from mmlab.data.multimodal import (
    image_tensors,
    make_digit_captions,
    make_shape_captions,
    shape_caption_tensors,
)
from mmlab.models.clip import CLIP, CaptionTokenizer, CLIPConfig, TextTransformer, clip_training_loss
from mmlab.models.vision import CNNConfig
from mmlab.recipes.base import Job, Recipe, Settings, dict_loader, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = [
    "CLIPSettings",
    "CLIPShapesSettings",
    "RECIPE",
    "SHAPES_RECIPE",
    "build",
    "build_clip",
    "build_shapes",
    "digits_image",
    "shapes_image",
    "text_tower",
]


@dataclass(repr=False)
class CLIPSettings(Settings, TrainConfig):
    """Chapter 11's digits run."""

    n_train: int = 1400  # digit/caption pairs; the rest of the 1,797 are held out
    max_len: int = 8  # caption length in words
    image_channels: tuple[int, ...] = (16, 32)
    image_d_out: int = 64
    d_model: int = 32  # the text Transformer's width
    text_heads: int = 2
    text_layers: int = 1
    embed_dim: int = 32  # the shared embedding space
    batch_size: int = 64
    max_steps: int = 110  # the chapter's 5 epochs of ceil(1400 / 64) = 22 batches
    lr: float = 3e-3
    log_every: int = 5


@dataclass(repr=False)
class CLIPShapesSettings(CLIPSettings):
    """Chapter 11's section 7 (SHAPES_TRAIN, SHAPES_TEST, SHAPES_EPOCHS, SHAPES_IMAGE)."""

    n_train: int = 2000
    n_test: int = 900
    exclude: tuple[tuple[str, str], ...] = ()  # e.g. (("red", "square"),): unseen combinations
    max_len: int = 6
    max_steps: int = 320  # the chapter's 10 epochs of ceil(2000 / 64) = 32 batches


GPU = dict(
    image_channels=(64, 128),
    image_d_out=256,
    d_model=128,
    text_heads=4,
    text_layers=2,
    embed_dim=128,
    batch_size=256,
    max_steps=3000,
    lr=1e-3,
    warmup_steps=100,
    eval_every=500,
)
SHAPES_GPU = {**GPU, "n_train": 50000, "n_test": 5000, "max_steps": 5000}
MULTI_GPU = dict(batch_size=32)
ALIASES = {"text_d_model": "d_model"}


def digits_image(s: CLIPSettings) -> CNNConfig:
    """The digits image tower: chapter 09's CNN on 8 x 8 grey images."""
    return CNNConfig(
        in_channels=1, image_size=8, channels=tuple(s.image_channels), strides=(1, 2), d_out=s.image_d_out
    )


def shapes_image(s: CLIPShapesSettings) -> CNNConfig:
    """The shapes image tower on 16 x 16 colour images, pooled over the whole grid (out_grid=1): a shape
    is the same shape wherever it sits."""
    return CNNConfig(
        in_channels=3,
        image_size=16,
        channels=tuple(s.image_channels),
        strides=(1, 2),
        d_out=s.image_d_out,
        pool="mean",
        out_grid=1,
    )


def text_tower(s: CLIPSettings, captions: list[str]) -> TextTransformer:
    """A word Transformer trained from scratch, whose vocabulary is the words of ``captions``."""
    return TextTransformer(
        CaptionTokenizer(captions, max_len=s.max_len),
        d_model=s.d_model,
        n_heads=s.text_heads,
        n_layers=s.text_layers,
    )


def build_clip(s: CLIPSettings, image: CNNConfig, text_encoder, **config) -> CLIP:
    """A CLIP of the image tower ``image`` and ``text_encoder`` (:func:`text_tower`, or chapter 11's
    frozen MiniLM) in a shared space of width ``embed_dim``; ``config``: other :class:`CLIPConfig`
    fields (e.g. a fixed temperature)."""
    return CLIP(CLIPConfig(image, embed_dim=s.embed_dim, **config), text_encoder)


def build(s: CLIPSettings) -> Job:
    data = make_digit_captions(seed=0)
    tensors = image_tensors(data)
    captions, n_train = list(data["caption"]), s.n_train
    model = build_clip(s, digits_image(s), text_tower(s, captions[:n_train]))
    text = model.text_encoder.prepare(captions)  # (N, max_len) word ids
    train = {"images": tensors["images"][:n_train], "text": text[:n_train]}
    test = {"images": tensors["images"][n_train:], "text": text[n_train:]}
    # eval: in-batch accuracy over all held-out pairs in one batch (the chapter evaluates after training)
    eval_loader = dict_loader(test, len(test["text"])) if len(test["text"]) else None
    return Job(
        model,
        clip_training_loss,
        dict_loader(train, s.batch_size, shuffle=True),
        eval_loader,
        trainer_config(s),
    )


def build_shapes(s: CLIPShapesSettings) -> Job:
    exclude = tuple(tuple(pair) for pair in s.exclude)
    train_data = make_shape_captions(s.n_train, seed=0, exclude=exclude)
    test_data = make_shape_captions(s.n_test, seed=1)
    captions = list(train_data["caption"])
    model = build_clip(s, shapes_image(s), text_tower(s, captions))
    prepare = model.text_encoder.prepare
    train = {"images": shape_caption_tensors(train_data)["images"], "text": prepare(captions)}
    test = {"images": shape_caption_tensors(test_data)["images"], "text": prepare(list(test_data["caption"]))}
    train_loader = dict_loader(train, s.batch_size, shuffle=True)
    return Job(model, clip_training_loss, train_loader, dict_loader(test, 512), trainer_config(s))


RECIPE = Recipe("clip", "11_clip", CLIPSettings, GPU, MULTI_GPU, build=build, aliases=ALIASES)
SHAPES_RECIPE = Recipe(
    "clip_shapes", "11_clip", CLIPShapesSettings, SHAPES_GPU, MULTI_GPU, build=build_shapes, aliases=ALIASES
)
