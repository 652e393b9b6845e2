"""EvalResult: everything one evaluation measured about one candidate, or why it failed."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from autoedge.errors import AutoEdgeError
from autoedge.fields import reject_unknown_fields

OK = "ok"
FAILED = "failed"
#: The evaluation raised an exception of autoedge's own code (a bug), not the candidate's.
ERROR = "error"
#: Flag the ONNX model when its accuracy differs from PyTorch's by more than this (points).
ACCURACY_GAP_POINTS = 1.0


@dataclass(frozen=True)
class EvalResult:
    """A frozen record of one evaluation. Metrics are None unless `status` is ``ok``.

    ``failed``: the candidate's own failure (a diverging loss, out of memory, past its time
    limit, a graph the runtime refuses). ``error``: an exception in autoedge's own code (a
    bug), with its `traceback`; never mistaken for a bad candidate.

    accuracy is top-1 (0..1) of the exported ONNX model run in ONNX Runtime on the test split,
    accuracy_low / accuracy_high its 95% Wilson interval over the `test_images` it was measured
    on; `rung` is the multi-fidelity rung it was measured at (0: the first or only one) and
    `steps` the optimiser steps the network had trained by then; accuracy_torch is the fake-
    quantized PyTorch model's on the same images. The deployed model ships each stage at the
    precision its genes say: `precision_map` lists them stage by stage
    ("int8|fp32|int8-weights"), `ships_as` sums them up (fp32, fp16, int8, int8-weights or
    mixed). size_bytes is the deployed model's weights as stored (its initializers, scales and
    zero points included); onnx_bytes is the deployed file. peak_memory_bytes is the largest set
    of live activations during one batch-1 forward pass of the deployed model.
    """

    key: str
    status: str
    error: str | None = None
    accuracy: float | None = None
    accuracy_low: float | None = None
    accuracy_high: float | None = None
    accuracy_torch: float | None = None
    accuracy_gap: bool | None = None
    latency_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p10_ms: float | None = None
    latency_low_ms: float | None = None  # 80% range: a prediction's interval, else p10 of runs
    latency_high_ms: float | None = None  # (p90 of the runs for a measured latency)
    latency_search_ms: float | None = None
    latency_spread: float | None = None
    latency_source: str | None = None
    target: str = "host"
    size_bytes: int | None = None
    onnx_bytes: int | None = None
    onnx_fp32_bytes: int | None = None
    int8: bool | None = None
    ships_as: str | None = None
    precision_map: str | None = None
    params: int | None = None
    macs: int | None = None
    peak_memory_bytes: int | None = None
    test_images: int | None = None
    rung: int = 0
    steps: int | None = None
    teacher: str | None = None
    wall_s: float = 0.0
    phase_s: dict[str, float] = field(default_factory=dict)
    fidelity: dict[str, Any] = field(default_factory=dict)
    candidate: dict[str, Any] = field(default_factory=dict)
    traceback: str | None = None

    def __post_init__(self) -> None:
        if self.status not in (OK, FAILED, ERROR):
            raise AutoEdgeError(f"result status {self.status!r} is not ok, failed or error")
        if self.status != OK and not self.error:
            raise AutoEdgeError(f"a {self.status} result needs an error message")

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN and infinities become None)."""
        return {k: _finite(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalResult:
        reject_unknown_fields(cls, data, "EvalResult fields")
        return cls(**data)


def failed_result(key: str, error: str, **fields: Any) -> EvalResult:
    """A `failed` record carrying the reason (and whatever was measured before it failed)."""
    return EvalResult(key=key, status=FAILED, error=error, **fields)


def error_result(key: str, error: str, traceback: str, **fields: Any) -> EvalResult:
    """An `error` record: autoedge's own code raised while evaluating (with the traceback)."""
    return EvalResult(key=key, status=ERROR, error=error, traceback=traceback, **fields)


def wilson_interval(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a proportion `p` seen over `n` trials."""
    if n <= 0:
        return 0.0, 1.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_gap(onnx_accuracy: float, torch_accuracy: float) -> bool:
    """Whether ONNX and PyTorch accuracies differ by more than ACCURACY_GAP_POINTS."""
    return abs(onnx_accuracy - torch_accuracy) * 100 > ACCURACY_GAP_POINTS


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    return v
