"""The pretraining recipe: a few steps run end to end, metrics are sane, and the cache round-trips."""

import threading

import torch

from mmlab.data.mlm import IGNORE_INDEX
from mmlab.data.wordpiece import train_wordpiece
from mmlab.recipes.bert_pretraining import (
    PretrainConfig,
    bigram_baseline,
    pretrain_mini_bert,
    unigram_baseline,
)


def test_short_run_caches_and_reloads(tmp_path):
    config = PretrainConfig(
        vocab_size=300, d_model=32, n_heads=2, n_layers=1, max_steps=4, batch_size=8, log_every=1
    )
    first = pretrain_mini_bert(config, cache_dir=tmp_path / "bert", progress=False)
    assert set(first.metrics) == {"mlm_accuracy", "nsp_accuracy", "unigram_accuracy", "bigram_accuracy"}
    assert all(0.0 <= v <= 1.0 for v in first.metrics.values())
    assert first.history.train and first.loaded_from is None
    again = pretrain_mini_bert(config, cache_dir=tmp_path / "bert", progress=False)
    assert again.loaded_from == str(tmp_path / "bert") and again.metrics == first.metrics
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        torch.testing.assert_close(a, b)
    # another config does not reuse the cache
    other = PretrainConfig(
        vocab_size=300, d_model=32, n_heads=2, n_layers=1, max_steps=5, batch_size=8, log_every=1
    )
    assert pretrain_mini_bert(other, cache_dir=tmp_path / "bert", progress=False).loaded_from is None


def test_two_processes_asking_at_once_train_only_once(tmp_path):
    # chapters 04 and 05 on two CI workers: the file lock makes the second wait and load the first's copy
    config = PretrainConfig(vocab_size=300, d_model=32, n_heads=2, n_layers=1, max_steps=3, batch_size=8)
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                pretrain_mini_bert(config, cache_dir=tmp_path / "bert", progress=False)
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.loaded_from is None for r in results) == [False, True]  # one trained, one loaded
    assert results[0].metrics == results[1].metrics
    assert not list(tmp_path.glob("bert.tmp-*"))  # the private write folder was renamed into place


def test_bigram_baseline_guesses_the_follower_of_the_left_neighbour():
    tokenizer = train_wordpiece(["red apple green pear", "red apple red apple"] * 5, vocab_size=40)
    ids = tokenizer("red apple green pear")["input_ids"]  # [CLS] red apple green pear [SEP]
    train = [{"input_ids": ids}] * 3 + [{"input_ids": tokenizer("red apple red apple")["input_ids"]}]
    labels = torch.full((1, len(ids)), IGNORE_INDEX)
    labels[0, 2], labels[0, 4] = ids[2], ids[4]  # "apple" after "red": a bigram; "pear" after [MASK]: not
    inputs = torch.tensor([ids])
    inputs[0, 4] = inputs[0, 3] = tokenizer.mask_token_id
    batch = {"input_ids": inputs, "labels": labels}
    bigram = bigram_baseline(train, [batch], tokenizer)
    assert bigram["right"][0].nonzero().tolist() == [[0, 2]]  # "pear"'s neighbour is masked: unigram guess
    assert bigram["accuracy"] == 0.5
    assert unigram_baseline(train, [batch], tokenizer)["token"] in ("red", "apple")
