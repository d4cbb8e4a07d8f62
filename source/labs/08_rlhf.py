# %% [markdown]
# # Lab 08 · RLHF and DPO: the losses
# {{colab_badge}}
#
# **What you will build:** the four formulas at the heart of chapter 08: the Bradley-Terry loss of a reward
# model, the DPO loss, PPO's clipped objective and generalised advantage estimation (GAE). Each exercise is
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

from mmlab.checks.lab08 import check_bradley_terry_loss, check_dpo_loss, check_gae, check_ppo_clip_loss
from mmlab.device import get_device, seed_everything

seed_everything(0)
print(f"device: {get_device()}")

# %% [markdown]
# ## Exercise 1: the Bradley-Terry loss
#
# A reward model gives the chosen reply $r_w$ and the rejected one $r_l$. Bradley-Terry says
# $P(\text{chosen} \succ \text{rejected}) = \sigma(r_w - r_l)$; the loss is the negative log-likelihood,
# averaged over the batch:
#
# $$\mathcal{L} = -\operatorname{mean}\ \log \sigma(r_w - r_l).$$
#
# `r_chosen` and `r_rejected` have shape `[B]`; return one number. Use `F.logsigmoid` (stable when the gap is
# large: `torch.log(torch.sigmoid(x))` gives `-inf` for very negative `x`).


# %%
def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    # BEGIN SOLUTION
    return -F.logsigmoid(r_chosen - r_rejected).mean()
    # END SOLUTION


# %%
check_bradley_terry_loss(bradley_terry_loss)

# %% [markdown]
# ## Exercise 2: the DPO loss
#
# With $\log \pi(y \mid x)$ the summed log-probability of a reply under the policy and $\log \pi_{\mathrm{ref}}$
# under the frozen reference, DPO's implicit reward is $\beta \log \frac{\pi(y \mid x)}{\pi_{\mathrm{ref}}(y \mid x)}$
# and its loss the Bradley-Terry loss of those rewards:
#
# $$\mathcal{L} = -\operatorname{mean}\ \log \sigma\Big(\beta\big[(\log \pi(y_w) - \log \pi_{\mathrm{ref}}(y_w)) - (\log \pi(y_l) - \log \pi_{\mathrm{ref}}(y_l))\big]\Big).$$
#
# All four inputs have shape `[B]`; return the mean loss.


# %%
def dpo_loss(
    policy_chosen_logp: torch.Tensor,
    policy_rejected_logp: torch.Tensor,
    ref_chosen_logp: torch.Tensor,
    ref_rejected_logp: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    # BEGIN SOLUTION
    margin = (policy_chosen_logp - ref_chosen_logp) - (policy_rejected_logp - ref_rejected_logp)
    return -F.logsigmoid(beta * margin).mean()
    # END SOLUTION


# %%
check_dpo_loss(dpo_loss)

# %% [markdown]
# ## Exercise 3: PPO's clipped objective
#
# For sampled tokens with log-probabilities `logp_old` under the policy that sampled them and `logp_new` under
# the policy being trained, the ratio is $\rho = \exp(\log \pi_{\mathrm{new}} - \log \pi_{\mathrm{old}})$.
# PPO maximises $\operatorname{mean} \min(\rho A, \operatorname{clip}(\rho, 1-\epsilon, 1+\epsilon) A)$; as a
# loss to minimise, return its negative. All inputs `[B]`; `clip` is $\epsilon$.


# %%
def ppo_clip_loss(
    logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, clip: float = 0.2
) -> torch.Tensor:
    # BEGIN SOLUTION
    ratio = torch.exp(logp_new - logp_old)
    clipped = ratio.clamp(1 - clip, 1 + clip) * advantages
    return -torch.minimum(ratio * advantages, clipped).mean()
    # END SOLUTION


# %%
check_ppo_clip_loss(ppo_clip_loss)

# %% [markdown]
# ## Exercise 4: generalised advantage estimation
#
# `rewards` has shape `[T]` and `values` shape `[T + 1]` (the last is the value after the final step). With
# $\delta_t = r_t + \gamma V_{t+1} - V_t$, the advantages are $A_t = \delta_t + \gamma\lambda A_{t+1}$ (and
# $A_T = 0$): compute them from the last step back to the first. Return `[T]`.


# %%
def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    # BEGIN SOLUTION
    advantages = torch.zeros_like(rewards)
    running = 0.0
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * values[t + 1] - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
    return advantages
    # END SOLUTION


# %%
check_gae(gae)

# %% [markdown]
# ## Going further
#
# - In chapter 08, replace `mmlab.align.ppo.ppo_clip_loss` by yours (same signature) and rerun PPO.
# - With `lam = 1` GAE is the Monte-Carlo return minus the value; with `lam = 0` it is the one-step TD error.
#   Check both with your `gae`.
