"""The lab-check framework: run a learner's function, compare with the reference, name the mistake.

A check is a function ``check_xxx(student_fn)`` decorated with :func:`lab_check`. Inside it, call
the learner's code through :func:`call` and compare results with :func:`expect_close` (or raise
:class:`CheckFailed` yourself). The decorator turns the three outcomes into what a learner needs:

* the exercise still raises ``NotImplementedError``: one line saying it is not done yet;
* a wrong answer: :class:`CheckFailed` whose message names the mistake, with expected vs got;
* a right answer: one line saying how many cases passed.

Naming the mistake works by comparison with known wrong answers: a check passes ``mistakes``, a
mapping from a description ("softmax over the wrong axis") to what that wrong implementation
returns; when the learner's output matches one of them, the message says so.

Messages follow the learner's language (:func:`mmlab.set_language`): this module writes its own
sentences in both languages side by side (:func:`mmlab.i18n.en_zh`); the checks' English texts (what, case,
mistake descriptions, ``expect_true`` and ``CheckFailed`` messages) are translated through the
catalog of :mod:`mmlab.messages`.

In Jupyter a failed check shows its message alone (no traceback: the only frame would be this
file, which reads as "the course is broken"). A check's result is a :class:`CheckResult`, true when
it passed, which prints nothing as a cell's last value (no ``Out: True``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch

from mmlab.i18n import en_zh, get_language
from mmlab.messages import localize, spaced

__all__ = [
    "CheckFailed",
    "CheckResult",
    "call",
    "describe",
    "expect_close",
    "expect_scalar_loss_with_gradients",
    "expect_true",
    "lab_check",
]


class CheckFailed(AssertionError):
    """The learner's answer is wrong; the message says how.

    IPython (Jupyter, Colab) shows it as the message alone: its only traceback frame would be this
    framework's, which tells the learner nothing about their code.
    """

    localized = False  # True once the message is in the learner's language (set by this module)

    def _render_traceback_(self) -> list[str]:
        return [f"\u274c {self}"]


def _failed(message: str) -> CheckFailed:
    """A :class:`CheckFailed` whose message is already in the learner's language."""
    err = CheckFailed(message)
    err.localized = True
    return err


class CheckResult:
    """What a check returns: true when every case passed, false when the exercise is not done yet.

    It has already printed its one line, so as a notebook cell's last value it shows nothing.
    """

    def __init__(self, passed: bool) -> None:
        self.passed = passed

    def __bool__(self) -> bool:
        return self.passed

    def __eq__(self, other: object) -> bool:
        return bool(self) == other if isinstance(other, (bool, CheckResult)) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.passed)

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self) -> None:
        """Nothing to show: the check printed its line already."""


class _Counter:
    """Counts the comparisons a check made, for the success message."""

    def __init__(self) -> None:
        self.count = 0


_active: list[_Counter] = []


def lab_check(name: str) -> Callable[[Callable[[Callable], None]], Callable[[Callable], CheckResult]]:
    """Decorate ``check(student_fn)`` so it reports not-done / wrong / right clearly.

    The decorated check returns a true :class:`CheckResult` when everything passes and a false one
    when the exercise is not implemented yet; it raises :class:`CheckFailed` when the answer is wrong.
    """

    def decorate(check: Callable[[Callable], None]) -> Callable[[Callable], CheckResult]:
        @functools.wraps(check)
        def run(student_fn: Callable, *args: Any, **kwargs: Any) -> CheckResult:
            if not callable(student_fn):
                raise TypeError(
                    en_zh(
                        f"{name}: pass your function itself, e.g. check(my_fn), not {student_fn!r}",
                        f"{name}：请传入函数本身，例如 check(my_fn)，而不是 {student_fn!r}",
                    )
                )
            counter = _Counter()
            _active.append(counter)
            try:
                check(student_fn, *args, **kwargs)
            except NotImplementedError:
                print(
                    en_zh(
                        f"{name}: not implemented yet. Replace `raise NotImplementedError` with your code.",
                        f"{name}：还没有实现。请把 `raise NotImplementedError` 换成你的代码。",
                    )
                )
                return CheckResult(False)
            except CheckFailed as err:
                text = str(err) if err.localized else localize(str(err))
                raise _failed(f"{name}: {spaced(text) if get_language() == 'zh' else text}") from None
            finally:
                _active.pop()
            print(
                en_zh(
                    f"{name}: all {counter.count} checks passed.",
                    f"{name}：全部 {counter.count} 项检查通过。",
                )
            )
            return CheckResult(True)

        return run

    return decorate


def describe(value: Any) -> str:
    """A short description of a value for error messages (shape and a few numbers)."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().flatten()
        preview = ", ".join(f"{x:.4g}" for x in flat[:6].tolist())
        more = ", ..." if flat.numel() > 6 else ""
        return en_zh(
            f"tensor of shape {tuple(value.shape)} [{preview}{more}]",
            f"形状为 {tuple(value.shape)} 的张量 [{preview}{more}]",
        )
    return repr(value)


def call(
    student_fn: Callable,
    *args: Any,
    case: str = "",
    hints: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """Call the learner's function; an exception other than NotImplementedError becomes a
    :class:`CheckFailed` that says on which input it happened.

    ``hints`` maps a piece of an error message to the mistake that usually causes it (a size
    mismatch from a sum without ``keepdim=True``, ...): the first that matches is added.
    """
    try:
        return student_fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as err:
        kind = type(err).__name__
        hint = next((localize(h) for key, h in (hints or {}).items() if key in str(err)), "")
        if get_language() == "zh":
            where = f"在{localize(case)}上" if case else ""
            hint = f"\n  这通常意味着{hint}" if hint else ""
            raise _failed(f"你的函数{where}抛出了 {kind}：{err}{hint}") from err
        where = f" on {case}" if case else ""
        hint = f"\n  This usually means {hint}" if hint else ""
        raise _failed(f"your function raised {kind}{where}: {err}{hint}") from err


def _matches(got: torch.Tensor, candidate: Any, atol: float, rtol: float) -> bool:
    if not isinstance(candidate, torch.Tensor) or candidate.shape != got.shape:
        return False
    got64, cand64 = got.detach().double().cpu(), candidate.detach().double().cpu()
    same_nan = torch.isnan(got64) == torch.isnan(cand64)
    return bool(same_nan.all()) and torch.allclose(
        torch.nan_to_num(got64), torch.nan_to_num(cand64), atol=atol, rtol=rtol
    )


def _count() -> None:
    if _active:
        _active[-1].count += 1


def expect_close(
    got: Any,
    expected: torch.Tensor,
    *,
    what: str = "result",
    case: str = "",
    mistakes: Mapping[str, Any] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    mistake_atol: float | None = None,
) -> None:
    """Raise :class:`CheckFailed` unless ``got`` is a tensor equal to ``expected`` within tolerance.

    ``mistake_atol`` (default ``atol``) is the tolerance for recognising a known mistake: looser
    where a mistake's values are large and float32 rounding makes an exact match unlikely.

    The message names, in this order: a non-tensor result, the known mistakes from ``mistakes`` that
    ``got`` matches (all of them: on one input two mistakes can give the same answer), a wrong shape, NaN or infinity (not numerically stable), and otherwise the
    largest difference with expected vs got.
    """
    zh = get_language() == "zh"
    what = localize(what)
    where = (f"对于{localize(case)}，" if zh else f" for {case}") if case else ""
    shown = f"\n  expected: {describe(expected)}\n  got:      {describe(got)}"
    if zh:
        shown = f"\n  期望: {describe(expected)}\n  得到: {describe(got)}"
    if not isinstance(got, torch.Tensor):
        raise _failed(
            en_zh(
                f"your {what}{where} should be a torch.Tensor, got {type(got).__name__}: {describe(got)}",
                f"{where}你的{what}应是 torch.Tensor，得到的是 {type(got).__name__}：{describe(got)}",
            )
        )
    loose = atol if mistake_atol is None else mistake_atol
    matched = [
        localize(description)
        for description, wrong in (mistakes or {}).items()
        if _matches(got, wrong, loose, rtol) and not _matches(got, expected, atol, rtol)
    ]
    if matched:  # on this input several mistakes can give the same answer: name them all
        raise _failed(
            en_zh(
                f"your {what}{where} looks like {' -- or '.join(matched)}.{shown}",
                f"{where}你的{what}看起来是{'——或者是'.join(matched)}。{shown}",
            )
        )
    if got.shape != expected.shape:
        raise _failed(
            en_zh(
                f"your {what}{where} has the wrong shape: expected {tuple(expected.shape)}, got {tuple(got.shape)}",
                f"{where}你的{what}形状不对：期望 {tuple(expected.shape)}，得到 {tuple(got.shape)}",
            )
        )
    got64, expected64 = got.detach().double().cpu(), expected.detach().double().cpu()
    bad = ~torch.isfinite(got64) & torch.isfinite(expected64)
    if bad.any():
        raise _failed(
            en_zh(
                f"your {what}{where} contains NaN or infinity at {int(bad.sum())} of {got.numel()} positions, "
                f"where the right answer is finite: the computation is not numerically stable.{shown}",
                f"{where}你的{what}在 {got.numel()} 个位置中有 {int(bad.sum())} 个是 NaN 或无穷大，"
                f"而正确答案是有限值：计算在数值上不稳定。{shown}",
            )
        )
    if not _matches(got, expected, atol, rtol):
        diff = (torch.nan_to_num(got64) - torch.nan_to_num(expected64)).abs()
        worst = int(diff.argmax())
        index = (
            tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), got.shape)) if got.dim() else ()
        )
        raise _failed(
            en_zh(
                f"your {what}{where} is not equal to the expected value (largest difference "
                f"{diff.max().item():.3g} at index {index}, tolerance {atol:g} + {rtol:g} x |expected|).{shown}",
                f"{where}你的{what}与期望值不相等（最大差值 {diff.max().item():.3g}，位于下标 {index}，"
                f"容差 {atol:g} + {rtol:g} x |期望值|）。{shown}",
            )
        )
    _count()


def expect_true(condition: bool, message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` (translated, see :mod:`mmlab.checks.messages`)
    unless ``condition`` holds."""
    if not condition:
        raise _failed(localize(message))
    _count()


def expect_scalar_loss_with_gradients(
    student_loss: Callable,
    first: torch.Tensor,
    second: torch.Tensor,
    *args: Any,
    names: tuple[str, str],
) -> None:
    """The learner's ``student_loss(first, second, *args)`` is a scalar that trains: a 0-dim tensor
    that carries gradients, and its gradient reaches both inputs (``names`` name them in the message).

    Shared by the contrastive losses of labs 11 (CLIP) and 16 (the two-tower in-batch softmax); the
    inputs are copied, so the caller's tensors stay as they are.
    """
    first = first.clone().requires_grad_()
    second = second.clone().requires_grad_()
    got = call(student_loss, first, second, *args, case=en_zh("inputs that require grad", "需要梯度的输入"))
    expect_true(
        isinstance(got, torch.Tensor) and got.dim() == 0,
        en_zh(f"return a scalar tensor (dim 0), got {got!r}", f"请返回标量张量（0 维），得到的是 {got!r}"),
    )
    expect_true(
        got.requires_grad,
        en_zh(
            "your loss does not carry gradients (.item(), .detach() or no_grad inside?)",
            "你的损失不带梯度（里面用了 .item()、.detach() 或 no_grad？）",
        ),
    )
    got.backward()
    reached = all(x.grad is not None and x.grad.abs().sum() > 0 for x in (first, second))
    expect_true(
        reached,
        en_zh(
            f"the gradient must reach both {names[0]} and {names[1]}",
            f"梯度必须同时传到 {names[0]} 和 {names[1]}",
        ),
    )
