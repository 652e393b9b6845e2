"""Fake quantization with a straight-through gradient: weights and activations.

Weights are quantized per output channel and symmetrically; activations per tensor and
asymmetrically with an EMA min/max observer. Bit-widths 2..8 are fake-quantized; 16 and 32
mean "stored as fp16 / fp32" (quant.py keeps such layers float).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from autoedge.errors import CompressionError

QUANT_BITS: frozenset[int] = frozenset(range(2, 9))
FLOAT_BITS: frozenset[int] = frozenset({16, 32})
VALID_BITS: frozenset[int] = QUANT_BITS | FLOAT_BITS


def check_bits(bits: object, what: str) -> int:
    """`bits` if it is a valid bit-width (2..8, 16, 32), else CompressionError naming `what`."""
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in VALID_BITS:
        raise CompressionError(
            f"{what} is {bits!r}; use an int in 2..8 to quantize, or 16 / 32 to keep the layer "
            "float (stored as fp16 / fp32)"
        )
    return bits


def fake_quantize_weight(w: Tensor, bits: int) -> Tensor:
    """Per-output-channel symmetric fake quantization of `w` with a straight-through gradient."""
    if check_bits(bits, "weight bits") not in QUANT_BITS:
        raise CompressionError(f"weight bits {bits} are float; fake quantization needs 2..8")
    qmax = 2 ** (bits - 1) - 1
    shape = (-1,) + (1,) * (w.dim() - 1)
    amax = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1).reshape(shape)
    scale = amax / qmax
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return _RoundToGrid.apply(w, scale, torch.tensor(-qmax), torch.tensor(qmax))


class _RoundToGrid(torch.autograd.Function):
    """``clamp(round(x / scale), low, high) * scale`` with a straight-through gradient.

    One temporary, rounded and clamped in place: a third of the memory passes of writing it
    as ``x + (q - x).detach()``, which matters because activations are large.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: Tensor, low: Tensor, high: Tensor) -> Tensor:
        return (x / scale).round_().clamp_(low, high).mul_(scale)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        return grad, None, None, None


class ActivationQuantizer(nn.Module):
    """Per-tensor asymmetric fake quantizer with an EMA min/max observer.

    In training mode each batch updates ``min_val`` / ``max_val`` (the first batch sets them,
    later ones blend in with ``momentum``); in eval mode they are frozen. Until something has
    been observed, eval passes the input through unchanged.
    """

    min_val: Tensor
    max_val: Tensor

    def __init__(self, bits: int, momentum: float = 0.1) -> None:
        super().__init__()
        if check_bits(bits, "activation bits") not in QUANT_BITS:
            raise CompressionError(f"activation bits {bits} are float; a quantizer needs 2..8")
        if not 0.0 < momentum <= 1.0:
            raise CompressionError(f"observer momentum is {momentum}; use a value in (0, 1]")
        self.bits = bits
        self.momentum = momentum
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))

    @property
    def observed(self) -> bool:
        """Whether the observer has seen at least one training batch."""
        return bool(torch.isfinite(self.min_val))

    def extra_repr(self) -> str:
        return f"bits={self.bits}, momentum={self.momentum}"

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            with torch.no_grad():
                lo = x.detach().min().to(self.min_val.dtype)
                hi = x.detach().max().to(self.max_val.dtype)
                if self.observed:
                    lo = torch.lerp(self.min_val, lo, self.momentum)
                    hi = torch.lerp(self.max_val, hi, self.momentum)
                self.min_val.copy_(lo)
                self.max_val.copy_(hi)
        elif not self.observed:
            return x
        qmax = 2**self.bits - 1
        lo = torch.clamp(self.min_val, max=0.0)
        hi = torch.clamp(self.max_val, min=0.0)
        scale = (hi - lo) / qmax
        scale = torch.where(scale > 0, scale, torch.ones_like(scale)).to(x.dtype)
        zero_point = torch.clamp(torch.round(-lo.to(x.dtype) / scale), 0, qmax)
        # (clamp(round(x / s) + zp, 0, qmax) - zp) * s, with the integer zp moved into the bounds
        return _RoundToGrid.apply(x, scale, -zero_point, qmax - zero_point)
