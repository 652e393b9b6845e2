"""What a search optimises (objectives) and what it must respect (constraints)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from autoedge.errors import SearchError
from autoedge.evaluate.result import EvalResult
from autoedge.fields import reject_unknown_fields
from autoedge.results.columns import LATENCY_BOUNDS, OBJECTIVE_COLUMNS

DEFAULT_OBJECTIVES: tuple[str, ...] = ("accuracy", "latency", "size")


def parse_objectives(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """`"accuracy,latency,size"` -> a tuple of known objective names (accuracy required)."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in OBJECTIVE_COLUMNS]
    if unknown:
        raise SearchError(
            f"unknown objective {unknown[0]!r}; choose from: {', '.join(OBJECTIVE_COLUMNS)}"
        )
    if len(set(names)) != len(names):
        raise SearchError(f"objectives {','.join(names)} name one twice")
    if "accuracy" not in names or len(names) < 2:
        raise SearchError(
            "objectives must include accuracy and at least one cost "
            f"(latency, size, memory), e.g. accuracy,latency; got {','.join(names) or 'none'}"
        )
    return tuple(names)


def objective_directions(objectives: tuple[str, ...]) -> list[str]:
    """Optuna-style directions ("maximize"/"minimize") in objective order."""
    return [OBJECTIVE_COLUMNS[n][1] for n in objectives]


def metric_names(objectives: tuple[str, ...]) -> list[str]:
    """The study's metric names: each objective with its unit (``latency_ms``, ...)."""
    return [OBJECTIVE_COLUMNS[n][0] for n in objectives]


def objective_values(objectives: tuple[str, ...], result: EvalResult) -> list[float] | None:
    """The result's value per objective, or None when one is missing or not finite."""
    values = []
    for name in objectives:
        v = getattr(result, OBJECTIVE_COLUMNS[name][0])
        if v is None or not math.isfinite(float(v)):
            return None
        values.append(float(v))
    return values


def minimised_values(objectives: tuple[str, ...], result: EvalResult) -> tuple[float, ...] | None:
    """`objective_values` turned so that lower is better on every objective (maximised ones
    negated), as non-dominated sorting takes them; None when one is missing."""
    values = objective_values(objectives, result) if result.ok else None
    if values is None:
        return None
    signs = [-1.0 if d == "maximize" else 1.0 for d in objective_directions(objectives)]
    return tuple(s * v for s, v in zip(signs, values, strict=True))


@dataclass(frozen=True)
class Constraints:
    """Upper bounds on costs and a lower bound on accuracy (a fraction); None = unbounded.

    kB means 1000 bytes. `violations` follows Optuna's convention: one value per bound,
    <= 0 where it is met, the relative excess where it is not. `latency_bound` says which
    latency `max_latency_ms` binds: "point" (the measured median or the prediction) or "high"
    (the upper end of its 80% range: a prediction's interval, a measurement's p90).
    """

    max_latency_ms: float | None = None
    max_size_kb: float | None = None
    max_memory_kb: float | None = None
    min_accuracy: float | None = None
    latency_bound: str = "point"

    def __post_init__(self) -> None:
        if self.latency_bound not in LATENCY_BOUNDS:
            raise SearchError(
                f"--latency-bound must be one of {', '.join(LATENCY_BOUNDS)}, got "
                f"{self.latency_bound!r}"
            )
        for name, value in self.limits().items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SearchError(f"--{name.replace('_', '-')} must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise SearchError(f"--{name.replace('_', '-')} must be > 0, got {value}")
        if self.min_accuracy is not None and self.min_accuracy > 1:
            raise SearchError(
                f"--min-accuracy is a fraction between 0 and 1 (0.85 = 85%), got "
                f"{self.min_accuracy}"
            )

    def limits(self) -> dict[str, float | None]:
        """The bounds by name (None: unbounded)."""
        return {k: v for k, v in asdict(self).items() if k != "latency_bound"}

    @property
    def active(self) -> bool:
        return any(v is not None for v in self.limits().values())

    def _bounds(self) -> list[tuple[str, str, float, float]]:
        """(name, metric, bound, sign): sign +1 for an upper bound, -1 for a lower one."""
        out = []
        if self.max_latency_ms is not None:
            out.append(("max_latency_ms", self.latency_column, self.max_latency_ms, 1.0))
        if self.max_size_kb is not None:
            out.append(("max_size_kb", "size_bytes", self.max_size_kb * 1000, 1.0))
        if self.max_memory_kb is not None:
            out.append(("max_memory_kb", "peak_memory_bytes", self.max_memory_kb * 1000, 1.0))
        if self.min_accuracy is not None:
            out.append(("min_accuracy", "accuracy", self.min_accuracy, -1.0))
        return out

    @property
    def latency_column(self) -> str:
        """The result field `max_latency_ms` binds."""
        return LATENCY_BOUNDS[self.latency_bound]

    def violations(self, result: EvalResult | None) -> dict[str, float]:
        """Per active bound, <= 0 when met (a failed result violates each by 1)."""
        out = {}
        for name, metric, bound, sign in self._bounds():
            value = getattr(result, metric) if result is not None and result.ok else None
            out[name] = 1.0 if value is None else sign * (float(value) - bound) / bound
        return out

    def satisfied(self, result: EvalResult | None) -> bool:
        return (
            result is not None
            and result.ok
            and all(v <= 0 for v in self.violations(result).values())
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Constraints:
        reject_unknown_fields(cls, data, "constraints", SearchError)
        return cls(**data)

    def describe(self) -> str:
        parts = []
        if self.max_latency_ms is not None:
            which = " (upper end of its 80% range)" if self.latency_bound == "high" else ""
            parts.append(f"latency{which} <= {self.max_latency_ms:g} ms")
        if self.max_size_kb is not None:
            parts.append(f"size <= {self.max_size_kb:g} kB")
        if self.max_memory_kb is not None:
            parts.append(f"peak memory <= {self.max_memory_kb:g} kB")
        if self.min_accuracy is not None:
            parts.append(f"accuracy >= {100 * self.min_accuracy:g}%")
        return ", ".join(parts) or "none"
