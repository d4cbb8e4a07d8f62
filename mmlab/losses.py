"""Softmax, log-softmax, cross-entropy and KL divergence from scratch (chapter 01).

These are the functions every later chapter trains with: a classifier, a masked or causal language
model, a reward model and CLIP all end in "softmax over scores, then the negative log-probability
of the right answer". Each one here equals its PyTorch counterpart (``torch.softmax``,
``F.log_softmax``, ``F.cross_entropy``, ``F.kl_div``) to float32 rounding; the tests check that.

Conventions: the class dimension is the *last* one (``logits`` of shape ``(..., C)``), which is how
models produce them (``(B, C)`` for a classifier, ``(B, T, V)`` for a language model). PyTorch's
``F.cross_entropy`` wants the classes in dimension 1 instead; flatten to ``(N, C)`` to compare.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "cross_entropy",
    "cross_entropy_grad",
    "entropy",
    "kl_divergence",
    "log_softmax",
    "logsumexp",
    "softmax",
]

Reduction = Literal["mean", "sum", "none"]


def logsumexp(x: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """``log(sum(exp(x)))`` along ``dim`` without overflow.

    ``exp(1000.)`` is ``inf`` in float32, so the sum is computed as ``m + log(sum(exp(x - m)))``
    with ``m`` the maximum: every exponent is then at most 0 and the largest term is exactly 1.
    A slice that is entirely ``-inf`` gives ``-inf`` (the log of an empty sum), as in PyTorch.
    """
    m = x.amax(dim=dim, keepdim=True)
    # An all -inf slice would give (-inf) - (-inf) = nan; shifting by 0 there is just as stable.
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m)).detach()
    out = m + torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))
    return out if keepdim else out.squeeze(dim)


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Probabilities ``exp(z_i) / sum_j exp(z_j)`` along ``dim``, stable for large logits.

    Subtracting the maximum changes nothing mathematically (numerator and denominator are both
    multiplied by ``exp(-m)``) but keeps every ``exp`` in ``[0, 1]``.
    """
    m = logits.amax(dim=dim, keepdim=True).detach()  # the shift has no effect on the result or its gradient
    e = torch.exp(logits - m)
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log(softmax(z))`` computed as ``z - logsumexp(z)``.

    Never ``torch.log(softmax(z))``: a probability that underflows to 0 (a logit 104 below the
    largest is enough in float32) turns into ``log(0) = -inf``, although its log is a perfectly
    ordinary number like -104.
    """
    # Subtract the max first: 1000.0 - 1002.0 is exact, while 1000.0 - (1002.0 + 0.41) rounds.
    m = logits.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m)).detach()
    shifted = logits - m
    return shifted - logsumexp(shifted, dim=dim, keepdim=True)


def _reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Cross-entropy between the softmax of ``logits`` and the targets, as ``F.cross_entropy``.

    Args:
        logits: scores of shape ``(..., C)``, classes in the last dimension.
        targets: either class indices of shape ``(...)`` (integers), or probabilities of the same
            shape as ``logits`` (floats; "soft" targets ``p``, giving ``H(p, q) = -sum_c p_c log q_c``).
        weight: optional per-class weights of shape ``(C,)``.
        ignore_index: with class indices, positions whose target equals it are skipped (padding,
            prompt tokens).
        reduction: "mean", "sum" or "none" (per-position losses, 0 at ignored positions).

    With class indices and ``reduction="mean"`` the result is
    ``sum_i w[y_i] * loss_i / sum_i w[y_i]`` over non-ignored positions ``i`` (a weighted mean, as
    PyTorch computes it; all weights 1 gives the plain mean). If every position is ignored this is
    0/0 = nan, again as in PyTorch. With soft targets ``"mean"`` averages over positions.
    """
    if logits.dim() < 1:
        raise ValueError("logits need at least one dimension (the classes)")
    num_classes = logits.shape[-1]
    if weight is not None and weight.shape != (num_classes,):
        raise ValueError(f"weight must have shape ({num_classes},), one per class, got {tuple(weight.shape)}")
    logp = log_softmax(logits, dim=-1)  # (..., C)

    if targets.is_floating_point():  # soft targets: a distribution per position
        if targets.shape != logits.shape:
            raise ValueError(
                f"probability targets must have the logits' shape {tuple(logits.shape)}, got {tuple(targets.shape)}"
            )
        # Where p_c = 0 the term is 0 even if log q_c = -inf (a masked class): 0 * -inf would be nan.
        terms = torch.where(targets > 0, targets * logp, torch.zeros_like(logp))
        if weight is not None:
            terms = terms * weight
        return _reduce(-terms.sum(dim=-1), reduction)

    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"class-index targets must have shape {tuple(logits.shape[:-1])} (the logits without their "
            f"last, class dimension), got {tuple(targets.shape)}"
        )
    keep = targets != ignore_index  # (...)
    safe = torch.where(keep, targets, torch.zeros_like(targets)).long()  # any valid index at ignored spots
    if bool(((safe < 0) | (safe >= num_classes)).any()):
        bad = targets[keep & ((targets < 0) | (targets >= num_classes))]
        raise ValueError(
            f"targets must be class indices in [0, {num_classes}) or ignore_index; got {bad.tolist()}"
        )
    # Pick the target's log-probability by indexing, never by multiplying with a one-hot vector.
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (...)
    w = weight[safe] if weight is not None else torch.ones_like(nll)
    w = torch.where(keep, w, torch.zeros_like(w))
    losses = torch.where(keep, w * nll, torch.zeros_like(nll))
    if reduction == "mean":
        return losses.sum() / w.sum()
    return _reduce(losses, reduction)


def cross_entropy_grad(
    logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None, ignore_index: int = -100
) -> torch.Tensor:
    """The gradient of ``cross_entropy(logits, targets, weight, ignore_index)`` (mean) w.r.t. the logits.

    For one position with target ``y`` and weight ``w_y`` the gradient of ``-w_y log softmax(z)_y`` is
    ``w_y (softmax(z) - onehot(y))``; the mean divides by ``sum_i w_{y_i}``. No autograd involved.
    """
    keep = targets != ignore_index
    safe = torch.where(keep, targets, torch.zeros_like(targets)).long()
    onehot = torch.nn.functional.one_hot(safe, logits.shape[-1]).to(logits.dtype)  # (..., C)
    w = (
        weight[safe]
        if weight is not None
        else torch.ones(safe.shape, dtype=logits.dtype, device=logits.device)
    )
    w = torch.where(keep, w, torch.zeros_like(w))
    return w.unsqueeze(-1) * (softmax(logits, dim=-1) - onehot) / w.sum()


def entropy(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Entropy ``H(p) = -sum_c p_c log p_c`` of ``p = softmax(logits)`` along ``dim`` (in nats)."""
    logp = log_softmax(logits, dim=dim)
    p = logp.exp()
    return -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(dim=dim)


def kl_divergence(
    p_logits: torch.Tensor, q_logits: torch.Tensor, dim: int = -1, reduction: Reduction = "mean"
) -> torch.Tensor:
    """``KL(p || q) = sum_c p_c (log p_c - log q_c)`` for ``p = softmax(p_logits)``, ``q = softmax(q_logits)``.

    Zero exactly when ``p = q`` and positive otherwise; not symmetric. "mean" averages over every
    position (all dimensions except ``dim``), which is ``F.kl_div(..., reduction="batchmean")`` for
    2-D inputs. Note the argument order: PyTorch's ``F.kl_div(input, target)`` computes
    ``KL(target || input)`` and wants ``input`` as log-probabilities.
    """
    if p_logits.shape != q_logits.shape:
        raise ValueError(
            f"p and q must have the same shape, got {tuple(p_logits.shape)} and {tuple(q_logits.shape)}"
        )
    logp, logq = log_softmax(p_logits, dim=dim), log_softmax(q_logits, dim=dim)
    p = logp.exp()
    kl = torch.where(p > 0, p * (logp - logq), torch.zeros_like(p)).sum(dim=dim)
    return _reduce(kl, reduction)
