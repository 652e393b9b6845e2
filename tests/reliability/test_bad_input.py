"""Bad input, every command: exit 2 (or the documented code), one line naming the problem,
no traceback, nothing written or changed on disk (the cache included)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from autoedge_cli import autoedge
from PIL import Image

from autoedge.compress.build import build_model
from autoedge.compress.export import export_onnx
from autoedge.space import get_space, sample_candidates

FAST = ["--space", "tiny", "--data", "digits", "--target", "host"]
CHEAP = ["--epochs", "1", "--subset", "200", "--teacher", "none", "--rungs", "1"]
TINY = ["--space", "tiny"]


class _Evil:
    """Unpickling this would create a file: the proof that a pickle was executed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Files of every kind a user might get wrong, and one real (tiny) run."""
    root = tmp_path_factory.mktemp("bad")
    cand = sample_candidates(get_space("tiny"), 1, 0)[0]
    model = build_model(cand, in_chans=1, num_classes=10).eval()
    export_onnx(model, torch.randn(2, 1, 32, 32), root / "good.onnx")
    (root / "garbage.onnx").write_bytes(b"\x00not an onnx model" * 10)
    (root / "bad.yaml").write_text("name: [unclosed\n  - x: {\n")
    tiny = (Path(__file__).parents[2] / "search_spaces" / "tiny.yaml").read_text()
    (root / "empty_choice.yaml").write_text(tiny.replace("kernel: [3, 5]", "kernel: []"))
    genes = cand.to_json()
    genes["stages"][0]["warp_factor"] = 9
    (root / "cand_unknown_gene.json").write_text(json.dumps(genes))
    (root / "cand.json").write_text("{not json")
    (root / "cand_tiny.json").write_text(cand.dumps())
    one = root / "one_class" / "cat"
    one.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8), i * 40, np.uint8)).save(one / f"{i}.png")
    notimg = root / "not_image"
    for cls in ("a", "b"):
        (notimg / cls).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(notimg / cls / "0.png")
    (notimg / "b" / "1.png").write_text("I am text, not a PNG")
    (root / "junk").mkdir()
    (root / "junk" / "notes.txt").write_text("not a run")
    other = root / "other_tool_run"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"format": "mlflow-run/3", "id": 1}))
    (root / "measurements.csv").write_text("a,b\n1,2\n")
    (root / "evil.safetensors").write_bytes(pickle.dumps(_Evil(str(root / "PWNED"))))
    (root / "evil.pt").write_bytes(pickle.dumps(_Evil(str(root / "PWNED"))))
    run = root / "run"
    res = autoedge("search", *FAST, *CHEAP, "--budget", "1", "--out", str(run))
    assert res.returncode == 0, res.stderr[-2000:]
    broken = root / "corrupt_db_run"
    shutil.copytree(run, broken)
    (broken / "study.db").write_bytes(b"this is not sqlite" * 100)
    (root / "cache").mkdir()
    return root


def cases(w: Path) -> list[tuple[list[str], int, str]]:
    """(argv, exit code, text the one-line message must contain)."""
    new = str(w / "new")
    run = str(w / "run")
    return [
        (["spaces", "--bogus"], 2, "No such option"),
        (["frobnicate"], 2, "No such command"),
        (["inspect", "--space", "nope"], 2, "unknown space"),
        (["inspect", "--sample", "many"], 2, "--sample"),
        (["inspect", "--space", str(w / "bad.yaml")], 2, "bad.yaml"),
        (["inspect", "--space", str(w / "empty_choice.yaml")], 2, "kernel"),
        (["inspect", "--sample", "0"], 2, "sample"),
        (["evaluate", "--candidate", str(w / "cand.json"), "--space", "tiny"], 2, "JSON"),
        (["evaluate", "--candidate", "{not json", "--space", "tiny"], 2, "JSON"),
        (
            ["evaluate", "--candidate", str(w / "cand_unknown_gene.json"), "--space", "tiny"],
            2,
            "warp_factor",
        ),
        (["evaluate", "--candidate", str(w / "missing.json"), "--space", "tiny"], 2, "missing"),
        (
            ["evaluate", "--candidate", str(w / "cand_tiny.json"), *TINY, "--target", "mars"],
            2,
            "unknown target 'mars'",
        ),
        (
            ["evaluate", "--candidate", str(w / "cand_tiny.json"), *TINY, "--teacher", "/x.pt"],
            2,
            "not a file",
        ),
        (
            ["evaluate", "--candidate", str(w / "cand_tiny.json"), "--space", "mobilenetv3"],
            2,
            "drawn from space 'tiny'",
        ),
        (["search", "--space", "nope", "--out", new], 2, "unknown space"),
        (["search", "--space", str(w / "missing.yaml"), "--out", new], 2, "missing.yaml"),
        (["search", "--space", str(w / "bad.yaml"), "--out", new], 2, "bad.yaml"),
        (["search", "--space", str(w / "empty_choice.yaml"), "--out", new], 2, "kernel"),
        (["search", "--data", str(w / "one_class"), "--out", new], 2, "class"),
        (["search", "--data", str(w / "not_image"), "--out", new], 2, "not a readable image"),
        (["search", "--data", str(w / "nowhere"), "--out", new], 2, "nowhere"),
        (["search", "--data", "nope", "--out", new], 2, "nope"),
        (["search", "--target", "nope", "--out", new], 2, "unknown target"),
        (["search", "--backend", "nope", "--out", new], 2, "unknown backend"),
        (["search", "--sampler", "cmaes", "--out", new], 2, "unknown sampler"),
        (["search", "--objectives", "accuracy,speed", "--out", new], 2, "unknown objective"),
        (["search", "--budget", "-3", "--out", new], 2, "budget"),
        (["search", "--max-latency-ms", "-1", "--out", new], 2, "max-latency-ms"),
        (["search", "--min-accuracy", "85", "--out", new], 2, "fraction"),
        (["search", "--trial-timeout", "-1", "--out", new], 2, "trial-timeout"),
        (["search", "--out", str(w / "junk")], 2, "not empty"),
        (["search", "--resume", str(w / "junk")], 2, "not an autoedge run"),
        (["search", "--resume", run, "--space", "mobilenetv3"], 2, "differs"),
        (["search", "--epochs", "0", "--out", new], 2, "epochs"),
        (["search", "--teacher", str(w / "evil.pt"), "--out", new], 2, "pickle"),
        (
            ["search", "--teacher", str(w / "evil.safetensors"), *FAST, "--out", new],
            2,
            "safetensors",
        ),
        (["search", "--resume", str(w / "other_tool_run")], 2, "format"),
        (["search", "--resume", str(w / "corrupt_db_run")], 2, "study"),
        (["search", "--backend", "ray", "--workers", "0", "--out", new], 2, "workers"),
        (["show", str(w / "other_tool_run")], 2, "format"),
        (["show", str(w / "good.onnx")], 2, "not a directory"),
        (["show", str(w / "missing")], 2, "missing"),
        (["pick", str(w / "junk"), "--max-latency-ms", "1"], 2, "not an autoedge run"),
        (["pick", run, "--max-size-kb", "-5"], 2, "max-size-kb"),
        (["pick", run, "--min-accuracy", "5"], 2, "fraction"),
        (["pick", run, "--min-accuracy", "0.9999"], 1, "no front point"),
        (["targets", "--bogus"], 2, "No such option"),
        (["latency", str(w / "missing.onnx"), "--target", "rpi4"], 2, "missing.onnx"),
        (["latency", str(w / "garbage.onnx"), "--target", "rpi4"], 2, "garbage.onnx"),
        (["latency", str(w / "good.onnx"), "--target", "nope"], 2, "unknown target"),
        (
            ["latency", str(w / "good.onnx"), "--target", "rpi4", "--precision", "int4"],
            2,
            "int4",
        ),
        (["latency", str(w / "good.onnx"), "--target", "host", "--runs", "0"], 2, "runs"),
        (
            ["calibrate", "--target", "rpi4", "--measurements", str(w / "missing.csv")],
            2,
            "missing.csv",
        ),
        (
            ["calibrate", "--target", "rpi4", "--measurements", str(w / "measurements.csv")],
            2,
            "column",
        ),
        (
            ["agent", "serve", "--port", "0", "--token-file", str(w / "missing.token")],
            2,
            "missing.token",
        ),
        (["export", run, "--trial", "99", "--out", new], 2, "no such trial"),
        (["export", str(w / "other_tool_run"), "--out", new], 2, "format"),
        (["verify", str(w / "run")], 2, "not an autoedge export"),
    ]


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_every_bad_invocation_fails_cleanly(world, report) -> None:
    env = {**os.environ, "AUTOEDGE_CACHE": str(world / "cache")}
    before = _tree(world)
    table = cases(world)
    assert len(table) >= 30
    failures = []
    for args, code, needle in table:
        res = autoedge(*args, timeout=180, env=env)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        problems = []
        if res.returncode != code:
            problems.append(f"exit {res.returncode}, expected {code}")
        if "Traceback" in res.stderr:
            problems.append("traceback")
        if len(lines) != 1:
            problems.append(f"{len(lines)} stderr lines")
        elif needle.lower() not in lines[0].lower():
            problems.append(f"message lacks {needle!r}")
        if problems:
            failures.append((" ".join(args), problems, res.stderr[-600:]))
        shown = " ".join(args).replace(str(world), "W")
        message = lines[0].replace(str(world), "W") if lines else ""
        report("bad input", f"`autoedge {shown}`", f"exit {res.returncode}: {message}")
    assert not failures, "\n".join(map(str, failures))
    assert _tree(world) == before  # nothing written or changed, cache included
    assert not (world / "PWNED").exists()  # no pickle was executed
