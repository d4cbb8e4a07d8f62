"""The mini-GPT: shapes, loss, cached vs uncached generation, stop/length rules, and export to GPT-2."""

import math

import pytest
import torch

from mmlab.data.tokenizers import CharTokenizer, train_bpe
from mmlab.models.gpt import GPT, GPTConfig, export_to_gpt2, next_token_loss

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x: int\n    y: int\n" * 20


def small(positions="learned", **kwargs) -> GPT:
    config = GPTConfig(
        vocab_size=50, block_size=32, n_layer=2, n_head=4, n_embd=32, positions=positions, **kwargs
    )
    model = GPT(config).eval()
    with torch.no_grad():  # away from the small init, so logits differ a lot between tokens
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


def test_forward_shape_tied_head_and_initial_loss():
    model = GPT(GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32))
    x = torch.randint(0, 65, (3, 16))
    assert model(x).shape == (3, 16, 65)
    assert model.lm_head.weight is model.tok_emb.weight
    # At initialisation the prediction is near uniform: loss close to ln V.
    y = torch.randint(0, 65, (3, 16))
    assert abs(next_token_loss(model, (x, y)).item() - math.log(65)) < 0.1


def test_untied_head_has_its_own_weights():
    model = GPT(GPTConfig(vocab_size=20, n_layer=1, n_embd=16, n_head=2, tie_weights=False))
    assert model.lm_head.weight is not model.tok_emb.weight


def test_next_token_loss_is_cross_entropy_of_shifted_targets():
    model = small()
    ids = torch.randint(0, 50, (2, 17))
    x, y = ids[:, :-1], ids[:, 1:]
    logp = model(x).log_softmax(-1)  # (B, T, V)
    manual = -logp.gather(-1, y[..., None]).mean()
    assert torch.allclose(next_token_loss(model, (x, y)), manual, atol=1e-6)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_causality_future_tokens_do_not_change_past_logits(positions):
    model = small(positions)
    x = torch.randint(0, 50, (1, 12))
    y = x.clone()
    y[0, 8:] = (y[0, 8:] + 1) % 50
    assert torch.allclose(model(x)[:, :8], model(y)[:, :8], atol=1e-6)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_cached_and_uncached_generation_agree(positions):
    model = small(positions)
    prompt = torch.randint(0, 50, (2, 5))
    kwargs = dict(max_new_tokens=20, temperature=0, with_logits=True)
    cached = list(model.generate_stream(prompt, use_cache=True, **kwargs))
    uncached = list(model.generate_stream(prompt, use_cache=False, **kwargs))
    assert len(cached) == len(uncached) == 20
    for (tok_c, logit_c), (tok_u, logit_u) in zip(cached, uncached):
        assert torch.equal(tok_c, tok_u)
        assert torch.allclose(logit_c, logit_u, atol=1e-5, rtol=0)
    # And the uncached logits are the plain forward pass's.
    full = model.generate(prompt, 20, temperature=0, use_cache=False)
    logits = model(full[:, :-1])[:, 4:]  # (B, 20, V): the prediction after each prefix
    assert torch.allclose(torch.stack([lg for _, lg in cached], 1), logits, atol=1e-5, rtol=0)


def test_sampled_generation_is_reproducible_with_a_generator_and_cache_independent():
    model = small()
    prompt = torch.randint(0, 50, (1, 4))
    runs = [
        model.generate(
            prompt,
            15,
            temperature=1.0,
            top_k=10,
            top_p=0.9,
            use_cache=cache,
            generator=torch.Generator().manual_seed(3),
        )
        for cache in (True, False, True)
    ]
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])


def test_generate_returns_prompt_plus_new_tokens_and_restores_training_mode():
    model = small().train()
    prompt = torch.randint(0, 50, (3, 4))
    out = model.generate(prompt, 7, temperature=0.8)
    assert out.shape == (3, 11) and torch.equal(out[:, :4], prompt)
    assert model.training
    assert model.generate(prompt, 0).shape == (3, 4)


def test_stop_token_ends_generation():
    model = small()
    prompt = torch.randint(0, 50, (1, 3))
    greedy = model.generate(prompt, 10, temperature=0)[0, 3:]
    stop = int(greedy[2])
    first = int((greedy == stop).nonzero()[0])
    stopped = model.generate(prompt, 10, temperature=0, stop_token=stop)[0, 3:]
    assert stopped.tolist() == greedy[: first + 1].tolist()


def test_stop_token_in_a_batch_waits_for_every_row_and_pads_with_it():
    model = small()
    prompt = torch.randint(0, 50, (2, 3))
    greedy = model.generate(prompt, 12, temperature=0)[:, 3:]
    stop = int(greedy[0, 0])
    out = model.generate(prompt, 12, temperature=0, stop_token=stop)[:, 3:]
    row0 = out[0].tolist()
    assert row0 == [stop] * len(row0)  # row 0 stopped at once and is padded with the stop token
    if stop not in greedy[1].tolist():
        assert out.shape[1] == 12


def test_cache_refuses_to_run_past_block_size_and_uncached_crops():
    model = small()  # block_size 32
    prompt = torch.randint(0, 50, (1, 10))
    with pytest.raises(ValueError, match="block_size=32"):
        model.generate(prompt, 30, use_cache=True)
    long = model.generate(prompt, 40, temperature=0, use_cache=False)
    assert long.shape == (1, 50)
    # The last prediction only sees the last block_size tokens.
    expected = model(long[:, -33:-1])[:, -1].argmax(-1)
    assert int(long[0, -1]) == int(expected)
    assert torch.equal(model.generate(prompt, 40, temperature=0, use_cache=None), long)
    assert model.generate(prompt, 23, use_cache=True).shape == (1, 33)  # exactly fits


def test_bad_prompt_and_settings_raise():
    model = small()
    with pytest.raises(ValueError, match="prompt"):
        model.generate(torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), 3, temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), 3, top_p=1.5)
    with pytest.raises(ValueError, match="positions"):
        GPTConfig(positions="sinusoidal")


@pytest.mark.parametrize(
    "options",
    [{"bias": True}, {"bias": False}, {"bias": False, "activation": "gelu", "fused": True}],
    ids=["bias", "no-bias", "nanogpt-style"],
)
def test_export_to_gpt2_gives_the_same_logits(tmp_path, options):
    from transformers import GPT2LMHeadModel

    model = small(**options)
    # A few training steps so the weights are not symmetric in any way.
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        x = torch.randint(0, 50, (4, 16))
        loss = next_token_loss(model.train(), (x, x.roll(-1, 1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    export_to_gpt2(model, tmp_path)
    hf = GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    x = torch.randint(0, 50, (2, 32))
    with torch.no_grad():
        assert torch.allclose(hf(x).logits, model(x), atol=1e-4, rtol=0)
    assert (tmp_path / "model.safetensors").exists()


def test_export_refuses_rotary(tmp_path):
    with pytest.raises(ValueError, match="rotary"):
        export_to_gpt2(small("rotary"), tmp_path)


def test_pipeline_text_generation_runs_on_exported_bpe_model(tmp_path):
    from transformers import pipeline

    tokenizer = train_bpe(TEXT, vocab_size=300)
    config = GPTConfig(vocab_size=len(tokenizer), block_size=64, n_layer=1, n_head=2, n_embd=32)
    model = GPT(config).eval()
    export_to_gpt2(model, tmp_path, eos_token_id=tokenizer.eos_token_id)
    tokenizer.save_pretrained(tmp_path)
    generator = pipeline("text-generation", model=str(tmp_path), tokenizer=str(tmp_path), device="cpu")
    out = generator("def add", max_new_tokens=5, do_sample=False)
    text = out[0]["generated_text"]
    assert text.startswith("def add")
    # Greedy decoding through transformers equals ours.
    ids = torch.tensor([tokenizer("def add")["input_ids"]])
    ours = model.generate(ids, 5, temperature=0, stop_token=tokenizer.eos_token_id)
    assert text == tokenizer.decode(ours[0], skip_special_tokens=True)


def test_pipeline_runs_with_the_char_tokenizer(tmp_path):
    from transformers import pipeline

    char = CharTokenizer.from_text(TEXT)
    model = GPT(GPTConfig(vocab_size=char.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=32)).eval()
    export_to_gpt2(model, tmp_path)
    generator = pipeline(
        "text-generation", model=str(tmp_path), tokenizer=char.to_transformers(), device="cpu"
    )
    text = generator("class P", max_new_tokens=6, do_sample=False)[0]["generated_text"]
    ours = model.generate(torch.tensor([char.encode("class P")]), 6, temperature=0)
    assert text == char.decode(ours[0])
