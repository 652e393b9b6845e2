"""Hand baselines: MobileNetV3-Small/Large-like points of the default space."""

from __future__ import annotations

import pytest

from autoedge.errors import SpaceError
from autoedge.space import check_candidate, get_space
from autoedge.space.presets import baseline_candidate, list_baselines


def test_baselines_are_points_of_the_default_space():
    space = get_space("mobilenetv3")
    names = list_baselines(space)
    assert names == [
        "mobilenetv3-small-fp32",
        "mobilenetv3-small-int8",
        "mobilenetv3-large-fp32",
        "mobilenetv3-large-int8",
    ]
    keys = set()
    for name in names:
        cand = baseline_candidate(name, space)
        check_candidate(cand, space)
        keys.add(cand.key)
        bits = {(s.weight_bits, s.act_bits) for s in cand.stages}
        assert bits == ({(8, 8)} if name.endswith("int8") else {(32, 32)})
        assert all(s.prune == 0.0 and s.rank == 1.0 for s in cand.stages)
    assert len(keys) == 4
    small = baseline_candidate("mobilenetv3-small-fp32", space)
    large = baseline_candidate("mobilenetv3-large-fp32", space)
    assert sum(s.depth for s in small.stages) < sum(s.depth for s in large.stages)


def test_spaces_without_baselines_and_unknown_names():
    assert list_baselines(get_space("tiny")) == []
    with pytest.raises(SpaceError, match="unknown baseline"):
        baseline_candidate("resnet50-fp32", get_space("mobilenetv3"))
