"""Time each stage of chapter 07's ``sft`` job at a preset, on any device (``bench/gpu_check.sh`` runs it).

    python -m bench.sft_stages --scale gpu --device cuda [--steps 50] [--warmup 5] [--compile]

The sft job is two data builds and two Trainer runs: the world-corpus loader, ``pretrain_steps``
next-token steps, ``n_conversations`` generated conversations, then the fine-tuning steps (the only
stage ``python -m bench`` times). ``python -m mmlab.train sft --set max_steps=200`` runs all four, so
the 200 steps it asks for come after the pretraining steps. This prints the seconds of each build
and, per training stage, milliseconds per step after warm-up steps (synchronised on CUDA), the
model FLOPs of a step (6N + 12LCT per token, as ``bench/job.py`` counts) and the rate they imply:
a stage far slower than its FLOPs shows where the time goes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import torch

from bench.job import gpt_flops_per_token
from mmlab.align.sft import conversation_loaders, sft_loss, world_corpus_loader
from mmlab.data.chat import chat_tokenizer, make_instructions
from mmlab.device import seed_everything
from mmlab.models.gpt import GPT, next_token_loss
from mmlab.recipes.registry import resolve_settings
from mmlab.train.__main__ import parse_assignment
from mmlab.train.trainer import TrainConfig, Trainer


def _timed(build: Callable):
    start = time.perf_counter()
    result = build()
    return result, time.perf_counter() - start


def time_stage(model: GPT, loss_fn, loader, config: TrainConfig, warmup: int, steps: int) -> dict:
    """Train ``warmup`` steps, then time ``steps`` more; ms per step, tokens and FLOPs per step."""
    trainer = Trainer(model, loss_fn, loader, None, config)
    trainer.fit(max_steps=warmup)
    cuda = trainer.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.fit(max_steps=warmup + steps)
    if cuda:
        torch.cuda.synchronize()
    ms = (time.perf_counter() - start) / steps * 1e3
    cpu_ms = (
        (time.process_time() - cpu_start) / steps * 1e3
    )  # this process's CPU time: robust to a busy machine
    # tokens a step trains on: batch x (width - 1) for the fine-tuning's (ids, roles), batch x T for (x, y)
    first = [batch[0] for _, batch in zip(range(50), loader)]
    shift = 1 if loss_fn is sft_loss else 0
    tokens = sum(ids.shape[0] * (ids.shape[1] - shift) for ids in first) / len(first)
    c = model.config
    gflop = gpt_flops_per_token(model.num_parameters(), c.n_layer, c.n_embd, c.block_size) * tokens / 1e9
    return {
        "ms_per_step": ms,
        "cpu_ms_per_step": cpu_ms,
        "tokens_per_step": tokens,
        "gflop_per_step": gflop,
        "gflop_per_s": gflop / ms * 1e3,
    }


def _report(stage: str, r: dict) -> dict:
    print(
        f"  {stage}: {r['ms_per_step']:.1f} ms/step ({r['cpu_ms_per_step']:.1f} ms of CPU time), "
        f"{r['tokens_per_step']:.0f} tokens and {r['gflop_per_step']:.1f} GFLOP a step, "
        f"{r['gflop_per_s']:.1f} GFLOP/s",
        flush=True,
    )
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=["cpu", "gpu"], default="gpu", help="the job's preset")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per training stage")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--set", dest="overrides", action="append", type=parse_assignment, default=[])
    args = parser.parse_args(argv)

    seed_everything(0)
    s = resolve_settings("sft", args.scale, {**dict(args.overrides), "device": args.device})
    loop = dict(progress=False, device=args.device, compile=args.compile)
    row: dict = {"job": "sft", "scale": args.scale, "device": args.device, "compile": args.compile}
    print(
        f"sft at the {args.scale} preset on {args.device} (each line as soon as it is measured):", flush=True
    )
    tokenizer, instructions = chat_tokenizer(), make_instructions(seed=0)
    corpus, row["corpus_build_s"] = _timed(lambda: world_corpus_loader(tokenizer, instructions, s.batch_size))
    model = GPT(s.model)
    row["params"] = model.num_parameters()
    pretrain = TrainConfig(lr=s.pretrain_lr, warmup_steps=s.pretrain_warmup_steps, **loop)
    row["pretrain"] = _report(
        "pretrain", time_stage(model, next_token_loss, corpus, pretrain, args.warmup, args.steps)
    )
    build = lambda: conversation_loaders(  # noqa: E731
        tokenizer, instructions, s.n_conversations, s.system_fraction, s.block_size, s.batch_size
    )
    (train_loader, _), row["conversations_build_s"] = _timed(build)
    print(f"  building {s.n_conversations:,} conversations: {row['conversations_build_s']:.1f} s", flush=True)
    finetune = TrainConfig(lr=s.lr, warmup_steps=s.warmup_steps, **loop)
    row["finetune"] = _report(
        "finetune", time_stage(model, sft_loss, train_loader, finetune, args.warmup, args.steps)
    )
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
