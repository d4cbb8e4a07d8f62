"""Image encoders: shapes, the patch embedding against unfold + matmul, the ViT's attention."""

import pytest
import torch
import torch.nn.functional as F

from mmlab.models.attention import record_attention
from mmlab.models.vision import (
    CNNConfig,
    CNNEncoder,
    ImageClassifier,
    PatchEmbedding,
    ViT,
    ViTConfig,
    count_parameters,
)


def test_cnn_shapes():
    cnn = CNNEncoder(CNNConfig())
    x = torch.rand(5, 3, 24, 24)
    assert cnn(x).shape == (5, 32)
    assert cnn.tokens(x).shape == (5, 36, 32)  # 24 -> 12 -> 6
    pooled = CNNEncoder(CNNConfig(out_grid=2))
    assert pooled.tokens(x).shape == (5, 4, 32)
    assert CNNEncoder(CNNConfig(in_channels=1, image_size=8, pool="mean"))(torch.rand(2, 1, 8, 8)).shape == (
        2,
        32,
    )
    with pytest.raises(ValueError, match="expected images"):
        cnn(torch.rand(5, 1, 24, 24))


def test_cnn_matches_torch_reference():
    """The conv stack equals F.conv2d + relu with the same weights (tolerance 1e-6)."""
    cnn = CNNEncoder(CNNConfig())
    x = torch.rand(2, 3, 24, 24)
    h = x
    for conv in [m for m in cnn.convs if isinstance(m, torch.nn.Conv2d)]:
        h = F.relu(F.conv2d(h, conv.weight, conv.bias, stride=conv.stride, padding=1))
    assert torch.allclose(cnn.feature_map(x), h, atol=1e-6)


def test_patch_embedding_equals_unfold_and_matmul():
    """A conv with kernel = stride = p is one matrix applied to every flattened patch (tolerance 1e-5)."""
    embed = PatchEmbedding(3, 4, 16)
    x = torch.rand(2, 3, 24, 24)
    patches = F.unfold(x, kernel_size=4, stride=4).transpose(1, 2)  # (B, P, 3*4*4)
    reference = patches @ embed.proj.weight.flatten(1).T + embed.proj.bias
    assert torch.allclose(embed(x), reference, atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        embed(torch.rand(1, 3, 10, 10))


def test_vit_shapes_cls_and_attention_maps():
    config = ViTConfig()
    vit = ViT(config)
    x = torch.rand(3, 3, 24, 24)
    assert vit.encode(x).shape == (3, 1 + 36, 32)
    assert vit(x).shape == (3, 32) and vit.tokens(x).shape == (3, 36, 32)
    with record_attention(vit) as maps:
        vit(x)
    assert len(maps) == config.n_layers and maps[0].shape == (3, config.n_heads, 37, 37)
    assert torch.allclose(maps[0].sum(-1), torch.ones(3, config.n_heads, 37), atol=1e-5)
    no_cls = ViT(ViTConfig(cls_token=False, positions="none"))
    assert no_cls(x).shape == (3, 32)


def test_vit_without_positions_ignores_patch_order():
    """With positions="none" and mean pooling, shuffling the patches leaves the output unchanged."""
    vit = ViT(ViTConfig(cls_token=False, positions="none", patch_size=12))
    x = torch.rand(2, 3, 24, 24)
    swapped = torch.cat([x[..., 12:], x[..., :12]], dim=-1)  # swap left and right patch columns
    assert torch.allclose(vit(x), vit(swapped), atol=1e-5)
    with_pos = ViT(ViTConfig(cls_token=False, patch_size=12))
    torch.nn.init.normal_(with_pos.transformer.positions.embedding.weight)
    assert not torch.allclose(with_pos(x), with_pos(swapped), atol=1e-4)


def test_classifier_and_parameter_count():
    model = ImageClassifier(ViT(ViTConfig()), 32, 3)
    assert model(torch.rand(2, 3, 24, 24)).shape == (2, 3)
    assert 5_000 < count_parameters(model) < 60_000
