"""The study's storage writes a candidate's genes in one transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from autoedge.search.backends.study_storage import release, sqlite_storage


def stored_params(db: Path, number: int) -> dict[str, float]:
    """The parameters of trial `number` as another reader of the file sees them."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT p.param_name, p.param_value FROM trial_params p "
            "JOIN trials t ON t.trial_id = p.trial_id WHERE t.number = ?",
            (number,),
        ).fetchall()
    return dict(rows)


@pytest.fixture
def study(tmp_path):
    db = tmp_path / "study.db"
    storage = sqlite_storage(db)
    events: list[str] = []  # "P": a parameter inserted, "C": a commit

    def executed(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO TRIAL_PARAMS"):
            events.append("P")

    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", executed)
    sqlalchemy.event.listen(storage.engine, "commit", lambda _conn: events.append("C"))
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    yield db, storage, study, events
    release(storage, db)


def transactions_with_params(events: list[str]) -> list[int]:
    """How many parameters each committed transaction inserted (those that inserted any)."""
    counts, current = [], 0
    for e in events:
        if e == "P":
            current += 1
        elif current:
            counts.append(current)
            current = 0
    return counts


def test_genes_suggested_inside_the_block_are_written_once_when_it_ends(study) -> None:
    db, storage, study, events = study
    trial = study.ask()
    events.clear()
    with storage.genes_at_once():
        values = {f"g{i}": trial.suggest_int(f"g{i}", 0, 9) for i in range(12)}
        assert trial.params == values  # the trial (and its sampler) sees them at once
        assert stored_params(db, trial.number) == {}  # nothing written yet
        assert "P" not in events
    assert transactions_with_params(events) == [12]
    assert stored_params(db, trial.number) == {k: float(v) for k, v in values.items()}
    study.tell(trial, [0.5, 1.0])
    again = study.ask()  # later trials of the study work as before (same distributions)
    with storage.genes_at_once():
        again.suggest_int("g0", 0, 9)
    assert set(stored_params(db, again.number)) == {"g0"}


def test_outside_the_block_each_gene_is_written_at_once(study) -> None:
    db, _storage, study, events = study
    trial = study.ask()
    events.clear()
    trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_categorical("c", ["a", "b"])
    assert transactions_with_params(events) == [1, 1]
    assert set(stored_params(db, trial.number)) == {"x", "c"}


def test_genes_suggested_before_an_error_are_kept(study) -> None:
    db, storage, study, _events = study
    trial = study.ask()
    with pytest.raises(RuntimeError), storage.genes_at_once():
        trial.suggest_int("kept", 0, 3)
        raise RuntimeError("the space's sampling failed")
    assert set(stored_params(db, trial.number)) == {"kept"}


def test_release_leaves_no_write_ahead_log(tmp_path) -> None:
    db = tmp_path / "study.db"
    storage = sqlite_storage(db)
    study = optuna.create_study(storage=storage)
    study.tell(study.ask(), 1.0)
    assert Path(f"{db}-wal").exists()
    release(storage, db)
    assert not Path(f"{db}-wal").exists()
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
