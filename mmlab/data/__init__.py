"""Data: tokenizers, offline corpora, generated data sets and loaders (all chapters)."""
