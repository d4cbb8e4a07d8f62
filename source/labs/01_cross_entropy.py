# %% [markdown]
# # Lab 01 · Cross-entropy and learning
# {{colab_badge}}
#
# **What you will build:** the three pieces every training step of this course rests on: a stable
# softmax, the cross-entropy loss (with class weights and `ignore_index`, exactly as
# `F.cross_entropy`), and one step of stochastic gradient descent. At the end your own loss and
# your own optimizer train the topic classifier of chapter 01.
#
# Replace each `raise NotImplementedError` with your code, then run the check cell below it. A
# check prints a pass line, or an error that names the mistake with expected vs got. Use plain
# torch operations (`torch.exp`, `torch.log`, `amax`, `sum`, indexing); not `torch.softmax`,
# `F.log_softmax`, `torch.logsumexp` or `F.cross_entropy`: those are what the checks compare with.

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
from torch.utils.data import DataLoader

from mmlab.checks.lab01 import check_cross_entropy, check_sgd_step, check_softmax
from mmlab.data.toy_text import load_topics
from mmlab.device import seed_everything
from mmlab.models.bow import BoWClassifier, BoWConfig
from mmlab.train.trainer import TrainConfig, Trainer

seed_everything(0)

# %% [markdown]
# ## Exercise 1: a stable softmax
#
# $$\operatorname{softmax}(z)_c = \frac{e^{z_c - m}}{\sum_j e^{z_j - m}}, \qquad m = \max_j z_j
# \text{ (taken along the same dimension).}$$
#
# - Work along `dim`, for any number of dimensions (`keepdim=True` keeps shapes broadcastable).
# - Subtract each slice's own maximum: `exp(1000.)` is `inf` in float32.
# - Do not change `logits` in place (`logits -= ...` would change the caller's tensor).


# %%
def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Probabilities along ``dim``; same shape as ``logits``."""
    # BEGIN SOLUTION
    z = logits - logits.amax(dim=dim, keepdim=True)
    e = torch.exp(z)
    return e / e.sum(dim=dim, keepdim=True)
    # END SOLUTION


# %%
softmax_done = check_softmax(softmax)

# %% [markdown]
# ## Exercise 2: cross-entropy with class weights and `ignore_index`
#
# For logits $z_i \in \mathbb{R}^C$ and target class $y_i$ of example $i$, with log-probabilities
# $\log q_{i,c} = (z_{i,c} - m_i) - \log \sum_j e^{z_{i,j} - m_i}$ ($m_i$ the row's maximum),
# class weights $w$ (all 1 when `weight` is None) and $K$ the set of examples whose target is not
# `ignore_index`:
#
# $$L = \frac{\sum_{i \in K} w_{y_i}\,\big(-\log q_{i, y_i}\big)}{\sum_{i \in K} w_{y_i}}.$$
#
# - Compute log-probabilities directly; `torch.log(softmax(z))` is $\log 0 = -\infty$ as soon as
#   a probability underflows.
# - Pick each example's target log-probability by indexing (`logp[rows, targets]` or `gather`),
#   not by multiplying with a one-hot vector ($0 \cdot -\infty$ is NaN).
# - Drop the ignored rows before indexing: `-100` is not a valid class index.
# - Return a scalar tensor that autograd can differentiate.


# %%
def cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None, ignore_index: int = -100
) -> torch.Tensor:
    """Mean cross-entropy of ``logits (N, C)`` against class indices ``targets (N,)``, as F.cross_entropy."""
    # BEGIN SOLUTION
    keep = targets != ignore_index  # (N,)
    z, y = logits[keep], targets[keep]  # (K, C), (K,)
    z = z - z.amax(dim=-1, keepdim=True)
    logp = z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True))  # (K, C)
    nll = -logp[torch.arange(len(y)), y]  # (K,)
    w = weight[y] if weight is not None else torch.ones_like(nll)  # (K,)
    return (w * nll).sum() / w.sum()
    # END SOLUTION


# %%
cross_entropy_done = check_cross_entropy(cross_entropy)

# %% [markdown]
# ## Exercise 3: one SGD step
#
# $$\theta \leftarrow \theta - \eta\, \nabla_\theta L$$
#
# for every parameter $\theta$ in `params` (a list, or `model.parameters()`), with learning rate
# $\eta$ = `lr` and the gradient in `p.grad`, filled by `loss.backward()`.
#
# - Update each tensor **in place**: the model holds these very tensors. `p = p - lr * p.grad`
#   only rebinds a local name.
# - Autograd refuses in-place changes to parameters while it records: use `with torch.no_grad():`.
# - A parameter that took no part in the loss has `p.grad is None`: skip it.


# %%
def sgd_step(params, lr: float) -> None:
    """Move every parameter that has a gradient one step downhill, in place."""
    # BEGIN SOLUTION
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
    # END SOLUTION


# %%
sgd_step_done = check_sgd_step(sgd_step)

# %% [markdown]
# ## Putting it together
#
# Your `cross_entropy` as the loss, your `sgd_step` inside a `torch.optim.Optimizer` (so the
# course's `Trainer` can drive it), on the topic sentences of chapter 01. The held-out sentences
# use templates never seen in training. The bar: held-out accuracy of at least 0.90 after 400
# steps (chance is 0.25). This cell waits until all three checks pass.


# %%
# NBVAL_IGNORE_OUTPUT
class YourSGD(torch.optim.Optimizer):
    """Plain SGD whose update is your ``sgd_step``; the Trainer's schedule sets ``group["lr"]``."""

    def __init__(self, params, lr: float) -> None:
        super().__init__(params, {"lr": lr})

    def step(self, closure=None) -> None:
        for group in self.param_groups:
            sgd_step(group["params"], group["lr"])


def loss_fn(model, batch):
    ids, y = batch  # (B, T), (B,)
    logits = model(ids)  # (B, C)
    return cross_entropy(logits, y), {"accuracy": (logits.argmax(-1) == y).float().mean()}


if softmax_done and cross_entropy_done and sgd_step_done:
    seed_everything(0)
    data = load_topics(n_train=2000, n_test=800, seed=0)
    model = BoWClassifier(
        BoWConfig(len(data.vocab), len(data.classes), embed_dim=16, unk_id=data.vocab.unk_id)
    )
    config = TrainConfig(max_steps=400, lr=5.0, schedule="constant", eval_every=50, progress=False)
    trainer = Trainer(
        model,
        loss_fn,
        DataLoader(data.train, batch_size=32, shuffle=True),
        DataLoader(data.test, batch_size=256),
        config,
        optimizer=YourSGD(model.parameters(), lr=config.lr),
    )
    history = trainer.fit()
    accuracy = history.last("accuracy")
    print(f"held-out accuracy with your loss and your optimizer: {accuracy:.3f}")
    assert accuracy >= 0.90, f"held-out accuracy {accuracy:.3f} is below the bar 0.90"
else:
    print("Finish the three exercises above (all checks passing), then run this cell again.")

# %% [markdown]
# **Going further.** Try `lr=0.5` and `lr=50` in the cell above: what happens to the loss curve
# (`history.plot()`)? Add momentum to `sgd_step` ($v \leftarrow \mu v + \nabla L$,
# $\theta \leftarrow \theta - \eta v$, with $v$ kept per parameter in `self.state[p]`) and compare.
