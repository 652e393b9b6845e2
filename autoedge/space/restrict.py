"""Narrow a space's bit-width choices to what a target's runtime really executes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from autoedge.errors import SpaceError
from autoedge.space.axes import Choice
from autoedge.space.spec import SearchSpace

BIT_AXES = ("weight_bits", "act_bits")


def restrict_bits(
    space: SearchSpace, executable: Iterable[int], *, target: str
) -> tuple[SearchSpace, list[int]]:
    """`space` with every bit-width choice `target` cannot execute removed, and those dropped.

    A stage left with no executable choice is an error naming the stage and the choices.
    """
    allowed = set(executable)
    dropped: set[int] = set()
    stages = []
    for i, stage in enumerate(space.stages):
        changes = {}
        for name in BIT_AXES:
            axis = stage.axis(name)
            if not isinstance(axis, Choice):
                raise SpaceError(f"stage {i} {name} must be a list of bit-widths")
            keep = tuple(v for v in axis.values if v in allowed)
            dropped.update(v for v in axis.values if v not in allowed)
            if not keep:
                raise SpaceError(
                    f"target {target} executes {sorted(allowed)}-bit tensors only; stage {i} "
                    f"{name} allows {list(axis.values)}: add one of those choices to the space"
                )
            changes[name] = Choice(keep)
        stages.append(replace(stage, **changes))
    return replace(space, stages=tuple(stages)), sorted(dropped)
