"""A training job for the multi-process tests: run it under ``torchrun``.

torchrun --standalone --nproc_per_node 2 tests/workers/train_worker.py --batch 8 --steps 12 --out w.pt
"""

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlab.device import seed_everything
from mmlab.train import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, required=True, help="batch size per process")
    parser.add_argument("--steps", type=int, required=True, help="length of the run (sets the schedule)")
    parser.add_argument("--stop-at", type=int, help="stop early at this step, as if interrupted")
    parser.add_argument("--out", required=True, help="where rank 0 saves the final weights")
    parser.add_argument("--checkpoint-dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--accum", type=int, default=1)
    parser.add_argument("--strategy", default="ddp")
    args = parser.parse_args()

    seed_everything(0)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(160, 6, generator=generator)
    y = (x[:, 0] - x[:, 2] > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch, shuffle=True)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))

    def loss_fn(model, batch):
        inputs, labels = batch
        return nn.functional.cross_entropy(model(inputs), labels)

    config = TrainConfig(
        max_steps=args.steps,
        lr=1e-2,
        warmup_steps=2,
        log_every=2,
        progress=False,
        device="cpu",
        grad_accum_steps=args.accum,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
        strategy=args.strategy,
    )
    trainer = Trainer(model, loss_fn, loader, None, config)
    trainer.fit(max_steps=args.stop_at)
    state = trainer.state_dict()  # a collective under FSDP: every process takes part
    if trainer.dist.is_main:
        torch.save({k: v.detach().cpu() for k, v in state["model"].items()}, args.out)
        torch.save(trainer.history.train, args.out + ".history")
    if trainer.dist.enabled:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
