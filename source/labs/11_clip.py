# %% [markdown]
# # Lab 11 · The CLIP loss and zero-shot prediction
# {{colab_badge}}
#
# **What you will build:** the two functions at the heart of chapter 11, from scratch: the symmetric
# InfoNCE loss with a temperature, and zero-shot classification from embeddings. Each exercise is
# followed by a check that compares your function with the course's reference and names the mistake.

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

from mmlab.checks.lab11 import check_clip_loss, check_zero_shot_predict
from mmlab.device import get_device, seed_everything

seed_everything(0)
print(f"device: {get_device()}")

# %% [markdown]
# ## Exercise 1: the symmetric InfoNCE loss
#
# A batch holds $B$ matching pairs: row $i$ of `image_emb` and row $i$ of `text_emb` (both `[B, d]`,
# already L2-normalised). With the scale $s$ = `logit_scale` $= 1/\tau$ ($\tau$ the temperature), the
# logits are $\ell_{ij} = s\, u_i \cdot v_j$. Image $i$ must pick text $i$ (a cross-entropy over row $i$)
# and text $i$ must pick image $i$ (over column $i$):
#
# $$\mathcal{L} = \tfrac{1}{2}\big[\mathrm{CE}(\ell, y) + \mathrm{CE}(\ell^\top, y)\big], \qquad y = (0, 1, \dots, B-1)$$
#
# Return a scalar tensor. Hints: `image_emb @ text_emb.T`, `torch.arange(B)`, `F.cross_entropy`.


# %%
def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: float) -> torch.Tensor:
    # BEGIN SOLUTION
    logits = logit_scale * image_emb @ text_emb.T  # (B, B): rows are images, columns texts
    labels = torch.arange(logits.size(0), device=logits.device)  # pair i sits on the diagonal
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    # END SOLUTION


# %%
check_clip_loss(clip_loss)

# %% [markdown]
# ## Exercise 2: zero-shot prediction
#
# Given image embeddings `[N, d]` and one embedding per class prompt `[C, d]` ("a handwritten seven"),
# predict for each image the class whose prompt is most similar by **cosine** similarity. The inputs here
# are *not* normalised: normalise both first. Return the class indices, shape `[N]`.


# %%
def zero_shot_predict(image_emb: torch.Tensor, class_text_emb: torch.Tensor) -> torch.Tensor:
    # BEGIN SOLUTION
    similarity = F.normalize(image_emb, dim=-1) @ F.normalize(class_text_emb, dim=-1).T  # (N, C)
    return similarity.argmax(dim=-1)
    # END SOLUTION


# %%
check_zero_shot_predict(zero_shot_predict)

# %% [markdown]
# ## Done
# With both functions you have CLIP's training signal and its classifier. Back in chapter 11, these are
# `mmlab.models.clip.clip_loss` and `zero_shot_predict`; chapter 12 moves on to generating text about images.
