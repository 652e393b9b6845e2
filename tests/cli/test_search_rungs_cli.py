"""Multi-fidelity `autoedge search` as users run it: real subprocesses, real evaluate(), the
promotions read back from the study database and checked against the stated rule."""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from autoedge_cli import autoedge, start

from autoedge.search.asha import RungResult, RungSchedule, decide

FAST = ["--space", "tiny", "--target", "host", "--seed", "0", "--teacher", "none"]


def rung_entries(db: Path) -> dict[int, list[dict[str, Any]]]:
    """Trial number -> its results by rung, as the loop recorded them (read while it runs)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as con:
        rows = con.execute(
            "SELECT t.number, a.value_json FROM trial_user_attributes a "
            "JOIN trials t ON t.trial_id = a.trial_id WHERE a.key = 'rungs'"
        ).fetchall()
    return {int(n): json.loads(v) for n, v in rows}


def as_ranked(number: int, entry: dict[str, Any]) -> RungResult:
    r = entry["result"]
    if r["status"] != "ok":
        return RungResult(number, None)
    values = (-r["accuracy"], r["latency_ms"], r["size_bytes"])
    return RungResult(number, values, promoted=entry["promoted"])


@pytest.fixture(scope="module")
def run9(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rungs") / "run"
    args = ["--data", "digits", "--epochs", "1", "--subset", "300", "--workers", "1"]
    res = autoedge(
        "search", *FAST, *args, "--budget", "9", "--rungs", "3", "--eta", "3", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_promotions_follow_the_rule_when_they_were_made(run9: Path) -> None:
    entries = rung_entries(run9 / "study.db")
    trials = pd.read_csv(run9 / "trials.csv")
    assert len(trials) == 9 and set(trials["state"]) == {"ok"}
    schedule = RungSchedule(3, 3)
    promoted_somewhere = 0
    for number, mine in entries.items():
        # the trial's row is its highest rung; it has one entry per rung up to it
        assert [e["rung"] for e in mine] == list(range(len(mine)))
        assert trials.loc[trials["number"] == number, "rung"].item() == len(mine) - 1
        for e in mine:
            if e["rung"] == schedule.top:
                assert not e["promoted"]
                continue
            # every result at this rung recorded no later than this one, this one included
            seen = [
                as_ranked(n, other)
                for n, theirs in entries.items()
                for other in theirs
                if other["rung"] == e["rung"] and other["seq"] <= e["seq"]
            ]
            want = decide(seen, number, schedule)
            assert (e["promoted"], e["rank"], e["of"]) == (want.promoted, want.rank, want.of)
            # promoted exactly when the trial went on to the next rung
            assert e["promoted"] == any(x["rung"] == e["rung"] + 1 for x in mine)
            promoted_somewhere += e["promoted"]
    assert promoted_somewhere >= 3  # trial 0 twice (first of its rung), and at least one more
    assert not list((run9 / "states").glob("*"))  # every saved state deleted once used


def test_a_promoted_candidate_carries_its_training_on(run9: Path) -> None:
    entries = rung_entries(run9 / "study.db")
    climbed = [mine for mine in entries.values() if len(mine) > 1]
    assert climbed
    for mine in climbed:
        for below, above in itertools.pairwise(mine):
            lo, hi = below["result"], above["result"]
            assert "train" not in hi["phase_s"] and "resume" in hi["phase_s"]  # no new training
            assert "compress" not in hi["phase_s"]
            assert hi["steps"] > lo["steps"]  # the optimiser's step count goes on
            fid = hi["fidelity"]
            assert fid["rung"] == above["rung"] and fid["subset"] == 3 * lo["fidelity"]["subset"]
    top = [mine[-1]["result"] for mine in climbed if mine[-1]["rung"] == 2]
    assert top and all(r["test_images"] == 359 for r in top)  # the whole digits test split


def test_show_and_the_front_speak_of_the_top_rung(run9: Path) -> None:
    front = pd.read_csv(run9 / "pareto.csv")
    assert len(front) >= 1 and set(front["rung"]) == {2}
    res = autoedge("show", str(run9), "--json")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    rows = rows[0] if len(rows) == 1 and isinstance(rows[0], list) else rows
    assert rows
    for row in rows:
        assert row["rung"] == 2
        assert row["accuracy_low"] < row["accuracy"] < row["accuracy_high"]
    trials = pd.read_csv(run9 / "trials.csv")
    assert set(trials["rung"]) >= {0, 2}  # the lower rungs' results stay in trials.csv


def test_the_front_latencies_are_measured_again_together_at_the_end(run9: Path) -> None:
    front = pd.read_csv(run9 / "pareto.csv")
    # every front point was timed again (the search's number kept beside it), on its model
    assert front["latency_search_ms"].notna().all()
    assert (front["latency_p10_ms"] <= front["latency_ms"]).all()
    assert (front["latency_ms"] <= front["latency_p90_ms"]).all()
    kept = {p.name for p in (run9 / "models").iterdir()}
    assert {f"trial-{n}.onnx" for n in front["number"]} <= kept
    trials = pd.read_csv(run9 / "trials.csv")
    assert trials.loc[trials["rung"] < 2, "latency_search_ms"].isna().all()


def test_sigkill_during_rung_one_then_resume_carries_on_from_rung_zero(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--data", "fashion-mnist", "--epochs", "1", "--subset", "2000", "--workers", "1"]
    common = [*FAST, *args, "--budget", "2", "--rungs", "2", "--eta", "3", "--no-warm-start"]
    proc = start("search", *common, "--out", str(out))
    db = out / "study.db"
    deadline = time.monotonic() + 600
    try:
        while True:  # the first result of rung 0 is always promoted: wait for that decision
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "trial 0 was not promoted in time"
            try:
                if db.is_file() and rung_entries(db).get(0):
                    break
            except sqlite3.OperationalError:  # the study's tables are still being created
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = rung_entries(db)
    assert [e["rung"] for e in before[0]] == [0] and before[0][0]["promoted"]  # mid rung 1
    assert (out / "states" / "trial-0-rung-0.pt").is_file()

    res = autoedge("search", "--resume", str(out), "--workers", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    after = rung_entries(db)
    for number, mine in before.items():  # every result finished before the kill is intact
        assert after[number][: len(mine)] == mine
    first, second = after[0]
    assert second["rung"] == 1 and second["result"]["status"] == "ok"
    assert "resume" in second["result"]["phase_s"] and "train" not in second["result"]["phase_s"]
    assert second["result"]["steps"] > first["result"]["steps"]
    trials = pd.read_csv(out / "trials.csv")
    assert sorted(trials["number"]) == [0, 1] and set(trials["state"]) == {"ok"}
    assert trials.loc[trials["number"] == 0, "rung"].item() == 1
    assert not list((out / "states").glob("*"))


def test_a_top_rung_point_exports_with_the_accuracy_it_promised(run9: Path, tmp_path: Path):
    dest = tmp_path / "deploy"
    # 30 epochs: the default refit (10 epochs over digits' 1437 images, 230 steps) scores
    # 87.2% where the top rung (2 fine-tune epochs) promised 93.0%, and the export refuses
    # (measured 2026-12-02: 88.0% at 3 epochs, 94.2% at 30); Fashion-MNIST's 60000 images
    # give 10 epochs 41x the steps
    res = autoedge("export", str(run9), "--out", str(dest), "--refit-epochs", "30", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    card = json.loads((dest / "model_card.json").read_text())
    front = pd.read_csv(run9 / "pareto.csv")
    promised = front.loc[front["number"] == card["trial"], "accuracy"].item()
    assert card["metrics"]["accuracy"] >= promised - 0.01
