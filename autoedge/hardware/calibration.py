"""Fit a target profile's latency model to measured whole-model latencies.

A measurements CSV has one row per measured model and precision, with a latency column
(`latency_ms`, `p50_latency_ms` or `latency_ms_tensorrt`) and the model named one of three
ways: `onnx` (a path, relative to the CSV), `family` mobilenet_v1/mobilenet_v2 with
`width_mult` and `resolution` (rebuilt with timm's generators, as in the MLPerf rows), or
`torchvision_name` with `resolution`. Rows of other devices are skipped when the file has a
`device` column. Each model's operator work is cached by model id, so a refit is instant.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoedge.cache import cache_root
from autoedge.errors import TargetError
from autoedge.hardware.latency_interval import interval_from, log_ratios
from autoedge.hardware.latency_model import (
    FitQuality,
    features,
    fit_quality,
    fit_sessions,
    macs_baseline,
    predict_ms,
)
from autoedge.hardware.onnx_graph import OpWork, at_precision, graph_work, total_macs
from autoedge.hardware.profiles import Calibration, TargetProfile

LATENCY_COLUMNS = ("latency_ms", "p50_latency_ms", "latency_ms_tensorrt")
#: The shipped reference networks' operator work (see `shipped_opwork`).
REFERENCE_OPWORK = Path(__file__).parent / "measurements" / "reference_opwork.json.gz"


@dataclass(frozen=True)
class Measurement:
    """One measured model at one precision: its operator work (or the latency model's
    features of it, as the host store keeps them) and its measured latency."""

    model: str  # a stable id of the network
    family: str  # for leave-one-family-out cross-validation
    precision: str
    latency_ms: float
    macs: int
    ops: tuple[OpWork, ...] = ()
    features: dict[str, float] | None = None
    session: str = ""  # the measurement session (one runtime version on one device)

    def features_on(self, profile: TargetProfile) -> dict[str, float]:
        return self.features if self.features is not None else profile_features(profile, self.ops)


@dataclass(frozen=True)
class CalibrationReport:
    """A fitted profile and how well it predicts: in-sample, and per held-out family."""

    profile: TargetProfile
    fit: FitQuality
    held_out: dict[str, dict[str, Any]]  # family -> {"model": FitQuality json, "macs": ...}
    #: family -> log(measured / predicted) of its rows when it was held out
    residuals: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def held_out_residuals(self, families: Sequence[str] | None = None) -> list[float]:
        """The held-out residuals of `families` (default: all)."""
        names = self.residuals if families is None else families
        return [r for f in names for r in self.residuals.get(f, ())]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.profile.name,
            "fit": self.fit.to_json(),
            "held_out": self.held_out,
            "held_out_mape": self.profile.calibration.held_out_mape(),
            "interval": self.profile.calibration.interval,
            "sessions": self.profile.calibration.sessions,
            "coefficients": self.profile.coefficients,
        }


#: (source, name, width multiplier, resolution, folder) -> the exported ONNX file.
ReferenceExporter = Callable[[str, str, float, int, Path], Path]


def profile_features(profile: TargetProfile, ops: Sequence[OpWork]) -> dict[str, float]:
    """The latency model's features of `ops` on `profile`'s roofline."""
    return features(
        ops,
        peak_gmacs=profile.peak_gmacs,
        memory_gbs=profile.memory_gbs,
        fuse=profile.fuse,
        groups=profile.kind_groups,
    )


def predict_with(profile: TargetProfile, ops: Sequence[OpWork]) -> float:
    """Latency in ms that `profile`'s fitted model predicts for `ops`."""
    return predict_ms(profile_features(profile, ops), profile.coefficients, profile.precisions)


def calibrate(
    profile: TargetProfile,
    measurements: Sequence[Measurement],
    *,
    source: str,
    reference_session: str | None = None,
    prior: dict[str, float] | None = None,
) -> CalibrationReport:
    """Fit `profile` to `measurements`; cross-validate leaving each family out in turn.

    Measurements of several sessions (runtime versions) are fitted with a latency scale per
    session; the coefficients describe `reference_session` (default: the one with the most
    rows). `prior` (another profile's coefficients) is what a kind the measurements never
    show keeps. The held-out residuals give the profile's 80% interval.
    """
    if not measurements:
        raise TargetError(f"no measurements for target {profile.name}")
    for m in measurements:
        profile.check_precision(m.precision)
    feats = [m.features_on(profile) for m in measurements]
    ys = [m.latency_ms for m in measurements]
    sessions = [m.session for m in measurements]
    ref = reference_session or max(sorted(set(sessions)), key=sessions.count)
    if ref not in sessions:
        raise TargetError(
            f"no measurements of session {ref!r}; they are of {sorted(set(sessions))}"
        )
    fit_args = {"reference": ref, "prior": prior, "precisions": profile.precisions}
    coefs, scale = fit_sessions(feats, ys, sessions, **fit_args)
    pred = [
        predict_ms(f, coefs, profile.precisions) * scale[s]
        for f, s in zip(feats, sessions, strict=True)
    ]
    fit = fit_quality(pred, ys)
    held_out: dict[str, dict[str, Any]] = {}
    residuals: dict[str, tuple[float, ...]] = {}
    families = sorted({m.family for m in measurements})
    for fam in families if len(families) > 1 else []:
        train = [i for i, m in enumerate(measurements) if m.family != fam]
        test = [i for i, m in enumerate(measurements) if m.family == fam]
        p = held_out_predictions(profile, measurements, train, test, **fit_args)
        base = _macs_baseline_by_precision(measurements, train, test)
        measured = [ys[i] for i in test]
        residuals[fam] = tuple(log_ratios(p, measured))
        held_out[fam] = {
            "model": fit_quality(p, measured).to_json(),
            "macs_baseline": fit_quality(base, measured).to_json(),
        }
    if residuals:
        flat = [r for rs in residuals.values() for r in rs]
        interval = interval_from(
            flat, basis=f"leave-one-family-out residuals of {len(flat)} held-out measurements"
        )
    else:  # one family: in-sample residuals understate the error, and it is said
        interval = interval_from(
            log_ratios(pred, ys),
            basis=f"in-sample residuals of {len(ys)} measurements (one family)",
        )
    cal = Calibration(
        source=source,
        rows=len(measurements),
        fitted_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        fit=fit.to_json(),
        cross_validation=held_out,
        interval=interval.to_json(),
        sessions={k: round(v, 4) for k, v in scale.items()},
    )
    return CalibrationReport(profile.with_calibration(coefs, cal), fit, held_out, residuals)


def transfer_residuals(
    source: TargetProfile, device: TargetProfile, measurements: Sequence[Measurement]
) -> list[float]:
    """log(measured / predicted) of `device`'s measurements predicted by a transfer: the
    `source` profile's fitted efficiencies on `device`'s peaks and bandwidth. What moving a
    fit between two devices costs, for the interval of a profile that is such a transfer."""
    moved = replace(device, coefficients=dict(source.coefficients))
    pred = [predict_with(moved, m.ops) for m in measurements]
    return log_ratios(pred, [m.latency_ms for m in measurements])


@dataclass(frozen=True)
class HeldOutPoint:
    """One measurement predicted by a profile fitted without its family, with the interval
    that fit gives (its own leave-one-family-out residuals: nothing of the family is seen)."""

    model: str
    family: str
    measured_ms: float
    predicted_ms: float
    low_ms: float
    high_ms: float

    @property
    def inside(self) -> bool:
        return self.low_ms <= self.measured_ms <= self.high_ms


def predict_family_unseen(
    profile: TargetProfile,
    measurements: Sequence[Measurement],
    family: str,
    *,
    reference_session: str | None = None,
    prior: dict[str, float] | None = None,
) -> list[HeldOutPoint]:
    """Refit `profile` on every measurement but `family`'s and predict those, each with the
    refitted profile's 80% interval: an honest check of the interval's coverage."""
    train = [m for m in measurements if m.family != family]
    test = [m for m in measurements if m.family == family]
    if not test or not train:
        raise TargetError(f"family {family!r} must be some but not all of the measurements")
    fitted = calibrate(
        profile, train, source="held-out check", reference_session=reference_session, prior=prior
    ).profile
    interval = fitted.interval()
    assert interval is not None  # calibrate always sets one
    out = []
    for m in test:
        ms = predict_ms(m.features_on(fitted), fitted.coefficients, fitted.precisions)
        ms *= fitted.calibration.sessions.get(m.session, 1.0)
        low, high = interval.bounds(ms)
        out.append(HeldOutPoint(m.model, family, m.latency_ms, ms, low, high))
    return out


def held_out_predictions(
    profile: TargetProfile,
    measurements: Sequence[Measurement],
    train: Sequence[int],
    test: Sequence[int],
    *,
    reference: str,
    prior: dict[str, float] | None = None,
    precisions: Sequence[str] = (),
) -> list[float]:
    """Predictions for `test` by a model fitted on `train` alone, in each test row's session
    (a session the training rows lack is taken as the reference)."""
    ms = measurements
    c, sc = fit_sessions(
        [ms[i].features_on(profile) for i in train],
        [ms[i].latency_ms for i in train],
        [ms[i].session for i in train],
        reference=reference,
        prior=prior,
        precisions=precisions,
    )
    return [
        predict_ms(ms[i].features_on(profile), c, precisions) * sc.get(ms[i].session, 1.0)
        for i in test
    ]


def _macs_baseline_by_precision(
    ms: Sequence[Measurement], train: list[int], test: list[int]
) -> list[float]:
    """MACs-linear predictions for `test`, fitted per precision on `train` (all if none)."""
    out = []
    for i in test:
        same = [j for j in train if ms[j].precision == ms[i].precision] or train
        out += macs_baseline(
            [ms[j].macs for j in same], [ms[j].latency_ms for j in same], [ms[i].macs]
        )
    return out


def read_measurements(
    path: str | Path,
    *,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
    exporter: ReferenceExporter | None = None,
) -> list[Measurement]:
    """Measurements from a CSV (see the module doc); models are exported once and cached.

    `exporter` builds a named reference network the cache does not hold yet (pass
    `autoedge.compress.reference_nets.export_reference_net`; hardware/ builds no models).
    """
    import pandas as pd

    p = Path(path)
    try:
        df = pd.read_csv(p)
    except FileNotFoundError as e:
        raise TargetError(f"no measurements file at {p}") from e
    except (OSError, ValueError) as e:
        raise TargetError(f"cannot read measurements {p}: {e}") from e
    lat_col = next((c for c in LATENCY_COLUMNS if c in df.columns), None)
    if lat_col is None or "precision" not in df.columns:
        raise TargetError(
            f"{p} needs a precision column and a latency column ({', '.join(LATENCY_COLUMNS)}); "
            f"it has {', '.join(map(str, df.columns))}"
        )
    if "device" in df.columns and device is not None:
        devices = sorted(df["device"].astype(str).unique())
        df = df[df["device"].astype(str) == device]
        if df.empty:
            raise TargetError(f"{p} has no rows for device {device!r}; it has {devices}")
    out = []
    for row in df.to_dict("records"):
        model_id, family, build = _model_source(row, p.parent, exporter)
        ops = _cached_ops(model_id, build, log)
        prec = str(row["precision"])
        at = tuple(at_precision(ops, prec))
        session = str(row["session"]) if isinstance(row.get("session"), str) else p.stem
        out.append(
            Measurement(
                model_id, family, prec, float(row[lat_col]), total_macs(at), at, session=session
            )
        )
    return out


def _model_source(
    row: dict[str, Any], base: Path, exporter: ReferenceExporter | None
) -> tuple[str, str, Callable[[Path], Path]]:
    """(model id, family, a function exporting the model's ONNX into a folder)."""
    res = (
        int(row["resolution"])
        if "resolution" in row and row["resolution"] == row["resolution"]
        else 224
    )
    if isinstance(row.get("onnx"), str):
        path = (base / row["onnx"]).resolve()
        if not path.is_file():
            raise TargetError(f"measured model {path} does not exist")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        family = str(row.get("family") or re.sub(r"[\d_.-]+$", "", path.stem) or path.stem)
        return f"onnx-{digest}", family, lambda _folder: path
    if isinstance(row.get("torchvision_name"), str):
        name = row["torchvision_name"].rsplit(".", 1)[-1]
        family = re.sub(r"\d.*$", "", name)
        return (
            f"torchvision-{name}-r{res}",
            family,
            lambda f: _reference(exporter)("torchvision", name, 1.0, res, f),
        )
    family = str(row.get("family", ""))
    if family in ("mobilenet_v1", "mobilenet_v2") and "width_mult" in row:
        width = float(row["width_mult"])
        return (
            f"timm-{family}-w{width:g}-r{res}",
            family,
            lambda f: _reference(exporter)("timm", family, width, res, f),
        )
    raise TargetError(
        "a measurement row names its model by `onnx` (path), `torchvision_name` + resolution, "
        f"or family mobilenet_v1/mobilenet_v2 + width_mult + resolution; got {row}"
    )


def _reference(exporter: ReferenceExporter | None) -> ReferenceExporter:
    if exporter is None:
        raise TargetError(
            "this measurement names a reference network that is not exported yet; pass "
            "exporter=autoedge.compress.reference_nets.export_reference_net"
        )
    return exporter


@functools.cache
def shipped_opwork() -> dict[str, list[dict[str, Any]]]:
    """The operator work of the reference networks the shipped measurements name, by model
    id (written by scripts/calibrate_profiles.py): refitting a shipped profile builds no
    network."""
    try:
        with gzip.open(REFERENCE_OPWORK, "rt", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _cached_ops(
    model_id: str, build: Callable[[Path], Path], log: Callable[[str], None] | None
) -> list[OpWork]:
    shipped = shipped_opwork().get(model_id)
    if shipped is not None:
        return [OpWork.from_json(d) for d in shipped]
    cache = cache_root() / "opwork" / f"{model_id}.json"
    if cache.is_file():
        return [OpWork.from_json(d) for d in json.loads(cache.read_text())]
    if log:
        log(f"exporting {model_id} to read its operators (once; cached in {cache.parent})")
    with tempfile.TemporaryDirectory(prefix="autoedge-cal-") as tmp:
        ops = graph_work(build(Path(tmp)))
    cache.parent.mkdir(parents=True, exist_ok=True)
    from autoedge.atomic_files import write_text_atomic

    write_text_atomic(cache, json.dumps([op.to_json() for op in ops]))
    return ops
