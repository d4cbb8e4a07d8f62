"""Temperature, top-k and top-p filtering against transformers' logits warpers, and sampling rules."""

import pytest
import torch
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from mmlab.sampling import sample_next, top_k_filter, top_p_filter, validate_sampling


@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_top_k_matches_transformers(k):
    logits = torch.randn(4, 50)
    expected = TopKLogitsWarper(top_k=k)(None, logits.clone())
    assert torch.equal(top_k_filter(logits, k), expected)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 0.99])
def test_top_p_matches_transformers(p):
    logits = torch.randn(6, 40) * 3
    expected = TopPLogitsWarper(top_p=p)(None, logits.clone())
    assert torch.equal(top_p_filter(logits, p).isinf(), expected.isinf())


def test_top_p_keeps_smallest_set_reaching_p_including_the_crossing_token():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = ~top_p_filter(probs.log(), 0.7).isinf()
    # 0.5 < 0.7, 0.5 + 0.3 = 0.8 >= 0.7: the second token crosses the threshold and stays.
    assert kept.tolist() == [[True, True, False, False]]
    for p in torch.linspace(0.05, 0.95, 19).tolist():
        logits = torch.randn(3, 30) * 2
        keep = ~top_p_filter(logits, p).isinf()
        probs = logits.softmax(-1)
        mass = (probs * keep).sum(-1)
        assert (mass >= p - 1e-6).all()  # reaches p
        smallest_kept = torch.where(keep, probs, torch.inf).min(-1).values
        assert (mass - smallest_kept < p + 1e-6).all()  # without its least likely token it would not


def test_top_p_always_keeps_the_most_likely_token_and_p_one_keeps_all():
    logits = torch.tensor([[10.0, 0.0, -1.0]])
    assert (~top_p_filter(logits, 1e-6).isinf()).sum() == 1
    assert not top_p_filter(torch.randn(2, 100), 1.0).isinf().any()


def test_top_k_never_samples_outside_the_k_best():
    logits = torch.randn(2, 20)
    best = logits.topk(5, dim=-1).indices
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        token = sample_next(logits, temperature=2.0, top_k=5, generator=gen)  # (2, 1)
        assert (token == best).any(-1).all()


def test_top_p_never_samples_outside_the_nucleus():
    logits = torch.randn(1, 20) * 2
    allowed = ~top_p_filter(logits, 0.6).isinf()
    gen = torch.Generator().manual_seed(0)
    seen = {int(sample_next(logits, 1.0, top_p=0.6, generator=gen)) for _ in range(300)}
    assert all(allowed[0, i] for i in seen)


def test_temperature_zero_is_greedy():
    logits = torch.randn(5, 30)
    assert torch.equal(sample_next(logits, temperature=0).squeeze(-1), logits.argmax(-1))


def test_sampling_frequencies_follow_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    gen = torch.Generator().manual_seed(0)
    draws = torch.cat([sample_next(logits, 1.0, generator=gen) for _ in range(4000)]).flatten()
    freq = torch.bincount(draws, minlength=3).float() / len(draws)
    assert torch.allclose(freq, logits.softmax(-1)[0], atol=0.03)


def test_low_temperature_concentrates_on_the_argmax():
    logits = torch.tensor([[1.0, 0.8, 0.5]])
    gen = torch.Generator().manual_seed(0)
    draws = [int(sample_next(logits, 0.05, generator=gen)) for _ in range(200)]
    assert draws.count(0) > 190


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": 0.0}, "top_p"),
    ],
)
def test_absurd_settings_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        validate_sampling(**kwargs)
    with pytest.raises(ValueError, match=message):
        sample_next(torch.randn(1, 5), **{"temperature": 1.0, **kwargs})
