"""Chapter jobs and the command line that runs them outside the notebooks."""

import json

import pytest
from safetensors.torch import load_file

from mmlab.train.__main__ import main, parse_assignment
from mmlab.train.jobs import JOBS, build_job, resolve_settings


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


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_builds_a_model_that_computes_its_loss(name):
    job = build_job(name, overrides={"max_steps": 1})
    batch = next(iter(job.train_loader))
    output = job.loss_fn(job.model, batch)
    loss = output[0] if isinstance(output, tuple) else output
    assert loss.dim() == 0 and loss.item() > 0


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
