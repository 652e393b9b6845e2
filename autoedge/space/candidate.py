"""Candidate: one point of the joint space, in canonical form, with a stable key.

Only genes that exist are stored: a stage of depth 2 holds two blocks, a depthwise-separable
block has no expansion, and a candidate trained without distillation (kd_alpha = 0) has no
temperature. So two gene sets that build the same network are the same Candidate, with the
same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from autoedge.errors import CandidateError
from autoedge.space.axes import canonical_float
from autoedge.space.blockstr import BlockString, format_block_string
from autoedge.space.spec import ACTIVATIONS, BIT_WIDTHS, BLOCK_TYPES, EXPANDING_BLOCKS

KEY_LENGTH = 16


@dataclass(frozen=True)
class BlockGenes:
    """Genes of one block inside a stage."""

    kernel: int
    expansion: float | None  # None for depthwise-separable blocks
    se: float


@dataclass(frozen=True)
class StageGenes:
    """Genes of one stage: its blocks and its compression settings."""

    block_type: str
    stride: int
    width: int
    activation: str
    blocks: tuple[BlockGenes, ...]
    prune: float
    weight_bits: int
    act_bits: int
    rank: float

    @property
    def depth(self) -> int:
        return len(self.blocks)


@dataclass(frozen=True)
class Candidate:
    """A point in the joint space: architecture, compression and distillation genes.

    `space` names the space it was drawn from; it is metadata and not part of `key`.
    """

    resolution: int
    stem_width: int
    head_width: int
    stages: tuple[StageGenes, ...]
    kd_alpha: float
    kd_temperature: float | None  # None when kd_alpha == 0 (no distillation)
    space: str = ""

    def __post_init__(self) -> None:
        _check(self)

    # ----- canonical form, key, JSON -----------------------------------------------------
    def canonical(self) -> dict[str, Any]:
        """The genes as plain JSON data, without metadata: the basis of `key`."""
        return {
            "resolution": self.resolution,
            "stem_width": self.stem_width,
            "head_width": self.head_width,
            "kd_alpha": self.kd_alpha,
            "kd_temperature": self.kd_temperature,
            "stages": [
                {
                    "block_type": s.block_type,
                    "stride": s.stride,
                    "width": s.width,
                    "activation": s.activation,
                    "blocks": [
                        {"kernel": b.kernel, "expansion": b.expansion, "se": b.se} for b in s.blocks
                    ],
                    "prune": s.prune,
                    "weight_bits": s.weight_bits,
                    "act_bits": s.act_bits,
                    "rank": s.rank,
                }
                for s in self.stages
            ],
        }

    @property
    def key(self) -> str:
        """Stable hash of the canonical genes (same genes -> same key, on any machine)."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:KEY_LENGTH]

    def to_json(self) -> dict[str, Any]:
        """JSON data that `Candidate.from_json` reads back into an equal candidate."""
        return {"space": self.space, **self.canonical()}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data: Any) -> Candidate:
        """Read a candidate from JSON data; malformed data raises CandidateError."""
        return _from_json(data)

    @classmethod
    def loads(cls, text: str) -> Candidate:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CandidateError(f"candidate JSON is not valid JSON: {e}") from e
        return _from_json(data)

    # ----- human views ---------------------------------------------------------------------
    def block_strings(self) -> list[list[str]]:
        """timm-style block strings, one list per stage (consecutive equal blocks merged)."""
        out = []
        for s in self.stages:
            strings: list[str] = []
            run: list[BlockGenes] = []
            for b in s.blocks:
                if run and b != run[-1]:
                    strings.append(_stage_string(s, run[0], len(run), first=not strings))
                    run = []
                run.append(b)
            strings.append(_stage_string(s, run[0], len(run), first=not strings))
            out.append(strings)
        return out

    def arch(self) -> str:
        """One line: resolution, stem, stages' block strings, head."""
        stages = " | ".join(" ".join(ss) for ss in self.block_strings())
        return f"r{self.resolution} stem{self.stem_width} | {stages} | head{self.head_width}"

    def genes(self) -> dict[str, Any]:
        """Flat name -> value view (the gene names the samplers use), e.g. 's1.b0.kernel'."""
        g: dict[str, Any] = {
            "resolution": self.resolution,
            "stem_width": self.stem_width,
            "head_width": self.head_width,
            "kd_alpha": self.kd_alpha,
        }
        if self.kd_temperature is not None:
            g["kd_temperature"] = self.kd_temperature
        for i, s in enumerate(self.stages):
            p = f"s{i}"
            g[f"{p}.block_type"] = s.block_type
            g[f"{p}.depth"] = s.depth
            g[f"{p}.width"] = s.width
            g[f"{p}.activation"] = s.activation
            for j, b in enumerate(s.blocks):
                g[f"{p}.b{j}.kernel"] = b.kernel
                if b.expansion is not None:
                    g[f"{p}.b{j}.expansion"] = b.expansion
                g[f"{p}.b{j}.se"] = b.se
            g[f"{p}.prune"] = s.prune
            g[f"{p}.weight_bits"] = s.weight_bits
            g[f"{p}.act_bits"] = s.act_bits
            g[f"{p}.rank"] = s.rank
        return g


def _stage_string(s: StageGenes, b: BlockGenes, repeats: int, *, first: bool) -> str:
    return format_block_string(
        BlockString(
            block_type=s.block_type,
            repeats=repeats,
            kernel=b.kernel,
            stride=s.stride if first else 1,
            expansion=b.expansion,
            out_channels=s.width,
            se=b.se,
            activation=s.activation,
        )
    )


def make_stage(
    *,
    block_type: str,
    stride: int,
    width: int,
    activation: str,
    blocks: list[tuple[int, float | None, float]],
    prune: float,
    weight_bits: int,
    act_bits: int,
    rank: float,
) -> StageGenes:
    """Build a StageGenes in canonical form (floats rounded, expansion dropped for ds)."""
    expanding = block_type in EXPANDING_BLOCKS
    return StageGenes(
        block_type=block_type,
        stride=stride,
        width=width,
        activation=activation,
        blocks=tuple(
            BlockGenes(
                kernel=k,
                expansion=canonical_float(e) if expanding and e is not None else None,
                se=canonical_float(se),
            )
            for k, e, se in blocks
        ),
        prune=canonical_float(prune),
        weight_bits=weight_bits,
        act_bits=act_bits,
        rank=canonical_float(rank),
    )


def make_candidate(
    *,
    resolution: int,
    stem_width: int,
    head_width: int,
    stages: list[StageGenes],
    kd_alpha: float,
    kd_temperature: float | None,
    space: str = "",
) -> Candidate:
    """Build a Candidate in canonical form (no temperature without distillation)."""
    alpha = canonical_float(kd_alpha)
    return Candidate(
        resolution=resolution,
        stem_width=stem_width,
        head_width=head_width,
        stages=tuple(stages),
        kd_alpha=alpha,
        kd_temperature=None
        if alpha == 0 or kd_temperature is None
        else canonical_float(kd_temperature),
        space=space,
    )


# ----- validation ------------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return _is_int(v) or isinstance(v, float)


def _check(c: Candidate) -> None:
    """Structural invariants of the canonical form; value ranges are the space's business."""
    for name in ("resolution", "stem_width", "head_width"):
        v = getattr(c, name)
        if not _is_int(v) or v < 1:
            raise CandidateError(f"candidate {name}: {v!r} is not a positive integer")
    if not _is_num(c.kd_alpha) or not 0 <= c.kd_alpha <= 1:
        raise CandidateError(f"candidate kd_alpha: {c.kd_alpha!r} is not within 0..1")
    if c.kd_alpha == 0 and c.kd_temperature is not None:
        raise CandidateError(
            "candidate kd_temperature: must be null when kd_alpha is 0 (no distillation)"
        )
    if c.kd_alpha > 0 and (not _is_num(c.kd_temperature) or c.kd_temperature <= 0):
        raise CandidateError(
            f"candidate kd_temperature: {c.kd_temperature!r} must be a positive number "
            "when kd_alpha > 0"
        )
    if not c.stages:
        raise CandidateError("candidate stages: at least one stage is required")
    for i, s in enumerate(c.stages):
        p = f"candidate s{i}"
        if s.block_type not in BLOCK_TYPES:
            raise CandidateError(
                f"{p}.block_type: {s.block_type!r} is not one of {', '.join(BLOCK_TYPES)}"
            )
        if s.activation not in ACTIVATIONS:
            raise CandidateError(
                f"{p}.activation: {s.activation!r} is not one of {', '.join(ACTIVATIONS)}"
            )
        if s.stride not in (1, 2) or not _is_int(s.stride):
            raise CandidateError(f"{p}.stride: {s.stride!r} is not 1 or 2")
        if not _is_int(s.width) or s.width < 1:
            raise CandidateError(f"{p}.width: {s.width!r} is not a positive integer")
        if not s.blocks:
            raise CandidateError(f"{p}.blocks: a stage needs at least one block")
        for bits_name in ("weight_bits", "act_bits"):
            v = getattr(s, bits_name)
            if v not in BIT_WIDTHS or not _is_int(v):
                raise CandidateError(f"{p}.{bits_name}: {v!r} is not a bit-width (2..8, 16, 32)")
        if not _is_num(s.prune) or not 0 <= s.prune < 1:
            raise CandidateError(f"{p}.prune: {s.prune!r} is not a ratio in [0, 1)")
        if not _is_num(s.rank) or not 0 < s.rank <= 1:
            raise CandidateError(f"{p}.rank: {s.rank!r} is not a ratio in (0, 1]")
        expanding = s.block_type in EXPANDING_BLOCKS
        for j, b in enumerate(s.blocks):
            q = f"{p}.b{j}"
            if not _is_int(b.kernel) or b.kernel < 1 or b.kernel % 2 == 0:
                raise CandidateError(f"{q}.kernel: {b.kernel!r} is not an odd positive integer")
            if expanding and (not _is_num(b.expansion) or b.expansion <= 0):
                raise CandidateError(
                    f"{q}.expansion: {b.expansion!r} must be a positive number for "
                    f"'{s.block_type}' blocks"
                )
            if not expanding and b.expansion is not None:
                raise CandidateError(
                    f"{q}.expansion: must be null for '{s.block_type}' blocks (no expansion)"
                )
            if not _is_num(b.se) or not 0 <= b.se <= 1:
                raise CandidateError(f"{q}.se: {b.se!r} is not a ratio within 0..1")


def _field(d: dict, name: str, where: str) -> Any:
    if name not in d:
        raise CandidateError(f"candidate JSON {where}: missing field '{name}'")
    return d[name]


def _only(d: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(d, dict):
        raise CandidateError(f"candidate JSON {where}: expected an object")
    extra = set(d) - allowed
    if extra:
        raise CandidateError(
            f"candidate JSON {where}: unknown field(s) {sorted(extra)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return d


_TOP = {"space", "resolution", "stem_width", "head_width", "kd_alpha", "kd_temperature", "stages"}
_STAGE = {
    "block_type",
    "stride",
    "width",
    "activation",
    "blocks",
    "prune",
    "weight_bits",
    "act_bits",
    "rank",
}
_BLOCK = {"kernel", "expansion", "se"}


def _from_json(data: Any) -> Candidate:
    d = _only(data, _TOP, "(top level)")
    stages_raw = _field(d, "stages", "(top level)")
    if not isinstance(stages_raw, list):
        raise CandidateError("candidate JSON stages: expected a list")
    stages = []
    for i, sraw in enumerate(stages_raw):
        where = f"stages[{i}]"
        s = _only(sraw, _STAGE, where)
        blocks_raw = _field(s, "blocks", where)
        if not isinstance(blocks_raw, list):
            raise CandidateError(f"candidate JSON {where}.blocks: expected a list")
        blocks = []
        for j, braw in enumerate(blocks_raw):
            bw = f"{where}.blocks[{j}]"
            b = _only(braw, _BLOCK, bw)
            blocks.append((_field(b, "kernel", bw), b.get("expansion"), _field(b, "se", bw)))
        block_type = _field(s, "block_type", where)
        for j, (_, e, _) in enumerate(blocks):
            if block_type not in EXPANDING_BLOCKS and e is not None:
                raise CandidateError(
                    f"candidate JSON {where}.blocks[{j}].expansion: "
                    f"'{block_type}' blocks have no expansion; use null"
                )
        try:
            stages.append(
                make_stage(blocks=blocks, **{k: _field(s, k, where) for k in _STAGE - {"blocks"}})
            )
        except (TypeError, ValueError) as e:
            raise CandidateError(f"candidate JSON {where}: {e}") from e
    space = d.get("space", "")
    if not isinstance(space, str):
        raise CandidateError("candidate JSON space: expected a string")
    alpha = _field(d, "kd_alpha", "(top level)")
    temp = d.get("kd_temperature")
    if _is_num(alpha) and alpha == 0 and temp is not None:
        raise CandidateError(
            "candidate JSON kd_temperature: must be null when kd_alpha is 0 (no distillation)"
        )
    try:
        return make_candidate(
            resolution=_field(d, "resolution", "(top level)"),
            stem_width=_field(d, "stem_width", "(top level)"),
            head_width=_field(d, "head_width", "(top level)"),
            stages=stages,
            kd_alpha=alpha,
            kd_temperature=temp,
            space=space,
        )
    except (TypeError, ValueError) as e:
        raise CandidateError(f"candidate JSON: {e}") from e
