"""Which point of a run to export: by trial number, by key, or picked under bounds."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from autoedge.errors import RunError
from autoedge.results import RunView, pick_point
from autoedge.results.columns import BASE_COLUMNS
from autoedge.space import Candidate, FixedGenes, SearchSpace, sample_candidate


def select_row(
    view: RunView,
    *,
    trial: int | None = None,
    key: str | None = None,
    bounds: dict[str, Any] | None = None,
) -> pd.Series:
    """The finished trial to export (RunError naming the fix when there is none).

    Give at most one of `trial` and `key`; with neither, the most accurate front point meeting
    `bounds` (any front point when no bound is given) is chosen, as `autoedge pick` does.
    """
    given = [name for name, v in (("--trial", trial), ("--key", key)) if v is not None]
    bounds = {k: v for k, v in (bounds or {}).items() if v is not None}
    if len(given) > 1 or (given and set(bounds) - {"latency_bound"}):
        raise RunError("choose the point one way: --trial N, --key K, or pick bounds")
    run = view.folder.path
    ok = view.trials[view.trials["state"] == "ok"]
    if trial is not None:
        rows = ok[ok["number"] == trial]
        if rows.empty:
            known = view.trials[view.trials["number"] == trial]
            why = f"it {known.iloc[0]['state']}" if len(known) else "there is no such trial"
            raise RunError(f"trial {trial} of {run} cannot be exported: {why}")
        return rows.iloc[0].copy()
    if key is not None:
        rows = ok[ok["key"] == key]
        if rows.empty:
            raise RunError(f"no finished trial of {run} has key {key!r}; see `autoedge show {run}`")
        return rows.iloc[0].copy()
    row = pick_point(view.front, **bounds)
    if row is None:
        raise RunError(
            f"no front point of {run} meets the bounds ({len(view.front)} front points; "
            f"see `autoedge show {run}`)"
        )
    return row


def candidate_of(row: pd.Series, space: SearchSpace) -> Candidate:
    """Rebuild the candidate of a trials.csv row from its gene columns, checked by its key."""
    genes: dict[str, Any] = {}
    for name, value in row.items():
        if name in BASE_COLUMNS or _missing(value):
            continue
        genes[str(name)] = value
    cand = sample_candidate(space, FixedGenes(genes))
    if cand.key != row["key"]:
        raise RunError(
            f"trial {row['number']}: its genes rebuild a candidate with key {cand.key}, not "
            f"{row['key']}; the run's trials.csv was edited or damaged"
        )
    return cand


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)
