"""A LLaVA-style mini vision-language model: image patches become the first "words" a GPT reads.

LLaVA (Liu et al. 2023) joins a pretrained image encoder and a pretrained language model with one
small piece, the *projector*: each image patch feature ``v_p`` (width ``d_v``) is mapped to the language
model's embedding width ``C``, ``h_p = W_2 GELU(W_1 v_p)`` (LLaVA 1.5; LLaVA 1.0 used one linear map),
and the ``P`` projected patches are fed to the language model in front of the text's token
embeddings, through the same slot the token embeddings use (``inputs_embeds``). The language model
then predicts the answer (or caption) word by word, attending to the image tokens like to any
earlier word. Training is in two stages:

1. align: only the projector learns (everything else frozen), so the image tokens come to "speak the
   language model's language";
2. tune: the language model (and projector) learn too, on the question/answer data.

:class:`MiniVLM` is built from the course's parts: a :class:`~mmlab.models.vision.CNNEncoder`
(``tokens(images)`` -> patch features) and a :class:`~mmlab.models.gpt.GPT`, whose token embedding,
Transformer stack and output head are used directly (``GPT.forward`` takes token ids only).
:func:`to_llava` copies a MiniVLM's projector and language model into a ``transformers``
``LlavaForConditionalGeneration``, which shows the parts are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from mmlab.models.gpt import GPT, GPTConfig
from mmlab.models.vision import CNNConfig, CNNEncoder
from mmlab.models.vlm.data import VLMTokenizer


@dataclass
class VLMConfig:
    """A mini-VLM.

    Attributes:
        image: the image encoder; its ``tokens`` (one vector per grid cell) become the prefix.
        gpt: the language model (``block_size`` must hold the prefix plus the longest text).
        projector: "mlp" (LLaVA 1.5: Linear, GELU, Linear) or "linear" (LLaVA 1.0).
    """

    image: CNNConfig = field(default_factory=lambda: CNNConfig(channels=(16, 32), strides=(2, 2), out_grid=2))
    gpt: GPTConfig = field(
        default_factory=lambda: GPTConfig(vocab_size=64, block_size=48, n_layer=2, n_head=2, n_embd=64)
    )
    projector: Literal["mlp", "linear"] = "mlp"

    def __post_init__(self) -> None:
        if self.projector not in ("mlp", "linear"):
            raise ValueError(f"projector must be 'mlp' or 'linear', got {self.projector!r}")

    @property
    def n_prefix(self) -> int:
        """P, the number of image tokens."""
        return self.image.grid**2


class Projector(nn.Module):
    """Patch features ``(B, P, d_v)`` -> prefix embeddings ``(B, P, C)``."""

    def __init__(self, d_in: int, d_out: int, kind: Literal["mlp", "linear"] = "mlp") -> None:
        super().__init__()
        self.kind = kind
        if kind == "mlp":  # LLaVA 1.5's names: linear_1, act, linear_2
            self.linear_1, self.act, self.linear_2 = (
                nn.Linear(d_in, d_out),
                nn.GELU(),
                nn.Linear(d_out, d_out),
            )
        else:
            self.linear_1 = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear_1(x)
        return self.linear_2(self.act(x)) if self.kind == "mlp" else x


class MiniVLM(nn.Module):
    """Image encoder -> projector -> prefix tokens, then the GPT over [prefix; text]."""

    def __init__(self, config: VLMConfig, tokenizer: VLMTokenizer) -> None:
        super().__init__()
        if config.gpt.vocab_size < len(tokenizer):
            raise ValueError(
                f"gpt.vocab_size={config.gpt.vocab_size} is smaller than the tokenizer ({len(tokenizer)})"
            )
        self.config, self.tokenizer = config, tokenizer
        self.image_encoder = CNNEncoder(config.image)
        self.projector = Projector(self.image_encoder.d_tokens, config.gpt.n_embd, config.projector)
        self.gpt = GPT(config.gpt)

    @property
    def device(self) -> torch.device:
        return self.gpt.tok_emb.weight.device

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Pixels (B, 3, H, W) -> patch features (B, P, d_v); features (B, P, d_v) pass through.

        With a frozen image encoder, computing the features once for a whole data set (and feeding
        them instead of pixels) gives the same results and makes every training step cheaper.
        """
        if images.dim() == 3:
            expected = (self.config.n_prefix, self.image_encoder.d_tokens)
            if tuple(images.shape[1:]) != expected:
                raise ValueError(
                    f"image features should be (B, {expected[0]}, {expected[1]}), got {tuple(images.shape)}"
                )
            return images
        return self.image_encoder.tokens(images)

    def prefix(self, images: torch.Tensor) -> torch.Tensor:
        """Pixels (B, 3, H, W) or features (B, P, d_v) -> image tokens in the GPT's space, (B, P, C)."""
        return self.projector(self.image_features(images))

    def word_prefix(self, words: torch.Tensor) -> torch.Tensor:
        """The scene *written in words* in the image slots: ids ``(B, P, K)`` (K words per cell; K = 1
        for :func:`scene_words`' cell words) -> the mean of their token embeddings, ``(B, P, C)``.

        Pretraining the language model on these prefixes (:func:`scene_words_loss`) teaches it to read
        its P prefix slots as words; the projector then only has to map each patch into that space.
        """
        if words.dim() != 3 or words.size(1) != self.config.n_prefix or words.dtype != torch.long:
            raise ValueError(
                f"words should be token ids (B, {self.config.n_prefix}, K), got {tuple(words.shape)} {words.dtype}"
            )
        return self.gpt.tok_emb(words).mean(dim=2)  # (B, P, K, C) -> (B, P, C)

    def prefix_or_blank(
        self, images: torch.Tensor | None, batch: int, words: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The image tokens; the word prefix for ``words`` given; or for both None, P zero vectors (the
        text-only ablation): the text then sits at the same positions as with an image, but the image
        slots carry no information."""
        if words is not None:
            if images is not None:
                raise ValueError("give images or words, not both")
            return self.word_prefix(words)
        if images is None:
            return self.gpt.tok_emb.weight.new_zeros(batch, self.config.n_prefix, self.config.gpt.n_embd)
        return self.prefix(images)

    def forward(
        self, images: torch.Tensor | None, ids: torch.Tensor, words: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Next-token logits ``(B, T, V)`` over the text positions only.

        ``images`` None blanks the image tokens (the text-only ablation, see :meth:`prefix_or_blank`);
        ``words`` (B, P, K) puts the scene written in words there instead (see :meth:`word_prefix`).
        """
        prefix = self.prefix_or_blank(images, ids.size(0), words)  # (B, P, C)
        P = prefix.size(1)
        x = torch.cat([prefix, self.gpt.tok_emb(ids)], dim=1)  # (B, P + T, C): transformers' inputs_embeds
        if x.size(1) > self.config.gpt.block_size:
            raise ValueError(
                f"{x.size(1)} tokens (image + text) exceed block_size={self.config.gpt.block_size}"
            )
        h = self.gpt.transformer(x)  # causal: text sees the whole image, the image never sees the text
        return self.gpt.lm_head(h[:, P:])  # (B, T, V)

    @torch.no_grad()
    def generate(
        self, images: torch.Tensor | None, prompts: Sequence[Sequence[int]], max_new_tokens: int = 20
    ) -> list[list[int]]:
        """Greedy continuation of each prompt (token ids), stopping at ``<eos>``; returns the new ids."""
        was_training = self.training
        self.eval()
        try:
            B = len(prompts)
            lengths = torch.tensor([len(p) for p in prompts])
            T = int(lengths.max()) + max_new_tokens
            ids = torch.full((B, T), VLMTokenizer.PAD, dtype=torch.long)
            for row, prompt in enumerate(prompts):
                ids[row, : len(prompt)] = torch.tensor(prompt)
            ids, images = ids.to(self.device), None if images is None else images.to(self.device)
            rows = torch.arange(B)
            done = torch.zeros(B, dtype=torch.bool)
            prefix = self.prefix_or_blank(images, B)  # (B, P, C)
            P = prefix.size(1)
            out: list[list[int]] = [[] for _ in range(B)]
            for _ in range(max_new_tokens):
                width = int(lengths.max())
                x = torch.cat([prefix, self.gpt.tok_emb(ids[:, :width])], dim=1)  # (B, P + width, C)
                # right padding is harmless under a causal mask: position len-1 never sees it
                logits = self.gpt.lm_head(self.gpt.transformer(x)[rows, P + lengths - 1])  # (B, V)
                token = logits.argmax(-1).cpu()
                for row in range(B):
                    if not done[row]:
                        out[row].append(int(token[row]))
                done |= token == VLMTokenizer.EOS
                if bool(done.all()):
                    break
                ids[rows, lengths.clamp(max=T - 1)] = token.to(self.device)
                lengths = (lengths + 1).clamp(max=T)
        finally:
            self.train(was_training)
        return out

    def _images(self, image) -> torch.Tensor:
        if not isinstance(image, torch.Tensor):  # a PIL image or an array (H, W, 3) in 0..255
            import numpy as np

            image = torch.from_numpy(
                np.asarray(image.convert("RGB") if hasattr(image, "convert") else image).copy()
            )
            image = image.permute(2, 0, 1).float() / 255.0
        # (P, d_v) features or a (3, H, W) image of one picture get a batch dimension
        return image[None] if image.dim() in (2, 3) else image

    def answer(self, image, question: str) -> str:
        """Answer one question about one image (a ``(3, H, W)`` tensor in [0, 1] or a PIL image)."""
        prompt = self.tokenizer.question_prompt(question)
        return self.tokenizer.decode(self.generate(self._images(image), [prompt], max_new_tokens=3)[0])

    def caption(self, image) -> str:
        """Describe one image."""
        prompt = self.tokenizer.caption_prompt()
        room = self.config.gpt.block_size - self.config.n_prefix - 1
        return self.tokenizer.decode(self.generate(self._images(image), [prompt], max_new_tokens=room)[0])


def set_stage(model: MiniVLM, stage: Literal["align", "tune", "all", "text"]) -> dict[str, int]:
    """Freeze and unfreeze for a training stage; returns the trainable parameter count per part.

    * "align" (LLaVA stage 1): the projector only.
    * "tune" (LLaVA stage 2): the projector and the language model (the image encoder stays frozen).
    * "all": everything, image encoder included. "text": the language model only.
    """
    parts = {"image_encoder": model.image_encoder, "projector": model.projector, "gpt": model.gpt}
    trainable = {
        "align": {"projector"},
        "tune": {"projector", "gpt"},
        "all": {"image_encoder", "projector", "gpt"},
        "text": {"gpt"},
    }
    if stage not in trainable:
        raise ValueError(f"stage must be one of {sorted(trainable)}, got {stage!r}")
    for name, part in parts.items():
        part.requires_grad_(name in trainable[stage])
    return {
        name: sum(p.numel() for p in part.parameters() if p.requires_grad) for name, part in parts.items()
    }


def to_llava(model: MiniVLM, vision_config=None):
    """A ``transformers`` ``LlavaForConditionalGeneration`` holding this model's projector and language
    model (as GPT-2); its vision tower is a tiny CLIP vision model whose width equals our patch
    features' (our CNN has no counterpart there, so it is not copied).

    Needs an "mlp" projector (LLaVA 1.5's shape) and a GPT with learned positions and tied weights.
    """
    import tempfile

    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    from mmlab.models.gpt import export_to_gpt2

    if model.config.projector != "mlp":
        raise ValueError(
            "LLaVA 1.5's projector is Linear-GELU-Linear: build the MiniVLM with projector='mlp'"
        )
    d_v = model.image_encoder.d_tokens
    vision_config = vision_config or CLIPVisionConfig(
        hidden_size=d_v,
        intermediate_size=2 * d_v,
        num_hidden_layers=1,
        num_attention_heads=1,
        image_size=model.config.image.image_size,
        patch_size=model.config.image.image_size // model.config.image.grid,
    )
    with tempfile.TemporaryDirectory() as folder:
        gpt2 = export_to_gpt2(model.gpt, folder)
    text_config = gpt2.config
    text_config.tie_word_embeddings = False  # LLaVA ties by LLaMA's parameter names; we copy the head instead
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        projector_hidden_act="gelu",
        image_token_id=model.tokenizer.UNK,
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        tie_word_embeddings=False,
    )
    llava = LlavaForConditionalGeneration(config).eval()
    projector = {k: v for k, v in model.projector.state_dict().items()}
    llava.model.multi_modal_projector.load_state_dict(projector)
    llava.model.language_model.load_state_dict(gpt2.transformer.state_dict())
    llava.lm_head.weight.data.copy_(gpt2.lm_head.weight.data)
    return llava
