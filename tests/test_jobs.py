"""Chapter jobs and the command line that runs them outside the notebooks."""

import json
import math

import pytest
from safetensors.torch import load_file

from mmlab.device import seed_everything
from mmlab.pretraining import PretrainConfig
from mmlab.train.__main__ import main, parse_assignment
from mmlab.train.jobs import JOBS, build_job, resolve_settings
from mmlab.train.trainer import Trainer


def test_scales_layer_presets_and_overrides():
    cpu = resolve_settings("gpt")
    gpu = resolve_settings("gpt", "gpu")
    multi = resolve_settings("gpt", "multi-gpu")
    assert gpu["n_embd"] > cpu["n_embd"] and gpu["max_steps"] > cpu["max_steps"]
    assert multi["n_embd"] == gpu["n_embd"] and multi["batch_size"] < gpu["batch_size"]
    assert resolve_settings("gpt", overrides={"lr": 1e-4})["lr"] == 1e-4


def test_unknown_names_are_clear_errors():
    with pytest.raises(KeyError, match="unknown job 'nope'"):
        resolve_settings("nope")
    with pytest.raises(ValueError, match="unknown scale"):
        resolve_settings("gpt", "tpu")
    with pytest.raises(KeyError, match=r"unknown setting\(s\) \['n_embed'\]"):
        resolve_settings("gpt", overrides={"n_embed": 64})


def test_set_values_are_parsed_as_python_literals():
    assert parse_assignment("lr=3e-4") == ("lr", 3e-4)
    assert parse_assignment("text=/data/shakespeare.txt") == ("text", "/data/shakespeare.txt")
    assert parse_assignment("progress=False") == ("progress", False)


# Smaller data (and pretraining stages) so every job's test runs in seconds; the model is the
# cpu preset's. Jobs not listed are small enough as they are.
SMALL = {
    "sort": {"n_train": 640, "n_test": 64},
    "bow": {"n_train": 200, "n_test": 80},
    "lstm": {"n_train": 200, "n_test": 50},
    "sft": {"pretrain_steps": 3, "n_conversations": 200},
    "vit": {"n_train": 128, "n_test": 64},
    "fusion": {"n_train_scenes": 64, "n_test_scenes": 32, "encoder_steps": 3},
    "clip": {"n_train": 256},
    "bert": {"pair_samplings": 1, "vocab_size": 500},
}


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_builds_a_model_that_computes_its_loss(name):
    job = build_job(name, overrides={"max_steps": 1, **SMALL.get(name, {})})
    batch = next(iter(job.train_loader))
    output = job.loss_fn(job.model, batch)
    loss = output[0] if isinstance(output, tuple) else output
    assert loss.dim() == 0 and loss.item() > 0


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_trains_a_few_steps_to_a_finite_loss(name):
    seed_everything(0)
    overrides = {"max_steps": 3, "eval_every": 0, "progress": False, "device": "cpu", **SMALL.get(name, {})}
    job = build_job(name, overrides=overrides)
    trainer = Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config)
    history = trainer.fit()
    assert trainer.step == 3
    final = history.eval[-1] if job.eval_loader is not None else history.train[-1]
    assert math.isfinite(final["loss"]) and final["loss"] > 0


def test_new_jobs_cpu_presets_match_the_chapters():
    """The cpu presets are the chapters' config cells (a guard against drifting apart silently)."""
    assert resolve_settings("bow") == dict(
        n_train=2000,
        n_test=800,
        embed_dim=16,
        batch_size=32,
        max_steps=300,
        lr=1e-2,
        eval_every=25,
        log_every=10,
    )
    assert {k: resolve_settings("lstm")[k] for k in ("dim", "hidden", "max_steps", "lr", "unk_rate")} == dict(
        dim=32, hidden=64, max_steps=400, lr=3e-3, unk_rate=0.1
    )
    sft = resolve_settings("sft")
    assert (sft["pretrain_steps"], sft["max_steps"], sft["n_conversations"], sft["lr"]) == (
        100,
        500,
        4000,
        6e-3,
    )
    vit = resolve_settings("vit")
    assert (vit["n_train"], vit["n_test"], vit["max_steps"], vit["batch_size"], vit["lr"]) == (
        1500,
        500,
        300,
        64,
        3e-3,
    )
    fusion = resolve_settings("fusion")
    assert (fusion["encoder_steps"], fusion["max_steps"], fusion["batch_size"], fusion["lr"]) == (
        200,
        400,
        256,
        3e-3,
    )
    assert resolve_settings("clip")["max_steps"] == 5 * math.ceil(1400 / 64)
    pretrain = PretrainConfig()
    bert = resolve_settings("bert")
    assert {
        k: bert[k]
        for k in ("vocab_size", "d_model", "n_layers", "max_len", "batch_size", "lr", "warmup_steps")
    } == {
        "vocab_size": pretrain.vocab_size,
        "d_model": pretrain.d_model,
        "n_layers": pretrain.n_layers,
        "max_len": pretrain.max_len,
        "batch_size": pretrain.batch_size,
        "lr": pretrain.lr,
        "warmup_steps": pretrain.warmup_steps,
    }
    assert bert["max_steps"] == pretrain.steps


def test_cli_trains_and_writes_weights_and_metrics(tmp_path, capsys):
    out = tmp_path / "sort"
    args = [
        "sort",
        "--out",
        str(out),
        "--set",
        "max_steps=20",
        "--set",
        "eval_every=0",
        "--set",
        "progress=False",
        "--set",
        "n_train=640",
        "--set",
        "n_test=64",
    ]
    assert main(args) == 0
    assert "sort (cpu): step 20" in capsys.readouterr().out
    weights = load_file(out / "model.safetensors")
    assert any(key.startswith("encoder.") for key in weights)
    assert json.loads((out / "metrics.json").read_text())["step"] == 20
    assert (
        main(
            [
                *args[:-6],
                "--set",
                "max_steps=25",
                "--set",
                "progress=False",
                "--set",
                "n_train=640",
                "--set",
                "n_test=64",
                "--resume",
            ]
        )
        == 0
    )
    assert "Resumed from" in capsys.readouterr().out
