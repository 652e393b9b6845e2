"""Low-rank (truncated SVD) factorization of pointwise convolutions and linear layers.

A layer with weight W (out x in) becomes ``nn.Sequential(first, second)``: ``first`` maps
in -> r without bias (and carries a conv's stride and padding), ``second`` maps r -> out with
the original bias, and ``second.weight @ first.weight = U_r sqrt(S_r) sqrt(S_r) V_r^T``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from timm.layers import Linear as TimmLinear
from torch import nn

from autoedge.compress.layer_map import setting_for
from autoedge.errors import CompressionError


@dataclass(frozen=True)
class FactorizedLayer:
    """One layer replaced by a rank-`rank` pair; `relative_error` is ||W - AB||_F / ||W||_F."""

    name: str
    in_features: int
    out_features: int
    rank: int
    params_before: int
    params_after: int
    relative_error: float


def factorize_low_rank(
    model: nn.Module, rank_ratios: Mapping[str, float]
) -> tuple[nn.Module, tuple[FactorizedLayer, ...]]:
    """Return a copy of `model` with eligible layers factorized, and what was factorized.

    `rank_ratios` maps a module-name prefix (``""`` for all) to a ratio in (0, 1]; 1.0 (the
    default for unlisted layers) leaves a layer alone. Eligible layers are nn.Linear (timm's
    Linear included) and 1x1 nn.Conv2d with groups=1, provided their forward is the stock one
    (subclasses that transform their weight, such as weight-standardized convs, are skipped).
    A layer gets rank ``max(1, round(ratio * min(in, out)))`` (halves round up) and is replaced
    only when that lowers its weight count, ``r * (in + out) < in * out``; other layers are
    left untouched and not reported. The input model is left unchanged.
    """
    _check_ratios(model, rank_ratios)
    factorized = copy.deepcopy(model)
    planned: list[tuple[str, nn.Conv2d | nn.Linear, int]] = []
    for name, module in factorized.named_modules():
        ratio = setting_for(name, rank_ratios, 1.0)
        if ratio >= 1.0 or not _is_eligible(module):
            continue
        n_out, n_in = module.weight.shape[:2]
        rank = max(1, math.floor(ratio * min(n_in, n_out) + 0.5))
        if rank * (n_in + n_out) < n_in * n_out:
            planned.append((name, module, rank))

    records: list[FactorizedLayer] = []
    for name, module, rank in planned:
        pair, error = _factorize_layer(module, rank)
        if name == "":  # the model itself is a single eligible layer
            factorized = pair
        else:
            parent_name, _, child_name = name.rpartition(".")
            setattr(factorized.get_submodule(parent_name), child_name, pair)
        records.append(
            FactorizedLayer(
                name=name,
                in_features=module.weight.shape[1],
                out_features=module.weight.shape[0],
                rank=rank,
                params_before=_n_params(module),
                params_after=_n_params(pair),
                relative_error=error,
            )
        )
    return factorized, tuple(records)


def reconstruction_error(weight_2d: torch.Tensor, rank: int) -> float:
    """Relative Frobenius error ||W - W_r|| / ||W|| of the best rank-`rank` approximation of W.

    Computed from the singular values (Eckart-Young), so it is exactly non-increasing in
    `rank` and exactly 0 at full rank.
    """
    if weight_2d.dim() != 2:
        raise CompressionError(
            f"weight_2d must be a 2-D (out x in) matrix, got shape {tuple(weight_2d.shape)}"
        )
    full = min(weight_2d.shape)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= full:
        raise CompressionError(f"rank must be an integer in [1, {full}], got {rank!r}")
    energy = torch.linalg.svdvals(weight_2d.detach().to(torch.float64)).square()
    # tail[k] = sum of energy[k:], accumulated from the end so each step only adds.
    tail = energy.flip(0).cumsum(0).flip(0)
    if tail[0].item() == 0.0:
        return 0.0
    rest = tail[rank].item() if rank < full else 0.0
    return math.sqrt(rest / tail[0].item())


def _check_ratios(model: nn.Module, rank_ratios: Mapping[str, float]) -> None:
    names = [name for name, _ in model.named_modules()]
    for prefix, ratio in rank_ratios.items():
        if not isinstance(prefix, str):
            raise CompressionError(f"rank ratio keys must be module-name prefixes, got {prefix!r}")
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0.0 < ratio <= 1.0:
            raise CompressionError(
                f"rank ratio for {prefix!r} must be a number in (0, 1] (1.0 = off), got {ratio!r}"
            )
        if prefix and not any(n == prefix or n.startswith(prefix + ".") for n in names):
            raise CompressionError(
                f"no module of the model is named or starts with {prefix!r}; "
                "use qualified module names such as 'blocks.2' or 'classifier'"
            )


def _is_eligible(module: nn.Module) -> bool:
    """Linear layers and 1x1 groups=1 convs whose forward is the plain one (weight used as is)."""
    if isinstance(module, nn.Linear):
        return type(module).forward in (nn.Linear.forward, TimmLinear.forward)
    return (
        isinstance(module, nn.Conv2d)
        and type(module).forward is nn.Conv2d.forward
        and module.kernel_size == (1, 1)
        and module.groups == 1
    )


def _svd_factors(weight_2d: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(first, second) in float64 with ``second @ first`` the best rank-`rank` approximation."""
    u, s, vh = torch.linalg.svd(weight_2d.detach().to(torch.float64), full_matrices=False)
    root = s[:rank].sqrt()
    first = root[:, None] * vh[:rank]  # rank x in
    second = u[:, :rank] * root  # out x rank
    return first, second


def _factorize_layer(layer: nn.Conv2d | nn.Linear, rank: int) -> tuple[nn.Sequential, float]:
    """Replace `layer` by ``nn.Sequential(first, second)`` at `rank`; also return the error."""
    weight = layer.weight
    n_out, n_in = weight.shape[:2]
    w2d = weight.detach().reshape(n_out, n_in)
    first_w, second_w = _svd_factors(w2d, rank)
    has_bias = layer.bias is not None
    factory = {"device": weight.device, "dtype": weight.dtype}
    first: nn.Conv2d | nn.Linear
    second: nn.Conv2d | nn.Linear
    if isinstance(layer, nn.Conv2d):
        first = nn.Conv2d(
            n_in,
            rank,
            kernel_size=1,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            bias=False,
            padding_mode=layer.padding_mode,
            **factory,
        )
        second = nn.Conv2d(rank, n_out, kernel_size=1, bias=has_bias, **factory)
        first_w = first_w[:, :, None, None]
        second_w = second_w[:, :, None, None]
    else:
        first = nn.Linear(n_in, rank, bias=False, **factory)
        second = nn.Linear(rank, n_out, bias=has_bias, **factory)
    with torch.no_grad():
        first.weight.copy_(first_w)
        second.weight.copy_(second_w)
        if has_bias:
            second.bias.copy_(layer.bias)
            second.bias.requires_grad_(layer.bias.requires_grad)
    first.weight.requires_grad_(weight.requires_grad)
    second.weight.requires_grad_(weight.requires_grad)
    # The error of the factors as stored (in the layer's dtype), ||W - AB|| / ||W||.
    w = w2d.to(torch.float64)
    product = second.weight.detach().reshape(n_out, rank).to(torch.float64) @ (
        first.weight.detach().reshape(rank, n_in).to(torch.float64)
    )
    norm = torch.linalg.matrix_norm(w).item()
    error = torch.linalg.matrix_norm(w - product).item() / norm if norm > 0.0 else 0.0
    return nn.Sequential(first, second), error


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
