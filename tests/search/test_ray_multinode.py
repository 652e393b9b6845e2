"""A real two-node Ray cluster on this machine: a head and a worker node as separate raylets.

A separate driver process (`autoedge search --address HEAD`) runs a search across both; the
worker node is killed while a trial runs on it, and the run still finishes with every trial
counted and no finished trial lost. Nothing of the cluster outlives the test.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from autoedge_cli import start

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="the ray extra is not installed"
)

BUDGET = 6
#: Trials of a few seconds, so that the kill lands while one runs on the worker node.
SEARCH = [
    "--space", "tiny", "--data", "digits", "--target", "host", "--seed", "0",
    "--epochs", "4", "--subset", "1000", "--teacher", "none", "--rungs", "1",
    "--no-warm-start", "--backend", "ray", "--workers", "2", "--cpus-per-trial", "1",
    "--budget", str(BUDGET),
]  # fmt: skip
#: Node deaths noticed within seconds, not the default half minute.
FAST_HEALTH = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
}


@pytest.fixture
def cluster() -> Iterator[object]:
    from ray.cluster_utils import Cluster

    head = {"num_cpus": 1, "include_dashboard": False, "_system_config": FAST_HEALTH}
    c = Cluster(initialize_head=True, head_node_args=head)
    session = Path(c.head_node.get_session_dir_path()).name
    try:
        yield c
    finally:  # the test shuts it down itself and checks; this is for a test that failed
        c.shutdown()
        _wait_until_gone(session)


def _wait_until_gone(session: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _processes_of(session) and time.monotonic() < deadline:
        time.sleep(0.2)


def _processes_of(session: str) -> list[str]:
    """Command lines of the processes that name this Ray session (raylets, GCS, workers)."""
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if session in line]


def _running(db: Path) -> int:
    """Trials the study holds as running (0 before the study exists)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_search_across_two_nodes_survives_losing_the_worker_node(cluster, tmp_path) -> None:
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    session = Path(cluster.head_node.get_session_dir_path()).name
    out = tmp_path / "R"
    proc = start("search", *SEARCH, "--address", cluster.address, "--out", str(out))
    try:
        # two trials at once on two 1-CPU nodes: one of them runs on the worker node
        deadline = time.monotonic() + 240
        while _running(out / "study.db") < 2:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no two trials ran at once"
            time.sleep(0.2)
        time.sleep(1.0)  # both are training now
        before = pd.read_csv(out / "trials.csv") if (out / "trials.csv").is_file() else None
        cluster.remove_node(worker)  # its raylet and the trial on it are killed
        _, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    trials = pd.read_csv(out / "trials.csv")
    counted = trials[trials["state"].isin(["ok", "failed"])]
    assert len(counted) == BUDGET  # the killed trial re-ran (or was recorded failed)
    assert (counted["state"] == "ok").sum() >= BUDGET - 1
    if before is not None:  # what had finished before the kill is kept as it was
        done = before[before["state"] == "ok"].set_index("number")["accuracy"]
        after = trials.set_index("number")["accuracy"]
        assert (after[done.index] == done).all()
    cluster.shutdown()
    _wait_until_gone(session)
    assert not _processes_of(session), "Ray processes outlived the cluster"
