"""`--workers N` on the local backends: N real worker processes evaluate trials at once."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
from autoedge_cli import autoedge, finished_rows, start, wait_for_rows

from autoedge.atomic_files import pid_alive
from autoedge.search.config import RunConfig
from autoedge.search.pool import MAX_DEFAULT_WORKERS, threads_per_worker, usable_cpus

FAST = ["--space", "tiny", "--data", "digits", "--target", "host", "--seed", "0"]
CHEAP = ["--epochs", "1", "--subset", "300", "--teacher", "none"]
#: Trials of a few seconds each, so a signal lands while the workers are training.
SLOW = ["--epochs", "6", "--subset", "1000", "--teacher", "none"]


def _workers_of(pid: int) -> list[int]:
    """Pids of the multiprocessing workers (spawned children) of process `pid`."""
    cmd = ["ps", "-ww", "-eo", "pid,ppid,args"]  # -ww: whole command lines, however narrow
    ps = subprocess.run(cmd, capture_output=True, text=True, check=True)
    found = []
    for line in ps.stdout.splitlines()[1:]:
        child, parent, args = line.split(None, 2)
        if int(parent) == pid and "spawn_main" in args:
            found.append(int(child))
    return found


def _alive(pid: int) -> bool:
    """Running: it exists and is not a zombie (exited, not yet reaped by its parent)."""
    if not pid_alive(pid):
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def _wait_for_workers(proc: subprocess.Popen[str], n: int, timeout: float = 120) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = _workers_of(proc.pid)
        if len(pids) >= n:
            return pids
        assert proc.poll() is None, (pids, proc.communicate()[1][-2000:])
        time.sleep(0.2)
    raise AssertionError(f"no {n} worker processes after {timeout} s")


def _cpu_ticks(pid: int) -> int:
    """User plus system CPU time of `pid` so far, in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().split(")")[-1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


def _busy_worker(proc: subprocess.Popen[str], pids: list[int], timeout: float = 120) -> int:
    """A worker that is evaluating a trial now: it burns CPU, where one that finished its
    trial and waits for the next does not (killing that one loses nothing, by design)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # busy in each of three 0.2 s windows, the last one ending just before the kill: a
        # worker whose trial ended within the sampling would show an idle last window
        samples = [{pid: _cpu_ticks(pid) for pid in pids}]
        for _ in range(3):
            time.sleep(0.2)
            samples.append({pid: _cpu_ticks(pid) for pid in pids})
        windows = list(itertools.pairwise(samples))
        busy = [p for p in pids if _alive(p) and all(b[p] - a[p] >= 8 for a, b in windows)]
        if busy:
            return busy[0]
        assert proc.poll() is None, proc.communicate()[1][-2000:]
    raise AssertionError(f"no worker busy for {timeout} s")


def test_new_local_runs_default_to_one_worker_per_core_and_ray_to_one() -> None:
    local = RunConfig.from_options("r", {})
    assert local.workers == min(usable_cpus(), MAX_DEFAULT_WORKERS)
    assert RunConfig.from_options("r", {"workers": 1}).workers == 1
    assert RunConfig.from_options("r", {"backend": "ray"}).workers == 1
    validating = RunConfig.from_options("r", {"target": "rpi4", "validate_on": "agent:h:1"})
    assert validating.workers == local.workers  # device checks work from the run folder
    assert threads_per_worker(1) == usable_cpus()
    assert threads_per_worker(10 * usable_cpus()) == 1


def test_two_workers_fill_the_budget_in_parallel(tmp_path: Path) -> None:
    out = tmp_path / "P"
    workers = ["--workers", "2", "--device", "cpu"]  # --device cpu: as before the option
    res = autoedge("search", *FAST, *CHEAP, "--budget", "6", *workers, "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2 trials at once in worker processes" in res.stderr
    assert "training on cpu (--device cpu); latency from target host" in res.stderr
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 6 and set(trials["state"]) == {"ok"}
    assert trials["number"].tolist() == list(range(6))
    assert json.loads((out / "run.json").read_text())["config"]["workers"] == 2


def test_ctrl_c_stops_the_workers_and_resume_runs_their_trials_again(tmp_path: Path) -> None:
    out = tmp_path / "C"
    proc = start("search", *FAST, *SLOW, "--budget", "8", "--workers", "2", "--out", str(out))
    workers = _wait_for_workers(proc, 2)
    wait_for_rows(proc, out, 1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert not [p for p in workers if _alive(p)], "worker processes outlived the stop"
    states = pd.read_csv(out / "trials.csv")["state"]
    assert 1 <= (states == "interrupted").sum() <= 2  # the trials the workers were running
    res = autoedge("search", "--out", str(out))  # the stored run keeps --workers 2
    assert res.returncode == 0, res.stderr[-3000:]
    assert finished_rows(out) == 8


def test_a_killed_worker_fails_its_trial_and_the_run_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "K"
    proc = start("search", *FAST, *SLOW, "--budget", "5", "--workers", "2", "--out", str(out))
    workers = _wait_for_workers(proc, 2)
    wait_for_rows(proc, out, 1)  # both workers are past start-up and training
    os.kill(_busy_worker(proc, workers), signal.SIGKILL)  # an idle one would lose nothing
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    trials = pd.read_csv(out / "trials.csv")
    failed = trials[trials["state"] == "failed"]
    assert len(trials) == 5 and len(failed) == 1, trials[["number", "state", "error"]]
    assert "died (killed by SIGKILL, most likely out of memory)" in failed["error"].iloc[0]
