# %% [markdown]
# # 08 · ChatGPT: RLHF and DPO
# {{colab_badge}}
#
# **What you will build:** the second half of ChatGPT's recipe on the tiny chat model of chapter 07. A reward
# model learns from preference pairs which of two replies people like; PPO tunes the chat model to please it
# while a KL penalty keeps it close to where it started; DPO reaches the same goal from the pairs directly,
# without a reward model. Every policy is measured twice: on the reward (politeness) and on whether its
# answers are still right. A sweep of the KL weight $\beta$ shows reward hacking where it happens, noisy labels
# show what they do to a reward model, and TRL's `RewardTrainer` and `DPOTrainer` do the same for comparison.

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
    reward_margin,
    score_conversations,
    train_reward_model,
)
from mmlab.align.sft import encode_conversations, make_sft_conversations
from mmlab.data.chat import extract_answer
from mmlab.data.preferences import ground_truth_reward, make_preferences
from mmlab.device import get_device, seed_everything
from mmlab.experiments import assert_beats, comparison_table, repeat
from mmlab.recipes.registry import resolve_settings

seed_everything(0)
# No thread pin: the results asserted below hold with 1 and with 2 torch threads (both are tested; CI uses 1).
print(f"device: {get_device()} (these models are small enough that everything runs on the CPU)")
print(f"torch threads: {torch.get_num_threads()}")

# %% [markdown]
# All settings in one place. Every comparison runs the RL stage (PPO or DPO) with 3 seeds from the same SFT
# and reward models (seed 0's) and asserts its claim with a margin larger than the seed-to-seed spread.
# The bars: reward model held-out accuracy $\ge 0.9$; the recommended PPO and DPO raise the ground-truth
# reward by at least 0.8 while keeping, for every seed, at least `KEEP` of the SFT model's right answers.

# %%
SCALE = "cpu"  # the `reward`, `dpo` and `ppo` recipes' settings (mmlab/align/rlhf.py)
SEED = 0
SEEDS = (0, 1, 2)  # the RL stage's seeds
REWARD_SETTINGS = resolve_settings("reward", SCALE)  # also the preference data's size
REWARD = REWARD_SETTINGS.reward_config()
PAIRS = dict(n_train=REWARD_SETTINGS.n_pairs, n_held_out=REWARD_SETTINGS.n_held_out_pairs)
PPO_SETTINGS = resolve_settings("ppo", SCALE)
PPO = PPO_SETTINGS.ppo_config()  # the recommended PPO: KL weight beta and the ptx term
BETA = PPO.beta  # the KL weight of the recommended PPO
PTX = PPO.ptx_coef  # the weight of the SFT loss mixed into PPO's updates (InstructGPT's "PPO-ptx")
BETAS = (0.0, 0.1, 0.5, 2.0)  # the sweep of plain PPO (no ptx)
DPO = resolve_settings("dpo", SCALE).dpo_config()  # DPO with the SFT term on the chosen replies
NOISE = 0.3  # share of flipped training labels in the noisy-label experiment
NOISE_STEPS = 60
KEEP = 0.95  # the recommended settings keep at least this share of the SFT model's right answers, every seed
TRL_STEPS = 60
TRL_BETA = 0.1  # TRL's DPO runs plain (no SFT term), with the usual beta
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
prefs = make_preferences(**PAIRS, seed=SEED)
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
# ### Limits: noisy preference labels
#
# Real annotators disagree and make mistakes (InstructGPT's labelers agreed with each other on about 73% of
# comparisons). Flip the label of `NOISE` of the training pairs at random, train a reward model on them, and
# compare it with one trained on the clean labels, 3 seeds each (a shorter run of `NOISE_STEPS` steps, to
# stay in budget). The held-out labels stay clean, so they measure what each model learned about the true
# rule; the **margin** is the mean reward gap $r_w - r_l$ on held-out pairs, how sure the model is.

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()


def reward_model_with_noise(noise: float):
    def run(seed: int) -> dict:
        pairs = make_preferences(**PAIRS, seed=seed, label_noise=noise)
        config = RewardConfig(steps=NOISE_STEPS)
        rm, _ = train_reward_model(model, tokenizer, pairs["train"], None, config, seed=seed)
        return {
            "held-out accuracy": pairwise_accuracy(rm, tokenizer, pairs["held_out"]),
            "margin": reward_margin(rm, tokenizer, pairs["held_out"]),
        }

    return run


clean = repeat(reward_model_with_noise(0.0), SEEDS, label="clean labels")
noisy = repeat(reward_model_with_noise(NOISE), SEEDS, label=f"{NOISE:.0%} of labels flipped")
timings["noisy labels"] = time.perf_counter() - start
print(comparison_table([clean, noisy], ["held-out accuracy", "margin"], digits=2))
shrink = assert_beats(clean, noisy, "margin", min_margin=0.5)
print(f"flipped labels shrink the reward margin by {shrink:.2f}")

# %% [markdown]
# With flipped labels the reward model is less sure (the margin shrinks, asserted over 3 seeds): Bradley-Terry
# fits the *probability* that a reply is preferred, and with 30% of the labels swapped no reply is preferred
# more than about 70% of the time, so the best-fitting gaps are smaller. Compare the accuracy columns to see
# how much of the ranking survives: symmetric noise that is not correlated with anything still points the
# right way on average. Noise that *is* correlated (annotators who prefer longer replies, or confident wrong ones) does
# not average out: the reward model learns the annotators' bias as if it were the goal, and PPO then
# optimises that bias.
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
# $$\mathcal{L}_{\mathrm{PPO}} = -\,\mathbb{E}_t \min\big(\rho_t A_t,\ \mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon) A_t\big) + c_v\, \mathbb{E}_t \big(V(s_t) - R_t\big)^2 + \gamma_{\mathrm{ptx}}\, \mathcal{L}_{\mathrm{SFT}},$$
#
# with $\epsilon = 0.2$, $R_t = A_t + V(s_t)$ and value weight $c_v$ (the value head reads the policy's hidden
# states but does not train them: the value loss grows with the rewards and would otherwise overwrite the
# language model). The last term is InstructGPT's **PPO-ptx**: the SFT loss of chapter 07 on a batch of
# demonstrations, weighted by $\gamma_{\mathrm{ptx}}$ (`PTX`), so the policy keeps what SFT taught while PPO
# changes its style. With $\gamma_{\mathrm{ptx}} = 0$ it is plain PPO.
#
# Every policy is scored on held-out prompts, 2 sampled replies each (temperature 1, as PPO samples): the
# ground-truth reward, the reward model's score, **answers right** (the reply without its style words is
# exactly the answer), the KL to the SFT model and the win rate against it.


# %%
# NBVAL_IGNORE_OUTPUT
eval_items = held_out * 2
eval_prompts = [item.prompt for item in eval_items]
demos = encode_conversations(
    make_sft_conversations(sft.instructions["train"], PPO_SETTINGS.ptx_demos, seed=SEED + 1), tokenizer, model.config.block_size
)


def evaluate(policy, seed: int = SEED) -> dict:
    """Held-out ground truth, reward-model score, answers right, KL to the SFT model, win rate against it."""
    roll = rollout(policy, tokenizer, eval_prompts, generator=torch.Generator().manual_seed(seed + 1))
    conversations = [item.messages(reply) for item, reply in zip(eval_items, roll.replies)]
    return {
        "ground truth": sum(map(ground_truth_reward, roll.replies)) / len(roll.replies),
        "RM score": float(score_conversations(reward_model, tokenizer, conversations).mean()),
        "answers right": sum(extract_answer(r) == i.answer for r, i in zip(roll.replies, eval_items))
        / len(eval_items),
        "KL": kl_to_reference(policy, model, tokenizer, eval_prompts, seed=seed + 1),
        "win rate": win_rate(policy, model, tokenizer, eval_prompts, ground_truth_reward, seed=seed + 2),
    }


def ppo_run(config: PPOConfig, store: dict | None = None):
    def run(seed: int) -> dict:
        policy, logs = train_ppo(
            model, reward_model, tokenizer, train_prompts, config, ground_truth_reward, seed=seed, demos=demos
        )
        if store is not None:
            store[seed] = (policy, logs)
        return evaluate(policy, seed)

    return run


start = time.perf_counter()
METRICS = ["ground truth", "RM score", "answers right", "KL", "win rate"]
sft_scores = repeat(lambda seed: evaluate(model, seed), SEEDS, label="SFT")
ppo_store = {}
ppo_scores = repeat(ppo_run(PPO, ppo_store), SEEDS, label=f"PPO beta={BETA}, ptx={PTX}")
timings["PPO (3 seeds)"] = time.perf_counter() - start
print(comparison_table([sft_scores, ppo_scores], METRICS, digits=2))
gain = assert_beats(ppo_scores, sft_scores, "ground truth", min_margin=0.8)
kept = ppo_scores.mean("answers right") / sft_scores.mean("answers right")
print(f"ground-truth reward +{gain:.2f}; answers right kept: {kept:.3f} of the SFT model's")
assert min(ppo_scores.values("answers right")) >= KEEP * sft_scores.mean("answers right")
ppo_policy, ppo_logs = ppo_store[SEED]
print("PPO samples:", rollout(ppo_policy, tokenizer, held_prompts[:4], generator=torch.Generator().manual_seed(SEED)).replies)

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

# %% [markdown]
# The recommended PPO raises the ground-truth reward by more than 0.8 over 3 seeds while keeping the answers
# right (every seed keeps at least 95% of the SFT model's rate; both asserted; the table shows mean ± std and
# range over seeds). The curves are seed 0's: the reward model's score and the ground truth climb from the
# first to the last iteration (asserted); the KL and entropy curves show how far the policy moves.
#
# ## 5. What goes wrong: the beta sweep and reward hacking
#
# Now plain PPO (no ptx term), with the KL weight $\beta$ from 0 (nothing holds the policy back) to 2, one
# seed each for the curves; $\beta = 0$, the case that decides the claim, gets all 3 seeds.

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()
sweep = {}
for beta in BETAS:
    plain = PPOConfig(**{**PPO.__dict__, "beta": beta, "ptx_coef": 0.0})
    seeds = SEEDS if beta == 0 else (SEED,)
    sweep[beta] = repeat(ppo_run(plain), seeds, label=f"plain PPO beta={beta}")
timings["PPO sweep"] = time.perf_counter() - start
print(comparison_table([sft_scores, *sweep.values(), ppo_scores], METRICS, digits=2))
hack = assert_beats(ppo_scores, sweep[0.0], "answers right", min_margin=0.1)
print(f"beta = 0 loses {hack:.2f} more of the answers than the recommended PPO (3 seeds)")
assert sweep[0.0].mean("KL") > ppo_scores.mean("KL")
below = [b for b in BETAS if sweep[b].runs[0]["answers right"] < sft_scores.mean("answers right")]
print(f"plain PPO, seed 0: answers right below the SFT model's at beta in {below}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
betas = list(BETAS)
for ax, key in zip(axes, ("ground truth", "answers right", "KL")):
    ax.plot(betas, [sweep[b].runs[0][key] for b in betas], "o-", label="plain PPO (seed 0)")
    ax.axhline(sft_scores.mean(key), color="grey", ls="--", label="SFT")
    ax.axhline(ppo_scores.mean(key), color="green", ls=":", label=f"PPO-ptx, beta={BETA} (3 seeds)")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("beta")
    ax.set_title(key)
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the table and the curves together:
#
# - **$\beta = 0$ is reward hacking, measured.** Plain PPO with nothing holding it back drifts far (a larger KL
#   than the recommended PPO's, asserted) for a high reward-model score, but it gives up right answers: the
#   reward model never learned to care about the answer (section 3), so the policy trades answers for what it
#   pays for. Against the recommended PPO it loses at least 0.1 of the answers (asserted over 3 seeds).
# - **The KL leash helps but is not enough here.** Larger $\beta$ holds the policy closer (smaller KL) and gives
#   up some reward, but plain PPO still falls below the SFT model's answers at the $\beta$s printed above
#   (one seed each, so read the curve as a trend, not a finding). The per-token KL penalty is a noisy sample, and nothing in the
#   reward says which tokens carry the answer.
# - **The ptx term is what keeps the answers.** Mixing the SFT loss into PPO (InstructGPT's fix for the same
#   problem, there measured on public NLP benchmarks) keeps the answers and still raises the reward; it pays
#   for it with a smaller reward gain than plain PPO's (compare the ground-truth columns), because the
#   demonstrations it keeps likely include rude replies too.
#
# The ground-truth rule counts repeated kind words too, so it cannot see every hack; a human reading the
# $\beta = 0$ samples would.
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
# where $\log \pi(y \mid x)$ is the sum of the reply's token log-probabilities. DPO can push the rejected reply
# down faster than it pushes the chosen one up, so both lose probability and the answers drift (the same
# kind of drift as PPO's). `nll_weight` adds the SFT loss on the chosen replies (per token), as
# PPO-ptx does for PPO (the "RPO" variant; TRL calls the weight `rpo_alpha`).

# %%
pc, pr, rc, rr = torch.randn(4, 64)
reference = F.binary_cross_entropy_with_logits(DPO.beta * ((pc - rc) - (pr - rr)), torch.ones(64))
torch.testing.assert_close(dpo_loss(pc, pr, rc, rr, DPO.beta), reference, atol=1e-6, rtol=1e-6)
print("dpo_loss equals binary cross-entropy on the implicit reward margin (tolerance 1e-6)")

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()


def dpo_run(config: DPOConfig, store: dict | None = None):
    def run(seed: int) -> dict:
        policy, history = train_dpo(model, tokenizer, prefs["train"], prefs["held_out"], config, seed=seed)
        if store is not None:
            store[seed] = (policy, history)
        return evaluate(policy, seed)

    return run


dpo_store = {}
dpo_scores = repeat(dpo_run(DPO, dpo_store), SEEDS, label=f"DPO beta={DPO.beta}, nll={DPO.nll_weight}")
plain_dpo = repeat(dpo_run(DPOConfig(**{**DPO.__dict__, "nll_weight": 0.0})), SEEDS, label=f"plain DPO beta={DPO.beta}")
timings["DPO (2 x 3 seeds)"] = time.perf_counter() - start
print(comparison_table([sft_scores, plain_dpo, dpo_scores, ppo_scores], METRICS, digits=2))
dpo_policy, dpo_history = dpo_store[SEED]
print(
    f"held-out implicit-reward accuracy {dpo_history.last('accuracy'):.3f}, margin {dpo_history.last('margin'):.2f}"
)
dpo_gain = assert_beats(dpo_scores, sft_scores, "ground truth", min_margin=0.8)
assert min(dpo_scores.values("answers right")) >= KEEP * sft_scores.mean("answers right")
drift = assert_beats(dpo_scores, plain_dpo, "answers right", min_margin=0.02)
print(f"DPO: ground truth +{dpo_gain:.2f}; the SFT term keeps {drift:.2f} more of the answers than plain DPO")
print("DPO samples:", rollout(dpo_policy, tokenizer, held_prompts[:4], generator=torch.Generator().manual_seed(SEED)).replies)

# %% [markdown]
# DPO with the SFT term raises the ground-truth reward by more than 0.8 and keeps the answers right (at least
# 95% of the SFT model's rate, every seed; asserted over 3 seeds), with a small KL; plain DPO at the same $\beta$ drifts and loses answers (the SFT term keeps
# more, asserted). DPO gets there without a reward model, without sampling a single reply and in less time
# per run than PPO (see the timings below); what it cannot do is improve on its pairs: it never sees its own
# replies scored, so it only learns what the pairs show.

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
trl_policy = trl_dpo(folder, prefs["train"][:1000], beta=TRL_BETA, steps=TRL_STEPS)
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
print(f"{'DPO win rate':<22}{dpo_scores.runs[0]['win rate']:>8.2f}{trl_win_rate:>8.2f}")
print("TRL DPO samples:", trl_replies[:4])
assert trl_rm_accuracy >= 0.85 and trl_win_rate >= 0.6

# %% [markdown]
# TRL trains on half the pairs for fewer steps here, to stay within the CPU budget, and runs plain DPO at
# $\beta = 0.1$ (its SFT term, `rpo_alpha`, is left unset); its numbers are of the same kind as ours, and the
# bars asserted above are lower for that reason.
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
#   show, and nothing about what they never vary (here: whether the answer is right). Noisy labels make it
#   less sure.
# - **PPO** maximises that score minus $\beta$ times the KL to the reference. At $\beta = 0$ the policy hacks
#   the reward model and loses right answers; the KL term limits the drift, and the ptx term (the SFT loss
#   mixed in) keeps the answers while the reward rises.
# - **DPO** optimises the same KL-regularised objective without RL: it rewrites the reward through the optimal
#   policy ($\hat r = \beta \log \pi/\pi_{\mathrm{ref}}$) and fits that reparameterisation to the pairs with a
#   classification loss (Bradley-Terry's). No reward model, no sampled replies, no RL loop; it is still
#   iterative training (gradient steps), not a closed-form solution.
#
# ### From this chapter to ChatGPT
#
# | stage | InstructGPT (2022), the recipe ChatGPT followed | chapters 07-08 |
# | --- | --- | --- |
# | pretraining | GPT-3: up to 175B parameters, hundreds of billions of tokens of web text, books, Wikipedia | a 61k-parameter GPT, 100 steps on 3,000 sentences about a ten-thing world |
# | SFT on demonstrations | about 13k prompts with replies written by trained labelers | 4,000 generated conversations, loss on the assistant's tokens |
# | reward model from rankings | labelers rank 4 to 9 replies per prompt (about 33k prompts); every pair of a ranking is a Bradley-Terry term; a 6B reward model | 2,000 pairs labelled by a readable rule; the reward model is the SFT body with a scalar head |
# | PPO | per-token KL penalty to the SFT model ($\beta = 0.02$) and PPO-ptx (pretraining gradients mixed in), about 31k prompts | KL penalty plus the SFT loss mixed in, 25 iterations of 64 prompts drawn from 498 |
#
# What differs at scale: the labels come from people, who disagree (InstructGPT's labelers agreed with each
# other about 73% of the time) and whose biases the reward model learns; the reward model cannot be checked
# against a rule, so over-optimisation is watched through held-out human ratings instead of a ground truth;
# the ptx term in InstructGPT mixes in *pretraining* data to keep performance on ordinary NLP tasks, where we
# mix in SFT demonstrations; and ChatGPT (November 2022) applied the same three steps to dialogue, with
# labelers writing both sides of conversations. Later models' recipes are not published in this detail.
#
# ### Common misconceptions
#
# - *"ChatGPT is an auto-encoder."* It is not: it is a decoder-only Transformer trained to predict the next
#   token, like the GPT of chapters 06-08 (chapter 07 checked its loss against `transformers`' causal LM
#   loss), then tuned with SFT and RLHF as here. An auto-encoder compresses its input and reconstructs the
#   same input; BERT's masked-word pretraining (chapter 04) is the closest thing in this course.
# - *"ChatGPT can be downloaded from Hugging Face."* It cannot: ChatGPT is a service and its models' weights
#   are not released. What the hub holds are other models, including OpenAI's own open releases (GPT-2, and
#   the separate gpt-oss models) and many open chat models tuned with this chapter's methods;
#   `save_for_transformers` above writes our chat model in the same GPT-2 format those use.
# - *"RLHF makes the model more correct."* Not by itself: it optimises what the preferences reward. Here
#   they reward politeness only, so keeping the answers right is left to SFT; without the ptx term or the
#   KL leash the answers get worse (section 5).
#
# Next: in the lab you write the Bradley-Terry loss, the DPO loss, the clipped PPO objective and GAE
# yourself (`labs/08_rlhf.ipynb`). Chapter 09 turns to images.
