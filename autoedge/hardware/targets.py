"""Targets: where a candidate's latency comes from. A registry; `host` measures this machine.

A target sees only an ONNX file, never how the model was made. The targets issue adds
calibrated predictors for edge devices and remote agents behind the same interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from autoedge.errors import AutoEdgeError
from autoedge.hardware.host_latency import LatencyMeasurement, measure_host_latency


class Target(Protocol):
    """Something that can say how long one batch-1 inference of an ONNX model takes."""

    name: str

    def latency(self, onnx_path: Path, *, runs: int) -> LatencyMeasurement: ...


@dataclass(frozen=True)
class HostTarget:
    """This machine, measured in ONNX Runtime on the CPU with pinned threads."""

    name: str = "host"
    threads: int = 1

    def latency(self, onnx_path: Path, *, runs: int) -> LatencyMeasurement:
        return measure_host_latency(onnx_path, threads=self.threads, runs=runs)


_REGISTRY: dict[str, Callable[[], Target]] = {"host": HostTarget}


def list_targets() -> list[str]:
    """Names of the registered targets."""
    return sorted(_REGISTRY)


def get_target(name: str) -> Target:
    """A target by name; an unknown name errors with the valid ones."""
    if name not in _REGISTRY:
        raise AutoEdgeError(f"unknown target {name!r}; choose one of: {', '.join(list_targets())}")
    return _REGISTRY[name]()
