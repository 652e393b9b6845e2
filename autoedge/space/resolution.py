"""Input resolutions relative to the data: `resolution: {relative: [0.5, 0.75, 1.0]}`.

A relative axis becomes a plain choice once the data's image size is known
(`resolve_resolution`): each factor times the base, rounded to a multiple of 8, at least 32.
The base is the data's size, or `base_at_least` when the data is smaller: a network with an
overall stride of 32 needs room, so the 28x28 built-ins are upsampled (the default space
draws 32-64 px for them, as its absolute list did) while photos at 224 px draw 112-224 px.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from autoedge.errors import SpaceError
from autoedge.space.axes import Choice

if TYPE_CHECKING:
    from autoedge.space.spec import SearchSpace

MULTIPLE = 8
MIN_RESOLUTION = 32
BASE_AT_LEAST = 64


@dataclass(frozen=True)
class RelativeResolution:
    """Resolution factors of the data's size, resolved per dataset."""

    factors: tuple[float, ...]
    base_at_least: int = BASE_AT_LEAST

    def resolve(self, data_size: int) -> Choice:
        """The resolutions for images of `data_size` pixels: distinct, ascending."""
        base = max(int(data_size), self.base_at_least)
        values = sorted({max(MIN_RESOLUTION, _round8(f * base)) for f in self.factors})
        return Choice(tuple(values))

    def sample(self, source: Any, name: str) -> int:
        raise SpaceError(
            "this space's resolution is relative to the data; resolve it first "
            "(space.resolution.resolve_resolution(space, image_size))"
        )

    def contains(self, value: Any) -> bool:
        return False

    def describe(self) -> str:
        factors = ", ".join(f"{f:g}" for f in self.factors)
        return f"{factors} x the data's size (at least {self.base_at_least}), multiples of 8"

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"relative": list(self.factors)}
        if self.base_at_least != BASE_AT_LEAST:
            out["base_at_least"] = self.base_at_least
        return out


def parse_relative(node: dict[str, Any], fail: Any) -> RelativeResolution:
    """`{relative: [f, ...], base_at_least: N}` from YAML; `fail(key, problem)` makes errors."""
    unknown = set(node) - {"relative", "base_at_least"}
    if unknown:
        raise fail("resolution", f"unknown field(s) {sorted(unknown)}; use relative, base_at_least")
    factors = node["relative"]
    if not isinstance(factors, list) or not factors:
        raise fail("resolution.relative", "give a non-empty list of factors, e.g. [0.5, 1.0]")
    for i, f in enumerate(factors):
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 4:
            raise fail(f"resolution.relative[{i}]", f"{f!r} is not a factor in (0, 4]")
    base = node.get("base_at_least", BASE_AT_LEAST)
    if isinstance(base, bool) or not isinstance(base, int) or not 8 <= base <= 1024:
        raise fail("resolution.base_at_least", f"{base!r} is not an integer in 8..1024")
    return RelativeResolution(tuple(float(f) for f in factors), base)


def resolve_resolution(space: SearchSpace, data_size: int) -> SearchSpace:
    """`space` with a relative resolution turned into the choices for this data's size."""
    if isinstance(space.resolution, RelativeResolution):
        return replace(space, resolution=space.resolution.resolve(data_size))
    return space


def drawn_resolutions(space: SearchSpace) -> tuple[int, ...]:
    """The resolutions a resolved space draws, ascending (empty while still relative, or for
    an axis that lists no values)."""
    return tuple(sorted(int(v) for v in getattr(space.resolution, "values", ())))


def _round8(x: float) -> int:
    return round(x / MULTIPLE) * MULTIPLE
