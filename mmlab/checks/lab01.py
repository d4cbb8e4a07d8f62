"""Checks for lab 01: stable softmax, cross-entropy (class weights, ignore_index) and one SGD step.

The learner's functions have fixed signatures, so any grader can call them:

* ``softmax(logits, dim=-1)`` -> probabilities of the same shape;
* ``cross_entropy(logits, targets, weight=None, ignore_index=-100)`` for ``logits (N, C)`` and
  ``targets (N,)`` -> a scalar, ``sum_i w[y_i] * loss_i / sum_i w[y_i]`` over non-ignored ``i``,
  exactly what ``F.cross_entropy`` returns;
* ``sgd_step(params, lr)`` -> updates every parameter that has a ``.grad`` in place.

Each check compares with PyTorch and names the classic mistakes (wrong axis, overflow, sum instead
of mean, log of a probability that is zero, a step uphill, ...) when the answer matches one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check

__all__ = ["check_cross_entropy", "check_sgd_step", "check_softmax"]

WRONG_AXIS = "softmax over the wrong axis"
OVERFLOW = (
    "overflow on large logits: exp(1000) is inf in float32 and inf / inf is NaN; subtract the max first"
)
LOG_OF_ZERO = (
    "the log of probabilities that can be zero: softmax underflowed to 0 and log(0) = -inf; compute "
    "log-probabilities directly as (z - max) - log(sum(exp(z - max)))"
)
SUM_NOT_MEAN = "the sum over the batch instead of the mean"
NO_KEEPDIM = (
    "a sum (or max) without keepdim=True: the reduced axis disappears and the division no longer lines "
    "up with the rows; use .sum(dim=dim, keepdim=True)"
)


def _naive_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.exp(x) / torch.exp(x).sum(dim=dim, keepdim=True)


def _unchanged(fn_input: torch.Tensor, before: torch.Tensor, name: str) -> None:
    expect_true(
        torch.equal(fn_input.detach(), before),
        f"your {name} changed its input tensor in place (e.g. `logits -= logits.max(...)`): the caller's "
        f"logits must stay as they were; compute on a new tensor (`z = logits - ...`).",
    )


def _gradient_flows(result: Any, what: str) -> None:
    expect_true(
        isinstance(result, torch.Tensor) and result.requires_grad,
        f"no gradient flows through your {what}: the result has no autograd graph. Use torch operations "
        f"only, without .item(), .numpy(), .detach(), .data or torch.no_grad().",
    )


# --------------------------------------------------------------------------------------------- softmax
@lab_check("check_softmax")
def check_softmax(softmax: Callable[..., torch.Tensor]) -> None:
    """Check ``softmax(logits, dim=-1)`` against ``torch.softmax``."""
    gen = torch.Generator().manual_seed(0)

    x = torch.randn(4, 5, generator=gen) * 3
    before = x.clone()
    got = call(
        softmax, x, case="logits of shape (4, 5), default dim", hints={"must match the size": NO_KEEPDIM}
    )
    _unchanged(x, before, "softmax")
    expect_close(
        got,
        torch.softmax(x, dim=-1),
        what="softmax",
        case="logits of shape (4, 5) with the default dim=-1",
        mistakes={
            f"{WRONG_AXIS} (dim 0, down the columns, instead of the last dim: each row must sum to 1)": (
                torch.softmax(x, dim=0)
            ),
            "exp(z) without dividing by the sum (not normalised)": torch.exp(x),
            "log-probabilities (log-softmax) instead of probabilities: return exp(z) / sum(exp(z)), "
            "not z - log(sum(exp(z)))": torch.log_softmax(x, dim=-1),
            "one softmax over the whole tensor (normalise each row, along dim, separately)": torch.softmax(
                x.flatten(), 0
            ).view_as(x),
        },
        atol=1e-6,
    )

    x3 = torch.randn(2, 3, 4, generator=gen)
    expect_close(
        call(softmax, x3, dim=1, case="logits of shape (2, 3, 4) with dim=1"),
        torch.softmax(x3, dim=1),
        what="softmax",
        case="logits of shape (2, 3, 4) with dim=1",
        mistakes={
            f"{WRONG_AXIS} (the last one: your function ignores its dim argument)": torch.softmax(x3, dim=-1),
            f"{WRONG_AXIS} (dim 0 instead of the dim argument)": torch.softmax(x3, dim=0),
        },
        atol=1e-6,
    )

    x1 = torch.randn(6, generator=gen)
    expect_close(
        call(softmax, x1, dim=0, case="a 1-D vector of 6 logits with dim=0"),
        torch.softmax(x1, dim=0),
        what="softmax",
        case="a 1-D vector of 6 logits with dim=0",
        atol=1e-6,
    )

    large = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    global_shift = large - large.max()  # the second row's exps all underflow to 0 -> 0 / 0
    expect_close(
        call(softmax, large, case="large logits (+-1000)"),
        torch.softmax(large, dim=-1),
        what="softmax",
        case="large logits [[1000, 1001, 1002], [-1000, -1001, -1002]]",
        mistakes={
            OVERFLOW: _naive_softmax(large, -1),
            "a shift by the max of the whole tensor instead of each row's max (the row far below it "
            "underflows to 0 / 0 = NaN); use amax(dim=dim, keepdim=True)": _naive_softmax(global_shift, -1),
        },
        atol=1e-6,
    )

    masked = torch.tensor([[0.0, float("-inf"), 1.0], [2.0, 0.0, float("-inf")]])
    expect_close(
        call(softmax, masked, case="logits with -inf (masked classes)"),
        torch.softmax(masked, dim=-1),
        what="softmax",
        case="logits with -inf entries (masked classes must get probability exactly 0)",
        atol=1e-6,
    )

    xg = torch.randn(3, 4, generator=gen).requires_grad_()
    weights = torch.randn(3, 4, generator=gen)
    out = call(softmax, xg, case="logits that require grad")
    _gradient_flows(out, "softmax")
    (grad,) = torch.autograd.grad((out * weights).sum(), xg)
    (expected_grad,) = torch.autograd.grad((torch.softmax(xg, -1) * weights).sum(), xg)
    expect_close(grad, expected_grad, what="gradient through your softmax", atol=1e-6)


# ---------------------------------------------------------------------------------------- cross-entropy
@lab_check("check_cross_entropy")
def check_cross_entropy(cross_entropy: Callable[..., torch.Tensor]) -> None:
    """Check ``cross_entropy(logits, targets, weight=None, ignore_index=-100)`` against ``F.cross_entropy``."""
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=gen) * 2
    targets = torch.tensor([0, 3, 1, 1, 2, 3])
    rows = torch.arange(6)
    before = logits.clone()
    got = call(cross_entropy, logits, targets, case="logits (6, 4), no weights")
    _unchanged(logits, before, "cross_entropy")
    logp = F.log_softmax(logits, -1)
    expect_close(
        got,
        F.cross_entropy(logits, targets),
        what="loss",
        case="logits of shape (6, 4) and 6 targets",
        mistakes={
            f"{SUM_NOT_MEAN} (divide by the number of targets)": F.cross_entropy(
                logits, targets, reduction="sum"
            ),
            "the per-example losses, not reduced to their mean (return a scalar)": F.cross_entropy(
                logits, targets, reduction="none"
            ),
            "the log-likelihood without its minus sign (the loss must be -log q, which is >= 0)": -F.cross_entropy(
                logits, targets
            ),
            "the mean of -log q over all N x C entries; take only each target's log-probability": -logp.mean(),
            "-logits[target] without the log-softmax (the logits are not log-probabilities)": -logits[
                rows, targets
            ].mean(),
            "-log q of the predicted class (argmax) instead of the target class": -logp.max(-1).values.mean(),
            "-q[target], the probability itself: the loss is -log q[target], the *log*-probability": -(
                logits.softmax(-1)[rows, targets].mean()
            ),
            "the mean of an N x N block: logp[:, targets] takes every row's log-probability of every "
            "target; pick one entry per row, logp[torch.arange(N), targets]": -logp[:, targets].mean(),
            "a log-softmax over the wrong axis (dim 0, over the examples): normalise each row over the "
            "classes, dim=-1": -F.log_softmax(logits, 0)[rows, targets].mean(),
        },
    )

    # Row 1's target has logit 200 below the rest: its probability underflows to exactly 0.
    tiny = torch.tensor([[0.0, 1.0, 0.5], [0.0, -200.0, 0.0], [3.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    tiny_targets = torch.tensor([1, 1, 0, 2])
    naive = -torch.log(torch.softmax(tiny, -1))[torch.arange(4), tiny_targets].mean()
    expect_close(
        call(cross_entropy, tiny, tiny_targets, case="a target whose probability underflows to 0"),
        F.cross_entropy(tiny, tiny_targets),
        what="loss",
        case="a target whose logit is 200 below the others (its probability underflows to 0)",
        mistakes={LOG_OF_ZERO: naive},
    )

    large = torch.tensor([[1000.0, 1001.0, 999.0], [-5.0, 1000.0, 998.0]])
    large_targets = torch.tensor([0, 2])
    naive_large = -torch.log(_naive_softmax(large, -1))[torch.arange(2), large_targets].mean()
    expect_close(
        call(cross_entropy, large, large_targets, case="large logits (~1000)"),
        F.cross_entropy(large, large_targets),
        what="loss",
        case="large logits [[1000, 1001, 999], [-5, 1000, 998]]",
        mistakes={
            OVERFLOW: naive_large,
            "overflow on large logits: exp(1000) is inf in float32, so log(sum(exp(z))) is inf; subtract the "
            "max before exp (the log-sum-exp trick)": -(
                large - torch.log(torch.exp(large).sum(-1, keepdim=True))
            )[torch.arange(2), large_targets].mean(),
        },
    )

    masked = torch.tensor([[0.0, float("-inf"), 2.0], [1.0, 0.5, float("-inf")]])
    masked_targets = torch.tensor([2, 0])
    onehot = F.one_hot(masked_targets, 3).float()
    expect_close(
        call(cross_entropy, masked, masked_targets, case="logits with -inf (masked classes)"),
        F.cross_entropy(masked, masked_targets),
        what="loss",
        case="logits with a -inf entry on a class that is not the target",
        mistakes={
            "one-hot targets times log-probabilities: 0 * log(0) = 0 * -inf = NaN at the masked class; "
            "pick each target's log-probability by indexing instead": -(onehot * F.log_softmax(masked, -1))
            .sum(-1)
            .mean()
        },
    )

    weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
    w_y = weight[targets]
    per_example = F.cross_entropy(logits, targets, reduction="none")
    expect_close(
        call(cross_entropy, logits, targets, weight=weight, case="class weights"),
        F.cross_entropy(logits, targets, weight=weight),
        what="loss",
        case="class weights [1, 2, 0.5, 3]",
        mistakes={
            "the unweighted mean (the weight argument was ignored)": per_example.mean(),
            "a weighted sum divided by N; divide by the sum of the targets' weights, sum_i w[y_i]": (
                (w_y * per_example).sum() / len(targets)
            ),
            f"{SUM_NOT_MEAN} (weighted sum; divide by sum_i w[y_i])": (w_y * per_example).sum(),
        },
    )

    ignored = targets.clone()
    ignored[[1, 4]] = -100
    keep = ignored != -100
    expect_close(
        call(cross_entropy, logits, ignored, case="targets containing ignore_index=-100 (skip those rows)"),
        F.cross_entropy(logits, ignored),
        what="loss",
        case="targets [0, -100, 1, 1, -100, 3] with the default ignore_index=-100",
        mistakes={
            "an average over all N rows, including the ignored ones; divide by the number of kept targets": (
                per_example[keep].sum() / len(targets)
            ),
        },
    )

    custom = torch.tensor([0, 3, 1, 1, 2, 1])  # ignore_index=1: rows 2, 3 and 5 are skipped
    expect_close(
        call(
            cross_entropy, logits, custom, weight=weight, ignore_index=1, case="ignore_index=1 with weights"
        ),
        F.cross_entropy(logits, custom, weight=weight, ignore_index=1),
        what="loss",
        case="targets [0, 3, 1, 1, 2, 1] with ignore_index=1 and class weights",
        mistakes={
            "a loss with nothing skipped: your function ignores the ignore_index argument (do not assume -100)": (
                F.cross_entropy(logits, custom, weight=weight)
            ),
            "the unweighted mean (the weight argument was ignored)": F.cross_entropy(
                logits, custom, ignore_index=1
            ),
        },
    )

    lg = logits.clone().requires_grad_()
    loss = call(cross_entropy, lg, ignored, weight=weight, case="logits that require grad")
    _gradient_flows(loss, "cross_entropy")
    (grad,) = torch.autograd.grad(loss, lg)
    (expected_grad,) = torch.autograd.grad(F.cross_entropy(lg, ignored, weight=weight), lg)
    expect_close(grad, expected_grad, what="gradient of your loss w.r.t. the logits", atol=1e-6)


# --------------------------------------------------------------------------------------------- SGD step
def _call_step(sgd_step: Callable, params: Any, lr: float, case: str) -> None:
    """Call the learner's step, turning the two classic crashes into named mistakes."""
    try:
        sgd_step(params, lr)
    except NotImplementedError:
        raise
    except TypeError as err:
        if "NoneType" in str(err):
            raise CheckFailed(
                f"your sgd_step crashed on a parameter whose .grad is None ({err}). Parameters that took "
                f"no part in the loss have no gradient: skip them with `if p.grad is None: continue`."
            ) from err
        raise CheckFailed(f"your sgd_step raised TypeError on {case}: {err}") from err
    except RuntimeError as err:
        if "leaf Variable" in str(err) or "requires grad" in str(err):
            raise CheckFailed(
                f"your sgd_step updated a parameter in place while autograd was recording ({err}). "
                f"Do the update inside `with torch.no_grad():`."
            ) from err
        raise CheckFailed(f"your sgd_step raised RuntimeError on {case}: {err}") from err
    except Exception as err:
        raise CheckFailed(f"your sgd_step raised {type(err).__name__} on {case}: {err}") from err


@lab_check("check_sgd_step")
def check_sgd_step(sgd_step: Callable[..., Any]) -> None:
    """Check ``sgd_step(params, lr)``: ``p <- p - lr * p.grad`` in place, skipping ``grad is None``."""
    gen = torch.Generator().manual_seed(2)
    lr = 0.1
    w = torch.randn(3, 2, generator=gen).requires_grad_()
    b = torch.randn(2, generator=gen).requires_grad_()
    unused = torch.randn(2, generator=gen).requires_grad_()  # .grad stays None
    w.grad, b.grad = torch.randn(3, 2, generator=gen), torch.randn(2, generator=gen)
    params = [w, b, unused]
    old = [p.detach().clone() for p in params]
    _call_step(sgd_step, params, lr, case="params [w, b, unused] with lr=0.1")

    expect_true(
        all(p is q for p, q in zip(params, (w, b, unused))),
        "your sgd_step put new tensors into the params list: the model still holds the old ones. "
        "Update each tensor in place instead (`p -= lr * p.grad` under torch.no_grad(), or `p.data -= ...`).",
    )
    for name, p, before in (("w", w, old[0]), ("b", b, old[1])):
        g = p.grad
        expect_close(
            p.detach(),
            before - lr * g,
            what=f"parameter {name} after the step",
            case="lr=0.1",
            mistakes={
                "a step up the gradient (ascent): subtract lr * grad, do not add it": before + lr * g,
                "a step of the whole gradient: lr not applied (multiply the gradient by lr)": before - g,
                "a step of the gradient divided by lr: multiply by lr, p - lr * p.grad": before - g / lr,
                "a step along the parameter's own values (lr * p): the step follows the gradient, "
                "p - lr * p.grad": before - lr * before,
                "an unchanged parameter: the update never reached it. `p = p - lr * p.grad` only rebinds a "
                "local name, and returning new tensors does not reach the model; update p in place": before,
            },
            atol=1e-6,
        )
        expect_true(
            p.is_leaf and p.requires_grad,
            f"after your step, {name} is no longer a leaf tensor that requires grad: update its values in "
            f"place under torch.no_grad() rather than assigning a computed tensor.",
        )
    expect_close(
        unused.detach(),
        old[2],
        what="parameter whose .grad is None",
        case="a parameter that took no part in the loss (it must not change)",
        atol=0,
        rtol=0,
    )

    # A real model, parameters passed as the generator model.parameters(), another learning rate.
    model = nn.Linear(4, 3)
    with torch.no_grad():
        model.weight.copy_(torch.randn(3, 4, generator=gen))
        model.bias.copy_(torch.randn(3, generator=gen))
    x, y = torch.randn(8, 4, generator=gen), torch.randint(0, 3, (8,), generator=gen)
    F.cross_entropy(model(x), y).backward()
    reference = nn.Linear(4, 3)
    reference.load_state_dict(model.state_dict())
    for p, q in zip(reference.parameters(), model.parameters()):
        p.grad = q.grad.clone()
    torch.optim.SGD(reference.parameters(), lr=0.5).step()
    _call_step(sgd_step, model.parameters(), 0.5, case="nn.Linear(4, 3).parameters() with lr=0.5")
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        expect_close(
            p.detach(),
            q.detach(),
            what=f"Linear.{name} after your step",
            case="lr=0.5, compared with torch.optim.SGD",
            atol=1e-6,
        )
