"""Run a chapter's training job outside the notebook.

    python -m mmlab.train gpt                                  # what chapter 06 runs, on this machine
    python -m mmlab.train gpt --scale gpu --set max_steps=5000 # one GPU
    torchrun --nproc_per_node 8 -m mmlab.train gpt --scale multi-gpu
    python -m mmlab.train --list                               # jobs and their settings

Checkpoints go to ``--out`` (default ``runs/<job>``); ``--resume`` continues from the newest one.
The final weights are saved as ``model.safetensors`` and the final evaluation as ``metrics.json``.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

from safetensors.torch import save_model

from mmlab.device import seed_everything
from mmlab.train.jobs import JOBS, SCALES, build_job, resolve_settings
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
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list", action="store_true", help="list the jobs and their cpu settings")
    args = parser.parse_args(argv)

    if args.list or not args.job:
        for name, spec in sorted(JOBS.items()):
            print(f"{name} (chapter {spec.chapter}): {resolve_settings(name)}")
        return 0

    seed_everything(args.seed)
    out = Path(args.out or f"runs/{args.job}")
    overrides = dict(args.overrides)
    overrides.setdefault("checkpoint_dir", str(out))
    overrides.setdefault("resume", args.resume)
    job = build_job(args.job, args.scale, overrides)
    trainer = Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config)
    history = trainer.fit()
    if trainer.dist.is_main:
        save_model(trainer.module, str(out / "model.safetensors"))
        final = history.eval[-1] if history.eval else history.train[-1]
        (out / "metrics.json").write_text(json.dumps(final, indent=2))
        print(
            f"{args.job} ({args.scale}): step {trainer.step}, "
            + ", ".join(f"{k} {v:.4g}" for k, v in final.items() if k != "step")
        )
        print(f"weights: {out / 'model.safetensors'}; checkpoints: {out}")
    if trainer.dist.enabled:
        import torch.distributed

        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
