"""The lab-check framework: not-done, wrong (with the named mistake) and right answers."""

import pytest
import torch

from mmlab.checks.framework import (
    CheckFailed,
    call,
    expect_close,
    expect_scalar_loss_with_gradients,
    expect_true,
    lab_check,
)


@lab_check("check_row_softmax")
def check_row_softmax(fn):
    x = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
    expected = x.softmax(dim=-1)
    got = call(fn, x, case="a 2x3 input")
    expect_close(
        got,
        expected,
        what="softmax",
        case="a 2x3 input",
        mistakes={"softmax over the wrong axis (dim=0)": x.softmax(dim=0)},
    )
    expect_true(torch.allclose(got.sum(-1), torch.ones(2)), "each row should sum to 1")


def test_right_answer_passes_and_counts(capsys):
    assert check_row_softmax(lambda x: x.softmax(-1))
    assert "all 2 checks passed" in capsys.readouterr().out


def test_unfinished_exercise_says_so_and_nothing_else(capsys):
    def todo(x):
        raise NotImplementedError

    assert not check_row_softmax(todo)
    out = capsys.readouterr().out
    assert (
        out.strip()
        == "check_row_softmax: not implemented yet. Replace `raise NotImplementedError` with your code."
    )


def test_known_mistake_is_named():
    with pytest.raises(CheckFailed, match="looks like softmax over the wrong axis"):
        check_row_softmax(lambda x: x.softmax(0))


def test_wrong_shape_is_named():
    with pytest.raises(CheckFailed, match=r"wrong shape: expected \(2, 3\), got \(3,\)"):
        check_row_softmax(lambda x: x[0].softmax(-1))


def test_non_finite_values_mean_numerical_instability():
    with pytest.raises(CheckFailed, match="not numerically stable"):
        check_row_softmax(lambda x: x.softmax(-1) * torch.tensor([1.0, float("nan"), 1.0]))


def test_wrong_values_show_largest_difference_and_both_values():
    with pytest.raises(CheckFailed, match="largest difference") as error:
        check_row_softmax(lambda x: x.exp())
    assert "expected: tensor of shape (2, 3)" in str(error.value)
    assert "got:      tensor of shape (2, 3)" in str(error.value)


def test_non_tensor_and_crashing_answers_are_explained():
    with pytest.raises(CheckFailed, match="should be a torch.Tensor, got list"):
        check_row_softmax(lambda x: [0.3, 0.3, 0.4])
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError on a 2x3 input"):
        check_row_softmax(lambda x: 1 / 0)


def test_passing_something_that_is_not_a_function_is_a_type_error():
    with pytest.raises(TypeError, match="pass your function itself"):
        check_row_softmax(torch.ones(2))


def test_in_ipython_a_failure_shows_the_message_alone_and_a_result_shows_nothing():
    """Run a failing and a passing check in a real IPython shell: what the failure sends to the
    notebook is its message with no traceback frame, and the passing check's value has nothing
    to display (no ``Out: True``)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    sent: list[list[str]] = []
    shell._showtraceback = lambda etype, value, stb: sent.append(stb)  # what ipykernel sends to the notebook
    try:
        shell.user_ns["check"] = check_row_softmax
        shell.run_cell("check(lambda x: x.softmax(0))")
        assert len(sent) == 1 and len(sent[0]) == 1
        assert "softmax over the wrong axis" in sent[0][0] and "framework.py" not in sent[0][0]
        result = shell.run_cell("check(lambda x: x.softmax(-1))")
        assert result.success and result.result
        assert shell.display_formatter.format(result.result) == ({}, {})
        sent.clear()
        shell.run_cell("1 / 0")  # other errors keep their usual traceback
        assert sent and "ZeroDivisionError" in "".join(sent[0])
    finally:
        InteractiveShell.clear_instance()


def test_every_matching_mistake_is_named():
    # on this input two different mistakes give the same answer: the message names both
    got = torch.ones(3)
    with pytest.raises(CheckFailed, match="looks like mistake A -- or mistake B") as err:
        expect_close(got, torch.zeros(3), mistakes={"mistake A": torch.ones(3), "mistake B": torch.ones(3)})
    assert "mistake C" not in str(err.value)


def test_a_known_crash_gets_its_hint():
    def crashes(x):
        return x + torch.ones(5)

    with pytest.raises(CheckFailed, match="This usually means a sum without keepdim"):
        call(crashes, torch.ones(4), case="x", hints={"must match the size": "a sum without keepdim"})
    with pytest.raises(CheckFailed) as err:
        call(crashes, torch.ones(4), case="x", hints={"something else": "unrelated"})
    assert "usually" not in str(err.value)


@lab_check("check_pair_loss")
def check_pair_loss(fn):
    a, b = torch.randn(3, 4, generator=torch.Generator().manual_seed(0)), torch.ones(3, 4)
    expect_scalar_loss_with_gradients(fn, a, b, 2.0, names=("left", "right"))


@pytest.mark.parametrize(
    "loss, message",
    [
        (lambda a, b, s: (a * b).sum(-1) * s, r"return a scalar tensor \(dim 0\), got tensor\(\[.*\]"),
        (lambda a, b, s: (a * b).sum().item(), "return a scalar tensor"),
        (lambda a, b, s: (a * b).sum().detach(), "your loss does not carry gradients"),
        (lambda a, b, s: (a * b.detach()).sum(), "the gradient must reach both left and right"),
        (lambda a, b, s: (a * b).sum() * 0, "the gradient must reach both left and right"),
    ],
)
def test_a_loss_must_be_a_scalar_whose_gradient_reaches_both_inputs(loss, message):
    with pytest.raises(CheckFailed, match=message):
        check_pair_loss(loss)


def test_a_scalar_loss_with_gradients_passes_and_leaves_the_inputs_alone(capsys):
    a, b = torch.zeros(2, 2), torch.zeros(2, 2)

    @lab_check("check_inputs_untouched")
    def check(fn):
        expect_scalar_loss_with_gradients(fn, a, b, names=("a", "b"))

    assert check(lambda x, y: (x + y).pow(2).sum() + x.sum() + y.sum())
    assert "all 3 checks passed" in capsys.readouterr().out
    assert not a.requires_grad and not b.requires_grad and a.grad is None
