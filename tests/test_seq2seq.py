"""The encoder-decoder against torch.nn.Transformer (copied weights), its caches, and the BART export."""

import pytest
import torch
from torch import nn

from mmlab.decoding import beam_search, generate
from mmlab.models.attention import causal_mask, padding_mask
from mmlab.models.seq2seq import Seq2Seq, Seq2SeqConfig, decoder_only_tensors, export_to_bart, seq2seq_loss

C, H, FF = 32, 4, 48


def _copy_attention(ours, theirs: nn.MultiheadAttention) -> None:
    q, k, v = theirs.in_proj_weight.chunk(3)
    qb, kb, vb = theirs.in_proj_bias.chunk(3)
    for proj, w, b in ((ours.q_proj, q, qb), (ours.k_proj, k, kb), (ours.v_proj, v, vb)):
        proj.weight.copy_(w)
        proj.bias.copy_(b)
    ours.out_proj.weight.copy_(theirs.out_proj.weight)
    ours.out_proj.bias.copy_(theirs.out_proj.bias)


def _copy(dst: nn.Module, src: nn.Module) -> None:
    dst.load_state_dict(src.state_dict())


@torch.no_grad()
def test_stacks_equal_torch_nn_transformer():
    torch.manual_seed(0)
    ref = nn.Transformer(C, H, 2, 3, FF, dropout=0.0, activation="gelu", batch_first=True)
    model = Seq2Seq(
        Seq2SeqConfig(
            vocab_size=11,
            d_model=C,
            n_heads=H,
            n_encoder_layers=2,
            n_decoder_layers=3,
            d_ff=FF,
            final_norm=True,
        )
    )
    for ours, theirs in zip(model.encoder.blocks, ref.encoder.layers):
        _copy_attention(ours.attn, theirs.self_attn)
        _copy(ours.mlp.fc, theirs.linear1), _copy(ours.mlp.proj, theirs.linear2)
        _copy(ours.norm1, theirs.norm1), _copy(ours.norm2, theirs.norm2)
    for ours, theirs in zip(model.decoder.blocks, ref.decoder.layers):
        _copy_attention(ours.attn, theirs.self_attn)
        _copy_attention(ours.cross_attn, theirs.multihead_attn)
        _copy(ours.mlp.fc, theirs.linear1), _copy(ours.mlp.proj, theirs.linear2)
        _copy(ours.norm1, theirs.norm1), _copy(ours.norm_cross, theirs.norm2), _copy(ours.norm2, theirs.norm3)
    _copy(model.encoder.norm, ref.encoder.norm), _copy(model.decoder.norm, ref.decoder.norm)
    src, tgt = torch.randn(3, 7, C), torch.randn(3, 5, C)
    src_mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5]).bool()
    ref.train()  # the training path: the eval fast path zeroes padded positions instead of computing them
    expected = ref(
        src, tgt, tgt_mask=~causal_mask(5), src_key_padding_mask=~src_mask, memory_key_padding_mask=~src_mask
    )
    memory = model.encoder(src, mask=padding_mask(src_mask))
    got = model.decoder(tgt, context=memory, context_mask=padding_mask(src_mask))
    assert (got - expected).abs().max() < 1e-5


def _model(seed=0, **kwargs):
    torch.manual_seed(seed)
    config = Seq2SeqConfig(vocab_size=13, d_model=C, n_heads=H, d_ff=FF, max_len=16, **kwargs)
    model = Seq2Seq(config).eval()
    with torch.no_grad():  # random, larger weights: peaked, varied distributions to decode
        for p in model.parameters():
            p.normal_(0, 0.5) if p.dim() > 1 else None
    return model


def _sources():
    return torch.tensor([[5, 6, 7, 8, 9, 2], [4, 9, 9, 2, 0, 0], [7, 2, 0, 0, 0, 0]])


@torch.no_grad()
def test_cached_steps_equal_the_full_forward_and_padding_is_ignored():
    model = _model()
    src = _sources()
    tgt = torch.tensor([[1, 4, 5, 6, 7], [1, 7, 7, 3, 8], [1, 3, 10, 11, 12]])
    full = model(src, tgt)  # (B, T, V)
    state = model.start(src)
    steps = torch.stack([state.step(tgt[:, t : t + 1]) for t in range(tgt.size(1))], dim=1)
    assert (steps - full).abs().max() < 1e-5
    # more padding on the source changes nothing when the mask is there
    padded = torch.cat([src, torch.zeros(3, 4, dtype=torch.long)], dim=1)
    assert (model(padded, tgt) - full).abs().max() < 1e-5
    unmasked = model.decode(tgt, model.encode(padded), None)
    assert (unmasked[1:] - full[1:]).abs().max() > 1e-3  # without the mask the padding leaks in


@torch.no_grad()
def test_export_to_bart_same_logits_and_generation(tmp_path):
    from transformers import GenerationConfig

    model = _model(seed=1)
    hf = export_to_bart(model, tmp_path)
    src = _sources()
    tgt = torch.tensor([[1, 4, 5], [1, 7, 7], [1, 3, 10]])
    hf_logits = hf(input_ids=src, attention_mask=src != 0, decoder_input_ids=tgt).logits
    assert (hf_logits - model(src, tgt)).abs().max() < 1e-5
    config = GenerationConfig(
        max_new_tokens=10,
        do_sample=False,
        num_beams=1,
        decoder_start_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    out = hf.generate(input_ids=src, attention_mask=src != 0, generation_config=config)
    greedy = generate(model.start(src), torch.full((3,), 1), 2, 10)
    for row, tokens in zip(out.tolist(), greedy):
        row = row[1:]
        assert row[: len(tokens)] == tokens and (len(row) == len(tokens) or row[len(tokens)] == 2)
    differs = 0
    for k, lp, early in ((3, 1.0, False), (4, 0.5, True), (2, 2.0, "never")):
        config = GenerationConfig(
            max_new_tokens=8,
            do_sample=False,
            num_beams=k,
            length_penalty=lp,
            early_stopping=early,
            decoder_start_token_id=1,
            eos_token_id=2,
            pad_token_id=0,
        )
        out = hf.generate(input_ids=src, attention_mask=src != 0, generation_config=config)
        ours = beam_search(model.start(src), torch.full((3,), 1), 2, 8, k, lp, early)
        for i, (row, hyps) in enumerate(zip(out.tolist(), ours)):
            expected = [t for t in row[1:] if t not in (0, 2)]
            assert hyps[0].tokens == expected, (k, lp, early)
            differs += hyps[0].tokens != greedy[i]
    assert differs > 0  # the cases are not ones where beam search just repeats greedy decoding


def test_loss_and_decoder_only_rows():
    model = _model()
    batch = {"src": _sources(), "tgt": torch.tensor([[4, 5, 2], [6, 2, 0], [2, 0, 0]])}
    loss = seq2seq_loss(model, batch)
    assert torch.isfinite(loss) and loss.requires_grad
    rows = decoder_only_tensors(batch["src"], batch["tgt"], pad_id=0, sep_id=4)
    assert rows["x"][2].tolist()[:4] == [7, 2, 4, 0]  # source, <sep>, then padding
    assert rows["x"][1].tolist()[:6] == [4, 9, 9, 2, 4, 6]
    assert rows["y"][1].tolist()[:6] == [-100, -100, -100, -100, 6, 2]


def test_too_long_inputs_are_refused():
    model = _model()
    with pytest.raises(ValueError, match="longer than max_len"):
        model.encode(torch.ones(1, 17, dtype=torch.long))
