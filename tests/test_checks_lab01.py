"""Lab 01 checks: right answers pass, each classic mistake gets its own message, and the unfinished
template reports "not implemented yet" for every exercise."""

from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from mmlab.checks.framework import CheckFailed
from mmlab.checks.lab01 import check_cross_entropy, check_sgd_step, check_softmax

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- right answers
def softmax(logits, dim=-1):
    z = logits - logits.amax(dim=dim, keepdim=True)
    e = torch.exp(z)
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(logits, dim=-1):
    z = logits - logits.amax(dim=dim, keepdim=True)
    return z - torch.log(torch.exp(z).sum(dim=dim, keepdim=True))


def cross_entropy(logits, targets, weight=None, ignore_index=-100):
    keep = targets != ignore_index
    logp = log_softmax(logits[keep])
    y = targets[keep]
    nll = -logp[torch.arange(len(y)), y]
    w = weight[y] if weight is not None else torch.ones_like(nll)
    return (w * nll).sum() / w.sum()


def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


def not_done(*args, **kwargs):
    raise NotImplementedError


def test_right_answers_pass(capsys):
    assert check_softmax(softmax) and check_cross_entropy(cross_entropy) and check_sgd_step(sgd_step)
    out = capsys.readouterr().out
    assert "check_softmax: all" in out and "check_cross_entropy: all" in out and "check_sgd_step: all" in out


def test_pytorch_itself_passes():
    assert check_softmax(lambda x, dim=-1: torch.softmax(x, dim=dim))
    assert check_cross_entropy(torch.nn.functional.cross_entropy)


@pytest.mark.parametrize("check", [check_softmax, check_cross_entropy, check_sgd_step])
def test_not_implemented_prints_one_line(check, capsys):
    assert not check(not_done)
    out = capsys.readouterr().out
    assert "not implemented yet" in out and out.count("\n") == 1


# ----------------------------------------------------------------------------- softmax mistakes
def _naive(logits, dim=-1):
    return torch.exp(logits) / torch.exp(logits).sum(dim=dim, keepdim=True)


SOFTMAX_MISTAKES = {
    "wrong axis (dim 0)": (lambda x, dim=-1: softmax(x, dim=0), "wrong axis (dim 0"),
    "ignores dim": (
        lambda x, dim=-1: softmax(x, dim=-1) if x.dim() == 3 else softmax(x, dim),
        "ignores its dim",
    ),
    "overflow": (_naive, "overflow on large logits"),
    "global max": (lambda x, dim=-1: _naive(x - x.max(), dim), "whole tensor instead of each row's max"),
    "not normalised": (
        lambda x, dim=-1: torch.exp(x - x.amax(dim, keepdim=True)) * 0 + torch.exp(x),
        "not normalised",
    ),
    "in place": (lambda x, dim=-1: softmax(x.sub_(0.5), dim), "changed its input tensor in place"),
    "numpy": (lambda x, dim=-1: torch.tensor(softmax(x.detach(), dim).numpy()), "no gradient flows"),
    "returns numpy": (lambda x, dim=-1: softmax(x, dim).detach().numpy(), "should be a torch.Tensor"),
}


@pytest.mark.parametrize("name", list(SOFTMAX_MISTAKES))
def test_softmax_mistakes_are_named(name):
    fn, message = SOFTMAX_MISTAKES[name]
    with pytest.raises(CheckFailed, match="check_softmax") as err:
        check_softmax(fn)
    assert message in str(err.value), str(err.value)


# ----------------------------------------------------------------------------- cross-entropy mistakes
def _ce_sum(logits, targets, weight=None, ignore_index=-100):
    keep = targets != ignore_index
    y = targets[keep]
    nll = -log_softmax(logits[keep])[torch.arange(len(y)), y]
    w = weight[y] if weight is not None else torch.ones_like(nll)
    return (w * nll).sum()


def _ce_log_of_softmax(logits, targets, weight=None, ignore_index=-100):
    keep = targets != ignore_index
    y = targets[keep]
    nll = -torch.log(softmax(logits[keep]))[torch.arange(len(y)), y]
    w = weight[y] if weight is not None else torch.ones_like(nll)
    return (w * nll).sum() / w.sum()


def _ce_naive_exp(logits, targets, weight=None, ignore_index=-100):
    keep = targets != ignore_index
    y = targets[keep]
    logp = logits[keep] - torch.log(torch.exp(logits[keep]).sum(-1, keepdim=True))  # no max shift
    nll = -logp[torch.arange(len(y)), y]
    w = weight[y] if weight is not None else torch.ones_like(nll)
    return (w * nll).sum() / w.sum()


def _ce_onehot(logits, targets, weight=None, ignore_index=-100):
    keep = targets != ignore_index
    onehot = torch.nn.functional.one_hot(targets[keep], logits.shape[-1]).float()
    nll = -(onehot * log_softmax(logits[keep])).sum(-1)
    w = weight[targets[keep]] if weight is not None else torch.ones_like(nll)
    return (w * nll).sum() / w.sum()


def _ce_divide_by_n(logits, targets, weight=None, ignore_index=-100):
    keep = targets != ignore_index
    y = targets[keep]
    nll = -log_softmax(logits[keep])[torch.arange(len(y)), y]
    w = weight[y] if weight is not None else torch.ones_like(nll)
    return (w * nll).sum() / len(targets)


def _ce_hardcoded_ignore(logits, targets, weight=None, ignore_index=-100):
    return cross_entropy(logits, targets, weight, ignore_index=-100)


def _ce_no_weights(logits, targets, weight=None, ignore_index=-100):
    return cross_entropy(logits, targets, None, ignore_index)


def _ce_per_example(logits, targets, weight=None, ignore_index=-100):
    return -log_softmax(logits)[torch.arange(len(targets)), targets]


def _ce_positive_sign(logits, targets, weight=None, ignore_index=-100):
    return -cross_entropy(logits, targets, weight, ignore_index)


def _ce_item(logits, targets, weight=None, ignore_index=-100):
    return torch.tensor(cross_entropy(logits, targets, weight, ignore_index).item())


def _ce_no_ignore(logits, targets, weight=None, ignore_index=-100):
    nll = -log_softmax(logits)[torch.arange(len(targets)), targets]  # fails on -100
    w = weight[targets] if weight is not None else torch.ones_like(nll)
    return (w * nll).sum() / w.sum()


CE_MISTAKES = {
    "sum instead of mean": (_ce_sum, "sum over the batch instead of the mean"),
    "log of softmax": (_ce_log_of_softmax, "log of probabilities that can be zero"),
    "no max shift": (_ce_naive_exp, "overflow on large logits"),
    "one-hot times log": (_ce_onehot, "0 * log(0)"),
    "weighted sum over N": (_ce_divide_by_n, "a weighted sum divided by N"),
    "hard-coded -100": (_ce_hardcoded_ignore, "ignores the ignore_index argument"),
    "weights ignored": (_ce_no_weights, "weight argument was ignored"),
    "per-example losses": (_ce_per_example, "not reduced to their mean"),
    "missing minus": (_ce_positive_sign, "without its minus sign"),
    "item() breaks the graph": (_ce_item, "no gradient flows"),
    "ignore_index not handled": (_ce_no_ignore, "ignore_index=-100"),
}


@pytest.mark.parametrize("name", list(CE_MISTAKES))
def test_cross_entropy_mistakes_are_named(name):
    fn, message = CE_MISTAKES[name]
    with pytest.raises(CheckFailed, match="check_cross_entropy") as err:
        check_cross_entropy(fn)
    assert message in str(err.value), str(err.value)


def test_ignored_rows_averaged_over_n_is_named():
    def over_n(logits, targets, weight=None, ignore_index=-100):
        keep = targets != ignore_index
        y = targets[keep]
        return (
            -log_softmax(logits[keep])[torch.arange(len(y)), y].sum() / len(targets)
            if weight is None
            else (cross_entropy(logits, targets, weight, ignore_index))
        )

    with pytest.raises(CheckFailed, match="including the ignored ones"):
        check_cross_entropy(over_n)


# ----------------------------------------------------------------------------- SGD mistakes
def _sgd_ascent(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p += lr * p.grad


def _sgd_no_lr(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= p.grad


def _sgd_rebind(params, lr):
    for p in params:
        if p.grad is not None:
            p = p - lr * p.grad  # noqa: F841  (the classic mistake: only the local name changes)


def _sgd_new_tensors(params, lr):
    for i, p in enumerate(params):
        if p.grad is not None:
            params[i] = (p - lr * p.grad).detach().requires_grad_()


def _sgd_no_none_check(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad


def _sgd_no_grad_context(params, lr):
    for p in params:
        if p.grad is not None:
            p -= lr * p.grad


def _sgd_data(params, lr):  # updating .data in place is a correct answer
    for p in params:
        if p.grad is not None:
            p.data -= lr * p.grad


SGD_MISTAKES = {
    "ascent": (_sgd_ascent, "(ascent)"),
    "lr not applied": (_sgd_no_lr, "lr not applied"),
    "rebinding a local name": (_sgd_rebind, "only rebinds a"),
    "new tensors in the list": (_sgd_new_tensors, "put new tensors into the params list"),
    "grad None not skipped": (_sgd_no_none_check, "whose .grad is None"),
    "no torch.no_grad()": (_sgd_no_grad_context, "torch.no_grad()"),
}


@pytest.mark.parametrize("name", list(SGD_MISTAKES))
def test_sgd_mistakes_are_named(name):
    fn, message = SGD_MISTAKES[name]
    with pytest.raises(CheckFailed, match="check_sgd_step") as err:
        check_sgd_step(fn)
    assert message in str(err.value), str(err.value)


def test_sgd_via_data_passes():
    assert check_sgd_step(_sgd_data)


def test_each_mistake_has_its_own_message():
    messages = []
    for check, table in ((check_softmax, SOFTMAX_MISTAKES), (check_cross_entropy, CE_MISTAKES)):
        for fn, _ in table.values():
            with pytest.raises(CheckFailed) as err:
                check(fn)
            messages.append(str(err.value).split("\n")[0])
    for fn, _ in SGD_MISTAKES.values():
        with pytest.raises(CheckFailed) as err:
            check_sgd_step(fn)
        messages.append(str(err.value).split("\n")[0])
    duplicates = {m for m in messages if messages.count(m) > 1}
    assert not duplicates


# ----------------------------------------------------------------------------- the learner's template
@pytest.mark.slow
def test_unfinished_template_reports_not_implemented():
    path = ROOT / "labs" / "01_cross_entropy.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    for check in ("check_softmax", "check_cross_entropy", "check_sgd_step"):
        assert f"{check}: not implemented yet" in text, text
    assert "Traceback" not in text


# ----------------------------------------------------------------------------- more typical mistakes
def _softmax_no_keepdim(logits, dim=-1):
    z = logits - logits.amax(dim=dim, keepdim=True)
    return torch.exp(z) / torch.exp(z).sum(dim=dim)


def _ce_probability(logits, targets, weight=None, ignore_index=-100):
    keep = targets != ignore_index
    y = targets[keep]
    return -softmax(logits[keep])[torch.arange(len(y)), y].mean()


def _ce_block(logits, targets, weight=None, ignore_index=-100):
    return -log_softmax(logits)[:, targets].mean()


def _ce_axis0(logits, targets, weight=None, ignore_index=-100):
    keep = targets != ignore_index
    y = targets[keep]
    return -log_softmax(logits[keep], dim=0)[torch.arange(len(y)), y].mean()


def _sgd_divided(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= p.grad / lr


def _sgd_uses_values(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p


MORE_MISTAKES = [
    (check_softmax, lambda x, dim=-1: log_softmax(x, dim), "log-probabilities"),
    (check_softmax, _softmax_no_keepdim, "keepdim=True"),
    (check_cross_entropy, _ce_probability, "probability itself"),
    (check_cross_entropy, _ce_block, "N x N"),
    (check_cross_entropy, _ce_axis0, "log-softmax over the wrong axis"),
    (check_sgd_step, _sgd_divided, "divided by lr"),
    (check_sgd_step, _sgd_uses_values, "the parameter's own values"),
]


@pytest.mark.parametrize(
    ("check", "wrong", "message"), MORE_MISTAKES, ids=lambda v: getattr(v, "__name__", None)
)
def test_more_mistakes_are_named(check, wrong, message):
    with pytest.raises(CheckFailed) as err:
        check(wrong)
    assert message in str(err.value), str(err.value)
