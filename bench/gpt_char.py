"""Character-level mini-GPT on any text file, with nanoGPT's CPU recipe as the defaults.

nanoGPT's README trains a "baby GPT" on Tiny Shakespeare on a CPU with::

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
        --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
        --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

and reports a validation loss of about 1.88 after about 3 minutes. This script trains the course's
own GPT (``mmlab.models.gpt``) with the same shape and optimisation settings (AdamW, lr 1e-3 with
100 warmup steps and cosine decay to 1e-4, betas (0.9, 0.99), weight decay 0.1, clipping at 1.0,
no biases, no dropout, 90/10 split, exact GELU) and the production attention path (one QKV matrix
multiply, ``is_causal``; ``--written-out`` runs the chapters' path), so the two numbers can be
compared on the same text::

    OMP_NUM_THREADS=2 python bench/gpt_char.py path/to/input.txt
    python bench/gpt_char.py                 # Python's documentation (pydoc_data) by default

It prints the held-out loss (nats per character, and bits per character) and the training speed;
``--block llama`` trains the same shape with Llama's block (RMSNorm, SwiGLU, RoPE), ``--json``
ends the output with one JSON line (``bench/vs_nanogpt.py`` reads it).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from mmlab.data.lm import lm_loaders, pydoc_corpus
from mmlab.data.tokenizers import CharTokenizer
from mmlab.device import seed_everything
from mmlab.models.gpt import GPT, GPTConfig, next_token_loss
from mmlab.models.llama import llama_style
from mmlab.train.trainer import TrainConfig, Trainer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", nargs="?", help="a UTF-8 text file (default: Python's documentation topics)")
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument(
        "--bias", action="store_true", help="biases in linear layers (nanoGPT's recipe has none)"
    )
    parser.add_argument("--positions", choices=["learned", "rotary"], default="learned")
    parser.add_argument(
        "--activation",
        choices=["gelu", "gelu_tanh"],
        default="gelu",
        help="exact GELU (nanoGPT's choice, the default) or GPT-2's tanh form (the chapters')",
    )
    parser.add_argument(
        "--written-out",
        action="store_true",
        help="three projections and an explicit causal mask (the chapters' path) instead of the fused one",
    )
    parser.add_argument("--block", choices=["gpt2", "llama"], default="gpt2", help="GPT-2's block or Llama's")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--eval-batches", type=int, default=200, help="held-out batches per evaluation")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


@torch.no_grad()
def held_out_loss(model: GPT, loader) -> float:
    """Mean loss over every held-out window (the logged figures use ``--eval-batches`` batches)."""
    model.eval()
    total, count = 0.0, 0
    device = next(model.parameters()).device
    for x, y in loader:
        total += next_token_loss(model, (x.to(device), y.to(device))).item() * x.size(0)
        count += x.size(0)
    return total / count


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    text = Path(args.path).read_text(encoding="utf-8") if args.path else pydoc_corpus()
    tokenizer = CharTokenizer.from_text(text)
    ids = torch.tensor(tokenizer.encode(text))
    train_loader, val_loader = lm_loaders(
        ids, args.block_size, args.batch_size, args.val_fraction, seed=args.seed
    )
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=args.block_size,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=args.dropout,
        bias=args.bias,
        positions=args.positions,
        activation=args.activation,
        fused=not args.written_out,
    )
    model = GPT(llama_style(config) if args.block == "llama" else config)
    source = args.path or "pydoc_data.topics"
    print(
        f"{source}: {len(text):,} characters, vocabulary {tokenizer.vocab_size}; model {model.num_parameters():,} "
        f"parameters; {torch.get_num_threads()} torch threads"
    )
    train_config = TrainConfig(
        max_steps=args.steps,
        lr=args.lr,
        weight_decay=args.weight_decay,
        betas=(0.9, 0.99),
        warmup_steps=args.warmup,
        schedule="cosine",
        min_lr_ratio=0.1,
        max_grad_norm=1.0,
        eval_every=args.eval_every,
        eval_batches=args.eval_batches,
        log_every=min(50, args.steps),
        device=args.device,
        progress=False,
    )
    trainer = Trainer(model, next_token_loss, train_loader, val_loader, train_config)
    start = time.perf_counter()
    history = trainer.fit()
    total = time.perf_counter() - start
    for row in history.eval:
        print(f"step {int(row['step']):5d}: held-out loss {row['loss']:.4f}")
    val_loss = history.last("loss")
    start = time.perf_counter()
    full_val_loss = held_out_loss(model, val_loader)
    full_eval_seconds = time.perf_counter() - start  # not part of the recipe: the bench subtracts it
    steps_per_s = args.steps / trainer.train_seconds
    train_loss = history.train[-1]["loss"] if history.train else float("nan")
    print(
        f"held-out loss {val_loss:.4f} nats/char ({val_loss / math.log(2):.3f} bits/char) after {args.steps} steps; "
        f"train loss {train_loss:.4f}; {steps_per_s:.2f} steps/s; total {total:.0f} s; "
        f"on the whole held-out text {full_val_loss:.4f}"
    )
    result = {
        "val_loss": val_loss,
        "full_val_loss": full_val_loss,
        "steps_per_s": steps_per_s,
        "seconds": total,
        "full_eval_seconds": full_eval_seconds,
        "params": model.num_parameters(),
    }
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
