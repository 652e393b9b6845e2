"""Read and validate search-space YAML; every problem names the file and the offending key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from autoedge.errors import SpaceError
from autoedge.space.axes import Axis, Choice, FloatRange, IntRange, Value, canonical_float
from autoedge.space.resolution import parse_relative
from autoedge.space.spec import (
    ACTIVATIONS,
    BIT_WIDTHS,
    BLOCK_TYPES,
    GLOBAL_AXES,
    STAGE_AXES,
    STRIDES,
    SearchSpace,
    StageSpace,
)

TOP_KEYS = {"name", "description", "global", "stage_defaults", "stages"}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return _is_int(v) or isinstance(v, float)


# Each rule: (value check, what a valid value is). Applied to every value an axis can take.
_Rule = tuple[Callable[[Any], bool], str]
_RATIO_01: _Rule = (lambda v: _is_num(v) and 0 <= v <= 1, "a ratio within 0..1")
RULES: dict[str, _Rule] = {
    "resolution": (lambda v: _is_int(v) and 8 <= v <= 1024, "an integer resolution in 8..1024"),
    "stem_width": (lambda v: _is_int(v) and v >= 1, "a positive integer channel count"),
    "head_width": (lambda v: _is_int(v) and v >= 1, "a positive integer channel count"),
    "kd_temperature": (lambda v: _is_num(v) and 0 < v <= 100, "a temperature in (0, 100]"),
    "kd_alpha": _RATIO_01,
    "block_type": (lambda v: v in BLOCK_TYPES, "a block type: " + ", ".join(BLOCK_TYPES)),
    "depth": (lambda v: _is_int(v) and 1 <= v <= 16, "an integer depth in 1..16"),
    "width": (lambda v: _is_int(v) and v >= 1, "a positive integer channel count"),
    "kernel": (
        lambda v: _is_int(v) and v in (1, 3, 5, 7, 9),
        "an odd kernel size (1, 3, 5, 7, 9)",
    ),
    "expansion": (lambda v: _is_num(v) and 0 < v <= 16, "an expansion ratio in (0, 16]"),
    "se": _RATIO_01,
    "activation": (lambda v: v in ACTIVATIONS, "an activation: " + ", ".join(ACTIVATIONS)),
    "prune": (lambda v: _is_num(v) and 0 <= v < 1, "a pruning ratio within 0..1 (below 1)"),
    "weight_bits": (lambda v: v in BIT_WIDTHS and _is_int(v), "a bit-width in 2..8, 16 or 32"),
    "act_bits": (lambda v: v in BIT_WIDTHS and _is_int(v), "a bit-width in 2..8, 16 or 32"),
    "rank": (lambda v: _is_num(v) and 0 < v <= 1, "a rank ratio within 0..1 (above 0)"),
}
FLOAT_AXES = {"kd_temperature", "kd_alpha", "expansion", "se", "prune", "rank"}


class _Ctx:
    """Carries the file name so every error can say where it happened."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> SpaceError:
        return SpaceError(f"space file {self.source}: {key}: {problem}")


def parse_axis(node: Any, key: str, axis_name: str, ctx: _Ctx) -> Axis:
    """Turn a YAML node (scalar, list, or {low, high[, step]}) into a validated axis."""
    check, expected = RULES[axis_name]
    if isinstance(node, dict):
        unknown = set(node) - {"low", "high", "step"}
        if unknown:
            raise ctx.fail(key, f"unknown range field(s) {sorted(unknown)}; use low, high, step")
        if "low" not in node or "high" not in node:
            raise ctx.fail(key, "a range needs both 'low' and 'high'")
        low, high = node["low"], node["high"]
        for bound, v in (("low", low), ("high", high)):
            if not check(v):
                raise ctx.fail(f"{key}.{bound}", f"{v!r} is not {expected}")
        if low > high:
            raise ctx.fail(key, f"low {low} is above high {high}")
        if axis_name in FLOAT_AXES:
            step = node.get("step")
            if not _is_num(step) or step <= 0:
                raise ctx.fail(f"{key}.step", "a float range needs a positive 'step'")
            n = (high - low) / step
            if abs(n - round(n)) > 1e-6:
                raise ctx.fail(key, f"high {high} is not on the grid {low} + k*{step}")
            return FloatRange(float(low), float(high), float(step))
        if "step" in node:
            raise ctx.fail(f"{key}.step", "integer ranges take every value; drop 'step'")
        if axis_name != "depth":
            return Choice(tuple(range(low, high + 1)))
        return IntRange(int(low), int(high))
    values = node if isinstance(node, list) else [node]
    if not values:
        raise ctx.fail(key, "empty choice list; give at least one value")
    out: list[Value] = []
    for i, v in enumerate(values):
        if not check(v):
            raise ctx.fail(f"{key}[{i}]", f"{v!r} is not {expected}")
        v = canonical_float(v) if axis_name in FLOAT_AXES else v
        if any(v == seen for seen in out):
            raise ctx.fail(f"{key}[{i}]", f"{v!r} is listed twice")
        out.append(v)
    if axis_name == "depth":
        return (
            IntRange(min(out), max(out))
            if out == list(range(min(out), max(out) + 1))
            else Choice(tuple(out))
        )
    return Choice(tuple(out))


def _mapping(node: Any, key: str, ctx: _Ctx) -> dict:
    if not isinstance(node, dict):
        raise ctx.fail(key, f"expected a mapping, got {type(node).__name__}")
    return node


def parse_space(data: Any, source: str) -> SearchSpace:
    """Validate parsed YAML data and build a SearchSpace; `source` names the file in errors."""
    ctx = _Ctx(source)
    top = _mapping(data, "(top level)", ctx)
    unknown = set(top) - TOP_KEYS
    if unknown:
        raise ctx.fail(sorted(unknown)[0], f"unknown key; allowed: {', '.join(sorted(TOP_KEYS))}")
    name = top.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ctx.fail("name", "a space needs a non-empty string name")
    desc = top.get("description", "")
    if not isinstance(desc, str):
        raise ctx.fail("description", "must be a string")

    glob = _mapping(top.get("global"), "global", ctx)
    unknown = set(glob) - set(GLOBAL_AXES)
    if unknown:
        raise ctx.fail(
            f"global.{sorted(unknown)[0]}", f"unknown axis; allowed: {', '.join(GLOBAL_AXES)}"
        )
    gaxes = {}
    for a in GLOBAL_AXES:
        if a not in glob:
            raise ctx.fail(f"global.{a}", "missing")
        if a == "resolution" and isinstance(glob[a], dict) and "relative" in glob[a]:
            gaxes[a] = parse_relative(glob[a], lambda k, why: ctx.fail(f"global.{k}", why))
            continue
        gaxes[a] = parse_axis(glob[a], f"global.{a}", a, ctx)

    defaults = _mapping(top.get("stage_defaults", {}), "stage_defaults", ctx)
    unknown = set(defaults) - set(STAGE_AXES)
    if unknown:
        raise ctx.fail(
            f"stage_defaults.{sorted(unknown)[0]}",
            f"unknown axis; allowed: {', '.join(STAGE_AXES)}",
        )
    stages_node = top.get("stages")
    if not isinstance(stages_node, list) or not stages_node:
        raise ctx.fail("stages", "a non-empty list of stages is required")
    stages = []
    for i, raw in enumerate(stages_node):
        skey = f"stages[{i}]"
        node = _mapping(raw, skey, ctx)
        unknown = set(node) - set(STAGE_AXES) - {"stride"}
        if unknown:
            raise ctx.fail(
                f"{skey}.{sorted(unknown)[0]}",
                f"unknown key; allowed: stride, {', '.join(STAGE_AXES)}",
            )
        stride = node.get("stride", 1)
        if stride not in STRIDES or not _is_int(stride):
            raise ctx.fail(f"{skey}.stride", f"{stride!r} is not a stride (1 or 2)")
        axes = {}
        for a in STAGE_AXES:
            if a in node:
                axes[a] = parse_axis(node[a], f"{skey}.{a}", a, ctx)
            elif a in defaults:
                axes[a] = parse_axis(defaults[a], f"stage_defaults.{a}", a, ctx)
            else:
                raise ctx.fail(f"{skey}.{a}", "missing (give it here or in stage_defaults)")
        stages.append(StageSpace(stride=stride, **axes))
    return SearchSpace(
        name=name.strip(), description=desc.strip(), stages=tuple(stages), source=source, **gaxes
    )


def load_space_file(path: str | Path) -> SearchSpace:
    """Load a space from a YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise SpaceError(f"space file {p}: not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise SpaceError(f"space file {p}: cannot be read ({e})") from e
    return load_space_text(text, str(p))


def load_space_text(text: str, source: str) -> SearchSpace:
    """Load a space from YAML text; `source` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = ""
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpaceError(f"space file {source}: (yaml): invalid YAML{where}: {problem}") from e
    return parse_space(data, source)


def dump_space(space: SearchSpace) -> str:
    """Write a space back to YAML text that `load_space_text` reads into an equal space."""
    return yaml.safe_dump(space.to_yaml_dict(), sort_keys=False)
