"""Resolutions relative to the data (issue 27): resolved per image size, checked on load."""

from __future__ import annotations

import pytest

from autoedge.errors import SpaceError
from autoedge.space import get_space, sample_candidates
from autoedge.space.loader import dump_space, load_space_text
from autoedge.space.presets import baseline_candidate
from autoedge.space.resolution import RelativeResolution

TINY_REL = """
name: t
global:
  resolution: {relative: [0.5, 1.0]}
  stem_width: [8]
  head_width: [32]
  kd_temperature: [4.0]
  kd_alpha: [0.0]
stage_defaults: {block_type: [ds], depth: [1], width: [8], kernel: [3], expansion: [3],
  se: [0], activation: [relu], prune: [0.0], weight_bits: [32], act_bits: [32], rank: [1.0]}
stages: [{stride: 2}]
"""


@pytest.mark.parametrize(
    ("size", "expected"),
    [(None, (32, 64)), (28, (32, 64)), (96, (48, 96)), (224, (112, 224)), (100, (48, 96))],
)
def test_relative_resolution_follows_the_data(size, expected):
    rel = load_space_text(TINY_REL, "t.yaml")
    assert isinstance(rel.resolution, RelativeResolution)
    assert rel.resolution.resolve(size or 0).values == expected


def test_the_default_space_draws_what_its_absolute_list_did_for_small_images():
    assert get_space("mobilenetv3").resolution.values == (32, 40, 48, 64)
    assert get_space("mobilenetv3", image_size=224).resolution.values == (112, 144, 168, 224)
    assert get_space("efficientnet").resolution.values == (64, 96, 128)


def test_hand_baselines_follow_the_same_rule():
    assert baseline_candidate("mobilenetv3-small-fp32", get_space("mobilenetv3")).resolution == 64
    big = get_space("mobilenetv3", image_size=160)
    assert baseline_candidate("mobilenetv3-small-int8", big).resolution == 160


def test_a_resolved_space_round_trips_and_draws_only_its_choices():
    space = get_space("tiny", image_size=96)
    again = load_space_text(dump_space(space), "again")
    assert again == space
    assert {c.resolution for c in sample_candidates(space, 5, 0)} == {48}


def test_an_unresolved_space_cannot_be_sampled():
    with pytest.raises(SpaceError, match="relative to the data"):
        sample_candidates(load_space_text(TINY_REL, "t.yaml"), 1, 0)


@pytest.mark.parametrize(
    ("node", "match"),
    [
        ("{relative: []}", "non-empty list"),
        ("{relative: [0]}", r"relative\[0\]: 0 is not a factor"),
        ("{relative: [0.5], base_at_least: 4}", "base_at_least"),
        ("{relative: [0.5], scale: 2}", "unknown field"),
    ],
)
def test_bad_relative_resolutions_name_the_key(node, match):
    text = TINY_REL.replace("{relative: [0.5, 1.0]}", node)
    with pytest.raises(SpaceError, match=match):
        load_space_text(text, "t.yaml")
