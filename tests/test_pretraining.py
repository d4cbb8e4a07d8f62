"""The pretraining recipe: a few steps run end to end, metrics are sane, and the cache round-trips."""

import torch

from mmlab.recipes.bert_pretraining import PretrainConfig, pretrain_mini_bert


def test_short_run_caches_and_reloads(tmp_path):
    config = PretrainConfig(
        vocab_size=300, d_model=32, n_heads=2, n_layers=1, max_steps=4, batch_size=8, log_every=1
    )
    first = pretrain_mini_bert(config, cache_dir=tmp_path / "bert", progress=False)
    assert set(first.metrics) == {"mlm_accuracy", "nsp_accuracy", "unigram_accuracy"}
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
