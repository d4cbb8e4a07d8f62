"""Benchmark one training job in this process and print one JSON line (used by ``python -m bench``).

python -m bench.job gpt --steps 40 [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import torch

from mmlab.device import seed_everything
from mmlab.train.jobs import JOBS, build_job
from mmlab.train.trainer import Trainer

# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' datasheets; None where unknown (CPUs).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12, "T4": 65e12}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_FLOPS.items() if key in name), None)


def batch_shape(batch) -> tuple[int, int | None]:
    """(examples, tokens) in a batch: tokens when its first tensor is a (B, T) integer tensor."""
    first = batch[0] if isinstance(batch, (list, tuple)) else next(iter(batch.values()))
    examples = first.shape[0]
    tokens = first.numel() if first.dim() == 2 and not first.is_floating_point() else None
    return examples, tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    seed_everything(0)
    total = args.warmup + args.steps
    job = build_job(
        args.job, "cpu", {"device": args.device, "progress": False, "eval_every": 0, "max_steps": total}
    )
    trainer = Trainer(job.model, job.loss_fn, job.train_loader, None, job.config)
    examples, tokens = batch_shape(next(iter(job.train_loader)))
    trainer.fit(max_steps=args.warmup)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.fit(max_steps=total)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    steps_per_s = args.steps / seconds
    params = sum(p.numel() for p in job.model.parameters())
    if trainer.device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    row = {
        "job": args.job,
        "chapter": JOBS[args.job].chapter,
        "device": str(trainer.device),
        "params": params,
        "steps_per_s": steps_per_s,
        "examples_per_s": steps_per_s * examples,
        "tokens_per_s": steps_per_s * tokens if tokens else None,
        "peak_memory_mb": peak_mb,
    }
    if hasattr(job.model, "config") and hasattr(job.model.config, "n_layer") and tokens:
        # FLOPs per token of a decoder (PaLM appendix B, as in nanoGPT): 6N for the weights' matmuls
        # forward and backward, plus 12 * L * C * T for attention's scores and weighted sums.
        config = job.model.config
        flops_per_token = 6 * params + 12 * config.n_layer * config.n_embd * config.block_size
        row["flops_per_s"] = flops_per_token * row["tokens_per_s"]
        peak = peak_flops(trainer.device)
        row["mfu"] = row["flops_per_s"] / peak if peak else None
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
