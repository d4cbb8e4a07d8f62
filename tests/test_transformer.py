"""Transformer blocks and stacks against nn.TransformerEncoderLayer; position encodings."""

import math

import pytest
import torch
from torch import nn

from mmlab.models.attention import KVCache, causal_mask, padding_mask
from mmlab.models.encoder import EncoderClassifier, EncoderConfig
from mmlab.models.transformer import (
    LearnedPositions,
    SinusoidalPositions,
    Transformer,
    TransformerBlock,
    TransformerConfig,
    sinusoidal_table,
)

ATOL = 1e-5


def test_sinusoidal_table_matches_the_formula():
    T, d = 20, 16
    table = sinusoidal_table(T, d)
    for t in range(T):
        for i in range(d // 2):
            angle = t / 10000 ** (2 * i / d)
            assert table[t, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
            assert table[t, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)


def test_sinusoidal_table_odd_width():
    table = sinusoidal_table(5, 7)
    assert table.shape == (5, 7)
    assert table[0, 0::2].abs().max() == 0 and (table[0, 1::2] == 1).all()


def test_position_modules_add_to_the_input():
    x = torch.randn(2, 4, 8)
    torch.testing.assert_close(SinusoidalPositions(10, 8)(x, start=3), x + sinusoidal_table(10, 8)[3:7])
    learned = LearnedPositions(10, 8)
    torch.testing.assert_close(learned(x), x + learned.embedding.weight[:4])


def copy_into_torch_layer(block: TransformerBlock, config: TransformerConfig) -> nn.TransformerEncoderLayer:
    ref = nn.TransformerEncoderLayer(
        config.d_model,
        config.n_heads,
        dim_feedforward=config.d_ff,
        dropout=0.0,
        activation=config.activation,
        layer_norm_eps=config.layer_norm_eps,
        batch_first=True,
        norm_first=config.norm_first,
    )
    attn = block.attn
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(
            torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
        )
        ref.self_attn.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
        ref.self_attn.out_proj.load_state_dict(attn.out_proj.state_dict())
        ref.linear1.load_state_dict(block.mlp.fc.state_dict())
        ref.linear2.load_state_dict(block.mlp.proj.state_dict())
        ref.norm1.load_state_dict(block.norm1.state_dict())
        ref.norm2.load_state_dict(block.norm2.state_dict())
    return ref.eval()


def randomize_norms(module: nn.Module) -> None:
    """LayerNorms start as identity; random gains and biases make the comparison meaningful."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.2)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["gelu", "relu"])
@pytest.mark.parametrize("fast", [False, True])
def test_block_matches_nn_transformer_encoder_layer(norm_first, activation, fast):
    config = TransformerConfig(d_model=32, n_heads=4, norm_first=norm_first, activation=activation, fast=fast)
    block = TransformerBlock(config).eval()
    randomize_norms(block)
    ref = copy_into_torch_layer(block, config)
    x = torch.randn(3, 7, 32)
    torch.testing.assert_close(block(x), ref(x), atol=ATOL, rtol=0)
    keep = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 2 + [0] * 5])
    got = block(x, mask=padding_mask(keep))
    expected = ref(x, src_key_padding_mask=~keep.bool())
    real = keep.bool()
    # PyTorch's fast path may fill padded rows with zeros; compare the real positions
    torch.testing.assert_close(got[real], expected[real], atol=ATOL, rtol=0)


def test_causal_block_matches_reference_with_causal_mask():
    config = TransformerConfig(d_model=16, n_heads=2, causal=True)
    block = TransformerBlock(config).eval()
    randomize_norms(block)
    ref = copy_into_torch_layer(block, config)
    x = torch.randn(2, 6, 16)
    torch.testing.assert_close(block(x), ref(x, src_mask=~causal_mask(6)), atol=ATOL, rtol=0)


def test_stack_matches_nn_transformer_encoder():
    config = TransformerConfig(d_model=32, n_heads=4, n_layers=3, positions="none")
    ours = Transformer(config).eval()
    randomize_norms(ours)
    layers = [copy_into_torch_layer(block, config) for block in ours.blocks]
    ref = nn.TransformerEncoder(layers[0], num_layers=3, norm=nn.LayerNorm(32), enable_nested_tensor=False)
    with torch.no_grad():
        for ref_layer, layer in zip(ref.layers, layers):
            ref_layer.load_state_dict(layer.state_dict())
        ref.norm.load_state_dict(ours.norm.state_dict())
    ref.eval()
    x = torch.randn(2, 9, 32)
    torch.testing.assert_close(ours(x), ref(x), atol=ATOL, rtol=0)


def test_written_out_and_fast_stacks_agree():
    slow = Transformer(TransformerConfig(d_model=32, n_heads=4, n_layers=2, causal=True)).eval()
    fast = Transformer(TransformerConfig(d_model=32, n_heads=4, n_layers=2, causal=True, fast=True)).eval()
    fast.load_state_dict(slow.state_dict())
    x = torch.randn(2, 10, 32)
    torch.testing.assert_close(slow(x), fast(x), atol=ATOL, rtol=0)


@pytest.mark.parametrize("positions", ["sinusoidal", "learned", "rotary", "none"])
def test_kv_cache_stack_matches_full_pass(positions):
    config = TransformerConfig(
        d_model=32, n_heads=4, n_layers=2, causal=True, positions=positions, max_len=16
    )
    model = Transformer(config).eval()
    x = torch.randn(2, 9, 32)
    full = model(x)
    caches = [KVCache() for _ in range(config.n_layers)]
    parts = [model(x[:, :4], kv_caches=caches)]
    parts += [model(x[:, t : t + 1], kv_caches=caches) for t in range(4, 9)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=ATOL, rtol=0)


def test_without_positions_the_encoder_is_permutation_equivariant():
    model = Transformer(TransformerConfig(d_model=16, n_heads=2, positions="none")).eval()
    x = torch.randn(1, 6, 16)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    torch.testing.assert_close(model(x[:, order]), model(x)[:, order], atol=ATOL, rtol=0)
    with_positions = Transformer(TransformerConfig(d_model=16, n_heads=2)).eval()
    assert not torch.allclose(with_positions(x[:, order]), with_positions(x)[:, order], atol=1e-3)


def test_cross_attention_block_needs_context():
    config = TransformerConfig(d_model=16, n_heads=2, cross_attention=True, d_context=8)
    block = TransformerBlock(config)
    assert block(torch.randn(2, 3, 16), context=torch.randn(2, 5, 8)).shape == (2, 3, 16)
    with pytest.raises(ValueError, match="context"):
        block(torch.randn(2, 3, 16))


def test_config_and_length_errors():
    with pytest.raises(ValueError, match="divisible"):
        TransformerConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="positions"):
        TransformerConfig(positions="absolute")
    with pytest.raises(ValueError, match="max_len"):
        Transformer(TransformerConfig(max_len=4))(torch.randn(1, 5, 64))


@pytest.mark.parametrize("head", ["token", "sequence"])
def test_encoder_classifier_shapes_and_padding(head):
    config = EncoderConfig(
        vocab_size=11, n_classes=5, head=head, transformer=TransformerConfig(32, 4, 2, max_len=8)
    )
    model = EncoderClassifier(config).eval()
    ids = torch.tensor([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    keep = (ids != 0).long()
    logits = model(ids, keep)
    assert logits.shape == ((2, 5, 5) if head == "token" else (2, 5))
    # what sits in the padding does not change the predictions for real tokens
    other = ids.clone()
    other[0, 3:] = torch.tensor([7, 9])
    changed = model(other, keep)
    if head == "token":
        torch.testing.assert_close(changed[0, :3], logits[0, :3], atol=ATOL, rtol=0)
    else:
        torch.testing.assert_close(changed[0], logits[0], atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="batch, time"):
        model(ids[0])
