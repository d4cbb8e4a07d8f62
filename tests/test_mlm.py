"""MLM masking rates over many batches, NSP pair rates, the collator."""

import pytest
import torch

from mmlab.data.mlm import (
    IS_NEXT,
    NOT_NEXT,
    MLMCollator,
    encode_pairs,
    make_nsp_pairs,
    mask_tokens,
    pydoc_documents,
    split_sentences,
)
from mmlab.data.wordpiece import train_wordpiece

VOCAB, MASK_ID = 500, 4


def test_masking_rates_over_many_batches():
    """15% chosen (+-0.005), of those 80/10/10 (+-0.01); specials never chosen; -100 elsewhere."""
    g = torch.Generator().manual_seed(0)
    counts = dict(normal=0, chosen=0, masked=0, random=0, kept=0)
    for _ in range(40):
        ids = torch.randint(5, VOCAB, (64, 32), generator=g)
        special = torch.rand(64, 32, generator=g) < 0.2
        ids[special] = 0
        inputs, labels = mask_tokens(ids, special, VOCAB, MASK_ID, generator=g)
        chosen = labels != -100
        assert not chosen[special].any() and torch.equal(inputs[special], ids[special])
        assert torch.equal(labels[chosen], ids[chosen]) and torch.equal(inputs[~chosen], ids[~chosen])
        counts["normal"] += int((~special).sum())
        counts["chosen"] += int(chosen.sum())
        counts["masked"] += int((inputs[chosen] == MASK_ID).sum())
        counts["kept"] += int((inputs[chosen] == ids[chosen]).sum())
        counts["random"] += int(((inputs[chosen] != MASK_ID) & (inputs[chosen] != ids[chosen])).sum())
    assert counts["chosen"] / counts["normal"] == pytest.approx(0.15, abs=0.005)
    assert counts["masked"] / counts["chosen"] == pytest.approx(0.8, abs=0.01)
    assert counts["random"] / counts["chosen"] == pytest.approx(0.1, abs=0.01)
    assert counts["kept"] / counts["chosen"] == pytest.approx(0.1, abs=0.01)


def test_masking_is_reproducible_and_leaves_the_input_alone():
    ids = torch.randint(5, VOCAB, (8, 16))
    original = ids.clone()
    special = torch.zeros_like(ids, dtype=torch.bool)
    a = mask_tokens(ids, special, VOCAB, MASK_ID, generator=torch.Generator().manual_seed(3))
    b = mask_tokens(ids, special, VOCAB, MASK_ID, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and torch.equal(ids, original)
    with pytest.raises(ValueError, match="differ"):
        mask_tokens(ids, special[:, :3], VOCAB, MASK_ID)


def test_nsp_pairs_are_half_true_next_and_random_ones_come_from_other_documents():
    docs = [[f"doc{d} sentence {i} ." for i in range(30)] for d in range(20)]
    rates = []
    for seed in range(5):
        pairs = make_nsp_pairs(docs, seed=seed)
        assert len(pairs) == 20 * 29
        for a, b, label in pairs:
            same_doc = a.split()[0] == b.split()[0]
            if label == IS_NEXT:
                assert same_doc and int(b.split()[2]) == int(a.split()[2]) + 1
            else:
                assert label == NOT_NEXT and not same_doc
        rates.append(sum(p[2] == IS_NEXT for p in pairs) / len(pairs))
    assert sum(rates) / len(rates) == pytest.approx(0.5, abs=0.02)  # 2900 pairs: sd 0.009
    two = make_nsp_pairs(docs, sentences_per_segment=2)
    assert len(two) == 20 * 14 and two[0][0] == "doc0 sentence 0 . doc0 sentence 1 ."


def test_collator_pads_masks_and_keeps_nsp_labels():
    tokenizer = train_wordpiece(["a list is a mutable sequence", "a tuple is not"] * 5, vocab_size=60)
    examples = encode_pairs(
        tokenizer, [("a list is", "a tuple", 0), ("a list", "is a mutable sequence", 1)], 16
    )
    batch = MLMCollator(tokenizer, p=0.5, seed=0)(examples)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label"}
    assert batch["input_ids"].shape == batch["labels"].shape == (2, 9)
    n = len(examples[0]["input_ids"])
    assert n == 8 and batch["attention_mask"][0].tolist() == [1] * 8 + [0]
    assert batch["input_ids"][0, 8] == tokenizer.pad_token_id
    special = torch.isin(batch["labels"], torch.tensor(tokenizer.all_special_ids))
    assert not special.any()  # [CLS], [SEP], [PAD] never get a label
    assert batch["next_sentence_label"].tolist() == [0, 1]


def test_pydoc_documents_and_sentences():
    docs = pydoc_documents()
    assert len(docs) > 50 and all(len(d) >= 2 for d in docs)
    assert split_sentences("One two three four. Five six seven eight!\n\nNine ten.") == [
        "One two three four.",
        "Five six seven eight!",
    ]
