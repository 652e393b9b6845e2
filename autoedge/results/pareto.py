"""Non-dominated filtering of the trials table (the Pareto front)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from autoedge.errors import RunError
from autoedge.results._frame import column, feasible_mask, numeric, ok_mask, reused_mask
from autoedge.results.columns import OBJECTIVE_COLUMNS

_DIRECTIONS = ("maximize", "minimize")


def non_dominated(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Bool mask (n,) of the rows of `values` (n, k) that no other row dominates.

    Rows with any NaN are never on the front; identical rows do not dominate each other.
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"values must be 2-D (n, k), got shape {arr.shape}")
    if len(directions) != arr.shape[1]:
        raise ValueError(f"{len(directions)} directions for {arr.shape[1]} objective columns")
    bad = [d for d in directions if d not in _DIRECTIONS]
    if bad:
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {bad[0]!r}")
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    cost = arr * sign  # everything is minimised from here on
    valid = ~np.isnan(cost).any(axis=1)
    mask = valid.copy()
    others = cost[valid]
    for i in np.flatnonzero(valid):
        row = cost[i]
        dominated = (others <= row).all(axis=1) & (others < row).any(axis=1)
        mask[i] = not dominated.any()
    return mask


def pareto_front(
    trials: pd.DataFrame, objectives: Sequence[str], *, feasible_only: bool = True
) -> pd.DataFrame:
    """The non-dominated ok, non-reused trials over `objectives`, sorted by latency.

    With `feasible_only` (default) only feasible rows take part and an empty frame comes back
    when none is feasible; pass False to compute the front over all ok rows regardless of the
    constraints (the caller should then say so). Columns are those of `trials`, index reset.
    """
    if not objectives:
        raise RunError("no objectives given for the Pareto front; name at least one, e.g. accuracy")
    unknown = [o for o in objectives if o not in OBJECTIVE_COLUMNS]
    if unknown:
        raise RunError(
            f"unknown objective {unknown[0]!r}; use one of {', '.join(OBJECTIVE_COLUMNS)}"
        )
    cols = [OBJECTIVE_COLUMNS[o][0] for o in objectives]
    dirs = [OBJECTIVE_COLUMNS[o][1] for o in objectives]
    for c in cols:
        column(trials, c)  # a RunError when the table lacks an objective column
    take = ok_mask(trials) & ~reused_mask(trials)
    if feasible_only:
        take &= feasible_mask(trials)
    pool = trials[take.to_numpy(dtype=bool)]
    if pool.empty:
        return trials.iloc[0:0].reset_index(drop=True)
    values = np.column_stack([numeric(pool, c) for c in cols])
    front = pool[non_dominated(values, dirs)]
    return sort_by_latency(front)


def sort_by_latency(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` sorted by latency_ms ascending, then accuracy descending; index reset."""
    lat = numeric(frame, "latency_ms")
    acc = numeric(frame, "accuracy")
    lat_key = np.where(np.isnan(lat), np.inf, lat)
    acc_key = np.where(np.isnan(acc), np.inf, -acc)
    order = np.lexsort((acc_key, lat_key))  # the last key is primary; lexsort is stable
    return frame.iloc[order].reset_index(drop=True)
