"""Exact hypervolume (dominated volume) of a point set, for minimisation."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pandas as pd

from autoedge.errors import RunError
from autoedge.results._frame import numeric, ok_mask
from autoedge.results.pareto import non_dominated


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by `points` (n, k) and bounded by `reference` (k,), all minimised.

    Exact (sweep in 2-D, slicing above); points not strictly better than the reference in
    every dimension, or holding NaN, add nothing. Empty input gives 0.0.
    """
    ref = np.asarray(reference, dtype=float).reshape(-1)
    pts = np.asarray(points, dtype=float)
    if pts.size == 0:
        return 0.0
    pts = pts.reshape(-1, ref.size) if pts.ndim == 1 else pts
    if pts.ndim != 2 or pts.shape[1] != ref.size:
        raise ValueError(f"points of shape {pts.shape} do not match a {ref.size}-D reference")
    if not np.isfinite(ref).all():
        raise ValueError(f"the hypervolume reference must be finite, got {ref.tolist()}")
    inside = (pts < ref).all(axis=1)  # NaN compares False, so NaN rows drop out here
    pts = pts[inside]
    if len(pts) == 0:
        return 0.0
    pts = np.unique(pts, axis=0)
    pts = pts[non_dominated(pts, ["minimize"] * ref.size)]
    return float(_hv(pts, ref))


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of points that are all strictly inside the reference box."""
    if len(pts) == 0:
        return 0.0
    dims = ref.size
    if dims == 1:
        return float(ref[0] - pts[:, 0].min())
    if dims == 2:
        order = np.argsort(pts[:, 0], kind="mergesort")
        xs, ys = pts[order, 0], pts[order, 1]
        best_y = np.minimum.accumulate(ys)
        widths = np.diff(np.append(xs, ref[0]))
        return float(np.sum(widths * (ref[1] - best_y)))
    # Slice along the last dimension: between consecutive levels the cross-section is the
    # (dims - 1)-D hypervolume of every point at or below the lower level.
    order = np.argsort(pts[:, -1], kind="mergesort")
    pts = pts[order]
    levels = np.append(pts[:, -1], ref[-1])
    total = 0.0
    for i in range(len(pts)):
        depth = levels[i + 1] - levels[i]
        if depth <= 0:
            continue
        total += depth * _hv(pts[: i + 1, :-1], ref[:-1])
    return total


def accuracy_latency_hypervolume(trials_or_front: pd.DataFrame, latency_ref_ms: float) -> float:
    """2-D hypervolume of (1 - accuracy, latency_ms / latency_ref_ms) against (1, 1).

    Latency is normalised by the reference, so the value is a fraction of the box
    [0, 1] x [0, latency_ref_ms] (0 = nothing dominated, 1 = perfect and instant), comparable
    across runs with the same reference. Uses ok rows with finite accuracy and latency;
    larger is better.
    """
    if not (isinstance(latency_ref_ms, Real) and math.isfinite(latency_ref_ms)) or (
        latency_ref_ms <= 0
    ):
        raise RunError(
            f"hypervolume latency reference must be a positive number of ms, got {latency_ref_ms!r}"
        )
    rows = trials_or_front[ok_mask(trials_or_front).to_numpy(dtype=bool)]
    error = 1.0 - numeric(rows, "accuracy")
    latency = numeric(rows, "latency_ms") / float(latency_ref_ms)
    pts = np.column_stack([error, latency])
    pts = pts[np.isfinite(pts).all(axis=1)]
    return hypervolume(pts, np.array([1.0, 1.0]))
