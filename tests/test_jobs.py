"""Chapter recipes (the jobs) and the command line that runs them outside the notebooks."""

import dataclasses
import json
import math

import pytest
from safetensors.torch import load_file

from mmlab.align.rlhf import load_reward_model, load_sft_model
from mmlab.device import seed_everything
from mmlab.recipes.registry import JOBS, build_job, resolve_settings
from mmlab.train.__main__ import main, parse_assignment
from mmlab.train.trainer import Trainer

TRAINER_JOBS = sorted(name for name, spec in JOBS.items() if spec.uses_trainer)


def test_scales_layer_presets_and_overrides():
    cpu = resolve_settings("gpt")
    gpu = resolve_settings("gpt", "gpu")
    multi = resolve_settings("gpt", "multi-gpu")
    assert gpu.d_model > cpu.d_model and gpu.max_steps > cpu.max_steps
    assert multi.d_model == gpu.d_model and multi.batch_size < gpu.batch_size
    assert resolve_settings("gpt", overrides={"lr": 1e-4}).lr == 1e-4


def test_width_is_d_model_in_every_recipe_and_old_names_still_work():
    """One width name for users: every recipe with a model width calls it d_model; the names older
    command lines used (n_embd, embed_dim, dim, d, text_d_model) still set it."""
    for name in ("bow", "lstm", "sort", "bert", "gpt", "sft", "vit", "fusion", "clip", "clip_shapes", "vlm"):
        assert "d_model" in {f.name for f in dataclasses.fields(JOBS[name].settings)}, name
    assert resolve_settings("gpt", overrides={"n_embd": 96}).d_model == 96
    assert resolve_settings("bow", overrides={"embed_dim": 8}).d_model == 8
    assert resolve_settings("fusion", overrides={"d": 48}).d_model == 48
    assert resolve_settings("clip", overrides={"text_d_model": 48}).d_model == 48
    assert resolve_settings("vlm", overrides={"n_layer": 3}).n_layers == 3


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_takes_the_common_settings(name):
    """device and progress are accepted by every job, the Trainer's and those with their own loop."""
    settings = resolve_settings(name, overrides={"progress": False, "device": "cpu"})
    assert settings.progress is False and settings.device == "cpu"


def test_gpu_presets_only_name_existing_settings():
    for name, recipe in JOBS.items():
        for scale in ("gpu", "multi-gpu"):
            resolve_settings(name, scale)  # a typo in a preset is a TypeError here
        assert set(recipe.gpu) <= {f.name for f in dataclasses.fields(recipe.settings)}, name


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
    "clip_shapes": {"n_train": 128, "n_test": 64},
    "bert": {"pair_samplings": 1, "vocab_size": 500},
    "finetune": {"n_train": 64, "n_test": 32},
    "speech": {"repeats": 1},
    "speech-commands": {"repeats": 1},
    "two_tower": {"n_users": 60, "n_items": 40, "n_cold": 5},
}
# Chapter 08's jobs: a tiny SFT stage (no pretraining, 3 steps) and a few preference pairs.
TINY_SFT = {"sft_pretrain_steps": 0, "sft_steps": 3, "sft_conversations": 200}
TINY_PREFS = {"n_pairs": 64, "n_held_out_pairs": 32}
SMALL["reward"] = SMALL["dpo"] = {**TINY_SFT, **TINY_PREFS}
TINY_PPO = {**TINY_SFT, **TINY_PREFS, "reward_steps": 3, "iterations": 2, "batch_size": 8}


@pytest.mark.parametrize("name", TRAINER_JOBS)
def test_every_job_builds_a_model_that_computes_its_loss(name):
    job = build_job(name, overrides={"max_steps": 1, **SMALL.get(name, {})})
    batch = next(iter(job.train_loader))
    output = job.loss_fn(job.model, batch)
    loss = output[0] if isinstance(output, tuple) else output
    assert loss.dim() == 0 and loss.item() > 0


@pytest.mark.parametrize("name", TRAINER_JOBS)
def test_every_job_trains_a_few_steps_to_a_finite_loss(name):
    seed_everything(0)
    overrides = {"max_steps": 3, "eval_every": 0, "progress": False, "device": "cpu", **SMALL.get(name, {})}
    job = build_job(name, overrides=overrides)
    trainer = Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config)
    history = trainer.fit()
    assert trainer.step == 3
    final = history.eval[-1] if job.eval_loader is not None else history.train[-1]
    assert math.isfinite(final["loss"]) and final["loss"] > 0


def test_ppo_is_not_a_trainer_job_and_says_so():
    with pytest.raises(ValueError, match="its own loop or several stages"):
        build_job("ppo")
    with pytest.raises(KeyError, match=r"unknown setting\(s\) \['max_steps'\] for job 'ppo'"):
        resolve_settings("ppo", overrides={"max_steps": 3})
    with pytest.raises(SystemExit, match="--resume is not supported"):
        main(["ppo", "--resume"])
    with pytest.raises(SystemExit, match="runs in one process"):
        main(["ppo", "--scale", "multi-gpu"])


def test_a_missing_base_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m mmlab.train sft --out"):
        build_job("reward", overrides={"base": str(tmp_path)})


def _sets(settings: dict) -> list[str]:
    return [arg for k, v in settings.items() for arg in ("--set", f"{k}={v}")]


def test_cli_chains_sft_reward_ppo_and_dpo_through_their_folders(tmp_path, capsys):
    sft, reward, ppo = tmp_path / "sft", tmp_path / "reward", tmp_path / "ppo"
    quiet = {"progress": False}
    assert main(["sft", "--out", str(sft), *_sets({**SMALL["sft"], "max_steps": 3, **quiet})]) == 0
    assert json.loads((sft / "run.json").read_text())["model_config"]["n_embd"] == 48  # GPTConfig's name
    base = load_sft_model(sft)
    reward_args = _sets({**TINY_PREFS, "base": sft, "max_steps": 3, **quiet})
    assert main(["reward", "--out", str(reward), *reward_args]) == 0
    assert "reward (cpu): step 3" in capsys.readouterr().out
    reward_model = load_reward_model(reward / "model.safetensors")
    # the reward model starts from the SFT body: unchanged weights are the base's
    assert reward_model.body.config == base.config
    ppo_args = _sets({**TINY_PPO, "base": sft, "reward": reward})
    assert main(["ppo", "--out", str(ppo), *ppo_args]) == 0
    out = capsys.readouterr().out
    assert "ppo (cpu): iteration 2" in out and "win_rate" in out
    metrics = json.loads((ppo / "metrics.json").read_text())
    assert 0 <= metrics["win_rate"] <= 1 and math.isfinite(metrics["kl"])
    policy = load_sft_model(ppo)  # a PPO policy is the same GPT: DPO (or another stage) can start from it
    assert policy.config == base.config
    assert (
        main(
            [
                "dpo",
                "--out",
                str(tmp_path / "dpo"),
                *_sets({**TINY_PREFS, "base": ppo, "max_steps": 3, **quiet}),
            ]
        )
        == 0
    )
    with pytest.raises(ValueError, match="holds a 'sft' run"):
        load_reward_model(sft)


def test_ppo_trains_its_own_reward_model_when_none_is_given():
    model, metrics = JOBS["ppo"].run(resolve_settings("ppo", overrides={**TINY_PPO, "progress": True}))
    assert set(metrics) == {"iteration", "score", "ground_truth", "kl", "win_rate"}
    assert metrics["iteration"] == 2 and model.config.n_embd == 48


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


def test_cli_resumes_past_a_truncated_checkpoint_and_prints_known_errors_in_one_line(tmp_path, capsys):
    from mmlab.train.checkpoint import list_checkpoints

    out = tmp_path / "sort"
    tiny = ["--set", "progress=False", "--set", "n_train=640", "--set", "n_test=64", "--set", "eval_every=0"]
    base = ["sort", "--out", str(out), *tiny, "--set", "checkpoint_every=5"]
    assert main([*base, "--set", "max_steps=10"]) == 0
    previous, newest = list_checkpoints(out)[-2:]
    with open(newest, "r+b") as f:  # the newest checkpoint cut short, as by a crash mid-copy
        f.truncate(newest.stat().st_size // 2)
    capsys.readouterr()
    assert main([*base, "--set", "max_steps=12", "--resume"]) == 0
    run = capsys.readouterr()
    assert f"warning: {newest.name} cannot be loaded" in run.err and f"Resumed from {previous}" in run.out
    latest = list_checkpoints(out)[-1]  # step 12's
    assert main([*base, "--set", "max_steps=14", "--resume", str(latest)]) == 0
    assert f"Resumed from {latest} at step 12" in capsys.readouterr().out
    for args, expected in [
        ([*base, "--resume", str(tmp_path / "nothing.pt")], "no checkpoint file there"),
        ([*base, "--set", "no_such_setting=1"], "unknown setting"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_vlm_presets_scale_up_train_vlms_defaults():
    from mmlab.recipes.vlm import VLMSettings

    assert resolve_settings("vlm") == VLMSettings()  # train_vlm's defaults are the cpu preset (chapter 12's)
    gpu = resolve_settings("vlm", "gpu")
    assert gpu.d_model > VLMSettings().d_model and gpu.lm_steps > VLMSettings().lm_steps


def test_cli_runs_every_vlm_stage_and_saves_the_model(tmp_path, capsys):
    tiny = dict(n_train=24, n_test=8, n_embd=16, n_head=2, n_layer=1, batch_size=16)  # the old names work too
    tiny |= {f.name: 2 for f in dataclasses.fields(JOBS["vlm"].settings) if f.name.endswith("_steps")}
    out = tmp_path / "vlm"
    assert main(["vlm", "--out", str(out), *_sets({**tiny, "progress": False})]) == 0
    assert "vlm (cpu): majority" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"text_only", "stage1_caption", "stage2_vqa", "captions_right"} <= set(metrics)
    run = json.loads((out / "run.json").read_text())
    assert run["job"] == "vlm" and run["model_config"]["gpt"]["n_embd"] == 16
    weights = load_file(out / "model.safetensors")
    assert any(name.startswith("projector.") for name in weights)
    assert all(v.isfinite().all() for v in weights.values())
    with pytest.raises(SystemExit, match="runs in one process"):
        main(["vlm", "--scale", "multi-gpu"])


def test_clip_shapes_preset_is_chapter_11s_shapes_run():
    settings = resolve_settings("clip_shapes")
    # SHAPES_TRAIN, SHAPES_TEST = 2000, 900; SHAPES_EPOCHS = 10 epochs of batches of 64
    assert (settings.n_train, settings.n_test, settings.batch_size) == (2000, 900, 64)
    assert settings.max_steps == 10 * math.ceil(2000 / 64) and settings.exclude == ()


def test_clip_shapes_leaves_out_the_combinations_it_is_told_to():
    name, value = parse_assignment("exclude=(('red', 'square'), ('blue', 'circle'))")
    job = build_job("clip_shapes", overrides={name: value, **SMALL["clip_shapes"]})
    itos = job.model.text_encoder.tokenizer.itos
    captions = [
        " ".join(itos[i] for i in ids if i) for batch in job.train_loader for ids in batch["text"].tolist()
    ]
    assert len(captions) == 128 and not any("red square" in c or "blue circle" in c for c in captions)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the warning given on a CPU")
def test_a_gpu_preset_on_the_cpu_says_so(tmp_path, capsys):
    tiny = ["n_layers=1", "n_heads=2", "d_model=16", "pretrain_steps=2", "max_steps=2", "batch_size=8"]
    tiny += ["n_conversations=200", "eval_every=0", "progress=False"]
    sets = [arg for assignment in tiny for arg in ("--set", assignment)]
    assert main(["sft", "--scale", "gpu", "--out", str(tmp_path / "gpu"), *sets]) == 0
    assert "warning: sft --scale gpu runs on the CPU" in capsys.readouterr().err
    assert main(["sft", "--out", str(tmp_path / "cpu"), *sets]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(JOBS))
def test_gpu_presets_leave_the_device_to_the_machine(name):
    """A gpu preset runs where the GPU is (device None: CUDA when there is one), even for jobs whose cpu
    preset pins the CPU: on one CPU core sft's gpu preset costs about 1.3 s a pretraining step."""
    for scale in ("gpu", "multi-gpu") if JOBS[name].multi_gpu is not None else ("gpu",):
        assert resolve_settings(name, scale).device is None, scale
