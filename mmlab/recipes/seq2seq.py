"""Chapter 13's recipes: ``translate``, the English-French encoder-decoder on generated sentences
(``arch="gpt"``: the decoder-only model of the chapter's comparison), and ``summarise``, the
encoder-decoder that summarises a paragraph of scene sentences in one sentence. The chapter's helpers
(decoding, scoring, alignment) are in :mod:`mmlab.seq2seq_training`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mmlab.data.translation import Pair, TranslationVocab, make_summaries, make_translation_data
from mmlab.models.gpt import GPT, GPTConfig
from mmlab.models.seq2seq import Seq2Seq, Seq2SeqConfig, decoder_only_tensors, prompt_loss, seq2seq_loss
from mmlab.recipes.base import Job, Recipe, Settings, dict_loader, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = [
    "RECIPE",
    "SUMMARISE_RECIPE",
    "SummariseSettings",
    "TranslateSettings",
    "build",
    "build_summariser",
    "decoder_only_model",
    "seq2seq_model",
    "summary_data",
]


@dataclass(repr=False)
class TranslateSettings(Settings, TrainConfig):
    """Chapter 13's translation runs (``settings`` in its config cell)."""

    n_train: int = 3000  # generated sentence pairs
    n_test: int = 200
    lang: str = "fr"  # target language: "fr", or "zh" (Chinese: place first, measure words)
    arch: str = "seq2seq"  # or "gpt": the decoder-only model reading "source <sep> target"
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2  # in each of the encoder and the decoder
    gpt_layers: int = 3  # the decoder-only model: at least the encoder-decoder's parameters
    gpt_width: int = 36
    max_len: int = 24
    init_std: float | None = 0.02  # initial weights' std; None: d_model ** -0.5
    batch_size: int = 64
    max_steps: int = 300
    lr: float = 5e-3
    warmup_steps: int = 20
    log_every: int = 25
    eval_every: int = 0


@dataclass(repr=False)
class SummariseSettings(TranslateSettings):
    """Chapter 13's summariser (``summary_settings`` in its config cell)."""

    n_train: int = 5000  # paragraph/summary pairs
    n_sentences: int = 3  # per paragraph, two of them about objects on the table
    max_len: int = 32
    n_layers: int = 1  # one layer each side is enough (and half the time of two)
    max_steps: int = 200
    init_std: float | None = None  # 0.02 leaves this narrow model writing one sentence for every input


GPU = dict(
    n_train=100_000,
    n_test=1000,
    d_model=256,
    n_heads=8,
    n_layers=4,
    gpt_layers=6,
    gpt_width=288,
    batch_size=128,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=200,
    eval_every=500,
    eval_batches=20,
)
SUMMARISE_GPU = {**GPU, "n_train": 50_000}
MULTI_GPU = dict(batch_size=32)


def seq2seq_model(vocab: TranslationVocab, s: TranslateSettings) -> Seq2Seq:
    """The encoder-decoder of the settings (``n_layers`` in each stack, MLP 2x wide)."""
    return Seq2Seq(
        Seq2SeqConfig(
            vocab_size=vocab.vocab_size,
            d_model=s.d_model,
            n_heads=s.n_heads,
            n_encoder_layers=s.n_layers,
            n_decoder_layers=s.n_layers,
            d_ff=2 * s.d_model,
            max_len=s.max_len,
            pad_id=vocab.pad_id,
            bos_id=vocab.bos_id,
            eos_id=vocab.eos_id,
            init_std=s.d_model**-0.5 if s.init_std is None else s.init_std,
        )
    )


def decoder_only_model(vocab: TranslationVocab, s: TranslateSettings) -> GPT:
    """The GPT of the comparison: ``gpt_layers`` blocks ``gpt_width`` wide, reading source and target."""
    return GPT(
        GPTConfig(
            vocab_size=vocab.vocab_size,
            block_size=2 * s.max_len,
            n_layer=s.gpt_layers,
            n_head=s.n_heads,
            n_embd=s.gpt_width,
        )
    )


def build(s: TranslateSettings) -> Job:
    """The translator (``arch="gpt"``: the decoder-only comparison) and its data."""
    data = make_translation_data(s.n_train, s.n_test, lang=s.lang)
    train, test = data.tensors(data.train), data.tensors(data.test)
    if s.arch == "gpt":
        pad, sep = data.vocab.pad_id, data.vocab.sep_id
        train = decoder_only_tensors(train["src"], train["tgt"], pad, sep)
        test = decoder_only_tensors(test["src"], test["tgt"], pad, sep)
        model, loss = decoder_only_model(data.vocab, s), prompt_loss
    elif s.arch == "seq2seq":
        model, loss = seq2seq_model(data.vocab, s), seq2seq_loss
    else:
        raise ValueError(f"arch must be 'seq2seq' or 'gpt', not {s.arch!r}")
    train_loader = dict_loader(train, s.batch_size, shuffle=True)
    return Job(model, loss, train_loader, dict_loader(test, 256), trainer_config(s))


def summary_data(s: SummariseSettings) -> tuple[list[Pair], list[Pair], TranslationVocab]:
    """The summariser's train and test paragraphs and their vocabulary."""
    train, test = make_summaries(s.n_train, s.n_test, n_sentences=s.n_sentences)
    return train, test, TranslationVocab.from_texts(p.source + " " + p.target for p in train + test)


def build_summariser(s: SummariseSettings) -> Job:
    """The encoder-decoder summariser of scene paragraphs and its data."""
    train, test, vocab = summary_data(s)

    def tensors(pairs: Sequence[Pair]) -> dict[str, torch.Tensor]:
        return {
            "src": vocab.pad_batch([p.source for p in pairs]),
            "tgt": vocab.pad_batch([p.target for p in pairs], eos=True),
        }

    train_loader = dict_loader(tensors(train), s.batch_size, shuffle=True)
    return Job(
        seq2seq_model(vocab, s),
        seq2seq_loss,
        train_loader,
        dict_loader(tensors(test), 256),
        trainer_config(s),
    )


RECIPE = Recipe("translate", "13_encoder_decoder", TranslateSettings, GPU, MULTI_GPU, build=build)
SUMMARISE_RECIPE = Recipe(
    "summarise", "13_encoder_decoder", SummariseSettings, SUMMARISE_GPU, MULTI_GPU, build=build_summariser
)
