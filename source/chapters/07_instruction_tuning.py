# %% [markdown]
# # 07 · ChatGPT: instruction tuning
# {{colab_badge}}
#
# **What you will build:** a tiny GPT that chats. It is pretrained on plain sentences about a small world
# ("grass is green"), which teaches it facts but not how to answer; then supervised fine-tuning (SFT) on
# conversations in a chat template, with the loss on the assistant's words only, turns it into an assistant
# that answers questions it never saw. You measure exact-match accuracy on held-out instructions and talk to
# it in a chat demo.

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
import copy
import time
from dataclasses import replace

import matplotlib.pyplot as plt
import torch
from transformers.utils import logging as hf_logging

from mmlab.align.instruction_tuning import train_sft_model
from mmlab.align.sft import (
    LengthBuckets,
    assistant_loss_mask,
    encode_conversations,
    exact_match,
    generate_replies,
    make_sft_conversations,
    prompt_text,
    sft_loss,
    world_corpus,
)
from mmlab.data.chat import PAD, chat_tokenizer, make_instructions, parse_chat, render_chat, render_with_roles
from mmlab.data.lm import NextTokenDataset
from mmlab.device import get_device, seed_everything
from mmlab.experiments import assert_beats, comparison_table, repeat
from mmlab.models.gpt import GPT, export_to_gpt2, next_token_loss
from mmlab.recipes.registry import resolve_settings
from mmlab.train.trainer import TrainConfig, Trainer

hf_logging.set_verbosity_error()  # no progress bars or notices from transformers in the outputs
hf_logging.disable_progress_bar()
seed_everything(0)
# No thread pin: the results asserted below hold with 1 and with 2 torch threads (both are tested; CI uses 1).
print(f"device: {get_device()} (the model is tiny: everything runs on the CPU), torch threads: {torch.get_num_threads()}")

# %% [markdown]
# One config for the whole pipeline: the `sft` recipe's (`mmlab/align/instruction_tuning.py`), which
# `train_sft_model` and `python -m mmlab.train sft` use too, so the model
# chapter 08 starts from is built exactly as here. The bars checked below: SFT's held-out exact match $\ge 0.9$ and at least
# 0.6 above the pretrained model's; over 3 seeds, SFT after pretraining beats SFT from random init by at least 0.3.

# %%
SCALE = "cpu"
CONFIG = resolve_settings("sft", SCALE)
print(CONFIG)

# %% [markdown]
# ## 1. A small world with checkable answers
#
# Three tasks, each with an answer a program can check: the colour of ten things, reversing two words, and
# rating a three-word review by its majority. Prompts are split into train and held-out; the held-out ones are
# new word combinations, or known facts asked in the other phrasing.

# %%
# NBVAL_CHECK_OUTPUT
instructions = make_instructions(seed=0)
for split, items in instructions.items():
    tasks = {task: sum(i.task == task for i in items) for task in ("colour", "reverse", "rate")}
    print(f"{split:<9} {len(items):>4} prompts {tasks}")
for item in instructions["held_out"][:3]:
    print(f"  {item.prompt!r} -> {item.answer!r}")

# %% [markdown]
# ## 2. The chat template
#
# A conversation is a list of messages `{"role": ..., "content": ...}`. The template writes one turn per line
# behind a role marker (`S:` system, `U:` user, `A:` assistant); the newline that closes a turn is also the
# assistant's stop token. To ask for a reply, the prompt ends with `A:` (the *generation prompt*). The replies
# in the data come in three styles, the way different annotators write: with a kind word, a rude word, or
# none (chapter 08 will care about that).

# %%
# NBVAL_CHECK_OUTPUT
tokenizer = chat_tokenizer()
first = instructions["train"][0]
messages = first.messages(f"sure {first.answer} thanks", system="be brief")
text = render_chat(messages)
print(text)
print(repr(render_chat(messages[:2], add_generation_prompt=True)))
assert parse_chat(text) == messages
print(f"round trip ok; {tokenizer.vocab_size} word tokens, this chat is {len(tokenizer.encode(text))} tokens")

# %% [markdown]
# ## 3. Loss only on the assistant's tokens
#
# The model reads the whole conversation, but it should learn to *write* only the assistant's part: the user's
# words are given, not something to imitate. With tokens $x_1, \dots, x_L$ and $A$ the set of positions $t$
# whose next token $x_{t+1}$ belongs to the assistant (its words and the closing newline),
#
# $$\mathcal{L}_{\mathrm{SFT}} = -\frac{1}{|A|} \sum_{t \in A} \log p_\theta(x_{t+1} \mid x_{\le t}).$$
#
# The role of every token comes with the rendering:

# %%
# NBVAL_CHECK_OUTPUT
tokens, roles = render_with_roles(messages)
names = {0: "pad", 1: "template", 2: "system", 3: "user", 4: "ASSISTANT"}
ids, role_ids = encode_conversations([messages], tokenizer, CONFIG.model.block_size)
mask = assistant_loss_mask(role_ids)
print(" ".join(f"{t!r}:{names[r]}" for t, r in zip(tokens, roles)))
print("loss counted on:", repr(tokenizer.decode(ids[0][mask[0]])))

# %% [markdown]
# Our masked loss is the same number as `transformers`' GPT-2 loss with the non-assistant labels set to
# `-100` (its "ignore this position"): check it on a small random model exported to GPT-2.

# %%
model = GPT(replace(CONFIG.model, vocab_size=tokenizer.vocab_size))
convs = make_sft_conversations(instructions["train"], 8, seed=1)
ids, role_ids = encode_conversations(convs, tokenizer, CONFIG.model.block_size)
ours, _ = sft_loss(model, (ids, role_ids))
hf = export_to_gpt2(model, "runs/ch07-gpt2")
labels = ids.masked_fill(~assistant_loss_mask(role_ids), -100)
with torch.no_grad():
    theirs = hf(input_ids=ids, labels=labels).loss
torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
print(f"our SFT loss {ours.item():.5f} = transformers' {theirs.item():.5f} (tolerance 1e-5)")

# %% [markdown]
# ## 4. Pretraining: facts, but no manners
#
# First a plain language model on sentences about the world, one a line, no template.

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()
corpus = world_corpus(instructions["train"], seed=0)
print(corpus[:120])
loader = torch.utils.data.DataLoader(
    NextTokenDataset(tokenizer.encode(corpus), 16, stride=3),
    CONFIG.batch_size,
    shuffle=True,
    generator=torch.Generator().manual_seed(0),
)
torch.manual_seed(0)
model = GPT(replace(CONFIG.model, vocab_size=tokenizer.vocab_size))
pretrain = Trainer(
    model,
    next_token_loss,
    loader,
    None,
    TrainConfig(
        max_steps=CONFIG.pretrain_steps, lr=CONFIG.pretrain_lr, warmup_steps=CONFIG.pretrain_warmup_steps, device="cpu"
    ),
)
pretrain.fit()
pretrained = copy.deepcopy(model).eval()
print(f"{model.num_parameters():,} parameters; pretraining loss {pretrain.history.last('loss', 'train'):.2f}")
print(f"pretraining took {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## 5. Supervised fine-tuning
#
# Now conversations: a random task and prompt, sometimes a system prompt, a reply in a random style. Batches
# group conversations of similar length so little compute goes to padding.

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()
conversations = make_sft_conversations(
    instructions["train"], CONFIG.n_conversations, CONFIG.system_fraction, seed=0
)
held_convs = make_sft_conversations(instructions["held_out"], 256, CONFIG.system_fraction, seed=1)
ids, role_ids = encode_conversations(conversations, tokenizer, CONFIG.model.block_size)
train_loader = LengthBuckets((ids, role_ids), (role_ids != PAD).sum(1), CONFIG.batch_size, seed=0)
eval_loader = [encode_conversations(held_convs, tokenizer, CONFIG.model.block_size)]
sft = Trainer(
    model,
    sft_loss,
    train_loader,
    eval_loader,
    TrainConfig(
        max_steps=CONFIG.max_steps,
        lr=CONFIG.lr,
        warmup_steps=CONFIG.warmup_steps,
        eval_every=100,
        device="cpu",
    ),
)
history = sft.fit()
model.eval()
print(
    f"held-out SFT loss {history.last('loss'):.3f}, token accuracy on assistant tokens {history.last('accuracy'):.3f}"
)
print(f"fine-tuning took {time.perf_counter() - start:.1f} s")

# %%
history.plot(keys=("loss", "accuracy"))
plt.show()

# %% [markdown]
# The token accuracy cannot reach 1: the style words are drawn at random, so no model can predict them. The
# answers themselves are what we measure next.
#
# ## 6. Before and after, and exact match on held-out instructions
#
# Greedy replies of the pretrained and the fine-tuned model to held-out prompts. A reply counts as right when,
# without its style words, it is exactly the answer.

# %%
# NBVAL_IGNORE_OUTPUT
held = instructions["held_out"]
sample = [held[i] for i in (0, 1, 2, 40, 60, 120)]
prompts = [prompt_text(item.prompt) for item in sample]
for item, old, new in zip(
    sample, generate_replies(pretrained, tokenizer, prompts), generate_replies(model, tokenizer, prompts)
):
    print(f"U: {item.prompt:<24} pretrained: {old!r:<28} SFT: {new!r:<20} (answer: {item.answer})")

# %%
# NBVAL_IGNORE_OUTPUT
scores = {}
for name, m in (("pretrained", pretrained), ("SFT", model)):
    scores[name] = {"all": exact_match(m, tokenizer, held)}
    for task in ("colour", "reverse", "rate"):
        scores[name][task] = exact_match(m, tokenizer, [i for i in held if i.task == task])
    print(f"{name:<11}" + "  ".join(f"{k}: {v:.2f}" for k, v in scores[name].items()))
assert scores["SFT"]["all"] >= 0.9 and scores["SFT"]["all"] - scores["pretrained"]["all"] >= 0.6

# %% [markdown]
# The pretrained model knows that grass is green, but asked in the template it just continues text; after SFT
# it answers in the assistant's turn and stops. Held-out prompts are new, so this is generalisation, not
# memory.
#
# ## 7. Does pretraining matter? SFT from random init
#
# SFT alone sees the same facts (every colour is asked about in the training prompts), so is the pretraining
# stage needed at all? Train the same GPT with the same SFT steps from random weights, and compare on the
# held-out prompts over 3 seeds (each seed changes the initial weights and the order of the data).
# `train_sft_model` is this chapter's pipeline in one call; to keep the chapter fast, both arms get
# `COMPARE_STEPS` SFT steps instead of the full budget.

# %%
# NBVAL_IGNORE_OUTPUT
COMPARE_STEPS = 300
TASKS = ("colour", "reverse", "rate")


def held_out_scores(pretrain_steps: int):
    """One seed of the pipeline with ``pretrain_steps`` (0: random init), scored on the held-out prompts."""

    def run(seed: int) -> dict:
        result = train_sft_model(
            seed=seed, settings=replace(CONFIG, pretrain_steps=pretrain_steps, max_steps=COMPARE_STEPS)
        )
        scores = {"exact match": exact_match(result.model, tokenizer, held)}
        for task in TASKS:
            scores[task] = exact_match(result.model, tokenizer, [i for i in held if i.task == task])
        return scores

    return run


start = time.perf_counter()
with_pretraining = repeat(held_out_scores(CONFIG.pretrain_steps), label="pretrained, then SFT")
from_scratch = repeat(held_out_scores(0), label="random init, SFT only")
print(comparison_table([with_pretraining, from_scratch], ["exact match", *TASKS], digits=2))
margin = assert_beats(with_pretraining, from_scratch, "exact match", min_margin=0.3)
print(f"pretraining adds {margin:.2f} exact match (3 seeds, {COMPARE_STEPS} SFT steps each)")
print(f"the six runs took {time.perf_counter() - start:.1f} s")

# %% [markdown]
# With the same SFT steps, the pretrained model answers far more held-out prompts than the one trained from
# random weights (asserted: a margin of at least 0.3, larger than the seed-to-seed spread). The columns say
# where the difference comes from. From random init the model answers no held-out colour question in this
# budget, although every colour is asked about in its SFT data (in the other phrasing), and it answers the
# rate prompts with one fixed word (about 0.4 is what always "good" or always "bad" scores); the pretrained
# model had read "snow is white" and many reviews before SFT began. Neither learns to reverse in this short
# budget; that takes the full one of section 5. At this scale, then, pretraining supplies the facts and the
# language, and SFT supplies the format: answer in the assistant's turn, then stop.
#
# ## 8. What goes wrong: the loss on every token
#
# Train the same way but with the loss on *all* tokens (a plain language model on the rendered chats). Part of
# the model's capacity now goes to predicting the user's prompts, which are random word combinations; and
# nothing tells it which part of the text is its job. Compare the exact match after the same number of steps.


# %%
# NBVAL_IGNORE_OUTPUT
def all_tokens_loss(m, batch):
    ids, roles = batch
    return sft_loss(m, (ids, torch.where(roles == PAD, roles, torch.full_like(roles, 4))))


unmasked = copy.deepcopy(pretrained).train()
Trainer(
    unmasked,
    all_tokens_loss,
    LengthBuckets((ids, role_ids), (role_ids != PAD).sum(1), CONFIG.batch_size, seed=0),
    None,
    TrainConfig(max_steps=CONFIG.max_steps, lr=CONFIG.lr, warmup_steps=CONFIG.warmup_steps, device="cpu"),
).fit()
unmasked_score = exact_match(unmasked.eval(), tokenizer, held)
print(
    f"held-out exact match: loss on assistant tokens {scores['SFT']['all']:.2f}, loss on all tokens {unmasked_score:.2f}"
)
assert unmasked_score <= scores["SFT"]["all"]

# %% [markdown]
# The loss on every token still learns the format (the template is regular), but with the same budget it
# answers no more held-out prompts right than the masked loss (the numbers above; one seed, so no more than
# that is claimed). With long
# user messages and short answers, as in real chat data, most of the gradient would go to imitating users.
# The mask is cheap and says exactly what the model is for.
#
# ## 9. The chat demo
#
# `build_chat_demo(model, tokenizer)` wraps the model in a Gradio chat with a system prompt, the temperature
# and the number of new tokens. Words outside the model's small vocabulary get a clear message.
#
# The Chinese edition's demo talks to the same recipe trained on a Chinese chat world
# (`mmlab/data/chat_zh.py`: the three tasks from Chinese templates, one token per character, since
# Chinese has no spaces between words). Both editions train it below, so both run the same cells.

# %%
# NBVAL_IGNORE_OUTPUT
from mmlab.align.chat_zh import train_chinese_chat

chinese = train_chinese_chat(CONFIG, seed=0, progress=True)

# %%
from mmlab.demos import build_chat_demo, show
from mmlab.demos.chat import chat_reply

app = build_chat_demo(model, tokenizer)
print("U: what colour is snow  A:", chat_reply(model, tokenizer, "what colour is snow"))
print(app.respond("what colour is a zebra", [], "", 0, 8))
print(f"Chinese world: {chinese.tokenizer.vocab_size} tokens, held-out exact match {chinese.exact_match:.2f}")
print("U: 雪是什么颜色  A:", chat_reply(chinese.model, chinese.tokenizer, "雪是什么颜色"))
assert chinese.exact_match >= 0.9

# %% tags=["strip-output"]
# NBVAL_IGNORE_OUTPUT
import mmlab

if mmlab.get_language() == "zh":  # the Chinese edition: the model trained on the Chinese world
    app = build_chat_demo(chinese.model, chinese.tokenizer)
handle = show(app)

# %% [markdown]
# ## Common misconceptions
#
# - *"ChatGPT is an auto-encoder."* It is not. Like this chapter's model it is a decoder-only Transformer that
#   predicts the next token and writes a reply one token at a time until the end of the turn (section 3
#   checked our loss against `transformers`' causal language-model loss). An auto-encoder compresses its
#   input and reconstructs that same input.
# - *"Fine-tuning is where a chat model gets its knowledge."* At this scale SFT from random weights learns
#   neither the facts nor the skills the pretrained model brings (section 7, 3 seeds): SFT mostly teaches
#   the format. Chapter 08 shows what preference tuning adds, and what it does not.
#
# ## Summary
#
# - A chat template turns messages into text with role markers; the generation prompt `A:` asks for a reply
#   and the end-of-turn token stops it.
# - SFT is next-token prediction with the loss on the assistant's tokens only (checked equal to
#   `transformers`' loss with ignored labels).
# - After a thousand steps the tiny model answers held-out instructions it never saw; without pretraining it
#   does not (measured over 3 seeds).
#
# In the lab (`labs/07_sft.ipynb`) you write the template, the mask and the masked loss. Chapter 08 makes
# the assistant *polite* with a reward model, PPO and DPO.
