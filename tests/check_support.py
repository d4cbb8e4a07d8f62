"""Helpers the lab-check tests share: an unfinished exercise, and the two outcomes every check has."""

import pytest

from mmlab.checks.framework import CheckFailed, CheckResult


def not_done(*args, **kwargs):
    """A learner's exercise left as the template has it."""
    raise NotImplementedError


def assert_passes_and_unfinished_says_so(check, fn, capsys) -> None:
    """The right answer passes; the untouched template is reported as not implemented yet."""
    result = check(fn)
    assert isinstance(result, CheckResult) and result
    assert "checks passed" in capsys.readouterr().out
    result = check(not_done)
    assert isinstance(result, CheckResult) and not result
    assert "not implemented yet" in capsys.readouterr().out


def expect_message(check, fn, message: str) -> None:
    """``check(fn)`` fails with a message that contains ``message``."""
    with pytest.raises(CheckFailed) as info:
        check(fn)
    assert message in str(info.value), str(info.value)
