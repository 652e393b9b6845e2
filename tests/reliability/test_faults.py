"""Faults during a search: repeated SIGKILLs, a trial time limit, every trial failing, a full
disk. Real `autoedge search` subprocesses on the tiny space; each test records its cases for
results/reliability.md."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from autoedge_cli import autoedge, start, wait_for_rows

from autoedge.atomic_files import remove_stale_temps
from autoedge.errors import RunError, disk_full_cause
from autoedge.search.backends import get_backend
from autoedge.search.backends.optuna_backend import STUDY_NAME
from autoedge.search.config import RunConfig
from autoedge.search.run import check_study_db
from autoedge.space import get_space

FAST = ["--space", "tiny", "--data", "digits", "--target", "host", "--seed", "0"]
# One rung keeps these runs cheap; tests/cli/test_search_rungs_cli.py runs the default rungs.
CHEAP = ["--epochs", "1", "--subset", "300", "--teacher", "none", "--rungs", "1"]


def finished_trials(run: Path) -> dict[int, tuple]:
    """Trials with a result in the study database: number -> (state, values, key, result)."""
    if not (run / "study.db").is_file():
        return {}
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{run / 'study.db'}")
    except KeyError:  # killed before the study was created
        return {}
    return {
        t.number: (t.state.name, t.values, t.user_attrs["key"], t.user_attrs["result"])
        for t in study.get_trials(deepcopy=False)
        if "status" in t.user_attrs
    }


def counted_rows(run: Path) -> pd.DataFrame:
    trials = pd.read_csv(run / "trials.csv")
    return trials[trials["state"].isin(["ok", "failed"])]


def assert_files_valid(run: Path) -> None:
    """Every results file present is whole: parseable, never half-written."""
    json.loads((run / "run.json").read_text())
    for name in ("trials.csv", "pareto.csv", "refined.csv"):
        if (run / name).is_file():
            pd.read_csv(run / name)
    if (run / "pareto.png").is_file():
        assert (run / "pareto.png").read_bytes().startswith(b"\x89PNG")


def last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def test_repeated_sigkills_at_random_points_then_resume(tmp_path, report):
    out, budget = tmp_path / "K", 8
    rng = random.Random(8)
    first_seen: dict[int, tuple] = {}
    kills, done = 0, 0
    while kills < 6 and done < budget - 1:
        proc = start("search", *FAST, *CHEAP, "--budget", str(budget), "--out", str(out))
        # Let 0-1 more trials finish, then kill anywhere: loading, training, exporting,
        # measuring, writing the tables.
        wait_for_rows(proc, out, min(done + rng.choice((0, 1, 1)), budget - 1))
        time.sleep(rng.uniform(0.2, 3.0))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        if (out / "run.json").is_file():
            assert_files_valid(out)
        for number, values in finished_trials(out).items():
            assert first_seen.setdefault(number, values) == values, number
        done = len(first_seen)

    res = autoedge("search", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    final = finished_trials(out)
    assert {n: final[n] for n in first_seen} == first_seen  # nothing lost or changed
    rows = counted_rows(out)
    assert len(rows) == budget and rows["number"].is_unique
    assert set(rows["number"]) == set(final)
    assert_files_valid(out)
    assert not list(out.glob(".*.tmp")), "temp files of cut-short writes were left behind"
    interrupted = int((pd.read_csv(out / "trials.csv")["state"] == "interrupted").sum())
    report(
        "faults",
        f"SIGKILL {kills} times at random points of a budget-{budget} run (0-1 trials after "
        "each restart, then 0.2-3 s), checking the files after each kill, then resume",
        f"the {len(first_seen)} trials finished before the last kill kept their values; "
        f"{interrupted} cut-short trials ran again; the run completed {budget} trials, each "
        "once; every file parsed after every kill; no temp file left",
    )


def test_trial_limits_fail_the_candidate_and_a_run_without_ok_trials_exits_1(tmp_path, report):
    out = tmp_path / "T"
    sessions = [  # (extra options, budget, reason every new trial must give, expected exit)
        (["--trial-memory-mb", "1"], 2, "out of memory: needed more than the trial memory", 1),
        (["--trial-memory-mb", "0", "--trial-timeout", "0.01"], 4, "ran past the trial time", 1),
        (["--trial-timeout", "0"], 5, "", 0),
    ]
    kept: dict[int, tuple] = {}
    for extra, budget, reason, code in sessions:
        args = [*FAST, *CHEAP] if not kept else []
        res = autoedge("search", *args, *extra, "--budget", str(budget), "--out", str(out))
        assert res.returncode == code, res.stderr[-3000:]
        assert "Traceback" not in res.stderr
        line = last_line(res.stderr)
        rows = counted_rows(out)
        assert len(rows) == budget
        new = rows[~rows["number"].isin(kept)]
        now = finished_trials(out)
        assert {n: now[n] for n in kept} == kept  # earlier trials untouched
        if code:
            assert f"every trial failed ({budget})" in line, res.stderr
            assert "Pareto front" not in res.stdout
            assert (new["state"] == "failed").all() and new["error"].str.contains(reason).all()
            assert pd.read_csv(out / "pareto.csv").empty
            report(
                "faults",
                f"search {' '.join(extra)} (budget {budget})",
                f"exit 1, no front; the {len(new)} new trials failed with "
                f"`{new['error'].iloc[0]}`; last line: " + line.replace(str(out), "RUN"),
            )
        else:
            assert (new["state"] == "ok").any()
            report(
                "faults",
                f"resume with {' '.join(extra)} (budget {budget})",
                f"the {len(kept)} failed trials kept; {(new['state'] == 'ok').sum()} of "
                f"{len(new)} new ok, exit 0",
            )
        kept = now


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 32 MB tmpfs: a disk that can really fill up (needs root to mount)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)]
    done = subprocess.run(mount, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path) -> None:
    """Write zeros to `path` until the disk refuses (ENOSPC). Unbuffered: a buffered file
    that hit ENOSPC still holds the block and raises again when closed (CI saw that)."""
    block = bytes(1 << 16)
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e


def listing(root: Path) -> str:
    """Every file under `root` with its size, for a failure message."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return "\n" + "\n".join(f"{p.stat().st_size:>10} {p.relative_to(root)}" for p in files)


def test_disk_full_while_writing_results(small_disk, report):
    out = small_disk / "run"
    proc = start("search", *FAST, *CHEAP, "--budget", "6", "--out", str(out))
    wait_for_rows(proc, out, 2)
    filler = small_disk / "filler"
    try:
        fill(filler)
    except BaseException:
        proc.kill()
        raise
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr[-3000:] + listing(small_disk)
    line = last_line(stderr)
    assert "Traceback" not in stderr
    assert "is full" in line
    assert "No space left on device" in line or "database or disk is full" in line, line
    assert f"--resume {out}" in line, line
    assert_files_valid(out)
    kept = finished_trials(out)
    shown = counted_rows(out)
    assert len(kept) >= 2 and set(shown["number"]) <= set(kept)

    filler.unlink()
    res = autoedge("search", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:] + listing(small_disk)
    after = finished_trials(out)
    assert {n: after[n] for n in kept} == kept
    assert len(counted_rows(out)) == 6
    report(
        "faults",
        "disk full (32 MB tmpfs filled) while a budget-6 run writes its results",
        f"exit 1: {line.replace(str(out), 'RUN')}; {len(kept)} finished trials intact; after "
        "freeing space the resume completed 6",
    )


def test_a_study_db_killed_before_its_schema_can_be_resumed(tmp_path):
    db = tmp_path / "study.db"
    db.write_bytes(b"")  # what a kill right after SQLite opened the file leaves
    check_study_db(db)  # accepted: nothing was committed yet
    config = RunConfig(out=str(tmp_path), space="tiny")
    backend = get_backend("optuna")(db, config, get_space("tiny"), [])
    try:
        proposal = backend.ask()  # Optuna created the schema and the study
        assert [r.number for r in backend.records()] == [proposal.number]
    finally:
        backend.close()
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RunError, match="not a readable study database"):
        check_study_db(db)


def test_stale_temp_files_are_removed_and_disk_full_is_recognised(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = run / f".trials.csv.{dead.stdout.strip()}.0a1b2c3d.tmp"
    live = run / f".trials.csv.{os.getpid()}.0a1b2c3d.tmp"
    stale.write_text("half a row,")
    live.write_text("being written")
    assert remove_stale_temps(run) == [stale]
    assert live.exists() and not stale.exists()

    full = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise full
        except OSError as e:
            raise RuntimeError("An exception is raised during the commit.") from e
    except RuntimeError as wrapped:
        assert disk_full_cause(wrapped) == "No space left on device"
    assert disk_full_cause(ValueError("database or disk is full")) == "database or disk is full"
    assert disk_full_cause(OSError(errno.EACCES, "Permission denied")) is None
