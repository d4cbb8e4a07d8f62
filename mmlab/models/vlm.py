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

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.data.multimodal import grid_cell
from mmlab.models.gpt import GPT, GPTConfig
from mmlab.models.vision import CNNConfig, CNNEncoder

__all__ = [
    "IGNORE",
    "MiniVLM",
    "Projector",
    "VLMConfig",
    "VLMTokenizer",
    "RegionNamer",
    "answer_accuracy",
    "build_vlm_examples",
    "encode_images",
    "region_namer_loss",
    "nearest_word_match",
    "nearest_words",
    "scene_words",
    "scene_words_loss",
    "set_stage",
    "text_only_loss",
    "to_llava",
    "vlm_loss",
]

IGNORE = -100  # targets that the loss skips (the question, the padding)


class VLMTokenizer:
    """Words and the punctuation ``?`` and ``,`` -> ids, with the special tokens the prompts need.

    ``<answer>`` ends a question (the model answers after it), ``<caption>`` asks for a caption,
    ``<eos>`` ends an answer or a caption. After the words come the *cell words*
    (:meth:`cell_words`): one token per thing a grid cell of a shapes scene can hold,
    ``<small-red-circle>`` ... ``<empty>``, which the language model reads in its prefix slots while
    it is pretrained on text (:func:`scene_words`). No text contains them.
    """

    SPECIALS = ("<pad>", "<unk>", "<answer>", "<caption>", "<eos>")
    PAD, UNK, ANSWER, CAPTION, EOS = range(5)

    def __init__(self, texts: Sequence[str]) -> None:
        words = sorted({w for t in texts for w in self.split(t)})
        self.itos = [*self.SPECIALS, *words, *self.cell_words()]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @staticmethod
    def cell_words() -> list[str]:
        """``<size-colour-kind>`` for every shape of :mod:`mmlab.data.multimodal`, then ``<empty>``."""
        from mmlab.data.multimodal import COLOURS, KINDS, SIZES

        shapes = [f"<{s}-{c}-{k}>" for s in SIZES for c in COLOURS for k in KINDS]
        return [*shapes, "<empty>"]

    @staticmethod
    def split(text: str) -> list[str]:
        return re.findall(r"[a-z]+|[?,]", text.lower().replace("color", "colour"))

    def __len__(self) -> int:
        return len(self.itos)

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in self.split(text) if w not in self.stoi]

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(w, self.UNK) for w in self.split(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text, stopping at ``<eos>`` and leaving out padding."""
        words = []
        for i in ids:
            if i == self.EOS:
                break
            if i != self.PAD:
                words.append(self.itos[i])
        return " ".join(words).replace(" ,", ",").replace(" ?", "?")

    def question_prompt(self, question: str) -> list[int]:
        return [*self.encode(question), self.ANSWER]

    def caption_prompt(self) -> list[int]:
        return [self.CAPTION]


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


def build_vlm_examples(
    tensors: dict[str, torch.Tensor],
    questions: Sequence[str],
    answers: Sequence[str],
    captions: Sequence[str],
    tokenizer: VLMTokenizer,
    max_len: int,
) -> dict[str, torch.Tensor]:
    """Training rows for the VLM: one per question (``question <answer> answer <eos>``) and one per
    distinct scene (``<caption> caption <eos>``).

    Args:
        tensors: ``vqa_tensors(dataset)`` (its ``images`` and ``scene_ids`` are used; ``words`` too,
            the output of :func:`scene_words`, when present).
        questions, answers, captions: the data set's columns, row-aligned with ``tensors``.
    Returns:
        ``images`` (N, 3, H, W), ``ids`` (N, max_len) inputs, ``targets`` (N, max_len) with the next
        token where the loss counts (the answer or caption and its ``<eos>``) and IGNORE elsewhere,
        ``kind`` (N,) 0 for a question row and 1 for a caption row, and ``words`` (N, P, K) if given.
    """
    rows: list[tuple[int, list[int], int]] = []  # (image row, full token list, where the answer starts)
    for i, (q, a) in enumerate(zip(questions, answers)):
        prompt = tokenizer.question_prompt(q)
        rows.append((i, [*prompt, *tokenizer.encode(a), tokenizer.EOS], len(prompt)))
    seen: set[int] = set()
    for i, sid in enumerate(tensors["scene_ids"].tolist()):
        if sid not in seen:
            seen.add(sid)
            rows.append((i, [tokenizer.CAPTION, *tokenizer.encode(captions[i]), tokenizer.EOS], 1))
    ids = torch.full((len(rows), max_len), tokenizer.PAD, dtype=torch.long)
    targets = torch.full((len(rows), max_len), IGNORE, dtype=torch.long)
    for r, (_, tokens, start) in enumerate(rows):
        if len(tokens) > max_len + 1:
            raise ValueError(f"a row has {len(tokens)} tokens; raise max_len above {max_len}")
        ids[r, : len(tokens) - 1] = torch.tensor(tokens[:-1])
        # input position t predicts token t + 1; only the answer/caption tokens are learned
        targets[r, start - 1 : len(tokens) - 1] = torch.tensor(tokens[start:])
    source = torch.tensor([r[0] for r in rows])
    out = {
        "images": tensors["images"][source],
        "ids": ids,
        "targets": targets,
        "kind": torch.tensor([0] * len(questions) + [1] * len(seen)),
    }
    if "words" in tensors:  # the scene in words (see scene_words), for pretraining the language model
        out["words"] = tensors["words"][source]
    return out


def vlm_loss(model: MiniVLM, batch: dict[str, torch.Tensor], use_image: bool = True):
    """Cross-entropy on the answer and caption tokens; reports the token accuracy there."""
    logits = model(batch["images"] if use_image else None, batch["ids"])  # (B, T, V)
    return _masked_loss(logits, batch["targets"])


def _masked_loss(logits: torch.Tensor, targets: torch.Tensor):
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
    with torch.no_grad():
        counted = targets != IGNORE
        accuracy = (logits.argmax(-1) == targets)[counted].float().mean()
    return loss, {"accuracy": accuracy}


def text_only_loss(model: MiniVLM, batch: dict[str, torch.Tensor]):
    """:func:`vlm_loss` without the image: the language model sees the text alone."""
    return vlm_loss(model, batch, use_image=False)


def scene_words_loss(model: MiniVLM, batch: dict[str, torch.Tensor]):
    """:func:`vlm_loss` with the scene written in words (``batch["words"]``) in the image slots:
    language-model pretraining (stage 0), no pixels involved."""
    return _masked_loss(model(None, batch["ids"], words=batch["words"]), batch["targets"])


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


def scene_words(
    scenes: Sequence[Sequence[dict]], tokenizer: VLMTokenizer, image_size: int, grid: int = 2
) -> torch.Tensor:
    """Each cell of each scene as its cell word (:meth:`VLMTokenizer.cell_words`), token ids
    ``(N, grid^2, 1)``: ``<small-red-circle>`` for a cell holding that shape, ``<empty>`` otherwise.

    This is the scene *written in words*, what the language model reads in its prefix slots while it
    is pretrained on text (:func:`scene_words_loss`).
    """
    ids = torch.full((len(scenes), grid * grid, 1), tokenizer.stoi["<empty>"], dtype=torch.long)
    for n, scene in enumerate(scenes):
        for shape in scene:
            word = f"<{shape['size']}-{shape['colour']}-{shape['kind']}>"
            ids[n, grid_cell(shape, image_size, grid), 0] = tokenizer.stoi[word]
    return ids


class RegionNamer(nn.Module):
    """An image encoder with linear heads that name the kind, colour and size in every cell.

    Training it (:func:`region_namer_loss`) is the stand-in for LLaVA's pretrained CLIP encoder: afterwards
    each patch feature says what is in its cell, and the encoder is frozen for both VLM stages.
    """

    def __init__(self, encoder: CNNEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        d = encoder.d_tokens
        self.kind_head, self.colour_head, self.size_head = nn.Linear(d, 4), nn.Linear(d, 4), nn.Linear(d, 3)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        tokens = self.encoder.tokens(images)  # (B, P, d_v)
        return {
            "region_kinds": self.kind_head(tokens),  # (B, P, 4): empty or a kind
            "region_colours": self.colour_head(tokens),  # (B, P, 4)
            "region_sizes": self.size_head(tokens),  # (B, P, 3)
        }


def region_namer_loss(model: RegionNamer, batch: dict[str, torch.Tensor]):
    """Summed cross-entropy of the three heads; accuracy = the fraction of cells with all three right."""
    logits = model(batch["images"])
    loss = sum(F.cross_entropy(v.flatten(0, 1), batch[k].flatten()) for k, v in logits.items())
    with torch.no_grad():
        right = torch.stack([v.argmax(-1) == batch[k] for k, v in logits.items()]).all(0)
    return loss, {"accuracy": right.float().mean()}


@torch.no_grad()
def encode_images(model: MiniVLM, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Patch features of many images, (N, 3, H, W) -> (N, P, d_v), in eval mode and without gradients."""
    was_training = model.image_encoder.training
    model.image_encoder.eval()
    out = [
        model.image_encoder.tokens(images[i : i + batch_size].to(model.device)).cpu()
        for i in range(0, len(images), batch_size)
    ]
    model.image_encoder.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def answer_accuracy(
    model: MiniVLM,
    images: torch.Tensor | None,
    questions: Sequence[str],
    answers: Sequence[str],
    batch_size: int = 512,
    words: torch.Tensor | None = None,
) -> float:
    """Exact match of the first generated word with the one-word answer, for many questions at once.

    The first greedy word is the argmax at the ``<answer>`` position, so one forward pass per batch
    scores it (same result as :meth:`MiniVLM.answer`). ``images`` None scores the text-only model, or
    with ``words`` (N, P, K) the language model reading the scene in words.
    """
    tok = model.tokenizer
    prompts = [tok.question_prompt(q) for q in questions]
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), tok.PAD, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)] = torch.tensor(prompt)
    last = torch.tensor([len(p) - 1 for p in prompts])
    target = torch.tensor([tok.stoi.get(a, tok.UNK) for a in answers])
    was_training = model.training
    model.eval()
    right = 0
    for i in range(0, len(prompts), batch_size):
        sl = slice(i, i + batch_size)
        img = None if images is None else images[sl].to(model.device)
        said = None if words is None else words[sl].to(model.device)
        logits = model(img, ids[sl].to(model.device), words=said)  # (b, T, V)
        guess = logits[torch.arange(logits.size(0)), last[sl].to(model.device)].argmax(-1).cpu()
        right += int((guess == target[sl]).sum())
    model.train(was_training)
    return right / len(prompts)


@torch.no_grad()
def nearest_words(model: MiniVLM, image: torch.Tensor, k: int = 1) -> list[list[str]]:
    """For each image token, the ``k`` vocabulary words whose embeddings have the highest cosine
    similarity with it: how the language model might "read" the projected patch."""
    prefix = model.prefix(model._images(image).to(model.device))[0]  # (P, C)
    sims = F.normalize(prefix, dim=-1) @ F.normalize(model.gpt.tok_emb.weight, dim=-1).t()  # (P, V)
    return [
        [model.tokenizer.itos[i] if i < len(model.tokenizer) else "?" for i in row]
        for row in sims.topk(k, dim=-1).indices.tolist()
    ]


@torch.no_grad()
def nearest_word_match(model: MiniVLM, features: torch.Tensor, words: torch.Tensor) -> float:
    """The fraction of cells whose projected patch "reads" as the cell's words: the set of its ``k``
    nearest vocabulary words (cosine) equals the set of the cell's words (``k`` = how many distinct
    words the cell has; 1 for the cell words of :func:`scene_words`).

    Args:
        features: patch features (N, P, d_v) (or pixels); words: :func:`scene_words` ids (N, P, K).
    """
    prefix = model.prefix(features.to(model.device)).flatten(0, 1)  # (N P, C)
    sims = F.normalize(prefix, dim=-1) @ F.normalize(model.gpt.tok_emb.weight, dim=-1).t()  # (N P, V)
    ranked = sims.topk(words.size(-1), dim=-1).indices.cpu()  # (N P, K)
    right = [set(r[: len(set(w))].tolist()) == set(w) for r, w in zip(ranked, words.flatten(0, 1).tolist())]
    return sum(right) / len(right)


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
