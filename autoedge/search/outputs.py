"""The run folder's tables, plot and report, rewritten (atomically) after every trial."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from autoedge.results import (
    RunFolder,
    accuracy_latency_hypervolume,
    jsonable,
    pareto_front,
    pick_point,
    plot_front,
    render_report,
    write_csv_atomic,
    write_text_atomic,
)
from autoedge.search.config import RunConfig
from autoedge.search.records import ERROR, FAILED, INTERRUPTED, OK, TrialRecord
from autoedge.search.rung_table import rung_summary, rungs_frame
from autoedge.search.table import trials_frame

#: Under the run folder: one traceback file per trial where autoedge's own code raised.
ERRORS_DIR = "errors"

#: The report's hypervolume reference: error 1.0 and this multiple of the slowest latency.
HV_LATENCY_MARGIN = 1.1


@dataclass(frozen=True)
class SearchSummary:
    """What a run has produced so far; `autoedge search --json` prints it."""

    run: str
    budget: int
    trials: int
    ok: int
    failed: int
    reused: int
    interrupted: int
    front_size: int
    front_constrained: bool
    hypervolume: float | None
    hypervolume_ref_ms: float | None
    best: dict[str, Any] | None
    stopped: bool = False
    wall_s: float = 0.0
    refined: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    top_failure: str | None = None  # the commonest reason among failed trials
    errors: int = 0  # trials where autoedge's own code raised (tracebacks in RUN/errors/)
    validation: dict[str, Any] | None = None  # --validate-on: the device checks' summary
    rungs: list[dict[str, Any]] = field(default_factory=list)  # per rung: results, promoted

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.errors

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def write_outputs(
    folder: RunFolder,
    config: RunConfig,
    records: list[TrialRecord],
    *,
    refined: pd.DataFrame | None = None,
    stopped: bool = False,
    wall_s: float = 0.0,
    plot: bool = True,
) -> SearchSummary:
    """Write trials.csv, pareto.csv, pareto.png and report.md; return the summary."""
    trials = trials_frame(records)
    front, constrained = front_of(trials, config)
    write_csv_atomic(folder.trials, trials)
    write_csv_atomic(folder.pareto, front)
    rung_stats: list[dict[str, Any]] = []
    if config.rungs > 1:
        by_rung = rungs_frame(records)
        write_csv_atomic(folder.rungs, by_rung)
        rung_stats = rung_summary(by_rung, config.rungs)
    ok_rows = trials[trials["state"] == OK]
    ref = None
    hv = None
    if len(ok_rows):
        ref = float(ok_rows["latency_ms"].max()) * HV_LATENCY_MARGIN
        hv = accuracy_latency_hypervolume(front, ref)
    best = _best(front, config)
    summary = SearchSummary(
        run=str(folder.path),
        budget=config.budget,
        trials=len(trials),
        ok=int((trials["state"] == OK).sum()),
        failed=int((trials["state"] == FAILED).sum()),
        reused=int(trials["reused_from"].notna().sum()),
        interrupted=int((trials["state"] == INTERRUPTED).sum()),
        front_size=len(front),
        front_constrained=constrained,
        hypervolume=hv,
        hypervolume_ref_ms=ref,
        best=best,
        stopped=stopped,
        wall_s=round(wall_s, 1),
        refined=refined_pairs(refined, trials) if refined is not None else [],
        files=[str(p) for p in (folder.db, folder.config, folder.trials, folder.pareto)]
        + ([str(folder.rungs)] if rung_stats else []),
        top_failure=_commonest_error(trials),
        errors=int((trials["state"] == ERROR).sum()),
        rungs=rung_stats,
    )
    _write_tracebacks(folder, records)
    if plot:
        title = f"{config.space} on {config.data}, target {config.target}"
        plot_front(trials, front, folder.plot, title=title)
        facts = {**summary.to_json(), "hypervolume_reference": ref}
        report = render_report(config.to_json(), trials, front, summary=facts)
        write_text_atomic(folder.report, report)
        summary = replace(summary, files=[*summary.files, str(folder.plot), str(folder.report)])
    return summary


def read_refined(folder: RunFolder) -> pd.DataFrame:
    """refined.csv of a run folder (empty when missing or damaged: the refinements are redone)."""
    if folder.refined.is_file():
        try:
            return pd.read_csv(folder.refined)
        except (OSError, ValueError, pd.errors.ParserError):
            pass
    return pd.DataFrame(columns=["number", "key"])


def front_of(trials: pd.DataFrame, config: RunConfig) -> tuple[pd.DataFrame, bool]:
    """The front over feasible trials measured at the top rung; over all ok trials of the top
    rung when none is feasible (flag False). Lower rungs' results never enter it."""
    top = trials[pd.to_numeric(trials["rung"], errors="coerce").fillna(-1) == config.schedule.top]
    front = pareto_front(top, config.objectives, feasible_only=True)
    if len(front) or not config.constraints.active:
        return front, True
    return pareto_front(top, config.objectives, feasible_only=False), False


def choose_for_refinement(front: pd.DataFrame, k: int) -> list[int]:
    """Trial numbers of `k` front points spread evenly along latency (all if k >= size)."""
    if k <= 0 or front.empty:
        return []
    ordered = front.sort_values("latency_ms")["number"].astype(int).tolist()
    if k >= len(ordered):
        return ordered
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, k)).astype(int))
    return [ordered[i] for i in picks]


def refined_pairs(refined: pd.DataFrame, trials: pd.DataFrame) -> list[dict[str, Any]]:
    """Search-fidelity vs full-fidelity numbers for each refined trial."""
    search = trials.set_index("number")
    out = []
    for _, row in refined.iterrows():
        n = int(row["number"])
        before = search.loc[n] if n in search.index else None
        out.append(
            {
                "number": n,
                "key": row["key"],
                "state_full": row["state"],
                "accuracy": _num(before["accuracy"]) if before is not None else None,
                "latency_ms": _num(before["latency_ms"]) if before is not None else None,
                "accuracy_full": _num(row["accuracy"]),
                "latency_ms_full": _num(row["latency_ms"]),
                "error_full": row.get("error") or "",
            }
        )
    return out


def _best(front: pd.DataFrame, config: RunConfig) -> dict[str, Any] | None:
    c = config.constraints
    row = pick_point(
        front,
        max_latency_ms=c.max_latency_ms,
        max_size_kb=c.max_size_kb,
        max_memory_kb=c.max_memory_kb,
        min_accuracy=c.min_accuracy,
    )
    if row is None:
        return None
    keep = ("number", "key", "accuracy", "latency_ms", "size_bytes", "peak_memory_bytes", "arch")
    return {k: jsonable(row[k]) for k in keep}


def _write_tracebacks(folder: RunFolder, records: list[TrialRecord]) -> None:
    """RUN/errors/trial-N.txt: the traceback of each trial where autoedge's code raised."""
    for r in records:
        if r.state != ERROR or r.result is None or not r.result.traceback:
            continue
        path = folder.path / ERRORS_DIR / f"trial-{r.number}.txt"
        if not path.is_file():
            path.parent.mkdir(exist_ok=True)
            write_text_atomic(path, f"{r.result.error}\n\n{r.result.traceback}")


def _commonest_error(trials: pd.DataFrame) -> str | None:
    errors = trials.loc[trials["state"] == FAILED, "error"].dropna().astype(str)
    errors = errors[errors.str.len() > 0]
    return str(errors.value_counts().index[0]) if len(errors) else None


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
