"""`--backend ray`: a real local Ray cluster running the tiny space on digits, two at a time."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from autoedge_cli import autoedge, finished_rows, start

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="the ray extra is not installed"
)

FAST = ["--space", "tiny", "--data", "digits", "--target", "host", "--seed", "0"]
# One rung keeps these runs cheap; tests/cli/test_search_rungs_cli.py runs the default rungs.
CHEAP = ["--epochs", "1", "--subset", "300", "--teacher", "none", "--rungs", "1"]
RAY = ["--backend", "ray", "--workers", "2", "--cpus-per-trial", "1"]


def check(proc: subprocess.CompletedProcess[str], code: int = 0) -> None:
    assert proc.returncode == code, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def overlapping(trials: pd.DataFrame) -> bool:
    spans = [
        (pd.Timestamp(a), pd.Timestamp(b))
        for a, b in zip(trials["started_at"], trials["finished_at"], strict=True)
    ]
    return any(
        s1 < e2 and s2 < e1 for i, (s1, e1) in enumerate(spans) for (s2, e2) in spans[i + 1 :]
    )


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ray") / "run"
    check(autoedge("search", *FAST, *CHEAP, *RAY, "--budget", "4", "--out", str(out), "--json"))
    return out


@needs_ray
def test_four_trials_two_at_a_time_in_the_usual_run_folder(ray_run) -> None:
    trials = pd.read_csv(ray_run / "trials.csv")
    assert len(trials) == 4 and set(trials["state"]) == {"ok"}
    assert trials["accuracy"].between(0, 1).all() and (trials["latency_ms"] > 0).all()
    assert overlapping(trials), trials[["number", "started_at", "finished_at"]]
    config = json.loads((ray_run / "run.json").read_text())["config"]
    assert config["backend"] == "ray" and config["workers"] == 2
    show = autoedge("show", str(ray_run), "--json")
    check(show)
    assert {r["key"] for r in json.loads(show.stdout)} <= set(trials["key"])
    check(autoedge("pick", str(ray_run), "--json"))


@needs_ray
def test_resume_stop_with_ctrl_c_and_resume_again_keep_the_finished_trials(
    ray_run, tmp_path
) -> None:
    copy = tmp_path / "run"
    subprocess.run(["cp", "-r", str(ray_run), str(copy)], check=True)
    before = pd.read_csv(copy / "trials.csv").set_index("number")
    proc = start("search", "--resume", str(copy), "--budget", "8")
    deadline = time.monotonic() + 300
    while finished_rows(copy) < 5:  # at least one trial of this session finished
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no trial finished in time"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stderr[-3000:]
    assert f"--resume {copy}" in stderr and "Traceback" not in stderr
    stopped_at = finished_rows(copy)
    assert 5 <= stopped_at < 8

    check(autoedge("search", "--resume", str(copy), "--workers", "2"))
    after = pd.read_csv(copy / "trials.csv").set_index("number")
    assert int(after["state"].isin(["ok", "failed"]).sum()) == 8
    for number, row in before.iterrows():
        assert after.loc[number, "key"] == row["key"]
        assert after.loc[number, "accuracy"] == row["accuracy"]


@needs_ray
def test_a_killed_worker_is_retried_or_recorded_and_the_run_finishes(tmp_path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoedge", "search", *FAST, *RAY, "--epochs", "3",
         "--subset", "0", "--teacher", "none", "--budget", "3", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    victim = None
    deadline = time.monotonic() + 180
    while victim is None:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "no trial worker appeared"
        victim = _trial_worker()
        time.sleep(0.2)
    time.sleep(1.0)  # well inside its trial (a few seconds of training)
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    trials = pd.read_csv(out / "trials.csv")
    assert int(trials["state"].isin(["ok", "failed"]).sum()) == 3
    failed = trials[trials["state"] == "failed"]
    assert all("ray:" in e for e in failed["error"])  # a recorded failure says why


def test_without_ray_the_backend_exits_2_with_the_install_hint(tmp_path) -> None:
    blocked = (
        "import sys; sys.modules['ray'] = None; sys.argv = ['autoedge'] + sys.argv[1:]; "
        "from autoedge.cli.app import run; run()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocked, "search", *FAST, *CHEAP, "--backend", "ray",
         "--budget", "1", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    check(proc, 2)
    assert "pip install 'autoedge[ray]'" in proc.stderr
    assert not (tmp_path / "r").exists()
    # everything else still works without it
    check(subprocess.run([sys.executable, "-c", blocked, "spaces"], capture_output=True, text=True))


def test_ray_settings_need_the_ray_backend(tmp_path) -> None:
    proc = autoedge("search", *FAST, *CHEAP, "--cpus-per-trial", "2", "--out", str(tmp_path / "r"))
    check(proc, 2)
    assert "--cpus-per-trial is a setting of --backend ray" in proc.stderr


def _trial_worker() -> int | None:
    """The pid of a Ray Tune trial actor (its process title), if one is running."""
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    for line in ps.stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.startswith("ray::ImplicitFunc.train"):
            return int(pid)
    return None
