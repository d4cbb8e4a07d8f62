# %% [markdown]
# # Lab 07 · Supervised fine-tuning
# {{colab_badge}}
#
# **What you will build:** the three pieces that turn a language model into a chat model (chapter 07): the
# chat template, the mask that keeps the loss on the assistant's tokens, and the masked loss. Each exercise is
# followed by a check that compares your function with the course's and names the mistake if there is one.

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

from mmlab.checks.lab07 import check_assistant_loss_mask, check_masked_sft_loss, check_render_chat
from mmlab.data.chat import ASSISTANT, PAD, SYSTEM, TEMPLATE, USER
from mmlab.device import get_device, seed_everything

seed_everything(0)
print(f"device: {get_device()}")
print(f"role ids: PAD={PAD} TEMPLATE={TEMPLATE} SYSTEM={SYSTEM} USER={USER} ASSISTANT={ASSISTANT}")

# %% [markdown]
# ## Exercise 1: the chat template
#
# Write `render(messages, add_generation_prompt)`. Each message `{"role": r, "content": c}` becomes one line:
# the marker `S:` (system), `U:` (user) or `A:` (assistant), a space, the content, and a newline `"\n"`. With
# `add_generation_prompt=True`, the text ends with `A:` (no space, no newline) so the model writes the reply.
#
# ```
# [{"role": "user", "content": "colour of sky"}]  ->  "U: colour of sky\n"      (+ "A:" with the generation prompt)
# ```


# %%
def render(messages: list[dict], add_generation_prompt: bool = False) -> str:
    # BEGIN SOLUTION
    markers = {"system": "S:", "user": "U:", "assistant": "A:"}
    text = "".join(f"{markers[m['role']]} {m['content']}\n" for m in messages)
    return text + "A:" if add_generation_prompt else text
    # END SOLUTION


# %%
check_render_chat(render)

# %% [markdown]
# ## Exercise 2: where the loss counts
#
# Every token of a rendered chat has a role id (above): `TEMPLATE` for the markers, `SYSTEM`, `USER`,
# `ASSISTANT` for the words (and the newline) of each turn, `PAD` for padding. Write
# `assistant_loss_mask(token_roles)`: a bool tensor of the same shape `[B, T]`, **True where the loss
# counts**: on the assistant's tokens and nowhere else.


# %%
def assistant_loss_mask(token_roles: torch.Tensor) -> torch.Tensor:
    # BEGIN SOLUTION
    return token_roles == ASSISTANT
    # END SOLUTION


# %%
check_assistant_loss_mask(assistant_loss_mask)

# %% [markdown]
# ## Exercise 3: the masked next-token loss
#
# `sft_loss(logits, tokens, mask)` takes the model's logits `[B, T, V]` for the tokens `[B, T]` and the mask
# `[B, T]` from exercise 2. Position $t$ predicts token $t+1$, so compare `logits[:, :-1]` with `tokens[:, 1:]`,
# and count position $t$ when its *target* is the assistant's (`mask[:, 1:]`):
#
# $$\mathcal{L} = -\frac{1}{|A|} \sum_{t \in A} \log p(x_{t+1} \mid x_{\le t}), \qquad A = \{t : \text{mask}[t+1]\}.$$
#
# Return the mean over the counted positions (one number). Hint: `F.cross_entropy(..., reduction="none")`
# takes the classes on dimension 1.


# %%
def sft_loss(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # BEGIN SOLUTION
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")  # (B, T-1)
    counted = mask[:, 1:]
    return (losses * counted).sum() / counted.sum()
    # END SOLUTION


# %%
check_masked_sft_loss(sft_loss)

# %% [markdown]
# ## Going further
#
# - `mmlab.align.instruction_tuning.train_sft_model()` runs chapter 07's pipeline; replace its loss with one built from your
#   `sft_loss` and compare the held-out exact match.
# - Put the loss on the user's tokens too: what does the model then say when you send it an empty assistant
#   turn?
