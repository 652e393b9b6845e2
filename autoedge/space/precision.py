"""How each stage of a candidate ships: the precision its bit-width genes give the deployed model.

A stage's (weight_bits, act_bits) pair maps onto what runtimes store and run:

- ``int8``: weights 8 and activations 8 -> int8 QDQ on the stage's convolutions and linears;
- ``int8-weights``: weights 8, activations float -> int8 weights dequantized to float;
- ``fp16``: a 16-bit choice and no 8 -> the stage's tensors in fp16 (targets running fp16);
- ``fp32``: both 32 -> float.

8-bit activations with float weights have no runtime kernel (int8 kernels take int8 weights),
so such a stage ships as ``int8`` and is trained as it ships. Bit-widths below 8 have no
runtime on today's targets: `restrict_bits` removes them before a search starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from autoedge.errors import CandidateError

INT8 = "int8"
INT8_WEIGHTS = "int8-weights"
FP16 = "fp16"
FP32 = "fp32"
STAGE_PRECISIONS: tuple[str, ...] = (INT8, INT8_WEIGHTS, FP16, FP32)
"""The precisions a stage can ship at."""

MIXED = "mixed"
SHIPS_AS: tuple[str, ...] = (*STAGE_PRECISIONS, MIXED)
"""How a whole model ships: one precision everywhere, or mixed."""

#: The bits quantization-aware training simulates for a stage shipping at each precision
#: (weight_bits, act_bits); 32 means "not simulated" (fp16 rounding is not simulated).
TRAINED_BITS: dict[str, tuple[int, int]] = {
    INT8: (8, 8),
    INT8_WEIGHTS: (8, 32),
    FP16: (32, 32),
    FP32: (32, 32),
}


def stage_precision(weight_bits: int, act_bits: int) -> str:
    """The precision a stage with these bit-widths ships at (see the module docstring)."""
    bits = (weight_bits, act_bits)
    if any(b < 8 for b in bits):
        raise CandidateError(
            f"bits {bits} below 8 have no runtime on any target; restrict the space first"
        )
    if act_bits == 8:
        return INT8
    if weight_bits == 8:
        return INT8_WEIGHTS
    if 16 in bits:
        return FP16
    return FP32


def trained_bits(weight_bits: int, act_bits: int) -> tuple[int, int]:
    """The (weight_bits, act_bits) that quantization-aware training simulates for a stage: those
    of the precision it ships at. Bits below 8 (never shipped) are simulated as given."""
    if weight_bits < 8 or act_bits < 8:
        return weight_bits, act_bits
    return TRAINED_BITS[stage_precision(weight_bits, act_bits)]


def precision_map(stage_bits: Iterable[tuple[int, int]]) -> tuple[str, ...]:
    """Per stage, the precision it ships at, from (weight_bits, act_bits) pairs."""
    return tuple(stage_precision(w, a) for w, a in stage_bits)


def ships_as(precisions: Sequence[str]) -> str:
    """The one precision every stage ships at, else ``mixed``."""
    kinds = set(precisions)
    return kinds.pop() if len(kinds) == 1 else MIXED


def format_precision_map(precisions: Sequence[str]) -> str:
    """The map as one table cell: ``int8|fp32|int8-weights`` (stage 0 first)."""
    return "|".join(precisions)


def parse_precision_map(text: str) -> tuple[str, ...]:
    """Reverse `format_precision_map`; unknown names are an error."""
    parts = tuple(p for p in str(text).split("|") if p)
    bad = [p for p in parts if p not in STAGE_PRECISIONS]
    if bad or not parts:
        raise CandidateError(
            f"precision map {text!r} is not '|'-separated stage precisions "
            f"({', '.join(STAGE_PRECISIONS)})"
        )
    return parts


_STAGE_IN_NAME = re.compile(r"blocks\.(\d+)")
_STEM_NAMES = ("conv_stem", "bn1")
_HEAD_NAMES = ("conv_head", "bn2", "norm_head", "global_pool", "flatten", "classifier")


def stage_of_layer(name: str, n_stages: int) -> int | None:
    """The stage a layer belongs to, from its module path in any spelling (``blocks.2.1.conv_pw``
    or an exported node's ``/blocks/blocks.2/blocks.2.1/conv_pw/Conv``): the stem follows stage
    0, the head the last stage (as `CompressionPlan` assigns genes); None when the name holds
    no module path."""
    found = _STAGE_IN_NAME.search(name)
    if found:
        return int(found.group(1))
    parts = set(re.split(r"[/.]", name))
    if parts & set(_STEM_NAMES):
        return 0
    if parts & set(_HEAD_NAMES):
        return n_stages - 1
    return None
