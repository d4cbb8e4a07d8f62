"""Alignment: supervised fine-tuning, reward models, PPO and DPO (chapters 07-08)."""
