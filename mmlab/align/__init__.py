"""Alignment: supervised fine-tuning, reward models, PPO and DPO."""
