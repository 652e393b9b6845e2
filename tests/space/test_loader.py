"""Space files: bundled spaces load, round-trip through YAML, and malformed files fail clearly."""

from __future__ import annotations

import pytest
import yaml

from autoedge.errors import AutoEdgeError, SpaceError
from autoedge.space import (
    Choice,
    FloatRange,
    IntRange,
    dump_space,
    get_space,
    list_spaces,
    load_space_file,
    load_space_text,
)

BUNDLED = ["efficientnet", "mobilenetv3", "tiny"]


def test_bundled_spaces_are_listed():
    assert set(BUNDLED) <= set(list_spaces())


@pytest.mark.parametrize("name", BUNDLED)
def test_yaml_round_trip(name, tmp_path):
    space = get_space(name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump_space(space))
    again = load_space_file(path)
    assert again == space
    assert again.source == str(path)


def test_axis_kinds_from_yaml():
    space = get_space("mobilenetv3")
    assert isinstance(space.kd_alpha, FloatRange)
    assert space.kd_alpha.values[:3] == (0.0, 0.1, 0.2)
    assert len(space.kd_alpha.values) == 11
    assert isinstance(space.stages[2].depth, IntRange)
    assert space.stages[2].depth.values == (1, 2, 3, 4)
    assert isinstance(space.stages[0].block_type, Choice)
    # stage_defaults fill what a stage leaves out; a stage's own value wins
    assert space.stages[2].kernel.values == (3, 5, 7)
    assert space.stages[0].kernel.values == (3, 5)


def test_unknown_space_name_lists_bundled():
    with pytest.raises(SpaceError) as e:
        get_space("nope")
    for name in BUNDLED:
        assert name in str(e.value)


def _base() -> dict:
    return yaml.safe_load(dump_space(get_space("tiny")))


def _mutate(path: str, value):
    data = _base()
    node = data
    parts = path.split("/")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = parts[-1]
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return yaml.safe_dump(data)


_DELETE = object()

MALFORMED = [
    # (mutation path, new value, text expected in the message)
    ("stages/1/block_type", ["ir", "transformer"], "stages[1].block_type[1]"),
    ("stages/1/kernel", [], "stages[1].kernel: empty choice list"),
    ("global/resolution", [], "global.resolution: empty choice list"),
    ("stages/2/prune", {"low": 0.0, "high": 1.5, "step": 0.5}, "stages[2].prune.high"),
    ("stages/2/prune", [0.2, -0.1], "stages[2].prune[1]"),
    ("stages/0/rank", [0.0], "stages[0].rank[0]"),
    ("stages/0/se", [1.5], "stages[0].se[0]"),
    ("global/kd_alpha", {"low": 0.0, "high": 2.0, "step": 0.5}, "global.kd_alpha.high"),
    ("stages/1/weight_bits", [4, 9], "stages[1].weight_bits[1]"),
    ("stages/1/act_bits", [1], "stages[1].act_bits[0]"),
    ("stages/1/kernel", [4], "stages[1].kernel[0]"),
    ("stages/1/activation", ["gelu"], "stages[1].activation[0]"),
    ("stages/1/depth", {"low": 3, "high": 1}, "stages[1].depth: low 3 is above high 1"),
    ("stages/1/depth", {"low": 0, "high": 2}, "stages[1].depth.low"),
    ("stages/1/stride", 3, "stages[1].stride"),
    ("stages/1/colour", ["red"], "stages[1].colour: unknown key"),
    ("global/dropout", [0.1], "global.dropout: unknown axis"),
    ("global/head_width", _DELETE, "global.head_width: missing"),
    ("stages/1/kernel", [3, 3], "listed twice"),
    ("stages/2/prune", {"low": 0.0, "high": 0.5}, "stages[2].prune.step"),
    ("stages/2/prune", {"low": 0.0, "high": 0.5, "step": 0.2}, "not on the grid"),
    ("stages", [], "stages: a non-empty list"),
    ("name", "", "name:"),
]


@pytest.mark.parametrize(("path", "value", "expected"), MALFORMED)
def test_malformed_space_names_file_and_key(path, value, expected):
    with pytest.raises(SpaceError) as e:
        load_space_text(_mutate(path, value), "bad_space.yaml")
    msg = str(e.value)
    assert msg.startswith("space file bad_space.yaml: "), msg
    assert expected in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "text",
    ["name: x\nglobal: [1, 2\n", "name: x\n  global: 1\n bad", "\tname: tab"],
)
def test_bad_yaml(text):
    with pytest.raises(SpaceError) as e:
        load_space_text(text, "broken.yaml")
    assert str(e.value).startswith("space file broken.yaml: (yaml): invalid YAML")


def test_not_a_mapping():
    with pytest.raises(SpaceError, match=r"broken.yaml: \(top level\)"):
        load_space_text("- 1\n- 2\n", "broken.yaml")


def test_missing_file(tmp_path):
    with pytest.raises(SpaceError, match="not found"):
        load_space_file(tmp_path / "none.yaml")


def test_space_error_is_autoedge_error():
    assert issubclass(SpaceError, AutoEdgeError)
