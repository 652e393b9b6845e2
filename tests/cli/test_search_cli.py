"""`autoedge search`, `show` and `pick` as users run them: real subprocesses, real evaluate()."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from autoedge_cli import autoedge

from autoedge.results import RunFolder, non_dominated
from autoedge.search.backends.optuna_backend import STUDY_NAME

FAST = ["--space", "tiny", "--data", "digits", "--target", "host", "--seed", "0"]
CHEAP = ["--epochs", "1", "--subset", "300", "--teacher", "none"]
FILES = ("study.db", "run.json", "trials.csv", "pareto.csv", "pareto.png", "report.md")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "autoedge", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished_rows(run: Path) -> int:
    try:
        rows = pd.read_csv(run / "trials.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0
    return int(rows["state"].isin(["ok", "failed"]).sum())


def wait_for_rows(proc: subprocess.Popen[str], run: Path, n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while finished_rows(run) < n:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the run did not reach the expected trial in time"
        time.sleep(0.05)


def study_values(run: Path) -> dict[int, tuple]:
    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{run / 'study.db'}")
    return {
        t.number: (t.state.name, t.values, t.user_attrs.get("key"), t.datetime_complete)
        for t in study.trials
    }


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
    front = pd.read_csv(run8 / "pareto.csv")
    assert list(front.columns) == list(trials.columns)
    pts = front[["accuracy", "latency_ms", "size_bytes"]].to_numpy(float)
    assert len(front) >= 1 and non_dominated(pts, ["maximize", "minimize", "minimize"]).all()
    config = json.loads((run8 / "run.json").read_text())
    assert config["config"]["budget"] == 8 and "optuna" in config["versions"]


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


def test_sigkill_then_resume_keeps_finished_trials(tmp_path):
    out = tmp_path / "K"
    proc = start("search", *FAST, *CHEAP, "--budget", "8", "--out", str(out))
    wait_for_rows(proc, out, 3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    before = study_values(out)
    first3 = {n: before[n] for n in range(3)}
    assert all(v[0] == "COMPLETE" for v in first3.values())

    res = autoedge("search", "--resume", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    after = study_values(out)
    assert {n: after[n] for n in range(3)} == first3  # untouched in the database
    trials = pd.read_csv(out / "trials.csv")
    assert int(trials["state"].isin(["ok", "failed"]).sum()) == 8
    assert set(trials["state"]) <= {"ok", "failed", "interrupted"}


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


def test_a_locked_run_is_refused(run8):
    with RunFolder(run8).lock():
        res = autoedge("search", "--resume", str(run8))
    assert res.returncode == 2
    assert "in use by another autoedge process" in res.stderr
    assert "Traceback" not in res.stderr


def bad_cases(run: Path, tmp: Path) -> list[tuple[list[str], str]]:
    junk = tmp / "junk"
    junk.mkdir(exist_ok=True)
    (junk / "notes.txt").write_text("not a run")
    new = str(tmp / "new")
    return [
        (["search", "--target", "nope", "--out", new], "unknown target"),
        (["search", "--space", "nope", "--out", new], "unknown space"),
        (["search", "--data", "nope", "--out", new], "nope"),
        (["search", "--backend", "nope", "--out", new], "unknown backend"),
        (["search", "--budget", "0", "--out", new], "budget"),
        (["search", "--max-latency-ms", "-1", "--out", new], "max-latency-ms"),
        (["search", "--min-accuracy", "85", "--out", new], "fraction"),
        (["search", "--objectives", "accuracy,speed", "--out", new], "unknown objective"),
        (["search", "--sampler", "cmaes", "--out", new], "unknown sampler"),
        (["search", "--out", str(junk)], "not empty"),
        (["search", "--resume", str(junk)], "not an autoedge run"),
        (["search", "--resume", str(run), "--space", "mobilenetv3"], "differs"),
        (["show", str(junk)], "not an autoedge run"),
        (["show", str(tmp / "missing")], "missing"),
        (["pick", str(junk), "--max-latency-ms", "1"], "not an autoedge run"),
        (["pick", str(run), "--min-accuracy", "5"], "fraction"),
    ]


def test_bad_input_exits_2_with_one_line(run8, tmp_path):
    snapshot = {p.name: p.stat().st_mtime_ns for p in run8.iterdir()}
    for args, needle in bad_cases(run8, tmp_path):
        res = autoedge(*args, timeout=120)
        where = f"autoedge {' '.join(args)}"
        assert res.returncode == 2, (where, res.stdout[-500:], res.stderr[-1500:])
        assert "Traceback" not in res.stderr, where
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and needle in lines[0], (where, res.stderr)
    assert not (tmp_path / "new").exists()  # nothing written for a bad run
    assert {p.name: p.stat().st_mtime_ns for p in run8.iterdir()} == snapshot
    assert os.listdir(tmp_path / "junk") == ["notes.txt"]
