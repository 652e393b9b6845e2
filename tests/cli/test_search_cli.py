"""`autoedge search`, `show` and `pick` as users run them: real subprocesses, real evaluate()."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import optuna
import pandas as pd
import pytest
from autoedge_cli import autoedge, finished_rows, start, wait_for_rows

from autoedge.results import RunFolder, non_dominated

FAST = ["--space", "tiny", "--data", "digits", "--target", "host", "--seed", "0"]
# One rung keeps these runs cheap; tests/cli/test_search_rungs_cli.py runs the default rungs.
CHEAP = ["--epochs", "1", "--subset", "300", "--teacher", "none", "--rungs", "1"]
FILES = ("study.db", "run.json", "trials.csv", "pareto.csv", "pareto.png", "report.md")


@pytest.fixture(scope="module")
def run8(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search") / "X"
    res = autoedge("search", *FAST, *CHEAP, "--budget", "8", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_search_writes_every_file_and_a_true_front(run8):
    for name in FILES:
        assert (run8 / name).stat().st_size > 0, name
    trials = pd.read_csv(run8 / "trials.csv")
    assert len(trials) == 8 and set(trials["state"]) <= {"ok", "failed"}
    for col in (
        "number",
        "state",
        "key",
        "started_at",
        "finished_at",
        "accuracy",
        "latency_ms",
        "size_bytes",
        "peak_memory_bytes",
        "params",
        "macs",
        "s1.depth",
    ):
        assert col in trials.columns, col
    pd.to_datetime(trials["started_at"])  # ISO times
    ok = trials[trials["state"] == "ok"]
    # the size objective is the deployed file's weights: never more than the file itself
    assert len(ok) and (ok["size_bytes"] <= ok["onnx_bytes"]).all()
    assert set(ok["ships_as"]) <= {"fp32", "int8", "int8-weights", "mixed"}
    assert ok["precision_map"].str.count(r"\|").eq(2).all()  # three stages
    front = pd.read_csv(run8 / "pareto.csv")
    assert list(front.columns) == list(trials.columns)
    pts = front[["accuracy", "latency_ms", "size_bytes"]].to_numpy(float)
    assert len(front) >= 1 and non_dominated(pts, ["maximize", "minimize", "minimize"]).all()
    config = json.loads((run8 / "run.json").read_text())
    assert config["config"]["budget"] == 8 and "optuna" in config["versions"]
    # optuna-dashboard reads study.db as it is: the objectives carry their names
    summaries = optuna.get_all_study_summaries(f"sqlite:///{run8 / 'study.db'}")
    study = optuna.load_study(
        study_name=summaries[0].study_name, storage=f"sqlite:///{run8 / 'study.db'}"
    )
    assert study.metric_names == ["accuracy", "latency_ms", "size_bytes"]


def test_show_and_pick_agree_with_pareto_csv(run8):
    front = pd.read_csv(run8 / "pareto.csv")
    shown = autoedge("show", str(run8), "--json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert [r["key"] for r in rows] == list(front["key"])
    assert [r["accuracy"] for r in rows] == pytest.approx(list(front["accuracy"]))

    limit = float(front["latency_ms"].median())
    picked = autoedge("pick", str(run8), "--max-latency-ms", str(limit), "--json")
    assert picked.returncode == 0, picked.stderr
    point = json.loads(picked.stdout)
    under = front[front["latency_ms"] <= limit]
    best = under.sort_values(["accuracy", "latency_ms"], ascending=[False, True]).iloc[0]
    assert point["key"] == best["key"] and point["number"] == best["number"]

    text = autoedge("show", str(run8))
    assert text.returncode == 0 and front["key"].iloc[0] in text.stdout

    none = autoedge("pick", str(run8), "--max-latency-ms", "0.000001")
    assert none.returncode == 1 and "no front point" in none.stderr


def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path):
    out = tmp_path / "C"
    proc = start("search", *FAST, *CHEAP, "--budget", "6", "--out", str(out))
    wait_for_rows(proc, out, 2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "--resume" in stderr and "Traceback" not in stderr
    assert (out / "report.md").is_file()
    res = autoedge("search", "--out", str(out))  # same --out continues the run
    assert res.returncode == 0, res.stderr[-3000:]
    assert finished_rows(out) == 6


@pytest.mark.parametrize(
    ("device", "more", "needle"),
    [
        ("cuda:7", [], "--device cuda:7: torch sees"),  # no machine here has 8 GPUs
        ("tpu", [], "--device must be auto"),
        ("cuda", ["--backend", "ray"], "needs --gpus-per-trial > 0"),
        ("cuda:0", ["--backend", "ray", "--gpus-per-trial", "1"], "use --device cuda"),
    ],
)
def test_a_device_the_run_cannot_have_exits_2_in_one_line(tmp_path, device, more, needle):
    out = tmp_path / "D"
    res = autoedge("search", *FAST, *CHEAP, *more, "--device", device, "--out", str(out))
    assert res.returncode == 2, res.stderr[-2000:]
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()  # checked before anything is written


def test_a_locked_run_is_refused(run8):
    with RunFolder(run8).lock():
        res = autoedge("search", "--resume", str(run8))
    assert res.returncode == 2
    assert "in use by another autoedge process" in res.stderr
    assert "Traceback" not in res.stderr
