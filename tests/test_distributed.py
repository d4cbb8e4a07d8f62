"""The Trainer under torchrun: two CPU processes (gloo), with DDP or FSDP, match one process with the
same global batch, and their checkpoints resume in one process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).parent / "workers" / "train_worker.py"
pytestmark = pytest.mark.slow


def torchrun(nproc: int, *args: str) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        str(WORKER),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=1e-5, rtol=0, msg=key)


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    torchrun(2, "--batch", "8", "--steps", "12", "--out", str(tmp_path / "two.pt"))
    torchrun(1, "--batch", "16", "--steps", "12", "--out", str(tmp_path / "one.pt"))
    assert_same_weights(tmp_path / "two.pt", tmp_path / "one.pt")
    # every rank logs the loss averaged over both processes, so the logged curves agree too
    two = torch.load(str(tmp_path / "two.pt") + ".history", weights_only=True)
    one = torch.load(str(tmp_path / "one.pt") + ".history", weights_only=True)
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], abs=1e-5)


def test_accumulation_across_processes_matches_one_large_batch(tmp_path):
    torchrun(2, "--batch", "4", "--accum", "2", "--steps", "8", "--out", str(tmp_path / "two.pt"))
    torchrun(1, "--batch", "16", "--steps", "8", "--out", str(tmp_path / "one.pt"))
    assert_same_weights(tmp_path / "two.pt", tmp_path / "one.pt")


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> Path:
    """One process, global batch 16, 24 steps without interruption: the reference."""
    out = tmp_path_factory.mktemp("straight") / "straight.pt"
    torchrun(1, "--batch", "16", "--steps", "24", "--out", str(out))
    return out


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_checkpoint_written_by_two_processes_resumes_in_one(tmp_path, straight_run, strategy):
    checkpoints = tmp_path / "checkpoints"
    # 160 examples / global batch 16 = 10 steps per epoch: stopping at 13 is mid-epoch.
    torchrun(
        2,
        "--batch",
        "8",
        "--steps",
        "24",
        "--stop-at",
        "13",
        "--strategy",
        strategy,
        "--checkpoint-dir",
        str(checkpoints),
        "--out",
        str(tmp_path / "a.pt"),
    )
    assert (checkpoints / "step_00000013.pt").exists()
    torchrun(
        1,
        "--batch",
        "16",
        "--steps",
        "24",
        "--checkpoint-dir",
        str(checkpoints),
        "--resume",
        "--out",
        str(tmp_path / "resumed.pt"),
    )
    assert_same_weights(tmp_path / "resumed.pt", straight_run)


def run_cli(nproc: int, out: Path, *sets: str) -> None:
    """``torchrun -m mmlab.train gpt`` on a tiny model: the command line a cluster job would run."""
    tiny = ["n_layer=1", "n_embd=32", "n_head=2", "block_size=16", "max_steps=4", "eval_every=0"]
    tiny += ["progress=False", "device=cpu", *sets]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    command += ["-m", "mmlab.train", "gpt", "--out", str(out)]
    command += [arg for assignment in tiny for arg in ("--set", assignment)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_cli_trains_a_job_under_torchrun_with_ddp_and_fsdp(tmp_path):
    """``python -m mmlab.train`` under torchrun: two processes (DDP, then FSDP) write one set of
    weights, equal to one process's with the same global batch."""
    from safetensors.torch import load_file

    run_cli(1, tmp_path / "one", "batch_size=8")
    one = load_file(tmp_path / "one" / "model.safetensors")
    for strategy in ("ddp", "fsdp"):
        run_cli(2, tmp_path / strategy, "batch_size=4", f"strategy={strategy}")
        two = load_file(tmp_path / strategy / "model.safetensors")
        assert two.keys() == one.keys()
        for key in one:
            torch.testing.assert_close(two[key], one[key], atol=1e-5, rtol=0, msg=f"{strategy}: {key}")
