"""The mini-CLIP: its loss against a written-out reference, temperature, zero-shot and retrieval."""

import math

import pytest
import torch
import torch.nn.functional as F

from mmlab.models.clip import (
    CLIP,
    CaptionTokenizer,
    CLIPConfig,
    TextTransformer,
    clip_loss,
    clip_training_loss,
    recall_at_k,
    zero_shot_predict,
)
from mmlab.models.vision import CNNConfig

CAPTIONS = [f"a handwritten {w}" for w in ("zero", "one", "two", "three")]


def reference_clip_loss(image_emb, text_emb, scale):
    """CLIP paper's pseudo-code, one row at a time (numpy-style, no F.cross_entropy)."""
    logits = scale * image_emb @ text_emb.T
    B = len(logits)
    rows = [-(logits[i, i] - torch.logsumexp(logits[i], 0)) for i in range(B)]
    cols = [-(logits[i, i] - torch.logsumexp(logits[:, i], 0)) for i in range(B)]
    return (sum(rows) / B + sum(cols) / B) / 2


@pytest.fixture
def model():
    torch.manual_seed(0)
    tokenizer = CaptionTokenizer(CAPTIONS, max_len=4)
    config = CLIPConfig(
        CNNConfig(in_channels=1, image_size=8, channels=(8,), strides=(2,), d_out=16), embed_dim=8
    )
    return CLIP(config, TextTransformer(tokenizer, d_model=16, n_heads=2, n_layers=1))


def test_loss_matches_reference_and_is_symmetric():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(6, 5), dim=-1), F.normalize(torch.randn(6, 5), dim=-1)
    torch.testing.assert_close(clip_loss(a, b, 3.0), reference_clip_loss(a, b, 3.0), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(clip_loss(a, b, 3.0), clip_loss(b, a, 3.0), atol=1e-6, rtol=1e-6)


def test_loss_of_random_embeddings_is_log_batch_size():
    """With a tiny scale every logit is ~0, so each side is a uniform guess among B: loss = ln B."""
    torch.manual_seed(0)
    B = 32
    losses = [
        clip_loss(*(F.normalize(torch.randn(B, 64), dim=-1) for _ in range(2)), 1.0) for _ in range(200)
    ]
    assert abs(torch.stack(losses).mean().item() - math.log(B)) < 0.02  # ln 32 = 3.466
    exact = clip_loss(F.normalize(torch.randn(B, 8), dim=-1), F.normalize(torch.randn(B, 8), dim=-1), 1e-6)
    assert abs(exact.item() - math.log(B)) < 1e-5


def test_perfect_pairs_give_low_loss():
    emb = torch.eye(4)
    assert clip_loss(emb, emb, 100.0).item() < 1e-6


def test_temperature_starts_at_one_over_007_and_is_clamped(model):
    assert model.logit_scale.item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        model.log_logit_scale.fill_(10.0)  # e^10 ~ 22026
    assert model.logit_scale.item() == pytest.approx(100.0)
    images, text = torch.rand(4, 1, 8, 8), model.text_encoder.prepare(CAPTIONS)
    logits = model(images, text)
    assert logits.abs().max().item() <= 100.0 + 1e-4
    loss, metrics = clip_training_loss(model, {"images": images, "text": text})
    loss.backward()  # beyond the clamp the scale gets no gradient (it cannot run away)
    assert model.log_logit_scale.grad.item() == 0.0 and metrics["logit_scale"].item() == pytest.approx(100.0)


def test_embeddings_are_unit_length_and_zero_shot_is_a_distribution(model):
    images = torch.rand(5, 1, 8, 8)
    assert torch.allclose(model.encode_image(images).norm(dim=-1), torch.ones(5), atol=1e-5)
    assert torch.allclose(model.encode_text(CAPTIONS).norm(dim=-1), torch.ones(4), atol=1e-5)
    probs = model.zero_shot_classify(images, ["zero", "one", "two"], ["a handwritten {}", "{}"])
    assert probs.shape == (5, 3) and torch.allclose(probs.sum(-1), torch.ones(5))
    with pytest.raises(ValueError, match="at least one class"):
        model.zero_shot_classify(images, [], ["{}"])
    with pytest.raises(ValueError, match="format strings"):
        model.zero_shot_classify(images, ["one"], ["no placeholder"])


def test_prompt_ensemble_is_the_renormalised_mean(model):
    templates = ["a handwritten {}", "{}"]
    got = model.class_embeddings(["one", "two"], templates)
    each = torch.stack([model.encode_text([t.format(c) for t in templates]).mean(0) for c in ("one", "two")])
    torch.testing.assert_close(got, F.normalize(each, dim=-1))


def test_zero_shot_predict_and_retrieve(model):
    classes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    images = torch.tensor([[3.0, 0.1], [0.2, -0.1], [-1.0, 2.0]])
    assert zero_shot_predict(images, classes).tolist() == [0, 0, 1]
    gallery = torch.rand(6, 1, 8, 8)
    scores, index = model.retrieve(CAPTIONS[:2], gallery, k=3)
    assert scores.shape == index.shape == (2, 3) and (scores[:, :-1] >= scores[:, 1:]).all()
    _, self_match = model.retrieve(gallery, gallery, k=1)  # an image is most similar to itself
    assert self_match.squeeze(1).tolist() == list(range(6))
    with pytest.raises(ValueError, match="k must be"):
        model.retrieve(CAPTIONS[0], gallery, k=7)


def test_recall_at_k_counts_any_item_with_the_same_key():
    sim = torch.tensor([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]])
    assert recall_at_k(sim, ["a", "b"], ["x", "a", "b"], ks=(1, 2)) == {1: 0.5, 2: 1.0}
    assert recall_at_k(sim, ["a", "b"], ["a", "x", "b"], ks=(1, 3)) == {1: 1.0, 3: 1.0}


def test_word_tokenizer_unknown_words_and_length():
    tok = CaptionTokenizer(["a red circle, a blue square"], max_len=6)
    assert tok.encode(["a red triangle"])[0].tolist() == [tok.stoi["a"], tok.stoi["red"], 1, 0, 0, 0]
    with pytest.raises(ValueError, match="more than max_len"):
        tok.encode(["a a a a a a a"])


def test_training_separates_two_classes():
    """A few steps on two easy classes: zero-shot must get them right."""
    from mmlab.data.multimodal import TensorLoader
    from mmlab.train.trainer import TrainConfig, Trainer

    torch.manual_seed(0)
    images = torch.zeros(64, 1, 8, 8)
    images[:32, :, :4] = 1.0  # top half bright: "top"; bottom half bright: "bottom"
    images[32:, :, 4:] = 1.0
    images += 0.1 * torch.rand_like(images)
    captions = ["bright top"] * 32 + ["bright bottom"] * 32
    tokenizer = CaptionTokenizer(captions, max_len=3)
    config = CLIPConfig(
        CNNConfig(in_channels=1, image_size=8, channels=(8,), strides=(2,), d_out=16), embed_dim=8
    )
    model = CLIP(config, TextTransformer(tokenizer, d_model=16, n_heads=2, n_layers=1))
    loader = TensorLoader({"images": images, "text": model.text_encoder.prepare(captions)}, 16, shuffle=True)
    Trainer(
        model,
        clip_training_loss,
        loader,
        None,
        TrainConfig(max_steps=40, lr=3e-3, progress=False, device="cpu"),
    ).fit()
    probs = model.zero_shot_classify(images, ["top", "bottom"], ["bright {}"])
    assert (probs.argmax(1) == torch.tensor([0] * 32 + [1] * 32)).float().mean() == 1.0
