"""Chapter jobs and the command line that runs them outside the notebooks."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from mmlab.align.dpo import DPOConfig, train_dpo
from mmlab.align.ppo import PPOConfig
from mmlab.align.reward import RewardConfig, train_reward_model
from mmlab.align.sft import SFTConfig, train_sft_model
from mmlab.data.preferences import make_preferences
from mmlab.device import seed_everything
from mmlab.pretraining import PretrainConfig
from mmlab.train.__main__ import main, parse_assignment
from mmlab.train.jobs import JOBS, PPO_FIELDS, build_job, load_reward_model, load_sft_model, resolve_settings
from mmlab.train.trainer import Trainer

TRAINER_JOBS = sorted(name for name, spec in JOBS.items() if spec.uses_trainer)


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
    "clip_shapes": {"n_train": 128, "n_test": 64},
    "bert": {"pair_samplings": 1, "vocab_size": 500},
    "finetune": {"n_train": 64, "n_test": 32},
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
        1000,
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


def test_chapter_05_and_08_presets_match_the_chapters():
    finetune = resolve_settings("finetune")
    assert {k: finetune[k] for k in ("model", "n_train", "n_test", "max_len", "batch_size", "lr")} == dict(
        model=None, n_train=800, n_test=200, max_len=24, batch_size=16, lr=1e-4
    )
    # the chapter's fine_tune: linear schedule, a tenth of the steps as warm-up
    assert (finetune["max_steps"], finetune["warmup_steps"], finetune["schedule"]) == (30, 30 // 10, "linear")
    sft, reward_config, dpo_config = SFTConfig(), RewardConfig(), DPOConfig()
    for name in ("reward", "dpo", "ppo"):  # chapter 08: train_sft_model(seed=0), make_preferences(2000, 400)
        settings = resolve_settings(name)
        assert (settings["base"], settings["seed"], settings["n_pairs"], settings["n_held_out_pairs"]) == (
            None,
            0,
            2000,
            400,
        )
        assert (settings["sft_pretrain_steps"], settings["sft_steps"], settings["sft_conversations"]) == (
            sft.pretrain_steps,
            sft.sft_steps,
            sft.n_conversations,
        )
    reward = resolve_settings("reward")
    assert (reward["max_steps"], reward["batch_size"], reward["lr"]) == (
        reward_config.steps,
        reward_config.batch_size,
        reward_config.lr,
    )
    dpo = resolve_settings("dpo")
    assert (dpo["beta"], dpo["nll_weight"], dpo["max_steps"], dpo["batch_size"], dpo["lr"]) == (
        dpo_config.beta,
        dpo_config.nll_weight,
        dpo_config.steps,
        dpo_config.batch_size,
        dpo_config.lr,
    )
    ppo = resolve_settings("ppo")
    assert PPOConfig(**{k: ppo[k] for k in PPO_FIELDS}) == PPOConfig(
        beta=1.0, iterations=25, batch_size=64, ptx_coef=1.0
    )
    assert (ppo["reward_steps"], ppo["reward_batch_size"], ppo["reward_lr"]) == (
        reward_config.steps,
        reward_config.batch_size,
        reward_config.lr,
    )


def _fit(name: str, overrides: dict):
    seed_everything(0)
    job = build_job(name, overrides={"progress": False, "device": "cpu", **overrides})
    Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config).fit()
    return job.model


def test_reward_and_dpo_jobs_train_what_the_chapter_functions_train():
    """With the same (tiny) settings, the jobs give the weights of train_reward_model / train_dpo."""
    sft = train_sft_model(seed=0, config=SFTConfig(pretrain_steps=0, sft_steps=3, n_conversations=200))
    prefs = make_preferences(64, 32, seed=0)
    overrides = {**SMALL["reward"], "max_steps": 5}
    expected, _ = train_reward_model(sft.model, sft.tokenizer, prefs["train"], None, RewardConfig(steps=5))
    for key, value in _fit("reward", overrides).state_dict().items():
        torch.testing.assert_close(value, expected.state_dict()[key], atol=1e-6, rtol=1e-6)
    expected, _ = train_dpo(sft.model, sft.tokenizer, prefs["train"], None, DPOConfig(steps=5))
    for key, value in _fit("dpo", overrides).state_dict().items():
        torch.testing.assert_close(value, expected.state_dict()[key], atol=1e-6, rtol=1e-6)


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
    assert json.loads((sft / "run.json").read_text())["model_config"]["n_embd"] == 48
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
    model, metrics = JOBS["ppo"].run(resolve_settings("ppo", overrides=TINY_PPO))
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


def test_vlm_presets_scale_up_train_vlms_defaults():
    from mmlab.vlm_training import VLM_SETTINGS

    assert resolve_settings("vlm") == VLM_SETTINGS  # train_vlm's defaults are the cpu preset (chapter 12's)
    gpu = resolve_settings("vlm", "gpu")
    assert gpu["n_embd"] > VLM_SETTINGS["n_embd"] and gpu["lm_steps"] > VLM_SETTINGS["lm_steps"]


def test_cli_runs_every_vlm_stage_and_saves_the_model(tmp_path, capsys):
    tiny = dict(n_train=24, n_test=8, n_embd=16, n_head=2, n_layer=1, batch_size=16)
    tiny |= {k: 2 for k in resolve_settings("vlm") if k.endswith("_steps")}
    out = tmp_path / "vlm"
    assert main(["vlm", "--out", str(out), *_sets(tiny)]) == 0
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
    assert (settings["n_train"], settings["n_test"], settings["batch_size"]) == (2000, 900, 64)
    assert settings["max_steps"] == 10 * math.ceil(2000 / 64) and settings["exclude"] == ()


def test_clip_shapes_leaves_out_the_combinations_it_is_told_to():
    name, value = parse_assignment("exclude=(('red', 'square'), ('blue', 'circle'))")
    job = build_job("clip_shapes", overrides={name: value, **SMALL["clip_shapes"]})
    itos = job.model.text_encoder.tokenizer.itos
    captions = [
        " ".join(itos[i] for i in ids if i) for batch in job.train_loader for ids in batch["text"].tolist()
    ]
    assert len(captions) == 128 and not any("red square" in c or "blue circle" in c for c in captions)
