"""Column names of the trials table that every results module agrees on."""

from __future__ import annotations

BASE_COLUMNS: tuple[str, ...] = (
    "number",
    "state",
    "key",
    "started_at",
    "finished_at",
    "reused_from",
    "baseline",
    "feasible",
    "error",
    "rung",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "accuracy_torch",
    "accuracy_gap",
    "latency_ms",
    "latency_p90_ms",
    "latency_p10_ms",
    "latency_low_ms",
    "latency_high_ms",
    "latency_search_ms",
    "latency_spread",
    "latency_source",
    "target",
    "size_bytes",
    "onnx_bytes",
    "onnx_fp32_bytes",
    "int8",
    "ships_as",
    "precision_map",
    "params",
    "macs",
    "peak_memory_bytes",
    "test_images",
    "steps",
    "teacher",
    "wall_s",
    "arch",
)
"""The fixed leading columns of trials.csv, in order; gene columns follow them."""

METRIC_COLUMNS: tuple[str, ...] = BASE_COLUMNS[
    BASE_COLUMNS.index("rung") : BASE_COLUMNS.index("wall_s") + 1
]
"""Per-trial measurements (NaN for failed or interrupted trials)."""

TEXT_COLUMNS: tuple[str, ...] = (
    "state",
    "key",
    "started_at",
    "finished_at",
    "baseline",
    "error",
    "latency_source",
    "ships_as",
    "precision_map",
    "arch",
)
"""Columns read back from CSV as strings, with missing values as ""."""

LATENCY_BOUNDS: dict[str, str] = {"point": "latency_ms", "high": "latency_high_ms"}
"""What a latency bound binds: the point latency, or the upper end of its 80% range."""

OBJECTIVE_COLUMNS: dict[str, tuple[str, str]] = {
    "accuracy": ("accuracy", "maximize"),
    "latency": ("latency_ms", "minimize"),
    "size": ("size_bytes", "minimize"),
    "memory": ("peak_memory_bytes", "minimize"),
}
"""Objective name -> (trials column, direction)."""

LATER_COLUMNS: tuple[str, ...] = (
    "ships_as",
    "precision_map",
    "rung",
    "accuracy_low",
    "accuracy_high",
    "latency_p10_ms",
    "latency_low_ms",
    "latency_high_ms",
    "latency_search_ms",
    "steps",
)
"""Columns added after the first runs were written: a table without them reads as unknown."""
