"""Shared test setup: offline hubs, no analytics, a fixed seed, and GPU tests skipped without a GPU."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from mmlab.device import seed_everything  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    seed_everything(0)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is present on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def driver():
    """A headless Chromium for the end-to-end demo tests (skipped with the reason where absent)."""
    import browser_support

    reason = browser_support.missing()
    if reason:
        pytest.skip(reason)
    yield from browser_support.chromium()
