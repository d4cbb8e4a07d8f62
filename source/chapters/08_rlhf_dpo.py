# %% [markdown]
# # 08 · ChatGPT: RLHF and DPO
# {{colab_badge}}
#
# **What you will build:** the second half of ChatGPT's recipe on the tiny chat model of chapter 07. A reward
# model learns from preference pairs which of two replies people like; PPO tunes the chat model to please it
# while a KL penalty keeps it close to where it started; DPO reaches the same goal from the pairs directly,
# without a reward model. Then TRL's `RewardTrainer` and `DPOTrainer` do the same for comparison, and
# `beta = 0` shows what happens when nothing holds the policy back: reward hacking.

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
import tempfile
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from mmlab.align.dpo import DPOConfig, dpo_loss, train_dpo
from mmlab.align.instruction_tuning import train_sft_model
from mmlab.align.ppo import PPOConfig, kl_to_reference, rollout, train_ppo, win_rate
from mmlab.align.reward import (
    RewardConfig,
    bradley_terry_loss,
    pairwise_accuracy,
    score_conversations,
    train_reward_model,
)
from mmlab.data.chat import POLITE, RUDE, extract_answer
from mmlab.data.preferences import ground_truth_reward, make_preferences
from mmlab.device import get_device, seed_everything
from mmlab.recipes.registry import resolve_settings

seed_everything(0)
torch.set_num_threads(1)  # the course's CPU budget; a GPU changes nothing here, the models are tiny
print(f"device: {get_device()} (these models are small enough that everything runs on the CPU)")

# %% [markdown]
# All settings in one place. The bars this notebook checks: reward model held-out accuracy $\ge 0.9$; PPO at
# the default $\beta$ raises the ground-truth reward by at least 1 with KL below 10 nats and a win rate
# $\ge 0.85$ against the SFT model; KL falls as $\beta$ rises; DPO win rate $\ge 0.85$.

# %%
SCALE = "cpu"  # the `reward`, `dpo` and `ppo` recipes' settings (mmlab/align/rlhf.py)
SEED = 0
BETA = 0.1  # the default KL weight, for PPO and DPO
BETAS = (0.0, BETA, 0.5)  # the sweep
REWARD = resolve_settings("reward", SCALE).reward_config()
PPO = resolve_settings("ppo", SCALE, {"beta": BETA}).ppo_config()
DPO = resolve_settings("dpo", SCALE, {"beta": BETA}).dpo_config()
TRL_STEPS = 60
timings = {}

# %% [markdown]
# ## 1. The starting point: the SFT chat model
#
# `train_sft_model` is chapter 07's pipeline in one call: a 2-layer GPT over a word vocabulary, pretrained
# briefly on plain sentences, then fine-tuned on conversations with the loss on the assistant's tokens. Its
# replies answer the question, but in whatever style its (generated) annotators used: a kind word, a rude
# word or none, before and after the answer, equally often.

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()
sft = train_sft_model(seed=SEED)
model, tokenizer = sft.model, sft.tokenizer
held_out = sft.instructions["held_out"]
held_prompts = [item.prompt for item in held_out]
train_prompts = sorted({item.prompt for item in sft.instructions["train"]})
timings["SFT"] = time.perf_counter() - start
print(
    f"{model.num_parameters():,} parameters, {len(train_prompts)} train / {len(held_prompts)} held-out prompts"
)
base = rollout(model, tokenizer, held_prompts[:6], generator=torch.Generator().manual_seed(SEED))
for prompt, reply in zip(base.prompts, base.replies):
    print(f"U: {prompt:<28} A: {reply}")

# %% [markdown]
# ## 2. Preferences with a rule you can read
#
# Each pair is a prompt and two replies with the same, correct answer. The preferred one is the more polite:
# the **ground-truth reward** is the number of kind words (`sure`, `glad`, `thanks`) minus the number of rude
# ones (`ugh`, `meh`, `duh`). Pairs are never tied. Real preference data comes from people and has no rule
# to read; having one lets us measure exactly how well each method did.

# %%
# NBVAL_CHECK_OUTPUT
prefs = make_preferences(n_train=2000, n_held_out=400, seed=SEED)
for pair in prefs["train"][:4]:
    print(
        f"{pair.prompt:<22} chosen: {pair.chosen:<22} ({pair.score_chosen:+d})   rejected: {pair.rejected} ({pair.score_rejected:+d})"
    )
assert all(p.score_chosen > p.score_rejected for split in prefs.values() for p in split)
print(f"{len(prefs['train'])} train and {len(prefs['held_out'])} held-out pairs, none tied")

# %% [markdown]
# ## 3. The reward model
#
# The reward model $r_\phi(x, y)$ is the SFT model's body with a linear head from the last token's hidden state
# to one number. For a prompt $x$ with chosen reply $y_w$ and rejected reply $y_l$, the Bradley-Terry model
# says $P(y_w \succ y_l) = \sigma(r_\phi(x, y_w) - r_\phi(x, y_l))$, with $\sigma$ the logistic sigmoid;
# maximising the likelihood of the observed preferences gives the loss
#
# $$\mathcal{L}_{\mathrm{RM}} = -\,\mathbb{E}_{(x, y_w, y_l)} \log \sigma\big(r_\phi(x, y_w) - r_\phi(x, y_l)\big).$$
#
# It is binary cross-entropy with logit $r_w - r_l$ and label 1, which is our check against PyTorch.

# %%
r_w, r_l = torch.randn(64), torch.randn(64)
reference = F.binary_cross_entropy_with_logits(r_w - r_l, torch.ones(64))
torch.testing.assert_close(bradley_terry_loss(r_w, r_l), reference, atol=1e-6, rtol=1e-6)
print("bradley_terry_loss equals PyTorch's binary cross-entropy with logits r_w - r_l (tolerance 1e-6)")

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()
reward_model, rm_history = train_reward_model(
    model, tokenizer, prefs["train"], prefs["held_out"], REWARD, seed=SEED
)
timings["reward model"] = time.perf_counter() - start
rm_accuracy = pairwise_accuracy(reward_model, tokenizer, prefs["held_out"])
print(f"held-out pairwise accuracy: {rm_accuracy:.3f}")
assert rm_accuracy >= 0.9, rm_accuracy

# %% [markdown]
# **What did it learn?** Score a few replies to one held-out prompt: no style word, kind words, rude words,
# kind words repeated, and a polite reply with the *wrong* answer.

# %%
item = held_out[0]
wrong = "bad" if item.answer != "bad" else "good"
probes = [
    item.answer,
    f"sure {item.answer} thanks",
    f"ugh {item.answer} duh",
    f"sure sure {item.answer} thanks thanks",
    f"sure {wrong} thanks",
    "sure sure sure sure",
]
probe_scores = score_conversations(reward_model, tokenizer, [item.messages(p) for p in probes])
print(f"U: {item.prompt}   (right answer: {item.answer})")
for probe, score in zip(probes, probe_scores):
    print(f"  A: {probe:<34} reward model {score:+6.2f}   ground truth {ground_truth_reward(probe):+d}")
assert probe_scores[1] > probe_scores[0] > probe_scores[2]  # kind words up, rude words down
assert probe_scores[4] > probe_scores[0] and probe_scores[5] > probe_scores[0]  # fooled: see below

# %% [markdown]
# Kind words raise the score and rude ones lower it, as the rule says (asserted). But the model never saw a
# wrong answer (both replies of every pair were right), so it has no reason to care whether the answer is
# right: the polite reply with the wrong answer, and even the reply with no answer at all, score above the
# plain right answer (asserted). Those are the holes a policy can exploit.
#
# ## 4. PPO with a KL penalty
#
# The policy $\pi_\theta$ (a copy of the SFT model) writes a reply $y = (y_1, \dots, y_T)$ to a prompt $x$;
# the frozen SFT model is the reference $\pi_{\mathrm{ref}}$. Each token gets the reward
#
# $$r_t = -\beta \big(\log \pi_\theta(y_t \mid s_t) - \log \pi_{\mathrm{ref}}(y_t \mid s_t)\big) + \mathbb{1}[t = T]\, r_\phi(x, y),$$
#
# where $s_t = (x, y_{<t})$ is the state; summed over the reply, the penalty is $\beta$ times a sample of
# $\mathrm{KL}(\pi_\theta \,\|\, \pi_{\mathrm{ref}})$. A value head $V(s_t)$ and GAE give advantages
# $A_t = \sum_k (\gamma\lambda)^k \delta_{t+k}$ with $\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)$ (discount
# $\gamma = 1$, smoothing $\lambda = 0.95$). With the ratio $\rho_t = \pi_\theta(y_t \mid s_t) / \pi_{\mathrm{old}}(y_t \mid s_t)$
# to the policy that sampled the batch, several epochs minimise the clipped objective
#
# $$\mathcal{L}_{\mathrm{PPO}} = -\,\mathbb{E}_t \min\big(\rho_t A_t,\ \mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon) A_t\big) + c_v\, \mathbb{E}_t \big(V(s_t) - R_t\big)^2,$$
#
# with $\epsilon = 0.2$, $R_t = A_t + V(s_t)$ and value weight $c_v$.


# %%
# NBVAL_IGNORE_OUTPUT
def evaluate(policy, name: str) -> dict:
    """Held-out ground truth, answer accuracy, KL to the SFT model and win rate against it (sampled replies)."""
    roll = rollout(policy, tokenizer, held_prompts, generator=torch.Generator().manual_seed(SEED + 1))
    return {
        "name": name,
        "ground truth": sum(map(ground_truth_reward, roll.replies)) / len(held_prompts),
        "RM score": float(
            score_conversations(
                reward_model, tokenizer, [i.messages(r) for i, r in zip(held_out, roll.replies)]
            ).mean()
        ),
        "answer right": sum(extract_answer(r) == i.answer for r, i in zip(roll.replies, held_out))
        / len(held_out),
        "KL": kl_to_reference(policy, model, tokenizer, held_prompts, seed=SEED + 1),
        "win rate": win_rate(policy, model, tokenizer, held_prompts, ground_truth_reward, seed=SEED + 2),
        "samples": roll.replies[:4],
    }


start = time.perf_counter()
ppo_policy, ppo_logs = train_ppo(
    model, reward_model, tokenizer, train_prompts, PPO, ground_truth_reward, seed=SEED
)
timings["PPO (beta 0.1)"] = time.perf_counter() - start
results = {"SFT": evaluate(model, "SFT"), f"PPO beta={BETA}": evaluate(ppo_policy, f"PPO beta={BETA}")}
before, after = results["SFT"], results[f"PPO beta={BETA}"]
print(
    f"held-out ground-truth reward: {before['ground truth']:+.2f} (SFT) -> {after['ground truth']:+.2f} (PPO)"
)
print(
    f"KL(PPO || SFT) per reply: {after['KL']:.2f} nats; win rate against SFT: {after['win rate']:.2f} (ties count 1/2)"
)
print(f"answers still right: {before['answer right']:.2f} (SFT) -> {after['answer right']:.2f} (PPO)")
print("PPO samples:", after["samples"])
assert after["ground truth"] - before["ground truth"] >= 1.0
assert after["KL"] < 10 and after["win rate"] >= 0.85

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3))
for ax, key in zip(axes, ("score", "kl", "entropy", "clip_frac")):
    ax.plot([row["iteration"] for row in ppo_logs], [row[key] for row in ppo_logs])
    ax.set_title(key)
    ax.set_xlabel("iteration")
axes[0].plot(
    [row["iteration"] for row in ppo_logs], [row["ground_truth"] for row in ppo_logs], label="ground truth"
)
axes[0].legend()
plt.tight_layout()
plt.show()
first, last = ppo_logs[0], ppo_logs[-1]
assert last["score"] > first["score"] and last["ground_truth"] > first["ground_truth"]
assert last["kl"] > first["kl"] and last["entropy"] < first["entropy"]

# %% [markdown]
# The reward model's score and the ground truth climb together while the KL grows and the entropy falls
# (asserted from the first to the last iteration): the policy has learned to add kind words and drop rude ones.
#
# ## 5. What goes wrong: the beta sweep and reward hacking
#
# The KL penalty is what keeps the policy honest. Rerun PPO with $\beta = 0$ (nothing holds it back) and with
# a larger $\beta$.

# %%
# NBVAL_IGNORE_OUTPUT
policies = {BETA: ppo_policy}
for beta in BETAS:
    if beta in policies:
        continue
    start = time.perf_counter()
    policies[beta], _ = train_ppo(
        model, reward_model, tokenizer, train_prompts, PPOConfig(**{**PPO.__dict__, "beta": beta}), seed=SEED
    )
    timings[f"PPO (beta {beta})"] = time.perf_counter() - start
    results[f"PPO beta={beta}"] = evaluate(policies[beta], f"PPO beta={beta}")
sweep = [results[f"PPO beta={beta}"] for beta in BETAS]
print(f"{'':<14}{'ground truth':>13}{'RM score':>10}{'answer right':>14}{'KL':>8}{'win rate':>10}")
for row in [results["SFT"], *sweep]:
    print(
        f"{row['name']:<14}{row['ground truth']:>+13.2f}{row['RM score']:>+10.2f}{row['answer right']:>14.2f}{row['KL']:>8.2f}{row['win rate']:>10.2f}"
    )
kls = [row["KL"] for row in sweep]
assert all(a > b for a, b in zip(kls, kls[1:])), f"KL should fall as beta rises: {kls}"
print(f"\nbeta = 0 samples (reward model score {sweep[0]['RM score']:+.2f}):")
for prompt, reply in zip(held_prompts, sweep[0]["samples"]):
    print(f"  U: {prompt:<28} A: {reply}")

# %% [markdown]
# KL falls as $\beta$ rises (asserted above). Look at the $\beta = 0$ samples and the table: with nothing
# tying it to the reference, the policy drifts furthest (the largest KL) and piles up whatever the reward
# model pays for. Its reward-model score is as high as any in the table; now check its "answer right" column
# against the SFT model's: the reward model never learned to care about the answer, so nothing stops the
# policy from trading it away. That is **reward hacking**: optimising a learned proxy instead of the goal.
# The ground-truth rule here happens to count repeated kind words too, so it cannot see the damage; a
# human reading these replies would. The KL penalty keeps the policy in the region where the reward model
# was trained and can be trusted.
#
# ## 6. DPO: the same preferences, no reward model, no sampling
#
# The policy that maximises $\mathbb{E}[r] - \beta\, \mathrm{KL}(\pi \,\|\, \pi_{\mathrm{ref}})$ is
# $\pi^*(y \mid x) \propto \pi_{\mathrm{ref}}(y \mid x) \exp(r(x, y) / \beta)$, so any policy defines an
# implicit reward $\hat r(x, y) = \beta \log \frac{\pi_\theta(y \mid x)}{\pi_{\mathrm{ref}}(y \mid x)}$ (up to a
# term in $x$ alone, which cancels within a pair). Putting it in the Bradley-Terry loss gives DPO:
#
# $$\mathcal{L}_{\mathrm{DPO}} = -\,\mathbb{E} \log \sigma\Big(\beta \Big[\log \frac{\pi_\theta(y_w \mid x)}{\pi_{\mathrm{ref}}(y_w \mid x)} - \log \frac{\pi_\theta(y_l \mid x)}{\pi_{\mathrm{ref}}(y_l \mid x)}\Big]\Big),$$
#
# where $\log \pi(y \mid x)$ is the sum of the reply's token log-probabilities.

# %%
pc, pr, rc, rr = torch.randn(4, 64)
reference = F.binary_cross_entropy_with_logits(BETA * ((pc - rc) - (pr - rr)), torch.ones(64))
torch.testing.assert_close(dpo_loss(pc, pr, rc, rr, BETA), reference, atol=1e-6, rtol=1e-6)
print("dpo_loss equals binary cross-entropy on the implicit reward margin (tolerance 1e-6)")

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()
dpo_policy, dpo_history = train_dpo(model, tokenizer, prefs["train"], prefs["held_out"], DPO, seed=SEED)
timings["DPO"] = time.perf_counter() - start
results["DPO"] = evaluate(dpo_policy, "DPO")
print(
    f"held-out implicit-reward accuracy {dpo_history.last('accuracy'):.3f}, margin {dpo_history.last('margin'):.2f}"
)
print(
    f"ground truth {results['DPO']['ground truth']:+.2f}, KL {results['DPO']['KL']:.2f}, win rate {results['DPO']['win rate']:.2f}"
)
print(
    f"answers still right: {results['DPO']['answer right']:.2f} (SFT: {results['SFT']['answer right']:.2f})"
)
print("DPO samples:", results["DPO"]["samples"])
assert results["DPO"]["win rate"] >= 0.85

# %% [markdown]
# DPO wins as often as PPO without a reward model or a single sampled reply. It optimises the same
# KL-regularised objective, so it shares its weak spot: the pairs never vary the answer, so nothing in the
# loss protects it; compare its "answers still right" with the SFT model's above.

# %% [markdown]
# ## 7. The same with TRL
#
# TRL (trl 1.x) needs a `transformers` model and tokenizer. `save_for_transformers` writes the SFT model as a
# GPT-2 checkpoint and the word tokenizer as a fast tokenizer into a local folder; `RewardTrainer` trains a
# `GPT2ForSequenceClassification` (`num_labels=1`) from it and `DPOTrainer` a `GPT2LMHeadModel`, with the
# reference loaded from the same folder (`ref_model=`), so nothing is downloaded. Its configs default to
# `bf16=True` and gradient checkpointing, which `mmlab.align.trl_compat` turns off for the CPU.

# %%
# NBVAL_IGNORE_OUTPUT
from mmlab.align.trl_compat import (
    hf_replies,
    save_for_transformers,
    trl_dpo,
    trl_reward_accuracy,
    trl_reward_model,
)

folder = save_for_transformers(model, tokenizer, tempfile.mkdtemp(prefix="mmlab-ch08-"))
start = time.perf_counter()
trl_rm = trl_reward_model(folder, prefs["train"][:1000], steps=TRL_STEPS)
trl_rm_accuracy = trl_reward_accuracy(trl_rm, folder, prefs["held_out"])
timings["TRL reward model"] = time.perf_counter() - start
start = time.perf_counter()
trl_policy = trl_dpo(folder, prefs["train"][:1000], beta=BETA, steps=TRL_STEPS)
trl_replies = hf_replies(trl_policy, tokenizer, held_prompts, seed=SEED + 2)
sft_replies = rollout(
    model, tokenizer, held_prompts, generator=torch.Generator().manual_seed(SEED + 2)
).replies
trl_wins = [
    1.0
    if ground_truth_reward(a) > ground_truth_reward(b)
    else 0.5
    if ground_truth_reward(a) == ground_truth_reward(b)
    else 0.0
    for a, b in zip(trl_replies, sft_replies)
]
trl_win_rate = sum(trl_wins) / len(trl_wins)
timings["TRL DPO"] = time.perf_counter() - start
print(f"{'':<22}{'ours':>8}{'TRL':>8}")
print(f"{'reward model accuracy':<22}{rm_accuracy:>8.3f}{trl_rm_accuracy:>8.3f}")
print(f"{'DPO win rate':<22}{results['DPO']['win rate']:>8.2f}{trl_win_rate:>8.2f}")
print("TRL DPO samples:", trl_replies[:4])
assert trl_rm_accuracy >= 0.85 and trl_win_rate >= 0.75

# %% [markdown]
# TRL trains on half the pairs for fewer steps here, to stay within the CPU budget, and still reaches numbers
# of the same kind as ours (the bars asserted above are a little lower for that reason).
#
# ## 8. Summary
#
# Where the time went:

# %%
# NBVAL_IGNORE_OUTPUT
for stage, seconds in timings.items():
    print(f"{stage:<20} {seconds:5.1f} s")

# %% [markdown]
# - A **reward model** turns pairwise preferences into a score (Bradley-Terry); it learns what the pairs
#   show, and nothing about what they never vary (here: whether the answer is right).
# - **PPO** maximises that score minus $\beta$ times the KL to the reference. The KL term is not a detail:
#   at $\beta = 0$ the policy hacks the reward model.
# - **DPO** optimises the same objective in closed form from the pairs: no reward model, no sampling, one
#   loss that looks like the reward model's with $\beta \log \pi/\pi_{\mathrm{ref}}$ as the reward.
#
# Next: in the lab you write the Bradley-Terry loss, the DPO loss, the clipped PPO objective and GAE
# yourself (`labs/08_rlhf.ipynb`). Chapter 09 turns to images.
