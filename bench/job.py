"""Benchmark one training job in this process and print one JSON line (used by ``python -m bench``).

python -m bench.job gpt --steps 40 [--device cpu] [--scale gpu] [--compile] [--set n_layer=2]

``--device`` defaults to CUDA where there is one (as ``python -m bench`` does), so a gpu preset is not
timed on the CPU by accident.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time

import torch

from mmlab.align.rlhf import prepare_ppo
from mmlab.device import seed_everything
from mmlab.recipes.registry import JOBS, build_job, resolve_settings
from mmlab.train.__main__ import parse_assignment
from mmlab.train.trainer import TrainConfig, Trainer

# Dense (no sparsity) bf16 tensor-core peaks in FLOP/s from the vendors' datasheets, matched in this
# order against torch.cuda.get_device_name() (so "H100 PCIe" is found before "H100"). fp16 for the
# T4 and V100, which have no bf16. CPUs have no entry: MFU is then not reported.
PEAK_BF16_FLOPS = {
    "H200": 989e12,  # H200 SXM (same tensor cores as the H100 SXM, more memory)
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H100": 989e12,  # H100 SXM
    "B200": 2250e12,
    "GH200": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
    "A10": 125e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
    "V100": 125e12,
    "T4": 65e12,
}


def peak_flops_of(name: str) -> float | None:
    """The bf16 peak of a GPU from its name (``torch.cuda.get_device_name()``), None if not listed."""
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def peak_flops(device: torch.device) -> float | None:
    return peak_flops_of(torch.cuda.get_device_name(device)) if device.type == "cuda" else None


def gpt_flops_per_token(params: int, n_layer: int, n_embd: int, block_size: int) -> int:
    """FLOPs per trained token of a decoder (PaLM appendix B, as nanoGPT counts): 6N for the weights'
    matrix multiplies forward and backward, plus 12 * L * C * T for attention's scores and sums."""
    return 6 * params + 12 * n_layer * n_embd * block_size


def mfu(flops_per_s: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation: achieved model FLOP/s over the device's peak (None if unknown)."""
    return flops_per_s / peak if peak else None


def batch_shape(batch) -> tuple[int, int | None]:
    """(examples, tokens) in a batch: tokens when its first tensor is a (B, T) integer tensor."""
    if isinstance(batch, dict):  # token ids where a dict batch has them (the VLM's "ids")
        first = batch.get("ids", batch.get("input_ids", next(iter(batch.values()))))
    else:
        first = batch[0]
    examples = first.shape[0]
    tokens = first.numel() if first.dim() == 2 and not first.is_floating_point() else None
    return examples, tokens


# Setup that does not change the timed steps, made cheaper for the bench: chapter 08's jobs start from
# an SFT model (sequence lengths are fixed by padding, so one SFT step is as good as 500 for timing).
SETUP_OVERRIDES = {
    "reward": {"sft_pretrain_steps": 0, "sft_steps": 1},
    "dpo": {"sft_pretrain_steps": 0, "sft_steps": 1},
    "sft": {"pretrain_steps": 0},  # the pretraining stage before the timed fine-tuning
}
# Steps far costlier than the others' (PPO: rollouts + 8 updates per iteration; finetune: a 22.7M-parameter
# BERT): time fewer, so the whole suite stays within minutes on a CPU.
MAX_STEPS = {"ppo": 10, "finetune": 10}


def bench_ppo(steps: int, warmup: int, scale: str = "cpu") -> dict:
    """PPO has its own loop (``train_ppo``): time its iterations after ``warmup`` iterations. The
    SFT and reward models are the chapter's (the replies' lengths, hence the cost, depend on them)."""
    from mmlab.align.ppo import PolicyWithValue, train_ppo

    setup = prepare_ppo(resolve_settings("ppo", scale))
    args = (setup.sft, setup.reward_model, setup.tokenizer, setup.train_prompts)
    train_ppo(*args, dataclasses.replace(setup.config, iterations=warmup), demos=setup.demos)
    config = dataclasses.replace(setup.config, iterations=steps)
    start = time.perf_counter()
    train_ppo(*args, config, demos=setup.demos)
    steps_per_s = steps / (time.perf_counter() - start)
    return {
        "job": "ppo",
        "chapter": JOBS["ppo"].chapter,
        "device": "cpu",  # train_ppo runs where the models are: the CPU
        "params": sum(p.numel() for p in PolicyWithValue(setup.sft).parameters()),  # what PPO trains
        "steps_per_s": steps_per_s,
        "examples_per_s": steps_per_s * config.batch_size,  # rollouts (prompt + sampled reply) per second
        "tokens_per_s": None,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def vlm_stage2(device: str, scale: str = "cpu"):
    """Chapter 12's ``vlm`` job runs several Trainer stages; the bench times its costliest one, stage 2
    (projector and GPT on questions and captions), at the chapter's settings. The image encoder is
    trained one step only: its features' shape, not their quality, sets the cost."""
    from mmlab.data.multimodal import TensorLoader
    from mmlab.models.vlm import set_stage, vlm_loss
    from mmlab.recipes.vlm import build_model, load_vlm_data, train_region_namer

    settings = resolve_settings("vlm", scale, overrides={"region_steps": 1, "device": device})
    data = load_vlm_data(settings)
    model = build_model(data, settings)
    train_region_namer(model, data, settings)
    set_stage(model, "tune")
    loader = TensorLoader(data.rows("train"), settings.batch_size, shuffle=True)
    return model, vlm_loss, loader, TrainConfig(lr=settings.tune_lr, device=device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--scale", choices=["cpu", "gpu"], default="cpu", help="the job's preset")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--set", dest="overrides", action="append", type=parse_assignment, default=[])
    args = parser.parse_args(argv)

    seed_everything(0)
    steps = min(args.steps, MAX_STEPS.get(args.job, args.steps))
    if args.job == "ppo":  # its own loop, not the Trainer's
        print(json.dumps(bench_ppo(steps, min(args.warmup, 2), args.scale)))
        return 0
    args.steps = steps
    total = args.warmup + args.steps
    loop = {
        "device": args.device,
        "progress": False,
        "eval_every": 0,
        "max_steps": total,
        "compile": args.compile,
    }
    if args.job == "vlm":  # several stages: time stage 2
        model, loss_fn, loader, config = vlm_stage2(args.device, args.scale)
        config = dataclasses.replace(config, **loop)
    else:
        overrides = {**SETUP_OVERRIDES.get(args.job, {}), **dict(args.overrides), **loop}
        job = build_job(args.job, args.scale, overrides)
        model, loss_fn, loader, config = job.model, job.loss_fn, job.train_loader, job.config
    trainer = Trainer(model, loss_fn, loader, None, config)
    examples, tokens = batch_shape(next(iter(loader)))
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
    params = sum(p.numel() for p in model.parameters())
    if trainer.device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    row = {
        "job": args.job,
        "chapter": JOBS[args.job].chapter,
        "device": str(trainer.device),
        "scale": args.scale,
        "compile": args.compile,
        "params": params,
        "steps_per_s": steps_per_s,
        "examples_per_s": steps_per_s * examples,
        "tokens_per_s": steps_per_s * tokens if tokens else None,
        "peak_memory_mb": peak_mb,
    }
    if hasattr(model, "config") and hasattr(model.config, "n_layer") and tokens:
        gpt = model.config
        flops_per_token = gpt_flops_per_token(params, gpt.n_layer, gpt.n_embd, gpt.block_size)
        row["flops_per_s"] = flops_per_token * row["tokens_per_s"]
        row["mfu"] = mfu(row["flops_per_s"], peak_flops(trainer.device))
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
