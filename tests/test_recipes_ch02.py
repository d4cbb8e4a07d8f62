"""Chapters 01-03 train what their recipes build: the chapters take their data, model configs and
loop settings from the recipe's functions (no size typed in the chapter body), and the recipe's
``build`` (what ``python -m mmlab.train`` runs) uses the same functions, so both give equal configs
and equal data."""

import ast
import dataclasses
import re
from pathlib import Path

import pytest
import torch

from mmlab.models.bow import BoWClassifier
from mmlab.models.encoder import EncoderClassifier
from mmlab.models.sequence import CNNClassifier, RNNClassifier
from mmlab.recipes import bow, lstm, sort
from mmlab.recipes.registry import build_job, resolve_settings

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "source" / "chapters"
MODEL_CONFIGS = ("BoWConfig", "TextCNNConfig", "RNNConfig", "EncoderConfig", "TrainConfig")


def _source(stem: str) -> str:
    return (CHAPTERS / f"{stem}.py").read_text(encoding="utf-8")


def _calls(source: str) -> set[str]:
    """Names of every function called in a chapter's source."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return names


@pytest.mark.parametrize(
    ("stem", "job", "builders"),
    [
        ("01_cross_entropy", "bow", {"topics_data", "topic_loaders", "bow_config", "trainer_config"}),
        (
            "02_embeddings_sequence_models",
            "lstm",
            {"sentiment_data", "sentiment_loaders", "classifier_configs", "trainer_config", "distance_job"},
        ),
        ("03_attention_transformer", "sort", {"sort_data", "sort_config", "trainer_config", "distance_job"}),
    ],
)
def test_chapter_builds_its_trained_models_from_the_recipe(stem, job, builders):
    """The chapter reads its settings at SCALE and calls the recipe's builders; it builds no model
    config and no loop config of a trained model by hand (chapter 03's TransformerConfig cells check
    single blocks against PyTorch and train nothing)."""
    source = _source(stem)
    assert f'resolve_settings("{job}", SCALE)' in source
    calls = _calls(source)
    assert builders <= calls, f"{stem} does not call {sorted(builders - calls)}"
    assert not calls & set(MODEL_CONFIGS) - ({"TrainConfig"} if stem.startswith("02") else set()), (
        f"{stem} builds {sorted(calls & set(MODEL_CONFIGS))} by hand"
    )


def test_chapter_02_trains_word2vec_only_with_its_own_train_config():
    """Chapter 02's one hand-written TrainConfig is word2vec's (not a recipe job); the classifiers and
    the distance runs take the recipes' loop settings."""
    source = _source("02_embeddings_sequence_models")
    assert len(re.findall(r"\bTrainConfig\(", source)) == 1
    assert re.search(r"w2v_config = TrainConfig\(", source)
    assert 'resolve_settings("distance", SCALE)' in source


def test_chapter_03_runs_the_distance_recipe_of_chapter_02():
    source = _source("03_attention_transformer")
    assert 'resolve_settings("distance", SCALE)' in source


def _same_batches(a, b, n: int = 3) -> None:
    for batch_a, batch_b, _ in zip(a, b, range(n)):
        if isinstance(batch_a, dict):
            assert batch_a.keys() == batch_b.keys()
            batch_a, batch_b = list(batch_a.values()), list(batch_b.values())
        for x, y in zip(batch_a, batch_b):
            torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_bow_recipe_builds_what_chapter_01_trains():
    s = resolve_settings("bow", overrides={"n_train": 200, "n_test": 80})
    job = build_job("bow", overrides={"n_train": 200, "n_test": 80})
    data = bow.topics_data(s)
    assert isinstance(job.model, BoWClassifier) and job.model.config == bow.bow_config(s, data)
    assert job.loss_fn is bow.bow_loss
    chapter_train, chapter_test = bow.topic_loaders(s, data)
    _same_batches(chapter_test, job.eval_loader)
    for chapter_loader, job_loader in ((chapter_train, job.train_loader), (chapter_test, job.eval_loader)):
        assert chapter_loader.batch_size == job_loader.batch_size
        for x, y in zip(chapter_loader.dataset.tensors, job_loader.dataset.tensors):
            torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_lstm_recipe_builds_the_lstm_chapter_02_trains():
    overrides = {"n_train": 200, "n_test": 50}
    s = resolve_settings("lstm", overrides=overrides)
    job = build_job("lstm", overrides=overrides)
    train, test, vocab = lstm.sentiment_data(s)
    configs = lstm.classifier_configs(s, len(vocab))
    lstm_config, lr = configs["LSTM (packed)"]
    assert isinstance(job.model, RNNClassifier) and job.model.config == lstm_config
    assert lr == job.config.lr == s.lr and job.config.max_steps == s.max_steps
    train_loader, test_loader = lstm.sentiment_loaders(s, train, test, vocab)
    _same_batches(train_loader, job.train_loader)
    _same_batches(test_loader, job.eval_loader)


def test_chapter_02_baselines_share_the_lstms_data_width_and_steps():
    s = resolve_settings("lstm")
    configs = lstm.classifier_configs(s, 50)
    (bow_config, bow_lr), (cnn_config, cnn_lr), (rnn_config, _) = configs.values()
    assert bow_config.embed_dim == cnn_config.dim == rnn_config.dim == s.d_model
    assert (bow_lr, cnn_lr) == (s.bow_lr, s.lr) and cnn_config.channels == s.cnn_channels
    for config, model in zip(
        (bow_config, cnn_config, rnn_config), (BoWClassifier, CNNClassifier, RNNClassifier)
    ):
        ids = torch.tensor([[2, 3, 4], [5, 6, 0]])
        assert model(config)(ids, torch.tensor([3, 2])).shape == (2, 2)


@pytest.mark.parametrize("reader", ["lstm", "transformer"])
def test_distance_recipe_is_the_same_task_and_budget_for_both_readers(reader):
    """Chapter 02's LSTM and chapter 03's Transformer differ only in the reader."""
    s = resolve_settings("distance", overrides={"reader": reader, "n_train": 256, "n_test": 64})
    job = build_job("distance", overrides={"reader": reader, "n_train": 256, "n_test": 64})
    chapter = lstm.distance_job(s, s.distance, seed=0)  # what the chapters call, per distance and seed
    assert type(job.model) is type(chapter.model)
    assert job.model.config == chapter.model.config
    assert isinstance(job.model, RNNClassifier if reader == "lstm" else EncoderClassifier)
    assert job.config == chapter.config and job.config.max_steps == s.max_steps and job.config.lr == s.lr
    _same_batches(job.train_loader, chapter.train_loader)
    _same_batches(job.eval_loader, chapter.eval_loader)
    batch = next(iter(job.train_loader))
    assert batch["ids"].shape[1] == s.distance + 1  # opener, d - 1 fillers, the sentiment word
    loss, metrics = job.loss_fn(job.model, batch)
    assert loss.dim() == 0 and 0.0 <= metrics["accuracy"] <= 1.0


def test_distance_readers_share_width_and_the_gpu_preset_keeps_one_budget():
    cpu = resolve_settings("distance")
    lstm_job = lstm.distance_job(cpu, 4)
    transformer_job = lstm.distance_job(dataclasses.replace(cpu, reader="transformer"), 4)
    assert lstm_job.model.config.dim == transformer_job.model.config.transformer.d_model == cpu.d_model
    assert lstm_job.config == transformer_job.config
    with pytest.raises(ValueError, match="reader"):
        lstm.distance_reader(dataclasses.replace(cpu, reader="gru"), 10)
    with pytest.raises(ValueError, match="max_len"):
        lstm.distance_job(dataclasses.replace(cpu, reader="transformer", max_len=8), 8)


def test_sort_recipe_builds_what_chapter_03_trains():
    overrides = {"n_train": 640, "n_test": 64}
    s = resolve_settings("sort", overrides=overrides)
    job = build_job("sort", overrides=overrides)
    tokenizer, train, test = sort.sort_data(s)
    assert job.model.config == sort.sort_config(s, tokenizer.vocab_size)
    assert (
        job.model.config.transformer.d_model == s.d_model
        and job.model.config.transformer.max_len == s.max_len
    )
    torch.testing.assert_close(job.eval_loader.dataset.tensors[0], test.dataset().tensors[0], rtol=0, atol=0)
    torch.testing.assert_close(
        job.train_loader.dataset.tensors[0], train.dataset().tensors[0], rtol=0, atol=0
    )
