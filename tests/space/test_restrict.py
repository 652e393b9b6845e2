"""restrict_bits: a space's bit-width choices narrowed to what a target executes."""

from __future__ import annotations

import dataclasses

import pytest

from autoedge.errors import SpaceError
from autoedge.space import get_space, load_space_text, sample_candidates
from autoedge.space.axes import Choice, IntRange
from autoedge.space.restrict import BIT_AXES, restrict_bits
from autoedge.space.spec import STAGE_AXES, SearchSpace

# tiny: weight_bits [4, 8, 32] and act_bits [8, 32] in every stage


def _bits(space: SearchSpace, name: str) -> list[tuple]:
    return [s.axis(name).values for s in space.stages]


def _space(stage_bits: list[tuple[list[int], list[int]]]) -> SearchSpace:
    """A small space whose stages have these (weight_bits, act_bits) choices."""
    stages = "\n".join(
        f"  - {{stride: 1, depth: {{low: 1, high: 1}}, width: [8], weight_bits: {w}, "
        f"act_bits: {a}}}"
        for w, a in stage_bits
    )
    text = f"""
name: bits
global:
  resolution: [32]
  stem_width: [8]
  head_width: [32]
  kd_temperature: {{low: 4.0, high: 4.0, step: 1.0}}
  kd_alpha: [0.0]
stage_defaults:
  block_type: [ds]
  kernel: [3]
  expansion: [3]
  se: [0]
  activation: [relu]
  prune: [0.0]
  rank: [1.0]
stages:
{stages}
"""
    return load_space_text(text, "test")


def test_drops_what_the_target_cannot_execute_and_reports_it() -> None:
    tiny = get_space("tiny")
    narrowed, dropped = restrict_bits(tiny, [8, 32], target="host")
    assert dropped == [4]
    assert _bits(narrowed, "weight_bits") == [(8, 32)] * len(tiny.stages)
    assert _bits(narrowed, "act_bits") == _bits(tiny, "act_bits")
    for cand in sample_candidates(narrowed, 25, seed=0):
        assert all(s.weight_bits in (8, 32) and s.act_bits in (8, 32) for s in cand.stages)


def test_keeps_everything_else_of_the_space() -> None:
    tiny = get_space("tiny")
    narrowed, _ = restrict_bits(tiny, [8, 32], target="host")
    assert narrowed.name == tiny.name and narrowed.description == tiny.description
    assert narrowed.resolution == tiny.resolution and narrowed.kd_alpha == tiny.kd_alpha
    assert len(narrowed.stages) == len(tiny.stages)
    for before, after in zip(tiny.stages, narrowed.stages, strict=True):
        assert after.stride == before.stride
        for name in set(STAGE_AXES) - set(BIT_AXES):
            assert after.axis(name) == before.axis(name), name


def test_nothing_dropped_leaves_the_space_equal() -> None:
    tiny = get_space("tiny")
    narrowed, dropped = restrict_bits(tiny, iter([2, 4, 8, 16, 32]), target="host")
    assert dropped == []
    assert narrowed == tiny


def test_bits_the_target_runs_but_the_space_lacks_are_not_reported() -> None:
    narrowed, dropped = restrict_bits(get_space("tiny"), [8, 16, 32], target="jetson")
    assert dropped == [4]  # 16 is executable but never was a choice: not dropped, not added
    assert all(16 not in v for v in _bits(narrowed, "weight_bits") + _bits(narrowed, "act_bits"))


def test_order_of_the_kept_choices_is_the_space_order() -> None:
    space = _space([([32, 4, 8], [32, 8])])
    narrowed, dropped = restrict_bits(space, {8, 32}, target="host")
    assert narrowed.stages[0].weight_bits == Choice((32, 8))
    assert narrowed.stages[0].act_bits == Choice((32, 8))
    assert dropped == [4]


def test_dropped_is_sorted_and_collects_both_axes_of_all_stages() -> None:
    space = _space([([4, 32], [8, 32]), ([2, 32], [16, 32])])
    _, dropped = restrict_bits(space, [32], target="fp32-only")
    assert dropped == [2, 4, 8, 16]


def test_a_stage_left_with_nothing_is_an_error_naming_it() -> None:
    space = _space([([8, 32], [8, 32]), ([8, 32], [8, 32]), ([4], [8, 32])])
    with pytest.raises(SpaceError) as err:
        restrict_bits(space, [8, 32], target="rpi4")
    text = str(err.value)
    assert "stage 2 weight_bits allows [4]" in text
    assert "target rpi4" in text and "[8, 32]" in text


def test_an_empty_act_bits_stage_is_named_too() -> None:
    space = _space([([8, 32], [8, 32]), ([8, 32], [16])])
    with pytest.raises(SpaceError, match=r"stage 1 act_bits allows \[16\]"):
        restrict_bits(space, [8, 32], target="rpi4")


def test_nothing_executable_at_all_fails_on_the_first_stage() -> None:
    with pytest.raises(SpaceError, match="stage 0 weight_bits"):
        restrict_bits(get_space("tiny"), [], target="nothing")


def test_a_bit_axis_that_is_not_a_list_is_rejected() -> None:
    tiny = get_space("tiny")
    stages = list(tiny.stages)
    stages[1] = dataclasses.replace(stages[1], act_bits=IntRange(8, 32))
    space = dataclasses.replace(tiny, stages=tuple(stages))
    with pytest.raises(SpaceError, match="stage 1 act_bits must be a list of bit-widths"):
        restrict_bits(space, [8, 32], target="host")
