"""`autoedge export` and `autoedge verify` as users run them, on a real tiny search over digits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from autoedge_cli import autoedge

from autoedge.compress.deployable import initializer_bytes
from autoedge.deploy import EXPORT_FILES

FAST = ["--space", "tiny", "--data", "digits", "--target", "host", "--seed", "0"]
# One rung: a few refit epochs then retrain at least what the search trained (a top-rung point
# of a multi-fidelity run trained longer; tests/cli/test_search_rungs_cli.py exports one).
CHEAP = ["--epochs", "1", "--subset", "300", "--teacher", "none", "--rungs", "1"]
REFIT = ["--refit-epochs", "2"]

# A user's script: plain onnxruntime + Pillow, reading nothing of autoedge but the test split.
USER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, onnxruntime as ort
    from PIL import Image
    from autoedge.data import get_dataset

    folder = sys.argv[1]
    card = json.load(open(f"{folder}/model_card.json"))
    spec = card["input"]
    data = get_dataset(card["dataset"]["spec"])
    r = spec["resolution"]
    planes = []
    for img in data.test_x:
        chans = []
        for c in range(img.shape[-1]):
            p = Image.fromarray(img[..., c].astype(np.float32) / 255.0)
            chans.append(np.asarray(p.resize((r, r), Image.BILINEAR)))
        planes.append(np.stack(chans))
    x = np.stack(planes).astype(np.float32)
    x = (x - np.array(spec["mean"], np.float32)[None, :, None, None]) / np.array(
        spec["std"], np.float32
    )[None, :, None, None]
    session = ort.InferenceSession(f"{folder}/model.onnx", providers=["CPUExecutionProvider"])
    step = spec["shape"][0] if isinstance(spec["shape"][0], int) else len(x)
    logits = np.concatenate(
        [session.run(None, {spec["name"]: x[i : i + step]})[0] for i in range(0, len(x), step)]
    )
    print(float((logits.argmax(axis=1) == data.test_y).mean()))
    """
)


def check(proc: subprocess.CompletedProcess[str], code: int = 0) -> None:
    assert proc.returncode == code, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    check(autoedge("search", *FAST, *CHEAP, "--budget", "3", "--out", str(out)))
    return out


@pytest.fixture(scope="module")
def exported(run: Path) -> tuple[Path, float]:
    """An export picked under a latency bound that the front's slowest point meets."""
    front = pd.read_csv(run / "pareto.csv")
    bound = float(front["latency_ms"].max())
    dest = run.parent / "deploy"
    proc = autoedge(
        "export", str(run), "--max-latency-ms", str(bound), *REFIT, "--out", str(dest), "--json"
    )
    check(proc)
    return dest, bound


def test_export_writes_every_file_and_a_card_that_describes_the_model(exported, run) -> None:
    dest, bound = exported
    assert sorted(p.name for p in dest.iterdir()) == sorted(EXPORT_FILES)
    card = json.loads((dest / "model_card.json").read_text())
    front = pd.read_csv(run / "pareto.csv")
    picked = front[front["number"] == card["trial"]].iloc[0]
    assert picked["latency_ms"] <= bound
    assert card["key"] == picked["key"]
    assert card["model"]["precision"] == card["model"]["ships_as"]
    assert card["model"]["ships_as"] in ("fp32", "int8", "int8-weights", "mixed")
    assert card["model"]["opset"] >= 13
    assert card["input"]["shape"] == [1, 1, 32, 32]  # fixed batch 1 by default
    session = ort.InferenceSession(str(dest / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 1, 32, 32]
    mobile = card["mobile"]
    assert set(mobile) == {"NNAPI", "CoreML MLProgram"}
    assert all(0 <= m["supported_nodes"] <= m["nodes"] for m in mobile.values())
    assert mobile["NNAPI"]["supported_nodes"] > 0  # shapes fixed: operator support decides
    assert card["metrics"]["test_images"] == card["dataset"]["test_images"] > 300
    assert card["latency"]["host"]["source"] == "measured"
    assert card["versions"]["onnxruntime"]
    md = (dest / "model_card.md").read_text()
    assert "session.run(None" in md and card["model"]["sha256"] in md
    assert "## Mobile execution providers" in md and "float32 (1, 1, 32, 32)" in md
    # nothing of the staging is left next to the destination
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".deploy")]


def test_plain_onnxruntime_in_another_process_reproduces_the_cards_accuracy(exported) -> None:
    dest, _ = exported
    card = json.loads((dest / "model_card.json").read_text())
    proc = subprocess.run(
        [sys.executable, "-c", USER_SCRIPT, str(dest)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert abs(float(proc.stdout.strip()) - card["metrics"]["accuracy"]) <= 0.001


def test_verify_passes_on_the_export_and_fails_on_one_corrupted_byte(exported, tmp_path) -> None:
    dest, _ = exported
    good = autoedge("verify", str(dest), "--json")
    check(good)
    report = json.loads(good.stdout)
    assert report["ok"] and {c["name"] for c in report["checks"]} >= {
        "model.onnx sha256",
        "accuracy",
        "host latency",
    }
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(dest), str(broken)], check=True)
    model = broken / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    bad = autoedge("verify", str(broken))
    check(bad, 1)
    assert "model.onnx sha256" in bad.stderr and "corrupted" in bad.stderr
    assert len(bad.stderr.strip().splitlines()[-1]) < 400


def test_dynamic_batch_keeps_the_batch_axis_and_says_what_it_costs(run, exported) -> None:
    dest = run.parent / "deploy-dynamic"
    trial = json.loads((exported[0] / "model_card.json").read_text())["trial"]
    args = ["--trial", str(trial), *REFIT, "--dynamic-batch", "--out", str(dest)]
    check(autoedge("export", str(run), *args))
    card = json.loads((dest / "model_card.json").read_text())
    assert card["input"]["shape"] == ["batch", 1, 32, 32]
    fixed = json.loads((exported[0] / "model_card.json").read_text())["mobile"]
    # the mobile providers take no node with a dynamic input (the reason for batch 1)
    assert card["mobile"]["NNAPI"]["supported_nodes"] < fixed["NNAPI"]["supported_nodes"]
    check(autoedge("verify", str(dest)))


def test_export_into_a_non_empty_folder_needs_force(run, tmp_path) -> None:
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    proc = autoedge("export", str(run), "--trial", "0", "--out", str(dest))
    check(proc, 2)
    assert "not empty" in proc.stderr and "--force" in proc.stderr
    assert [p.name for p in dest.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--trial", "99"], "no such trial"),
        (["--key", "nope"], "has key"),
        (["--trial", "0", "--key", "x"], "one way"),
        (["--min-accuracy", "0.9999"], "no front point"),
        (["--trial", "0", "--refit-epochs", "0"], "refit-epochs"),
        (["--trial", "0", "--device", "cuda:7"], "--device cuda:7: torch sees"),
    ],
)
def test_bad_choices_exit_2_before_training(run, tmp_path, args, needle) -> None:
    proc = autoedge("export", str(run), *args, "--out", str(tmp_path / "d"))
    check(proc, 2)
    assert needle in proc.stderr
    assert not (tmp_path / "d").exists()


def test_an_export_below_the_promise_fails_loudly_and_writes_nothing(run, tmp_path) -> None:
    """The run promises more than any retraining can give: the check must catch it."""
    bent = tmp_path / "bent"
    subprocess.run(["cp", "-r", str(run), str(bent)], check=True)
    for name in ("trials.csv", "pareto.csv"):
        table = pd.read_csv(bent / name)
        table.loc[table["number"] == 0, "accuracy"] = 1.0
        table.to_csv(bent / name, index=False)
    dest = tmp_path / "d"
    proc = autoedge("export", str(bent), "--trial", "0", *REFIT, "--out", str(dest))
    check(proc, 1)
    assert "points below the run's 100.00%" in proc.stderr and "Suspect" in proc.stderr
    assert not dest.exists()
    assert not list(tmp_path.glob(".d.*"))


def test_a_killed_export_leaves_nothing_in_the_destination(run, tmp_path) -> None:
    dest = tmp_path / "d"
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoedge", "export", str(run), "--trial", "0", "--out", str(dest)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600  # under load the start (and a teacher) can take minutes
    while not list(tmp_path.glob(".d.partial-*/.work/*")):
        assert proc.poll() is None, f"the export ended first, exit {proc.returncode}"
        assert time.monotonic() < deadline, "the export started no work within 600 s"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not dest.exists()
    assert list(tmp_path.glob(".d.partial-*"))  # the hidden staging folder is all that is left


@pytest.fixture(scope="module")
def baseline_exports(tmp_path_factory) -> dict[str, Path]:
    """The hand baseline (MobileNetV3-Small-like) of the default space, fp32 and all-int8:
    the first two warm-start trials of any run, exported one by one."""
    root = tmp_path_factory.mktemp("bits")
    run = root / "run"
    search = ["--space", "mobilenetv3", *FAST[2:], *CHEAP, "--budget", "2", "--out", str(run)]
    check(autoedge("search", *search))
    trials = pd.read_csv(run / "trials.csv").set_index("baseline")
    exports = {}
    for name in ("mobilenetv3-small-fp32", "mobilenetv3-small-int8"):
        dest = root / name
        trial = str(trials.loc[name, "number"])
        check(
            autoedge(
                "export", str(run), "--trial", trial, "--refit-epochs", "1", "--out", str(dest)
            )
        )
        exports[name.rsplit("-", 1)[1]] = dest
    return exports


def test_an_int8_export_is_under_35_percent_of_the_fp32_export(baseline_exports) -> None:
    fp32, int8 = baseline_exports["fp32"], baseline_exports["int8"]
    card32 = json.loads((fp32 / "model_card.json").read_text())
    card8 = json.loads((int8 / "model_card.json").read_text())
    assert (card32["model"]["precision"], card8["model"]["precision"]) == ("fp32", "int8")
    assert card32["candidate"]["arch"] == card8["candidate"]["arch"]
    ratio = (int8 / "model.onnx").stat().st_size / (fp32 / "model.onnx").stat().st_size
    assert ratio < 0.35, ratio


FP16_SPACE = """
name: fixed16
description: one small architecture, every layer at 16 bits (float)
global:
  resolution: [32]
  stem_width: [16]
  head_width: [64]
  kd_temperature: {low: 4.0, high: 4.0, step: 1.0}
  kd_alpha: {low: 0.0, high: 0.0, step: 0.25}
stage_defaults:
  block_type: [ir]
  kernel: [3]
  expansion: [3]
  se: [0]
  activation: [relu]
  prune: {low: 0.0, high: 0.0, step: 0.25}
  weight_bits: [16]
  act_bits: [16]
  rank: [1.0]
stages:
  - {stride: 1, block_type: [ds], depth: {low: 1, high: 1}, width: [16]}
  - {stride: 2, depth: {low: 1, high: 1}, width: [24]}
"""


def test_a_16_bit_candidate_exports_as_fp16_for_an_fp16_target(tmp_path) -> None:
    space = tmp_path / "fixed16.yaml"
    space.write_text(FP16_SPACE)
    run = tmp_path / "run"
    search = ["--space", str(space), "--data", "digits", "--target", "jetson-nano", *CHEAP]
    check(autoedge("search", *search, "--budget", "1", "--out", str(run)))
    dest = tmp_path / "deploy"
    check(autoedge("export", str(run), "--trial", "0", *REFIT, "--out", str(dest)))
    card = json.loads((dest / "model_card.json").read_text())
    assert card["model"]["precision"] == "fp16"
    assert card["latency"]["target"]["source"] == "predicted"
    assert card["latency"]["host"]["source"] == "measured"
    model = onnx.load(str(dest / "model.onnx"))
    weights = [t for t in model.graph.initializer if t.dims and len(t.dims) == 4]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    check(autoedge("verify", str(dest)))


MIXED_SPACE = """
name: fixed-mixed
global:
  resolution: [32]
  stem_width: [16]
  head_width: [64]
  kd_temperature: {low: 4.0, high: 4.0, step: 1.0}
  kd_alpha: {low: 0.0, high: 0.0, step: 0.25}
stage_defaults:
  block_type: [ir]
  kernel: [3]
  expansion: [3]
  se: [0]
  activation: [relu]
  prune: {low: 0.0, high: 0.0, step: 0.25}
  rank: [1.0]
stages:
  - {stride: 1, block_type: [ds], depth: {low: 1, high: 1}, width: [16],
     weight_bits: [8], act_bits: [8]}
  - {stride: 2, depth: {low: 1, high: 1}, width: [24], weight_bits: [32], act_bits: [32]}
  - {stride: 2, depth: {low: 1, high: 1}, width: [32], weight_bits: [8], act_bits: [32]}
"""


def test_a_mixed_point_exports_the_model_its_size_describes(tmp_path) -> None:
    space = tmp_path / "mixed.yaml"
    space.write_text(MIXED_SPACE)
    run = tmp_path / "run"
    search = ["--space", str(space), "--data", "digits", "--target", "host", *CHEAP]
    check(autoedge("search", *search, "--budget", "1", "--no-warm-start", "--out", str(run)))
    row = pd.read_csv(run / "pareto.csv").iloc[0]
    assert row["ships_as"] == "mixed" and row["precision_map"] == "int8|fp32|int8-weights"
    dest = tmp_path / "deploy"
    check(autoedge("export", str(run), "--trial", str(row["number"]), *REFIT, "--out", str(dest)))
    stored = initializer_bytes(dest / "model.onnx")
    assert abs(stored - row["size_bytes"]) <= 0.02 * row["size_bytes"]
    card = json.loads((dest / "model_card.json").read_text())
    assert card["model"]["ships_as"] == "mixed"
    assert card["model"]["precision_map"] == ["int8", "fp32", "int8-weights"]
    assert "stage 2 int8-weights" in (dest / "model_card.md").read_text()
    good = json.loads(autoedge("verify", str(dest), "--json").stdout)
    precision = next(c for c in good["checks"] if c["name"] == "precision")
    assert good["ok"] and precision["ok"], precision
    # a card that promises another precision than the file has fails verify, naming the stage
    card["model"]["precision_map"] = ["int8", "int8", "int8-weights"]
    (dest / "model_card.json").write_text(json.dumps(card))
    bad = autoedge("verify", str(dest), "--json")
    assert bad.returncode == 1
    failed = [c for c in json.loads(bad.stdout)["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["precision"]
    assert "stage 1: fp32 (card int8)" in failed[0]["detail"]
