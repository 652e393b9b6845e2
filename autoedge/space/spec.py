"""The joint search space: global axes plus one set of axes per stage."""

from __future__ import annotations

from dataclasses import dataclass, field

from autoedge.space.axes import Axis
from autoedge.space.resolution import RelativeResolution

#: Block types, with the timm block-string code they decode to.
BLOCK_TYPES: dict[str, str] = {
    "ds": "depthwise-separable (depthwise kxk + pointwise)",
    "ir": "inverted residual (MBConv: expand 1x1, depthwise kxk, project 1x1)",
    "er": "edge/fused residual (FusedMBConv: expand kxk, project 1x1)",
}
#: Block types that have an expansion ratio gene.
EXPANDING_BLOCKS = frozenset({"ir", "er"})
#: Activation names and their timm block-string code.
ACTIVATIONS: dict[str, str] = {"relu": "re", "relu6": "r6", "hard_swish": "hs", "swish": "sw"}
#: Bit-widths a layer may take: 2..8 are fake-quantized, 16/32 leave the layer float.
BIT_WIDTHS = frozenset({2, 3, 4, 5, 6, 7, 8, 16, 32})
STRIDES = frozenset({1, 2})

STAGE_AXES = (
    "block_type",
    "depth",
    "width",
    "kernel",
    "expansion",
    "se",
    "activation",
    "prune",
    "weight_bits",
    "act_bits",
    "rank",
)
GLOBAL_AXES = ("resolution", "stem_width", "head_width", "kd_temperature", "kd_alpha")


@dataclass(frozen=True)
class StageSpace:
    """Axes of one stage. `stride` is fixed by the space; everything else is searched."""

    stride: int
    block_type: Axis
    depth: Axis
    width: Axis
    kernel: Axis
    expansion: Axis
    se: Axis
    activation: Axis
    prune: Axis
    weight_bits: Axis
    act_bits: Axis
    rank: Axis

    def axis(self, name: str) -> Axis:
        return getattr(self, name)


@dataclass(frozen=True)
class SearchSpace:
    """A named joint space over architecture and compression; see search_spaces/*.yaml."""

    name: str
    description: str
    resolution: Axis | RelativeResolution  # relative until resolved for the data
    stem_width: Axis
    head_width: Axis
    kd_temperature: Axis
    kd_alpha: Axis
    stages: tuple[StageSpace, ...]
    source: str = field(default="", compare=False)

    def axis(self, name: str) -> Axis:
        return getattr(self, name)

    def to_yaml_dict(self) -> dict:
        """The space as the plain data a YAML file holds (stage axes written out in full)."""
        return {
            "name": self.name,
            "description": self.description,
            "global": {a: self.axis(a).to_yaml() for a in GLOBAL_AXES},
            "stages": [
                {"stride": s.stride} | {a: s.axis(a).to_yaml() for a in STAGE_AXES}
                for s in self.stages
            ],
        }
