"""The files of one run folder, its process lock, and loading a finished run back."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from autoedge.errors import RunError
from autoedge.results._frame import truthy
from autoedge.results.atomic import (
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from autoedge.results.columns import BASE_COLUMNS, LATER_COLUMNS, TEXT_COLUMNS

__all__ = [
    "RUN_FORMAT",
    "RunFolder",
    "RunView",
    "load_run",
    "read_trials_csv",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

RUN_FORMAT = "autoedge-run/1"
"""The value of run.json's "format" key for folders this version reads and writes."""


@dataclass(frozen=True)
class RunFolder:
    """Paths of the files inside one run folder (nothing is read or created here)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def db(self) -> Path:
        """The Optuna SQLite study."""
        return self.path / "study.db"

    @property
    def config(self) -> Path:
        """run.json: the run's settings and format tag."""
        return self.path / "run.json"

    @property
    def trials(self) -> Path:
        """trials.csv: one row per trial."""
        return self.path / "trials.csv"

    @property
    def pareto(self) -> Path:
        """pareto.csv: the front, same columns as trials.csv."""
        return self.path / "pareto.csv"

    @property
    def plot(self) -> Path:
        """pareto.png: accuracy vs latency plot."""
        return self.path / "pareto.png"

    @property
    def report(self) -> Path:
        """report.md: the human summary."""
        return self.path / "report.md"

    @property
    def refined(self) -> Path:
        """refined.csv: front points re-trained at full fidelity (optional)."""
        return self.path / "refined.csv"

    @property
    def rungs(self) -> Path:
        """rungs.csv: a multi-fidelity run's result at every rung (search/rung_table.py)."""
        return self.path / "rungs.csv"

    @property
    def lockfile(self) -> Path:
        """.lock: flock'ed by the process that writes the folder."""
        return self.path / ".lock"

    @contextlib.contextmanager
    def lock(self) -> Iterator[RunFolder]:
        """Hold an exclusive, non-blocking flock on the folder's .lock while in the block.

        The folder must exist. Raises RunError at once if another process holds it; the OS
        drops the lock when the holder exits, even when killed.
        """
        if not self.path.is_dir():
            raise RunError(f"run folder {self.path} does not exist; create it before locking it")
        try:
            fd = os.open(self.lockfile, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunError(
                f"cannot open lock file {self.lockfile} ({exc.strerror}); "
                "check that the run folder is writable"
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                raise RunError(
                    f"run folder {self.path} is in use by another autoedge process "
                    f"(pid {holder}); wait for it or use another --out"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            try:
                yield self
            finally:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


@dataclass(frozen=True)
class RunView:
    """A finished run loaded for reading: its folder, run.json, trials and front."""

    folder: RunFolder
    config: dict[str, Any]
    trials: pd.DataFrame
    front: pd.DataFrame


def load_run(path: str | Path) -> RunView:
    """Read run.json, trials.csv and pareto.csv of a run folder, checking each.

    Raises RunError naming the path and the fix when something is missing or damaged.
    """
    folder = RunFolder(Path(path))
    if not folder.path.is_dir():
        raise RunError(f"{folder.path} is not a directory; give the run folder to read")
    if not folder.config.is_file():
        raise RunError(
            f"{folder.path} is not an autoedge run folder (no run.json); "
            "give the folder `autoedge search --out` wrote"
        )
    config = read_run_json(folder.config)
    trials = read_trials_csv(folder.trials, what="trials")
    front = read_trials_csv(folder.pareto, what="Pareto front")
    return RunView(folder=folder, config=config, trials=trials, front=front)


def read_run_json(path: Path) -> dict[str, Any]:
    """A run.json as a dict, checked to be JSON, an object, and of RUN_FORMAT (else RunError)."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(
            f"{path} is not readable JSON ({_one_line(exc)}); "
            "restore it or re-run `autoedge search` into a new --out"
        ) from exc
    if not isinstance(config, dict):
        raise RunError(
            f"{path} is not an autoedge run.json (not a JSON object); give a folder autoedge wrote"
        )
    found = config.get("format")
    if found != RUN_FORMAT:
        raise RunError(
            f"{path} has format {found!r}, expected {RUN_FORMAT!r}; "
            "it was written by another autoedge version or tool — re-run the search to get one"
        )
    return config


def read_trials_csv(path: str | Path, *, what: str = "trials") -> pd.DataFrame:
    """Read trials.csv/pareto.csv with the contract's dtypes (int `number`, text as str).

    Text columns get "" for missing values and `feasible` becomes bool. An empty file is an
    empty table with the base columns; a missing, unparsable or incomplete one is a RunError.
    """
    path = Path(path)
    if not path.is_file():
        raise RunError(
            f"{path} is missing, so the {what} cannot be read; "
            "re-run `autoedge search` on this folder to write it"
        )
    try:
        header = pd.read_csv(path, nrows=0).columns
        dtypes = {c: str for c in TEXT_COLUMNS if c in header}
        df = pd.read_csv(path, keep_default_na=True, dtype=dtypes)
    except pd.errors.EmptyDataError:
        return _empty_trials()
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise RunError(
            f"{path} is unreadable ({_one_line(exc)}); "
            "restore it or re-run `autoedge search` on this folder"
        ) from exc
    later = [c for c in LATER_COLUMNS if c not in df.columns]  # tables written before them
    if later:  # text unknown, numbers missing; every row of an older run is at rung 0
        fill = {c: "" if c in TEXT_COLUMNS else 0 if c == "rung" else float("nan") for c in later}
        df = pd.concat([df, pd.DataFrame(fill, index=df.index)], axis=1)
    missing = [c for c in BASE_COLUMNS if c not in df.columns]
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        named = ", ".join(missing[:4]) + more
        raise RunError(
            f"{path} lacks the column(s) {named}; it is damaged or not an autoedge table — "
            "re-run `autoedge search` on this folder"
        )
    number = pd.to_numeric(df["number"], errors="coerce")
    if number.isna().any() or (number % 1 != 0).any():
        raise RunError(
            f"{path} has a missing or non-integer trial number; it is damaged — "
            "re-run `autoedge search` on this folder"
        )
    df["number"] = number.astype("int64")
    for c in TEXT_COLUMNS:
        df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    df["feasible"] = df["feasible"].map(truthy).astype(bool)
    return df


def _empty_trials() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in BASE_COLUMNS})
    df["number"] = df["number"].astype("int64")
    df["feasible"] = df["feasible"].astype(bool)
    for c in TEXT_COLUMNS:
        df[c] = df[c].astype(str)
    return df


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
