"""mmlab.losses against PyTorch's own softmax, log-softmax, cross-entropy and KL (tolerance 1e-6)."""

import pytest
import torch
import torch.nn.functional as F

from mmlab.losses import (
    cross_entropy,
    cross_entropy_grad,
    entropy,
    kl_divergence,
    log_softmax,
    logsumexp,
    softmax,
)

TOL = dict(atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("shape,dim", [((7,), 0), ((4, 5), -1), ((4, 5), 0), ((2, 3, 6), 1), ((2, 3, 6), -1)])
def test_softmax_logsoftmax_logsumexp_match_torch(shape, dim):
    x = torch.randn(shape) * 3
    torch.testing.assert_close(softmax(x, dim=dim), torch.softmax(x, dim=dim), **TOL)
    torch.testing.assert_close(log_softmax(x, dim=dim), F.log_softmax(x, dim=dim), **TOL)
    torch.testing.assert_close(logsumexp(x, dim=dim), torch.logsumexp(x, dim=dim), **TOL)
    torch.testing.assert_close(
        logsumexp(x, dim=dim, keepdim=True), torch.logsumexp(x, dim=dim, keepdim=True), **TOL
    )


def test_stable_on_large_and_masked_logits():
    x = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, float("-inf")]])
    assert torch.isnan(torch.exp(x[0]) / torch.exp(x[0]).sum()).all()  # the naive formula fails here
    torch.testing.assert_close(softmax(x), torch.softmax(x, dim=-1), **TOL)
    torch.testing.assert_close(log_softmax(x), F.log_softmax(x, dim=-1), **TOL)
    torch.testing.assert_close(logsumexp(x), torch.logsumexp(x, dim=-1), **TOL)
    all_masked = torch.full((3,), float("-inf"))
    assert logsumexp(all_masked).item() == float("-inf")


def test_softmax_gradient_matches_torch():
    x = torch.randn(3, 5, requires_grad=True)
    g = torch.randn(3, 5)
    (softmax(x) * g).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    (torch.softmax(x, -1) * g).sum().backward()
    torch.testing.assert_close(ours, x.grad, **TOL)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction):
    logits, targets = torch.randn(8, 5) * 2, torch.randint(0, 5, (8,))
    torch.testing.assert_close(
        cross_entropy(logits, targets, reduction=reduction),
        F.cross_entropy(logits, targets, reduction=reduction),
        **TOL,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_weight_and_ignore_index_match_torch(reduction):
    logits, targets = torch.randn(10, 4), torch.randint(0, 4, (10,))
    targets[[1, 4, 7]] = -100
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0])
    torch.testing.assert_close(
        cross_entropy(logits, targets, weight=weight, reduction=reduction),
        F.cross_entropy(logits, targets, weight=weight, reduction=reduction),
        **TOL,
    )
    custom = torch.randint(0, 4, (10,))
    torch.testing.assert_close(
        cross_entropy(logits, custom, weight=weight, ignore_index=2, reduction=reduction),
        F.cross_entropy(logits, custom, weight=weight, ignore_index=2, reduction=reduction),
        **TOL,
    )


def test_cross_entropy_all_ignored_is_nan_like_torch():
    logits, targets = torch.randn(3, 4), torch.full((3,), -100)
    assert torch.isnan(cross_entropy(logits, targets)) and torch.isnan(F.cross_entropy(logits, targets))


def test_cross_entropy_class_last_for_sequences():
    logits, targets = torch.randn(2, 6, 11), torch.randint(0, 11, (2, 6))  # (B, T, V), (B, T)
    targets[0, :2] = -100
    expected = F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1))
    torch.testing.assert_close(cross_entropy(logits, targets), expected, **TOL)


def test_cross_entropy_stable_where_probabilities_underflow():
    logits = torch.tensor([[0.0, -200.0], [1000.0, 0.0], [0.0, float("-inf")]])
    targets = torch.tensor([1, 1, 0])
    naive = -torch.log(torch.softmax(logits, -1))[torch.arange(3), targets]
    assert torch.isinf(naive[:2]).all()  # log(0) = -inf for the naive formula
    torch.testing.assert_close(cross_entropy(logits, targets), F.cross_entropy(logits, targets), **TOL)
    assert torch.isfinite(cross_entropy(logits, targets))


def test_soft_targets_match_torch():
    logits, p = torch.randn(6, 5), torch.softmax(torch.randn(6, 5), -1)
    p[0] = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])
    torch.testing.assert_close(cross_entropy(logits, p), F.cross_entropy(logits, p), **TOL)
    weight = torch.rand(5) + 0.5
    torch.testing.assert_close(
        cross_entropy(logits, p, weight=weight, reduction="sum"),
        F.cross_entropy(logits, p, weight=weight, reduction="sum"),
        **TOL,
    )


def test_cross_entropy_gradient_formula_matches_autograd():
    logits, targets = torch.randn(9, 4, requires_grad=True), torch.randint(0, 4, (9,))
    targets[2] = -100
    weight = torch.tensor([1.0, 0.5, 2.0, 1.5])
    F.cross_entropy(logits, targets, weight=weight).backward()
    torch.testing.assert_close(cross_entropy_grad(logits.detach(), targets, weight), logits.grad, **TOL)


def test_entropy_kl_and_the_decomposition():
    a, b = torch.randn(5, 7), torch.randn(5, 7)
    p, logq = torch.softmax(a, -1), F.log_softmax(b, -1)
    torch.testing.assert_close(entropy(a), -(p * p.log()).sum(-1), **TOL)
    torch.testing.assert_close(
        kl_divergence(a, b),
        F.kl_div(logq, F.log_softmax(a, -1), log_target=True, reduction="batchmean"),
        **TOL,
    )
    # H(p, q) = H(p) + KL(p || q), per row
    torch.testing.assert_close(
        cross_entropy(b, p, reduction="none"), entropy(a) + kl_divergence(a, b, reduction="none"), **TOL
    )
    assert kl_divergence(a, a).abs().item() < 1e-6
    assert (kl_divergence(a, b, reduction="none") > 0).all()


def test_kl_with_masked_class_is_finite():
    p_logits = torch.tensor([[0.0, float("-inf"), 1.0]])
    q_logits = torch.tensor([[0.5, 0.0, 0.0]])
    expected = F.kl_div(F.log_softmax(q_logits, -1), torch.softmax(p_logits, -1), reduction="batchmean")
    torch.testing.assert_close(kl_divergence(p_logits, q_logits), expected, **TOL)


def test_bad_inputs_have_clear_messages():
    with pytest.raises(ValueError, match="class indices in"):
        cross_entropy(torch.randn(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="must have shape"):
        cross_entropy(torch.randn(2, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="weight must have shape"):
        cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), weight=torch.ones(4))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="same shape"):
        kl_divergence(torch.randn(2, 3), torch.randn(2, 4))
