"""Images with text, generated offline (chapters 09-12): shape scenes with questions and captions,
and digits with captions. One module per idea:

* :mod:`~mmlab.data.multimodal.scenes`: drawing and describing shape scenes, what sits in each cell;
* :mod:`~mmlab.data.multimodal.vqa`: questions and answers about scenes (:func:`make_vqa`);
* :mod:`~mmlab.data.multimodal.captions`: captioned shapes and digits;
* :mod:`~mmlab.data.multimodal.loaders`: the data sets as tensors, and :class:`TensorLoader`.

Everything is seeded and needs no download. The generators return ``datasets.Dataset`` objects whose
``image`` column holds PIL images, so they display, save and map like data sets from the hub;
:func:`vqa_tensors` and :func:`image_tensors` convert one to tensors once, before training. The
names below are the package's API (``from mmlab.data.multimodal import make_vqa``).
"""

from mmlab.data.multimodal.captions import (
    DIGIT_WORDS,
    make_digit_captions,
    make_shape_captions,
    make_shape_classification,
    shape_caption,
)
from mmlab.data.multimodal.loaders import TensorLoader, image_tensors, shape_caption_tensors, vqa_tensors
from mmlab.data.multimodal.scenes import (
    COLOURS,
    KINDS,
    RGB,
    SIZES,
    Scene,
    SceneConfig,
    describe_scene,
    draw_scene,
    grid_cell,
    random_scene,
    region_targets,
)
from mmlab.data.multimodal.vqa import (
    ANSWERS,
    ANSWERS_BY_TYPE,
    COUNT_WORDS,
    QUESTION_TYPES,
    QuestionVocab,
    make_vqa,
    parse_question,
    question_text,
    scene_answer,
)

__all__ = [
    "ANSWERS",
    "ANSWERS_BY_TYPE",
    "COLOURS",
    "COUNT_WORDS",
    "DIGIT_WORDS",
    "KINDS",
    "QUESTION_TYPES",
    "RGB",
    "SIZES",
    "QuestionVocab",
    "Scene",
    "SceneConfig",
    "TensorLoader",
    "describe_scene",
    "draw_scene",
    "grid_cell",
    "image_tensors",
    "make_digit_captions",
    "make_shape_captions",
    "make_shape_classification",
    "make_vqa",
    "parse_question",
    "question_text",
    "random_scene",
    "region_targets",
    "scene_answer",
    "shape_caption",
    "shape_caption_tensors",
    "vqa_tensors",
]
