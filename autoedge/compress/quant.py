"""Per-layer fake quantization for quantization-aware training (QAT).

`apply_fake_quant` swaps each Conv2d / Linear for a QuantConv2d / QuantLinear that
fake-quantizes its weight and its input (the quantizers are in fake_quant.py; straight-through
gradients reach the float weights) and records every layer's bits in a `QuantPlan`; 16 and 32
bits mean "stored as fp16 / fp32". `freeze_quantized` turns the result back into float layers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Self

import torch
import torch.nn.functional as F
from timm.layers import Conv2dSame, pad_same
from timm.layers import Linear as TimmLinear
from timm.layers.conv2d_same import Conv2dSameExport
from torch import Tensor, nn

from autoedge.compress.fake_quant import (
    FLOAT_BITS,
    QUANT_BITS,
    VALID_BITS,
    ActivationQuantizer,
    check_bits,
    fake_quantize_weight,
)
from autoedge.compress.layer_map import setting_for
from autoedge.errors import CompressionError

__all__ = [  # the fake quantizers (fake_quant.py) are re-exported: import them from here
    "FLOAT_BITS",
    "QUANT_BITS",
    "VALID_BITS",
    "ActivationQuantizer",
    "LayerBits",
    "QuantConv2d",
    "QuantLinear",
    "QuantPlan",
    "apply_fake_quant",
    "fake_quantize_weight",
    "freeze_quantized",
]

# Subclasses whose forward is equivalent to the base forward (timm's Linear) or whose "same"
# padding QuantConv2d reproduces. Any other subclass overriding forward is refused when it is
# to be quantized, since replacing it would silently drop its behaviour.
_SAME_PAD_CONVS: tuple[type[nn.Conv2d], ...] = (Conv2dSame, Conv2dSameExport)
_EQUIVALENT_LINEARS: tuple[type[nn.Linear], ...] = (TimmLinear,)


def _check_pair(pair: object, what: str) -> tuple[int, int]:
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise CompressionError(
            f"{what} is {pair!r}; give a (weight_bits, act_bits) pair such as (8, 8)"
        )
    return check_bits(pair[0], f"{what} weight bits"), check_bits(pair[1], f"{what} act bits")


@dataclass(frozen=True)
class LayerBits:
    """Bit-widths and sizes of one Conv2d / Linear layer in a `QuantPlan`."""

    name: str
    kind: str
    weight_bits: int
    act_bits: int
    weight_numel: int
    out_channels: int
    bias_numel: int

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "linear"):
            raise CompressionError(f"layer {self.name!r} has kind {self.kind!r}; use conv/linear")
        check_bits(self.weight_bits, f"layer {self.name!r} weight bits")
        check_bits(self.act_bits, f"layer {self.name!r} act bits")

    def weight_bytes(self) -> int:
        """Stored bytes: bit-packed weights (rounded up to whole bytes), fp32 per-channel
        scales when quantized, fp32 bias."""
        scales = self.out_channels * 4 if self.weight_bits in QUANT_BITS else 0
        packed = -(-self.weight_numel * self.weight_bits // 8)
        return packed + scales + self.bias_numel * 4


@dataclass(frozen=True)
class QuantPlan:
    """The bit-widths given to every Conv2d / Linear layer of a model, in module order."""

    layers: tuple[LayerBits, ...]

    def weight_bytes(self) -> int:
        """Total stored parameter bytes of all recorded layers (see `LayerBits.weight_bytes`)."""
        return sum(layer.weight_bytes() for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; `QuantPlan.from_json` reverses it."""
        return {"layers": [asdict(layer) for layer in self.layers]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a plan written by `to_json`."""
        try:
            return cls(layers=tuple(LayerBits(**dict(layer)) for layer in data["layers"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CompressionError(
                f"malformed quantization plan ({exc}); expected {{'layers': [{{name, kind, "
                "weight_bits, act_bits, weight_numel, out_channels, bias_numel}}, ...]}}"
            ) from exc


def _act_quant(act_bits: int) -> nn.Module:
    return ActivationQuantizer(act_bits) if act_bits in QUANT_BITS else nn.Identity()


class _FakeQuantLayer(nn.Module):
    """What QuantConv2d and QuantLinear share: bits, the input quantizer, the weight view."""

    weight: nn.Parameter
    bias: nn.Parameter | None
    weight_bits: int
    act_bits: int

    def _setup_quant(self, weight_bits: int, act_bits: int) -> None:
        self.weight_bits = check_bits(weight_bits, "weight bits")
        self.act_bits = check_bits(act_bits, "activation bits")
        self.act_quant = _act_quant(act_bits)

    def _adopt(self, module: nn.Module) -> Any:
        """Take over `module`'s own weight/bias Parameters (not copies) and its mode."""
        self.weight = module.weight
        self.bias = module.bias
        self.act_quant.to(module.weight.device)
        return self.train(module.training)

    def _fill_float(self, layer: Any) -> Any:
        """Give a meta-device float `layer` the fake-quantized weight and the bias."""
        layer.weight = nn.Parameter(self.quantized_weight().detach().clone())
        if self.bias is not None:
            layer.bias = nn.Parameter(self.bias.detach().clone())
        return layer.train(self.training)

    def quantized_weight(self) -> Tensor:
        """The weight as used in forward: fake-quantized at 2..8 bits, else unchanged."""
        if self.weight_bits in QUANT_BITS:
            return fake_quantize_weight(self.weight, self.weight_bits)
        return self.weight

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weight_bits={self.weight_bits}, act_bits={self.act_bits}"


class QuantConv2d(_FakeQuantLayer, nn.Conv2d):
    """Conv2d that fake-quantizes its input (``act_quant``) and, at 2..8 bits, its weight."""

    def __init__(
        self, *args: Any, weight_bits: int, act_bits: int, same_pad: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.same_pad = same_pad
        self._setup_quant(weight_bits, act_bits)

    @classmethod
    def from_float(cls, module: nn.Conv2d, weight_bits: int, act_bits: int) -> QuantConv2d:
        """Wrap `module`'s own weight/bias Parameters (not copies) in a quantized conv."""
        same_pad = isinstance(module, _SAME_PAD_CONVS)
        if not same_pad and type(module).forward is not nn.Conv2d.forward:
            raise CompressionError(
                f"{type(module).__name__} overrides Conv2d.forward, so fake quantization would "
                "drop its behaviour; give this layer float bits (16 or 32)"
            )
        quant = cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
            padding_mode=module.padding_mode,
            device="meta",
            weight_bits=weight_bits,
            act_bits=act_bits,
            same_pad=same_pad,
        )
        return quant._adopt(module)

    def to_float(self) -> nn.Conv2d:
        """A plain conv (timm Conv2dSame for "same" padding) holding the fake-quantized weight."""
        shape = (self.in_channels, self.out_channels, self.kernel_size)
        common: dict[str, Any] = {
            "stride": self.stride,
            "dilation": self.dilation,
            "groups": self.groups,
            "bias": self.bias is not None,
            "device": "meta",
        }
        conv: nn.Conv2d
        if self.same_pad:
            conv = Conv2dSame(*shape, **common)
        else:
            conv = nn.Conv2d(*shape, padding=self.padding, padding_mode=self.padding_mode, **common)
        return self._fill_float(conv)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act_quant(x)
        if self.same_pad:
            x = pad_same(x, self.weight.shape[-2:], self.stride, self.dilation)
        return self._conv_forward(x, self.quantized_weight(), self.bias)


class QuantLinear(_FakeQuantLayer, nn.Linear):
    """Linear that fake-quantizes its input (``act_quant``) and, at 2..8 bits, its weight."""

    def __init__(self, *args: Any, weight_bits: int, act_bits: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_quant(weight_bits, act_bits)

    @classmethod
    def from_float(cls, module: nn.Linear, weight_bits: int, act_bits: int) -> QuantLinear:
        """Wrap `module`'s own weight/bias Parameters (not copies) in a quantized linear."""
        if (
            not isinstance(module, _EQUIVALENT_LINEARS)
            and type(module).forward is not nn.Linear.forward
        ):
            raise CompressionError(
                f"{type(module).__name__} overrides Linear.forward, so fake quantization would "
                "drop its behaviour; give this layer float bits (16 or 32)"
            )
        quant = cls(
            module.in_features,
            module.out_features,
            bias=module.bias is not None,
            device="meta",
            weight_bits=weight_bits,
            act_bits=act_bits,
        )
        return quant._adopt(module)

    def to_float(self) -> nn.Linear:
        """A plain nn.Linear holding the fake-quantized weight."""
        linear = nn.Linear(
            self.in_features, self.out_features, bias=self.bias is not None, device="meta"
        )
        return self._fill_float(linear)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(self.act_quant(x), self.quantized_weight(), self.bias)


_QUANT_TYPES = (QuantConv2d, QuantLinear)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, module)


def apply_fake_quant(
    model: nn.Module,
    bits: Mapping[str, tuple[int, int]],
    *,
    default: tuple[int, int] = (32, 32),
) -> tuple[nn.Module, QuantPlan]:
    """Return a QAT copy of `model` and the plan of every Conv2d / Linear layer's bits.

    `bits` maps module-name prefixes (longest match wins, ``""`` for all) to
    ``(weight_bits, act_bits)``; layers matching no prefix get `default`. Layers left at
    float bits on both sides stay plain modules; layers that are already quantized keep
    their own bits. The input model is not modified.
    """
    if not isinstance(bits, Mapping):
        raise CompressionError(f"bits must map module-name prefixes to pairs, got {bits!r}")
    settings = {str(k): _check_pair(v, f"bits[{k!r}]") for k, v in bits.items()}
    fallback = _check_pair(default, "default bits")

    new = copy.deepcopy(model)
    layers: list[LayerBits] = []
    seen: set[int] = set()
    replaced: dict[int, nn.Module] = {}
    for name, module in list(new.named_modules(remove_duplicate=False)):
        if id(module) in seen:  # a layer reachable under a second name: reuse the first result
            if id(module) in replaced:
                _set_submodule(new, name, replaced[id(module)])
            continue
        if not isinstance(module, nn.Conv2d | nn.Linear):
            continue
        seen.add(id(module))
        if isinstance(module, _QUANT_TYPES):
            w_bits, a_bits = module.weight_bits, module.act_bits
        else:
            w_bits, a_bits = setting_for(name, settings, fallback)
        layers.append(
            LayerBits(
                name=name,
                kind="conv" if isinstance(module, nn.Conv2d) else "linear",
                weight_bits=w_bits,
                act_bits=a_bits,
                weight_numel=module.weight.numel(),
                out_channels=module.weight.shape[0],
                bias_numel=0 if module.bias is None else module.bias.numel(),
            )
        )
        if isinstance(module, _QUANT_TYPES) or (w_bits in FLOAT_BITS and a_bits in FLOAT_BITS):
            continue
        if name and isinstance(new.get_submodule(name.rpartition(".")[0]), nn.MultiheadAttention):
            raise CompressionError(
                f"{name!r} is used by nn.MultiheadAttention without calling its forward, so it "
                "cannot be fake-quantized; give it float bits (16 or 32)"
            )
        try:
            quant: nn.Module
            if isinstance(module, nn.Conv2d):
                quant = QuantConv2d.from_float(module, w_bits, a_bits)
            else:
                quant = QuantLinear.from_float(module, w_bits, a_bits)
        except CompressionError as exc:
            raise CompressionError(f"layer {name!r}: {exc}") from exc
        replaced[id(module)] = quant
        if name == "":
            return quant, QuantPlan(layers=tuple(layers))
        _set_submodule(new, name, quant)
    return new, QuantPlan(layers=tuple(layers))


def freeze_quantized(model: nn.Module) -> nn.Module:
    """Return a plain-float copy of a QAT model, ready for fp32 ONNX export.

    Every QuantConv2d / QuantLinear becomes an nn.Conv2d / nn.Linear (timm Conv2dSame for
    "same"-padded convs) whose weight holds the fake-quantized values; activation quantizers
    are dropped. The input model is not modified.
    """
    new = copy.deepcopy(model)
    frozen: dict[int, nn.Module] = {}
    with torch.no_grad():
        for name, module in list(new.named_modules(remove_duplicate=False)):
            if not isinstance(module, _QUANT_TYPES):
                continue
            if id(module) not in frozen:
                frozen[id(module)] = module.to_float()
            if name == "":
                return frozen[id(module)]
            _set_submodule(new, name, frozen[id(module)])
    return new
