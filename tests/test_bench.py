"""The benchmark machinery: the GPU peak table and MFU, a job at its gpu preset (run tiny on the CPU),
and ``--scale gpu`` without a GPU. Timings themselves are never asserted."""

import json

import pytest
import torch

from bench import __main__ as suite
from bench import job


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H200", 989e12),
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA L4", 121e12),
        ("NVIDIA GeForce RTX 4090", 165e12),
        ("Some Future Accelerator", None),
    ],
)
def test_peak_table_matches_names_specific_first(name, peak):
    assert job.peak_flops_of(name) == peak


def test_mfu_and_flops_per_token():
    # nanoGPT's GPU recipe: 10.65M parameters, 6 layers, 384 wide, context 256
    per_token = job.gpt_flops_per_token(10_650_000, 6, 384, 256)
    assert per_token == 6 * 10_650_000 + 12 * 6 * 384 * 256
    tokens_per_s = 64 * 256 / 0.013  # batch 64 x 256 tokens in 13 ms
    assert job.mfu(per_token * tokens_per_s, 989e12) == pytest.approx(per_token * tokens_per_s / 989e12)
    assert job.mfu(1e12, None) is None
    assert job.peak_flops(torch.device("cpu")) is None


def test_a_job_at_its_gpu_preset_runs_tiny_on_the_cpu(capsys):
    tiny = ["n_layer=1", "n_head=2", "n_embd=32", "block_size=32", "batch_size=4"]
    argv = ["gpt", "--scale", "gpu", "--device", "cpu", "--steps", "2", "--warmup", "1"]
    for assignment in tiny:
        argv += ["--set", assignment]
    assert job.main(argv) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["scale"] == "gpu" and row["device"] == "cpu" and row["compile"] is False
    assert row["tokens_per_s"] == pytest.approx(row["steps_per_s"] * 4 * 32)
    assert row["mfu"] is None and row["flops_per_s"] > 0  # no peak for a CPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without a GPU")
def test_gpu_scale_without_a_gpu_says_so_and_runs_nothing(capsys, tmp_path):
    assert suite.main(["--scale", "gpu", "--device", "cuda", "--out", str(tmp_path)]) == 1
    assert "No CUDA GPU here" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_gpu_suite_times_each_job_without_and_with_compile(monkeypatch, tmp_path):
    calls = []

    def fake_run_job(name, steps, device, scale, compile, overrides):
        calls.append((name, scale, compile, tuple(overrides)))
        return {
            "job": name, "params": 1000, "steps_per_s": 50.0, "tokens_per_s": 800.0,
            "peak_memory_mb": 10.0, "mfu": 0.25 if compile else 0.2, "compile": compile,
        }  # fmt: skip

    monkeypatch.setattr(suite, "run_job", fake_run_job)
    argv = [
        "--scale",
        "gpu",
        "--device",
        "cpu",
        "--jobs",
        "gpt",
        "--out",
        str(tmp_path),
        "--set",
        "n_layer=1",
    ]
    assert suite.main(argv) == 0
    assert calls == [("gpt", "gpu", False, ("n_layer=1",)), ("gpt", "gpu", True, ("n_layer=1",))]
    table = (tmp_path / "RESULTS-gpu.md").read_text()
    assert "| gpt | False | 1,000 | 50.00 | 20.0 | 800 | 10 | 20.0% |" in table
    assert "| gpt | True |" in table and "25.0%" in table


def test_gpu_suite_can_time_one_way_only(monkeypatch, tmp_path):
    calls = []

    def fake_run_job(name, steps, device, scale, compile, overrides):
        calls.append((name, compile))
        return {"job": name, "params": 1, "steps_per_s": 1.0, "peak_memory_mb": 1.0, "compile": compile}

    monkeypatch.setattr(suite, "run_job", fake_run_job)
    base = ["--scale", "gpu", "--device", "cpu", "--jobs", "gpt", "sft", "--out", str(tmp_path)]
    assert suite.main([*base, "--compile", "off"]) == 0
    assert calls == [("gpt", False), ("sft", False)]
    calls.clear()
    assert suite.main([*base, "--compile", "on"]) == 0
    assert calls == [("gpt", True), ("sft", True)]


def test_sft_stages_times_both_training_stages_tiny_on_the_cpu(capsys):
    from bench import sft_stages

    tiny = ["n_layers=1", "n_heads=2", "d_model=16", "batch_size=8", "n_conversations=200"]
    argv = ["--scale", "gpu", "--device", "cpu", "--steps", "2", "--warmup", "1"]
    for assignment in tiny:
        argv += ["--set", assignment]
    assert sft_stages.main(argv) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["scale"] == "gpu" and row["device"] == "cpu"
    assert row["pretrain"]["tokens_per_step"] == 8 * 16  # batch x 16-token windows
    assert 8 * 5 <= row["finetune"]["tokens_per_step"] <= 8 * 24  # batch x (width - 1), width <= block + 1
    for stage in ("pretrain", "finetune"):
        assert row[stage]["ms_per_step"] > 0 and row[stage]["gflop_per_step"] > 0


def test_the_cpu_table_keeps_the_hand_written_notes():
    results = {
        "date": "today",
        "steps": 1,
        "machine": {"processor": "x86_64", "platform": "Linux", "torch": "2", "device": "cpu", "cpu threads": "1"},
        "jobs": [],
        "trainer_overhead": {"repeats": 1, "ratio": 1.0, "ratio_median_of_pairs": 1.0, "ratio_min": 1.0, "ratio_max": 1.0},
        "attention": {"written_out_ms": 2.0, "sdpa_ms": 1.0, "ratio": 2.0},
    }  # fmt: skip
    table = suite.markdown(results)
    assert "## sft gpu preset" in table and table.index("## sft gpu preset") > table.index(
        "| job | chapter |"
    )


def test_search_index_bench_runs_tiny_and_reports_recall():
    from bench import search_index

    rows = search_index.measure(400)
    assert [r["index"] for r in rows][0] == "exact (IndexFlatIP)" and rows[0]["recall@10"] == 1.0
    assert all(0 <= r["recall@10"] <= 1 and r["ms_per_query"] > 0 for r in rows)
    assert "| 400 | exact (IndexFlatIP) |" in search_index.report(rows, threads=1)


def test_vs_nanogpt_equal_time_steps_and_table_from_recorded_runs():
    from bench import vs_nanogpt

    def row(model, seed, wall, loss, steps=2000):
        return {"model": model, "params": 800_000, "seed": seed, "step": steps, "val_loss": loss,
                "full_val_loss": loss, "wall_s": wall, "steps_per_s": steps / wall}  # fmt: skip

    runs = [row("ours", 1, 80.0, 1.90), row("nanoGPT", 1, 100.0, 1.91), row("ours", 2, 90.0, 1.92),
            row("nanoGPT", 2, 90.0, 1.89), row("ours (Llama block)", 1, 120.0, 1.70)]  # fmt: skip
    # nanoGPT's mean wall 95 s: ours makes 2000 steps in 85 s, Llama's block in 120 s
    assert vs_nanogpt.equal_time_steps(runs, "gpt2", 2000) == int(2000 * 95 / 85)
    assert vs_nanogpt.equal_time_steps(runs, "llama", 2000) == int(2000 * 95 / 120)
    table = vs_nanogpt.table({"runs": runs})
    assert "| **ours, mean of 2** | 800,000 | | 2000 | 1.9100 | 1.9100 (sd 0.0141) | 85.0 | 23.53 |" in table
    assert "| ours (Llama block) | 800,000 | 1 | 2000 | 1.7000 |" in table
