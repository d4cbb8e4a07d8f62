"""Device selection, seeds, mixed precision settings and an environment report.

Every chapter starts with::

    from mmlab.device import get_device, seed_everything
    seed_everything(0)
    device = get_device()

so the same notebook runs on a laptop CPU, an Apple GPU or an NVIDIA GPU without edits.
"""

from __future__ import annotations

import os
import platform
import random
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["AmpSettings", "amp_settings", "environment_report", "get_device", "seed_everything"]


def _mps_works() -> bool:
    """True when Apple's Metal backend is built, available and can actually run a kernel."""
    backend = getattr(torch.backends, "mps", None)
    if backend is None or not backend.is_available():
        return False
    try:
        (torch.ones(2, device="mps") * 2).sum().item()
    except Exception:  # some macOS/PyTorch combinations report MPS but fail at the first kernel
        return False
    return True


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the best available device: CUDA, then MPS (where it works), then CPU.

    Args:
        prefer: force a device ("cpu", "cuda", "cuda:1", "mps"). The ``MMLAB_DEVICE``
            environment variable does the same without touching the notebook.
    """
    prefer = prefer or os.environ.get("MMLAB_DEVICE")
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {prefer!r} was requested but CUDA is not available here")
        if device.type == "mps" and not _mps_works():
            raise RuntimeError(f"device {prefer!r} was requested but MPS does not work here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_works():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so a run repeats exactly.

    Args:
        seed: the seed.
        deterministic: also ask PyTorch for deterministic kernels (slower on GPU; CPU runs are
            already deterministic for the course's models).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA and MPS generators too
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@dataclass(frozen=True)
class AmpSettings:
    """How to run the forward pass: autocast on or off, in which dtype, and whether a grad scaler
    is needed (float16 only: bfloat16 has float32's range, so gradients do not underflow)."""

    enabled: bool
    dtype: torch.dtype
    use_grad_scaler: bool

    def autocast(self, device: torch.device):
        """The ``torch.autocast`` context for ``device`` (a no-op context when disabled)."""
        if not self.enabled:  # entering a disabled autocast still costs time on every step
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def amp_settings(device: torch.device, enabled: bool | None = None) -> AmpSettings:
    """Mixed precision defaults: bf16 on GPUs that support it, fp16 + grad scaler on older
    GPUs, off on CPU and MPS unless ``enabled=True`` (then bf16, which CPUs run correctly)."""
    device = torch.device(device)
    if device.type == "cuda":
        if enabled is False:
            return AmpSettings(False, torch.float32, False)
        if torch.cuda.is_bf16_supported():
            return AmpSettings(True, torch.bfloat16, False)
        return AmpSettings(True, torch.float16, True)
    return AmpSettings(bool(enabled), torch.bfloat16, False)


def environment_report() -> dict[str, str]:
    """Versions and hardware, for the top of a notebook and for bug reports."""
    device = get_device()
    report = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "cpu threads": str(torch.get_num_threads()),
    }
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
        report["bf16"] = str(torch.cuda.is_bf16_supported())
    return report
