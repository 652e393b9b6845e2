"""Model size and cost: parameter count and multiply-accumulates of conv and linear layers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelStats:
    """Parameters (all trainable tensors) and MACs of Conv2d/Linear layers for one input."""

    params: int
    macs: int


def count_params(model: nn.Module) -> int:
    """Number of parameter elements."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, example_input: torch.Tensor) -> int:
    """Multiply-accumulates of every Conv2d and Linear for one forward of `example_input`.

    A conv costs out_elements * (in_channels / groups) * kh * kw; a linear out_elements *
    in_features. Normalisation, activations and pooling are not counted (as is usual for MACs).
    """
    total = 0

    def conv_hook(m: nn.Conv2d, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example_input[:1])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def model_stats(model: nn.Module, example_input: torch.Tensor) -> ModelStats:
    """Parameters and MACs of `model` (batch 1)."""
    return ModelStats(params=count_params(model), macs=count_macs(model, example_input))
