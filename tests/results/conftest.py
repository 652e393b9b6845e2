"""Shared builders for small hand-made trials tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoedge.results.columns import BASE_COLUMNS


def trial_row(number: int, **values: Any) -> dict[str, Any]:
    """One trials-table row with contract defaults (an ok, feasible, non-reused trial)."""
    row: dict[str, Any] = {c: np.nan for c in BASE_COLUMNS}
    row.update(
        number=number,
        state="ok",
        key=f"k{number:04d}",
        started_at="2025-01-01T00:00:00",
        finished_at="2025-01-01T00:01:00",
        baseline="",
        feasible=True,
        error="",
        accuracy=0.5,
        latency_ms=10.0,
        latency_source="measured",
        size_bytes=100_000,
        params=50_000,
        macs=1_000_000,
        peak_memory_bytes=200_000,
        arch=f"s0: conv3x3 w{number}",
        resolution=96,
    )
    if values.get("state", "ok") != "ok":
        for c in ("accuracy", "latency_ms", "size_bytes", "params", "macs", "peak_memory_bytes"):
            row[c] = np.nan
        row["feasible"] = False
    row.update(values)
    return row


@pytest.fixture
def make_trials() -> Callable[..., pd.DataFrame]:
    """make_trials(dict(...), dict(...)) -> DataFrame; row i gets number i unless given."""

    def build(*rows: dict[str, Any]) -> pd.DataFrame:
        built = [trial_row(r.pop("number", i), **r) for i, r in enumerate(dict(r) for r in rows)]
        return pd.DataFrame(built)

    return build
