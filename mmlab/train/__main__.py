"""Run a chapter's training job outside the notebook (the jobs are the chapters' recipes, collected
in :mod:`mmlab.recipes.registry`).

    python -m mmlab.train gpt                                  # what chapter 06 runs, on this machine
    python -m mmlab.train gpt --scale gpu --set max_steps=5000 # one GPU
    torchrun --nproc_per_node 8 -m mmlab.train gpt --scale multi-gpu
    python -m mmlab.train --list                               # jobs and their settings

Every job takes ``--set device=...`` and ``--set progress=False``; a Trainer job takes every loop
setting (``max_steps``, ``lr``, ``compile``, ...) too.

Checkpoints go to ``--out`` (default ``runs/<job>``); ``--resume`` continues from the newest one
that loads (a newer one cut short by a crash is skipped with a warning), ``--resume PATH`` from
that checkpoint. A known error (a bad setting, a missing or unreadable checkpoint) prints one line.
The final weights are saved as ``model.safetensors``, the final evaluation as ``metrics.json`` and
the job with its settings and model config as ``run.json``: a later job can start from the folder,

    python -m mmlab.train sft --out runs/sft
    python -m mmlab.train reward --set base=runs/sft --out runs/reward
    python -m mmlab.train ppo --set base=runs/sft --set reward=runs/reward --out runs/ppo

``ppo`` (its own rollout loop) and ``vlm`` (several Trainer stages in a row) are ``run`` jobs: they run in
one process, without checkpoints to resume from.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from pathlib import Path
from typing import Any

from mmlab.device import get_device, seed_everything
from mmlab.recipes.registry import JOBS, SCALES, resolve_settings
from mmlab.train.checkpoint import CheckpointError
from mmlab.train.runs import save_run
from mmlab.train.trainer import Trainer


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"lr=3e-4"`` -> ``("lr", 0.0003)``; values are Python literals, or strings otherwise."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set expects key=value, got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mmlab.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job", nargs="?", choices=sorted(JOBS), help="which chapter's job")
    parser.add_argument("--scale", choices=SCALES, default="cpu")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=parse_assignment,
        default=[],
        metavar="KEY=VALUE",
        help="override a setting (repeatable)",
    )
    parser.add_argument("--out", help="checkpoint folder (default runs/<job>)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="PATH",
        help="continue from the newest checkpoint in --out that loads, or from the checkpoint at PATH",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list", action="store_true", help="list the jobs and their cpu settings")
    args = parser.parse_args(argv)

    if args.list or not args.job:
        for name, spec in sorted(JOBS.items()):
            kind = "" if spec.uses_trainer else "; a run job: one process, no --resume"
            print(f"{name} (chapter {spec.chapter}{kind}): {resolve_settings(name).summary()}")
        return 0

    try:
        return run(args)
    except (CheckpointError, ValueError, KeyError, FileNotFoundError) as err:  # known errors: one line
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        parser.exit(2, f"{parser.prog} {args.job}: error: {message}\n")


def run(args: argparse.Namespace) -> int:
    """Train (or run) the job the parsed command line asks for."""
    seed_everything(args.seed)
    out = Path(args.out or f"runs/{args.job}")
    overrides = dict(args.overrides)
    if not JOBS[args.job].uses_trainer:
        return run_own_loop(args.job, args.scale, overrides, out, args.resume)
    overrides.setdefault("checkpoint_dir", str(out))
    if isinstance(args.resume, str) and not Path(args.resume).is_file():
        raise CheckpointError(f"--resume {args.resume}: no checkpoint file there")
    overrides.setdefault("resume", args.resume)
    settings = resolve_settings(args.job, args.scale, overrides)
    if (
        args.scale != "cpu" and get_device(settings.device).type == "cpu"
    ):  # a gpu preset costs seconds a step here
        print(
            f"warning: {args.job} --scale {args.scale} runs on the CPU (no GPU found, or device=cpu); "
            "its preset is sized for a GPU",
            file=sys.stderr,
        )
    job = JOBS[args.job].build(settings)
    trainer = Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config)
    history = trainer.fit()
    weights = trainer.model_state_dict()  # every process takes part: FSDP gathers the shards
    if trainer.dist.is_main:
        final = history.eval[-1] if history.eval else history.train[-1]
        save_run(trainer.module, out, args.job, args.scale, dataclasses.asdict(settings), final, weights)
        print(
            f"{args.job} ({args.scale}): step {trainer.step}, "
            + ", ".join(f"{k} {v:.4g}" for k, v in final.items() if k != "step")
        )
        print(f"weights: {out / 'model.safetensors'}; checkpoints: {out}")
    if trainer.dist.enabled:
        import torch.distributed

        torch.distributed.destroy_process_group()
    return 0


def run_own_loop(name: str, scale: str, overrides: dict[str, Any], out: Path, resume: bool) -> int:
    """Run a job with a loop of its own (``JobSpec.run``, e.g. PPO) and save what it returns."""
    from mmlab.train.distributed import launched_by_torchrun

    if resume:
        raise SystemExit(
            f"{name} is a run job (its own loop or several stages) without checkpoints: --resume is not supported"
        )
    if launched_by_torchrun() or scale == "multi-gpu":
        raise SystemExit(
            f"{name} runs in one process (its own loop or several stages, not one Trainer run): use `python -m mmlab.train {name}` "
            "with --scale cpu or gpu, not torchrun or --scale multi-gpu"
        )
    settings = resolve_settings(name, scale, overrides)
    model, metrics = JOBS[name].run(settings)
    save_run(model, out, name, scale, dataclasses.asdict(settings), metrics)
    print(f"{name} ({scale}): " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    print(f"weights: {out / 'model.safetensors'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
