"""The course cache folder (mmlab/cache.py): one per user, moved by ``$MMLAB_CACHE``."""

from pathlib import Path

import platformdirs

from mmlab.cache import cache_dir


def test_cache_dir_follows_mmlab_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MMLAB_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path and cache_dir("mini_bert") == tmp_path / "mini_bert"
    assert not (tmp_path / "mini_bert").exists()  # naming a folder creates nothing


def test_cache_dir_defaults_to_the_users_cache(monkeypatch):
    monkeypatch.delenv("MMLAB_CACHE", raising=False)
    assert cache_dir("speech") == Path(platformdirs.user_cache_dir("mmlab")) / "speech"
