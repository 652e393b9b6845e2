"""Fit a target profile's latency model to measured whole-model latencies.

A measurements CSV has one row per measured model and precision, with a latency column
(`latency_ms`, `p50_latency_ms` or `latency_ms_tensorrt`) and the model named one of three
ways: `onnx` (a path, relative to the CSV), `family` mobilenet_v1/mobilenet_v2 with
`width_mult` and `resolution` (rebuilt with timm's generators, as in the MLPerf rows), or
`torchvision_name` with `resolution`. Rows of other devices are skipped when the file has a
`device` column. Each model's operator work is cached by model id, so a refit is instant.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoedge.cache import cache_root
from autoedge.errors import TargetError
from autoedge.hardware.latency_model import (
    FitQuality,
    features,
    fit_coefficients,
    fit_quality,
    macs_baseline,
    predict_ms,
)
from autoedge.hardware.onnx_graph import OpWork, at_precision, graph_work, total_macs
from autoedge.hardware.profiles import Calibration, TargetProfile

LATENCY_COLUMNS = ("latency_ms", "p50_latency_ms", "latency_ms_tensorrt")


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

    def features_on(self, profile: TargetProfile) -> dict[str, float]:
        return self.features if self.features is not None else profile_features(profile, self.ops)


@dataclass(frozen=True)
class CalibrationReport:
    """A fitted profile and how well it predicts: in-sample, and per held-out family."""

    profile: TargetProfile
    fit: FitQuality
    held_out: dict[str, dict[str, Any]]  # family -> {"model": FitQuality json, "macs": ...}

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.profile.name,
            "fit": self.fit.to_json(),
            "held_out": self.held_out,
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
    profile: TargetProfile, measurements: Sequence[Measurement], *, source: str
) -> CalibrationReport:
    """Fit `profile` to `measurements`; cross-validate leaving each family out in turn."""
    if not measurements:
        raise TargetError(f"no measurements for target {profile.name}")
    for m in measurements:
        profile.check_precision(m.precision)
    feats = [m.features_on(profile) for m in measurements]
    ys = [m.latency_ms for m in measurements]
    coefs = fit_coefficients(feats, ys)
    pred = [predict_ms(f, coefs, profile.precisions) for f in feats]
    fit = fit_quality(pred, ys)
    held_out: dict[str, dict[str, Any]] = {}
    families = sorted({m.family for m in measurements})
    for fam in families if len(families) > 1 else []:
        train = [i for i, m in enumerate(measurements) if m.family != fam]
        test = [i for i, m in enumerate(measurements) if m.family == fam]
        c = fit_coefficients([feats[i] for i in train], [ys[i] for i in train])
        p = [predict_ms(feats[i], c, profile.precisions) for i in test]
        base = _macs_baseline_by_precision(measurements, train, test)
        held_out[fam] = {
            "model": fit_quality(p, [ys[i] for i in test]).to_json(),
            "macs_baseline": fit_quality(base, [ys[i] for i in test]).to_json(),
        }
    cal = Calibration(
        source=source,
        rows=len(measurements),
        fitted_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        fit=fit.to_json(),
        cross_validation=held_out,
    )
    return CalibrationReport(profile.with_calibration(coefs, cal), fit, held_out)


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
        out.append(Measurement(model_id, family, prec, float(row[lat_col]), total_macs(at), at))
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


def _cached_ops(
    model_id: str, build: Callable[[Path], Path], log: Callable[[str], None] | None
) -> list[OpWork]:
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
