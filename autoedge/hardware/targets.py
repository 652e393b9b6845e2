"""Targets: where a candidate's latency comes from, and always labelled with which.

`host` is measured on this machine in ONNX Runtime (and each measurement also feeds its
latency model, see host_store); the edge devices (`rpi4`, `jetson-nano`, `jetson-orin-nano` =
`jetson`, `jetson-xavier`) are predicted by their calibrated per-operator model; and
`agent:HOST:PORT` is measured on whatever device runs `autoedge agent serve`. A target sees only
an ONNX file, never how the model was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from autoedge.cache import cache_root
from autoedge.errors import TargetError
from autoedge.hardware.calibration import predict_with
from autoedge.hardware.host_latency import LatencyMeasurement, measure_host_latency
from autoedge.hardware.latency_interval import LatencyInterval
from autoedge.hardware.onnx_graph import (
    OpWork,
    compute_precisions,
    graph_work,
    ops_at,
    ops_precision,
)
from autoedge.hardware.profiles import TargetProfile, load_profile, shipped_profiles


class Target(Protocol):
    """Something that can say how long one batch-1 inference of an ONNX model takes.

    `precisions` are what the target's runtime really executes ("fp32", "fp16", "int8").
    `precision` asks for the model to be timed as run at that precision (None: as the graph
    says, operator by operator: int8 where it is QDQ-quantized, fp16 where its tensors are,
    else fp32); a target that cannot run it raises TargetError.
    """

    name: str
    precisions: tuple[str, ...]

    def latency(
        self, onnx_path: Path, *, runs: int, precision: str | None = None
    ) -> LatencyMeasurement: ...


@dataclass(frozen=True)
class HostTarget:
    """This machine, measured in ONNX Runtime on the CPU with pinned threads."""

    profile: TargetProfile
    name: str = "host"
    threads: int = 1
    record: bool = True  # keep each measurement for the host latency model

    @property
    def precisions(self) -> tuple[str, ...]:
        return self.profile.precisions

    def latency(
        self, onnx_path: Path, *, runs: int, precision: str | None = None
    ) -> LatencyMeasurement:
        ops = graph_work(onnx_path) if self.record or precision else None
        if precision is not None:
            self.profile.check_precision(precision)
            actual = ops_precision(ops or [])
            if actual != precision:
                raise TargetError(
                    f"host measures the graph as it is ({actual}); export the model at "
                    f"{precision} to time it at {precision}"
                )
        result = measure_host_latency(onnx_path, threads=self.threads, runs=runs)
        if self.record and ops is not None:
            from autoedge.hardware.host_store import record_measurement

            record_measurement(self.profile, ops, result)
        return result


@dataclass(frozen=True)
class PredictedTarget:
    """An edge device predicted by its profile's calibrated per-operator latency model."""

    profile: TargetProfile
    origin: str  # where the profile was read from

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def precisions(self) -> tuple[str, ...]:
        return self.profile.precisions

    def latency(
        self, onnx_path: Path, *, runs: int = 0, precision: str | None = None
    ) -> LatencyMeasurement:
        ops = graph_work(onnx_path)
        work = runnable_work(self.profile, ops, precision)
        prec = ops_precision(work)
        ms = predict_with(self.profile, work)
        cal = self.profile.calibration
        return predicted_latency(
            ms,
            f"{self.profile.name} {prec} model ({self.origin}); calibration: {cal.source}",
            self.profile.interval(),
        )


def runnable_work(profile: TargetProfile, ops: list[OpWork], precision: str | None) -> list[OpWork]:
    """`ops` at `precision` (None: each at its own), checked to be runnable on `profile`."""
    work = ops_at(ops, precision)
    for prec in sorted(compute_precisions(work)) or ["fp32"]:
        profile.check_precision(prec)
    return work


def predicted_latency(
    ms: float, detail: str, interval: LatencyInterval | None = None
) -> LatencyMeasurement:
    """A latency that a model predicted (no runs, no spread), labelled `predicted`, with the
    profile's 80% interval around it when it has one."""
    low, high = interval.bounds(ms) if interval is not None else (None, None)
    return LatencyMeasurement(
        low_ms=low,
        high_ms=high,
        median_ms=ms,
        p90_ms=ms,
        p10_ms=ms,
        min_ms=ms,
        spread=0.0,
        runs=0,
        threads=0,
        source="predicted",
        detail=detail,
    )


def user_profile_path(name: str) -> Path:
    """Where `autoedge calibrate` writes a target's refitted profile for later runs."""
    return cache_root() / "targets" / f"{name}.yaml"


def target_profile(name: str) -> tuple[TargetProfile, str]:
    """The profile for a target name or alias (a refitted one first), and where it came from.

    A path to a profile YAML is also accepted.
    """
    if name.endswith((".yaml", ".yml")):
        return load_profile(name), name
    shipped = shipped_profiles()
    canonical = next(
        (p.name for p in shipped.values() if name == p.name or name in p.aliases), None
    )
    if canonical is None:
        raise TargetError(
            f"unknown target {name!r}; choose one of: {', '.join(list_targets())}, "
            "agent:HOST:PORT, or a profile .yaml"
        )
    user = user_profile_path(canonical)
    if user.is_file():
        return load_profile(user), str(user)
    return shipped[canonical], "shipped"


def list_targets() -> list[str]:
    """Names of the shipped targets (aliases not repeated)."""
    return sorted(shipped_profiles())


def get_target(name: str) -> Target:
    """A target by name, alias, `agent:HOST:PORT` or profile path; unknown names list the valid."""
    if name.startswith("agent:"):
        from autoedge.hardware.agent_client import AgentTarget

        return AgentTarget.from_spec(name)
    profile, origin = target_profile(name)
    if profile.mode == "measured":
        if profile.name != "host":
            raise TargetError(f"profile {profile.name} is measured; only host measures locally")
        return HostTarget(profile)
    return PredictedTarget(profile, origin)
