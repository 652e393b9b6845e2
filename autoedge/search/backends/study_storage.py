"""The study's SQLite storage: cheap commits, and one transaction for a candidate's genes.

Optuna's RDBStorage commits every suggested parameter in its own transaction; the default
space has ~70 genes, so asking one candidate cost ~70 commits (most of `ask`'s 90-120 ms per
trial with the random and NSGA-II samplers, results/bench_scale.md). `StudyStorage.genes_at_once`
holds the parameters suggested inside it and writes them in one transaction when it ends. The
trial itself keeps its parameters in memory as they are suggested (Optuna's Trial caches
them), so the sampler sees nothing different; a kill before the write leaves a running trial
without parameters, which a resume re-runs as an interrupted trial (a fresh candidate).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages._rdb import storage as _rdb

# Optuna internals this module relies on; without them (another Optuna) each gene is written
# on its own, as Optuna does.
_BATCHABLE = hasattr(_rdb, "_create_scoped_session") and hasattr(
    optuna.storages.RDBStorage, "_set_trial_param_without_commit"
)


class StudyStorage(optuna.storages.RDBStorage):
    """An RDBStorage whose parameter writes can be gathered into one transaction."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._held: list[tuple[Any, ...]] | None = None
        self._holder: int | None = None

    @contextlib.contextmanager
    def genes_at_once(self) -> Iterator[None]:
        """Write the parameters suggested by this thread inside the block in one transaction
        when it ends (also when it raises: what was suggested is kept)."""
        if not _BATCHABLE or self._held is not None:
            yield
            return
        self._held, self._holder = [], threading.get_ident()
        try:
            yield
        finally:
            held, self._held, self._holder = self._held, None, None
            if held:
                with _rdb._create_scoped_session(self.scoped_session, True) as session:
                    for args in held:
                        self._set_trial_param_without_commit(session, *args)

    def _set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: optuna.distributions.BaseDistribution,
        previous_distribution: optuna.distributions.BaseDistribution | None,
    ) -> None:
        args = (trial_id, param_name, param_value_internal, distribution, previous_distribution)
        if self._held is not None and self._holder == threading.get_ident():
            self._held.append(args)
            return
        super()._set_trial_param(*args)


def sqlite_storage(db: Path) -> StudyStorage:
    """The study's SQLite storage, with cheap commits: write-ahead logging and fsync only at
    checkpoints (PRAGMA synchronous=NORMAL). A full fsync per commit cost ~0.5 s per
    default-space candidate here (a profiled run under load, results/bench_scale.md). A killed
    process loses nothing committed (the log is replayed on the next open); a power cut may
    lose the last commits, which the run then redoes as interrupted trials. `release` turns
    the file back into a plain rollback-journal database."""
    storage = StudyStorage(
        f"sqlite:///{db.resolve()}", engine_kwargs={"connect_args": {"timeout": 60}}
    )
    sqlalchemy.event.listen(storage.engine, "connect", _cheap_commits)
    storage.engine.dispose()  # the connections opened while creating the schema get it too
    return storage


def release(storage: optuna.storages.RDBStorage, db: Path) -> None:
    """Close `storage` and leave `db` a plain rollback-journal file again, so that readers
    (`show`, a later resume's checks) find no write-ahead log beside it."""
    storage.remove_session()
    storage.engine.dispose()
    # still open elsewhere (sqlite3.Error): it stays in WAL mode, which is harmless
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(db, timeout=5)) as con,
    ):
        con.execute("PRAGMA journal_mode=DELETE")


def _cheap_commits(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
