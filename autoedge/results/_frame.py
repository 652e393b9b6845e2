"""Row masks over the trials table shared by the results modules (ok, feasible, reused...)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from autoedge.errors import RunError


def is_blank(value: Any) -> bool:
    """True for None, NaN/NA, and strings that are empty after stripping."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def truthy(value: Any) -> bool:
    """Read a bool cell that may have gone through CSV ("True", 1, NaN...); blank is False."""
    if is_blank(value):
        return False
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "y", "t"}
    return bool(value)


def column(trials: pd.DataFrame, name: str) -> pd.Series:
    """The column `name`, or a RunError naming it when the table lacks it."""
    if name not in trials.columns:
        raise RunError(
            f"the trials table has no {name!r} column; "
            "it was not written by autoedge or is damaged — re-run the search"
        )
    return trials[name]


def ok_mask(trials: pd.DataFrame) -> pd.Series:
    """Rows whose trial finished successfully (state == "ok")."""
    return column(trials, "state").astype(object).map(lambda s: str(s).strip() == "ok")


def feasible_mask(trials: pd.DataFrame) -> pd.Series:
    """Rows marked feasible (met the run's constraints)."""
    return column(trials, "feasible").map(truthy).astype(bool)


def reused_mask(trials: pd.DataFrame) -> pd.Series:
    """Rows whose result was copied from an earlier identical candidate."""
    if "reused_from" not in trials.columns:
        return pd.Series(False, index=trials.index)
    return ~trials["reused_from"].map(is_blank).astype(bool)


def baseline_mask(trials: pd.DataFrame) -> pd.Series:
    """Rows that are hand baselines (non-empty `baseline`)."""
    if "baseline" not in trials.columns:
        return pd.Series(False, index=trials.index)
    return ~trials["baseline"].map(is_blank).astype(bool)


def finite(value: Any) -> bool:
    """True when `value` is a real, finite number."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def numeric(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Column `name` as a float array (NaN where missing or not a number, or no such column)."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
