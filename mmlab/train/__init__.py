"""Training: one :class:`Trainer` for every chapter, and safe checkpoints."""

from mmlab.train.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from mmlab.train.trainer import History, TrainConfig, Trainer, move_to_device

__all__ = [
    "CheckpointError",
    "History",
    "TrainConfig",
    "Trainer",
    "list_checkpoints",
    "load_checkpoint",
    "move_to_device",
    "save_checkpoint",
]
