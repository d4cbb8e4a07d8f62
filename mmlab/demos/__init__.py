"""Gradio demos, one per chapter that has one.

Each ``build_*()`` returns a Gradio Blocks app without launching it; ``show(app)`` launches it
inline in Jupyter or Colab on 127.0.0.1 without a public share link. Gradio is imported only when
a demo is built, so ``import mmlab`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_BUILDERS = {
    "show": "mmlab.demos.core",
    "close_all": "mmlab.demos.core",
    "build_attention_demo": "mmlab.demos.attention",
    "build_fill_mask_demo": "mmlab.demos.fill_mask",
    "build_generate_demo": "mmlab.demos.generate",
    "build_chat_demo": "mmlab.demos.chat",
    "build_vqa_demo": "mmlab.demos.vqa",
    "build_sketch_demo": "mmlab.demos.sketch",
    "build_vlm_demo": "mmlab.demos.vlm",
    "build_translate_demo": "mmlab.demos.translate",
    "build_speech_demo": "mmlab.demos.speech",
    "build_search_demo": "mmlab.demos.search",
    "build_assistant_demo": "mmlab.demos.assistant",
    "build_imagegen_demo": "mmlab.demos.imagegen",
}

__all__ = sorted(_BUILDERS)


def __getattr__(name: str) -> Any:
    if name not in _BUILDERS:
        raise AttributeError(f"module 'mmlab.demos' has no attribute {name!r}")
    return getattr(importlib.import_module(_BUILDERS[name]), name)
