"""The timm block-string grammar (`ir_r2_k5_s2_e6_c40_se0.25_nhs`), written and read without timm.

Fields: type (ds, ir, er), r repeats, k kernel, s stride, e expansion (ir/er only), c output
channels, se squeeze-excite ratio (omitted when 0), n activation code (re, r6, hs, sw).
timm's `decode_arch_def` reads the same strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autoedge.errors import CandidateError
from autoedge.space.spec import ACTIVATIONS, BLOCK_TYPES, EXPANDING_BLOCKS

_ACT_BY_CODE = {code: name for name, code in ACTIVATIONS.items()}
_FIELD = re.compile(r"^(r|k|s|e|c|se|n)(.+)$")


@dataclass(frozen=True)
class BlockString:
    """One block-string: `repeats` identical blocks."""

    block_type: str
    repeats: int
    kernel: int
    stride: int
    expansion: float | None
    out_channels: int
    se: float
    activation: str


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def format_block_string(b: BlockString) -> str:
    """Write a block string in timm's grammar."""
    parts = [b.block_type, f"r{b.repeats}", f"k{b.kernel}", f"s{b.stride}"]
    if b.block_type in EXPANDING_BLOCKS:
        parts.append(f"e{_num(b.expansion or 1)}")
    parts.append(f"c{b.out_channels}")
    if b.se:
        parts.append(f"se{_num(b.se)}")
    parts.append(f"n{ACTIVATIONS[b.activation]}")
    return "_".join(parts)


def parse_block_string(text: str) -> BlockString:
    """Read a block string written by `format_block_string` (or by hand in the same grammar)."""
    ops = text.strip().split("_")
    block_type, fields = ops[0], {}
    if block_type not in BLOCK_TYPES:
        raise CandidateError(
            f"block string {text!r}: unknown block type {block_type!r}; "
            f"use one of {', '.join(BLOCK_TYPES)}"
        )
    for op in ops[1:]:
        # 'se' must be tried before 's' (stride)
        m = re.match(r"^(se)([\d.]+)$", op) or _FIELD.match(op)
        if not m:
            raise CandidateError(f"block string {text!r}: cannot read field {op!r}")
        fields[m.group(1)] = m.group(2)
    try:
        act_code = fields.get("n", ACTIVATIONS["relu"])
        if act_code not in _ACT_BY_CODE:
            raise ValueError(f"unknown activation code {act_code!r}")
        expansion = float(fields["e"]) if block_type in EXPANDING_BLOCKS else None
        return BlockString(
            block_type=block_type,
            repeats=int(fields["r"]),
            kernel=int(fields["k"]),
            stride=int(fields["s"]),
            expansion=expansion,
            out_channels=int(fields["c"]),
            se=float(fields.get("se", 0.0)),
            activation=_ACT_BY_CODE[act_code],
        )
    except KeyError as e:
        raise CandidateError(f"block string {text!r}: missing field {e.args[0]!r}") from e
    except ValueError as e:
        raise CandidateError(f"block string {text!r}: {e}") from e
