"""Check a predicted target on the real device as the search goes (`--validate-on agent:...`).

A search on a predicted target (`--target rpi4`) predicts every candidate from the profile's
calibrated model. With a device agent at hand, each candidate that joins the Pareto front is
also measured there (its deployed model.onnx, handed over by the search loop as the trial
ends), and the model is refitted online from those measurements, so the rest of the search
predicts with a model that has seen this very device: with few measurements one factor
rescales the shipped model (the geometric mean of measured / predicted); from
`FULL_REFIT_ROWS` on, every coefficient is refitted, pulled toward the rescaled ones, and kept
when it fits the measurements better than the rescaled model. The agent runs the graph as it
is, the graph the target predicted (each stage at its shipped precision).

The run folder keeps every measurement (`validation.jsonl`, one JSON object per line, read
back on resume) and the refitted profile (`validated_profile.yaml`, usable as
`--target RUN/validated_profile.yaml` by later runs).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoedge.errors import AutoEdgeError
from autoedge.hardware.calibration import predict_with, profile_features
from autoedge.hardware.host_latency import LatencyMeasurement
from autoedge.hardware.latency_interval import interval_from
from autoedge.hardware.latency_model import fit_coefficients, fit_quality, predict_ms
from autoedge.hardware.onnx_graph import graph_work, ops_precision, total_macs
from autoedge.hardware.profiles import Calibration, TargetProfile, load_profile, save_profile
from autoedge.hardware.targets import PredictedTarget, Target, predicted_latency, runnable_work

CHECKS_FILE = "validation.jsonl"
PROFILE_FILE = "validated_profile.yaml"
#: Under the run folder: each running trial's deployed model, until the search hands it over.
MODELS_DIR = ".validate"
DEPLOYED_MODEL = "model.onnx"
#: Device measurements from which every coefficient is refitted (below: one scale factor).
FULL_REFIT_ROWS = 8
#: Checks needed before the device's own residuals replace the profile's interval.
INTERVAL_CHECKS = 5
#: Timed runs per device measurement.
DEVICE_RUNS = 20


@dataclass(frozen=True)
class DeviceCheck:
    """One front point measured on the device: what the model predicted, what the device took."""

    number: int
    key: str
    precision: str
    predicted_ms: float  # by the model the search used for this trial
    shipped_ms: float  # by the target's own (shipped or user-calibrated) profile
    measured_ms: float
    macs: int
    model_sha256: str
    features: dict[str, float]
    device: str
    measured_at: str

    @property
    def error(self) -> float:
        """Relative error of the search's prediction: (predicted - measured) / measured."""
        return (self.predicted_ms - self.measured_ms) / self.measured_ms


class ValidatedTarget:
    """A predicted target whose front points are measured on `device` to refit its model.

    It predicts as the target does (labelled `predicted`), with the model refitted so far: a
    copy in a worker process reloads RUN/validated_profile.yaml when the search refits it.
    Each trial's deployed model is kept under `models` (the evaluation's workdir, see
    `model_dir`) until the search hands the trial over: `check` measures the model of a trial
    that joined the front on the device, records it and refits; `discard` drops the others.
    Trials may run in any number of processes at once.
    """

    def __init__(self, base: PredictedTarget, device: Target, folder: str | Path) -> None:
        self.base = base
        self.device = device
        self.folder = Path(folder)
        self.models = self.folder / MODELS_DIR
        # A resumed run may validate on another device: only this one's checks count.
        self.checks = [c for c in load_checks(self.folder) if c.device == device.name]
        self.profile = refit(base.profile, self.checks, device=device.name)
        self._profile_mtime = 0.0

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def precisions(self) -> tuple[str, ...]:
        return self.base.precisions

    def model_dir(self, key: str) -> Path:
        """Where the evaluation of candidate `key` keeps its deployed model for `check`."""
        return self.models / key

    def latency(
        self, onnx_path: Path, *, runs: int = 0, precision: str | None = None
    ) -> LatencyMeasurement:
        """The prediction of the model refitted so far for `onnx_path`."""
        self._reload()
        work = runnable_work(self.profile, graph_work(onnx_path), precision)
        ms = predict_with(self.profile, work)
        cal = self.profile.calibration
        return predicted_latency(
            ms,
            f"{self.name} {ops_precision(work)} model refitted on {self.device.name}: {cal.source}",
            self.profile.interval(),
        )

    def check(self, number: int, key: str, predicted_ms: float) -> str | None:
        """Measure trial `number`'s deployed model on the device, record it and refit; a line
        saying what happened, or None when its model is not kept (a reused result)."""
        path = self.model_dir(key) / DEPLOYED_MODEL
        if not path.is_file():
            return None
        try:
            work = runnable_work(self.base.profile, graph_work(path), None)
            try:
                measured = self.device.latency(path, runs=DEVICE_RUNS)
            except AutoEdgeError as e:  # the device is away: the search goes on predicting
                return f"trial {number}: not validated on {self.device.name}: {e}"
            check = DeviceCheck(
                number=number,
                key=key,
                precision=ops_precision(work),
                predicted_ms=predicted_ms,
                shipped_ms=predict_with(self.base.profile, work),
                measured_ms=measured.median_ms,
                macs=total_macs(work),
                model_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                features=profile_features(self.base.profile, work),
                device=self.device.name,
                measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
        finally:
            self.discard(key)
        _append_check(self.folder / CHECKS_FILE, check)
        self.checks.append(check)
        self.profile = refit(self.base.profile, self.checks, device=self.device.name)
        save_profile(self.profile, self.folder / PROFILE_FILE)
        how = self.profile.calibration.source.partition("(")[2].partition(")")[0]
        return (
            f"trial {number} on the front: {self.device.name} measured "
            f"{check.measured_ms:.3f} ms, predicted {check.predicted_ms:.3f} ms "
            f"({check.error:+.0%}); {self.name} model refitted on {len(self.checks)} checks: {how}"
        )

    def discard(self, key: str) -> None:
        """Drop the kept model of trial `key` (not on the front, failed, or checked)."""
        shutil.rmtree(self.model_dir(key), ignore_errors=True)

    def _reload(self) -> None:
        """Take the refitted profile another process (the search loop) wrote, if newer."""
        path = self.folder / PROFILE_FILE
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return
        if mtime > self._profile_mtime:
            self._profile_mtime = mtime
            self.profile = load_profile(path)

    def summary(self) -> dict[str, Any]:
        """How well the predictions held on the device: count, errors, the refitted model."""
        errors = [abs(c.error) for c in self.checks]
        shipped = [abs(c.shipped_ms - c.measured_ms) / c.measured_ms for c in self.checks]
        return {
            "device": self.device.name,
            "checked": len(self.checks),
            "search_mape": _mean(errors),
            "shipped_mape": _mean(shipped),
            "refitted_fit": self.profile.calibration.fit,
            "calibration": self.profile.calibration.source,
            "profile": str(self.folder / PROFILE_FILE) if self.checks else None,
        }


def refit(profile: TargetProfile, checks: list[DeviceCheck], *, device: str) -> TargetProfile:
    """`profile` adjusted to the device measurements in `checks` (itself when there are none)."""
    if not checks:
        return profile
    measured = [c.measured_ms for c in checks]
    shipped = [predict_ms(c.features, profile.coefficients, profile.precisions) for c in checks]
    factor = math.exp(_mean([math.log(m / p) for m, p in zip(measured, shipped, strict=True)]))
    coefs = {k: v * factor for k, v in profile.coefficients.items()}
    how = f"the shipped model x {factor:.3f}"
    if len(checks) >= FULL_REFIT_ROWS:
        feats = [c.features for c in checks]
        full = fit_coefficients(feats, measured, prior=coefs, precisions=profile.precisions)
        if _mape(full, checks, profile) < _mape(coefs, checks, profile):
            coefs, how = full, "every coefficient refitted"
    predicted = [predict_ms(c.features, coefs, profile.precisions) for c in checks]
    cal = Calibration(
        source=(
            f"{len(checks)} front points measured on {device} during a search ({how}); the "
            f"shipped model's calibration: {profile.calibration.source}"
        ),
        rows=len(checks),
        fitted_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        fit=fit_quality(predicted, measured).to_json(),
        interval=_checked_interval(profile, checks),
    )
    return replace(profile, coefficients=coefs, calibration=cal)


def _checked_interval(profile: TargetProfile, checks: list[DeviceCheck]) -> dict[str, Any]:
    """The interval once the device has spoken: from leave-one-out residuals of the shipped
    model scaled to the other checks (the device's own error), when there are
    INTERVAL_CHECKS of them; before that the profile's own."""
    if len(checks) < INTERVAL_CHECKS:
        return dict(profile.calibration.interval)
    logs = [
        math.log(c.measured_ms / predict_ms(c.features, profile.coefficients, profile.precisions))
        for c in checks
    ]
    residuals = [v - _mean(logs[:i] + logs[i + 1 :]) for i, v in enumerate(logs)]
    basis = f"leave-one-out residuals of {len(checks)} checks on the device"
    return interval_from(residuals, basis=basis).to_json()


def load_checks(folder: Path) -> list[DeviceCheck]:
    """The device checks stored in a run folder (a line cut short by a kill is skipped)."""
    path = folder / CHECKS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(DeviceCheck(**json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue
    return out


def _append_check(path: Path, check: DeviceCheck) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(check), sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _mape(coefs: dict[str, float], checks: list[DeviceCheck], profile: TargetProfile) -> float:
    return _mean(
        [
            abs(predict_ms(c.features, coefs, profile.precisions) - c.measured_ms) / c.measured_ms
            for c in checks
        ]
    )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
