"""Known-good points of the bundled spaces: the hand baselines a search must beat.

MobileNetV3-Small-like and -Large-like networks (Howard et al., 2019) mapped onto the
`mobilenetv3` space's stages, uncompressed (fp32) or all-int8, with or without distillation.
A search starts from them (warm start) and plots them next to its front.
"""

from __future__ import annotations

from autoedge.errors import AutoEdgeError, SpaceError
from autoedge.space.candidate import Candidate, StageGenes, make_candidate, make_stage
from autoedge.space.resolution import drawn_resolutions
from autoedge.space.sampling import check_candidate
from autoedge.space.spec import SearchSpace

# (block_type, width, activation, [(kernel, expansion, se), ...]) per stage of `mobilenetv3`.
_SMALL = [
    ("ds", 16, "relu", [(3, None, 0.25)]),
    ("ir", 24, "relu", [(3, 4, 0.0), (3, 3, 0.0)]),
    ("ir", 40, "hard_swish", [(5, 4, 0.25), (5, 6, 0.25), (5, 6, 0.25)]),
    ("ir", 48, "hard_swish", [(5, 3, 0.25), (5, 3, 0.25)]),
    ("ir", 96, "hard_swish", [(5, 6, 0.25), (5, 6, 0.25), (5, 6, 0.25)]),
    ("ir", 96, "hard_swish", [(5, 6, 0.25)]),
]
_LARGE = [
    ("ds", 16, "relu", [(3, None, 0.0)]),
    ("ir", 24, "relu", [(3, 4, 0.0), (3, 3, 0.0)]),
    ("ir", 40, "relu", [(5, 3, 0.25), (5, 3, 0.25), (5, 3, 0.25)]),
    ("ir", 80, "hard_swish", [(3, 6, 0.0), (3, 3, 0.0), (3, 3, 0.0), (3, 3, 0.0)]),
    ("ir", 112, "hard_swish", [(3, 6, 0.25), (3, 6, 0.25)]),
    ("ir", 160, "hard_swish", [(5, 6, 0.25), (5, 6, 0.25), (5, 6, 0.25)]),
]
_LAYOUTS = {
    "mobilenetv3-small": (_SMALL, 1024),
    "mobilenetv3-large": (_LARGE, 1280),
}
#: A baseline's resolution when the space's own cannot be read (an unresolved relative one).
_DEFAULT_RESOLUTION = 64


def _top_resolution(space: SearchSpace) -> int:
    """Baselines run at the space's largest resolution for this data (64 for the 28x28
    built-ins in the default space; the data's size for photos)."""
    values = drawn_resolutions(space)
    return values[-1] if values else _DEFAULT_RESOLUTION


def list_baselines(space: SearchSpace) -> list[str]:
    """Names of the baselines that fit `space` (``<net>-fp32`` and ``<net>-int8``)."""
    return [name for name in _all_names() if _fits(name, space)]


def baseline_candidate(name: str, space: SearchSpace) -> Candidate:
    """A baseline by name, checked against `space`.

    ``-fp32`` is the uncompressed network; ``-int8`` quantizes every layer to 8 bits (weights
    and activations), which is what a user gets by hand with int8 post-training quantization.
    Both distil from the teacher (alpha 0.5, T 4) as any candidate may.
    """
    net, _, precision = name.rpartition("-")
    if net not in _LAYOUTS or precision not in ("fp32", "int8"):
        raise SpaceError(f"unknown baseline {name!r}; known: {', '.join(_all_names())}")
    layout, head = _LAYOUTS[net]
    resolution = _top_resolution(space)
    if len(layout) != len(space.stages):
        raise SpaceError(
            f"baseline {name} has {len(layout)} stages; space {space.name} has {len(space.stages)}"
        )
    bits = 8 if precision == "int8" else 32
    stages: list[StageGenes] = [
        make_stage(
            block_type=block_type,
            stride=stage.stride,
            width=width,
            activation=act,
            blocks=list(blocks),
            prune=0.0,
            weight_bits=bits,
            act_bits=bits,
            rank=1.0,
        )
        for (block_type, width, act, blocks), stage in zip(layout, space.stages, strict=True)
    ]
    cand = make_candidate(
        resolution=resolution,
        stem_width=16,
        head_width=head,
        stages=stages,
        kd_alpha=0.5,
        kd_temperature=4.0,
        space=space.name,
    )
    check_candidate(cand, space)
    return cand


def scaled_baseline(name: str, space: SearchSpace, width: float) -> Candidate:
    """A baseline with every stage and the stem scaled by `width`, as timm's
    ``mobilenetv3_small_050`` / ``_075`` are (channels rounded to multiples of 8, head kept).

    The scaled widths need not be choices of `space`: this is a reference point to compare a
    front against, not a point the search can draw.
    """
    if not 0 < width <= 4:
        raise SpaceError(f"width multiplier {width} is outside (0, 4]")
    base = baseline_candidate(name, space)
    stages = [
        make_stage(
            block_type=s.block_type,
            stride=s.stride,
            width=_divisible(s.width * width),
            activation=s.activation,
            blocks=[(b.kernel, b.expansion, b.se) for b in s.blocks],
            prune=s.prune,
            weight_bits=s.weight_bits,
            act_bits=s.act_bits,
            rank=s.rank,
        )
        for s in base.stages
    ]
    return make_candidate(
        resolution=base.resolution,
        stem_width=_divisible(base.stem_width * width),
        head_width=base.head_width,
        stages=stages,
        kd_alpha=base.kd_alpha,
        kd_temperature=base.kd_temperature,
        space=space.name,
    )


def _divisible(channels: float, divisor: int = 8) -> int:
    """timm's make_divisible: round to a multiple of `divisor`, never dropping below 90%."""
    out = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * channels else out


def _all_names() -> list[str]:
    return [f"{net}-{p}" for net in _LAYOUTS for p in ("fp32", "int8")]


def _fits(name: str, space: SearchSpace) -> bool:
    try:
        baseline_candidate(name, space)
    except AutoEdgeError:  # any mismatch means "not a point of this space"
        return False
    return True
