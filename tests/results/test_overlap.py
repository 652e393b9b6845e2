"""Intervals on the front: the Wilson interval of an accuracy and which points overlap."""

from __future__ import annotations

import pandas as pd
import pytest

from autoedge.evaluate.result import wilson_interval
from autoedge.results.overlap import indistinguishable, objective_interval


def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = wilson_interval(0.8, 2000)
    assert (round(low, 4), round(high, 4)) == (0.7819, 0.8169)  # about +-1.8 points
    low, high = wilson_interval(1.0, 50)
    assert high == 1.0 and 0.92 < low < 0.94  # never past 1, unlike the normal interval
    assert wilson_interval(0.5, 0) == (0.0, 1.0)


def _row(n: int, acc: float, lo: float, hi: float, ms: float, p10: float, p90: float, size: int):
    return {
        "number": n,
        "accuracy": acc,
        "accuracy_low": lo,
        "accuracy_high": hi,
        "latency_ms": ms,
        "latency_p10_ms": p10,
        "latency_p90_ms": p90,
        "size_bytes": size,
    }


def test_points_overlapping_on_every_objective_are_indistinguishable() -> None:
    front = pd.DataFrame(
        [
            _row(1, 0.90, 0.88, 0.92, 1.0, 0.9, 1.2, 100),
            _row(2, 0.91, 0.89, 0.93, 1.1, 1.0, 1.3, 200),  # overlaps 1 on accuracy, latency
            _row(3, 0.95, 0.94, 0.96, 1.15, 1.1, 1.2, 200),  # accuracy apart from both
        ]
    )
    assert indistinguishable(front, ("accuracy", "latency")) == {1: [2], 2: [1]}
    # size is exact: 1 and 2 differ there, so with size they can be told apart
    assert indistinguishable(front, ("accuracy", "latency", "size")) == {}


def test_an_interval_missing_is_a_point() -> None:
    row = {"latency_ms": 2.0, "latency_p10_ms": float("nan"), "latency_p90_ms": 3.0}
    assert objective_interval(row, "latency_ms") == (2.0, 2.0)
    assert objective_interval({"size_bytes": 5}, "size_bytes") == (5.0, 5.0)
    with pytest.raises(KeyError):
        indistinguishable(pd.DataFrame([{"number": 1}]), ("nope",))
