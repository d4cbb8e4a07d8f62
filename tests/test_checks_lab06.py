"""Lab 06 checks: the right answers pass, each common mistake gets its own message, unfinished work says so."""

import math

import pytest
import torch

from mmlab.checks import lab06
from mmlab.checks.framework import CheckFailed
from mmlab.sampling import top_k_filter, top_p_filter

# ----------------------------------------------------------------------------- right answers


def batch_causal_mask(lengths, T):
    pos = torch.arange(T)
    return (pos[None, :] <= pos[:, None])[None] & (pos[None, :] < lengths[:, None])[:, None, :]


def sample_token(logits, temperature, generator=None):
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    return torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator)


def cached_step(q_new, k_new, v_new, cache_k, cache_v):
    cache_k = torch.cat([cache_k, k_new], dim=2)
    cache_v = torch.cat([cache_v, v_new], dim=2)
    weights = (q_new @ cache_k.transpose(-2, -1) / math.sqrt(q_new.size(-1))).softmax(-1)
    return weights @ cache_v, cache_k, cache_v


def not_done(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize(
    ("check", "fn"),
    [
        (lab06.check_batch_causal_mask, batch_causal_mask),
        (lab06.check_top_k_filter, top_k_filter),
        (lab06.check_top_p_filter, top_p_filter),
        (lab06.check_sample_token, sample_token),
        (lab06.check_cached_step, cached_step),
    ],
)
def test_right_answers_pass_and_unfinished_says_so(check, fn, capsys):
    assert check(fn)
    assert "checks passed" in capsys.readouterr().out
    assert not check(not_done)
    assert "not implemented yet" in capsys.readouterr().out


def expect_message(check, fn, message):
    with pytest.raises(CheckFailed) as info:
        check(fn)
    assert message in str(info.value), str(info.value)


# ----------------------------------------------------------------------------- batch causal mask
def _mask(diagonal=0, upper=False, padding="keys"):
    def fn(lengths, T):
        ones = torch.ones(T, T, dtype=torch.bool)
        causal = ones.triu() if upper else ones.tril(diagonal)
        real = torch.arange(T)[None, :] < lengths[:, None]
        if padding == "keys":
            return causal[None] & real[:, None, :]
        if padding == "queries":
            return causal[None] & real[:, :, None]
        return causal[None].expand(len(lengths), T, T)

    return fn


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_mask(diagonal=1), "lets token t see token t+1"),
        (lambda lengths, T: ~batch_causal_mask(lengths, T), "inverted mask"),
        (_mask(upper=True), "triu instead of tril"),
        (_mask(padding="none"), "padding ignored"),
        (_mask(padding="queries"), "query axis"),
        (lambda lengths, T: batch_causal_mask(lengths, T).float(), "boolean tensor"),
        (lambda lengths, T: torch.ones(T, T, dtype=torch.bool).tril(), "one mask for the whole batch"),
    ],
)
def test_batch_causal_mask_mistakes(fn, message):
    expect_message(lab06.check_batch_causal_mask, fn, message)


# ----------------------------------------------------------------------------- top-k
def _k_smallest(logits, k):
    kth = torch.topk(logits, k, dim=-1, largest=False).values[..., -1:]
    return logits.masked_fill(logits > kth, -math.inf)


def _k_in_place(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    logits[logits < kth] = -math.inf
    return logits


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_k_smallest, "k smallest"),
        (lambda logits, k: top_k_filter(logits, k + 1), "k + 1 tokens kept"),
        (
            lambda logits, k: top_k_filter(logits, max(k - 1, 1)) if k > 1 else top_k_filter(logits, k + 1),
            "off by one",
        ),
        (lambda logits, k: top_k_filter(logits, k).nan_to_num(neginf=0.0), "0 instead of -inf"),
        (lambda logits, k: top_k_filter(logits, k).softmax(-1), "probabilities returned"),
        (_k_in_place, "in place"),
    ],
)
def test_top_k_mistakes(fn, message):
    expect_message(lab06.check_top_k_filter, fn, message)


# ----------------------------------------------------------------------------- top-p
def _p_drops_crossing(logits, p):
    probs, order = logits.softmax(-1).sort(-1, descending=True)
    drop = probs.cumsum(-1) > p
    drop[..., 0] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), -math.inf)


def _p_on_logits(logits, p):
    values, order = logits.sort(-1, descending=True)
    drop = values.cumsum(-1) - values >= p
    drop[..., 0] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), -math.inf)


def _p_ascending(logits, p):
    probs, order = logits.softmax(-1).sort(-1)
    drop = probs.cumsum(-1) - probs >= p
    drop[..., 0] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), -math.inf)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_p_drops_crossing, "drops the token crossing the threshold"),
        (_p_on_logits, "over logits instead of probabilities"),
        (_p_ascending, "ascending order"),
        (lambda logits, p: top_p_filter(logits, p).nan_to_num(neginf=0.0), "0 instead of -inf"),
        (lambda logits, p: top_p_filter(logits, p).softmax(-1), "probabilities returned"),
    ],
)
def test_top_p_mistakes(fn, message):
    expect_message(lab06.check_top_p_filter, fn, message)


# ----------------------------------------------------------------------------- sampling
def _sample(transform):
    def fn(logits, temperature, generator=None):
        if temperature == 0:
            return logits.argmax(-1, keepdim=True)
        return torch.multinomial(transform(logits, temperature), 1, generator=generator)

    return fn


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_sample(lambda z, t: z / t), "sampling from logits instead of probabilities"),
        (_sample(lambda z, t: z.softmax(-1)), "the temperature ignored"),
        (_sample(lambda z, t: (z * t).softmax(-1)), "multiplied by the temperature"),
        (_sample(lambda z, t: z.softmax(-1) / t), "temperature ignored"),
        (lambda z, t, generator=None: torch.multinomial((z / t).softmax(-1), 1), "temperature 0 not handled"),
        (
            lambda z, t, generator=None: torch.multinomial((z / max(t, 0.5)).softmax(-1), 1),
            "temperature 0 not handled",
        ),
        (lambda z, t, generator=None: sample_token(z, t, generator).squeeze(-1), "shape"),
    ],
)
def test_sample_token_mistakes(fn, message):
    expect_message(lab06.check_sample_token, fn, message)


# ----------------------------------------------------------------------------- cached step
def _step(axis=2, return_old=False, attend="all", scale=True):
    def fn(q, k, v, cache_k, cache_v):
        new_k, new_v = torch.cat([cache_k, k], dim=axis), torch.cat([cache_v, v], dim=axis)
        keys, values = (
            (cache_k, cache_v) if attend == "cache" else (k, v) if attend == "new" else (new_k, new_v)
        )
        scores = q @ keys.transpose(-2, -1) / (math.sqrt(q.size(-1)) if scale else 1.0)
        out = scores.softmax(-1) @ values
        return (out, cache_k, cache_v) if return_old else (out, new_k, new_v)

    return fn


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_step(axis=0), "wrong axis"),
        (_step(axis=1), "wrong axis"),
        (_step(axis=3), "wrong axis"),
        (_step(return_old=True), "old cache returned"),
        (_step(attend="new"), "new token only"),
        (_step(attend="cache"), "cached keys only"),
        (_step(scale=False), "not scaled"),
        (lambda *args: _step()(*args)[0], "should return a tuple"),
    ],
)
def test_cached_step_mistakes(fn, message):
    expect_message(lab06.check_cached_step, fn, message)


# ----------------------------------------------------------------------------- RMSNorm and SwiGLU
def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def swiglu(x, w_gate, w_up, w_down):
    return (torch.nn.functional.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T


@pytest.mark.parametrize(("check", "fn"), [(lab06.check_rms_norm, rms_norm), (lab06.check_swiglu, swiglu)])
def test_llama_parts_right_answers_pass(check, fn, capsys):
    assert check(fn)
    assert "checks passed" in capsys.readouterr().out
    assert not check(not_done)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (
            lambda x, w, eps: x * torch.rsqrt(x.mean(-1, keepdim=True) ** 2 + eps) * w,
            "mean instead of the root",
        ),
        (lambda x, w, eps: torch.nn.functional.layer_norm(x, x.shape[-1:], w, eps=eps), "LayerNorm"),
        (lambda x, w, eps: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True)) * w, "eps missing"),
        (lambda x, w, eps: x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * w, "outside the square root"),
        (lambda x, w, eps: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps), "gain (weight) missing"),
        (lambda x, w, eps: x * torch.rsqrt(x.pow(2).mean() + eps) * w, "over every element"),
    ],
)
def test_rms_norm_mistakes_are_named(wrong, message):
    expect_message(lab06.check_rms_norm, wrong, message)


def test_rms_norm_in_place_is_named():
    def in_place(x, w, eps):
        return x.mul_(torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)).mul_(w)

    expect_message(lab06.check_rms_norm, in_place, "in place")


silu = torch.nn.functional.silu


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda x, g, u, d: (silu(x @ u.T) * (x @ g.T)) @ d.T, "gate and up projections swapped"),
        (lambda x, g, u, d: ((x @ g.T) * (x @ u.T)) @ d.T, "SiLU missing"),
        (lambda x, g, u, d: silu((x @ g.T) * (x @ u.T)) @ d.T, "SiLU applied to the product"),
        (lambda x, g, u, d: (torch.nn.functional.gelu(x @ g.T) * (x @ u.T)) @ d.T, "GELU instead of SiLU"),
        (lambda x, g, u, d: silu(x @ g.T) * (x @ u.T), "down projection missing"),
    ],
)
def test_swiglu_mistakes_are_named(wrong, message):
    expect_message(lab06.check_swiglu, wrong, message)


# ----------------------------------------------------------------------------- more typical mistakes
def _mask_both_axes(lengths, T):
    pos = torch.arange(T)
    real = pos[None, :] < lengths[:, None]
    return (pos[None, :] <= pos[:, None])[None] & real[:, None, :] & real[:, :, None]


def _mask_length_inclusive(lengths, T):
    pos = torch.arange(T)
    return (pos[None, :] <= pos[:, None])[None] & (pos[None, :] <= lengths[:, None])[:, None, :]


def _k_sorted(logits, k):
    values = logits.sort(-1, descending=True).values
    return values.masked_fill(torch.arange(logits.size(-1)) >= k, -math.inf)


def _p_sorted(logits, p):
    values = logits.sort(-1, descending=True).values
    probs = values.softmax(-1)
    drop = probs.cumsum(-1) - probs >= p
    return values.masked_fill(drop, -math.inf)


def _sample_no_generator(logits, temperature, generator=None):
    return sample_token(logits, temperature, None)


def _step_softmax_queries(q, k, v, cache_k, cache_v):
    cache_k, cache_v = torch.cat([cache_k, k], dim=2), torch.cat([cache_v, v], dim=2)
    weights = (q @ cache_k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(-2)
    return weights @ cache_v, cache_k, cache_v


def _step_scale_hs(q, k, v, cache_k, cache_v):
    cache_k, cache_v = torch.cat([cache_k, k], dim=2), torch.cat([cache_v, v], dim=2)
    weights = (q @ cache_k.transpose(-2, -1) / q.size(-1)).softmax(-1)
    return weights @ cache_v, cache_k, cache_v


def _silu(x):
    return x * torch.sigmoid(x)


MORE_MISTAKES = [
    (lab06.check_batch_causal_mask, _mask_both_axes, "alone or together with the keys"),
    (lab06.check_batch_causal_mask, _mask_length_inclusive, "j <= lengths[b]"),
    (lab06.check_top_k_filter, _k_sorted, "sorted order"),
    (lab06.check_top_k_filter, lambda logits, k: torch.topk(logits, k).values, "only the k largest values"),
    (lab06.check_top_p_filter, _p_sorted, "sorted order"),
    (
        lab06.check_sample_token,
        lambda z, t, generator=None: z.argmax(-1, keepdim=True),
        "always the most likely",
    ),
    (lab06.check_sample_token, _sample_no_generator, "generator"),
    (lab06.check_cached_step, _step_softmax_queries, "softmax over the wrong axis"),
    (lab06.check_cached_step, _step_scale_hs, "divided by hs instead of sqrt(hs)"),
    (
        lab06.check_rms_norm,
        lambda x, w, eps: x / (x.pow(2).mean(-1, keepdim=True) + eps) * w,
        "square root missing",
    ),
    (
        lab06.check_rms_norm,
        lambda x, w, eps: x * torch.rsqrt(x.var(-1, keepdim=True) + eps) * w,
        "variance",
    ),
    (
        lab06.check_swiglu,
        lambda x, g, u, d: (torch.sigmoid(x @ g.T) * (x @ u.T)) @ d.T,
        "sigmoid instead of SiLU",
    ),
    (lab06.check_swiglu, lambda x, g, u, d: (torch.relu(x @ g.T) * (x @ u.T)) @ d.T, "ReLU instead of SiLU"),
    (lab06.check_swiglu, lambda x, g, u, d: (_silu(x @ g) * (x @ u)) @ d, "(out, in)"),
]


@pytest.mark.parametrize(("check", "wrong", "message"), MORE_MISTAKES)
def test_more_mistakes_are_named(check, wrong, message):
    expect_message(check, wrong, message)
