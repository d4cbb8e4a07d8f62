"""The written-out attention against PyTorch's and transformers' references (fp32, 1e-5)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmlab.models.attention import (
    KVCache,
    MultiHeadAttention,
    RotaryEmbedding,
    causal_mask,
    padding_mask,
    record_attention,
    scaled_dot_product_attention,
    separate_projections,
)

ATOL = 1e-5


def qkv(B=2, nh=3, T=5, S=None, hs=8, hv=None):
    S = S or T
    return torch.randn(B, nh, T, hs), torch.randn(B, nh, S, hs), torch.randn(B, nh, S, hv or hs)


@pytest.mark.parametrize("mask_kind", ["none", "causal", "padding", "random"])
def test_sdpa_matches_pytorch(mask_kind):
    q, k, v = qkv(T=6, hv=4)
    mask = {
        "none": None,
        "causal": causal_mask(6),
        "padding": padding_mask(torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])),
        "random": torch.rand(2, 3, 6, 6) > 0.3,
    }[mask_kind]
    if mask is not None:
        mask = mask | torch.eye(6, dtype=torch.bool)  # every query sees at least one key (else NaN rows)
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    assert out.shape == (2, 3, 6, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 6), atol=ATOL, rtol=0)
    if mask is not None:
        assert (weights.masked_select(~mask.expand_as(weights)) == 0).all(), (
            "masked keys must get zero weight"
        )


def test_sdpa_cross_lengths_and_scale():
    q, k, v = qkv(T=3, S=7)
    out, weights = scaled_dot_product_attention(q, k, v, scale=0.5)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.5), atol=ATOL, rtol=0)
    assert weights.shape == (2, 3, 3, 7)


def test_causal_mask_shape_and_cache_offset():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    # two new queries after three cached keys sit at positions 3 and 4
    expected = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(causal_mask(2, 5), expected)


def test_padding_mask_shape():
    mask = padding_mask(torch.tensor([[1, 1, 0], [1, 0, 0]]))
    assert mask.shape == (2, 1, 1, 3) and mask.dtype == torch.bool
    assert mask[1, 0, 0].tolist() == [True, False, False]


def copy_into_torch_mha(ours: MultiHeadAttention, d_model: int, n_heads: int) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    state = separate_projections(ours)  # a fused layer's stacked qkv_proj as three
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([state[f"{p}_proj.weight"] for p in "qkv"]))
        ref.in_proj_bias.copy_(torch.cat([state[f"{p}_proj.bias"] for p in "qkv"]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ref.eval()


def paths(fast: bool | str) -> dict[str, bool]:
    """The attention path: written out (False), PyTorch's kernel (True), or the fused production
    path ("fused": one QKV matrix multiply, ``is_causal``)."""
    return {"fast": bool(fast), "fused": fast == "fused"}


@pytest.mark.parametrize("fast", [False, True, "fused"])
@pytest.mark.parametrize("mask_kind", ["none", "causal", "padding"])
def test_multi_head_matches_nn_multihead_attention(fast, mask_kind):
    d_model, n_heads, T = 32, 4, 7
    ours = MultiHeadAttention(d_model, n_heads, causal=mask_kind == "causal", **paths(fast)).eval()
    ref = copy_into_torch_mha(ours, d_model, n_heads)
    x = torch.randn(2, T, d_model)
    keep = torch.tensor([[1] * T, [1] * 4 + [0] * (T - 4)])
    mask = padding_mask(keep) if mask_kind == "padding" else None
    got = ours(x, mask=mask)
    # nn.MultiheadAttention's boolean masks mean the opposite: True = NOT allowed
    kwargs = {}
    if mask_kind == "causal":
        kwargs["attn_mask"] = ~causal_mask(T)
    if mask_kind == "padding":
        kwargs["key_padding_mask"] = ~keep.bool()
    expected, _ = ref(x, x, x, need_weights=False, **kwargs)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_cross_attention_matches_nn_multihead_attention():
    ours = MultiHeadAttention(16, 2, d_context=16).eval()
    ref = copy_into_torch_mha(ours, 16, 2)
    x, context = torch.randn(2, 3, 16), torch.randn(2, 9, 16)
    expected, _ = ref(x, context, context, need_weights=False)
    torch.testing.assert_close(ours(x, context=context), expected, atol=ATOL, rtol=0)


def test_bad_head_count_is_a_clear_error():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(30, 4)


@pytest.mark.parametrize("fast", [False, True, "fused"])
def test_causal_output_does_not_see_the_future(fast):
    layer = MultiHeadAttention(16, 2, causal=True, **paths(fast)).eval()
    x = torch.randn(1, 8, 16)
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, 3, 16)  # change tokens 5, 6, 7
    before, after = layer(x), layer(changed)
    torch.testing.assert_close(before[:, :5], after[:, :5], atol=0, rtol=0)
    assert not torch.allclose(before[:, 5:], after[:, 5:]), "later outputs should change"


@pytest.mark.parametrize("fast", [False, True, "fused"])
def test_padding_does_not_change_real_outputs(fast):
    layer = MultiHeadAttention(16, 2, **paths(fast)).eval()
    x = torch.randn(1, 6, 16)
    keep = torch.tensor([[1, 1, 1, 1, 0, 0]])
    changed = x.clone()
    changed[:, 4:] = 100 * torch.randn(1, 2, 16)  # garbage in the padding
    mask = padding_mask(keep)
    torch.testing.assert_close(
        layer(x, mask=mask)[:, :4], layer(changed, mask=mask)[:, :4], atol=ATOL, rtol=0
    )
    # and they equal the outputs of the sequence without its padding
    torch.testing.assert_close(layer(x, mask=mask)[:, :4], layer(x[:, :4]), atol=ATOL, rtol=0)


@pytest.mark.parametrize("positions", ["none", "rotary"])
@pytest.mark.parametrize("fast", [False, True, "fused"])
def test_kv_cache_matches_full_causal_pass(positions, fast):
    rotary = RotaryEmbedding(8, max_len=32) if positions == "rotary" else None
    layer = MultiHeadAttention(16, 2, causal=True, rotary=rotary, **paths(fast)).eval()
    x = torch.randn(2, 7, 16)
    full = layer(x)
    cache = KVCache()
    steps = [layer(x[:, :3], kv_cache=cache)]  # a prompt of three tokens, then one token at a time
    steps += [layer(x[:, t : t + 1], kv_cache=cache) for t in range(3, 7)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=ATOL, rtol=0)
    assert cache.length == 7


def test_rotary_matches_transformers_llama():
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    hs, T = 16, 12
    rotary = RotaryEmbedding(hs, max_len=64)
    q, k = torch.randn(2, 3, T, hs), torch.randn(2, 3, T, hs)
    # cos/sin built the way LlamaRotaryEmbedding.forward builds them (theta = 10000, no scaling)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, hs, 2, dtype=torch.int64).float() / hs))
    start = 5
    freqs = torch.arange(start, start + T).float()[None, :, None] * inv_freq  # (1, T, hs/2)
    emb = torch.cat([freqs, freqs], dim=-1)
    q_ref, k_ref = apply_rotary_pos_emb(q, k, emb.cos(), emb.sin())
    torch.testing.assert_close(rotary(q, start), q_ref, atol=ATOL, rtol=0)
    torch.testing.assert_close(rotary(k, start), k_ref, atol=ATOL, rtol=0)


def test_rotary_scores_depend_only_on_relative_offset():
    rotary = RotaryEmbedding(16, max_len=64)
    q, k = torch.randn(16), torch.randn(16)

    def score(i: int, j: int) -> float:
        qi = rotary(q.expand(1, 1, 1, 16), start=i)
        kj = rotary(k.expand(1, 1, 1, 16), start=j)
        return float((qi * kj).sum())

    assert score(3, 1) == pytest.approx(score(20, 18), abs=1e-4)
    assert score(0, 7) == pytest.approx(score(30, 37), abs=1e-4)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)


def test_rotary_rejects_odd_size_and_long_input():
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7)
    with pytest.raises(ValueError, match="beyond"):
        RotaryEmbedding(8, max_len=4)(torch.randn(1, 1, 5, 8))


def test_record_attention_collects_maps_in_layer_order():
    layers = nn.Sequential(MultiHeadAttention(16, 2, fast=True), MultiHeadAttention(16, 4))
    x = torch.randn(3, 5, 16)
    with record_attention(layers) as maps:
        out = layers(x)
    assert [m.shape for m in maps] == [(3, 2, 5, 5), (3, 4, 5, 5)]
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(3, 2, 5), atol=ATOL, rtol=0)
    torch.testing.assert_close(out, layers(x))  # recording does not change the result


def test_record_attention_is_per_thread():
    """Two threads recording the same model at once each get the maps of their own input."""
    import threading

    layer = MultiHeadAttention(16, 2)
    inputs = [torch.randn(1, 3 + i, 16) for i in range(8)]
    seen: dict[int, list] = {}
    start = threading.Barrier(len(inputs))

    def work(i: int) -> None:
        start.wait()
        for _ in range(20):
            with record_attention(layer) as maps:
                layer(inputs[i])
            seen.setdefault(i, []).append(maps[0].shape[-1])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(seen[i] == [3 + i] * 20 for i in range(len(inputs)))


@pytest.mark.parametrize("n_kv_heads", [None, 2])
def test_fused_layer_keeps_one_stacked_projection_and_computes_the_unfused_function(n_kv_heads):
    fused = MultiHeadAttention(32, 4, causal=True, fast=True, fused=True, n_kv_heads=n_kv_heads).eval()
    unfused = MultiHeadAttention(32, 4, causal=True, fast=True, n_kv_heads=n_kv_heads).eval()
    d_kv = 32 // 4 * (n_kv_heads or 4)
    assert [name for name, _ in fused.named_parameters()] == [
        "qkv_proj.weight", "qkv_proj.bias", "out_proj.weight", "out_proj.bias",
    ]  # fmt: skip
    assert fused.qkv_proj.weight.shape == (32 + 2 * d_kv, 32)
    unfused.load_state_dict(separate_projections(fused))  # strict: every name maps
    x = torch.randn(2, 9, 32)
    torch.testing.assert_close(fused(x), unfused(x), atol=ATOL, rtol=0)


def test_fused_layer_refuses_a_context_clearly():
    with pytest.raises(ValueError, match="cross-attention"):
        MultiHeadAttention(16, 2, fast=True, fused=True, d_context=8)
    layer = MultiHeadAttention(16, 2, fast=True, fused=True)
    with pytest.raises(ValueError, match="own input"):
        layer(torch.randn(1, 3, 16), context=torch.randn(1, 4, 16))
