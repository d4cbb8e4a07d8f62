"""Fusion models: output shapes, the joining operations against references, cross-attention masks."""

import math

import pytest
import torch
import torch.nn.functional as F

from mmlab.models.fusion import (
    MODEL_NAMES,
    FiLM,
    FusionConfig,
    HybridFusion,
    LateFusion,
    build_fusion_model,
    concat_fusion,
    cross_attend,
    predict_answers,
    vqa_loss,
    weighted_sum_fusion,
)
from mmlab.models.regions import RegionEncoder, region_loss
from mmlab.models.vision import count_parameters

CONFIG = FusionConfig()


def _batch(b=4):
    questions = torch.randint(2, CONFIG.vocab_size, (b, CONFIG.max_len))
    questions[:, 6:] = 0
    return torch.rand(b, 3, 24, 24), questions, questions != 0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_output_shape(name):
    encoder = RegionEncoder(CONFIG.image)
    model = build_fusion_model(name, CONFIG, encoder)
    images, questions, mask = _batch()
    logits = model(images, questions, mask)
    assert logits.shape == (4, CONFIG.n_answers)
    regions = encoder(images)
    assert regions.shape == (4, CONFIG.n_regions, CONFIG.d_region)
    assert torch.allclose(model(regions, questions, mask), logits, atol=1e-6)  # pixels or regions
    assert 1_000 < count_parameters(model) < 40_000
    assert all(not p.requires_grad for p in model.encoder.parameters())  # the shared encoder is frozen
    loss, metrics = vqa_loss(
        model,
        {
            "images": images,
            "questions": questions,
            "question_mask": mask,
            "answers": torch.zeros(4, dtype=torch.long),
        },
    )
    loss.backward()
    assert 0 <= float(metrics["accuracy"]) <= 1


def test_bad_inputs_are_named():
    model = build_fusion_model("early fusion", CONFIG)
    images, questions, mask = _batch()
    with pytest.raises(ValueError, match="integer token ids"):
        model(images, questions.float(), mask)
    with pytest.raises(ValueError, match="images but"):
        model(images[:2], questions, mask)
    with pytest.raises(ValueError, match="region vectors"):
        model(torch.rand(4, 9, 7), questions, mask)
    with pytest.raises(ValueError, match="unknown model"):
        build_fusion_model("magic", CONFIG)


def test_weighted_sum_and_concat_against_reference():
    f = [torch.randn(3, 5) for _ in range(3)]
    logits = torch.tensor([0.3, -1.0, 2.0])
    w = torch.exp(logits) / torch.exp(logits).sum()
    assert torch.allclose(weighted_sum_fusion(f, logits), w[0] * f[0] + w[1] * f[1] + w[2] * f[2], atol=1e-6)
    assert concat_fusion([torch.ones(2, 3), torch.zeros(2, 4)]).shape == (2, 7)
    with pytest.raises(ValueError):
        weighted_sum_fusion(f, torch.zeros(2))


def test_cross_attend_matches_pytorch():
    """Against F.scaled_dot_product_attention (tolerance 1e-5), with and without a mask."""
    text, image = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[True, True, False, False, True], [True] * 5])
    assert torch.allclose(
        cross_attend(text, image), F.scaled_dot_product_attention(text, image, image), atol=1e-5
    )
    reference = F.scaled_dot_product_attention(text, image, image, attn_mask=mask[:, None, :])
    assert torch.allclose(cross_attend(text, image, mask), reference, atol=1e-5)
    scores = text @ image.transpose(1, 2) / math.sqrt(8)
    assert torch.allclose(cross_attend(text, image), scores.softmax(-1) @ image, atol=1e-6)


def test_hybrid_cross_attention_respects_the_image_mask():
    torch.manual_seed(0)
    model = HybridFusion(CONFIG, mode="cross_attention")
    regions = torch.randn(2, CONFIG.n_regions, CONFIG.d_region)
    _, questions, qmask = _batch(2)
    image_mask = torch.tensor([[True, True, False, False], [True, False, True, False]])
    out = model(regions, questions, qmask, image_mask)
    changed = regions.clone()
    changed[~image_mask] = torch.randn(int((~image_mask).sum()), CONFIG.d_region) * 10
    assert torch.allclose(model(changed, questions, qmask, image_mask), out, atol=1e-5)  # hidden: no effect
    assert not torch.allclose(model(changed, questions, qmask), out, atol=1e-3)  # unmasked: it matters
    maps = model.cross_attention_maps(regions, questions, qmask)
    assert maps.shape == (2, CONFIG.max_len, CONFIG.n_regions)
    assert torch.allclose(maps.sum(-1), torch.ones(2, CONFIG.max_len), atol=1e-5)


def test_early_fusion_respects_question_padding():
    model = build_fusion_model("early fusion", CONFIG)
    images, questions, mask = _batch(2)
    other = questions.clone()
    other[~mask] = 5  # change only padded positions
    assert torch.allclose(model(images, questions, mask), model(images, other, mask), atol=1e-5)


def test_late_fusion_variants_and_film():
    images, questions, mask = _batch()
    for join in ("concat", "weighted_sum"):
        for level in ("features", "decisions"):
            assert LateFusion(CONFIG, join=join, level=level)(images, questions, mask).shape == (4, 11)
    assert torch.allclose(LateFusion(CONFIG, join="weighted_sum").weights, torch.tensor([0.5, 0.5]))
    film = FiLM(4, 3)
    h, c = torch.randn(2, 5, 3), torch.randn(2, 4)
    gamma, beta = film.proj(c).chunk(2, -1)
    assert torch.allclose(film(h, c), (1 + gamma[:, None]) * h + beta[:, None], atol=1e-6)


def test_region_loss_and_predict():
    encoder = RegionEncoder(CONFIG.image)
    batch = {
        "images": torch.rand(3, 3, 24, 24),
        "region_kinds": torch.randint(0, 4, (3, 4)),
        "region_colours": torch.randint(0, 4, (3, 4)),
    }
    loss, metrics = region_loss(encoder, batch)
    assert loss.ndim == 0 and 0 <= float(metrics["accuracy"]) <= 1
    model = build_fusion_model("question only", CONFIG, encoder)
    images, questions, mask = _batch(5)
    preds = predict_answers(
        model,
        {"images": images, "questions": questions, "question_mask": mask, "answers": torch.zeros(5)},
        batch_size=2,
    )
    assert preds.shape == (5,)


def test_early_late_hybrid_of_trained_models_learns_only_its_weights():
    from mmlab.models.fusion import EarlyFusion, EarlyLateFusion, LateFusion

    encoder = RegionEncoder(CONFIG.image)
    early, late = EarlyFusion(CONFIG, encoder), LateFusion(CONFIG, encoder, "weighted_sum", "decisions")
    hybrid = EarlyLateFusion(CONFIG, encoder, early=early, late=late)
    assert [n for n, p in hybrid.named_parameters() if p.requires_grad] == ["weight_logits"]
    images, questions, mask = _batch()
    with torch.no_grad():
        hybrid.weight_logits.copy_(torch.tensor([0.4, -0.2]))
        w = torch.tensor([0.4, -0.2]).softmax(0)
        expected = w[0] * early(images, questions, mask) + w[1] * late(images, questions, mask)
        assert torch.allclose(hybrid(images, questions, mask), expected, atol=1e-6)
    with pytest.raises(ValueError, match="both"):
        EarlyLateFusion(CONFIG, encoder, early=early)
