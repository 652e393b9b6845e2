from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoedge.errors import RunError
from autoedge.results.run_folder import (
    RUN_FORMAT,
    RunFolder,
    load_run,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)

HOLDER = """
import sys, time
from autoedge.results.run_folder import RunFolder
with RunFolder(sys.argv[1]).lock():
    print("locked", flush=True)
    time.sleep(30)
"""


def test_paths(tmp_path: Path) -> None:
    f = RunFolder(str(tmp_path))  # a str is accepted and stored as a Path
    assert isinstance(f.path, Path)
    assert f.db.name == "study.db" and f.config.name == "run.json"
    assert f.trials.name == "trials.csv" and f.pareto.name == "pareto.csv"
    assert f.plot.name == "pareto.png" and f.report.name == "report.md"
    assert f.refined.name == "refined.csv" and f.lockfile.name == ".lock"


def test_lock_contention_across_processes(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunError) as err, RunFolder(tmp_path).lock():
            pass
        msg = str(err.value)
        assert str(tmp_path) in msg and f"pid {proc.pid}" in msg and "--out" in msg
    finally:
        proc.kill()  # SIGKILL: the OS must drop the lock
        proc.wait(timeout=10)
    with RunFolder(tmp_path).lock() as folder:
        assert folder.lockfile.read_text().strip() == str(os.getpid())


def test_lock_is_exclusive_within_one_process_too(tmp_path: Path) -> None:
    held = RunFolder(tmp_path).lock()
    with held, pytest.raises(RunError, match="in use"), RunFolder(tmp_path).lock():
        pass
    with RunFolder(tmp_path).lock():  # released after the block
        pass


def test_lock_needs_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="does not exist"), RunFolder(tmp_path / "nope").lock():
        pass


class _Boom(pd.DataFrame):
    def to_csv(self, *args, **kwargs):  # type: ignore[override]
        handle = args[0]
        handle.write("number,state\n1,ok\n")  # half a file reaches the temp file
        raise RuntimeError("disk on fire")


def test_atomic_csv_failure_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "trials.csv"
    write_csv_atomic(target, pd.DataFrame({"a": [1, 2]}))
    before = target.read_text()
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_csv_atomic(target, _Boom({"a": [3]}))
    assert target.read_text() == before == "a\n1\n2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.csv"]


def test_atomic_writers_round_trip(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "r.md", "# hi\nthere\n")
    assert (tmp_path / "r.md").read_text() == "# hi\nthere\n"
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    write_json_atomic(tmp_path / "c.json", {"b": np.int64(2), "a": [np.float32(0.5), float("nan")]})
    text = (tmp_path / "c.json").read_text()
    assert json.loads(text) == {"a": [0.5, None], "b": 2}
    assert text.index('"a"') < text.index('"b"') and "\n  " in text
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "c.json", {"x": object()})
    assert json.loads((tmp_path / "c.json").read_text())["b"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "c.json", "r.md"]


def _write_run(folder: Path, trials: pd.DataFrame, front: pd.DataFrame) -> None:
    write_json_atomic(folder / "run.json", {"format": RUN_FORMAT, "space": "tiny"})
    write_csv_atomic(folder / "trials.csv", trials)
    write_csv_atomic(folder / "pareto.csv", front)


def test_load_run_round_trip(tmp_path: Path, make_trials) -> None:
    trials = make_trials(
        dict(accuracy=0.9, latency_ms=3.5, **{"s0.width": 16}),
        dict(state="failed", error="CUDA: out of memory", **{"s0.width": 32}),
        dict(accuracy=0.9, latency_ms=3.5, reused_from=0, **{"s0.width": 16}),
        dict(accuracy=0.7, latency_ms=1.5, baseline="mobilenetv3-small-int8"),
    )
    front = trials.iloc[[3, 0]].reset_index(drop=True)
    _write_run(tmp_path, trials, front)
    view = load_run(tmp_path)
    assert view.folder.path == tmp_path
    assert view.config["space"] == "tiny"
    assert list(view.trials.columns) == list(trials.columns)
    assert view.trials["number"].dtype == np.int64
    assert view.trials["feasible"].tolist() == [True, False, True, True]
    assert view.trials["error"].tolist() == ["", "CUDA: out of memory", "", ""]
    assert view.trials["baseline"].tolist() == ["", "", "", "mobilenetv3-small-int8"]
    assert view.trials["arch"].tolist() == trials["arch"].tolist()
    for col in ("accuracy", "latency_ms", "size_bytes", "reused_from", "s0.width"):
        np.testing.assert_allclose(
            view.trials[col].to_numpy(float), trials[col].to_numpy(float), equal_nan=True
        )
    assert view.front["number"].tolist() == [3, 0]
    assert view.front["key"].tolist() == ["k0003", "k0000"]


def test_load_run_empty_front(tmp_path: Path, make_trials) -> None:
    trials = make_trials(dict(state="failed", error="x"))
    _write_run(tmp_path, trials, trials.iloc[0:0])
    assert load_run(tmp_path).front.empty
    (tmp_path / "pareto.csv").write_text("")
    assert load_run(tmp_path).front.empty


def _ok_run(tmp_path: Path, make_trials) -> Path:
    trials = make_trials(dict())
    _write_run(tmp_path, trials, trials)
    return tmp_path


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("not_a_dir", "is not a directory"),
        ("no_config", "no run.json"),
        ("bad_json", "not readable JSON"),
        ("json_list", "not a JSON object"),
        ("wrong_format", "expected 'autoedge-run/1'"),
        ("no_trials", "trials.csv is missing"),
        ("garbled_trials", "trials.csv lacks the column"),
        ("bad_number", "non-integer trial number"),
        ("no_pareto", "pareto.csv is missing"),
        ("unreadable_pareto", "pareto.csv is unreadable"),
    ],
)
def test_load_run_errors(tmp_path: Path, make_trials, damage: str, needle: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    _ok_run(run, make_trials)
    target = run
    if damage == "not_a_dir":
        target = run / "trials.csv"
    elif damage == "no_config":
        (run / "run.json").unlink()
    elif damage == "bad_json":
        (run / "run.json").write_text("{not json")
    elif damage == "json_list":
        (run / "run.json").write_text("[1, 2]")
    elif damage == "wrong_format":
        (run / "run.json").write_text(json.dumps({"format": "autoedge-run/0"}))
    elif damage == "no_trials":
        (run / "trials.csv").unlink()
    elif damage == "garbled_trials":
        (run / "trials.csv").write_text("hello,world\n1,2\n")
    elif damage == "bad_number":
        text = (run / "trials.csv").read_text().splitlines()
        (run / "trials.csv").write_text("\n".join([text[0], "x" + text[1][1:]]) + "\n")
    elif damage == "no_pareto":
        (run / "pareto.csv").unlink()
    elif damage == "unreadable_pareto":
        (run / "pareto.csv").write_bytes(b'a,b\n"1,2\n')
    with pytest.raises(RunError) as err:
        load_run(target)
    msg = str(err.value)
    assert needle in msg
    assert str(run) in msg
    assert "\n" not in msg
