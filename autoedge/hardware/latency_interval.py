"""How far a predicted latency may be from the device's: intervals from held-out residuals.

A profile's latency model is scored by leaving each network family out of the fit in turn
and predicting it (see calibration.calibrate). The log-ratios log(measured / predicted) of
those held-out predictions are what the model gets wrong on networks it has not seen; their
10th and 90th percentiles, as factors on a prediction, are its 80% interval. A transfer (one
device's efficiencies on another's peaks) adds the error of moving between devices: the
residuals of a transfer measured between two devices that both have measurements, added to
the held-out ones pair by pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from autoedge.errors import TargetError
from autoedge.fields import reject_unknown_fields

#: The share of devices' latencies an interval is meant to hold.
LEVEL = 0.8


@dataclass(frozen=True)
class LatencyInterval:
    """Factors on a predicted latency that bound the measured one with `level` odds."""

    low: float  # <= 1
    high: float  # >= 1
    level: float = LEVEL
    n: int = 0  # held-out residuals it was taken from
    basis: str = ""  # how: "leave-one-family-out residuals ...", "transfer ..."

    def __post_init__(self) -> None:
        ok = all(isinstance(v, int | float) and math.isfinite(v) for v in (self.low, self.high))
        if not ok or not 0 < self.low <= 1 <= self.high:
            raise TargetError(
                f"a latency interval needs 0 < low <= 1 <= high, got {self.low}, {self.high}"
            )

    def bounds(self, ms: float) -> tuple[float, float]:
        """(low, high) milliseconds around the prediction `ms`."""
        return ms * self.low, ms * self.high

    @property
    def width(self) -> float:
        """Relative width (high - low) / point: 0.5 means the interval spans half the value."""
        return self.high - self.low

    def to_json(self) -> dict[str, float | int | str]:
        return {**asdict(self), "low": round(self.low, 4), "high": round(self.high, 4)}

    @classmethod
    def from_json(cls, data: dict) -> LatencyInterval:
        reject_unknown_fields(cls, data, "latency interval fields", TargetError)
        return cls(**data)


def log_ratios(predicted: Sequence[float], measured: Sequence[float]) -> list[float]:
    """log(measured / predicted) per model: > 0 where the model predicted too little."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    if len(p) != len(m) or np.any(p <= 0) or np.any(m <= 0):
        raise TargetError("residuals need as many positive predictions as measurements")
    return [float(v) for v in np.log(m / p)]


def interval_from(
    residuals: Sequence[float], *, basis: str, level: float = LEVEL
) -> LatencyInterval:
    """The `level` interval of log-ratio `residuals` (empirical quantiles), widened to hold
    the point estimate itself."""
    r = np.asarray(residuals, dtype=float)
    if len(r) == 0:
        raise TargetError("an interval needs at least one held-out residual")
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return LatencyInterval(
        low=float(min(1.0, math.exp(lo))),
        high=float(max(1.0, math.exp(hi))),
        level=level,
        n=len(r),
        basis=basis,
    )


def added(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Every sum of one residual of `a` and one of `b`: the errors of two independent steps
    (a held-out network, then a move to another device) taken one after the other."""
    return [float(x + y) for x in a for y in b]


def coverage(intervals: Sequence[tuple[float, float]], measured: Sequence[float]) -> float:
    """Share of `measured` values inside their (low, high) interval."""
    if not measured:
        return float("nan")
    inside = [lo <= m <= hi for (lo, hi), m in zip(intervals, measured, strict=True)]
    return float(np.mean(inside))


__all__ = [
    "LEVEL",
    "LatencyInterval",
    "added",
    "coverage",
    "interval_from",
    "log_ratios",
]
