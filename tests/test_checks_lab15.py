"""Lab 15 checks: the right answers pass, each common mistake gets its own message, unfinished work says so."""

import pytest
import torch
from check_support import assert_passes_and_unfinished_says_so, expect_message

from mmlab.checks import lab15


def vector_quantize(z, codebook, straight_through=True, farthest=False, scaled_grad=False):
    B, D, h, w = z.shape
    flat = z.permute(0, 2, 3, 1).reshape(-1, D)
    d = torch.cdist(flat, codebook)
    codes = (d.argmax(1) if farthest else d.argmin(1)).view(B, h, w)
    chosen = codebook[codes].permute(0, 3, 1, 2)
    if scaled_grad:
        return 2 * z - z.detach() + (chosen - z).detach() + (z - z.detach()), codes
    return (z + (chosen - z).detach() if straight_through else chosen), codes


def q_sample(x0, noise, t, betas, mistake=None):
    return lab15.reference_q_sample(x0, noise, t, betas, mistake=mistake)


def guided_noise(cond, uncond, scale):
    return uncond + scale * (cond - uncond)


@pytest.mark.parametrize(
    ("check", "fn"),
    [
        (lab15.check_vector_quantize, vector_quantize),
        (lab15.check_q_sample, q_sample),
        (lab15.check_guided_noise, guided_noise),
    ],
)
def test_right_answers_pass_and_unfinished_says_so(check, fn, capsys):
    assert_passes_and_unfinished_says_so(check, fn, capsys)


def test_vector_quantize_mistakes_are_named():
    expect_message(
        lab15.check_vector_quantize,
        lambda z, c: vector_quantize(z, c, straight_through=False),
        "gradients not passed straight through",
    )
    expect_message(lab15.check_vector_quantize, lambda z, c: vector_quantize(z, c, farthest=True), "farthest")
    expect_message(
        lab15.check_vector_quantize,
        lambda z, c: vector_quantize(z, c, scaled_grad=True),
        "not the gradient of z_q",
    )
    detached = lambda z, c: tuple(x.detach() if x.is_floating_point() else x for x in vector_quantize(z, c))  # noqa: E731
    expect_message(lab15.check_vector_quantize, detached, "gradients not passed straight through")


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("single", "alpha_t used instead of the cumulative alpha-bar_t"),
        ("variance", "without its square root"),
        ("off_by_one", "alpha-bar of step t - 1"),
        ("beta_cumprod", "cumulative product of the betas"),
    ],
)
def test_q_sample_mistakes_are_named(mistake, message):
    expect_message(lab15.check_q_sample, lambda *a: q_sample(*a, mistake=mistake), message)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda c, u, s: u + s * (u - c), "guidance sign flipped"),
        (lambda c, u, s: c + s * (c - u), "wrong branch"),
        (lambda c, u, s: s * (c - u), "is added to eps_uncond"),
    ],
)
def test_guidance_mistakes_are_named(fn, message):
    expect_message(lab15.check_guided_noise, fn, message)
