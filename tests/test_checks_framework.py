"""The lab-check framework: not-done, wrong (with the named mistake) and right answers."""

import pytest
import torch

from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check


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
    assert check_row_softmax(lambda x: x.softmax(-1)) is True
    assert "all 2 checks passed" in capsys.readouterr().out


def test_unfinished_exercise_says_so_and_nothing_else(capsys):
    def todo(x):
        raise NotImplementedError

    assert check_row_softmax(todo) is False
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
