"""The CUDA paths the Trainer selects by itself: mixed precision, fused AdamW, torch.compile.

The CPU test checks the selection logic; the GPU tests run where a CUDA device is present and are
skipped with a reason elsewhere (CI has no GPU).
"""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlab.train import TrainConfig, Trainer


def tiny_job(**config):
    x = torch.randn(64, 8)
    y = (x.sum(-1) > 0).long()
    model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 2))
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)

    def loss_fn(model, batch):
        inputs, labels = batch
        return nn.functional.cross_entropy(model(inputs), labels)

    return Trainer(
        model, loss_fn, loader, loader, TrainConfig(max_steps=40, lr=3e-3, progress=False, **config)
    )


def test_cpu_run_uses_plain_adamw_and_full_precision():
    trainer = tiny_job(device="cpu")
    assert not trainer.optimizer.defaults["fused"]
    assert not trainer.amp.enabled


@pytest.mark.gpu
def test_cuda_run_uses_bf16_autocast_and_fused_adamw():
    trainer = tiny_job(device="cuda")
    assert trainer.device.type == "cuda"
    assert trainer.amp.enabled
    assert trainer.optimizer.defaults["fused"]
    history = trainer.fit()
    assert history.train[-1]["loss"] < history.train[0]["loss"]


@pytest.mark.gpu
def test_compiled_model_trains_on_cuda():
    trainer = tiny_job(device="cuda", compile=True)
    history = trainer.fit()
    assert history.train[-1]["loss"] < history.train[0]["loss"]
