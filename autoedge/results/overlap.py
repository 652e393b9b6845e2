"""Front points the measurements cannot tell apart: intervals that overlap on every objective.

Accuracy carries its 95% Wilson interval over the test images it was measured on; a measured
latency its p10-p90 spread over the timed runs (a predicted one is a point until the target
gives an interval); size and memory are exact. Two front points whose intervals overlap on
every objective of the run are indistinguishable: which one is "better" is noise.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from autoedge.results.columns import OBJECTIVE_COLUMNS

_BOUNDS = {
    "accuracy": ("accuracy_low", "accuracy_high"),
    "latency_ms": ("latency_p10_ms", "latency_p90_ms"),
}


def objective_interval(row: pd.Series | dict[str, Any], column: str) -> tuple[float, float]:
    """The (low, high) interval of one objective column of a trial row (a point if unknown)."""
    value = _number(row.get(column))
    low_name, high_name = _BOUNDS.get(column, (None, None))
    low = _number(row.get(low_name)) if low_name else math.nan
    high = _number(row.get(high_name)) if high_name else math.nan
    if math.isnan(low) or math.isnan(high):
        return value, value
    return min(low, value), max(high, value)


def indistinguishable(front: pd.DataFrame, objectives: tuple[str, ...]) -> dict[int, list[int]]:
    """Trial number -> the other front points whose intervals overlap its own on every
    objective (only points that have such a twin are keys)."""
    columns = [OBJECTIVE_COLUMNS[name][0] for name in objectives]
    rows = [
        (int(r["number"]), [objective_interval(r, c) for c in columns]) for _, r in front.iterrows()
    ]
    out: dict[int, list[int]] = {}
    for i, (a, ia) in enumerate(rows):
        for b, ib in rows[i + 1 :]:
            if all(
                lo1 <= hi2 and lo2 <= hi1 for (lo1, hi1), (lo2, hi2) in zip(ia, ib, strict=True)
            ):
                out.setdefault(a, []).append(b)
                out.setdefault(b, []).append(a)
    return {k: sorted(v) for k, v in out.items()}


def _number(value: Any) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return math.nan
    return f
