"""Several processes, one Trainer: data parallelism through ``torch.distributed`` (all chapters' jobs).

Launch any training script with ``torchrun --nproc_per_node N script.py`` (or
``accelerate launch``, which sets the same environment variables). The Trainer then

* joins the process group (NCCL on GPUs, gloo on CPUs),
* wraps the model in ``DistributedDataParallel`` (gradients are averaged across processes by
  PyTorch's bucketed all-reduce during ``backward``) or shards it with FSDP,
* gives each process its own slice of every global batch (:func:`shard_loader`), and
* lets only rank 0 log, show progress and write checkpoints.

With per-process batch ``b`` on ``N`` processes, each optimizer step sees the same ``N * b``
examples a single process with batch ``N * b`` would see, so the runs compute the same updates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

__all__ = ["DistributedState", "init_distributed", "shard_loader", "wrap_model"]

Strategy = Literal["ddp", "fsdp"]


@dataclass(frozen=True)
class DistributedState:
    """Where this process sits: its rank among ``world_size`` processes (``local_rank`` on its machine)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def launched_by_torchrun() -> bool:
    """True inside ``torchrun`` / ``accelerate launch`` (they set RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed() -> DistributedState:
    """Join the process group when launched by torchrun; a single ordinary process otherwise."""
    if not launched_by_torchrun():
        return DistributedState()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if not dist.is_initialized():
        use_nccl = torch.cuda.is_available() and os.environ.get("MMLAB_DEVICE", "cuda").startswith("cuda")
        if use_nccl:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    return DistributedState(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank)


def shard_loader(loader: DataLoader, state: DistributedState, seed: int = 0) -> DataLoader:
    """The same data loader, giving this process every ``world_size``-th example of each epoch.

    The shuffle order comes from ``seed + epoch`` (the same on every process), not from the
    global random state, so all processes agree on it.
    """
    if not isinstance(loader, DataLoader):
        raise TypeError(f"distributed training needs a torch DataLoader, got {type(loader).__name__}")
    if loader.batch_size is None:
        raise ValueError("distributed training needs a DataLoader with a batch_size (not a batch_sampler)")
    sampler = DistributedSampler(
        loader.dataset,
        num_replicas=state.world_size,
        rank=state.rank,
        shuffle=isinstance(loader.sampler, RandomSampler),
        seed=seed,
        drop_last=loader.drop_last,
    )
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
    )


def wrap_model(model: nn.Module, device: torch.device, strategy: Strategy) -> nn.Module:
    """Wrap for data parallelism: DDP keeps a full copy per process; FSDP shards parameters,
    gradients and optimizer state across processes (for models that do not fit one device)."""
    if strategy == "ddp":
        device_ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for module in model.modules():
            if module is not model and module.__class__.__name__.endswith("Block"):
                fully_shard(module)
        fully_shard(model)
        return model
    raise ValueError(f"strategy must be 'ddp' or 'fsdp', got {strategy!r}")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (FSDP shards in place, so nothing to unwrap)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
