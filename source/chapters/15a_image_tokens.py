# %% [markdown]
# # 15a · Generating images from text: image tokens and a GPT (the DALL-E idea)
# {{colab_badge}}
#
# **What you will build:** the first of DALL-E's two ideas, small. A VQ-VAE turns each 16 x 16 picture
# of a coloured shape into a 4 x 4 grid of discrete codes, image "words"; chapter 06's GPT learns the
# sequence `[caption words, image codes]` and, given a new caption, writes the codes of a new picture;
# chapter 11's CLIP picks the best of several samples, as DALL-E did. A judge trained on real pictures
# (chapter 09's CNN) reads each generated picture's colour, kind and place, so "does the picture match
# the caption?" is a number, for combinations the GPT saw in training and for six it never saw.
# DALL-E's second idea, diffusion (DALL-E 2, Stable Diffusion), has its pieces in `mmlab.diffusion`
# (noise schedule, DDPM and DDIM steps, classifier-free guidance, tested against `diffusers`); chapter
# 15b trains it on the same pictures and compares the two routes.

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
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from mmlab.data.multimodal.placed import UNSEEN, make_placed_shapes
from mmlab.device import get_device, seed_everything
from mmlab.experiments import assert_beats, comparison_table, repeat
from mmlab.imagegen import clip_score, faithfulness, rerank, sample_codes
from mmlab.models.vqvae import dead_codes
from mmlab.recipes.imagegen import held_out, train_clip, train_code_gpt, train_judge, train_vqvae
from mmlab.recipes.registry import resolve_settings
from mmlab.viz import show_images

seed_everything(0)
device = get_device()
print(f"device: {device}, torch threads: {torch.get_num_threads()}")

# %% [markdown]
# All settings sit in one cell, read from the `imagegen` recipe (`mmlab/recipes/imagegen.py`); the
# defaults are what CI runs on one CPU thread, `SCALE = "gpu"` takes the larger preset
# (`python -m mmlab.train imagegen --scale gpu` runs the whole job outside the notebook).

# %%
SCALE = "cpu"
S = resolve_settings("imagegen", SCALE, {"device": device})
N_TRAIN = S.n_train  # images of the 30 seen (colour, kind, place) combinations
SAMPLES = 8  # samples per caption for CLIP re-ranking
HOT = 3.0  # the sampling temperature of the failure on purpose
print(S)

# %% [markdown]
# ## 1. The data: one shape, a colour and a place
#
# 3 colours x 3 kinds x 4 places = 36 captions such as "a red circle top left". Six combinations never
# occur in training (each of their words does, only not together): can a generator compose them?


# %%
def pixels(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] for display."""
    return (images.clamp(-1, 1) + 1) / 2


train = make_placed_shapes(N_TRAIN, seed=S.seed)
print("held out of training:", [" ".join(c) for c in UNSEEN])
show_images(pixels(train["images"][:8]), [c.replace(" ", "\n", 2) for c in train["captions"][:8]])
plt.show()

# %% [markdown]
# ## 2. The judge: a classifier reads what a picture shows
#
# A CNN with three heads (colour, kind, place), trained on *real* pictures of all 36 combinations. It
# is the measuring instrument, so it sees the unseen combinations too; the generators never do. Its
# score on real held-out pictures is the ceiling a generator can reach.

# %%
# NBVAL_IGNORE_OUTPUT
judge = train_judge(S)

# %%
seen, unseen = held_out(unseen=False), held_out(unseen=True)


def labels(data: dict) -> dict[str, torch.Tensor]:
    return {k: data[k] for k in ("colours", "kinds", "places")}


real_score = {
    name: faithfulness(judge, d["images"], labels(d))["all"]
    for name, d in (("seen", seen), ("unseen", unseen))
}
print("the judge on real held-out pictures:", real_score)
assert min(real_score.values()) >= 0.95, real_score

# %% [markdown]
# ## 3. Discrete image tokens: the VQ-VAE
#
# An encoder shrinks 16 x 16 x 3 to a 4 x 4 grid of 16-dimensional vectors; each is replaced by the
# nearest of 32 codebook vectors (the straight-through estimator carries the gradient past the
# look-up; the commitment loss keeps the encoder near the codebook, lab 15); a decoder draws the
# picture back. Every picture is now 16 integers.

# %%
# NBVAL_IGNORE_OUTPUT
vqvae = train_vqvae(train, S)

# %%
with torch.no_grad():
    recon, codes, _ = vqvae(seen["images"])
    recon_unseen = vqvae(unseen["images"])[0]
mse = F.mse_loss(recon, seen["images"]).item()
recon_score = {
    "seen": faithfulness(judge, recon, labels(seen))["all"],
    "unseen": faithfulness(judge, recon_unseen, labels(unseen))["all"],
}
usage = torch.bincount(codes.flatten(), minlength=S.codebook_size)
print(f"reconstruction MSE {mse:.4f}; the judge reads reconstructions right: {recon_score}")
print("per attribute (seen):", faithfulness(judge, recon, labels(seen)))
print(f"codes in use: {S.codebook_size - dead_codes(codes, S.codebook_size)} of {S.codebook_size}")
show_images(pixels(torch.cat([seen["images"][:8], recon[:8]])), ["real"] * 8 + ["reconstructed"] * 8)
plt.show()
plt.figure(figsize=(6, 2))
plt.bar(range(S.codebook_size), usage.tolist())
plt.xlabel("code")
plt.ylabel("uses")
plt.title("codebook usage on held-out pictures")
plt.show()
assert recon_score["seen"] >= 0.7, recon_score

# %% [markdown]
# The per-attribute line shows what 16 codes of 4 x 4 pixels lose: in this run, mostly the kind of
# shape (a triangle's tip, a circle's round edge), rarely the colour or place. Whatever a reconstruction gets wrong, a generated picture made of the same codes cannot
# get right: this is the GPT's ceiling.

# %% [markdown]
# ## 4. One sequence: caption words, then image codes
#
# Chapter 06's GPT reads `[a, red, circle, top, left, c1, ..., c16]` and learns to predict each code
# from the words and the codes before it (the loss counts only the codes). To draw, give it a caption
# and sample 16 codes one at a time; the VQ-VAE decodes them.

# %%
# NBVAL_IGNORE_OUTPUT
clip = train_clip(train, S)
gpt, tokens = train_code_gpt(train, vqvae, clip.text_encoder.tokenizer, S)


# %%
@torch.no_grad()
def draw(captions: list[str], seed: int, temperature: float = 1.0) -> torch.Tensor:
    codes = sample_codes(
        gpt, tokens, captions, 16, temperature, generator=torch.Generator().manual_seed(seed)
    )
    return vqvae.decode(codes.view(-1, 4, 4)).clamp(-1, 1)  # (N, 3, 16, 16)


prompts = ["a red circle top right", "a blue triangle bottom right", "a green square bottom left"]
show_images(
    pixels(draw([p for p in prompts for _ in range(6)], seed=0)),
    [p.replace(" ", "\n", 2) for p in prompts for _ in range(6)],
    ncols=6,
)
plt.show()

# %% [markdown]
# ## 5. Does the picture match the caption?
#
# 4 pictures per held-out caption (120 seen, 24 unseen), read by the judge, over 3 sampling seeds;
# against real pictures (the judge reads all of them right, section 2) and a baseline that answers
# every caption with a random training picture.


# %%
def scores(seed: int, temperature: float = 1.0) -> dict[str, float]:
    out = {}
    for name, data in (("seen", seen), ("unseen", unseen)):
        out[name] = faithfulness(judge, draw(data["captions"], seed, temperature), labels(data))["all"]
    return out


def random_picture(seed: int) -> dict[str, float]:
    """Answer every caption with a random training picture."""
    out = {}
    for name, data in (("seen", seen), ("unseen", unseen)):
        pick = torch.randint(
            len(train["images"]), (len(data["images"]),), generator=torch.Generator().manual_seed(seed)
        )
        out[name] = faithfulness(judge, train["images"][pick], labels(data))["all"]
    return out


gpt_runs = repeat(scores, label="GPT (temperature 1)")
random_runs = repeat(random_picture, label="a random training picture")
print(comparison_table([gpt_runs, random_runs], ["seen", "unseen"]))
margin = assert_beats(gpt_runs, random_runs, "seen", min_margin=0.4)
print(f"seen captions: the GPT beats a random picture by {margin:.2f}")
assert gpt_runs.mean("unseen") < gpt_runs.mean("seen") - 0.2  # composing unseen combinations is much harder
print("per attribute, unseen, seed 0:", faithfulness(judge, draw(unseen["captions"], 0), labels(unseen)))

# %% [markdown]
# On captions it saw, most pictures match in colour, kind and place, below the VQ-VAE's ceiling
# (section 3). On the six unseen combinations it does much worse; the per-attribute line shows which
# of the three it gets wrong. The GPT learned the seen pictures' code sequences, and composing
# "red" + "circle" + "top left" that it never saw together is not what a 30-combination training set
# teaches it.

# %% [markdown]
# ## 6. CLIP re-ranking: draw 8, keep the one CLIP likes best
#
# DALL-E drew 512 samples per caption and let CLIP pick. Here 8, over 3 sampling seeds:


# %%
def reranked(seed: int) -> dict[str, float]:
    out = {}
    for name, data in (("seen", seen), ("unseen", unseen)):
        captions = data["captions"]
        drawn = draw([c for c in captions for _ in range(SAMPLES)], seed).view(
            len(captions), SAMPLES, 3, 16, 16
        )
        best = torch.stack([rerank(clip, drawn[i], c)[0] for i, c in enumerate(captions)])
        out[name] = faithfulness(judge, best, labels(data))["all"]
        out[f"clip_{name}"] = clip_score(clip, best, captions).mean().item()
    return out


def single(seed: int) -> dict[str, float]:
    out = {}
    for name, data in (("seen", seen), ("unseen", unseen)):
        one = draw(data["captions"], seed)
        out[name] = faithfulness(judge, one, labels(data))["all"]
        out[f"clip_{name}"] = clip_score(clip, one, data["captions"]).mean().item()
    return out


best_runs, single_runs = (
    repeat(reranked, label=f"best of {SAMPLES} by CLIP"),
    repeat(single, label="1 sample"),
)
real_clip = {
    name: clip_score(clip, d["images"], d["captions"]).mean().item()
    for name, d in (("seen", seen), ("unseen", unseen))
}
print(comparison_table([best_runs, single_runs], ["seen", "unseen", "clip_seen", "clip_unseen"]))
print("CLIP score of real pictures:", {k: round(v, 3) for k, v in real_clip.items()})
for split, min_margin in (("seen", 0.1), ("unseen", 0.15)):
    gain = assert_beats(best_runs, single_runs, split, min_margin=min_margin)
    print(f"{split}: re-ranking adds {gain:.2f} to the share of matching pictures")

# %% [markdown]
# CLIP cannot draw, but it can tell a picture that matches from one that does not: among 8 samples
# there is usually one with the right shape, and CLIP finds it. This helps most where single samples
# are weakest, the unseen combinations; DALL-E leaned on the same trick.

# %% [markdown]
# ## 7. A failure on purpose: sampling too hot
#
# Temperature divides the logits before sampling. At 3 the GPT's choices flatten towards uniform over
# the 32 codes: the pictures fall apart and stop matching their captions.

# %%
hot_runs = repeat(lambda seed: scores(seed, HOT), label=f"temperature {HOT}")
print(comparison_table([gpt_runs, hot_runs], ["seen", "unseen"]))
assert_beats(gpt_runs, hot_runs, "seen", min_margin=0.3)
show_images(pixels(draw([prompts[0]] * 8, seed=0, temperature=HOT)), [f"T={HOT}"] * 8)
plt.show()

# %% [markdown]
# ## 8. What it costs
#
# Sampling time per picture on this machine: 16 GPT steps (with a key/value cache) and one decoder
# pass. A diffusion sampler instead runs its whole denoiser 20 (DDIM) to 1000 (DDPM) times per picture,
# twice with classifier-free guidance.

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()
draw(seen["captions"], seed=0)
per_image = (time.perf_counter() - start) / len(seen["captions"])
print(f"GPT + VQ-VAE decoder: {1000 * per_image:.2f} ms per picture (batch of {len(seen['captions'])})")

# %% [markdown]
# ## The real thing, online
#
# DALL-E's tokens-and-Transformer route lives on in models such as Parti and in the image tokenizers
# of multimodal LLMs; the diffusion route (chapter 15b) is what most open text-to-image models use.
# With internet access and a GPU, `diffusers` runs Stable Diffusion in a few lines (not run here: it
# downloads about 4 GB):
#
# ```python
# import torch
# from diffusers import StableDiffusionPipeline
#
# pipe = StableDiffusionPipeline.from_pretrained("stable-diffusion-v1-5/stable-diffusion-v1-5", torch_dtype=torch.float16).to("cuda")
# image = pipe("a red circle in the top left corner", num_inference_steps=30, guidance_scale=7.5).images[0]
# ```
