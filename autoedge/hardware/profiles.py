"""Target profiles: what a device's runtime executes, how fast, and the fitted latency model.

Each shipped target is a YAML file under autoedge/hardware/profiles/. A profile holds the
runtime it models, the precisions that runtime really executes, nominal peak compute per
precision and memory bandwidth (the roofline the latency model starts from), the op types the
runtime fuses into convolutions, and the calibrated coefficients with where they came from.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from autoedge.atomic_files import write_text_atomic
from autoedge.errors import TargetError
from autoedge.fields import reject_unknown_fields
from autoedge.hardware.latency_interval import LatencyInterval
from autoedge.hardware.onnx_graph import ELEMENT_BYTES

PROFILE_DIR = Path(__file__).parent / "profiles"
#: How a target gets its latency: measured on the device, or predicted by the fitted model.
MODES = ("measured", "predicted")


@dataclass(frozen=True)
class Calibration:
    """Where a profile's coefficients came from and how well they fit."""

    source: str  # the measurements (with their provenance) or "uncalibrated: ..."
    rows: int = 0
    fitted_at: str = ""
    fit: dict[str, float] = field(default_factory=dict)  # in-sample mape / within_10 / tau
    cross_validation: dict[str, Any] = field(default_factory=dict)  # leave-one-family-out
    interval: dict[str, Any] = field(default_factory=dict)  # LatencyInterval json; {}: none
    sessions: dict[str, float] = field(default_factory=dict)  # session -> latency scale

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def held_out_mape(self) -> float | None:
        """Mean absolute % error over every held-out measurement (families weighted by their
        rows), None without a cross-validation."""
        parts = [q["model"] for q in self.cross_validation.values() if "model" in q]
        n = sum(p["n"] for p in parts)
        return sum(p["mape"] * p["n"] for p in parts) / n if n else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        reject_unknown_fields(cls, data, "calibration fields", TargetError)
        return cls(**data)


@dataclass(frozen=True)
class TargetProfile:
    """One target device + runtime, and the latency model fitted for it."""

    name: str
    description: str
    runtime: str
    mode: str  # "measured" or "predicted"
    precisions: tuple[str, ...]
    peak_gmacs: dict[str, float]  # per precision, giga multiply-accumulates per second
    memory_gbs: float  # memory bandwidth, GB/s
    fuse: tuple[str, ...]  # op types the runtime folds into a preceding convolution
    coefficients: dict[str, float]  # "kind@precision" (x roofline time), "op_ms", "model_ms"
    calibration: Calibration
    aliases: tuple[str, ...] = ()
    kind_groups: dict[str, str] = field(default_factory=dict)  # op kinds sharing a coefficient
    device_id: str = ""  # the device's name in measurement files (their `device` column)
    runtime_version: str = ""  # the runtime version (measurement session) the fit describes
    notes: str = ""

    def __post_init__(self) -> None:
        where = f"target profile {self.name!r}"
        if self.mode not in MODES:
            raise TargetError(f"{where}: mode {self.mode!r} is not one of {list(MODES)}")
        bad = [p for p in self.precisions if p not in ELEMENT_BYTES]
        if not self.precisions or bad:
            raise TargetError(
                f"{where}: precisions {list(self.precisions)} must be a non-empty subset of "
                f"{list(ELEMENT_BYTES)}"
            )
        for p in self.precisions:
            v = self.peak_gmacs.get(p)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise TargetError(f"{where}: peak_gmacs.{p} must be a positive number, got {v!r}")
        if not (isinstance(self.memory_gbs, int | float) and self.memory_gbs > 0):
            raise TargetError(f"{where}: memory_gbs must be a positive number")
        for k, v in self.coefficients.items():
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise TargetError(f"{where}: coefficient {k} must be a number >= 0, got {v!r}")

    def check_precision(self, precision: str) -> None:
        """Raise TargetError unless the target's runtime executes `precision`."""
        if precision not in self.precisions:
            raise TargetError(
                f"target {self.name} ({self.runtime}) does not execute {precision}; it runs "
                f"{', '.join(self.precisions)}"
            )

    def interval(self) -> LatencyInterval | None:
        """The 80% interval of this profile's predictions, None when it has none."""
        data = self.calibration.interval
        return LatencyInterval.from_json(data) if data else None

    def with_calibration(
        self, coefficients: dict[str, float], calibration: Calibration
    ) -> TargetProfile:
        return replace(self, coefficients=dict(coefficients), calibration=calibration)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["precisions"] = list(self.precisions)
        data["fuse"] = list(self.fuse)
        data["aliases"] = list(self.aliases)
        data["calibration"] = self.calibration.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetProfile:
        if not isinstance(data, dict):
            raise TargetError("a target profile must be a YAML mapping")
        reject_unknown_fields(cls, data, "target profile fields", TargetError)
        try:
            return cls(
                **{
                    **data,
                    "precisions": tuple(data["precisions"]),
                    "fuse": tuple(data.get("fuse", ())),
                    "aliases": tuple(data.get("aliases", ())),
                    "peak_gmacs": {str(k): float(v) for k, v in data["peak_gmacs"].items()},
                    "coefficients": {
                        str(k): float(v) for k, v in (data.get("coefficients") or {}).items()
                    },
                    "calibration": Calibration.from_json(data.get("calibration") or {"source": ""}),
                }
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise TargetError(f"target profile {data.get('name')!r} is malformed: {e}") from e


def load_profile(path: str | Path) -> TargetProfile:
    """Read a profile YAML (a shipped one or one written by `autoedge calibrate`)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as e:
        raise TargetError(f"cannot read target profile {p}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise TargetError(f"target profile {p} is not valid YAML: {e}") from e
    return TargetProfile.from_json(data)


def save_profile(profile: TargetProfile, path: str | Path) -> Path:
    """Write `profile` as YAML (atomically)."""
    text = yaml.safe_dump(profile.to_json(), sort_keys=False, width=100)
    write_text_atomic(path, text)
    return Path(path)


def shipped_profiles() -> dict[str, TargetProfile]:
    """Every profile shipped in the package, by name."""
    return {p.name: p for p in (load_profile(f) for f in sorted(PROFILE_DIR.glob("*.yaml")))}
