"""The training loop: supervised or distilled (KD) training on prepared images.

Images arrive as ImageBatches (compress/batches.py: converted once when they fit in memory as
float, else per batch) or as an already prepared float tensor. Teacher logits are precomputed
(the teacher never runs inside the loop), so distillation costs no more than plain training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autoedge.compress.batches import NONE, SHIFT, ImageBatches, as_batches
from autoedge.compress.batches import images_to_tensor as images_to_tensor
from autoedge.compress.distill import kd_loss
from autoedge.errors import CompressionError, TrainingError

#: Called after every optimisation step with (step, loss); tests use it to watch or break runs.
StepHook = Callable[[int, float], None]


@dataclass(frozen=True)
class TrainSettings:
    """One training phase: optimiser budget and distillation weights.

    `epochs` passes over the given images with AdamW and a warm-up + cosine learning-rate schedule;
    `kd_alpha` > 0 mixes in the teacher's softened logits at `kd_temperature`.
    """

    epochs: int
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 0.01
    seed: int = 0
    kd_alpha: float = 0.0
    kd_temperature: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1:
            raise CompressionError("training needs epochs >= 0 and batch_size >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise CompressionError(f"learning rate {self.lr!r} must be a finite number > 0")
        if self.kd_alpha > 0 and self.kd_temperature is None:
            raise CompressionError("distillation (kd_alpha > 0) needs a kd_temperature")


@dataclass(frozen=True)
class TrainLog:
    """What a training phase did: optimiser steps (counted on from `start_step`), the last
    loss, wall seconds, and the optimiser's state to carry on from (None if no step ran)."""

    steps: int
    final_loss: float
    seconds: float
    optimizer_state: dict[str, Any] | None = field(default=None, compare=False, repr=False)


def train_model(
    model: nn.Module,
    x: Tensor | ImageBatches,
    y: Tensor,
    settings: TrainSettings,
    *,
    teacher_logits: Tensor | None = None,
    augment: bool = False,
    on_step: StepHook | None = None,
    optimizer_state: dict[str, Any] | None = None,
    start_step: int = 0,
) -> TrainLog:
    """Train `model` in place on (x, y); raise TrainingError if the loss stops being finite.

    With `teacher_logits` (one row per image) and `settings.kd_alpha` > 0 the loss is Hinton
    KD; otherwise cross-entropy. Batches are augmented as `x` (ImageBatches) says; a plain
    tensor `x` with `augment` gets random horizontal flips and 2-pixel shifts.
    `optimizer_state` (a TrainLog's) carries AdamW's moments on from an earlier phase of the
    same model; the learning-rate schedule restarts at `settings.lr` (warm restart) and steps
    are numbered on from `start_step`.
    """
    n = len(y)
    batches = as_batches(x, SHIFT if augment else NONE)
    if n == 0 or len(batches) != n:
        raise CompressionError(f"training needs matching images and labels, got {len(x)}/{n}")
    soft = teacher_logits if settings.kd_alpha > 0 else None  # KD only when it has weight
    if soft is not None and len(soft) != n:
        raise CompressionError(f"{len(soft)} teacher logits for {n} training images")
    temperature = settings.kd_temperature or 1.0  # set whenever kd_alpha > 0 (TrainSettings)
    start = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    per_epoch = math.ceil(n / settings.batch_size)
    total = settings.epochs * per_epoch
    if total == 0:
        return TrainLog(start_step, float("nan"), 0.0, optimizer_state)
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    if optimizer_state is not None:
        try:
            opt.load_state_dict(optimizer_state)
        except (ValueError, KeyError) as e:
            raise CompressionError(f"the saved optimiser state does not fit this model: {e}") from e
        for group in opt.param_groups:  # the schedule restarts; the moments carry on
            group["lr"] = group["initial_lr"] = settings.lr
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total))
    gen = torch.Generator().manual_seed(settings.seed)
    model.train()
    step, loss_value = start_step, float("nan")
    for _ in range(settings.epochs):
        order = torch.randperm(n, generator=gen)  # seeded on the CPU, any device
        for i in range(0, n, settings.batch_size):
            idx_cpu = order[i : i + settings.batch_size]
            idx = idx_cpu.to(y.device)
            out = model(batches.batch(idx_cpu, gen))
            if soft is not None:
                loss = kd_loss(
                    out, soft[idx], y[idx], temperature=temperature, alpha=settings.kd_alpha
                )
            else:
                loss = F.cross_entropy(out, y[idx])
            loss_value = float(loss.detach())
            step += 1
            if not math.isfinite(loss_value):
                raise TrainingError(
                    f"training diverged: the loss became {loss_value} at step "
                    f"{step - start_step} of {total} (learning rate {settings.lr:g}); lower "
                    "the learning rate"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if on_step is not None:
                on_step(step, loss_value)
    seconds = time.perf_counter() - start
    return TrainLog(step, loss_value, seconds, opt.state_dict())


def limit_threads(threads: int) -> None:
    """Limit this process's torch to `threads` intra-op threads (a worker's share of cores)."""
    if threads < 1:
        raise CompressionError(f"torch threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def warmup_cosine(total: int, warmup_fraction: float = 0.2) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warm-up, then cosine decay to 2% (any length)."""
    warmup = max(1, round(warmup_fraction * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def recalibrate_batchnorm(
    model: nn.Module, x: Tensor | ImageBatches, *, batch_size: int = 128
) -> None:
    """Re-estimate every BatchNorm's running statistics as a plain average over `x`.

    Short training runs leave the exponential running averages far from the final weights'
    statistics; one pass over a few hundred images fixes eval-mode accuracy for free.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    try:
        with torch.no_grad():
            for chunk in as_batches(x).chunks(batch_size):
                model(chunk)
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum
        model.train(was_training)


def predict_logits(model: nn.Module, x: Tensor | ImageBatches, *, batch_size: int = 256) -> Tensor:
    """Eval-mode logits of `model` for every image of `x`, on the CPU."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            chunks = as_batches(x).chunks(batch_size)
            return torch.cat([model(chunk).cpu() for chunk in chunks])
    finally:
        model.train(was_training)


def accuracy(logits: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    """Top-1 accuracy in [0, 1]."""
    pred = np.asarray(logits).argmax(axis=1)
    return float((pred == np.asarray(labels)).mean())
