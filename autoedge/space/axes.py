"""Search axes: a finite choice list, an integer range, or a stepped float range.

An axis only knows its values; what a value means (a kernel size, a pruning ratio) is the job of
the space that holds it. Axes sample through a `GeneSource`, so a random sampler and an Optuna
trial drive the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

Value = int | float | str


class GeneSource(Protocol):
    """Something that picks gene values by name: a seeded RNG, an Optuna trial, a replay."""

    def categorical(self, name: str, choices: tuple[Value, ...]) -> Value:
        """Pick one of `choices` for gene `name`."""
        ...

    def integer(self, name: str, low: int, high: int) -> int:
        """Pick an integer in [low, high] for gene `name`."""
        ...

    def real(self, name: str, low: float, high: float, step: float) -> float:
        """Pick a float on the grid low, low+step, ..., high for gene `name`."""
        ...


@dataclass(frozen=True)
class Choice:
    """A finite, ordered list of allowed values."""

    values: tuple[Value, ...]

    def sample(self, source: GeneSource, name: str) -> Value:
        if len(self.values) == 1:
            return self.values[0]
        return source.categorical(name, self.values)

    def contains(self, value: Any) -> bool:
        return any(_same(value, v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(str(v) for v in self.values)

    def to_yaml(self) -> list[Value]:
        return list(self.values)


@dataclass(frozen=True)
class IntRange:
    """All integers from `low` to `high` inclusive."""

    low: int
    high: int

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1))

    def sample(self, source: GeneSource, name: str) -> int:
        if self.low == self.high:
            return self.low
        return source.integer(name, self.low, self.high)

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (self.low <= value <= self.high)
        )

    def describe(self) -> str:
        return f"an integer in {self.low}..{self.high}"

    def to_yaml(self) -> dict[str, int]:
        return {"low": self.low, "high": self.high}


@dataclass(frozen=True)
class FloatRange:
    """Floats on the grid `low, low+step, ..., high` (`high` must sit on the grid)."""

    low: float
    high: float
    step: float

    @property
    def values(self) -> tuple[float, ...]:
        n = round((self.high - self.low) / self.step)
        return tuple(canonical_float(self.low + i * self.step) for i in range(n + 1))

    def sample(self, source: GeneSource, name: str) -> float:
        if self.low == self.high:
            return canonical_float(self.low)
        return canonical_float(source.real(name, self.low, self.high, self.step))

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not self.low - 1e-9 <= value <= self.high + 1e-9:
            return False
        k = (value - self.low) / self.step
        return abs(k - round(k)) < 1e-6

    def describe(self) -> str:
        return f"a value in {self.low}..{self.high} in steps of {self.step}"

    def to_yaml(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high, "step": self.step}


Axis = Choice | IntRange | FloatRange


def canonical_float(x: float) -> float:
    """Round to 6 decimals so that grid arithmetic (0.1 * 3) gives one stable value."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"{x!r} is not a number")
    r = round(float(x), 6)
    return 0.0 if r == 0 else r


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-9)
    return a == b
