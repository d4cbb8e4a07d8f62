"""The course's GPT beside nanoGPT, at nanoGPT's CPU recipe, on the same text, in one run.

    python -m bench.vs_nanogpt --nanogpt ../shared/anchors/nanogpt --text ../shared/data/tinyshakespeare.txt

nanoGPT is never imported by the course: its files are copied to a scratch folder, its data script
prepares the text there, and its own ``train.py`` runs in a subprocess with the recipe of its README
(4 layers x 4 heads x 128 wide, context 64, batch 12, 2,000 steps, lr 1e-3 with cosine decay, no
dropout, 20 held-out batches every 250 steps). ``bench/gpt_char.py`` runs ours with the same recipe.

Two measurements, because a shared machine makes single wall-clock runs noisy:

* full runs, alternating (ours, nanoGPT, then nanoGPT, ours, ... for ``--rounds``; round ``i``
  seeds both with ``1337 + i``, nanoGPT through its scratch ``train.py``, whose seed is not an
  option): held-out loss at the last evaluation, the loss of the final model on the whole held-out
  text (the same windows for both), and the wall time of the whole process (start-up, data and the
  recipe's evaluations included; the extra whole-text evaluation is not counted);
* bursts: both models in this process, on the same random batches, a training step each (forward,
  backward, clipping, AdamW) in alternating bursts of ``--burst`` steps, so slow and fast moments of
  the machine fall on both alike; the median milliseconds per step and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RECIPE = dict(
    n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, steps=2000, eval_every=250, eval_iters=20
)


def prepare_nanogpt(source: Path, text: Path, scratch: Path) -> Path:
    """A scratch copy of nanoGPT with ``text`` prepared as its shakespeare_char dataset."""
    folder = scratch / "nanogpt"
    shutil.copytree(source, folder)
    for path in folder.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)  # the anchor files are read-only
    data = folder / "data" / "shakespeare_char"
    shutil.copy(text, data / "input.txt")
    subprocess.run([sys.executable, "prepare.py"], cwd=data, check=True, capture_output=True)
    return folder


NANOGPT_SEED = "torch.manual_seed(1337 + seed_offset)"  # the line of nanoGPT's train.py that seeds


def run_nanogpt(folder: Path, threads: int, steps: int, seed: int = 1337) -> dict:
    r = RECIPE
    script = folder / "train.py"
    source = script.read_text(encoding="utf-8")
    if seed != 1337:
        if NANOGPT_SEED not in source:
            raise RuntimeError(f"nanoGPT's train.py no longer seeds with {NANOGPT_SEED!r}")
        script.with_name(f"train_seed{seed}.py").write_text(
            source.replace(NANOGPT_SEED, f"torch.manual_seed({seed} + seed_offset)"), encoding="utf-8"
        )
        script = script.with_name(f"train_seed{seed}.py")
    command = [
        sys.executable, script.name, "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
        f"--eval_iters={r['eval_iters']}", f"--eval_interval={r['eval_every']}", "--log_interval=100",
        f"--block_size={r['block_size']}", f"--batch_size={r['batch_size']}", f"--n_layer={r['n_layer']}",
        f"--n_head={r['n_head']}", f"--n_embd={r['n_embd']}", f"--max_iters={steps}",
        f"--lr_decay_iters={steps}", "--dropout=0.0", "--always_save_checkpoint=True",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    out = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    losses = re.findall(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)", out)
    step, _, val = losses[-1]
    full_val_loss, params = nanogpt_full_val_loss(folder, threads)
    return {
        "model": "nanoGPT",
        "seed": seed,
        "params": params,
        "step": int(step),
        "val_loss": float(val),
        "full_val_loss": full_val_loss,
        "wall_s": wall,
        "steps_per_s": steps / wall,
    }


def nanogpt_model(folder: Path):
    """The scratch copy's ``model.py`` as a module (``GPT``, ``GPTConfig``)."""
    sys.path.insert(0, str(folder))
    try:
        import model  # the scratch copy's model.py
    finally:
        sys.path.remove(str(folder))
    return model


@torch.no_grad()
def nanogpt_full_val_loss(folder: Path, threads: int) -> tuple[float, int]:
    """nanoGPT's final checkpoint scored on the whole held-out text, in the same windows as ours.

    nanoGPT's logged loss averages 20 random held-out batches, which moves by about 0.02 from draw
    to draw; ``bench/gpt_char.py`` also reports the mean over every disjoint 64-character window
    of the held-out tenth, and this scores nanoGPT's model on exactly those windows. Also returns
    its number of parameters."""
    from mmlab.data.lm import lm_loaders
    from mmlab.data.tokenizers import CharTokenizer

    nanogpt = nanogpt_model(folder)
    torch.set_num_threads(threads)
    checkpoint = torch.load(
        folder / "out-shakespeare-char" / "ckpt.pt", map_location="cpu", weights_only=True
    )
    model = nanogpt.GPT(nanogpt.GPTConfig(**checkpoint["model_args"]))
    model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()})
    model.eval()
    params = sum(p.numel() for p in model.parameters())  # every tensor, counted as ours are
    text = (folder / "data" / "shakespeare_char" / "input.txt").read_text(encoding="utf-8")
    tokenizer = CharTokenizer.from_text(text)  # sorted characters: the same ids as nanoGPT's prepare.py
    ids = torch.tensor(tokenizer.encode(text))
    _, val_loader = lm_loaders(ids, RECIPE["block_size"], RECIPE["batch_size"], 0.1)
    total, count = 0.0, 0
    for x, y in val_loader:
        total += model(x, y)[1].item() * x.size(0)
        count += x.size(0)
    return total / count, params


def run_ours(text: Path, threads: int, steps: int, block: str, seed: int = 1337, label: str = "") -> dict:
    r = RECIPE
    command = [
        sys.executable, "-m", "bench.gpt_char", str(text), "--json", f"--threads={threads}",
        f"--n-layer={r['n_layer']}", f"--n-head={r['n_head']}", f"--n-embd={r['n_embd']}",
        f"--block-size={r['block_size']}", f"--batch-size={r['batch_size']}", f"--steps={steps}",
        f"--eval-every={r['eval_every']}", f"--eval-batches={r['eval_iters']}", f"--block={block}",
        f"--seed={seed}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    out = subprocess.run(command, cwd=HERE.parent, env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    wall = time.perf_counter() - start - result["full_eval_seconds"]  # the extra whole-text evaluation
    name = "ours" if block == "gpt2" else "ours (Llama block)"
    return {
        "model": name + label,
        "seed": seed,
        "params": result["params"],
        "step": steps,
        "val_loss": result["val_loss"],
        "full_val_loss": result["full_val_loss"],
        "wall_s": wall,
        "steps_per_s": steps / wall,
    }


def bursts(folder: Path, threads: int, burst: int, rounds: int) -> dict:
    """Median ms per training step of each model, measured in alternating bursts."""
    nanogpt = nanogpt_model(folder)
    from mmlab.models.gpt import GPT, GPTConfig, next_token_loss
    from mmlab.train.optim import clip_grad_norm
    from mmlab.train.trainer import TrainConfig, default_optimizer

    torch.set_num_threads(threads)
    r = RECIPE
    shape = dict(n_layer=r["n_layer"], n_head=r["n_head"], n_embd=r["n_embd"], block_size=r["block_size"])
    ours = GPT(GPTConfig(vocab_size=65, bias=False, activation="gelu", fused=True, **shape))
    theirs = nanogpt.GPT(nanogpt.GPTConfig(vocab_size=65, bias=False, dropout=0.0, **shape))
    ours_opt = default_optimizer(ours, TrainConfig(weight_decay=0.1, betas=(0.9, 0.99)))
    theirs_opt = theirs.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    windows = [torch.randint(0, 65, (r["batch_size"], r["block_size"] + 1)) for _ in range(burst)]
    batches = [(w[:, :-1].contiguous(), w[:, 1:].contiguous()) for w in windows]  # (B, T) inputs, targets

    def ours_step(batch):
        loss = next_token_loss(ours, batch)
        loss.backward()
        clip_grad_norm(ours.parameters(), 1.0)
        ours_opt.step()
        ours_opt.zero_grad(set_to_none=True)

    def theirs_step(batch):
        _, loss = theirs(*batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        theirs_opt.step()
        theirs_opt.zero_grad(set_to_none=True)

    times: dict[str, list[float]] = {"ours": [], "nanoGPT": []}
    for step in (ours_step, theirs_step):  # warm-up
        for batch in batches[:5]:
            step(batch)
    for index in range(rounds):
        order = [("ours", ours_step), ("nanoGPT", theirs_step)]
        for name, step in order if index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            for batch in batches:
                step(batch)
            times[name].append((time.perf_counter() - start) / burst * 1e3)
    ours_ms, theirs_ms = statistics.median(times["ours"]), statistics.median(times["nanoGPT"])
    pairs = [a / b for a, b in zip(times["ours"], times["nanoGPT"], strict=True)]
    return {
        "ours_ms": ours_ms,
        "nanogpt_ms": theirs_ms,
        "ratio_median_of_pairs": statistics.median(pairs),
        "ratio_min": min(pairs),
        "ratio_max": max(pairs),
        "rounds": rounds,
        "burst": burst,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--nanogpt", required=True, help="nanoGPT's files (train.py, model.py, config/, data/)"
    )
    parser.add_argument("--text", required=True, help="the text both train on (Tiny Shakespeare)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=RECIPE["steps"])
    parser.add_argument("--rounds", type=int, default=1, help="full runs of each, alternating")
    parser.add_argument(
        "--llama", action="store_true", help="also full runs of ours with Llama's block (one per round)"
    )
    parser.add_argument(
        "--equal-time",
        choices=["gpt2", "llama", "both"],
        help="then train that block (per round) for the steps it makes in nanoGPT's mean wall time",
    )
    parser.add_argument("--burst", type=int, default=20, help="steps per burst (0: no burst timing)")
    parser.add_argument("--burst-rounds", type=int, default=10)
    parser.add_argument("--out", help="also write the results to this JSON file")
    parser.add_argument(
        "--record", action="store_true", help="write bench/vs_nanogpt.md (part of RESULTS.md)"
    )
    args = parser.parse_args(argv)

    results: dict = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "threads": args.threads,
        "steps": args.steps,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="vs_nanogpt_") as scratch:
        folder = prepare_nanogpt(Path(args.nanogpt), Path(args.text).resolve(), Path(scratch))
        text = Path(args.text).resolve()
        for index in range(args.rounds):
            seed = 1337 + index
            runners = [
                lambda seed=seed: run_ours(text, args.threads, args.steps, "gpt2", seed),
                lambda seed=seed: run_nanogpt(folder, args.threads, args.steps, seed),
            ]
            for run in runners if index % 2 == 0 else runners[::-1]:
                results["runs"].append(run())
                print(json.dumps(results["runs"][-1]), flush=True)
        blocks = ["gpt2", "llama"] if args.llama else ["gpt2"]
        if args.llama:
            for index in range(args.rounds):
                results["runs"].append(run_ours(text, args.threads, args.steps, "llama", 1337 + index))
                print(json.dumps(results["runs"][-1]), flush=True)
        if args.equal_time and args.rounds:
            for block in blocks if args.equal_time == "both" else [b for b in blocks if b == args.equal_time]:
                steps = equal_time_steps(results["runs"], block, args.steps)
                for index in range(args.rounds):
                    run = run_ours(text, args.threads, steps, block, 1337 + index, ", nanoGPT's wall time")
                    results["runs"].append(run)
                    print(json.dumps(results["runs"][-1]), flush=True)
        if args.burst:
            results["bursts"] = bursts(folder, args.threads, args.burst, args.burst_rounds)
            print(json.dumps(results["bursts"]), flush=True)
    results["load_after"] = os.getloadavg()[0]
    print(table(results))
    if args.record:
        (HERE / "vs_nanogpt.md").write_text(record(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


def equal_time_steps(runs: list[dict], block: str, steps: int) -> int:
    """The steps ``block`` makes in nanoGPT's mean wall time: ``steps`` scaled by the ratio of the
    two mean wall times of the full runs (start-up and evaluations included on both sides)."""
    name = "ours" if block == "gpt2" else "ours (Llama block)"
    ours = statistics.mean(row["wall_s"] for row in runs if row["model"] == name)
    theirs = statistics.mean(row["wall_s"] for row in runs if row["model"] == "nanoGPT")
    return int(steps * theirs / ours)


def record(results: dict) -> str:
    """The side-by-side as a section of ``RESULTS.md``, with the conditions it was measured under."""
    return (
        "## The course's GPT beside nanoGPT (`python -m bench.vs_nanogpt`)\n\n"
        f"Measured {results['date']}: nanoGPT's CPU recipe on Tiny Shakespeare, {results['threads']} torch "
        f"threads each, on a {results['cpus']}-core machine shared with other work (1-minute load average "
        f"{results['load_before']:.1f} at the start, {results['load_after']:.1f} at the end), so the wall "
        "times carry that noise; the bursts below alternate the two models and are the fairer speed figure.\n\n"
        + table(results)
        + "\n"
    )


def table(results: dict) -> str:
    lines = [
        "| model | parameters | seed | step | held-out loss (20 batches) | whole held-out text | wall (s) | steps/s (wall) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["runs"]:
        lines.append(
            f"| {row['model']} | {row['params']:,} | {row['seed']} | {row['step']} | {row['val_loss']:.4f} "
            f"| {row['full_val_loss']:.4f} | {row['wall_s']:.1f} | {row['steps_per_s']:.2f} |"
        )
    for model in dict.fromkeys(row["model"] for row in results["runs"]):
        rows = [row for row in results["runs"] if row["model"] == model]
        if len(rows) > 1:
            mean = {
                key: statistics.mean(row[key] for row in rows)
                for key in ("val_loss", "full_val_loss", "wall_s")
            }
            spread = statistics.stdev(row["full_val_loss"] for row in rows)
            lines.append(
                f"| **{model}, mean of {len(rows)}** | {rows[0]['params']:,} | | {rows[0]['step']} | {mean['val_loss']:.4f} "
                f"| {mean['full_val_loss']:.4f} (sd {spread:.4f}) | {mean['wall_s']:.1f} "
                f"| {rows[0]['step'] / mean['wall_s']:.2f} |"
            )
    if "bursts" in results:
        b = results["bursts"]
        lines += [
            "",
            f"Training step alone, {b['rounds']} alternating bursts of {b['burst']} steps: ours {b['ours_ms']:.1f} ms, "
            f"nanoGPT {b['nanogpt_ms']:.1f} ms; ratio ours/nanoGPT {b['ratio_median_of_pairs']:.3f} "
            f"(median of pairs; range {b['ratio_min']:.3f}-{b['ratio_max']:.3f}).",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
