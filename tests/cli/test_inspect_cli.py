"""`autoedge inspect` and `autoedge spaces` as a user runs them: a real subprocess."""

from __future__ import annotations

import json
from functools import partial

import pytest
from autoedge_cli import autoedge as _autoedge

from autoedge.space import Candidate, get_space

REQUIRED = {
    "key",
    "candidate",
    "arch",
    "params",
    "params_compressed",
    "macs",
    "macs_compressed",
    "weight_bytes",
    "onnx_ok",
}


autoedge = partial(_autoedge, timeout=300)


def test_inspect_json_lines():
    res = autoedge("inspect", "--space", "tiny", "--sample", "3", "--seed", "0", "--json")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 3
    space = get_space("tiny")
    for line in lines:
        obj = json.loads(line)
        assert set(obj) >= REQUIRED
        assert obj["onnx_ok"] is True
        cand = Candidate.from_json(obj["candidate"])
        assert cand.key == obj["key"]
        assert cand.space == space.name
        if any(s.prune > 0 for s in cand.stages) and obj["params_compressed"] == obj["params"]:
            pytest.fail(f"pruned candidate {obj['key']} lost no parameter")
    # the same seed draws the same candidates
    again = autoedge("inspect", "--space", "tiny", "--sample", "1", "--seed", "0", "--json")
    assert json.loads(again.stdout)["key"] == json.loads(lines[0])["key"]


def test_inspect_mobilenetv3_pruned_candidates_shrink():
    res = autoedge("inspect", "--space", "mobilenetv3", "--sample", "2", "--seed", "1", "--json")
    assert res.returncode == 0, res.stderr
    for line in res.stdout.strip().splitlines():
        obj = json.loads(line)
        assert obj["onnx_ok"] is True
        if any(s["prune"] > 0 for s in obj["candidate"]["stages"]):
            assert obj["params_compressed"] < obj["params"]


def test_inspect_human_output():
    res = autoedge("inspect", "--space", "tiny", "--sample", "1")
    assert res.returncode == 0, res.stderr
    assert "key " in res.stdout and "ONNX ok" in res.stdout


def test_malformed_space_file_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nglobal: {resolution: [32]}\nstages: []\n")
    res = autoedge("inspect", "--space", str(bad), timeout=120)
    assert res.returncode == 2
    assert str(bad) in res.stderr and "Traceback" not in res.stderr


def test_spaces_lists_bundled():
    res = autoedge("spaces", timeout=120)
    assert res.returncode == 0
    for name in ("mobilenetv3", "efficientnet", "tiny"):
        assert name in res.stdout
