"""The chapter-05 fine-tuning pieces: the [CLS] classifier, its batches and its loss."""

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

from mmlab.pretrained import minilm_path
from mmlab.recipes.finetuning import (
    HFClassifier,
    SentenceCollator,
    classification_loss,
    predict,
    sentence_loader,
)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(str(minilm_path()))  # the shipped MiniLM's WordPiece


def tiny_encoder(seed: int = 0) -> BertModel:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    return BertModel(config).eval()


TEXTS = [
    "the film was good",
    "it was not very good , this hotel",
    "bad",
    "my friends said the song was great",
]
LABELS = [1, 0, 0, 1]


def test_logits_are_the_head_on_the_pooled_cls_vector(tokenizer):
    model = HFClassifier(tiny_encoder(), n_classes=3).eval()
    batch = SentenceCollator(tokenizer, TEXTS, LABELS, max_length=24)(range(4))
    logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])  # (B, 3)
    # by hand: u = tanh(W_p h_[CLS] + b_p), z = W_c u + b_c (dropout is off in eval mode)
    hidden = model.encoder(**{k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")})
    cls = hidden.last_hidden_state[:, 0]  # (B, C)
    pooled = torch.tanh(cls @ model.encoder.pooler.dense.weight.T + model.encoder.pooler.dense.bias)
    expected = pooled @ model.head.weight.T + model.head.bias
    assert logits.shape == (4, 3)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)


def test_classifier_equals_transformers_bert_for_sequence_classification(tokenizer):
    model = HFClassifier(tiny_encoder(), n_classes=2).eval()
    reference = BertForSequenceClassification(
        BertConfig(**{**model.encoder.config.to_dict(), "num_labels": 2})
    )
    reference.bert.load_state_dict(model.encoder.state_dict())
    reference.classifier.load_state_dict(model.head.state_dict())
    batch = SentenceCollator(tokenizer, TEXTS, LABELS, max_length=24)(range(4))
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    torch.testing.assert_close(model(**inputs), reference.eval()(**inputs).logits, atol=1e-5, rtol=1e-5)


def test_loss_is_cross_entropy_and_accuracy_counts_argmax(tokenizer):
    model = HFClassifier(tiny_encoder(), n_classes=2).eval()
    batch = SentenceCollator(tokenizer, TEXTS, LABELS, max_length=24)(range(4))
    loss, metrics = classification_loss(model, batch)
    logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    torch.testing.assert_close(loss, F.cross_entropy(logits, batch["labels"]), atol=1e-6, rtol=1e-6)
    assert metrics["accuracy"] == (logits.argmax(-1) == batch["labels"]).float().mean()


def test_collator_pads_to_the_batch_and_truncates(tokenizer):
    batch = SentenceCollator(tokenizer, TEXTS, LABELS, max_length=5)([0, 2])
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert batch["input_ids"].shape == (2, 5)  # "the film was good" is [CLS] + 4 + [SEP] = 6 -> 5
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 0, 0]  # "bad": [CLS] bad [SEP] + padding
    assert batch["labels"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="4 texts but 3 labels"):
        SentenceCollator(tokenizer, TEXTS, LABELS[:3], max_length=5)


def test_loader_shuffles_reproducibly_and_predict_covers_every_example(tokenizer):
    first = [b["labels"].tolist() for b in sentence_loader(tokenizer, TEXTS * 4, LABELS * 4, 4, shuffle=True)]
    again = [b["labels"].tolist() for b in sentence_loader(tokenizer, TEXTS * 4, LABELS * 4, 4, shuffle=True)]
    assert first == again and sum(len(b) for b in first) == 16
    model = HFClassifier(tiny_encoder(), n_classes=2)
    predictions = predict(model, sentence_loader(tokenizer, TEXTS, LABELS, 3))
    assert predictions.shape == (4,) and not model.training


def test_encoder_without_pooler_is_a_clear_error():
    encoder = BertModel(tiny_encoder().config, add_pooling_layer=False)
    with pytest.raises(ValueError, match="has no pooler"):
        HFClassifier(encoder)


def test_load_text_classification_reads_a_local_csv_and_json(tmp_path):
    import json

    from mmlab.recipes.finetuning import load_text_classification

    rows = [{"sentence": f"sentence number {i}", "label": i % 2} for i in range(10)]
    csv = tmp_path / "reviews.csv"
    csv.write_text("sentence,label\n" + "".join(f"{r['sentence']},{r['label']}\n" for r in rows))
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text("".join(json.dumps({"text": r["sentence"], "label": r["label"]}) + "\n" for r in rows))
    train, test = load_text_classification(csv, n_test=3)
    assert (len(train), len(test)) == (7, 3)
    assert sorted(train.texts + test.texts) == sorted(r["sentence"] for r in rows)  # a split, no loss
    assert all(y == int(t.split()[-1]) % 2 for t, y in zip(train.texts, train.labels))  # labels follow rows
    assert load_text_classification(csv, n_test=3) == (train, test)  # seeded: the same split again
    train_j, test_j = load_text_classification(jsonl, n_train=4)  # the "text" column, a fifth held out
    assert (len(train_j), len(test_j)) == (4, 2)
    with pytest.raises(KeyError, match="text_field"):
        load_text_classification(csv, text_field="review")
    with pytest.raises(FileNotFoundError):
        load_text_classification(tmp_path / "missing.csv")


def test_finetune_job_trains_on_a_local_file(tmp_path):
    from mmlab.recipes.registry import build_job

    words = ["good", "great", "bad", "awful"]
    data = tmp_path / "sst.csv"
    data.write_text(
        "sentence,label\n" + "".join(f"the film was {w},{int(i % 4 < 2)}\n" for i, w in enumerate(words * 5))
    )
    job = build_job(
        "finetune", overrides={"dataset": str(data), "n_test": 4, "max_steps": 1, "batch_size": 4}
    )
    batch = next(iter(job.train_loader))
    assert batch["input_ids"].shape[0] == 4 and len(job.train_loader.dataset) == 16
    loss, metrics = job.loss_fn(job.model, batch)
    assert loss.item() > 0 and 0 <= metrics["accuracy"].item() <= 1
