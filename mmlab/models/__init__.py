"""Models built from first principles, each an ``nn.Module`` with a config dataclass (all chapters)."""
