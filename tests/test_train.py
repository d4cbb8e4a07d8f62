"""The Trainer: exact resume, gradient accumulation, checkpoints, schedules, evaluation."""

import math
import os

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlab.device import seed_everything
from mmlab.train import CheckpointError, TrainConfig, Trainer, list_checkpoints, load_checkpoint
from mmlab.train.trainer import lr_lambda


def make_data(n: int = 96, seed: int = 1) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return TensorDataset(x, y)


def make_model() -> nn.Module:
    # Dropout makes the test sensitive to the RNG state being restored, not only the weights.
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))


def classification_loss(model, batch):
    x, y = batch
    logits = model(x)
    return nn.functional.cross_entropy(logits, y), {"accuracy": (logits.argmax(-1) == y).float().mean()}


def config(**overrides) -> TrainConfig:
    base = dict(max_steps=20, lr=1e-2, warmup_steps=3, log_every=2, progress=False, device="cpu")
    base.update(overrides)
    return TrainConfig(**base)


def flat_weights(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_reduces_loss_and_logs_metrics():
    seed_everything(0)
    loader = DataLoader(make_data(), batch_size=16, shuffle=True)
    trainer = Trainer(make_model(), classification_loss, loader, loader, config(max_steps=60, eval_every=20))
    history = trainer.fit()
    assert [row["step"] for row in history.eval] == [20, 40, 60]
    assert history.train[-1]["loss"] < history.train[0]["loss"]
    assert history.last("accuracy") > 0.8
    assert {"loss", "lr", "grad_norm", "accuracy"} <= set(history.keys("train"))


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    # 96 examples / batch 16 = 6 batches per epoch, so step 9 stops in the middle of epoch 2.
    def run(steps: int, directory, resume: bool) -> Trainer:
        loader = DataLoader(make_data(), batch_size=16, shuffle=True)
        trainer = Trainer(
            make_model(),
            classification_loss,
            loader,
            None,
            config(checkpoint_dir=str(directory), resume=resume),
        )
        trainer.fit(max_steps=steps)
        return trainer

    seed_everything(0)
    reference = run(20, tmp_path / "full", resume=False)

    seed_everything(0)
    run(9, tmp_path / "split", resume=False)  # "interrupted" at step 9, checkpoint written
    seed_everything(123)  # a fresh session with a different random state
    resumed = run(20, tmp_path / "split", resume=True)

    assert resumed.step == 20
    assert torch.equal(flat_weights(resumed.model), flat_weights(reference.model))
    assert [r["loss"] for r in resumed.history.train] == pytest.approx(
        [r["loss"] for r in reference.history.train]
    )


def test_resume_replays_a_loader_with_its_own_generator(tmp_path):
    # A DataLoader(generator=g) shuffles from g, not the global RNG; resuming in epoch 3 must replay
    # epoch 3's order, not epoch 1's.
    def run(steps: int, directory, resume: bool) -> Trainer:
        loader = DataLoader(
            make_data(), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(5)
        )
        trainer = Trainer(
            make_model(),
            classification_loss,
            loader,
            None,
            config(checkpoint_dir=str(directory), resume=resume),
        )
        trainer.fit(max_steps=steps)
        return trainer

    seed_everything(0)
    reference = run(20, tmp_path / "full", resume=False)
    seed_everything(0)
    run(15, tmp_path / "split", resume=False)
    resumed = run(20, tmp_path / "split", resume=True)
    assert torch.equal(flat_weights(resumed.model), flat_weights(reference.model))


def test_keyboard_interrupt_saves_a_checkpoint_and_fit_continues(tmp_path, capsys):
    seed_everything(0)
    loader = DataLoader(make_data(), batch_size=16, shuffle=True)
    calls = {"n": 0}

    def interrupting_loss(model, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return classification_loss(model, batch)

    trainer = Trainer(make_model(), interrupting_loss, loader, None, config(checkpoint_dir=str(tmp_path)))
    trainer.fit()
    assert trainer.step == 4
    assert "Interrupted at step 4/20" in capsys.readouterr().out
    assert list_checkpoints(tmp_path)[-1].name == "step_00000004.pt"
    trainer.fit()
    assert trainer.step == 20


def test_gradient_accumulation_equals_one_large_batch():
    data = make_data(n=32)

    def linear_loss(model, batch):  # no dropout, so both runs see identical computations
        x, y = batch
        return nn.functional.cross_entropy(model(x), y)

    def train(batch_size: int, accumulation: int) -> torch.Tensor:
        seed_everything(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
        loader = DataLoader(data, batch_size=batch_size, shuffle=False)
        cfg = config(max_steps=3, grad_accum_steps=accumulation, max_grad_norm=1.0)
        Trainer(model, linear_loss, loader, None, cfg).fit()
        return flat_weights(model)

    torch.testing.assert_close(train(8, 4), train(32, 1), atol=1e-5, rtol=0)


def test_corrupted_checkpoint_gives_clear_error_and_keeps_the_previous_one(tmp_path, capsys):
    seed_everything(0)
    loader = DataLoader(make_data(), batch_size=16, shuffle=True)
    trainer = Trainer(make_model(), classification_loss, loader, None, config(checkpoint_dir=str(tmp_path)))
    trainer.fit(max_steps=4)
    trainer.save_checkpoint()
    trainer.fit(max_steps=8)
    previous, newest = list_checkpoints(tmp_path)
    size = os.path.getsize(newest)
    with open(newest, "r+b") as f:  # truncate to half: a crash mid-copy, a full disk
        f.truncate(size // 2)

    with pytest.raises(CheckpointError, match="corrupted or truncated") as error:
        load_checkpoint(newest)
    assert previous.name in str(error.value)
    assert previous.exists()
    assert load_checkpoint(previous)["step"] == 4

    # resume=True skips the truncated newest checkpoint with a warning and continues from the previous one
    fresh = Trainer(
        make_model(), classification_loss, loader, None, config(checkpoint_dir=str(tmp_path), resume=True)
    )
    fresh.fit(max_steps=6)
    assert fresh.step == 6
    assert f"warning: {newest.name} cannot be loaded" in capsys.readouterr().err
    # a path names one checkpoint: a truncated one is an error that names the earlier one
    named = Trainer(make_model(), classification_loss, loader, None, config(resume=str(newest)))
    with pytest.raises(CheckpointError, match="corrupted or truncated.*Earlier checkpoints"):
        named.fit()


def test_checkpoints_load_weights_only_and_keep_the_newest(tmp_path):
    loader = DataLoader(make_data(), batch_size=16)
    cfg = config(max_steps=9, checkpoint_dir=str(tmp_path), checkpoint_every=2, keep_checkpoints=2)
    Trainer(make_model(), classification_loss, loader, None, cfg).fit()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000008.pt", "step_00000009.pt"]
    state = torch.load(list_checkpoints(tmp_path)[-1], weights_only=True)  # no pickled code inside
    assert state["step"] == 9
    assert not list(tmp_path.glob("*.tmp"))


def test_checkpoint_from_another_model_is_refused_clearly(tmp_path):
    loader = DataLoader(make_data(), batch_size=16)
    Trainer(
        make_model(), classification_loss, loader, None, config(max_steps=2, checkpoint_dir=str(tmp_path))
    ).fit()
    other = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    trainer = Trainer(
        other, classification_loss, loader, None, config(checkpoint_dir=str(tmp_path), resume=True)
    )
    with pytest.raises(RuntimeError, match="does not fit this model"):
        trainer.fit()


def test_evaluation_does_not_change_training():
    def run(eval_every: int) -> torch.Tensor:
        seed_everything(0)
        loader = DataLoader(make_data(), batch_size=16, shuffle=True)
        trainer = Trainer(make_model(), classification_loss, loader, loader, config(eval_every=eval_every))
        trainer.fit()
        return flat_weights(trainer.model)

    assert torch.equal(run(0), run(3))


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_schedules_warm_up_then_decay(schedule):
    cfg = TrainConfig(max_steps=100, warmup_steps=10, schedule=schedule, min_lr_ratio=0.1)
    factor = lr_lambda(cfg)
    assert factor(0) == pytest.approx(0.1)
    assert factor(9) == pytest.approx(1.0)
    expected_end = {"cosine": 0.1, "linear": 0.0, "constant": 1.0}[schedule]
    assert factor(100) == pytest.approx(expected_end)
    if schedule == "cosine":
        assert factor(55) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))


def test_bad_settings_and_data_fail_early():
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(max_steps=0)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        TrainConfig(resume=True)
    with pytest.raises(ValueError, match="empty"):
        Trainer(make_model(), classification_loss, DataLoader(TensorDataset(torch.zeros(0, 6)), batch_size=4))
    frozen = make_model().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        Trainer(frozen, classification_loss, DataLoader(make_data(), batch_size=4))


def test_non_finite_loss_stops_with_advice():
    loader = DataLoader(make_data(), batch_size=16)
    trainer = Trainer(
        make_model(), lambda model, batch: model(batch[0]).sum() * float("nan"), loader, None, config()
    )
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        trainer.fit()


def test_bf16_autocast_runs_on_cpu():
    seed_everything(0)
    loader = DataLoader(make_data(), batch_size=16, shuffle=True)
    trainer = Trainer(make_model(), classification_loss, loader, loader, config(max_steps=30, amp=True))
    assert trainer.amp.enabled and trainer.amp.dtype == torch.bfloat16
    history = trainer.fit()
    assert history.train[-1]["loss"] < history.train[0]["loss"]


def test_live_plot_redraws_at_each_log_and_evaluation(monkeypatch):
    import mmlab.viz

    redraws = []
    monkeypatch.setattr(
        mmlab.viz.LivePlot, "update", lambda self, history: redraws.append(len(history.train))
    )
    loader = DataLoader(make_data(), batch_size=16, shuffle=True)
    trainer = Trainer(make_model(), classification_loss, loader, loader, config(live_plot=True, eval_every=5))
    trainer.fit()
    assert len(redraws) == 10 + 4  # 20 steps / log_every 2, plus evaluations at 5, 10, 15, 20
    assert redraws[-1] == 10


def test_history_plot_draws_train_and_eval_curves():
    import matplotlib

    matplotlib.use("Agg")
    loader = DataLoader(make_data(), batch_size=16, shuffle=True)
    history = Trainer(make_model(), classification_loss, loader, loader, config(eval_every=10)).fit()
    axes = history.plot(("loss", "accuracy"))
    assert len(axes) == 2
    assert [line.get_label() for line in axes[0].get_lines()] == ["train", "eval"]


def test_clipping_counts_only_the_parameters_being_trained():
    """A layer trained earlier and then frozen keeps its last gradient; that stale gradient must not
    count in the clipped norm of the next run (it used to, shrinking every step of the new one)."""
    seed_everything(0)
    loader = DataLoader(make_data(), batch_size=16, shuffle=True)
    model = make_model()
    Trainer(model, classification_loss, loader, None, config(max_steps=2, lr=10.0)).fit()
    model[0].requires_grad_(False)  # stage two: train the head only
    assert model[0].weight.grad is not None  # what stage one left behind
    head_only = make_model()
    head_only.load_state_dict(model.state_dict())
    head_only[0].requires_grad_(False)  # the same model, never trained: no gradient on the frozen layer

    def second_stage(m: nn.Module) -> tuple[list[float], torch.Tensor]:
        seed_everything(1)
        run = DataLoader(make_data(), batch_size=16, shuffle=True)
        history = Trainer(m, classification_loss, run, None, config(max_steps=3, max_grad_norm=0.1)).fit()
        return [row["grad_norm"] for row in history.train], flat_weights(m)

    norms, weights = second_stage(model)
    expected_norms, expected_weights = second_stage(head_only)
    assert norms == pytest.approx(expected_norms) and torch.equal(weights, expected_weights)
    assert model[0].weight.grad is None  # the stale gradient is cleared, not only ignored
