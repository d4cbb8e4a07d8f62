# %% [markdown]
# # Lab 04 · BERT's masking rule
# {{colab_badge}}
#
# **What you will build:** `mask_tokens`, the corruption behind masked language modelling, checked by
# measuring its rates on a large batch. Read chapter 04 first.

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

from mmlab.checks.lab04 import check_mask_tokens
from mmlab.device import get_device, seed_everything

seed_everything(0)
print(f"device: {get_device()}")

# %% [markdown]
# ## The rule
#
# Given token ids `input_ids` of shape `[B, T]` and a boolean `special_mask` of the same shape (True at
# `[CLS]`, `[SEP]`, `[PAD]`):
#
# 1. **choose** each non-special token independently with probability $p$ (0.15); special tokens are
#    never chosen;
# 2. of the chosen tokens, replace **80%** by `mask_id`, **10%** by a random id drawn uniformly from
#    $[0, V)$ ($V$ = `vocab_size`), and leave **10%** unchanged;
# 3. `labels` is the original id at chosen positions and **-100** everywhere else (the value
#    `F.cross_entropy` ignores), so the loss is taken on the chosen tokens only.
#
# Return `(inputs, labels)` without modifying `input_ids`, and pass `generator` to every random draw
# (`torch.rand(..., generator=generator)`, `torch.bernoulli(..., generator=generator)`,
# `torch.randint(..., generator=generator)`), so a seeded generator reproduces the masks.
#
# Hint: one uniform number $u$ per position splits the chosen tokens: $u < 0.8$ mask, $0.8 \le u < 0.9$
# random, otherwise keep.


# %%
def mask_tokens(input_ids, special_mask, vocab_size, mask_id, p=0.15, generator=None):
    """BERT's MLM corruption: returns (inputs, labels), both [B, T]."""
    # BEGIN SOLUTION
    probability = torch.full(input_ids.shape, p).masked_fill(special_mask.bool(), 0.0)
    chosen = torch.bernoulli(probability, generator=generator).bool()
    labels = input_ids.masked_fill(~chosen, -100)
    u = torch.rand(input_ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    inputs = torch.where(chosen & (u < 0.8), torch.full_like(input_ids, mask_id), input_ids)
    inputs = torch.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, inputs)
    return inputs, labels
    # END SOLUTION


# %%
check_mask_tokens(mask_tokens)

# %% [markdown]
# ## Questions to think about
#
# - Why are 10% of the chosen tokens left unchanged, when the model is then asked to "predict" a token it
#   can see? (Hint: what does the model see at fine-tuning time?)
# - With $p = 0.15$, how many positions of a 64-token sequence carry a loss, on average? What does that
#   mean for how many steps MLM needs compared with a left-to-right language model?
