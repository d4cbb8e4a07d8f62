"""The Llama options of the course's GPT (chapter 06) against transformers' Llama modules and model."""

import pytest
import torch
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaMLP, LlamaRMSNorm

from mmlab.models.attention import MultiHeadAttention
from mmlab.models.gpt import GPT, GPTConfig, export_to_gpt2, next_token_loss
from mmlab.models.llama import export_to_llama, llama_style
from mmlab.models.transformer import RMSNorm, SwiGLU, TransformerConfig


def llama(n_kv_head=2, tie=True, theta=10000.0, bias=False, fused=False):
    torch.manual_seed(0)
    base = GPTConfig(
        vocab_size=50, block_size=32, n_layer=2, n_head=4, n_embd=32, tie_weights=tie, bias=bias, fused=fused
    )
    return GPT(llama_style(base, n_kv_head=n_kv_head, rope_theta=theta))


def train_a_little(model):
    """A few steps so no weight is at its symmetric initial value (RMSNorm gains start at 1)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        x = torch.randint(0, model.config.vocab_size, (4, 16))
        loss = next_token_loss(model.train(), (x, x.roll(-1, 1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_rms_norm_matches_llama_rms_norm():
    ours, ref = RMSNorm(24, eps=1e-6), LlamaRMSNorm(24, eps=1e-6)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(24))
        ref.weight.copy_(ours.weight)
    x = torch.randn(3, 5, 24) * 3 + 1
    torch.testing.assert_close(ours(x), ref(x), atol=1e-6, rtol=0)
    # not LayerNorm: the mean is not subtracted
    assert not torch.allclose(ours(x), torch.nn.functional.layer_norm(x, (24,), ours.weight), atol=1e-3)


def test_swiglu_matches_llama_mlp():
    config = TransformerConfig(d_model=32, n_heads=4, activation="swiglu", bias=False)
    assert config.d_ff == 88  # 2/3 of 4 * 32, rounded up to a multiple of 8
    ours = SwiGLU(config)
    ref = LlamaMLP(LlamaConfig(hidden_size=32, intermediate_size=88, hidden_act="silu", mlp_bias=False))
    ref.load_state_dict(ours.state_dict())  # the same names: gate_proj, up_proj, down_proj
    x = torch.randn(2, 7, 32)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("fast", [False, True])
def test_grouped_query_attention_equals_repeated_heads(fast):
    """GQA with 2 key/value heads = multi-head attention whose 4 key/value heads repeat them in pairs."""
    torch.manual_seed(0)
    gqa = MultiHeadAttention(32, 4, causal=True, fast=fast, n_kv_heads=2).eval()
    mha = MultiHeadAttention(32, 4, causal=True, fast=fast).eval()
    hs = 8
    with torch.no_grad():
        mha.q_proj.load_state_dict(gqa.q_proj.state_dict())
        mha.out_proj.load_state_dict(gqa.out_proj.state_dict())
        for name in ("k_proj", "v_proj"):
            small, big = getattr(gqa, name), getattr(mha, name)
            big.weight.copy_(small.weight.view(2, hs, 32).repeat_interleave(2, dim=0).reshape(32, 32))
            big.bias.copy_(small.bias.view(2, hs).repeat_interleave(2, dim=0).reshape(32))
    assert gqa.k_proj.weight.shape == (16, 32)
    x = torch.randn(2, 6, 32)
    torch.testing.assert_close(gqa(x), mha(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("n_kv_head", [None, 2])
def test_written_out_and_fast_llama_agree_and_cache_matches(n_kv_head):
    model = train_a_little(llama(n_kv_head))
    slow = GPT(model.config.__class__(**{**model.config.__dict__, "fast": False})).eval()
    slow.load_state_dict(model.state_dict())
    x = torch.randint(0, 50, (2, 20))
    with torch.no_grad():
        torch.testing.assert_close(slow(x), model(x), atol=1e-5, rtol=0)
    prompt = x[:, :5]
    cached = model.generate(prompt, 10, temperature=0.0, use_cache=True)
    uncached = model.generate(prompt, 10, temperature=0.0, use_cache=False)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize(
    ("n_kv_head", "tie", "theta", "bias", "fused"),
    [(2, True, 10000.0, False, False), (None, False, 500000.0, True, False), (2, True, 10000.0, True, True)],
)
def test_export_to_llama_same_logits_and_greedy_generation(tmp_path, n_kv_head, tie, theta, bias, fused):
    model = train_a_little(llama(n_kv_head, tie, theta, bias, fused))
    hf = export_to_llama(model, tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert hf.config.num_key_value_heads == (n_kv_head or 4)
    x = torch.randint(0, 50, (2, 32))
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, model(x), atol=1e-5, rtol=0)
    prompt = x[:, :6]
    ours = model.generate(prompt, 12, temperature=0.0)
    theirs = hf.generate(prompt, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert torch.equal(ours, theirs)


def test_exports_refuse_the_other_block(tmp_path):
    with pytest.raises(ValueError, match="export_to_gpt2"):
        export_to_llama(GPT(GPTConfig(vocab_size=20, n_layer=1, n_embd=16)), tmp_path)
    with pytest.raises(ValueError, match="export_to_llama"):
        export_to_gpt2(llama(), tmp_path)


def test_llama_config_errors():
    with pytest.raises(ValueError, match="n_kv_heads"):
        TransformerConfig(d_model=32, n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="activation"):
        GPTConfig(activation="relu")
