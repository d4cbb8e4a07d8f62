# %% [markdown]
# # Lab 09 · From pixels to tokens
# {{colab_badge}}
#
# **What you will build:** the arithmetic and the tensor moves that chapter 09's encoders rest on:
# the size of a convolution's output grid, cutting an image into ViT patches, putting the [CLS]
# token and the positions in front of the Transformer, and reading the image vector back out.
# Each exercise is followed by a check that names the usual mistakes. Finally your functions
# rebuild the input of the course's ViT, number for number.

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
import torch.nn.functional as F

from mmlab.checks.lab09 import (
    check_add_cls_and_positions,
    check_cls_pool,
    check_conv_output_size,
    check_patchify,
)
from mmlab.device import seed_everything

seed_everything(0)

# %% [markdown]
# ## 1. The size of a convolution's output
# A $k \times k$ filter slides over an image of side $n$ padded with $p$ zeros on *each* side, moving
# $s$ pixels at a time. It fits at $\lfloor (n + 2p - k) / s \rfloor + 1$ places along each side:
# the first window starts at 0, the last one must end inside the padded image, and a window that
# would stick out is dropped. Write that as a function returning a Python `int`.


# %%
def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Side of the output grid of a convolution over a square input of side ``size``."""
    # BEGIN SOLUTION
    return (size + 2 * padding - kernel_size) // stride + 1
    # END SOLUTION


# %%
check_conv_output_size(conv_output_size)

# %% [markdown]
# Chapter 09's CNN on the 24 x 24 shapes uses 3 x 3 filters with padding 1 and stride 2, twice:

# %%
try:
    side = conv_output_size(conv_output_size(24, 3, stride=2, padding=1), 3, stride=2, padding=1)
    print(f"24 x 24 -> {side} x {side} feature map")
except NotImplementedError:
    print("finish exercise 1 first")

# %% [markdown]
# ## 2. Cutting an image into patches
# A ViT cuts an image $(C, H, W)$ into $N = (H/p)(W/p)$ non-overlapping $p \times p$ patches, read
# row by row (left to right, then the next row), and flattens each to a vector of $C p^2$ numbers
# **channel first**: all of the patch's red values (row by row), then green, then blue. That order
# matches a convolution's weight, laid out $(C, p, p)$, so that one matrix product of the flattened
# patches is the patch embedding. Return the patches of a batch, shape $(B, N, C p^2)$.
# (Hint: `Tensor.unfold(dim, p, p)` cuts one axis into windows; or look up `F.unfold`.)


# %%
def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """images (B, C, H, W) -> (B, N, C * p * p) with N = (H / p) * (W / p), patches row by row."""
    # BEGIN SOLUTION
    b, c = images.shape[:2]
    p = patch_size
    grid = images.unfold(2, p, p).unfold(3, p, p)  # (B, C, H/p, W/p, p, p)
    return grid.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * p * p)  # channel first inside each patch
    # END SOLUTION


# %%
check_patchify(patchify)

# %% [markdown]
# ## 3. The [CLS] token and the positions
# The ViT puts a learned vector, the [CLS] token, in front of the $N$ patch tokens and adds a
# learned position vector to every token: position 0 to [CLS], position $i + 1$ to patch $i$.
# Given patch tokens $(B, N, d)$, the [CLS] vector $(d,)$ and the position table $(N + 1, d)$,
# return the Transformer's input, shape $(B, N + 1, d)$.


# %%
def add_cls_and_positions(tokens: torch.Tensor, cls: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """tokens (B, N, d), cls (d,), positions (N + 1, d) -> (B, N + 1, d)."""
    # BEGIN SOLUTION
    cls_tokens = cls.expand(tokens.size(0), 1, -1)  # (B, 1, d): the same vector for every image
    return torch.cat([cls_tokens, tokens], dim=1) + positions
    # END SOLUTION


# %%
check_add_cls_and_positions(add_cls_and_positions)

# %% [markdown]
# ## 4. The image vector
# After the Transformer blocks, the output at the [CLS] position summarises the image: every layer
# let it attend to all patches. Return it from the encoded tokens $(B, 1 + N, d)$, shape $(B, d)$.


# %%
def cls_pool(encoded: torch.Tensor) -> torch.Tensor:
    """encoded (B, 1 + N, d) -> (B, d): the [CLS] output."""
    # BEGIN SOLUTION
    return encoded[:, 0]
    # END SOLUTION


# %%
check_cls_pool(cls_pool)

# %% [markdown]
# ## Where these go
# Your functions rebuild what the course's `ViT` (`mmlab.models.vision`, the one chapter 09 trains)
# computes: its patch embedding is a convolution with kernel = stride = $p$, which is your patches
# times one matrix; its Transformer's input is your [CLS] and positions; its image vector is your
# [CLS] output.

# %%
from mmlab.models.vision import ViT
from mmlab.recipes.registry import resolve_settings
from mmlab.recipes.vit import vit_config

try:
    config = vit_config(resolve_settings("vit"))  # chapter 09's ViT: 24 x 24 RGB shapes, 4 x 4 patches
    vit = ViT(config).eval()
    images = torch.rand(2, 3, config.image_size, config.image_size)
    conv = vit.patch_embed.proj  # Conv2d(3, d, kernel_size=p, stride=p)
    with torch.no_grad():
        tokens = patchify(images, config.patch_size) @ conv.weight.flatten(1).T + conv.bias  # (2, 36, d)
        assert torch.allclose(tokens, vit.patch_embed(images), atol=1e-5)
        assert conv_output_size(config.image_size, config.patch_size, stride=config.patch_size) ** 2 == tokens.shape[1]
        x = add_cls_and_positions(tokens, vit.cls[0, 0], vit.transformer.positions.embedding.weight)
        for block in vit.transformer.blocks:
            x = block(x)
        ours = cls_pool(vit.transformer.norm(x) if vit.transformer.norm is not None else x)
        assert torch.allclose(ours, vit(images), atol=1e-5)
    print(f"your patches, [CLS], positions and pooling give the ViT's image vectors, shape {tuple(ours.shape)}")
except NotImplementedError:
    print("finish exercises 1-4 first")
