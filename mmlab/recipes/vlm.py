"""Chapter 12's recipe (job ``vlm``): train the mini-VLM the LLaVA way, stage by stage, on the shapes
data set.

0. :func:`pretrain_language_model`: the GPT learns the data set's text with each scene *written in
   words* in its prefix slots (:func:`~mmlab.models.vlm.scene_words`), so it is a language model
   that reads its prefix as words before it ever sees a picture (LLaVA starts from a pretrained LLM);
1. :func:`align_projector`: everything frozen but the projector, trained on captions, so image
   tokens come to "speak the language model's language";
2. :func:`tune`: projector and language model together on questions and captions.

The image encoder is a CNN trained for a moment to name what is in each cell
(:func:`train_region_namer`, the stand-in for LLaVA's CLIP encoder) and frozen; its patch features
are computed once. :func:`train_text_only` trains the ablation that never sees image information.
:func:`train_vlm` runs everything from :class:`VLMSettings` (whose defaults are chapter 12's) and
returns the model and its measured results; chapter 12 calls the steps one by one, then repeats
what comes after stage 0 with two more seeds on the same :class:`Foundation` (LLaVA's runs share
their pretrained image encoder and language model).
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass

import torch

from mmlab.data.multimodal import TensorLoader, make_vqa, region_targets, vqa_tensors
from mmlab.device import seed_everything
from mmlab.models.regions import RegionEncoder, region_loss
from mmlab.models.vlm import (
    MiniVLM,
    VLMConfig,
    VLMTokenizer,
    answer_accuracy,
    build_vlm_examples,
    encode_images,
    nearest_word_match,
    scene_words,
    scene_words_loss,
    set_stage,
    text_only_loss,
    vlm_loss,
)
from mmlab.recipes.base import Recipe, RunSettings
from mmlab.recipes.gpt import GPT_ALIASES, gpt_config
from mmlab.train.trainer import History, TrainConfig, Trainer

__all__ = [
    "RECIPE",
    "Foundation",
    "VLMData",
    "VLMSettings",
    "align_projector",
    "align_untrained",
    "build_model",
    "caption_word_accuracy",
    "first_rows",
    "captions_right",
    "filled_word_match",
    "load_vlm_data",
    "majority_rate",
    "pretrain_foundation",
    "pretrain_language_model",
    "shuffled_accuracy",
    "train_foundation",
    "train_on_foundation",
    "train_region_namer",
    "train_text_only",
    "train_vlm",
    "tune",
]


@dataclass(repr=False)
class VLMSettings(RunSettings):
    """Chapter 12's config cell (what CI runs on one thread). The stages are Trainer runs in one process."""

    n_train: int = 1500  # scenes; each has up to four questions and one caption
    n_test: int = 300
    image_size: int = 24
    n_layers: int = 2
    n_heads: int = 4
    d_model: int = 64
    projector: str = "mlp"
    max_len: int = 16  # longest text row (a three-shape caption) in tokens
    batch_size: int = 64
    region_steps: int = 300
    region_lr: float = 3e-3
    text_steps: int = 150  # the text-only ablation
    # stage 0: language-model pretraining on the scenes in words, the stage the rest builds on. On three
    # foundation seeds: 900 steps at 3e-3 reached 0.65-0.88 held-out accuracy, 1500 at 5e-3 0.66-0.97,
    # 1500 at 3e-3 0.96-0.995.
    lm_steps: int = 1500
    lm_lr: float = 3e-3
    align_steps: int = 200  # stage 1: the projector only, on captions
    align_lr: float = 1e-2
    tune_steps: int = 300  # stage 2: projector and language model, on questions and captions
    tune_lr: float = 2e-3
    warmup_steps: int = 30
    seed: int = 0


# more scenes, a wider GPT, longer stages
GPU = dict(
    n_train=20000,
    n_test=2000,
    n_layers=4,
    n_heads=8,
    d_model=256,
    batch_size=256,
    region_steps=2000,
    text_steps=1000,
    lm_steps=6000,
    align_steps=1500,
    tune_steps=3000,
)


@dataclass
class VLMData:
    """The shapes data set in the forms the stages need.

    ``train_cols``/``test_cols``: the columns question, answer, caption, scene, question_type (lists);
    ``train_t``/``test_t``: :func:`~mmlab.data.multimodal.vqa_tensors`; ``train_words``/``test_words``:
    each row's scene in words (N, P, 3); ``max_len``: the text rows' length; ``features`` come later (:func:`train_region_namer`).
    """

    tokenizer: VLMTokenizer
    train_cols: dict[str, list]
    test_cols: dict[str, list]
    train_t: dict[str, torch.Tensor]
    test_t: dict[str, torch.Tensor]
    train_words: torch.Tensor
    test_words: torch.Tensor
    max_len: int
    train_features: torch.Tensor | None = None
    test_features: torch.Tensor | None = None

    def rows(self, split: str) -> dict[str, torch.Tensor]:
        """Training rows (:func:`~mmlab.models.vlm.build_vlm_examples`) of "train" or "test", with the
        patch features as ``images`` (zeros before :func:`train_region_namer`) and the scene in words."""
        t, cols = (self.train_t, self.train_cols) if split == "train" else (self.test_t, self.test_cols)
        features = self.train_features if split == "train" else self.test_features
        words = self.train_words if split == "train" else self.test_words
        if features is None:
            features = torch.zeros(len(words), words.size(1), 1)
        return build_vlm_examples(
            {"images": features, "scene_ids": t["scene_ids"], "words": words},
            cols["question"],
            cols["answer"],
            cols["caption"],
            self.tokenizer,
            self.max_len,
        )


def first_rows(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """The first row of each scene (a scene's questions share its image)."""
    seen: dict[int, int] = {}
    for i, sid in enumerate(tensors["scene_ids"].tolist()):
        seen.setdefault(sid, i)
    return torch.tensor(list(seen.values()))


def load_vlm_data(settings: VLMSettings) -> VLMData:
    """Generate the training and held-out scenes, the tokenizer and each row's scene in cell words."""
    train_ds, test_ds = make_vqa(settings.n_train, seed=0), make_vqa(settings.n_test, seed=1000)
    columns = ["question", "answer", "caption", "scene", "question_type"]
    train_cols, test_cols = (ds.select_columns(columns).to_dict() for ds in (train_ds, test_ds))
    tok = VLMTokenizer([*train_cols["question"], *train_cols["answer"], *train_cols["caption"]])
    size = settings.image_size
    return VLMData(
        tok,
        train_cols,
        test_cols,
        vqa_tensors(train_ds),
        vqa_tensors(test_ds),
        scene_words(train_cols["scene"], tok, size),
        scene_words(test_cols["scene"], tok, size),
        settings.max_len,
    )


def majority_rate(data: VLMData) -> float:
    """Held-out accuracy of answering each question with its most common training answer."""
    by_question: dict[str, Counter] = defaultdict(Counter)
    for q, a in zip(data.train_cols["question"], data.train_cols["answer"]):
        by_question[q][a] += 1
    fallback = Counter(data.train_cols["answer"]).most_common(1)[0][0]
    right = sum(
        (by_question[q].most_common(1)[0][0] if q in by_question else fallback) == a
        for q, a in zip(data.test_cols["question"], data.test_cols["answer"])
    )
    return right / len(data.test_cols["answer"])


def build_model(data: VLMData, settings: VLMSettings) -> MiniVLM:
    """A MiniVLM whose GPT holds the prefix plus the longest text row."""
    gpt = gpt_config(settings, len(data.tokenizer), block_size=4 + settings.max_len)
    return MiniVLM(VLMConfig(gpt=gpt, projector=settings.projector), data.tokenizer)


def _fit(model, loss_fn, rows, steps, lr, settings, eval_rows=None) -> History:
    return Trainer(
        model,
        loss_fn,
        TensorLoader(rows, settings.batch_size, shuffle=True),
        None if eval_rows is None else TensorLoader(eval_rows, 512),
        TrainConfig(
            max_steps=steps,
            lr=lr,
            warmup_steps=settings.warmup_steps,
            progress=settings.progress,
            device=settings.device,
        ),
    ).fit()


def train_region_namer(model: MiniVLM, data: VLMData, settings: VLMSettings) -> float:
    """Train the image encoder to name each cell's kind, colour and size, freeze it, and store the patch
    features of every image in ``data``. Returns the held-out fraction of cells with all three right."""

    def regions(t, cols):
        rows = first_rows(t)
        labels = region_targets([cols["scene"][i] for i in rows.tolist()], settings.image_size, sizes=True)
        return {"images": t["images"][rows], **labels}

    history = Trainer(
        RegionEncoder(model.image_encoder, sizes=True),
        region_loss,
        TensorLoader(regions(data.train_t, data.train_cols), settings.batch_size, shuffle=True),
        TensorLoader(regions(data.test_t, data.test_cols), 512),
        TrainConfig(
            max_steps=settings.region_steps,
            lr=settings.region_lr,
            progress=settings.progress,
            device=settings.device,
        ),
    ).fit()
    model.image_encoder.requires_grad_(False)
    data.train_features = encode_images(model, data.train_t["images"])
    data.test_features = encode_images(model, data.test_t["images"])
    return history.last("accuracy")


def train_text_only(model: MiniVLM, rows: dict[str, torch.Tensor], settings: VLMSettings) -> MiniVLM:
    """The ablation: a copy of the (untrained) model whose language model learns the text with blank
    image slots. It never sees image information, so its answers can come from the question only."""
    blind = copy.deepcopy(model)
    set_stage(blind, "text")
    _fit(blind, text_only_loss, rows, settings.text_steps, settings.lm_lr, settings)
    return blind


def pretrain_language_model(model: MiniVLM, rows: dict[str, torch.Tensor], settings: VLMSettings) -> History:
    """Stage 0: the language model alone learns questions, answers and captions, each after its scene
    written in words in the prefix slots (``rows["words"]``)."""
    set_stage(model, "text")
    return _fit(model, scene_words_loss, rows, settings.lm_steps, settings.lm_lr, settings)


def align_projector(model: MiniVLM, caption_rows: dict[str, torch.Tensor], settings: VLMSettings) -> History:
    """Stage 1 (LLaVA's feature alignment): only the projector learns, on captions; the language model
    and the image encoder are frozen."""
    set_stage(model, "align")
    return _fit(model, vlm_loss, caption_rows, settings.align_steps, settings.align_lr, settings)


def tune(model: MiniVLM, rows: dict[str, torch.Tensor], settings: VLMSettings) -> History:
    """Stage 2 (LLaVA's instruction tuning): projector and language model on questions and captions."""
    set_stage(model, "tune")
    return _fit(model, vlm_loss, rows, settings.tune_steps, settings.tune_lr, settings)


def align_untrained(
    model: MiniVLM, data: VLMData, caption_rows: dict[str, torch.Tensor], settings: VLMSettings
) -> MiniVLM:
    """The control of stage 1: a new model whose GPT skipped stage 0 (its initial weights), with
    ``model``'s image encoder, gets the same projector-only stage. Returns it."""
    untrained = build_model(data, settings)
    untrained.image_encoder.load_state_dict(model.image_encoder.state_dict())
    align_projector(untrained, caption_rows, settings)
    return untrained


def shuffled_accuracy(model: MiniVLM, data: VLMData, seed: int = 0) -> tuple[float, float]:
    """The wrong-picture control: held-out question accuracy when each question gets the patch
    features of another, randomly chosen question's scene. Returns it and the share of questions
    whose picture came from another scene."""
    perm = torch.randperm(len(data.test_cols["question"]), generator=torch.Generator().manual_seed(seed))
    moved = (data.test_t["scene_ids"][perm] != data.test_t["scene_ids"]).float().mean().item()
    accuracy = answer_accuracy(
        model, data.test_features[perm], data.test_cols["question"], data.test_cols["answer"]
    )
    return accuracy, moved


def filled_word_match(model: MiniVLM, data: VLMData) -> float:
    """:func:`~mmlab.models.vlm.nearest_word_match` on the held-out cells that hold a shape (one row
    per scene): how often a projected patch's nearest token is its cell's word."""
    first = first_rows(data.test_t)
    words = data.test_words[first]
    filled = words[:, :, 0] != data.tokenizer.stoi["<empty>"]  # (N, P)
    return nearest_word_match(model, data.test_features[first], words, cells=filled)


@torch.no_grad()
def caption_word_accuracy(model: MiniVLM, caption_rows: dict[str, torch.Tensor]) -> float:
    """Next-word accuracy on held-out captions (each word predicted from the image and the words before)."""
    was_training = model.training
    model.eval()
    rows = {k: v.to(model.device) for k, v in caption_rows.items() if k in ("images", "ids", "targets")}
    accuracy = float(vlm_loss(model, rows)[1]["accuracy"])
    model.train(was_training)
    return accuracy


def captions_right(model: MiniVLM, data: VLMData, n: int = 100) -> tuple[int, list[str], torch.Tensor]:
    """How many of the first ``n`` held-out scenes get a generated caption naming exactly the right
    shapes (in any order: two shapes in one column can come either way); also the captions and the
    scenes' row indices."""
    tok = model.tokenizer
    scenes = first_rows(data.test_t)[:n]
    room = model.config.gpt.block_size - model.config.n_prefix - 1
    ids = model.generate(data.test_features[scenes], [tok.caption_prompt()] * len(scenes), room)
    generated = [tok.decode(i) for i in ids]
    references = [data.test_cols["caption"][i] for i in scenes.tolist()]
    right = sum(sorted(g.split(", ")) == sorted(r.split(", ")) for g, r in zip(generated, references))
    return right, generated, scenes


@dataclass(repr=False)
class Foundation:
    """What every run of chapter 12 starts from, trained once: the frozen region namer (LLaVA's CLIP)
    and the stage-0 language model (LLaVA's Vicuna). LLaVA's runs all start from the same two
    pretrained models and vary what it trains itself, the projector and the tuning; so do the
    chapter's seeds (:func:`train_on_foundation`).

    ``untrained``: the model after the region namer, its GPT at its initial weights (the text-only
    ablation and the untrained-GPT control start from it); ``pretrained``: the same after stage 0;
    ``data``: the data with this namer's patch features; ``results``: ``majority``, ``region`` and
    ``stage0_vqa``.
    """

    untrained: MiniVLM
    pretrained: MiniVLM
    data: VLMData
    results: dict[str, float]


def train_foundation(settings: VLMSettings | None = None, data: VLMData | None = None) -> Foundation:
    """The region namer and stage 0 with ``settings.seed`` (``data``: :func:`load_vlm_data` of these
    settings when already loaded; it is not changed)."""
    settings = settings or VLMSettings()
    seed_everything(settings.seed)
    data = (
        dataclasses.replace(data) if data is not None else load_vlm_data(settings)
    )  # features are per namer
    model = build_model(data, settings)
    results = {"majority": majority_rate(data), "region": train_region_namer(model, data, settings)}
    return pretrain_foundation(model, data, results, settings)


def pretrain_foundation(
    model: MiniVLM, data: VLMData, results: dict[str, float], settings: VLMSettings
) -> Foundation:
    """Stage 0 with ``settings.seed`` on ``model`` (its region namer trained, the patch features in
    ``data``), in place. The :class:`Foundation` holds copies, ``untrained`` taken before stage 0 and
    ``pretrained`` after, so the caller may train ``model`` further (chapter 12 does, after its own
    region namer and text-only ablation). ``results`` (``majority``, ``region``) gain ``stage0_vqa``.
    The second half of :func:`train_foundation`."""
    untrained = copy.deepcopy(model)
    seed_everything(settings.seed)
    pretrain_language_model(model, data.rows("train"), settings)
    questions, answers = data.test_cols["question"], data.test_cols["answer"]
    stage0_vqa = answer_accuracy(model, None, questions, answers, words=data.test_words)
    return Foundation(untrained, copy.deepcopy(model), data, {**results, "stage0_vqa": stage0_vqa})


def train_on_foundation(foundation: Foundation, settings: VLMSettings) -> tuple[MiniVLM, dict[str, float]]:
    """Everything chapter 12 trains after stage 0, with its controls, from a copy of ``foundation``
    with ``settings.seed`` (the foundation is not changed).

    Returns the trained model and its held-out results: ``text_only``, ``stage1_caption``,
    ``stage1_vqa``, ``untrained_caption`` (stage 1 on a GPT that skipped stage 0), ``word_match``
    and ``word_match_filled`` (after stage 1), ``stage2_caption``, ``stage2_vqa``, ``shuffled_vqa``
    (stage 2 with another scene's picture) and ``captions_right`` (out of 100).
    """
    data = foundation.data
    train_rows, test_rows = data.rows("train"), data.rows("test")
    captions_only = {k: v[train_rows["kind"] == 1] for k, v in train_rows.items()}
    test_captions = {k: v[test_rows["kind"] == 1] for k, v in test_rows.items()}
    questions, answers = data.test_cols["question"], data.test_cols["answer"]

    seed_everything(settings.seed)
    blind = train_text_only(foundation.untrained, train_rows, settings)
    results = {"text_only": answer_accuracy(blind, None, questions, answers)}

    seed_everything(settings.seed)
    model = copy.deepcopy(foundation.pretrained)
    align_projector(model, captions_only, settings)
    results["stage1_caption"] = caption_word_accuracy(model, test_captions)
    results["stage1_vqa"] = answer_accuracy(model, data.test_features, questions, answers)
    first = first_rows(data.test_t)
    results["word_match"] = nearest_word_match(model, data.test_features[first], data.test_words[first])
    results["word_match_filled"] = filled_word_match(model, data)
    seed_everything(settings.seed)
    untrained = align_untrained(model, data, captions_only, settings)
    results["untrained_caption"] = caption_word_accuracy(untrained, test_captions)
    tune(model, train_rows, settings)
    results["stage2_caption"] = caption_word_accuracy(model, test_captions)
    results["stage2_vqa"] = answer_accuracy(model, data.test_features, questions, answers)
    results["shuffled_vqa"] = shuffled_accuracy(model, data)[0]
    results["captions_right"] = captions_right(model, data)[0]
    return model, results


def train_vlm(
    settings: VLMSettings | None = None, data: VLMData | None = None
) -> tuple[MiniVLM, dict[str, float]]:
    """Every step of chapter 12 (defaults: :class:`VLMSettings`), with its controls: the foundation
    (:func:`train_foundation`) and what is trained on it (:func:`train_on_foundation`), one seed.

    ``data``: :func:`load_vlm_data` of these settings, when already loaded (it is not changed).
    Returns the trained model and the results of both functions in one dict.
    """
    settings = settings or VLMSettings()
    foundation = train_foundation(settings, data)
    model, results = train_on_foundation(foundation, settings)
    return model, {**foundation.results, **results}


RECIPE = Recipe(
    "vlm",
    "12_vision_language_model",
    VLMSettings,
    GPU,
    run=train_vlm,
    aliases=GPT_ALIASES,
)
