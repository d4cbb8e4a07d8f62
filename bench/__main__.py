"""The benchmark suite: ``python -m bench`` (or ``make bench``).

For every chapter's training job (``mmlab.recipes.registry``, at its notebook settings) it measures
training steps/s, examples and tokens per second and peak memory, each job in its own process so
memory figures do not mix; for the mini-GPT also the model FLOPs utilisation against the device's
peak where that peak is known. Then the Trainer-vs-bare-loop overhead and the written-out vs
``F.scaled_dot_product_attention`` speed ratio. Results go to ``bench/results.json`` and a
Markdown table in ``bench/RESULTS.md`` headed by the machine they came from.

    python -m bench [--steps 40] [--jobs gpt sort] [--device cpu|cuda]
    python -m bench --scale gpu [--steps 50] [--jobs gpt sft] [--compile both|off|on]   # on a CUDA GPU

``--scale gpu`` (the default where CUDA is available, so ``make bench`` on a GPU machine runs it)
times every job at its gpu preset on CUDA, each without and with ``torch.compile``, and reports
steps/s, tokens/s, peak memory and MFU against the GPU's bf16 peak; results go to
``bench/results-gpu.json`` and ``bench/RESULTS-gpu.md``. Without a GPU it says so and runs nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def machine() -> dict[str, str]:
    from mmlab.device import environment_report

    report = environment_report()
    report["platform"] = platform.platform()
    report["processor"] = platform.processor() or platform.machine()
    return report


def run_job(
    name: str, steps: int, device: str, scale: str = "cpu", compile: bool = False, overrides: list[str] = ()
) -> dict:
    """Benchmark one job in a fresh process (see ``bench/job.py``)."""
    command = [
        sys.executable,
        "-m",
        "bench.job",
        name,
        "--steps",
        str(steps),
        "--device",
        device,
        "--scale",
        scale,
    ]
    command += ["--compile"] if compile else []
    for assignment in overrides:
        command += ["--set", assignment]
    result = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent, timeout=900)
    if result.returncode != 0:
        return {"job": name, "error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def attention_ratio(device: str) -> dict[str, float]:
    """Written-out attention vs the fused kernel, one multi-head layer at a chapter-like size."""
    from mmlab.models.attention import MultiHeadAttention

    x = torch.randn(8, 256, 128, device=device)
    timings = {}
    for fast in (False, True):
        layer = MultiHeadAttention(128, 4, causal=True, fast=fast).to(device).eval()
        with torch.no_grad():
            for _ in range(3):
                layer(x)
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(20):
                layer(x)
            if device == "cuda":
                torch.cuda.synchronize()
        timings["sdpa_ms" if fast else "written_out_ms"] = (time.perf_counter() - start) / 20 * 1e3
    timings["ratio"] = timings["written_out_ms"] / timings["sdpa_ms"]
    return timings


def markdown(results: dict) -> str:
    info = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {results['date']} on {info.get('gpu', info['processor'])} ({info['platform']}), "
        f"torch {info['torch']}, device {info['device']}, {info['cpu threads']} CPU threads. "
        f"Each job trains {results['steps']} steps at its notebook (cpu preset) settings after warm-up steps.",
        "",
        "| job | chapter | params | steps/s | examples/s | tokens/s | peak memory (MB) | MFU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["jobs"]:
        if "error" in row:
            lines.append(f"| {row['job']} | | | failed: {row['error']} | | | | |")
            continue
        mfu = (
            f"{row['mfu']:.1%}"
            if row.get("mfu") is not None
            else "n/a (peak unknown)"
            if "flops_per_s" in row
            else ""
        )
        tokens = f"{row['tokens_per_s']:,.0f}" if row.get("tokens_per_s") else ""
        lines.append(
            f"| {row['job']} | {row['chapter']} | {row['params']:,} | {row['steps_per_s']:.2f} | "
            f"{row['examples_per_s']:,.0f} | {tokens} | {row['peak_memory_mb']:,.0f} | {mfu} |"
        )
    overhead, attention = results["trainer_overhead"], results["attention"]
    lines += [
        "",
        f"- Trainer vs bare PyTorch loop (same model, data and steps, {overhead['repeats']} alternating runs each): "
        f"fastest-run time ratio **{overhead['ratio']:.3f}** (target <= 1.05; median of per-pair ratios "
        f"{overhead['ratio_median_of_pairs']:.3f}, range {overhead['ratio_min']:.3f}-{overhead['ratio_max']:.3f}).",
        f"- Written-out attention vs `F.scaled_dot_product_attention` (B=8, T=256, C=128, 4 heads, causal): "
        f"{attention['written_out_ms']:.2f} ms vs {attention['sdpa_ms']:.2f} ms, ratio **{attention['ratio']:.2f}**.",
        "",
        "Jobs that differ from the rule above (see `bench/job.py`): `finetune` (the 22.7M-parameter MiniLM) "
        "times 10 steps; `ppo` times 10 iterations of its own loop (rollouts and updates; examples are "
        "rollouts); `vlm` times its costliest stage, stage 2 (projector and GPT on questions and captions); "
        "`reward` and `dpo` start from a one-step SFT model (the step time does not depend on it).",
        "",
    ]
    # notes kept when the table is rewritten: vs_nanogpt.md (`python -m bench.vs_nanogpt --record`),
    # sft_gpu_preset.md (issue 16's slow sft gpu preset, measured with `python -m bench.sft_stages`) and
    # search_index.md (`python -m bench.search_index --record`)
    for note in ("vs_nanogpt.md", "sft_gpu_preset.md", "search_index.md"):
        if (HERE / note).exists():
            lines += [(HERE / note).read_text()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench.trainer_overhead import measure
    from mmlab.recipes.registry import JOBS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per job")
    parser.add_argument("--jobs", nargs="*", default=sorted(JOBS), choices=sorted(JOBS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=str(HERE), help="folder for results.json and RESULTS.md")
    parser.add_argument(
        "--scale", choices=["cpu", "gpu"], default="gpu" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of every job (tests use it to run the gpu machinery tiny on a CPU)",
    )
    parser.add_argument(
        "--compile",
        choices=["both", "off", "on"],
        default="both",
        help="--scale gpu: time each job without and with torch.compile (both), or only one way",
    )
    args = parser.parse_args(argv)
    if args.scale == "gpu":
        return gpu_suite(args)

    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "steps": args.steps,
        "jobs": [],
    }
    for name in args.jobs:
        row = run_job(name, args.steps, args.device)
        results["jobs"].append(row)
        print(json.dumps(row))
    results["trainer_overhead"] = measure(steps=200, repeats=7, progress=False)
    results["attention"] = attention_ratio(args.device)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (out / "RESULTS.md").write_text(table)
    print(table)
    return 0


def gpu_suite(args: argparse.Namespace) -> int:
    """Every job at its gpu preset on CUDA, without and with ``torch.compile``."""
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "No CUDA GPU here: `python -m bench --scale gpu` measures jobs at their gpu presets on a GPU, "
            "so nothing was run. On this machine, `python -m bench --scale cpu` times the cpu presets."
        )
        return 1
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "steps": args.steps,
        "overrides": args.overrides,
        "jobs": [],
    }
    for name in args.jobs:
        for compile in {"both": (False, True), "off": (False,), "on": (True,)}[args.compile]:
            row = run_job(name, args.steps, args.device, "gpu", compile, args.overrides)
            row.setdefault("compile", compile)
            results["jobs"].append(row)
            print(json.dumps(row), flush=True)
    out = Path(args.out)
    (out / "results-gpu.json").write_text(json.dumps(results, indent=2) + "\n")
    table = gpu_markdown(results)
    (out / "RESULTS-gpu.md").write_text(table)
    print(table)
    return 0


def gpu_markdown(results: dict) -> str:
    info = results["machine"]
    lines = [
        "# Benchmark results: gpu presets",
        "",
        f"Measured {results['date']} on {info.get('gpu', info['processor'])}, torch {info['torch']}. "
        f"Each job trains {results['steps']} steps at its gpu preset after warm-up steps (compilation "
        "happens there), without and with `torch.compile`. MFU: model FLOPs (6N + 12LCT per token, as "
        "nanoGPT counts) over the GPU's dense bf16 peak (table in `bench/job.py`)."
        + (f" Overrides: {', '.join(results['overrides'])}." if results["overrides"] else ""),
        "",
        "| job | compile | params | steps/s | ms/step | tokens/s | peak memory (MB) | MFU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["jobs"]:
        if "error" in row:
            lines.append(f"| {row['job']} | {row['compile']} | failed: {row['error']} | | | | | |")
            continue
        mfu = f"{row['mfu']:.1%}" if row.get("mfu") is not None else ""
        tokens = f"{row['tokens_per_s']:,.0f}" if row.get("tokens_per_s") else ""
        lines.append(
            f"| {row['job']} | {row['compile']} | {row['params']:,} | {row['steps_per_s']:.2f} | "
            f"{1e3 / row['steps_per_s']:.1f} | {tokens} | {row['peak_memory_mb']:,.0f} | {mfu} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
