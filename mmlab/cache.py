"""The course's cache folder: what is slow to make and the same every time (generated speech, the
pretrained mini-BERT) is kept once per user, shared by both editions and by every notebook."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(*parts: str) -> Path:
    """``$MMLAB_CACHE`` (when set) or the user's cache folder (``~/.cache/mmlab`` on Linux), joined
    with ``parts``: ``cache_dir("mini_bert")``. Nothing is created; the caller makes what it writes."""
    if os.environ.get("MMLAB_CACHE"):
        root = Path(os.environ["MMLAB_CACHE"])
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("mmlab"))
    return root.joinpath(*parts)
