# %% [markdown]
# # 03 · Attention and the Transformer
# {{colab_badge}}
#
# **What you will build:** attention from its formula up to a full Transformer block, each piece checked
# against PyTorch's own; then a small Transformer encoder that learns to **sort the letters of a word**
# ("attend" -> "adentt"), its attention maps, and an interactive demo to look inside it.

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
import dataclasses
import math
import time
from functools import partial

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mmlab.data.synthetic import IGNORE
from mmlab.device import get_device, seed_everything
from mmlab.experiments import assert_beats, comparison_table, repeat
from mmlab.models.attention import (
    MultiHeadAttention,
    RotaryEmbedding,
    causal_mask,
    padding_mask,
    record_attention,
    scaled_dot_product_attention,
)
from mmlab.models.encoder import EncoderClassifier, token_classification_loss
from mmlab.models.transformer import Transformer, TransformerBlock, TransformerConfig, sinusoidal_table
from mmlab.recipes.base import trainer_config
from mmlab.recipes.lstm import distance_job
from mmlab.recipes.registry import resolve_settings
from mmlab.recipes.sort import sort_config, sort_data
from mmlab.train.trainer import Trainer
from mmlab.viz import plot_heatmap

seed_everything(0)
device = get_device()
print(f"device: {device}, torch threads: {torch.get_num_threads()}")

# %% [markdown]
# All the settings of the experiment sit in one cell. They are the `sort` recipe's (`mmlab/recipes/sort.py`),
# the same ones `python -m mmlab.train sort` runs outside the notebook, and for section 9 chapter 02's
# `distance` recipe (`mmlab/recipes/lstm.py`). On a GPU, `SCALE = "gpu"` trains a wider model on longer
# words; the defaults are what CI runs on a laptop CPU.

# %%
# NBVAL_CHECK_OUTPUT
SCALE = "cpu"
settings = resolve_settings("sort", SCALE)
FAR = dataclasses.replace(resolve_settings("distance", SCALE), reader="transformer")  # section 9
print(settings)
print(FAR)
MAX_LEN = settings["max_len"]  # longest word (in letters) the model sorts
D_MODEL, N_HEADS, N_LAYERS = settings["d_model"], settings["n_heads"], settings["n_layers"]
TRAIN_STEPS, N_TRAIN, N_TEST = settings["max_steps"], settings["n_train"], settings["n_test"]
TOKEN_ACCURACY_BAR, WORD_ACCURACY_BAR = 0.97, 0.90  # what the trained model must reach on unseen words

# %% [markdown]
# ## 1. Attention is a soft lookup table
#
# A Python `dict` maps a query to the value of the one key that equals it. Attention relaxes both parts:
# every key $k_j$ is compared with the query $q$ by a similarity score, the scores become weights by a
# softmax, and the answer is the weighted average of the values $v_j$:
#
# $$\mathrm{attend}(q) = \sum_j \alpha_j v_j, \qquad
# \alpha_j = \frac{\exp(q \cdot k_j / \sqrt{d_k})}{\sum_{j'} \exp(q \cdot k_{j'} / \sqrt{d_k})}$$
#
# where $d_k$ is the length of the query and key vectors and $\alpha_j \ge 0$ sum to 1. A query close to one
# key gives almost all the weight to that key (a lookup); a query between keys blends their values.

# %%
keys = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, 0.0]])  # three keys, d_k = 2
values = torch.tensor([[1.0], [2.0], [3.0]])  # the value stored under each key
for query in ([4.0, 0.0], [2.0, 2.0]):
    out, weights = scaled_dot_product_attention(torch.tensor([query]), keys, values)
    print(f"query {query}: weights {[round(w, 3) for w in weights[0].tolist()]} -> value {out.item():.3f}")

# %% [markdown]
# ## 2. Self-attention and its check against PyTorch
#
# In **self-attention** every position of a sequence $X \in \mathbb{R}^{T \times C}$ ($T$ tokens of width
# $C$) is a query, a key and a value at once, through three learned projections:
#
# $$Q = X W_Q,\; K = X W_K,\; V = X W_V, \qquad
# \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}} + M\right) V$$
#
# The softmax runs over each row (over keys), and $M$ is a mask: 0 where attending is allowed, $-\infty$
# where it is not, so those weights become exactly 0. `mmlab.models.attention.scaled_dot_product_attention`
# writes this out in four lines; here it is against PyTorch's fused `F.scaled_dot_product_attention`.

# %%
q, k, v = torch.randn(2, 4, 10, 16), torch.randn(2, 4, 10, 16), torch.randn(2, 4, 10, 16)  # (B, nh, T, hs)
mask = causal_mask(10)
ours, _ = scaled_dot_product_attention(q, k, v, mask=mask)
reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
difference = (ours - reference).abs().max().item()
print(f"largest difference from F.scaled_dot_product_attention: {difference:.1e}")
assert difference < 1e-5

# %% [markdown]
# ## 3. Why divide by $\sqrt{d_k}$
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1, then $q \cdot k$ is a sum of
# $d_k$ such products and has variance $d_k$. Large scores push the softmax to a one-hot vector: it stops
# blending, and its gradient (which is $\alpha_j(\delta_{ij} - \alpha_i)$) goes to zero, so training stalls.
# Dividing by $\sqrt{d_k}$ brings the variance back to 1. Measured on random vectors, 16 keys:

# %%
print(f"{'d_k':>6} {'score std':>10} {'max weight':>11} {'scaled std':>11} {'scaled max':>11}")
saturation = {}
for d_k in (4, 16, 64, 256, 1024):
    q, k = torch.randn(2000, 1, d_k), torch.randn(2000, 16, d_k)
    scores = (q @ k.transpose(-2, -1)).squeeze(1)  # (2000, 16)
    raw_max = scores.softmax(-1).max(-1).values.mean().item()
    scaled_max = (scores / math.sqrt(d_k)).softmax(-1).max(-1).values.mean().item()
    saturation[d_k] = (raw_max, scaled_max)
    scaled_std = (scores / math.sqrt(d_k)).std()
    print(f"{d_k:>6} {scores.std():>10.2f} {raw_max:>11.3f} {scaled_std:>11.2f} {scaled_max:>11.3f}")
# without the scale, the largest weight heads for 1 (a hard lookup); with it, it stays put
assert saturation[1024][0] > 0.9 and saturation[1024][1] < 0.5
assert abs(saturation[1024][1] - saturation[4][1]) < 0.1

# %% [markdown]
# ## 4. Masks: padding and causal
#
# Two masks cover almost every use. A **padding mask** hides the filler tokens that make sequences of a
# batch equally long (every query may only look at real keys). A **causal mask** lets position $t$ see
# positions $\le t$ only, which is what a language model that predicts the next token needs. Below, the
# causal weights of one head, and the property that defines them: changing tokens after $t$ does not change
# output $t$.

# %%
layer = MultiHeadAttention(16, 2, causal=True).eval()
x = torch.randn(1, 6, 16)
with record_attention(layer) as maps:
    y = layer(x)
changed = x.clone()
changed[:, 4:] = torch.randn(1, 2, 16)  # change tokens 4 and 5
unchanged = (layer(changed)[:, :4] - y[:, :4]).abs().max().item()
print(f"outputs 0-3 moved by {unchanged:.1e} when tokens 4-5 changed")
assert unchanged == 0.0
plot_heatmap(maps[0][0, 0], title="causal attention, head 0 (rows: queries)", annotate=True)
plt.show()

# %% [markdown]
# And padding: the outputs of the real tokens are the same as if the padding were not there at all.

# %%
layer = MultiHeadAttention(16, 2).eval()
x = torch.randn(1, 6, 16)
keep = torch.tensor([[1, 1, 1, 1, 0, 0]])  # two padding tokens at the end
padded = layer(x, mask=padding_mask(keep))[:, :4]
alone = layer(x[:, :4])  # the sequence without its padding
print(f"real-token outputs, padded vs unpadded: largest difference {(padded - alone).abs().max():.1e}")
assert torch.allclose(padded, alone, atol=1e-5)

# %% [markdown]
# **A common misconception:** "masking sets the masked positions to 0". In attention, what is set is
# the *score*, and it is set to $-\infty$ before the softmax, so the weight comes out exactly 0.
# Setting the score to 0 instead gives the position weight $e^0 / \sum_j e^{s_j}$, often more than a
# real key gets. (Setting the *input embedding* of a padding token to 0 does not hide it either: its
# position encoding is still there, as section 10 shows on a trained model.) Measured on random
# scores, weight on the two hidden keys:

# %%
# NBVAL_CHECK_OUTPUT
scores = torch.randn(1000, 6, generator=torch.Generator().manual_seed(0))  # 1000 queries, 6 keys
hidden = torch.tensor([False, False, False, False, True, True])
right = scores.masked_fill(hidden, float("-inf")).softmax(-1)[:, hidden].sum(-1).mean().item()
zeroed = scores.masked_fill(hidden, 0.0).softmax(-1)[:, hidden].sum(-1).mean().item()
print(f"score set to -inf: {right:.3f} of the weight; score set to 0: {zeroed:.3f} of the weight")
assert right == 0.0 and zeroed > 0.2

# %% [markdown]
# ## 5. Many heads
#
# One softmax gives each query one blend of values. **Multi-head attention** runs $h$ attentions side by
# side on $C/h$-wide slices of the projections, concatenates their outputs and mixes them with $W_O$:
# $\mathrm{MHA}(X) = [\mathrm{head}_1, \dots, \mathrm{head}_h] W_O$. Each head can look for something else
# (the previous token, the same letter, the smallest letter). Our `MultiHeadAttention` with its weights
# copied into `nn.MultiheadAttention` gives the same output:

# %%
ours = MultiHeadAttention(32, 4).eval()
torch_mha = nn.MultiheadAttention(32, 4, batch_first=True).eval()
with torch.no_grad():
    torch_mha.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
    torch_mha.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
    torch_mha.out_proj.load_state_dict(ours.out_proj.state_dict())
x = torch.randn(2, 7, 32)
difference = (ours(x) - torch_mha(x, x, x, need_weights=False)[0]).abs().max().item()
print(f"largest difference from nn.MultiheadAttention: {difference:.1e}")
assert difference < 1e-5

# %% [markdown]
# ## 6. Positions
#
# Attention compares contents; nothing in it knows where a token sits. Permute the input, and the output is
# the same permutation of the old output. So a Transformer without positions cannot tell "dog bites man"
# from "man bites dog": pooled over the sentence, the two are identical.

# %%
words = {"dog": 0, "bites": 1, "man": 2}
embed = nn.Embedding(3, 32)


def sentence_vector(model: nn.Module, sentence: str) -> torch.Tensor:
    ids = torch.tensor([[words[w] for w in sentence.split()]])
    return model(embed(ids)).mean(dim=1)  # (1, C): the sentence, mean-pooled


with torch.no_grad():
    for positions in ("none", "sinusoidal"):
        encoder = Transformer(TransformerConfig(d_model=32, n_heads=4, positions=positions)).eval()  # illustration
        a, b = sentence_vector(encoder, "dog bites man"), sentence_vector(encoder, "man bites dog")
        gap = (a - b).abs().max()
        print(f"positions={positions!r:13}: largest difference between the two sentences {gap:.1e}")
        assert (gap < 1e-5) if positions == "none" else (gap > 1e-2)

# %% [markdown]
# The fix adds position information. **Sinusoidal** encodings ("Attention Is All You Need") add a fixed
# vector to token $t$: $PE_{t,2i} = \sin(t / 10000^{2i/C})$ and $PE_{t,2i+1} = \cos(t / 10000^{2i/C})$, a
# different frequency per pair of dimensions $i$. **Learned** encodings (BERT, GPT-2) add a trained vector
# per position. **Rotary** encodings (RoPE, LLaMA) rotate each pair of query and key channels by an angle
# $t\,\theta_i$; since rotations compose, $q_t \cdot k_s$ depends only on the offset $t - s$:

# %%
table = sinusoidal_table(64, 64)
plt.figure(figsize=(6, 2.6))
plt.imshow(table.T, aspect="auto", cmap="RdBu")
plt.xlabel("position t")
plt.ylabel("dimension")
plt.title("sinusoidal position encodings")
plt.colorbar()
plt.show()

rope = RotaryEmbedding(16, max_len=64)
q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
for t, s in ((5, 2), (40, 37), (5, 4)):
    print(f"q at {t:2d}, k at {s:2d} (offset {t - s}): q.k = {(rope(q, t) * rope(k, s)).sum():+.4f}")
assert torch.allclose((rope(q, 5) * rope(k, 2)).sum(), (rope(q, 40) * rope(k, 37)).sum(), atol=1e-4)

# %% [markdown]
# ## 7. The Transformer block
#
# A block is attention (tokens exchange information) followed by an MLP applied to each token on its own
# (the MLP thinks about what was gathered), each inside a residual connection, with LayerNorm. The
# **pre-LN** block (GPT-2, ViT, most models today) normalises at the entrance of each branch, which keeps
# the residual path clean and trains stably without warmup tricks:
#
# $$h = x + \mathrm{MHA}(\mathrm{LN}_1(x)), \qquad y = h + \mathrm{MLP}(\mathrm{LN}_2(h))$$
#
# (the 2017 Transformer and BERT used **post-LN**, $y = \mathrm{LN}(x + f(x))$). Ours equals PyTorch's
# `nn.TransformerEncoderLayer` with the same weights:

# %%
config = TransformerConfig(d_model=32, n_heads=4, norm_first=True, activation="gelu")  # illustration
block = TransformerBlock(config).eval()
torch_block = nn.TransformerEncoderLayer(
    32, 4, dim_feedforward=config.d_ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
).eval()
with torch.no_grad():
    attn, torch_attn = block.attn, torch_block.self_attn
    torch_attn.in_proj_weight.copy_(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]))
    torch_attn.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
    torch_attn.out_proj.load_state_dict(attn.out_proj.state_dict())
    torch_block.linear1.load_state_dict(block.mlp.fc.state_dict())
    torch_block.linear2.load_state_dict(block.mlp.proj.state_dict())
    torch_block.norm1.load_state_dict(block.norm1.state_dict())
    torch_block.norm2.load_state_dict(block.norm2.state_dict())
x = torch.randn(2, 7, 32)
difference = (block(x) - torch_block(x)).abs().max().item()
print(f"largest difference from nn.TransformerEncoderLayer(norm_first=True): {difference:.1e}")
assert difference < 1e-5

# %% [markdown]
# ## 8. Experiment: a Transformer learns to sort letters
#
# The task: given a word of 2 to `MAX_LEN` lowercase letters, output its letters in alphabetical order, one
# per position ("attend" -> "adentt"). No single position can answer alone: output $i$ must find the letter
# whose rank among all the others is $i$. That takes comparisons between all pairs of positions, exactly
# what attention does, and it needs positions, so each output knows which rank it stands for.
#
# The data are random letter strings generated on the spot (no download), right-padded, with a padding mask.
# The model is an embedding, a pre-LN Transformer encoder with sinusoidal positions, and a linear head over
# the 26 letters at every position (`mmlab.models.encoder.EncoderClassifier`). The loss is the cross-entropy
# over real positions (padding targets are `IGNORE` = -100); the bar is a letter accuracy of at least
# `TOKEN_ACCURACY_BAR` = 0.97 and a whole-word accuracy of at least `WORD_ACCURACY_BAR` = 0.90 on unseen
# words.

# %%
tokenizer, train_set, test_set = sort_data(settings)  # "a".."z" -> 1..26, 0 = padding; N_TRAIN, N_TEST words
for ids, target in zip(train_set.ids[:3], train_set.targets[:3]):
    print(f"{tokenizer.decode(ids):>10} -> {tokenizer.decode(target.clamp(min=0))}")

model_config = sort_config(settings, tokenizer.vocab_size)  # D_MODEL wide, N_HEADS heads, N_LAYERS blocks
model = EncoderClassifier(model_config)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")


# The loss, `token_classification_loss`: cross-entropy over the real positions (padding targets are
# IGNORE), plus the letter accuracy and the whole-word accuracy for the Trainer to log.
train_loader = DataLoader(train_set.dataset(), batch_size=settings["batch_size"], shuffle=True)
test_loader = DataLoader(test_set.dataset(), batch_size=500)

# %%
# NBVAL_IGNORE_OUTPUT
trainer = Trainer(
    model,
    token_classification_loss,
    train_loader,
    test_loader,
    trainer_config(settings),  # TRAIN_STEPS steps at the recipe's learning rate and warm-up
)
history = trainer.fit()
print(f"trained {TRAIN_STEPS} steps in {trainer.train_seconds:.1f} s")

# %%
token_accuracy, word_accuracy = history.last("accuracy"), history.last("word_accuracy")
print(f"unseen words: letter accuracy {token_accuracy:.3f}, whole-word accuracy {word_accuracy:.3f}")
assert token_accuracy >= TOKEN_ACCURACY_BAR and word_accuracy >= WORD_ACCURACY_BAR
history.plot(keys=("loss", "accuracy", "word_accuracy"))
plt.show()

# %%
model.eval()


def sort_word(word: str) -> str:
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer.encode(word)], device=device))
    return tokenizer.decode(logits.argmax(-1)[0])


for word in ("attend", "softmax", "query", "keys"):
    print(f"{word:>8} -> {sort_word(word):8} (right answer: {''.join(sorted(word))})")

# %% [markdown]
# ### What the heads look at
#
# Rows are queries (output positions), columns are keys (input letters). Look for heads whose query $i$ puts
# its weight on the letter of rank $i$: in the last layer, output 0 attends to the smallest letter, output 1
# to the next, and so on. We measure how often the last layer's most-attended letter (summed over heads) is
# the letter the position outputs; the bar is more than half of the positions (a query that picked a letter
# at random would hit it at the chance level printed beside it).

# %%
word = "softmax"
ids = torch.tensor([tokenizer.encode(word)], device=device)
with torch.no_grad(), record_attention(model) as maps:
    model(ids)
fig, axes = plt.subplots(N_LAYERS, N_HEADS, figsize=(2.6 * N_HEADS, 2.5 * N_LAYERS))
letters = list(word)
for layer_index, layer_map in enumerate(maps):
    for head in range(N_HEADS):
        ax = axes[layer_index, head]
        ax.imshow(layer_map[0, head].cpu(), cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(letters)), letters)
        ax.set_yticks(range(len(letters)), range(len(letters)))
        ax.set_title(f"layer {layer_index}, head {head}", fontsize=9)
plt.tight_layout()
plt.show()

with torch.no_grad():
    ids, attention_mask, targets = (t[:500] for t in test_set.dataset().tensors)
    with record_attention(model) as maps:
        predictions = model(ids, attention_mask).argmax(-1)  # (B, T)
    last = maps[-1].sum(dim=1)  # (B, T, T), summed over heads
    looked_at = ids.gather(1, last.argmax(-1))  # the letter each query attends to most
    real = targets != IGNORE
    agreement = ((looked_at == predictions) & real).sum() / real.sum()
    chance = real.size(0) / real.sum()  # mean over real positions of 1 / word length
print(f"last layer: the most-attended letter is the output letter at {agreement:.0%} of positions")
print(f"(chance level: {chance:.0%})")
assert agreement > 0.5

# %% [markdown]
# ### Limits: attention maps are not explanations
#
# A heat map is tempting to read as "the model decided because of this letter". The same numbers
# show why that reading needs care:
#
# * The agreement above is well above chance but not 100%: at the other positions the output letter
#   is *not* where the last layer looks most, and the answer is still mostly right.
# * After the first layer, the vector at column $j$ is no longer letter $j$: it already mixes every
#   letter it attended to. A column label names a position, not the information stored there. The
#   first layer's map, where columns still are letters, tells a different story (measured below).
# * The weights ignore the size of the value vectors they multiply, the residual path that skips
#   attention altogether, and the MLP after it; and different maps can give the same outputs
#   (Jain & Wallace, 2019; Wiegreffe & Pinter, 2019 for when they do carry signal).
#
# Read maps as "where information was read from", and test a claim about *why* by changing the
# input (as the padding-mask experiment below does), not by looking.

# %%
with torch.no_grad(), record_attention(model) as maps:
    model(ids, attention_mask)
first_looked = ids.gather(1, maps[0].sum(dim=1).argmax(-1))
first_agreement = ((first_looked == predictions) & real).sum() / real.sum()
peak = (maps[-1].mean(dim=1).max(-1).values[real]).mean()  # weight on the most-attended key, heads averaged
print(f"most-attended letter = output letter: first layer {first_agreement:.0%}, last layer {agreement:.0%}")
print(f"mean weight on the most-attended letter in the last layer (heads averaged): {peak:.2f}")
assert first_agreement < agreement - 0.1  # the two layers' maps tell different stories

# %% [markdown]
# ## 9. Distance: the task chapter 02's LSTM could not learn
#
# Chapter 02 trained an LSTM to carry one bit ("was there a negator?") across $d - 1$ filler words and
# measured its accuracy fall to chance as $d$ grew. Attention has no chain of steps: the last word
# reads the first in one step, whatever the distance. Same sentences, same budget and the same seeds
# (chapter 02's `distance` recipe, printed at the top: `FAR.max_steps` steps of `FAR.batch_size`
# sentences at learning rate `FAR.lr`), at every distance of chapter 02's curve: chapter 02's LSTM and a
# 2-layer Transformer encoder of the same token width (learned positions, mean-pooled into a sentence
# head). **Bars:** at the largest distance the Transformer beats the LSTM by at least 0.3, by more than
# the spread between seeds; at every distance its mean stays at or above 0.85.


# %%
# NBVAL_IGNORE_OUTPUT
def distance_run(reader: str, d: int, seed: int) -> dict[str, float]:
    """Held-out accuracy of `reader` ("lstm" or "transformer") trained with `seed` at distance `d`."""
    seed_everything(seed)
    job = distance_job(dataclasses.replace(FAR, reader=reader), d, seed)
    trainer = Trainer(job.model, job.loss_fn, job.train_loader, job.eval_loader, job.config)
    return {"accuracy": trainer.fit().last("accuracy"), "parameters": sum(p.numel() for p in job.model.parameters())}


distance_results = {
    (reader, d): repeat(partial(distance_run, reader, d), FAR.seeds, label=f"{reader}, d = {d}")
    for reader in ("lstm", "transformer")
    for d in FAR.distances
}

# %%
print("held-out accuracy (chance 0.5), mean ± std over seeds (range):")
print(comparison_table(list(distance_results.values()), ["accuracy"]))
plt.figure(figsize=(5.5, 3.5))
for reader in ("lstm", "transformer"):
    runs = [distance_results[reader, d] for d in FAR.distances]
    means = [r.mean("accuracy") for r in runs]
    low = [m - min(r.values("accuracy")) for m, r in zip(means, runs)]
    high = [max(r.values("accuracy")) - m for m, r in zip(means, runs)]
    size = int(runs[0].mean("parameters"))
    plt.errorbar(FAR.distances, means, yerr=[low, high], fmt="o-", capsize=3, label=f"{reader} ({size:,} parameters)")
plt.axhline(0.5, color="gray", ls="--", label="chance")
plt.xscale("log", base=2)
plt.xticks(FAR.distances, [str(d) for d in FAR.distances])
plt.xlabel("distance d from negator to sentiment word (words)")
plt.ylabel("held-out accuracy")
plt.ylim(0.4, 1.05)
plt.legend()
plt.title(f"Same budget ({FAR.max_steps} steps, {len(FAR.seeds)} seeds), growing distance")
plt.show()
far_d = FAR.distances[-1]
gap = assert_beats(distance_results["transformer", far_d], distance_results["lstm", far_d], "accuracy", min_margin=0.3)
print(f"at d = {far_d}: Transformer - LSTM = {gap:.3f}")
assert all(distance_results["transformer", d].mean("accuracy") >= 0.85 for d in FAR.distances)

# %% [markdown]
# Attention removes the *path length*, not every difficulty: the Transformer still has to learn,
# from examples, which position to read, and a fixed budget does not stretch to every distance (at
# the largest distance its seeds already spread more than at the shorter ones). We do
# not measure longer distances here; try `FAR = dataclasses.replace(FAR, distances=(16, 32, 64))` to
# see how far this budget carries it. What changed is that nothing in the architecture forces the bit
# through $d$ sequential updates. The two readers differ in more than that one property (the
# Transformer has more parameters, printed in the legend), so this is a contrast of two standard
# small models on equal data and steps, not a controlled ablation of recurrence.
#
# ## 10. What goes wrong: forgetting the padding mask
#
# Words in a batch are padded to `MAX_LEN` with id 0. Run the trained model on the same padded test batch
# without its padding mask, and the queries also attend to the filler, whose embedding is zero but whose
# position encoding is not: the counts the model relies on are off, and accuracy drops.

# %%
with torch.no_grad():
    ids, attention_mask, targets = test_set.dataset().tensors
    real = targets != IGNORE
    for name, mask_arg in (("with the padding mask", attention_mask), ("without it", None)):
        right = model(ids, mask_arg).argmax(-1) == targets
        accuracy = ((right & real).sum() / real.sum()).item()
        print(f"{name:>22}: letter accuracy {accuracy:.3f}")
assert accuracy < token_accuracy - 0.1, "without the mask, accuracy should drop clearly"

# %% [markdown]
# ## 11. Written out vs fused: speed on this machine
#
# `MultiHeadAttention(fast=True)` calls `F.scaled_dot_product_attention`, which fuses the matrix products
# and the softmax and never stores the $T \times T$ weights in full. Same function (checked above),
# different speed. The ratio depends on the machine and the load, so it is printed, not asserted.


# %%
# NBVAL_IGNORE_OUTPUT
def seconds_per_call(layer: nn.Module, x: torch.Tensor, repeats: int = 10) -> float:
    with torch.no_grad():
        layer(x)  # warm up
        start = time.perf_counter()
        for _ in range(repeats):
            layer(x)
    return (time.perf_counter() - start) / repeats


slow = MultiHeadAttention(128, 4, causal=True).eval()
fast = MultiHeadAttention(128, 4, causal=True, fast=True).eval()
fast.load_state_dict(slow.state_dict())
x = torch.randn(8, 256, 128)  # (B, T, C)
assert torch.allclose(slow(x), fast(x), atol=1e-5)
slow_s, fast_s = seconds_per_call(slow, x), seconds_per_call(fast, x)
print(f"written out: {slow_s * 1e3:.1f} ms, F.scaled_dot_product_attention: {fast_s * 1e3:.1f} ms")
print(f"speed ratio (written out / fused) on {torch.get_num_threads()} thread(s): {slow_s / fast_s:.2f}x")

# %% [markdown]
# ## 12. Demo: look inside the model
#
# `build_attention_demo` wraps the trained model in a small web app: type a word (lowercase letters, at most
# `MAX_LEN`), press the button, and pick a layer and a head. `show` runs it on this machine only (127.0.0.1,
# no public link) and returns a handle; the last cell of the chapter closes it.

# %%
from mmlab.demos import build_attention_demo, show

app = build_attention_demo(
    model,
    tokenizer,
    describe_output=lambda logits: f"sorted: **{tokenizer.decode(logits.argmax(-1)[0])}**",
    title="Attention maps of the letter sorter",
    example="softmax",
)

# %% tags=["strip-output"]
# NBVAL_IGNORE_OUTPUT
demo = show(app)

# %% [markdown]
# The function behind the button can also be called directly; wrong input gives a message, never a
# traceback:

# %%
# NBVAL_CHECK_OUTPUT
for text in ("softmax", "", "transformers", "Hello!"):
    image, message = app.explain(text, "1", "all")
    print(f"{text!r:>15}: {'image' if image is not None else 'no image'}; {message.splitlines()[0]}")

# %% [markdown]
# ## Summary
#
# - Attention is a soft lookup: softmax of query-key similarities, scaled by $1/\sqrt{d_k}$ so the softmax
#   does not saturate as $d_k$ grows, weighting the values.
# - Masks add $-\infty$ before the softmax: padding masks hide filler, causal masks hide the future.
# - Attention alone ignores order; sinusoidal, learned or rotary encodings put it back.
# - A block is attention plus an MLP, each with a residual connection and LayerNorm; ours matches
#   `nn.TransformerEncoderLayer` to 1e-5.
# - Two such blocks learn to sort letters from generated data in well under a minute on a CPU.
# - On chapter 02's distance task, with the same data, budget and seeds, a small Transformer stays at
#   0.85 or more at every distance, including those where the LSTM falls to chance (section 9):
#   attention reads any position in one step.
# - Attention maps show where information was read from, not why the model answered; the first and
#   last layers of the same model tell different stories.
#
# **Lab:** `labs/03_attention.ipynb` has you write `attention`, `causal_mask` and `sinusoidal_positions`
# yourself. **Next:** chapter 04 pretrains a mini-BERT, a stack of these blocks trained to fill in masked
# words.

