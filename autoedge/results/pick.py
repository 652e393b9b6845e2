"""Choose one deployable point from the front under hard bounds."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pandas as pd

from autoedge.errors import RunError
from autoedge.results._frame import numeric
from autoedge.results.columns import LATENCY_BOUNDS


def pick_point(
    front: pd.DataFrame,
    *,
    max_latency_ms: float | None = None,
    max_size_kb: float | None = None,
    max_memory_kb: float | None = None,
    min_accuracy: float | None = None,
    latency_bound: str = "point",
) -> pd.Series | None:
    """The most accurate row meeting every given bound (ties go to lower latency_ms), or None.

    kB means 1000 bytes (size_bytes / 1000, peak_memory_bytes / 1000); `min_accuracy` is a
    fraction 0..1; `latency_bound` "high" binds `max_latency_ms` on the upper end of each
    row's 80% latency range (latency_high_ms). A row with a missing value for a bounded metric
    does not qualify.
    """
    if latency_bound not in LATENCY_BOUNDS:
        raise RunError(
            f"latency_bound must be one of {', '.join(LATENCY_BOUNDS)}, got {latency_bound!r}"
        )
    _check_bound("max_latency_ms", max_latency_ms)
    _check_bound("max_size_kb", max_size_kb)
    _check_bound("max_memory_kb", max_memory_kb)
    _check_bound("min_accuracy", min_accuracy)
    if min_accuracy is not None and min_accuracy > 1:
        raise RunError(
            f"min_accuracy is a fraction between 0 and 1, got {min_accuracy}; "
            f"for {min_accuracy:g} % give {min_accuracy / 100:g}"
        )
    if front.empty:
        return None
    accuracy = numeric(front, "accuracy")
    latency = numeric(front, "latency_ms")
    keep = np.isfinite(accuracy)
    if max_latency_ms is not None:
        keep &= numeric(front, LATENCY_BOUNDS[latency_bound]) <= max_latency_ms
    if max_size_kb is not None:
        keep &= numeric(front, "size_bytes") / 1000.0 <= max_size_kb
    if max_memory_kb is not None:
        keep &= numeric(front, "peak_memory_bytes") / 1000.0 <= max_memory_kb
    if min_accuracy is not None:
        keep &= accuracy >= min_accuracy
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        return None
    lat_key = np.where(np.isnan(latency[rows]), np.inf, latency[rows])
    best = rows[np.lexsort((lat_key, -accuracy[rows]))[0]]
    return front.iloc[best].copy()


def _check_bound(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise RunError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise RunError(f"{name} must not be negative, got {value:g}")
