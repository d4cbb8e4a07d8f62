"""One training loop for every chapter.

The loop is the same whether the model is a bag-of-words classifier or a GPT: draw a batch, compute
a loss, backpropagate, step the optimizer. What changes between chapters is the model, the data and
the loss, so the :class:`Trainer` takes exactly those three and keeps the machinery (device,
mixed precision, accumulation, clipping, schedules, evaluation, progress, checkpoints) here.

A loss function has the signature ``loss_fn(model, batch) -> loss`` or
``loss_fn(model, batch) -> (loss, {"accuracy": ..., ...})``; the extra numbers are averaged over
the evaluation set and logged beside the loss.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from mmlab.device import amp_settings, get_device
from mmlab.train.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    load_newest_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from mmlab.train.distributed import Strategy, init_distributed, shard_loader, unwrap_model, wrap_model
from mmlab.train.optim import clip_grad_norm, lr_factor

__all__ = ["History", "LossFn", "TrainConfig", "Trainer", "lr_lambda", "move_to_device"]

LossOutput = torch.Tensor | tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]
LossFn = Callable[[nn.Module, Any], LossOutput]


@dataclass
class TrainConfig:
    """Everything about *how* to train; the model, data and loss are given to the Trainer.

    Attributes:
        max_steps: optimizer steps to run (one step may accumulate several batches).
        lr: peak learning rate. weight_decay: AdamW decay, applied to matrices only.
        betas: AdamW betas.
        warmup_steps: linear warmup from 0 to ``lr``.
        schedule: "cosine" (to ``min_lr_ratio * lr``), "linear" (to 0) or "constant".
        grad_accum_steps: batches whose gradients are summed into one step.
        max_grad_norm: clip the global gradient norm to this (None: no clipping).
        eval_every: evaluate every N steps (0: only at the end). eval_batches: cap on eval batches.
        log_every: record the mean training loss every N steps.
        checkpoint_dir: folder for checkpoints (None: none are written).
        checkpoint_every: write one every N steps (0: at the end and on interruption only).
        keep_checkpoints: how many recent checkpoints to keep.
        resume: True continues from the newest checkpoint in ``checkpoint_dir``; a path resumes
            from that file.
        device: "cpu", "cuda", "mps" or None (best available, see ``get_device``).
        amp: mixed precision; None means on for CUDA (bf16 where supported), off elsewhere.
        progress: show a progress bar. live_plot: redraw the loss curves in a notebook.
        compile: run the model through ``torch.compile`` (worth it on GPUs for longer runs).
        strategy: under ``torchrun``, "ddp" (a model copy per process) or "fsdp" (sharded).
        data_seed: seed of the shuffle order shared by all processes under ``torchrun``.
    """

    max_steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    min_lr_ratio: float = 0.1
    grad_accum_steps: int = 1
    max_grad_norm: float | None = 1.0
    eval_every: int = 0
    eval_batches: int | None = None
    log_every: int = 10
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    resume: bool | str = False
    device: str | None = None
    amp: bool | None = None
    progress: bool = True
    live_plot: bool = False
    compile: bool = False
    strategy: Strategy = "ddp"
    data_seed: int = 0

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.grad_accum_steps < 1:
            raise ValueError(f"grad_accum_steps must be at least 1, got {self.grad_accum_steps}")
        if self.schedule not in ("cosine", "linear", "constant"):
            raise ValueError(f"schedule must be 'cosine', 'linear' or 'constant', got {self.schedule!r}")
        if self.resume and not self.checkpoint_dir and not isinstance(self.resume, str):
            raise ValueError("resume=True needs checkpoint_dir (or pass the checkpoint's path as resume)")


def lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    """The learning-rate multiplier at each step (:func:`~mmlab.train.optim.lr_factor`) for ``config``."""

    def factor(step: int) -> float:
        return lr_factor(step, config.max_steps, config.warmup_steps, config.schedule, config.min_lr_ratio)

    return factor


@dataclass
class History:
    """Logged metrics: ``train`` rows every ``log_every`` steps, ``eval`` rows per evaluation."""

    train: list[dict[str, float]] = field(default_factory=list)
    eval: list[dict[str, float]] = field(default_factory=list)

    def last(self, key: str, split: Literal["train", "eval"] = "eval") -> float:
        """The most recent value of ``key`` (e.g. ``history.last("accuracy")``)."""
        rows = [row for row in getattr(self, split) if key in row]
        if not rows:
            raise KeyError(f"no {split} record has {key!r}; keys seen: {self.keys(split)}")
        return rows[-1][key]

    def keys(self, split: Literal["train", "eval"] = "eval") -> list[str]:
        """Metric names present in ``split``."""
        return sorted({k for row in getattr(self, split) for k in row if k != "step"})

    def series(self, key: str, split: Literal["train", "eval"] = "train") -> tuple[list[int], list[float]]:
        """(steps, values) of one metric, ready to plot."""
        rows = [row for row in getattr(self, split) if key in row]
        return [int(r["step"]) for r in rows], [r[key] for r in rows]

    def plot(self, keys: Iterable[str] = ("loss",), ax=None):
        """Plot train and eval curves of ``keys`` (see :func:`mmlab.viz.plot_history`)."""
        from mmlab.viz import plot_history

        return plot_history(self, keys=keys, ax=ax)


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):  # dicts, and transformers' BatchEncoding
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def _batch_size(batch: Any) -> int:
    """Number of examples in a batch: the first dimension of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.dim() else 1
    values = (
        batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else []
    )
    for value in values:
        size = _batch_size(value)
        if size:
            return size
    return 1


def _split_output(output: LossOutput) -> tuple[torch.Tensor, dict[str, float]]:
    if isinstance(output, tuple):
        loss, metrics = output
        return loss, {k: float(v) for k, v in metrics.items()}
    return output, {}


def default_optimizer(
    model: nn.Module, config: TrainConfig, device: torch.device | None = None
) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (biases, norms and gains are not decayed); on CUDA
    the fused kernel updates all parameters in one launch."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (all have requires_grad=False)")
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = device is not None and device.type == "cuda"
    return torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=config.lr, betas=config.betas, fused=fused
    )


class Trainer:
    """Train any ``nn.Module`` with a loss function and data loaders.

    Example::

        trainer = Trainer(model, loss_fn, train_loader, eval_loader, TrainConfig(max_steps=500))
        history = trainer.fit()
        history.last("accuracy")

    Calling :meth:`fit` again continues where the last call stopped (pass a larger ``max_steps``),
    and an interrupted run (Ctrl-C, "stop kernel") keeps its progress and, with a
    ``checkpoint_dir``, writes a checkpoint before returning.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        train_loader: Iterable,
        eval_loader: Iterable | None = None,
        config: TrainConfig | None = None,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        self.config = config or TrainConfig()
        self.dist = init_distributed()
        self.device = get_device(self.config.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.module = model.to(self.device)  # the plain model: evaluation and checkpoints use it
        self.model = self.module
        self.loss_fn = loss_fn
        self.train_loader = train_loader
        self.eval_loader = eval_loader
        if self.dist.enabled:
            self.model = wrap_model(self.module, self.device, self.config.strategy)
            self.train_loader = shard_loader(train_loader, self.dist, self.config.data_seed)
        self.amp = amp_settings(self.device, self.config.amp)
        self.optimizer = optimizer or default_optimizer(self.model, self.config, self.device)
        # What clipping measures: the parameters the optimizer trains, in the model's order (a frozen
        # layer's leftover gradient from an earlier run must not count).
        in_optimizer = {id(p) for group in self.optimizer.param_groups for p in group["params"]}
        self._trained = [p for p in self.model.parameters() if id(p) in in_optimizer]
        if self.config.compile:
            self.model = torch.compile(self.model)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(self.config))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp.use_grad_scaler)
        self.history = History()
        self.step = 0
        self.epoch = 0
        self._batches_in_epoch = 0
        self._epoch_rng: torch.Tensor | None = None
        self._epoch_loader_rng: torch.Tensor | None = None  # a DataLoader(generator=...)'s own state
        self._iterator: Iterator | None = None
        self._live_plot = None
        self._resumed = False
        self._running: dict[str, float] = {}  # metric sums since the last logged row
        self._running_count = 0
        if hasattr(train_loader, "__len__") and len(train_loader) == 0:
            raise ValueError("train_loader is empty: it yields no batches")

    # ----------------------------------------------------------------- data
    def _start_epoch(self) -> None:
        # The shuffle order of a DataLoader is drawn from the global torch RNG when iteration
        # starts; remembering that state lets a resumed run replay the same order.
        self._epoch_rng = torch.get_rng_state()
        own_generator = getattr(self.train_loader, "generator", None)
        self._epoch_loader_rng = (
            own_generator.get_state() if isinstance(own_generator, torch.Generator) else None
        )
        sampler = getattr(self.train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):  # a sharded loader draws its order from seed + epoch
            sampler.set_epoch(self.epoch)
        self._iterator = iter(self.train_loader)
        self._batches_in_epoch = 0

    def _next_batch(self) -> Any:
        if self._iterator is None:
            self._start_epoch()
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.epoch += 1
            self._start_epoch()
            try:
                batch = next(self._iterator)
            except StopIteration:
                raise ValueError("train_loader yielded no batches in a whole epoch") from None
        self._batches_in_epoch += 1
        return move_to_device(batch, self.device)

    # ----------------------------------------------------------------- training
    def fit(self, max_steps: int | None = None) -> History:
        """Train until ``max_steps`` (default ``config.max_steps``) optimizer steps are done."""
        config = self.config
        target = max_steps or config.max_steps
        if config.resume and not self._resumed:
            self._resume()
        if config.live_plot:
            from mmlab.viz import LivePlot

            self._live_plot = self._live_plot or LivePlot()
        self.model.train()
        show = config.progress and self.dist.is_main
        bar = tqdm(total=target, initial=self.step, desc="training", disable=not show)
        last_eval_step = -1
        start = time.perf_counter()
        try:
            while self.step < target:
                metrics = self._train_step()
                for key, value in metrics.items():
                    self._running[key] = self._running.get(key, 0.0) + value
                self._running_count += 1
                self.step += 1
                if self.step % config.log_every == 0:
                    self._log_row()
                    bar.set_postfix(loss=f"{self.history.train[-1]['loss']:.4f}")
                if config.eval_every and self.step % config.eval_every == 0 and self.eval_loader is not None:
                    self.evaluate()
                    last_eval_step = self.step
                if (
                    config.checkpoint_dir
                    and config.checkpoint_every
                    and self.step % config.checkpoint_every == 0
                ):
                    self.save_checkpoint()
                bar.update(1)
        except KeyboardInterrupt:
            bar.close()
            saved = f"; checkpoint saved to {self.save_checkpoint()}" if config.checkpoint_dir else ""
            if self.dist.is_main:
                print(f"Interrupted at step {self.step}/{target}{saved}. Call fit() again to continue.")
            return self.history
        bar.close()
        self.train_seconds = time.perf_counter() - start
        if self.eval_loader is not None and last_eval_step != self.step:
            self.evaluate()
        if config.checkpoint_dir:
            self.save_checkpoint()
        return self.history

    def _train_step(self) -> dict[str, float]:
        """One optimizer step over ``grad_accum_steps`` batches; returns the averaged metrics."""
        config = self.config
        # The model's gradients, not only the optimizer's: a parameter trained by an earlier run and
        # frozen since keeps its last gradient, which would otherwise count in the clipped norm.
        self.model.zero_grad(set_to_none=True)
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        for micro_step in range(config.grad_accum_steps):
            batch = self._next_batch()
            # Under DDP, gradients are all-reduced only on the last batch of an accumulation.
            last = micro_step == config.grad_accum_steps - 1
            sync = self.model.no_sync() if hasattr(self.model, "no_sync") and not last else nullcontext()
            with sync:
                with self.amp.autocast(self.device):
                    loss, metrics = _split_output(self.loss_fn(self.model, batch))
                value = loss.item()  # one read of the loss serves the check and the log
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"loss is {value} at step {self.step}: lower the learning rate "
                        f"(now {self.scheduler.get_last_lr()[0]:.2e}) or check the inputs"
                    )
                # Each batch's loss is a mean, so dividing by the number of batches makes the summed
                # gradient equal to the gradient of the mean over the whole (larger) batch.
                self.scaler.scale(loss / config.grad_accum_steps).backward()
            metrics["loss"] = value
            for key, metric in metrics.items():
                totals[key] = totals.get(key, 0.0) + metric / config.grad_accum_steps
        if config.max_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            clip = nn.utils.clip_grad_norm_ if self._fsdp() else clip_grad_norm  # FSDP: sharded gradients
            norm = clip(self._trained, config.max_grad_norm)
            totals["grad_norm"] = float(norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return totals

    def _log_row(self) -> None:
        row = {"step": self.step, "lr": self.scheduler.get_last_lr()[0]}
        means = {k: v / self._running_count for k, v in self._running.items()}
        if self.dist.enabled:  # average over processes so every rank logs the global figures
            keys = sorted(means)
            values = torch.tensor([means[k] for k in keys], dtype=torch.float64, device=self.device)
            torch.distributed.all_reduce(values)
            means = dict(zip(keys, (values / self.dist.world_size).tolist()))
        row.update(means)
        self.history.train.append(row)
        self._running, self._running_count = {}, 0
        self._redraw()

    @torch.no_grad()
    def evaluate(self, loader: Iterable | None = None) -> dict[str, float]:
        """Mean loss and metrics over ``loader`` (default: the eval loader), weighted by batch size.

        Evaluation leaves the training random state untouched, so how often you evaluate does not
        change what the model learns.
        """
        loader = loader if loader is not None else self.eval_loader
        if loader is None:
            raise ValueError("no evaluation data: pass eval_loader to the Trainer or a loader here")
        was_training = self.model.training
        self.model.eval()  # every process evaluates the whole set: simple, and FSDP needs all ranks
        totals: dict[str, float] = {}
        count = 0
        with torch.random.fork_rng(devices=[]):
            for index, batch in enumerate(loader):
                if self.config.eval_batches is not None and index >= self.config.eval_batches:
                    break
                batch = move_to_device(batch, self.device)
                with self.amp.autocast(self.device):
                    loss, metrics = _split_output(self.loss_fn(self.model, batch))
                metrics["loss"] = loss.item()
                size = _batch_size(batch)
                for key, value in metrics.items():
                    totals[key] = totals.get(key, 0.0) + value * size
                count += size
        self.model.train(was_training)
        result = {k: v / max(count, 1) for k, v in totals.items()}
        if loader is self.eval_loader:
            self.history.eval.append({"step": self.step, **result})
            self._redraw()
        return result

    def _redraw(self) -> None:
        if self._live_plot is not None:
            self._live_plot.update(self.history)

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly (weights-only safe)."""
        return {
            "model": self.model_state_dict(),
            "optimizer": self._optimizer_state(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batches_in_epoch": self._batches_in_epoch if self._iterator is not None else -1,
            "epoch_rng": self._epoch_rng if self._epoch_rng is not None else torch.get_rng_state(),
            "epoch_loader_rng": self._epoch_loader_rng,
            "rng": capture_rng_state(),
            "history": {"train": self.history.train, "eval": self.history.eval},
            "running": {"sums": dict(self._running), "count": self._running_count},
            "config": {k: v for k, v in asdict(self.config).items() if k != "resume"},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a run saved by :meth:`state_dict`, including the position in the data."""
        try:
            self._load_model_state(state["model"])
        except RuntimeError as err:
            raise RuntimeError(f"the checkpoint does not fit this model: {err}") from err
        self._load_optimizer_state(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.history = History(train=list(state["history"]["train"]), eval=list(state["history"]["eval"]))
        self._running = dict(state["running"]["sums"])
        self._running_count = int(state["running"]["count"])
        self._iterator = None
        if state["batches_in_epoch"] >= 0:
            # Replay the epoch's shuffle and skip the batches already used.
            torch.set_rng_state(state["epoch_rng"])
            if state.get("epoch_loader_rng") is not None:
                self.train_loader.generator.set_state(state["epoch_loader_rng"])
            self._start_epoch()
            for _ in range(state["batches_in_epoch"]):
                next(self._iterator)
            self._batches_in_epoch = state["batches_in_epoch"]
        restore_rng_state(state["rng"])

    def _fsdp(self) -> bool:
        return self.dist.enabled and self.config.strategy == "fsdp"

    def model_state_dict(self) -> dict[str, torch.Tensor]:
        """The model's full weights. Under FSDP they are gathered from the shards, so every process
        must call this (a collective), though only rank 0 usually writes them."""
        if self._fsdp():  # gather the shards into one full, CPU-resident state dict
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            return get_model_state_dict(self.model, options=options)
        return unwrap_model(self.model).state_dict()

    def _optimizer_state(self) -> dict[str, Any]:
        if self._fsdp():
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            return get_optimizer_state_dict(self.model, self.optimizer, options=options)
        return self.optimizer.state_dict()

    def _load_model_state(self, state: dict[str, torch.Tensor]) -> None:
        if self._fsdp():
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

            set_model_state_dict(self.model, state, options=StateDictOptions(full_state_dict=True))
        else:
            unwrap_model(self.model).load_state_dict(state)

    def _load_optimizer_state(self, state: dict[str, Any]) -> None:
        if self._fsdp():
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            options = StateDictOptions(full_state_dict=True)
            set_optimizer_state_dict(self.model, self.optimizer, state, options=options)
        else:
            self.optimizer.load_state_dict(state)

    def save_checkpoint(self) -> Path:
        """Write a checkpoint of the current step into ``config.checkpoint_dir`` (rank 0 writes;
        under torchrun every process takes part in gathering the state and waits for the file)."""
        if not self.config.checkpoint_dir:
            raise ValueError("set TrainConfig(checkpoint_dir=...) to save checkpoints")
        state = self.state_dict()
        path = Path(self.config.checkpoint_dir)
        if self.dist.is_main:
            path = save_checkpoint(
                state, self.config.checkpoint_dir, self.step, keep=self.config.keep_checkpoints
            )
        self.dist.barrier()
        return path

    def _resume(self) -> None:
        self._resumed = True
        if isinstance(self.config.resume, str):
            path = Path(self.config.resume)
            state = load_checkpoint(path, map_location=self.device)
        else:
            newest = load_newest_checkpoint(self.config.checkpoint_dir, map_location=self.device)
            if newest is None:
                print(f"No checkpoint in {self.config.checkpoint_dir}: starting from step 0.")
                return
            path, state, skipped = newest
            for reason in skipped if self.dist.is_main else []:
                print(f"warning: {reason}; resuming from the newest one that loads.", file=sys.stderr)
        self.load_state_dict(state)
        if self.dist.is_main:
            print(f"Resumed from {path} at step {self.step}.")
