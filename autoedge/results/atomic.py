"""Crash-safe file writes: write a temp file beside the target, fsync, then os.replace."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoedge.atomic_files import write_bytes_atomic, write_text_atomic, write_with

__all__ = [
    "jsonable",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Replace `path` with `data` as JSON (indent 2, sorted keys, trailing newline).

    numpy scalars/arrays and Paths are converted; NaN and infinities become null so the
    file stays strict JSON.
    """
    text = json.dumps(jsonable(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def write_csv_atomic(path: str | Path, df: pd.DataFrame) -> None:
    """Replace `path` with `df` as CSV (no index) atomically."""
    write_with(path, lambda f: df.to_csv(f, index=False), binary=False)


def jsonable(value: Any) -> Any:
    """`value` with numpy/pandas scalars, Paths and non-finite floats made plain JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
