"""Trial records -> the trials table (results.columns), one row per finished trial."""

from __future__ import annotations

from typing import Any

import pandas as pd

from autoedge.results.columns import BASE_COLUMNS, METRIC_COLUMNS
from autoedge.search.records import RUNNING, TrialRecord
from autoedge.space.candidate import Candidate


def trial_row(record: TrialRecord) -> dict[str, Any]:
    """One row: identity, timing, every metric under its EvalResult name, arch and genes."""
    result = record.result
    row: dict[str, Any] = {
        "number": record.number,
        "state": record.state,
        "key": record.key,
        "started_at": record.started_at or "",
        "finished_at": record.finished_at or "",
        "reused_from": record.reused_from,
        "baseline": record.baseline or "",
        "feasible": record.feasible,
        "error": (result.error or "") if result is not None else "",
    }
    for name in METRIC_COLUMNS:
        value = getattr(result, name, None) if result is not None and result.ok else None
        row[name] = value
    if result is not None and not result.ok:
        row["target"] = result.target
    if result is not None:
        row["rung"] = result.rung
    genes: dict[str, Any] = {}
    row["arch"] = ""
    if record.candidate:
        cand = Candidate.from_json(record.candidate)
        row["arch"] = cand.arch()
        genes = cand.genes()
    clash = set(genes) & set(row)
    if clash:  # a space may not name a gene like a metric: the table would be ambiguous
        raise ValueError(f"gene names clash with trial columns: {sorted(clash)}")
    row.update(genes)
    return row


def trials_frame(records: list[TrialRecord]) -> pd.DataFrame:
    """Rows for every trial that is not still running, in trial order; genes after metrics."""
    rows = [trial_row(r) for r in records if r.state != RUNNING]
    gene_columns: list[str] = []
    for row in rows:
        gene_columns.extend(k for k in row if k not in BASE_COLUMNS and k not in gene_columns)
    frame = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *gene_columns])
    frame["reused_from"] = frame["reused_from"].astype("Int64")
    return frame
