"""`autoedge evaluate` as a user runs it: a real subprocess, JSON out, clear errors."""

from __future__ import annotations

import json

from autoedge_cli import autoedge

from autoedge.space import get_space, sample_candidates

KEYS = {
    "key",
    "status",
    "accuracy",
    "accuracy_torch",
    "latency_ms",
    "latency_source",
    "size_bytes",
    "params",
    "macs",
    "peak_memory_bytes",
    "wall_s",
}
FAST = ["--space", "tiny", "--data", "digits", "--epochs", "1", "--subset", "300"]


def test_evaluate_json(tmp_path):
    cand = sample_candidates(get_space("tiny"), 1, seed=10)[0]  # 8/32-bit: the host runs it
    (tmp_path / "cand.json").write_text(cand.dumps())
    res = autoedge(
        "evaluate",
        *FAST,
        "--candidate",
        str(tmp_path / "cand.json"),
        "--teacher",
        "none",
        "--json",
        "--keep",
        str(tmp_path / "out"),
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(data) >= KEYS
    assert data["key"] == cand.key and data["status"] == "ok"
    assert 0.0 <= data["accuracy"] <= 1.0 and data["latency_source"] == "measured"
    assert (tmp_path / "out" / "model_fp32.onnx").is_file()
    assert "digits: 1438 train" in res.stderr  # says which data was used


def test_evaluate_accepts_an_inspect_line_and_prints_a_summary():
    inspect = autoedge("inspect", "--space", "tiny", "--sample", "1", "--seed", "12", "--json")
    assert inspect.returncode == 0, inspect.stderr
    res = autoedge("evaluate", *FAST, "--candidate", inspect.stdout.strip(), "--teacher", "none")
    assert res.returncode == 0, res.stderr
    assert "accuracy" in res.stdout and "ONNX Runtime" in res.stdout and "latency" in res.stdout


def test_a_bit_width_the_target_cannot_run_fails_with_the_reason():
    cand = sample_candidates(get_space("tiny"), 1, seed=2)[0]  # has a 4-bit stage
    res = autoedge("evaluate", *FAST, "--candidate", cand.dumps(), "--teacher", "none", "--json")
    assert res.returncode == 1
    data = json.loads(res.stdout)
    assert data["status"] == "failed" and "4-bit tensors have no kernel" in data["error"]
