"""Checks for lab 06: the batch causal mask, top-k and top-p filtering, sampling with a temperature,
and one cached decoding step.

Signatures the lab asks for:

* ``batch_causal_mask(lengths[B], T) -> bool[B, T, T]``: True where query i of sequence b may
  attend to key j, i.e. ``j <= i`` and ``j < lengths[b]`` (keys beyond a sequence's length are
  padding);
* ``top_k_filter(logits[B, V], k)`` and ``top_p_filter(logits[B, V], p) -> logits[B, V]`` with the
  removed entries set to ``-inf``;
* ``sample_token(logits[B, V], temperature, generator=None) -> ids[B, 1]``; temperature 0 is greedy;
* ``cached_step(q_new, k_new, v_new, cache_k, cache_v) -> (out, cache_k, cache_v)`` with
  ``q_new, k_new, v_new`` of shape ``(B, nh, 1, hs)`` and caches ``(B, nh, T, hs)``: append the new
  key and value to the cache, attend from the new query to all of them, return the output
  ``(B, nh, 1, hs)`` and the grown caches ``(B, nh, T + 1, hs)``;
* ``rms_norm(x[..., C], weight[C], eps) -> [..., C]``: Llama's RMSNorm;
* ``swiglu(x[..., C], w_gate[H, C], w_up[H, C], w_down[C, H]) -> [..., C]``: Llama's feed-forward,
  with weights stored as ``nn.Linear`` stores them (out, in).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from mmlab.checks.framework import CheckFailed, call, describe, expect_close, expect_true, lab_check
from mmlab.models.transformer import RMSNorm, SwiGLU, TransformerConfig
from mmlab.sampling import top_k_filter, top_p_filter

__all__ = [
    "check_batch_causal_mask",
    "check_cached_step",
    "check_rms_norm",
    "check_sample_token",
    "check_swiglu",
    "check_top_k_filter",
    "check_top_p_filter",
    "reference_batch_causal_mask",
    "reference_cached_step",
]

# ----------------------------------------------------------------------------- batch causal mask
SEES_NEXT = "a mask that lets token t see token t+1: use tril() (diagonal 0), keys j <= i only"
INVERTED = "an inverted mask (True where attention is blocked): True must mean 'may attend'"
UPPER = "the future visible and the past hidden (triu instead of tril): query i may see keys j <= i"
NO_PADDING = "padding ignored: keys j >= lengths[b] are padding and must be masked for every query"
QUERY_PADDING = (
    "padding masked on the query axis (rows), alone or together with the keys (the two give the same mask "
    "here): a padded query's row is then all False and its softmax is NaN. Mask only the keys (columns), "
    "mask[b, :, j] for j >= lengths[b]"
)
LENGTH_INCLUSIVE = "padding off by one (j <= lengths[b]): key j is real when j < lengths[b]"


def reference_batch_causal_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """``(B, T, T)``: True where key j may be attended from query i (``j <= i`` and ``j < lengths[b]``)."""
    pos = torch.arange(T)
    causal = pos[None, :] <= pos[:, None]  # (T, T): key j <= query i
    real_keys = pos[None, :] < lengths[:, None]  # (B, T)
    return causal[None] & real_keys[:, None, :]  # (B, T, T)


@lab_check("batch_causal_mask")
def check_batch_causal_mask(student_fn: Callable) -> None:
    for lengths, T in ((torch.tensor([3, 5, 1]), 5), (torch.tensor([4]), 4), (torch.tensor([6, 2]), 7)):
        case = f"lengths={lengths.tolist()}, T={T}"
        got = call(student_fn, lengths.clone(), T, case=case)
        expected = reference_batch_causal_mask(lengths, T)
        if not isinstance(got, torch.Tensor):
            expect_close(got, expected, what="mask", case=case)  # names the wrong type
        if got.dtype != torch.bool:
            raise CheckFailed(
                f"your mask for {case} has dtype {got.dtype}; it should be a boolean tensor (torch.bool)"
            )
        if got.shape == (T, T) and len(lengths) > 1:
            raise CheckFailed(
                f"your mask for {case} has shape {(T, T)}: one mask for the whole batch. Each sequence has its "
                f"own padding, so build one mask per sequence, shape (B, T, T) = {tuple(expected.shape)}"
            )
        pos = torch.arange(T)
        real = pos[None, :] < lengths[:, None]  # (B, T)
        ones = torch.ones(T, T, dtype=torch.bool)
        mistakes = {
            SEES_NEXT: ones.tril(1)[None] & real[:, None, :],
            INVERTED: ~expected,
            UPPER: ones.triu()[None] & real[:, None, :],
            NO_PADDING: ones.tril()[None].expand(len(lengths), T, T),
            QUERY_PADDING: ones.tril()[None] & real[:, :, None],
            LENGTH_INCLUSIVE: ones.tril()[None] & (pos[None, :] <= lengths[:, None])[:, None, :],
        }
        expect_close(
            got.float(),
            expected.float(),
            what="mask",
            case=case,
            mistakes={k: v.float() for k, v in mistakes.items()},
        )


# ----------------------------------------------------------------------------- top-k
K_SMALLEST = "the k smallest logits kept instead of the k largest"
K_OFF_BY_ONE_MORE = "k + 1 tokens kept (off by one): keep exactly the k largest"
K_OFF_BY_ONE_LESS = "k - 1 tokens kept (off by one): keep exactly the k largest, the k-th included"
ZERO_NOT_INF = (
    "removed logits set to 0 instead of -inf: a logit of 0 still gets probability after the softmax"
)
PROBS_NOT_LOGITS = "probabilities returned instead of logits: return the logits with the removed ones at -inf"
SORTED_ORDER = (
    "the logits returned in sorted order: keep each logit at its token's position in the vocabulary "
    "(filter with masked_fill, or scatter the sorted values back)"
)
K_VALUES_ONLY = (
    "only the k largest values (torch.topk(...).values), shape (B, k): return all V logits with the others "
    "set to -inf"
)
K_BATCH_AXIS = "top-k taken over the batch axis (dim 0): take it over the vocabulary, the last axis"


@lab_check("top_k_filter")
def check_top_k_filter(student_fn: Callable) -> None:
    gen = torch.Generator().manual_seed(0)
    for B, V, k in ((3, 10, 3), (2, 7, 1), (4, 12, 5), (5, 5, 4)):
        logits = torch.randn(B, V, generator=gen) * 2
        case = f"logits of shape {(B, V)}, k={k}"
        original = logits.clone()
        got = call(student_fn, logits, k, case=case)
        if isinstance(got, torch.Tensor) and got.shape == (B, k) and k < V:
            raise CheckFailed(f"your result for {case} has shape {(B, k)}: {K_VALUES_ONLY}")
        expect_true(
            torch.equal(logits, original), f"your function changed its input logits in place for {case}"
        )
        expected = top_k_filter(logits, k)
        kth_dim0 = torch.topk(logits, min(k, B), dim=0).values[-1:]
        mistakes = {
            K_SMALLEST: logits.masked_fill(
                logits > torch.topk(logits, k, dim=-1, largest=False).values[..., -1:], -math.inf
            ),
            ZERO_NOT_INF: logits.masked_fill(expected.isinf(), 0.0),
            PROBS_NOT_LOGITS: expected.softmax(-1),
            K_BATCH_AXIS: logits.masked_fill(logits < kth_dim0, -math.inf),
        }
        mistakes[SORTED_ORDER] = top_k_filter(logits.sort(-1, descending=True).values, k)
        if k < V:
            mistakes[K_OFF_BY_ONE_MORE] = top_k_filter(logits, k + 1)
        if k > 1:
            mistakes[K_OFF_BY_ONE_LESS] = top_k_filter(logits, k - 1)
        expect_close(got, expected, what="filtered logits", case=case, mistakes=mistakes)
    full = torch.randn(2, 6, generator=gen)
    expect_close(
        call(student_fn, full, 6, case="k = V"), full, what="filtered logits", case="k = V (nothing removed)"
    )


# ----------------------------------------------------------------------------- top-p
DROPS_CROSSING = (
    "top-p that drops the token crossing the threshold: keep the smallest set whose probability *reaches* p, "
    "so the token that makes the running sum cross p stays (drop a token only if the tokens before it already "
    "sum to p)"
)
P_ON_LOGITS = (
    "the running sum taken over logits instead of probabilities: apply softmax first, then sort and sum the "
    "probabilities"
)
P_ASCENDING = "tokens sorted in ascending order: the nucleus is made of the *most* likely tokens (descending)"
P_UNSORTED = "the running sum taken in vocabulary order: sort the probabilities in descending order first"


def _top_p_variant(logits: torch.Tensor, p: float, rule: str) -> torch.Tensor:
    """Common wrong versions of top-p."""
    values = logits if rule == "logits" else logits.softmax(-1)
    if rule == "unsorted":
        order = torch.arange(values.size(-1)).expand_as(values)
        sorted_values = values
    else:
        sorted_values, order = values.sort(-1, descending=rule != "ascending")
    cumulative = sorted_values.cumsum(-1)
    drop = cumulative > p if rule == "drops_crossing" else cumulative - sorted_values >= p
    drop[..., 0] = False
    drop = drop.scatter(-1, order, drop)
    return logits.masked_fill(drop, -math.inf)


@lab_check("top_p_filter")
def check_top_p_filter(student_fn: Callable) -> None:
    gen = torch.Generator().manual_seed(1)
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3], [0.25, 0.25, 0.4, 0.1]])
    # log(probs) + 3: the same probabilities, with positive logits (so a sum over logits looks different)
    cases = [(probs.log() + 3, 0.7, "probabilities [[0.05, 0.5, 0.15, 0.3], [0.25, 0.25, 0.4, 0.1]], p=0.7")]
    for B, V, p in ((3, 10, 0.5), (2, 8, 0.9), (4, 12, 0.3)):
        cases.append((torch.randn(B, V, generator=gen) * 1.5, p, f"random logits of shape {(B, V)}, p={p}"))
    for logits, p, case in cases:
        original = logits.clone()
        got = call(student_fn, logits, p, case=case)
        expect_true(
            torch.equal(logits, original), f"your function changed its input logits in place for {case}"
        )
        expected = top_p_filter(logits, p)
        mistakes = {
            DROPS_CROSSING: _top_p_variant(logits, p, "drops_crossing"),
            P_ON_LOGITS: _top_p_variant(logits, p, "logits"),
            P_ASCENDING: _top_p_variant(logits, p, "ascending"),
            P_UNSORTED: _top_p_variant(logits, p, "unsorted"),
            ZERO_NOT_INF: logits.masked_fill(expected.isinf(), 0.0),
            PROBS_NOT_LOGITS: expected.softmax(-1),
            SORTED_ORDER: top_p_filter(logits.sort(-1, descending=True).values, p),
        }
        expect_close(got, expected, what="filtered logits", case=case, mistakes=mistakes)
    sure = torch.tensor([[8.0, 0.0, 0.0, 0.0]])
    kept = call(student_fn, sure, 0.5, case="one token with probability 0.99")
    expect_close(
        kept, top_p_filter(sure, 0.5), what="filtered logits", case="a row where one token has p = 0.99"
    )


# ----------------------------------------------------------------------------- sampling
SAMPLED_FROM_LOGITS = (
    "sampling from logits instead of probabilities: torch.multinomial needs non-negative weights; turn the "
    "(temperature-scaled) logits into probabilities with softmax first"
)
TEMPERATURE_IGNORED = (
    "the temperature ignored (or applied to the probabilities after the softmax, which multinomial's "
    "renormalisation undoes): divide the logits by it before the softmax"
)
GREEDY = (
    "temperature 0 not handled as greedy decoding: return logits.argmax(-1, keepdim=True) (dividing by 0 "
    "gives infinities)"
)
ALWAYS_GREEDY = (
    "always the most likely token (argmax) at every temperature: above 0, draw from the softmax of "
    "logits / temperature with torch.multinomial"
)
NO_GENERATOR = (
    "the generator ignored: two calls with equally seeded generators drew different tokens; pass "
    "generator=generator to torch.multinomial"
)
TEMPERATURE_MULTIPLIED = (
    "logits multiplied by the temperature: divide them by it (T < 1 sharpens, T > 1 flattens)"
)


def _frequencies(tokens: torch.Tensor, V: int) -> torch.Tensor:
    return torch.bincount(tokens.flatten(), minlength=V).double() / tokens.numel()


@lab_check("sample_token")
def check_sample_token(student_fn: Callable) -> None:
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0, 0.0]])
    V, n = logits.size(-1), 4000
    greedy_in = torch.randn(6, 9, generator=torch.Generator().manual_seed(0))
    try:
        got = student_fn(greedy_in, 0.0)
    except NotImplementedError:
        raise
    except Exception as err:
        raise CheckFailed(
            f"your function raised {type(err).__name__} at temperature 0: {GREEDY}.\n  error: {err}"
        ) from err
    if not isinstance(got, torch.Tensor) or got.shape != (6, 1):
        raise CheckFailed(f"at temperature 0 expected token ids of shape (6, 1), got {describe(got)}")
    expect_true(
        torch.equal(got.long(), greedy_in.argmax(-1, keepdim=True)), f"your tokens at temperature 0: {GREEDY}"
    )
    for temperature in (1.0, 0.5, 2.0):
        case = f"temperature {temperature}"
        batch = logits.expand(n, V).clone()
        try:
            tokens = student_fn(batch, temperature, generator=torch.Generator().manual_seed(0))
        except NotImplementedError:
            raise
        except RuntimeError as err:
            if "multinomial" in str(err) or "probability tensor" in str(err):
                raise CheckFailed(f"your function looks like {SAMPLED_FROM_LOGITS}.\n  error: {err}") from err
            raise CheckFailed(f"your function raised RuntimeError on {case}: {err}") from err
        except Exception as err:
            raise CheckFailed(f"your function raised {type(err).__name__} on {case}: {err}") from err
        if not isinstance(tokens, torch.Tensor) or tokens.shape != (n, 1):
            raise CheckFailed(f"for {case} expected token ids of shape ({n}, 1), got {describe(tokens)}")
        freq = _frequencies(tokens.long(), V)
        expected = (logits[0] / temperature).softmax(-1).double()
        mistakes = {
            SAMPLED_FROM_LOGITS: (logits[0] - logits[0].min()).double() / (logits[0] - logits[0].min()).sum(),
            TEMPERATURE_MULTIPLIED: (logits[0] * temperature).softmax(-1).double(),
            TEMPERATURE_IGNORED: logits[0].softmax(-1).double(),
            ALWAYS_GREEDY: F.one_hot(logits[0].argmax(), V).double(),
        }
        if temperature == 1.0:
            mistakes.pop(TEMPERATURE_MULTIPLIED), mistakes.pop(TEMPERATURE_IGNORED)
        expect_close(
            freq,
            expected,
            what=f"sampling frequencies over {n} draws",
            case=case,
            mistakes=mistakes,
            atol=0.03,
            rtol=0,
        )
    draws = [
        call(student_fn, logits.expand(50, V).clone(), 1.0, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    expect_true(torch.equal(draws[0], draws[1]), NO_GENERATOR)


# ----------------------------------------------------------------------------- cached step
WRONG_AXIS = (
    "the cache appended on the wrong axis: keys and values are (B, nh, T, hs) and the new ones go along the "
    "time axis, torch.cat([cache_k, k_new], dim=2)"
)
OLD_CACHE = "the old cache returned: return the caches with the new key and value appended"
NEW_ONLY = "attention to the new token only: the new query must attend to every cached key and the new one"
CACHE_ONLY = "attention to the cached keys only: append the new key and value first, then attend"
STEP_NO_SCALE = "scores not scaled: divide q k^T by sqrt(hs)"
STEP_SCALE_HS = "scores divided by hs instead of sqrt(hs): the scale is 1 / sqrt(hs)"
STEP_WRONG_SOFTMAX = (
    "a softmax over the wrong axis (dim=-2, the single query): the new query's weights over the T + 1 keys "
    "must sum to 1, so take the softmax over the last axis"
)


def reference_cached_step(q_new, k_new, v_new, cache_k, cache_v):
    """Append the new key/value on the time axis and attend from the one new query to all keys."""
    cache_k = torch.cat([cache_k, k_new], dim=2)  # (B, nh, T + 1, hs)
    cache_v = torch.cat([cache_v, v_new], dim=2)
    weights = (q_new @ cache_k.transpose(-2, -1) / math.sqrt(q_new.size(-1))).softmax(-1)  # (B, nh, 1, T + 1)
    return weights @ cache_v, cache_k, cache_v  # (B, nh, 1, hs)


def _call_step(student_fn, args, case):
    try:
        result = student_fn(*args)
    except NotImplementedError:
        raise
    except RuntimeError as err:
        raise CheckFailed(
            f"your function raised RuntimeError on {case}: {err}\n  A size mismatch here usually means {WRONG_AXIS}."
        ) from err
    except Exception as err:
        raise CheckFailed(f"your function raised {type(err).__name__} on {case}: {err}") from err
    if not isinstance(result, tuple) or len(result) != 3:
        raise CheckFailed(
            f"cached_step should return a tuple (out, cache_k, cache_v); got {describe(result)}"
        )
    return result


@lab_check("cached_step")
def check_cached_step(student_fn: Callable) -> None:
    gen = torch.Generator().manual_seed(0)
    for B, nh, T, hs in ((1, 1, 3, 4), (2, 3, 5, 8), (2, 2, 0, 4)):
        q, k, v = (torch.randn(B, nh, 1, hs, generator=gen) for _ in range(3))
        cache_k, cache_v = torch.randn(B, nh, T, hs, generator=gen), torch.randn(B, nh, T, hs, generator=gen)
        case = f"B={B}, nh={nh}, cached T={T}, hs={hs}"
        out, new_k, new_v = _call_step(student_fn, (q, k, v, cache_k.clone(), cache_v.clone()), case)
        exp_out, exp_k, exp_v = reference_cached_step(q, k, v, cache_k, cache_v)
        for name, got in (("cache_k", new_k), ("cache_v", new_v)):
            if isinstance(got, torch.Tensor) and got.shape == cache_k.shape and T > 0:
                raise CheckFailed(f"your {name} for {case} did not grow: {OLD_CACHE}")
            if isinstance(got, torch.Tensor) and got.shape != exp_k.shape:
                raise CheckFailed(
                    f"your {name} for {case} has shape {tuple(got.shape)}, expected {tuple(exp_k.shape)}: {WRONG_AXIS}"
                )
        expect_close(
            new_k, exp_k, what="cache_k", case=case, mistakes={WRONG_AXIS: torch.cat([k, cache_k], dim=2)}
        )
        expect_close(new_v, exp_v, what="cache_v", case=case)
        scores = q @ exp_k.transpose(-2, -1)
        mistakes = {
            NEW_ONLY: v.clone(),
            STEP_NO_SCALE: scores.softmax(-1) @ exp_v,
            STEP_SCALE_HS: (scores / hs).softmax(-1) @ exp_v,
            STEP_WRONG_SOFTMAX: (scores / math.sqrt(hs)).softmax(-2) @ exp_v,
        }
        if T > 0:
            mistakes[CACHE_ONLY] = (q @ cache_k.transpose(-2, -1) / math.sqrt(hs)).softmax(-1) @ cache_v
        expect_close(out, exp_out, what="attention output", case=case, mistakes=mistakes)
    # Decoding token by token from an empty cache must equal causal attention over the whole sequence.
    B, nh, T, hs = 2, 2, 6, 8
    q, k, v = (torch.randn(B, nh, T, hs, generator=gen) for _ in range(3))
    cache_k, cache_v = torch.zeros(B, nh, 0, hs), torch.zeros(B, nh, 0, hs)
    outs = []
    for t in range(T):
        out, cache_k, cache_v = _call_step(
            student_fn,
            (q[:, :, t : t + 1], k[:, :, t : t + 1], v[:, :, t : t + 1], cache_k, cache_v),
            f"step {t}",
        )
        outs.append(out)
    expect_close(
        torch.cat(outs, dim=2),
        F.scaled_dot_product_attention(q, k, v, is_causal=True),
        what="outputs of 6 cached steps",
        case="decoding from an empty cache, compared with causal attention over the whole sequence",
    )


# ----------------------------------------------------------------------------- RMSNorm and SwiGLU
MEAN_NOT_RMS = (
    "the mean instead of the root mean square: divide by sqrt(mean(x ** 2) + eps), the mean of the *squares*, "
    "not by the (squared) mean of x"
)
LAYER_NORM = (
    "LayerNorm (mean subtracted, divided by the standard deviation): RMSNorm neither centres nor shifts"
)
NO_EPS = "eps missing: add eps inside the square root, sqrt(mean(x ** 2) + eps), or near-zero rows blow up"
EPS_OUTSIDE = (
    "eps added outside the square root: x / (sqrt(mean(x ** 2)) + eps) is not Llama's sqrt(mean + eps)"
)
NO_WEIGHT = "the learned gain (weight) missing: multiply the normalised x by weight"
NO_SQRT = "the square root missing: divide by sqrt(mean(x ** 2) + eps), not by mean(x ** 2) + eps"
VARIANCE = (
    "the variance (x.var) instead of the mean square: RMSNorm does not subtract the mean, so use "
    "x.pow(2).mean(-1, keepdim=True)"
)
ALL_AXES = "the mean taken over every element: take it over the last axis (the features) of each vector"


def reference_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """The course's :class:`~mmlab.models.transformer.RMSNorm` (tested against transformers' LlamaRMSNorm)."""
    norm = RMSNorm(x.size(-1), eps=eps)
    with torch.no_grad():
        norm.weight.copy_(weight)
        return norm(x)


@lab_check("rms_norm")
def check_rms_norm(student_fn: Callable) -> None:
    gen = torch.Generator().manual_seed(6)
    eps = 1e-5
    for shape in ((4, 8), (2, 3, 16)):
        x = torch.randn(*shape, generator=gen) * 2 + 0.5
        x[..., 0, :] *= 1e-3  # a near-zero vector: here eps matters
        weight = torch.rand(shape[-1], generator=gen) + 0.5
        case = f"x of shape {shape}, eps={eps}"
        original = x.clone()
        got = call(student_fn, x, weight, eps, case=case)
        expect_true(torch.equal(x, original), f"your rms_norm changed its input x in place for {case}")
        mean_sq = x.pow(2).mean(-1, keepdim=True)
        mistakes = {
            MEAN_NOT_RMS: x * torch.rsqrt(x.mean(-1, keepdim=True) ** 2 + eps) * weight,
            LAYER_NORM: F.layer_norm(x, (shape[-1],), weight, eps=eps),
            NO_EPS: x * torch.rsqrt(mean_sq) * weight,
            EPS_OUTSIDE: x / (mean_sq.sqrt() + eps) * weight,
            NO_WEIGHT: x * torch.rsqrt(mean_sq + eps),
            ALL_AXES: x * torch.rsqrt(x.pow(2).mean() + eps) * weight,
            NO_SQRT: x / (mean_sq + eps) * weight,
            VARIANCE: x * torch.rsqrt(x.var(-1, keepdim=True) + eps) * weight,
            f"{VARIANCE} (the biased one, unbiased=False)": x
            * torch.rsqrt(x.var(-1, keepdim=True, unbiased=False) + eps)
            * weight,
        }
        expect_close(
            got, reference_rms_norm(x, weight, eps), what="normalised x", case=case, mistakes=mistakes
        )


SWAPPED = (
    "the gate and up projections swapped: the SiLU goes on the gate, silu(x @ w_gate.T) * (x @ w_up.T), "
    "and the up projection is the linear branch"
)
NO_SILU = "the SiLU missing: the gate is silu(x @ w_gate.T), not x @ w_gate.T"
SILU_OF_PRODUCT = (
    "SiLU applied to the product: apply it to the gate alone, then multiply by the up projection"
)
GELU_NOT_SILU = "GELU instead of SiLU: Llama's gate uses SiLU (x * sigmoid(x))"
SIGMOID_GATE = "a sigmoid instead of SiLU on the gate (that is GLU): SiLU(z) = z * sigmoid(z)"
RELU_GATE = "ReLU instead of SiLU on the gate: Llama's gate uses SiLU (x * sigmoid(x))"
NOT_TRANSPOSED = (
    "weights used without .T: they are stored as nn.Linear stores them, (out, in), so a layer is "
    "x @ w.T (or F.linear(x, w))"
)
NO_DOWN = "the down projection missing: the result goes back to width C through w_down"


def reference_swiglu(
    x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor
) -> torch.Tensor:
    """The course's :class:`~mmlab.models.transformer.SwiGLU` (tested against transformers' LlamaMLP)."""
    config = TransformerConfig(
        d_model=w_gate.size(1), n_heads=1, d_ff=w_gate.size(0), activation="swiglu", bias=False
    )
    module = SwiGLU(config)
    with torch.no_grad():
        for layer, weight in ((module.gate_proj, w_gate), (module.up_proj, w_up), (module.down_proj, w_down)):
            layer.weight.copy_(weight)
        return module(x)


@lab_check("swiglu")
def check_swiglu(student_fn: Callable) -> None:
    gen = torch.Generator().manual_seed(7)
    for shape, hidden in (((3, 8), 12), ((2, 5, 16), 40)):
        C = shape[-1]
        x = torch.randn(*shape, generator=gen)
        w_gate, w_up = (torch.randn(hidden, C, generator=gen) / C**0.5 for _ in range(2))
        w_down = torch.randn(C, hidden, generator=gen) / hidden**0.5
        case = f"x of shape {shape}, hidden width {hidden}"
        got = call(
            student_fn, x, w_gate, w_up, w_down, case=case, hints={"cannot be multiplied": NOT_TRANSPOSED}
        )
        gate, up = x @ w_gate.T, x @ w_up.T
        mistakes = {
            SWAPPED: (F.silu(up) * gate) @ w_down.T,
            NO_SILU: (gate * up) @ w_down.T,
            SILU_OF_PRODUCT: F.silu(gate * up) @ w_down.T,
            GELU_NOT_SILU: (F.gelu(gate) * up) @ w_down.T,
            NO_DOWN: F.silu(gate) * up,
            SIGMOID_GATE: (torch.sigmoid(gate) * up) @ w_down.T,
            RELU_GATE: (torch.relu(gate) * up) @ w_down.T,
        }
        expected = reference_swiglu(x, w_gate, w_up, w_down)
        expect_close(got, expected, what="feed-forward output", case=case, mistakes=mistakes)
