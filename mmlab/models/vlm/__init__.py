"""Chapter 12's LLaVA-style mini vision-language model, one module per idea: the model
(:mod:`~mmlab.models.vlm.model`: projector, :class:`MiniVLM`, training stages, export to
``transformers``), its data (:mod:`~mmlab.models.vlm.data`) and how it learns and is measured
(:mod:`~mmlab.models.vlm.training`). The names below are the package's API."""

from mmlab.models.vlm.data import IGNORE, VLMTokenizer, build_vlm_examples, scene_words
from mmlab.models.vlm.model import MiniVLM, Projector, VLMConfig, set_stage, to_llava
from mmlab.models.vlm.training import (
    answer_accuracy,
    encode_images,
    nearest_word_match,
    nearest_words,
    scene_words_loss,
    text_only_loss,
    vlm_loss,
)

__all__ = [
    "IGNORE",
    "MiniVLM",
    "Projector",
    "VLMConfig",
    "VLMTokenizer",
    "answer_accuracy",
    "build_vlm_examples",
    "encode_images",
    "nearest_word_match",
    "nearest_words",
    "scene_words",
    "scene_words_loss",
    "set_stage",
    "text_only_loss",
    "to_llava",
    "vlm_loss",
]
