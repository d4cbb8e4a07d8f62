"""Each chapter's training job, runnable outside the notebook and at three scales.

A job turns a flat dictionary of settings into a model, a loss function, data loaders and a
:class:`TrainConfig`. Settings whose name is a ``TrainConfig`` field (``max_steps``, ``lr``, ...)
configure the loop; the others configure the model and data. Every job has three presets:

* ``cpu``: exactly what the chapter notebook runs (minutes on a laptop);
* ``gpu``: a wider, longer run for one GPU (mixed precision and fused AdamW come from the device);
* ``multi-gpu``: the ``gpu`` run with the per-process batch for ``torchrun --nproc_per_node 8``.
  Processes keep full copies of the model (DDP) by default; ``--set strategy=fsdp`` shards weights,
  gradients and optimizer state across them (FSDP2) for a model too large for one device. Both are
  tested with two CPU processes, through this command line too (``tests/test_distributed.py``).

``python -m mmlab.train gpt --scale gpu --set max_steps=5000`` runs one (see ``mmlab/train/__main__.py``).

The jobs, by chapter:

* 01 ``bow``: bag-of-words topic classifier. 02 ``lstm``: LSTM sentiment classifier.
* 03 ``sort``: a Transformer encoder sorts letters. 04 ``bert``: mini-BERT pretraining (MLM + NSP).
* 05 ``finetune``: the pretrained MiniLM BERT (or ``model=<hub id>``) fine-tuned on sentiment.
* 06 ``gpt``: a character-level mini-GPT. 07 ``sft``: the tiny chat GPT, supervised fine-tuning.
* 08 ``reward``: a Bradley-Terry reward model; ``dpo``: DPO against the frozen SFT model; ``ppo``:
  PPO with a KL penalty (its own rollout loop: a ``run`` job, one process, no checkpoints). Each
  starts from ``base=DIR`` (a folder written by ``python -m mmlab.train sft --out DIR``), or trains
  the SFT model first as the chapter does; ``ppo`` likewise takes ``reward=DIR`` from the reward job.
* 09 ``vit``: a Vision Transformer on shapes. 10 ``fusion``: cross-attention fusion for VQA.
* 11 ``clip``: a mini-CLIP on digits and captions; ``clip_shapes``: the same on coloured shapes
  (``--set exclude=...`` leaves colour-shape combinations out, as the chapter does).
* 13 ``translate``: the English-French encoder-decoder on generated sentences (``--set arch=gpt``: the
  decoder-only model of the chapter's comparison); ``summarise``: the encoder-decoder summariser.
* 12 ``vlm``: the mini vision-language model, every stage in order (a ``run`` job: region namer,
  text-only ablation, stage 0 language model, stage 1 projector only, stage 2 tuning), with the
  chapter's measurements as its metrics.

A run's folder (``--out``) holds ``model.safetensors``, ``metrics.json`` and ``run.json`` (the job,
its settings and the model's config dataclass), which is what ``base=DIR`` reads back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from mmlab.train.trainer import LossFn, TrainConfig

__all__ = [
    "JOBS",
    "SCALES",
    "TRAIN_FIELDS",
    "Job",
    "JobSpec",
    "build_job",
    "load_reward_model",
    "load_sft_model",
    "prepare_ppo",
    "resolve_settings",
    "save_run",
]

SCALES = ("cpu", "gpu", "multi-gpu")
TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


@dataclass
class Job:
    """What the Trainer needs: the model, its loss, the data and the loop settings."""

    model: nn.Module
    loss_fn: LossFn
    train_loader: DataLoader
    eval_loader: DataLoader | None
    config: TrainConfig


@dataclass(frozen=True)
class JobSpec:
    """A job's chapter, its settings at each scale, and how it runs: ``build`` (the usual case)
    returns what the Trainer needs; ``run`` is for a job with a loop of its own (PPO's rollouts) or
    several stages in a row (the VLM): it trains and returns ``(model, final metrics)``, in one
    process, without checkpoints."""

    chapter: str
    presets: dict[str, dict[str, Any]]
    build: Callable[[dict[str, Any]], tuple[nn.Module, LossFn, DataLoader, DataLoader | None]] | None = None
    run: Callable[[dict[str, Any]], tuple[nn.Module, dict[str, float]]] | None = None

    def __post_init__(self) -> None:
        if (self.build is None) == (self.run is None):
            raise ValueError(
                "a JobSpec needs exactly one of build (a Trainer job) or run (its own loop or stages)"
            )

    @property
    def uses_trainer(self) -> bool:
        return self.build is not None


def _sort_job(settings: dict[str, Any]):
    """Chapter 03: a Transformer encoder sorts the letters of a word."""
    from mmlab.data.synthetic import CharTokenizer, make_task
    from mmlab.models.encoder import EncoderClassifier, EncoderConfig, token_classification_loss
    from mmlab.models.transformer import TransformerConfig

    tokenizer = CharTokenizer()
    train = make_task("sort", settings["n_train"], tokenizer.vocab_size, 2, settings["max_len"], seed=1)
    test = make_task("sort", settings["n_test"], tokenizer.vocab_size, 2, settings["max_len"], seed=2)
    transformer = TransformerConfig(
        d_model=settings["d_model"],
        n_heads=settings["n_heads"],
        n_layers=settings["n_layers"],
        max_len=settings["max_len"],
    )
    model = EncoderClassifier(
        EncoderConfig(tokenizer.vocab_size, tokenizer.vocab_size, transformer=transformer)
    )
    train_loader = DataLoader(train.dataset(), batch_size=settings["batch_size"], shuffle=True)
    test_loader = DataLoader(test.dataset(), batch_size=500)
    return model, token_classification_loss, train_loader, test_loader


def _gpt_job(settings: dict[str, Any]):
    """Chapter 06: a character-level mini-GPT on a text file (default: Python's documentation)."""
    from pathlib import Path

    from mmlab.data.lm import lm_loaders, pydoc_corpus
    from mmlab.data.tokenizers import CharTokenizer
    from mmlab.models.gpt import GPT, GPTConfig, next_token_loss

    path = settings.get("text")
    text = Path(path).read_text(encoding="utf-8") if path else pydoc_corpus()
    tokenizer = CharTokenizer.from_text(text)
    train_loader, val_loader = lm_loaders(
        tokenizer.encode(text), settings["block_size"], settings["batch_size"], val_fraction=0.1, seed=0
    )
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=settings["block_size"],
        n_layer=settings["n_layer"],
        n_head=settings["n_head"],
        n_embd=settings["n_embd"],
        dropout=settings["dropout"],
    )
    return GPT(config), next_token_loss, train_loader, val_loader


# ----------------------------------------------------------------------------- helpers


class _TensorDict(Dataset):
    """Rows of a dict of equally long tensors, as dicts (what ``torchrun`` needs: a real DataLoader)."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[index] for k, v in self.tensors.items()}


def _dict_loader(tensors: dict[str, torch.Tensor], batch_size: int, shuffle: bool = False):
    """Batches of ``tensors`` as dicts: the chapters' fast :class:`TensorLoader` in one process, a
    ``DataLoader`` under ``torchrun`` (the Trainer shards only DataLoaders across processes)."""
    from mmlab.data.multimodal import TensorLoader
    from mmlab.train.distributed import launched_by_torchrun

    if launched_by_torchrun():
        return DataLoader(_TensorDict(tensors), batch_size=batch_size, shuffle=shuffle)
    return TensorLoader(tensors, batch_size, shuffle=shuffle)


def _classification_loss(logits: torch.Tensor, labels: torch.Tensor):
    """Cross-entropy and accuracy of ``logits`` (B, C) against ``labels`` (B,)."""
    loss = F.cross_entropy(logits, labels)
    return loss, {"accuracy": (logits.argmax(-1) == labels).float().mean()}


# ----------------------------------------------------------------------------- chapters 01, 02


def _bow_loss(model: nn.Module, batch):
    """Chapter 01's loss: the course's own ``cross_entropy`` on (ids (B, T), labels (B,)) batches."""
    from mmlab.losses import cross_entropy

    ids, y = batch  # (B, T), (B,)
    logits = model(ids)  # (B, C)
    return cross_entropy(logits, y), {"accuracy": (logits.argmax(-1) == y).float().mean()}


def _bow_job(settings: dict[str, Any]):
    """Chapter 01: a bag-of-words topic classifier on generated sentences (trained with Adam)."""
    from mmlab.data.toy_text import load_topics
    from mmlab.models.bow import BoWClassifier, BoWConfig

    data = load_topics(settings["n_train"], settings["n_test"], seed=0)
    config = BoWConfig(len(data.vocab), len(data.classes), settings["embed_dim"], unk_id=data.vocab.unk_id)
    train_loader = DataLoader(data.train, batch_size=settings["batch_size"], shuffle=True)
    test_loader = DataLoader(data.test, batch_size=256)
    return BoWClassifier(config), _bow_loss, train_loader, test_loader


def _lstm_job(settings: dict[str, Any]):
    """Chapter 02: an LSTM (packed sequences) classifies generated sentiment sentences."""
    from mmlab.data.text import Vocab, make_loader, make_sentiment_set, tokenize
    from mmlab.models.sequence import RNNClassifier, RNNConfig, classification_loss

    train, test = make_sentiment_set(n_train=settings["n_train"], n_test=settings["n_test"], seed=0)
    vocab = Vocab.build([tokenize(t, punctuation=True) for t in train.texts], min_count=settings["min_count"])
    train_loader = make_loader(
        train.texts, train.labels, vocab, settings["batch_size"], shuffle=True, unk_rate=settings["unk_rate"]
    )
    test_loader = make_loader(test.texts, test.labels, vocab, 256)
    config = RNNConfig(
        len(vocab), settings["dim"], hidden=settings["hidden"], num_layers=settings["num_layers"], cell="lstm"
    )
    return RNNClassifier(config), classification_loss, train_loader, test_loader


# ----------------------------------------------------------------------------- chapter 07


def _sft_job(settings: dict[str, Any]):
    """Chapter 07: supervised fine-tuning of the tiny chat GPT, loss on the assistant's tokens only.

    The job first pretrains the GPT on plain sentences about the chat world (``pretrain_steps``
    next-token steps, as the chapter does); the job itself is the fine-tuning stage.
    """
    from dataclasses import replace

    from mmlab.align.sft import SFTConfig, conversation_loaders, sft_loss, world_corpus_loader
    from mmlab.data.chat import chat_tokenizer, make_instructions
    from mmlab.models.gpt import GPT, next_token_loss
    from mmlab.train.distributed import launched_by_torchrun
    from mmlab.train.trainer import Trainer

    tokenizer = chat_tokenizer()
    instructions = make_instructions(seed=0)
    config = replace(
        SFTConfig().model,
        vocab_size=tokenizer.vocab_size,
        block_size=settings["block_size"],
        n_layer=settings["n_layer"],
        n_head=settings["n_head"],
        n_embd=settings["n_embd"],
    )
    model = GPT(config)
    if settings["pretrain_steps"]:
        loader = world_corpus_loader(tokenizer, instructions, settings["batch_size"], seed=0)
        run = TrainConfig(
            max_steps=settings["pretrain_steps"], lr=settings["pretrain_lr"], warmup_steps=20, progress=False
        )
        Trainer(model, next_token_loss, loader, None, run).fit()
        model.to("cpu")
    # batches of similar length, as in the chapter; under torchrun a DataLoader, which it can shard
    train_loader, eval_loader = conversation_loaders(
        tokenizer,
        instructions,
        settings["n_conversations"],
        settings["system_fraction"],
        config.block_size,
        settings["batch_size"],
        seed=0,
        length_buckets=not launched_by_torchrun(),
    )
    return model, sft_loss, train_loader, eval_loader


# ----------------------------------------------------------------------------- chapters 09, 10, 11


def _image_classification_loss(model: nn.Module, batch: dict[str, torch.Tensor]):
    """Chapter 09's loss: cross-entropy of the image classifier on ``{"images", "labels"}`` batches."""
    return _classification_loss(model(batch["images"]), batch["labels"])


def _vit_job(settings: dict[str, Any]):
    """Chapter 09: a Vision Transformer classifies generated shapes (or scikit-learn's 8 x 8 digits)."""
    from mmlab.data.multimodal import image_tensors, make_digit_captions, make_shape_classification
    from mmlab.models.vision import ImageClassifier, ViT, ViTConfig

    if settings["data"] == "shapes":
        train = image_tensors(make_shape_classification(settings["n_train"], seed=0))
        test = image_tensors(make_shape_classification(settings["n_test"], seed=1))
        n_classes = 3
    elif settings["data"] == "digits":
        digits = image_tensors(make_digit_captions(seed=0))  # all 1,797; n_test is what is left
        train = {k: v[: settings["n_train"]] for k, v in digits.items()}
        test = {k: v[settings["n_train"] :] for k, v in digits.items()}
        n_classes = 10
    else:
        raise ValueError(f"data must be 'shapes' or 'digits', got {settings['data']!r}")
    channels, size = train["images"].shape[1], train["images"].shape[-1]
    config = ViTConfig(
        image_size=size,
        patch_size=settings["patch_size"] or (4 if settings["data"] == "shapes" else 2),
        in_channels=channels,
        d_model=settings["d_model"],
        n_heads=settings["n_heads"],
        n_layers=settings["n_layers"],
        d_ff=settings["d_ff"],
    )
    model = ImageClassifier(ViT(config), config.d_model, n_classes)
    train_loader = _dict_loader(train, settings["batch_size"], shuffle=True)
    return model, _image_classification_loss, train_loader, _dict_loader(test, 512)


def _fusion_job(settings: dict[str, Any]):
    """Chapter 10: the hybrid (cross-attention) fusion model answers questions about shape scenes.

    As in the chapter, a region CNN is first trained (``encoder_steps``) to name the kind and colour
    in each grid cell, then frozen; every image's region vectors are computed once and the job trains
    the fusion model on them.
    """
    from mmlab.data.multimodal import make_vqa, vqa_tensors
    from mmlab.models.fusion import FusionConfig, RegionEncoder, build_fusion_model, region_loss, vqa_loss
    from mmlab.train.trainer import Trainer

    # The chapter reseeds before building each fusion model, after training the encoder: restore the
    # random state this job started from (the CLI's --seed) at that point, so the cpu run is the chapter's.
    start_state = torch.random.get_rng_state()
    train = vqa_tensors(make_vqa(settings["n_train_scenes"], seed=0))
    test = vqa_tensors(make_vqa(settings["n_test_scenes"], seed=1000))
    config = FusionConfig(
        d=settings["d"], n_heads=settings["n_heads"], n_layers=settings["n_layers"], hidden=settings["hidden"]
    )
    encoder = RegionEncoder(config)
    run = TrainConfig(max_steps=settings["encoder_steps"], lr=settings["encoder_lr"], progress=False)
    Trainer(
        encoder, region_loss, _dict_loader(train, settings["encoder_batch_size"], shuffle=True), None, run
    ).fit()
    encoder = encoder.to("cpu").eval()
    with torch.no_grad():
        train["regions"], test["regions"] = encoder(train["images"]), encoder(test["images"])
    torch.random.set_rng_state(start_state)
    model = build_fusion_model(settings["model"], config, encoder)
    train_loader = _dict_loader(train, settings["batch_size"], shuffle=True)
    return model, vqa_loss, train_loader, _dict_loader(test, 1024)


def _clip_job(settings: dict[str, Any]):
    """Chapter 11: a mini-CLIP (CNN image tower, word Transformer text tower) on digit/caption pairs."""
    from mmlab.data.multimodal import image_tensors, make_digit_captions
    from mmlab.models.clip import CLIP, CLIPConfig, TextTransformer, WordTokenizer, clip_training_loss
    from mmlab.models.vision import CNNConfig

    data = make_digit_captions(seed=0)
    tensors = image_tensors(data)
    captions, n_train = list(data["caption"]), settings["n_train"]
    tokenizer = WordTokenizer(captions[:n_train], max_len=settings["max_len"])
    text_tower = TextTransformer(
        tokenizer,
        d_model=settings["text_d_model"],
        n_heads=settings["text_heads"],
        n_layers=settings["text_layers"],
    )
    image = CNNConfig(
        in_channels=1,
        image_size=8,
        channels=tuple(settings["image_channels"]),
        strides=(1, 2),
        d_out=settings["image_d_out"],
    )
    model = CLIP(CLIPConfig(image, embed_dim=settings["embed_dim"]), text_tower)
    text = text_tower.prepare(captions)  # (N, max_len) word ids
    train = {"images": tensors["images"][:n_train], "text": text[:n_train]}
    test = {"images": tensors["images"][n_train:], "text": text[n_train:]}
    # eval: in-batch accuracy over all held-out pairs in one batch (the chapter evaluates after training)
    eval_loader = _dict_loader(test, max(len(test["text"]), 1)) if len(test["text"]) else None
    return model, clip_training_loss, _dict_loader(train, settings["batch_size"], shuffle=True), eval_loader


def _clip_shapes_job(settings: dict[str, Any]):
    """Chapter 11, section 7: the same CLIP on one coloured shape per 16 x 16 image ("a small red
    triangle"); ``exclude`` lists (colour, kind) pairs left out of training, as the chapter's second run."""
    from mmlab.data.multimodal import make_shape_captions, shape_caption_tensors
    from mmlab.models.clip import CLIP, CLIPConfig, TextTransformer, WordTokenizer, clip_training_loss
    from mmlab.models.vision import CNNConfig

    exclude = tuple(tuple(pair) for pair in settings["exclude"])
    train_data = make_shape_captions(settings["n_train"], seed=0, exclude=exclude)
    test_data = make_shape_captions(settings["n_test"], seed=1)
    captions = list(train_data["caption"])
    text_tower = TextTransformer(
        WordTokenizer(captions, max_len=settings["max_len"]),
        d_model=settings["text_d_model"],
        n_heads=settings["text_heads"],
        n_layers=settings["text_layers"],
    )
    image = CNNConfig(
        in_channels=3,
        image_size=16,
        channels=tuple(settings["image_channels"]),
        strides=(1, 2),
        d_out=settings["image_d_out"],
        pool="mean",
        out_grid=1,  # max-pooled over the whole grid: a shape is the same shape wherever it sits
    )
    model = CLIP(CLIPConfig(image, embed_dim=settings["embed_dim"]), text_tower)
    train = {"images": shape_caption_tensors(train_data)["images"], "text": text_tower.prepare(captions)}
    test = {
        "images": shape_caption_tensors(test_data)["images"],
        "text": text_tower.prepare(list(test_data["caption"])),
    }
    train_loader = _dict_loader(train, settings["batch_size"], shuffle=True)
    return model, clip_training_loss, train_loader, _dict_loader(test, 512)


def _bert_job(settings: dict[str, Any]):
    """Chapter 04: pretrain the mini-BERT with masked language modelling and next-sentence prediction."""
    from mmlab.models.bert import BertForPreTraining
    from mmlab.pretraining import PretrainConfig, build_pretraining_data, mlm_nsp_loss

    fields = {f.name for f in dataclasses.fields(PretrainConfig)}
    config = PretrainConfig(**{k: v for k, v in settings.items() if k in fields})
    data = build_pretraining_data(config)
    model = BertForPreTraining(config.bert(len(data.tokenizer)))
    loader = DataLoader(
        data.train_examples, batch_size=config.batch_size, shuffle=True, collate_fn=data.collator
    )
    return model, mlm_nsp_loss, loader, data.eval_batches


# ----------------------------------------------------------------------------- chapter 05


def _finetune_job(settings: dict[str, Any]):
    """Chapter 05: fine-tune a pretrained BERT (default: the shipped all-MiniLM-L6-v2) on sentiment.

    ``model`` is ``None`` for the offline MiniLM, or a folder or hub id for ``from_pretrained``
    (``"bert-base-uncased"`` downloads on first use). ``pretrained=False`` trains the same network
    from random weights: the chapter's control for what pretraining is worth.
    """
    from mmlab.data.text import make_sentiment_set
    from mmlab.finetuning import HFClassifier, classification_loss, sentence_loader
    from mmlab.pretrained import load_minilm, load_pretrained, random_init_like

    encoder, tokenizer = load_pretrained(settings["model"]) if settings["model"] else load_minilm()
    if not settings["pretrained"]:
        encoder = random_init_like(encoder, seed=settings["seed"])
    train, test = make_sentiment_set(n_train=settings["n_train"], n_test=settings["n_test"], seed=0)
    model = HFClassifier(encoder, n_classes=2, dropout=settings["dropout"])
    max_len = settings["max_len"]
    train_loader = sentence_loader(
        tokenizer, train.texts, train.labels, settings["batch_size"], shuffle=True, max_length=max_len
    )
    test_loader = sentence_loader(tokenizer, test.texts, test.labels, 100, max_length=max_len)
    return model, classification_loss, train_loader, test_loader


# ----------------------------------------------------------------------------- chapter 08


def _model_config(model: nn.Module) -> dict[str, Any] | None:
    """The first dataclass ``config`` among ``model``'s modules (e.g. a GPT's), as a dict; or None."""
    for module in model.modules():
        config = getattr(module, "config", None)
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            return {"class": type(config).__name__, **dataclasses.asdict(config)}
    return None


def save_run(
    model: nn.Module,
    out_dir,
    job: str,
    scale: str,
    settings: dict[str, Any],
    metrics: dict,
    weights: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write what a run leaves behind in ``out_dir``: ``model.safetensors`` (the weights: ``weights``,
    e.g. the full state gathered from FSDP shards, or else ``model.state_dict()``), ``metrics.json``
    (the final evaluation) and ``run.json`` (the job, its settings and the model's config), so that a
    later job can rebuild the model from the folder (``base=DIR``)."""
    import json
    from pathlib import Path

    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = model.state_dict() if weights is None else weights
    # A tied weight (the GPT's head is its token embedding) is stored once, under its first name, as
    # safetensors' save_model does; load_model accepts the missing alias.
    aliases = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    aliases -= {name for name, _ in model.named_parameters()}
    tensors = {k: v.detach().cpu().contiguous() for k, v in weights.items() if k not in aliases}
    save_file(tensors, str(out / "model.safetensors"))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    run = {"job": job, "scale": scale, "settings": settings, "model_config": _model_config(model)}
    (out / "run.json").write_text(json.dumps(run, indent=2, default=str))


def _run_folder(path: str, expected_jobs: tuple[str, ...]):
    """(folder, run.json contents) of a folder written by ``python -m mmlab.train JOB --out DIR``
    (``path`` may also name its ``model.safetensors``)."""
    import json
    from pathlib import Path

    folder = Path(path).expanduser()
    folder = folder.parent if folder.suffix == ".safetensors" else folder
    weights, run_file = folder / "model.safetensors", folder / "run.json"
    if not weights.is_file() or not run_file.is_file():
        raise FileNotFoundError(
            f"{path!r} is not a finished run: expected model.safetensors and run.json in {folder} "
            f"(written by: python -m mmlab.train {expected_jobs[0]} --out {folder})"
        )
    run = json.loads(run_file.read_text())
    if run.get("job") not in expected_jobs or not run.get("model_config"):
        raise ValueError(
            f"{folder} holds a {run.get('job')!r} run; this setting needs one of {list(expected_jobs)}"
        )
    return folder, run


def _gpt_from(model_config: dict[str, Any]):
    from mmlab.models.gpt import GPT, GPTConfig

    fields = {f.name for f in dataclasses.fields(GPTConfig)}
    return GPT(GPTConfig(**{k: v for k, v in model_config.items() if k in fields}))


def load_sft_model(path: str):
    """The chat GPT saved by ``python -m mmlab.train sft --out DIR`` (or by a ``dpo``/``ppo`` run,
    whose policies are the same GPT), rebuilt from ``DIR/run.json`` and ``DIR/model.safetensors``."""
    from safetensors.torch import load_model

    folder, run = _run_folder(path, ("sft", "dpo", "ppo"))
    model = _gpt_from(run["model_config"])
    load_model(model, str(folder / "model.safetensors"))
    return model.eval()


def load_reward_model(path: str):
    """The reward model saved by ``python -m mmlab.train reward --out DIR``."""
    from safetensors.torch import load_model

    from mmlab.align.reward import RewardModel

    folder, run = _run_folder(path, ("reward",))
    model = RewardModel(_gpt_from(run["model_config"]))
    load_model(model, str(folder / "model.safetensors"))
    return model.eval()


def _sft_base(settings: dict[str, Any]):
    """(SFT model, tokenizer, instructions): loaded from ``base`` when given, otherwise trained here
    the way chapter 08 does (``train_sft_model``; cached per process, so jobs in one process share it)."""
    from mmlab.align.sft import SFTConfig, train_sft_model
    from mmlab.data.chat import chat_tokenizer, make_instructions

    if settings["base"]:
        return load_sft_model(settings["base"]), chat_tokenizer(), make_instructions(seed=0)
    config = SFTConfig(
        pretrain_steps=settings["sft_pretrain_steps"],
        sft_steps=settings["sft_steps"],
        n_conversations=settings["sft_conversations"],
    )
    sft = train_sft_model(seed=settings["seed"], config=config)
    return sft.model, sft.tokenizer, sft.instructions


def _reward_job(settings: dict[str, Any]):
    """Chapter 08: a Bradley-Terry reward model, initialised from the SFT model's body, on preference
    pairs (``reward_loss``); it evaluates the held-out pairwise accuracy."""
    import copy

    from mmlab.align.reward import RewardModel, encode_pairs, reward_loss
    from mmlab.data.preferences import make_preferences

    base, tokenizer, _ = _sft_base(settings)
    prefs = make_preferences(settings["n_pairs"], settings["n_held_out_pairs"], seed=settings["seed"])
    torch.manual_seed(settings["seed"])  # as train_reward_model: the head's initial weights
    model = RewardModel(copy.deepcopy(base)).train()
    block = base.config.block_size
    train_loader = DataLoader(
        TensorDataset(*encode_pairs(prefs["train"], tokenizer, block)),
        settings["batch_size"],
        shuffle=True,
        generator=torch.Generator().manual_seed(settings["seed"]),
    )
    held_loader = DataLoader(TensorDataset(*encode_pairs(prefs["held_out"], tokenizer, block)), 512)
    return model, reward_loss, train_loader, held_loader


def _dpo_batch_loss(model: nn.Module, batch, beta: float):
    """DPO's loss on a batch of (chosen ids, roles, rejected ids, roles, reference log-probs of both)."""
    from mmlab.align.dpo import dpo_loss, dpo_metrics, sequence_logprob

    ids_w, roles_w, ids_l, roles_l, ref_w, ref_l = batch
    pol_w, pol_l = sequence_logprob(model, ids_w, roles_w), sequence_logprob(model, ids_l, roles_l)
    metrics = dpo_metrics(pol_w, pol_l, ref_w, ref_l, beta)
    return dpo_loss(pol_w, pol_l, ref_w, ref_l, beta), {k: v.detach() for k, v in metrics.items()}


def _dpo_job(settings: dict[str, Any]):
    """Chapter 08: DPO on the preference pairs. The policy is a copy of the SFT model; the frozen
    reference (the SFT model itself) is only needed for its log-probabilities of each reply, which
    never change: they are computed once here and ride along in the batches."""
    import copy
    from functools import partial

    from mmlab.align.dpo import sequence_logprob
    from mmlab.align.sft import encode_conversations
    from mmlab.data.preferences import make_preferences

    reference, tokenizer, _ = _sft_base(settings)
    reference.eval()
    prefs = make_preferences(settings["n_pairs"], settings["n_held_out_pairs"], seed=settings["seed"])
    torch.manual_seed(settings["seed"])
    block = reference.config.block_size

    def with_reference(pairs) -> TensorDataset:
        chosen = encode_conversations([p.instruction.messages(p.chosen) for p in pairs], tokenizer, block)
        rejected = encode_conversations([p.instruction.messages(p.rejected) for p in pairs], tokenizer, block)
        with torch.no_grad():
            ref_w, ref_l = sequence_logprob(reference, *chosen), sequence_logprob(reference, *rejected)
        return TensorDataset(*chosen, *rejected, ref_w, ref_l)

    train_loader = DataLoader(
        with_reference(prefs["train"]),
        settings["batch_size"],
        shuffle=True,
        generator=torch.Generator().manual_seed(settings["seed"]),
    )
    held_loader = DataLoader(with_reference(prefs["held_out"]), 512)
    policy = copy.deepcopy(reference).train()
    return policy, partial(_dpo_batch_loss, beta=settings["beta"]), train_loader, held_loader


PPO_FIELDS = (
    "beta",
    "iterations",
    "batch_size",
    "ppo_epochs",
    "minibatches",
    "lr",
    "clip",
    "gamma",
    "lam",
    "vf_coef",
    "ent_coef",
    "max_new_tokens",
    "whiten",
)


@dataclass
class PPOSetup:
    """What PPO needs before its loop: the SFT model (policy start and frozen reference), the
    reward model, the tokenizer, the train and held-out prompts and the PPO settings."""

    sft: nn.Module
    reward_model: nn.Module
    tokenizer: Any
    train_prompts: list[str]
    held_prompts: list[str]
    config: Any  # PPOConfig


def prepare_ppo(settings: dict[str, Any]) -> PPOSetup:
    """The SFT model (``base=DIR`` or trained here) and the reward model (``reward=DIR`` or trained
    here on the preference pairs, as chapter 08 does) for a PPO run with ``settings``."""
    from mmlab.align.ppo import PPOConfig
    from mmlab.align.reward import RewardConfig, train_reward_model
    from mmlab.data.preferences import make_preferences

    seed = settings["seed"]
    sft, tokenizer, instructions = _sft_base(settings)
    if settings["reward"]:
        reward_model = load_reward_model(settings["reward"])
    else:
        prefs = make_preferences(settings["n_pairs"], settings["n_held_out_pairs"], seed=seed)
        reward_config = RewardConfig(
            steps=settings["reward_steps"], batch_size=settings["reward_batch_size"], lr=settings["reward_lr"]
        )
        reward_model, _ = train_reward_model(sft, tokenizer, prefs["train"], None, reward_config, seed=seed)
    return PPOSetup(
        sft,
        reward_model,
        tokenizer,
        sorted({item.prompt for item in instructions["train"]}),
        [item.prompt for item in instructions["held_out"]],
        PPOConfig(**{k: settings[k] for k in PPO_FIELDS}),
    )


def _ppo_run(settings: dict[str, Any]) -> tuple[nn.Module, dict[str, float]]:
    """Chapter 08: PPO with a KL penalty to the SFT model, against a reward model (``reward=DIR`` from
    ``python -m mmlab.train reward --out DIR``, or trained here first as the chapter does). PPO has
    its own rollout loop (``train_ppo``), not the Trainer's. Returns the tuned policy and the held-out
    evaluation: ground-truth reward, KL to the SFT model per reply and win rate against it."""
    from mmlab.align.ppo import kl_to_reference, rollout, train_ppo, win_rate
    from mmlab.data.preferences import ground_truth_reward

    seed = settings["seed"]
    setup = prepare_ppo(settings)
    sft, tokenizer, held = setup.sft, setup.tokenizer, setup.held_prompts
    policy, logs = train_ppo(
        sft, setup.reward_model, tokenizer, setup.train_prompts, setup.config, ground_truth_reward, seed=seed
    )
    replies = rollout(policy, tokenizer, held, generator=torch.Generator().manual_seed(seed + 1)).replies
    metrics = {
        "iteration": setup.config.iterations,
        "score": logs[-1]["score"],
        "ground_truth": sum(map(ground_truth_reward, replies)) / len(replies),
        "kl": kl_to_reference(policy, sft, tokenizer, held, seed=seed + 1),
        "win_rate": win_rate(policy, sft, tokenizer, held, ground_truth_reward, seed=seed + 2),
    }
    return policy, metrics


def _vlm_run(settings: dict[str, Any]) -> tuple[nn.Module, dict[str, float]]:
    """Chapter 12: the mini-VLM's stages one after another (each a Trainer run; see
    :func:`mmlab.vlm_training.train_vlm`). Returns the tuned model and the chapter's measurements."""
    from mmlab.vlm_training import train_vlm

    return train_vlm(settings)


# What chapter 08's reward, dpo and ppo jobs start from: the SFT model (a folder from `python -m
# mmlab.train sft --out DIR` as base, or None: train_sft_model(seed=0) here first, as the chapter does)
# and the preference pairs make_preferences(n_pairs, n_held_out_pairs).
CHAPTER_08_BASE = dict(
    base=None,
    sft_pretrain_steps=100,
    sft_steps=500,
    sft_conversations=4000,
    seed=0,
    n_pairs=2000,
    n_held_out_pairs=400,
)
CHAPTER_08_BASE_GPU = dict(n_pairs=50000, n_held_out_pairs=2000)


def _translate_job(settings: dict[str, Any]):
    """Chapter 13: English-French translation by an encoder-decoder (or ``arch="gpt"``: decoder-only)."""
    from mmlab.seq2seq_training import translate_job

    return translate_job(settings)


def _summarise_job(settings: dict[str, Any]):
    """Chapter 13: an encoder-decoder summarises paragraphs of scene sentences in one sentence."""
    from mmlab.seq2seq_training import summarise_job

    return summarise_job(settings)


_SEQ2SEQ_CPU = dict(
    n_train=3000,
    n_test=200,
    d_model=32,
    n_heads=4,
    n_layers=2,
    max_len=24,
    batch_size=64,
    max_steps=300,
    lr=5e-3,
    warmup_steps=20,
    log_every=25,
    eval_every=0,
)
_SEQ2SEQ_GPU = dict(
    n_train=100_000,
    n_test=1000,
    d_model=256,
    n_heads=8,
    n_layers=4,
    batch_size=128,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=200,
    eval_every=500,
    eval_batches=20,
)

JOBS: dict[str, JobSpec] = {
    "translate": JobSpec(
        chapter="13_encoder_decoder",
        build=_translate_job,
        presets={
            "cpu": dict(_SEQ2SEQ_CPU, arch="seq2seq", gpt_layers=3, gpt_width=36),
            "gpu": dict(_SEQ2SEQ_GPU, gpt_layers=6, gpt_width=288),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "summarise": JobSpec(
        chapter="13_encoder_decoder",
        build=_summarise_job,
        presets={
            "cpu": dict(_SEQ2SEQ_CPU, n_train=2000, max_len=48, max_steps=200),
            "gpu": dict(_SEQ2SEQ_GPU, n_train=50_000),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "bert": JobSpec(
        chapter="04_bert_pretraining",
        build=_bert_job,
        presets={
            # PretrainConfig()'s defaults: chapter 04's config cell
            "cpu": dict(
                vocab_size=2000,
                d_model=64,
                n_heads=4,
                n_layers=2,
                max_len=64,
                sentences_per_segment=2,
                pair_samplings=4,
                heldout_every=10,
                batch_size=32,
                dropout=0.0,
                seed=0,
                max_steps=600,
                lr=3e-3,
                warmup_steps=30,
                eval_every=150,
                log_every=15,
            ),
            "gpu": dict(
                vocab_size=8000,
                d_model=256,
                n_heads=4,
                n_layers=4,
                max_len=128,
                dropout=0.1,
                batch_size=128,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=200,
                eval_every=500,
                log_every=50,
            ),
            "multi-gpu": dict(batch_size=16),
        },
    ),
    "sort": JobSpec(
        chapter="03_attention_transformer",
        build=_sort_job,
        presets={
            "cpu": dict(
                n_train=20000,
                n_test=2000,
                max_len=8,
                d_model=64,
                n_heads=4,
                n_layers=2,
                batch_size=64,
                max_steps=600,
                lr=3e-3,
                warmup_steps=50,
                eval_every=100,
            ),
            "gpu": dict(
                n_train=200000,
                n_test=5000,
                max_len=16,
                d_model=256,
                n_heads=8,
                n_layers=4,
                batch_size=256,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=200,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "gpt": JobSpec(
        chapter="06_gpt",
        build=_gpt_job,
        presets={
            "cpu": dict(
                text=None,
                block_size=64,
                batch_size=32,
                n_layer=2,
                n_head=4,
                n_embd=64,
                dropout=0.0,
                max_steps=600,
                lr=3e-3,
                warmup_steps=50,
                betas=(0.9, 0.99),
                weight_decay=0.1,
                eval_every=100,
                log_every=20,
            ),
            "gpu": dict(
                block_size=256,
                batch_size=64,
                n_layer=6,
                n_head=6,
                n_embd=384,
                dropout=0.2,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=100,
                eval_every=500,
                eval_batches=50,
            ),
            "multi-gpu": dict(batch_size=8),
        },
    ),
    "bow": JobSpec(
        chapter="01_cross_entropy",
        build=_bow_job,
        presets={
            "cpu": dict(
                n_train=2000,
                n_test=800,
                embed_dim=16,
                batch_size=32,
                max_steps=300,
                lr=1e-2,
                eval_every=25,
                log_every=10,
            ),
            "gpu": dict(
                n_train=100000,
                n_test=10000,
                embed_dim=256,
                batch_size=512,
                max_steps=5000,
                lr=3e-3,
                warmup_steps=200,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=64),
        },
    ),
    "lstm": JobSpec(
        chapter="02_embeddings_sequence_models",
        build=_lstm_job,
        presets={
            "cpu": dict(
                n_train=4000,
                n_test=1000,
                min_count=2,
                unk_rate=0.1,
                dim=32,
                hidden=64,
                num_layers=1,
                batch_size=64,
                max_steps=400,
                lr=3e-3,
            ),
            "gpu": dict(
                n_train=100000,
                n_test=10000,
                dim=128,
                hidden=256,
                num_layers=2,
                batch_size=256,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=200,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "sft": JobSpec(
        chapter="07_instruction_tuning",
        build=_sft_job,
        presets={
            "cpu": dict(
                block_size=24,
                n_layer=2,
                n_head=4,
                n_embd=48,
                pretrain_steps=100,
                pretrain_lr=6e-3,
                n_conversations=4000,
                system_fraction=0.25,
                batch_size=32,
                max_steps=500,
                lr=6e-3,
                warmup_steps=20,
                eval_every=100,
            ),
            "gpu": dict(
                n_layer=6,
                n_head=8,
                n_embd=256,
                pretrain_steps=2000,
                pretrain_lr=1e-3,
                n_conversations=100000,
                batch_size=256,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=200,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "vit": JobSpec(
        chapter="09_image_encoders",
        build=_vit_job,
        presets={
            "cpu": dict(
                data="shapes",
                n_train=1500,
                n_test=500,
                patch_size=None,  # None: 4 for the 24 x 24 shapes, 2 for the 8 x 8 digits
                d_model=32,
                n_heads=2,
                n_layers=2,
                d_ff=64,
                batch_size=64,
                max_steps=300,
                lr=3e-3,
                warmup_steps=20,
            ),
            "gpu": dict(
                n_train=50000,
                n_test=5000,
                d_model=192,
                n_heads=6,
                n_layers=6,
                d_ff=768,
                batch_size=256,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=200,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "fusion": JobSpec(
        chapter="10_multimodal_fusion",
        build=_fusion_job,
        presets={
            "cpu": dict(
                model="hybrid: cross-attention",
                n_train_scenes=1500,
                n_test_scenes=400,
                d=32,
                n_heads=2,
                n_layers=1,
                hidden=64,
                encoder_steps=200,
                encoder_lr=5e-3,
                encoder_batch_size=64,
                batch_size=256,
                max_steps=400,
                lr=3e-3,
                warmup_steps=20,
            ),
            "gpu": dict(
                n_train_scenes=30000,
                n_test_scenes=2000,
                d=128,
                n_heads=4,
                n_layers=2,
                hidden=256,
                encoder_steps=1000,
                batch_size=512,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=200,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=64),
        },
    ),
    "clip": JobSpec(
        chapter="11_clip",
        build=_clip_job,
        presets={
            "cpu": dict(
                n_train=1400,
                max_len=8,
                image_channels=(16, 32),
                image_d_out=64,
                text_d_model=32,
                text_heads=2,
                text_layers=1,
                embed_dim=32,
                batch_size=64,
                max_steps=110,  # the chapter's 5 epochs of ceil(1400 / 64) = 22 batches
                lr=3e-3,
                log_every=5,
            ),
            "gpu": dict(
                image_channels=(64, 128),
                image_d_out=256,
                text_d_model=128,
                text_heads=4,
                text_layers=2,
                embed_dim=128,
                batch_size=256,
                max_steps=3000,
                lr=1e-3,
                warmup_steps=100,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "clip_shapes": JobSpec(
        chapter="11_clip",
        build=_clip_shapes_job,
        presets={
            # chapter 11's section 7 config (SHAPES_TRAIN, SHAPES_TEST, SHAPES_EPOCHS, SHAPES_IMAGE)
            "cpu": dict(
                n_train=2000,
                n_test=900,
                exclude=(),  # e.g. (("red", "square"),): the chapter's run on unseen combinations
                max_len=6,
                image_channels=(16, 32),
                image_d_out=64,
                text_d_model=32,
                text_heads=2,
                text_layers=1,
                embed_dim=32,
                batch_size=64,
                max_steps=320,  # the chapter's 10 epochs of ceil(2000 / 64) = 32 batches
                lr=3e-3,
                log_every=5,
            ),
            "gpu": dict(
                n_train=50000,
                n_test=5000,
                image_channels=(64, 128),
                image_d_out=256,
                text_d_model=128,
                text_heads=4,
                text_layers=2,
                embed_dim=128,
                batch_size=256,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=100,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "finetune": JobSpec(
        chapter="05_bert_finetuning",
        build=_finetune_job,
        presets={
            # chapter 05's config cell: its MiniLM run (the mini-BERT rows take 150 steps at lr 1e-3)
            "cpu": dict(
                model=None,  # None: the shipped all-MiniLM-L6-v2; or a folder or hub id
                pretrained=True,
                seed=0,
                n_train=800,
                n_test=200,
                max_len=24,
                dropout=0.1,
                batch_size=16,
                max_steps=30,
                lr=1e-4,
                warmup_steps=3,
                schedule="linear",
            ),
            "gpu": dict(
                model="bert-base-uncased",  # downloads once: needs the internet
                n_train=20000,
                n_test=2000,
                max_len=64,
                batch_size=64,
                max_steps=1000,
                lr=3e-5,
                warmup_steps=100,
                eval_every=200,
            ),
            "multi-gpu": dict(batch_size=8),
        },
    ),
    "reward": JobSpec(
        chapter="08_rlhf_dpo",
        build=_reward_job,
        presets={
            # chapter 08: train_sft_model(seed=0) as the base, RewardConfig() on make_preferences(2000, 400)
            "cpu": dict(
                **CHAPTER_08_BASE,
                batch_size=32,
                max_steps=150,
                lr=2e-3,
                warmup_steps=10,
                log_every=10,
            ),
            "gpu": dict(
                **CHAPTER_08_BASE_GPU,
                batch_size=256,
                max_steps=2000,
                lr=1e-3,
                warmup_steps=100,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "dpo": JobSpec(
        chapter="08_rlhf_dpo",
        build=_dpo_job,
        presets={
            # chapter 08: DPOConfig() from the same SFT model and pairs as the reward model
            "cpu": dict(
                **CHAPTER_08_BASE,
                beta=0.1,
                batch_size=32,
                max_steps=80,
                lr=1e-3,
                warmup_steps=10,
                log_every=10,
            ),
            "gpu": dict(
                **CHAPTER_08_BASE_GPU,
                batch_size=256,
                max_steps=2000,
                lr=5e-4,
                warmup_steps=100,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "ppo": JobSpec(
        chapter="08_rlhf_dpo",
        run=_ppo_run,
        presets={
            # chapter 08: PPOConfig(beta=0.1, iterations=25, batch_size=64) against its reward model
            "cpu": dict(
                **CHAPTER_08_BASE,
                reward=None,  # a folder from `python -m mmlab.train reward --out DIR`; None: train one here
                reward_steps=150,
                reward_batch_size=32,
                reward_lr=2e-3,
                beta=0.1,
                iterations=25,
                batch_size=64,
                ppo_epochs=4,
                minibatches=2,
                lr=1e-3,
                clip=0.2,
                gamma=1.0,
                lam=0.95,
                vf_coef=0.5,
                ent_coef=0.0,
                max_new_tokens=8,
                whiten=True,
            ),
            # PPO runs in one process (its rollout loop is not the Trainer's): more iterations, bigger
            # batches; the model is the base's. There is no multi-gpu variant.
            "gpu": dict(iterations=200, batch_size=256, minibatches=4, reward_steps=1000),
        },
    ),
    "vlm": JobSpec(
        chapter="12_vision_language_model",
        run=_vlm_run,
        presets={
            # chapter 12's config cell (the chapter reads it) and train_vlm's defaults
            "cpu": dict(
                n_train=1500,  # scenes; each has up to four questions and one caption
                n_test=300,
                image_size=24,
                n_layer=2,
                n_head=4,
                n_embd=64,
                projector="mlp",
                max_len=16,  # longest text row (a three-shape caption) in tokens
                batch_size=64,
                region_steps=300,
                region_lr=3e-3,
                text_steps=150,  # the text-only ablation
                lm_steps=900,  # stage 0: language-model pretraining on the scenes in words
                lm_lr=5e-3,
                align_steps=200,  # stage 1: the projector only, on captions
                align_lr=1e-2,
                tune_steps=300,  # stage 2: projector and language model, on questions and captions
                tune_lr=2e-3,
                warmup_steps=30,
                seed=0,
                device=None,
            ),
            # more scenes, a wider GPT, longer stages; the stages are Trainer runs in one process
            "gpu": dict(
                n_train=20000,
                n_test=2000,
                n_layer=4,
                n_head=8,
                n_embd=256,
                batch_size=256,
                region_steps=2000,
                text_steps=1000,
                lm_steps=6000,
                align_steps=1500,
                tune_steps=3000,
            ),
        },
    ),
}


def resolve_settings(job: str, scale: str = "cpu", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of ``job`` at ``scale``: the cpu preset, updated by the gpu preset for "gpu",
    by both gpu and multi-gpu presets for "multi-gpu", then by ``overrides``."""
    if job not in JOBS:
        raise KeyError(f"unknown job {job!r}; choose from {', '.join(sorted(JOBS))}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    presets = JOBS[job].presets
    settings = dict(presets["cpu"])
    for level in SCALES[1 : SCALES.index(scale) + 1]:
        settings.update(presets.get(level, {}))
    known = set(settings) | (TRAIN_FIELDS if JOBS[job].uses_trainer else set())
    unknown = set(overrides or {}) - known
    if unknown:
        raise KeyError(f"unknown setting(s) {sorted(unknown)} for job {job!r}; known: {sorted(known)}")
    settings.update(overrides or {})
    return settings


def build_job(job: str, scale: str = "cpu", overrides: dict[str, Any] | None = None) -> Job:
    """Build ``job`` at ``scale`` with ``overrides`` (``TrainConfig`` fields or the job's own settings)."""
    settings = resolve_settings(job, scale, overrides)
    if not JOBS[job].uses_trainer:
        raise ValueError(
            f"{job!r} is not one Trainer run (its own loop or several stages): run it with `python -m mmlab.train {job}` "
            f"or JOBS[{job!r}].run(resolve_settings({job!r}))"
        )
    train_settings = {k: v for k, v in settings.items() if k in TRAIN_FIELDS}
    job_settings = {k: v for k, v in settings.items() if k not in TRAIN_FIELDS}
    model, loss_fn, train_loader, eval_loader = JOBS[job].build(job_settings)
    return Job(model, loss_fn, train_loader, eval_loader, TrainConfig(**train_settings))
