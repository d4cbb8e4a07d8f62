"""How much does the Trainer cost over a bare PyTorch loop?

Both train the same small Transformer classifier (the size the chapters use) on the same data for
the same steps, doing the same work: AdamW, the warmup/cosine schedule, gradient clipping, and reading
the loss each step. Runs alternate, with the order swapped every repeat, so machine noise hits both alike;
the figure is the ratio of the fastest run of each. Target: at most 1.05.

    python -m bench.trainer_overhead [--steps 200] [--repeats 7]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlab.device import seed_everything
from mmlab.models.transformer import Transformer, TransformerConfig
from mmlab.train import TrainConfig, Trainer
from mmlab.train.trainer import default_optimizer, lr_lambda

VOCAB, LENGTH, CLASSES = 50, 32, 4


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        config = TransformerConfig(d_model=64, n_heads=4, n_layers=2, max_len=LENGTH)
        self.embed = nn.Embedding(VOCAB, config.d_model)
        self.encoder = Transformer(config)
        self.head = nn.Linear(config.d_model, CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))  # (B, classes)


def make_loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, VOCAB, (2048, LENGTH), generator=generator)
    labels = tokens[:, 0] % CLASSES
    return DataLoader(TensorDataset(tokens, labels), batch_size=32, shuffle=True)


def loss_fn(model: nn.Module, batch) -> torch.Tensor:
    tokens, labels = batch
    return nn.functional.cross_entropy(model(tokens), labels)


def run_bare(steps: int, config: TrainConfig) -> float:
    seed_everything(0)
    model, loader = Classifier(), make_loader()
    optimizer = default_optimizer(model, config, torch.device("cpu"))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    start = time.perf_counter()
    step = 0
    while step < steps:
        for batch in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model, batch)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            loss.item()
            step += 1
            if step == steps:
                break
    return time.perf_counter() - start


def run_trainer(steps: int, config: TrainConfig) -> float:
    seed_everything(0)
    trainer = Trainer(Classifier(), loss_fn, make_loader(), None, config)
    start = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - start


def measure(steps: int = 200, repeats: int = 7, progress: bool = True) -> dict[str, float]:
    """Alternate bare and Trainer runs. The headline ratio compares the fastest run of each: noise
    (other processes, scheduling) only ever adds time, so the fastest run is the closest to a
    loop's own cost (the reasoning of Python's ``timeit``). The median of per-pair ratios is kept too."""
    config = TrainConfig(max_steps=steps, warmup_steps=10, device="cpu", progress=progress, log_every=10)
    run_bare(10, config)  # warm up allocators and kernels
    bare, trained, ratios = [], [], []
    for repeat in range(repeats):
        # Alternate which loop goes first and collect garbage before each, so neither pays for
        # the other's leftovers.
        order = (run_bare, run_trainer) if repeat % 2 == 0 else (run_trainer, run_bare)
        times = {}
        for run in order:
            gc.collect()
            times[run] = run(steps, config)
        bare.append(times[run_bare])
        trained.append(times[run_trainer])
        ratios.append(trained[-1] / bare[-1])
    return {
        "steps": steps,
        "repeats": repeats,
        "bare_s": min(bare),
        "trainer_s": min(trained),
        "ratio": min(trained) / min(bare),
        "ratio_median_of_pairs": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    result = measure(args.steps, args.repeats, progress=False)
    print(
        f"fastest of {args.repeats} runs of {args.steps} steps: bare loop {result['bare_s']:.2f} s, "
        f"Trainer {result['trainer_s']:.2f} s; Trainer/bare time ratio {result['ratio']:.3f} (target <= 1.05; "
        f"median of per-pair ratios {result['ratio_median_of_pairs']:.3f}, "
        f"range {result['ratio_min']:.3f}-{result['ratio_max']:.3f})"
    )


if __name__ == "__main__":
    main()
