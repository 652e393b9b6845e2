"""Latency of an ONNX model on this machine, measured in ONNX Runtime (batch 1)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnxruntime as ort

from autoedge.errors import AutoEdgeError
from autoedge.hardware.onnx_runtime import open_session

K = TypeVar("K")


@dataclass(frozen=True)
class LatencyMeasurement:
    """Wall-clock latency of single-image inference, in milliseconds."""

    median_ms: float
    p90_ms: float
    min_ms: float
    spread: float  # (p90 - min) / median: how noisy the machine was
    runs: int
    threads: int
    source: str = "measured"  # "measured" on a device, or "predicted" by a calibrated model
    detail: str = ""  # where the number came from: the runtime's versions, or the calibration
    p10_ms: float | None = None  # with p90_ms, the spread of the runs (None: not measured)
    low_ms: float | None = None  # a prediction's 80% interval (None: measured, see the runs)
    high_ms: float | None = None

    @property
    def bounds_ms(self) -> tuple[float, float]:
        """The 80% range of the latency: a prediction's interval, else the runs' p10-p90."""
        if self.low_ms is not None and self.high_ms is not None:
            return self.low_ms, self.high_ms
        return (self.p10_ms if self.p10_ms is not None else self.min_ms), self.p90_ms

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def measure_host_latency(
    path: str | Path, *, threads: int = 1, warmup: int = 5, runs: int = 30, seed: int = 0
) -> LatencyMeasurement:
    """Run the model `warmup` times, then time `runs` single-image inferences.

    Threads are pinned (`threads` intra-op, one inter-op) so numbers compare across runs.
    """
    if threads < 1 or warmup < 0 or runs < 3:
        raise AutoEdgeError("latency: need threads >= 1, warmup >= 0 and runs >= 3")
    session = open_session(path, threads=threads)
    return time_session(session, threads=threads, warmup=warmup, runs=runs, seed=seed)


def time_session(
    session: ort.InferenceSession, *, threads: int, warmup: int, runs: int, seed: int = 0
) -> LatencyMeasurement:
    """Time an open session: `warmup` untimed runs, then `runs` (>= 3) timed batch-1 runs on
    a seeded random float32 input; `threads` is what the session was opened with."""
    inp = session.get_inputs()[0]
    shape = [1 if not isinstance(d, int) or d <= 0 else d for d in inp.shape]
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    feed = {inp.name: x}
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    median = statistics.median(times)
    p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    p10 = times[round(0.1 * (len(times) - 1))]
    return LatencyMeasurement(
        p10_ms=p10,
        median_ms=median,
        p90_ms=p90,
        min_ms=times[0],
        spread=(p90 - times[0]) / median if median > 0 else 0.0,
        runs=runs,
        threads=threads,
    )


def time_interleaved(
    models: Mapping[K, str | Path],
    measure: Callable[[str | Path], LatencyMeasurement],
    *,
    rounds: int,
) -> dict[K, list[LatencyMeasurement]]:
    """Each model measured `rounds` times, the models taken in turn within every round, so
    that the machine's drift hits them alike; per key, its measurements in round order."""
    seen: dict[K, list[LatencyMeasurement]] = {key: [] for key in models}
    for _ in range(rounds):
        for key, path in models.items():
            seen[key].append(measure(path))
    return seen
