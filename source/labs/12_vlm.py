# %% [markdown]
# # Lab 12 · A vision-language model's input and its loss mask
# {{colab_badge}}
#
# **What you will build:** the two pieces of chapter 12's mini-VLM that decide what it learns: the
# input sequence (the image's patch features, projected into the language model's space, *then* the
# text), and a training row whose targets count only the answer. Each exercise is followed by a check
# that compares your function with the course's reference and names the mistake.

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
from torch import nn

from mmlab.checks.lab12 import check_vlm_inputs, check_vlm_row
from mmlab.device import seed_everything
from mmlab.models.vlm import IGNORE

seed_everything(0)
print(f"IGNORE = {IGNORE} (F.cross_entropy's ignore_index: targets with this value add no loss)")

# %% [markdown]
# ## Exercise 1: image tokens, then text
#
# An image encoder gives $P$ patch features per image, `features` of shape `[B, P, d_v]`. A small
# `projector` (an `nn.Module`, e.g. LLaVA's two-layer MLP) maps each to the language model's width $C$,
# and the language model's token `embedding` (an `nn.Embedding`) turns the text ids `[B, T]` into
# `[B, T, C]`. The language model then reads one sequence: the $P$ image tokens first, then the $T$
# text embeddings, `[B, P + T, C]`. Under the causal mask, every text position can then look at the
# whole picture (and the picture never at the text).
#
# Hints: `projector(features)`, `embedding(ids)`, `torch.cat([...], dim=...)`.


# %%
def vlm_inputs(
    features: torch.Tensor, ids: torch.Tensor, projector: nn.Module, embedding: nn.Embedding
) -> torch.Tensor:
    # BEGIN SOLUTION
    image_tokens = projector(features)  # (B, P, C): patches in the language model's space
    text_tokens = embedding(ids)  # (B, T, C)
    return torch.cat([image_tokens, text_tokens], dim=1)  # (B, P + T, C): image first
    # END SOLUTION


# %%
check_vlm_inputs(vlm_inputs)

# %% [markdown]
# ## Exercise 2: a training row with the loss on the answer only
#
# A question row is `prompt` (the question's ids and the `<answer>` token) followed by `answer` (the
# answer's ids and `<eos>`); a caption row is the `<caption>` token followed by the caption and
# `<eos>`. The model reads `ids`, the tokens without the last one (nothing is predicted after
# `<eos>`), padded with `pad_id` to `max_len`. At input position $t$ it predicts token $t + 1$, so
# `targets[t]` is the next token, but only where that next token belongs to the answer: the question
# is given, not learned, and the padding is nothing. Everywhere else `targets` holds `IGNORE` (-100).
#
# Example with `prompt = [q1, q2, <answer>]`, `answer = [a1, <eos>]`, `max_len = 6`:
#
# | position | 0 | 1 | 2 | 3 | 4 | 5 |
# |---|---|---|---|---|---|---|
# | `ids` | q1 | q2 | `<answer>` | a1 | pad | pad |
# | `targets` | -100 | -100 | a1 | `<eos>` | -100 | -100 |
#
# Return `(ids, targets)`, two `torch.long` tensors of shape `[max_len]`.


# %%
def vlm_row(
    prompt: list[int], answer: list[int], max_len: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    # BEGIN SOLUTION
    tokens = prompt + answer
    ids = torch.full((max_len,), pad_id, dtype=torch.long)
    targets = torch.full((max_len,), IGNORE, dtype=torch.long)
    ids[: len(tokens) - 1] = torch.tensor(tokens[:-1])
    # position t predicts token t + 1: the answer's first token is the target at the prompt's last position
    targets[len(prompt) - 1 : len(tokens) - 1] = torch.tensor(answer)
    return ids, targets
    # END SOLUTION


# %%
check_vlm_row(vlm_row)

# %% [markdown]
# ## Done
# Together these are what chapter 12's `MiniVLM.forward` feeds its GPT and what
# `build_vlm_examples` trains it on: stage 1 learns only the projector of exercise 1, and the mask of
# exercise 2 is why a question's words never count in the loss. The same layout is
# `transformers`' `LlavaForConditionalGeneration` (image features through `multi_modal_projector`,
# placed before the text's `inputs_embeds`; labels -100 outside the answer).
