"""The training device on this machine: how many GPUs torch sees, and a torch.device to use.

torch loads on the first call, not on import (the search plans a run without torch).
Seeds on a GPU: cuDNN is set to deterministic algorithms without autotuning, so one machine
repeats its numbers run after run; a GPU and the CPU differ by float rounding, and so do two
GPU models (docs/evaluation.md says how far).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autoedge.devices import resolve_device, wants_gpu

if TYPE_CHECKING:
    import torch


def gpu_count() -> int:
    """CUDA GPUs torch sees here (0 without CUDA; inside a Ray trial, those Ray assigned)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_device(spec: str) -> str:
    """`spec` resolved on this machine (DeviceError when it asks for a GPU that is absent)."""
    return resolve_device(spec, gpu_count())


def require_device(spec: str) -> None:
    """DeviceError when `spec` asks for a GPU this machine lacks; torch loads only for a
    cuda spec (auto and cpu are always there), so callers check before anything trains."""
    if wants_gpu(spec):
        check_device(spec)


def training_device(spec: str) -> torch.device:
    """The torch.device to train on for `spec` ("cuda" means the first GPU this process
    sees); on a GPU, cuDNN runs deterministic algorithms and that GPU becomes current."""
    import torch

    name = check_device(spec)
    if name == "cpu":
        return torch.device("cpu")
    device = torch.device("cuda:0" if name == "cuda" else name)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.cuda.set_device(device)
    return device
