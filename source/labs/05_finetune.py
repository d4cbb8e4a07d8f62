# %% [markdown]
# # Lab 05 · Precision, recall, F1 and the [CLS] head
# {{colab_badge}}
#
# **What you will build:** the metrics that chapter 05 reports, from a confusion matrix, and BERT's
# classification head on the [CLS] vector. Read chapter 05 first.

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

from mmlab.checks.lab05 import check_cls_head, check_precision_recall_f1
from mmlab.device import get_device, seed_everything

seed_everything(0)
print(f"device: {get_device()}")

# %% [markdown]
# ## 1. Precision, recall and F1 from a confusion matrix
#
# `confusion[i, j]` counts examples of true class $i$ predicted as class $j$ (rows true, columns
# predicted). For class $c$: $P_c = M_{cc} / \sum_i M_{ic}$ (column sum), $R_c = M_{cc} / \sum_j M_{cj}$
# (row sum), $F1_c = 2 P_c R_c / (P_c + R_c)$.
#
# - `average="macro"`: compute $P_c, R_c, F1_c$ per class, then return the mean of each over the classes.
# - `average="micro"`: sum $M_{cc}$, the column sums and the row sums over all classes first, then apply
#   the formulas once.
#
# A 0/0 (a class never predicted, or never present) counts as 0. Return three Python floats.


# %%
def precision_recall_f1(confusion, average="macro"):
    """(precision, recall, f1) of a [C, C] confusion matrix."""
    # BEGIN SOLUTION
    m = confusion.double()
    tp, predicted, actual = m.diagonal(), m.sum(dim=0), m.sum(dim=1)
    if average == "micro":
        tp, predicted, actual = tp.sum(), predicted.sum(), actual.sum()
    elif average != "macro":
        raise ValueError(f"average must be 'macro' or 'micro', got {average!r}")

    def divide(a, b):
        return torch.where(b > 0, a / b.clamp(min=1e-12), torch.zeros_like(a))

    precision, recall = divide(tp, predicted), divide(tp, actual)
    f1 = divide(2 * precision * recall, precision + recall)
    return float(precision.mean()), float(recall.mean()), float(f1.mean())
    # END SOLUTION


# %%
check_precision_recall_f1(precision_recall_f1)

# %% [markdown]
# ## 2. The [CLS] classification head
#
# BERT's classifier reads only the first position's hidden vector $h_{\text{[CLS]}}$ (index 0), passes it
# through the **pooler** $u = \tanh(W_p h_{\text{[CLS]}} + b_p)$ and then a linear **classifier**
# $z = W_c u + b_c$. Build it with two layers named `self.pooler` (width $C \to C$) and `self.classifier`
# ($C \to$ `n_classes`); `forward` takes hidden states `[B, T, C]` and returns logits `[B, n_classes]`.


# %%
class ClsHead(nn.Module):
    def __init__(self, d_model, n_classes):
        super().__init__()
        # BEGIN SOLUTION
        self.pooler = nn.Linear(d_model, d_model)
        self.classifier = nn.Linear(d_model, n_classes)
        # END SOLUTION

    def forward(self, hidden):
        # BEGIN SOLUTION
        pooled = torch.tanh(self.pooler(hidden[:, 0]))  # [B, C]: the [CLS] position only
        return self.classifier(pooled)  # [B, n_classes]
        # END SOLUTION


# %%
check_cls_head(ClsHead)

# %% [markdown]
# ## Questions to think about
#
# - On 90 negatives and 10 positives, a model that always says "negative" has accuracy 0.90. What are its
#   macro F1 and its micro F1? Which one would you report?
# - Why can the [CLS] position summarise the whole sentence, although it is only one token?
