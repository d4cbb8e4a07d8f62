# %% [markdown]
# # 12 · A vision-language model (LLaVA-style)
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/mmlab-course/mmlab/blob/main/chapters/12_vision_language_model.ipynb)
#
# **What you will build:** a mini-VLM that looks at a shapes scene and *writes* its answer ("what
# colour is the triangle?" -> "green") and a caption, by feeding projected image patches to a GPT as
# its first "words"; a text-only ablation that shows the answers really come from the picture; and
# the same parts inside a `transformers` `LlavaForConditionalGeneration`.

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
import copy
from collections import Counter, defaultdict

import matplotlib.pyplot as plt
import torch

from mmlab.data.multimodal import TensorLoader, make_vqa, vqa_tensors
from mmlab.device import get_device, seed_everything
from mmlab.models.gpt import GPTConfig
from mmlab.models.vlm import (
    MiniVLM,
    RegionNamer,
    VLMConfig,
    VLMTokenizer,
    answer_accuracy,
    build_vlm_examples,
    encode_images,
    nearest_words,
    region_labels,
    region_loss,
    set_stage,
    text_only_loss,
    to_llava,
    vlm_loss,
)
from mmlab.train.trainer import TrainConfig, Trainer

seed_everything(0)
device = get_device()
print(f"device: {device}, torch threads: {torch.get_num_threads()}")

# %% [markdown]
# All settings in one cell: the defaults are what CI runs on one CPU thread.

# %%
N_TRAIN, N_TEST = 1500, 300  # scenes; each has up to four questions and one caption
GPT = dict(n_layer=2, n_head=4, n_embd=64)
REGION_STEPS, TEXT_STEPS, STAGE1_STEPS, STAGE2_STEPS = 300, 150, 300, 900
BATCH, LR = 64, 5e-3
MAX_LEN = 16  # longest text row (a three-shape caption) in tokens

# %% [markdown]
# ## 1 · The idea
# A language model reads a sequence of vectors. LLaVA (Liu et al. 2023) puts the picture into that
# sequence: an image encoder turns the image into $P$ patch features $v_1, \dots, v_P \in \mathbb{R}^{d_v}$,
# a small *projector* maps each to the language model's width $C$,
#
# $$h_p = W_2\,\mathrm{GELU}(W_1 v_p + b_1) + b_2, \qquad W_1 \in \mathbb{R}^{C \times d_v},\; W_2 \in \mathbb{R}^{C \times C},$$
#
# and the sequence $[h_1, \dots, h_P, e(w_1), \dots, e(w_T)]$ (with $e(w_t)$ the embedding of text token
# $w_t$) goes through the GPT. The loss is the usual next-token cross-entropy, but only on the answer
# (or caption) tokens $a_1, \dots, a_K$:
#
# $$\mathcal{L} = -\frac{1}{K}\sum_{k=1}^{K} \log p_\theta(a_k \mid h_{1:P}, w_{1:T}, a_{<k}).$$
#
# Training has two stages. LLaVA's stage 1 aligns the image tokens with the language on captions;
# stage 2 teaches it to follow instructions (here: answer questions). Our GPT is tiny and has read
# only this data set's text, so, unlike LLaVA, it learns in both stages; the image encoder stays frozen.
#
# ## 2 · Data: scenes, questions, captions

# %%
# NBVAL_IGNORE_OUTPUT
train_ds, test_ds = make_vqa(N_TRAIN, seed=0), make_vqa(N_TEST, seed=1000)
columns = ["question", "answer", "caption", "scene", "question_type"]
train_cols, test_cols = (ds.select_columns(columns).to_dict() for ds in (train_ds, test_ds))
train_t, test_t = vqa_tensors(train_ds), vqa_tensors(test_ds)
tok = VLMTokenizer(train_cols["question"] + train_cols["answer"] + train_cols["caption"])
print(
    f"{len(train_cols['question'])} training questions, {len(test_cols['question'])} held-out, vocabulary {len(tok)}"
)
print(test_cols["question"][0], "->", test_cols["answer"][0], "|", test_cols["caption"][0])

# %% [markdown]
# Answers are balanced within each question type, so the question alone says little. The best a
# model without the picture can do is answer each question with its most common training answer:

# %%
by_question = defaultdict(Counter)
for q, a in zip(train_cols["question"], train_cols["answer"]):
    by_question[q][a] += 1
fallback = Counter(train_cols["answer"]).most_common(1)[0][0]
majority = sum(
    (by_question[q].most_common(1)[0][0] if q in by_question else fallback) == a
    for q, a in zip(test_cols["question"], test_cols["answer"])
) / len(test_cols["answer"])
print(f"majority-answer rate on held-out questions: {majority:.3f}")

# %% [markdown]
# ## 3 · The image encoder: a frozen region namer
# LLaVA starts from a pretrained CLIP encoder. Ours is a small CNN whose $2\times2$ grid of
# features is trained for a moment to name the kind, colour and size in each cell, then frozen; its
# features of every image are computed once.

# %%
# NBVAL_IGNORE_OUTPUT
config = VLMConfig(gpt=GPTConfig(vocab_size=len(tok), block_size=4 + MAX_LEN, **GPT))
model = MiniVLM(config, tok)


def first_rows(tensors):  # one row per scene
    seen = {}
    for i, sid in enumerate(tensors["scene_ids"].tolist()):
        seen.setdefault(sid, i)
    return torch.tensor(list(seen.values()))


def regions(tensors, cols):
    rows = first_rows(tensors)
    return {"images": tensors["images"][rows], **region_labels([cols["scene"][i] for i in rows.tolist()], 24)}


namer = RegionNamer(model.image_encoder)
history = Trainer(
    namer,
    region_loss,
    TensorLoader(regions(train_t, train_cols), BATCH, shuffle=True),
    TensorLoader(regions(test_t, test_cols), 512),
    TrainConfig(max_steps=REGION_STEPS, lr=3e-3, progress=False),
).fit()
region_acc = history.last("accuracy")
print(f"held-out cells with kind, colour and size all right: {region_acc:.3f}")
model.image_encoder.requires_grad_(False)
train_f, test_f = encode_images(model, train_t["images"]), encode_images(model, test_t["images"])
print("patch features per image:", tuple(test_f.shape[1:]))

# %%
assert region_acc >= 0.9, f"the region namer should name >= 90% of cells, got {region_acc:.3f}"


# %% [markdown]
# ## 4 · Rows: question -> answer, and caption
# One row per question (`question <answer> answer <eos>`) and one per scene (`<caption> caption <eos>`);
# the loss counts only the answer or caption tokens.


# %%
def rows(features, tensors, cols):
    return build_vlm_examples(
        {"images": features, "scene_ids": tensors["scene_ids"]},
        cols["question"],
        cols["answer"],
        cols["caption"],
        tok,
        MAX_LEN,
    )


train_rows, test_rows = rows(train_f, train_t, train_cols), rows(test_f, test_t, test_cols)
captions_only = {k: v[train_rows["kind"] == 1] for k, v in train_rows.items()}
test_captions = {k: v[test_rows["kind"] == 1] for k, v in test_rows.items()}
print(f"{len(train_rows['ids'])} training rows, {len(captions_only['ids'])} of them captions")


def fit(model, loss, data, steps):
    Trainer(
        model,
        loss,
        TensorLoader(data, BATCH, shuffle=True),
        None,
        TrainConfig(max_steps=steps, lr=LR, warmup_steps=30, progress=False),
    ).fit()


def vqa_accuracy(model, images=True):
    return answer_accuracy(model, test_f if images else None, test_cols["question"], test_cols["answer"])


def caption_word_accuracy(model):
    model.eval()
    with torch.no_grad():
        return float(vlm_loss(model, test_captions)[1]["accuracy"])


# %% [markdown]
# ## 5 · The text-only ablation
# A copy of the model learns the data set's text *without* pictures (the image slots hold zeros).
# Whatever it answers can only come from the question, so it must stay near the majority-answer rate.

# %%
# NBVAL_IGNORE_OUTPUT
seed_everything(0)
blind = copy.deepcopy(model)
set_stage(blind, "text")
fit(blind, text_only_loss, train_rows, TEXT_STEPS)
text_only = vqa_accuracy(blind, images=False)
print(f"text-only accuracy {text_only:.3f} (majority-answer rate {majority:.3f})")

# %%
assert abs(text_only - majority) <= 0.06, f"text-only {text_only:.3f} should be within 0.06 of {majority:.3f}"

# %% [markdown]
# ## 6 · Stage 1: align on captions
# The projector (and our GPT) learn to describe scenes. The model has never seen a question yet.

# %%
# NBVAL_IGNORE_OUTPUT
counts = set_stage(model, "tune")
print("trainable parameters:", counts)
seed_everything(0)
fit(model, vlm_loss, captions_only, STAGE1_STEPS)
stage1_caption, stage1_vqa = caption_word_accuracy(model), vqa_accuracy(model)
print(f"stage 1: caption word accuracy {stage1_caption:.3f}, question accuracy {stage1_vqa:.3f}")

# %% [markdown]
# ## 7 · Stage 2: questions and captions

# %%
# NBVAL_IGNORE_OUTPUT
fit(model, vlm_loss, train_rows, STAGE2_STEPS)
stage2_caption, stage2_vqa = caption_word_accuracy(model), vqa_accuracy(model)
print(f"stage 2: caption word accuracy {stage2_caption:.3f}, question accuracy {stage2_vqa:.3f}")
by_type = {}
for qtype in ("colour", "shape", "count", "relation"):
    idx = [i for i, t in enumerate(test_cols["question_type"]) if t == qtype]
    by_type[qtype] = answer_accuracy(
        model, test_f[idx], [test_cols["question"][i] for i in idx], [test_cols["answer"][i] for i in idx]
    )
print("by question type:", {k: round(v, 2) for k, v in by_type.items()})

# %% [markdown]
# Bars: stage 1 captions word accuracy at least 0.6; stage 2 question accuracy at least 0.7 and at
# least 0.25 above the text-only model.

# %%
assert stage1_caption >= 0.6, f"stage 1 caption word accuracy {stage1_caption:.3f} < 0.6"
assert stage2_vqa >= 0.7, f"stage 2 question accuracy {stage2_vqa:.3f} < 0.7"
assert stage2_vqa >= text_only + 0.25, f"stage 2 {stage2_vqa:.3f} is not 0.25 above text-only {text_only:.3f}"

# %%
names = ["majority", "text-only", "stage 1", "stage 2"]
values = [majority, text_only, stage1_vqa, stage2_vqa]
plt.figure(figsize=(5, 3))
plt.bar(names, values, color=["grey", "grey", "tab:blue", "tab:green"])
plt.ylabel("held-out question accuracy")
plt.ylim(0, 1)
plt.show()

# %% [markdown]
# ## 8 · Captions for held-out scenes
# Captions list the shapes left to right; two shapes in one column can come in either order, so a
# caption counts as right when it names the same shapes. Bar: at least 60 of 100 held-out scenes.

# %%
# NBVAL_IGNORE_OUTPUT
scenes = first_rows(test_t)[:100]
generated = [
    tok.decode(ids) for ids in model.generate(test_f[scenes], [tok.caption_prompt()] * len(scenes), 16)
]
references = [test_cols["caption"][i] for i in scenes.tolist()]
same_shapes = sum(sorted(g.split(", ")) == sorted(r.split(", ")) for g, r in zip(generated, references))
print(f"{same_shapes} of {len(scenes)} held-out captions name exactly the right shapes")
assert same_shapes >= 60, f"only {same_shapes} of 100 captions name the right shapes (bar: 60)"
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for ax, i, g in zip(axes, scenes.tolist(), generated):
    ax.imshow(test_t["images"][i].permute(1, 2, 0))
    ax.set_title(g.replace(", ", ",\n"), fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 9 · What do the image tokens "say"?
# Each projected patch sits in the GPT's embedding space, so we can ask which word embedding is most
# similar (cosine) to it. Nothing forces them to sit near a word: the projector only has to produce
# vectors the GPT can use, so the nearest words need not name the shape in the cell.

# %%
# NBVAL_IGNORE_OUTPUT
i = scenes[0].item()
print("caption:", test_cols["caption"][i])
for cell, words in enumerate(nearest_words(model, test_f[i], k=3)):
    print(f"cell {cell} (row {cell // 2}, column {cell % 2}): {words}")

# %% [markdown]
# ## 10 · The same parts in `transformers`' LLaVA
# `to_llava` builds a tiny `LlavaForConditionalGeneration` from a config (offline) and copies our
# projector into its `multi_modal_projector` and our GPT into its `language_model` (GPT-2) and
# `lm_head`. Fed the same patch features, it gives the same logits.

# %%
llava = to_llava(model.cpu())
ids = test_rows["ids"][:4]
with torch.no_grad():
    prefix = llava.model.multi_modal_projector(test_f[:4])
    embeds = torch.cat([prefix, llava.model.language_model.get_input_embeddings()(ids)], dim=1)
    theirs = llava.lm_head(llava.model.language_model(inputs_embeds=embeds).last_hidden_state)[:, 4:]
    ours = model(test_f[:4], ids)
gap = (ours - theirs).abs().max().item()
print(type(llava).__name__, "max |difference| of logits:", f"{gap:.1e}")
assert gap < 1e-4

# %% [markdown]
# ## Summary
# Image patches, projected to the GPT's width, are read like words. Captions first teach the model to
# read them; then it answers questions it could not answer from the text alone. Next: chapter 13 puts
# the course's models into applications.
