# %% [markdown]
# # Lab 15 · Generating images: vector quantisation, forward noising and guidance
# {{colab_badge}}
#
# Write the three pieces of chapter 15 that are easiest to get subtly wrong: the VQ-VAE's
# quantisation step with its straight-through gradient, the DDPM forward process $q(x_t \mid x_0)$,
# and the classifier-free guidance combination. After each exercise, run the check cell below it: it
# says whether your function is right, and if not, which common mistake it looks like. The last cells
# compare your pieces with the library versions.

# %%
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # a normal (not editable) install imports without restarting the runtime
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "mmlab @ git+{{repository}}"],
        check=True,
    )

# %%
import torch

from mmlab.checks.lab15 import check_guided_noise, check_q_sample, check_vector_quantize
from mmlab.device import get_device, seed_everything

seed_everything(0)
print("device:", get_device())

# %% [markdown]
# ## 1. Vector quantisation with the straight-through estimator
#
# `vector_quantize(z, codebook)` takes the encoder output `z` `(B, D, h, w)` and a codebook `(K, D)`
# and returns `(z_q, codes)`: `codes` `(B, h, w)` is the index of the nearest entry (squared
# Euclidean distance) of each of the `B * h * w` vectors, `z_q` `(B, D, h, w)` holds those entries.
#
# The look-up has no gradient, so on its own the encoder would never learn. Return
# `z + (chosen - z).detach()`: in the forward pass it equals `chosen`; in the backward pass its
# derivative with respect to `z` is the identity, so the decoder's gradient reaches the encoder
# unchanged ("straight through").


# %%
def vector_quantize(z: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest codebook entry for each vector of z (B, D, h, w); gradients pass straight through."""
    # BEGIN SOLUTION
    B, D, h, w = z.shape
    flat = z.permute(0, 2, 3, 1).reshape(-1, D)  # (B*h*w, D)
    codes = torch.cdist(flat, codebook).argmin(dim=1)  # (B*h*w,)
    chosen = codebook[codes].view(B, h, w, D).permute(0, 3, 1, 2)  # (B, D, h, w)
    return z + (chosen - z).detach(), codes.view(B, h, w)
    # END SOLUTION


# %%
check_vector_quantize(vector_quantize)

# %% [markdown]
# ## 2. The forward process $q(x_t \mid x_0)$
#
# `q_sample(x0, noise, t, betas)`: with $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \alpha_1 \cdots \alpha_t$
# (`torch.cumprod`; index `t` of it includes step `t`), return
# $\sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon$ for each image (`t` is `(B,)`; reshape
# the factors to `(B, 1, 1, 1)` so they broadcast).


# %%
def q_sample(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """x_t drawn from q(x_t | x_0) in one go."""
    # BEGIN SOLUTION
    alpha_bar = torch.cumprod(1 - betas, dim=0)[t].view(-1, *([1] * (x0.dim() - 1)))  # (B, 1, 1, 1)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
    # END SOLUTION


# %%
check_q_sample(q_sample)

# %% [markdown]
# ## 3. Classifier-free guidance
#
# The denoiser answers twice for the same noisy image: with the caption (`eps_cond`) and without it
# (`eps_uncond`). `guided_noise(eps_cond, eps_uncond, scale)` returns
# $\epsilon_\text{uncond} + s\,(\epsilon_\text{cond} - \epsilon_\text{uncond})$: $s = 0$ ignores the
# caption, $s = 1$ is the plain conditional model, $s > 1$ pushes further in the caption's direction.


# %%
def guided_noise(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    # BEGIN SOLUTION
    return eps_uncond + scale * (eps_cond - eps_uncond)
    # END SOLUTION


# %%
check_guided_noise(guided_noise)

# %% [markdown]
# ## Your pieces against the libraries
#
# `diffusers`' `DDPMScheduler.add_noise` (the noising Stable Diffusion trains with), and PyTorch's
# autograd for the gradient that reaches the encoder:

# %%
try:
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000)  # linear betas from 1e-4 to 0.02
    x0, noise, t = torch.rand(4, 3, 8, 8) * 2 - 1, torch.randn(4, 3, 8, 8), torch.tensor([0, 10, 500, 999])
    mine = q_sample(x0, noise, t, scheduler.betas)
    print("largest difference from diffusers:", (mine - scheduler.add_noise(x0, noise, t)).abs().max().item())
    assert torch.allclose(mine, scheduler.add_noise(x0, noise, t), atol=1e-5)
except ImportError:
    print("diffusers is not installed: pip install diffusers to compare")
except NotImplementedError:
    print("finish exercise 2 first")

# %%
try:
    z = torch.randn(1, 4, 2, 2, requires_grad=True)
    z_q, codes = vector_quantize(z, torch.randn(8, 4))
    z_q.pow(2).sum().backward()  # d/dz_q of sum(z_q^2) is 2 z_q; straight through, z receives exactly that
    print("codes:", codes.tolist())
    print("z.grad equals 2 z_q:", torch.allclose(z.grad, 2 * z_q.detach()))
except NotImplementedError:
    print("finish exercise 1 first")
