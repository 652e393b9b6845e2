"""calibrate() and read_measurements() on small hand-built ONNX models (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from onnx_models import conv_model

from autoedge.cache import cache_root
from autoedge.errors import TargetError
from autoedge.hardware.calibration import (
    Measurement,
    calibrate,
    predict_with,
    profile_features,
    read_measurements,
)
from autoedge.hardware.onnx_graph import at_precision, graph_work, total_macs
from autoedge.hardware.profiles import TargetProfile
from autoedge.hardware.targets import target_profile

#: (in channels, out channels, height = width) of the Conv + Relu models measured
SHAPES = [(1, 4, 16), (3, 8, 16), (3, 16, 32), (8, 16, 32), (4, 32, 24), (16, 16, 16)]
#: The "true" coefficient of every feature the synthetic latencies are made from.
TRUE = 2.0


@pytest.fixture(scope="module")
def rpi4() -> TargetProfile:
    return target_profile("rpi4")[0]


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("models")
    paths = []
    for cin, cout, hw in SHAPES:
        path = folder / f"conv_{cin}x{cout}x{hw}.onnx"
        path.write_bytes(conv_model(cin, cout, hw))
        paths.append(path)
    return paths


def _latency(profile: TargetProfile, ops: list) -> float:
    """A latency the profile's model form explains exactly: every coefficient TRUE."""
    return TRUE * sum(profile_features(profile, ops).values())


@pytest.fixture(scope="module")
def measurements(rpi4: TargetProfile, onnx_files: list[Path]) -> list[Measurement]:
    """Each model at fp32 and int8; two families (alternating), for cross-validation."""
    out = []
    for i, path in enumerate(onnx_files):
        ops = graph_work(path)
        for prec in ("fp32", "int8"):
            at = at_precision(ops, prec)
            family = "narrow" if i % 2 else "wide"
            out.append(
                Measurement(path.stem, family, prec, _latency(rpi4, at), total_macs(at), tuple(at))
            )
    return out


def test_fit_returns_coefficients_and_a_held_out_table(rpi4, measurements) -> None:
    report = calibrate(rpi4, measurements, source="synthetic bench, 12 rows")
    coefs = report.profile.coefficients
    assert {"conv@fp32", "conv@int8", "op_ms", "model_ms"} <= set(coefs)
    assert all(v >= 0 for v in coefs.values())
    assert coefs != rpi4.coefficients  # refitted, and the shipped profile is left as it was
    assert report.profile.name == "rpi4" and report.profile.precisions == rpi4.precisions

    cal = report.profile.calibration
    assert cal.source == "synthetic bench, 12 rows" and cal.rows == len(measurements) == 12
    assert cal.fitted_at.endswith("Z") and cal.fit == report.fit.to_json()
    assert report.fit.n == 12 and report.fit.mape < 5 and report.fit.within_10 == 1.0
    assert report.fit.kendall_tau > 0.8

    assert set(report.held_out) == {"narrow", "wide"} and cal.cross_validation == report.held_out
    for family, table in report.held_out.items():
        assert set(table) == {"model", "macs_baseline"}, family
        assert table["model"]["n"] == 6 and table["macs_baseline"]["n"] == 6
        assert 0 <= table["model"]["mape"] < 10

    as_json = report.to_json()
    assert as_json["target"] == "rpi4" and as_json["coefficients"] == coefs


def test_the_refitted_profile_predicts_the_measurements(rpi4, measurements) -> None:
    fitted = calibrate(rpi4, measurements, source="synthetic").profile
    for m in measurements:
        predicted = predict_with(fitted, list(m.ops))
        assert abs(predicted - m.latency_ms) <= 0.1 * m.latency_ms, (m.model, m.precision)


def test_one_family_has_no_cross_validation(rpi4, measurements) -> None:
    wide = [m for m in measurements if m.family == "wide"]
    report = calibrate(rpi4, wide, source="one family")
    assert report.held_out == {} and report.profile.calibration.rows == len(wide)
    assert report.profile.coefficients


def test_no_measurements_or_an_unrunnable_precision_is_an_error(rpi4, measurements) -> None:
    with pytest.raises(TargetError, match="no measurements for target rpi4"):
        calibrate(rpi4, [], source="nothing")
    m = measurements[0]
    fp16 = Measurement(m.model, m.family, "fp16", m.latency_ms, m.macs, m.ops)
    with pytest.raises(TargetError, match="does not execute fp16"):
        calibrate(rpi4, [*measurements, fp16], source="bad")


def _write_csv(folder: Path, rows: list[dict]) -> Path:
    path = folder / "measured.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_read_measurements_from_onnx_paths(onnx_files, tmp_path) -> None:
    rows = [
        {"onnx": str(onnx_files[0]), "precision": "fp32", "latency_ms": 1.5},
        {"onnx": str(onnx_files[2]), "precision": "int8", "latency_ms": 2.5},
    ]
    logged: list[str] = []
    ms = read_measurements(_write_csv(tmp_path, rows), log=logged.append)
    assert [m.precision for m in ms] == ["fp32", "int8"]
    assert [m.latency_ms for m in ms] == [1.5, 2.5]
    assert all(m.model.startswith("onnx-") for m in ms) and ms[0].model != ms[1].model
    assert [m.family for m in ms] == ["conv_1x4x", "conv_3x16x"]  # stem less trailing digits
    for m, path in zip(ms, (onnx_files[0], onnx_files[2]), strict=True):
        expected = at_precision(graph_work(path), m.precision)
        assert list(m.ops) == expected and m.macs == total_macs(expected) > 0
        assert {op.precision for op in m.ops if op.macs} == {m.precision}
    # each model's operators are cached by id: a second read exports nothing
    assert len(logged) == 2
    for m in ms:
        cached = cache_root() / "opwork" / f"{m.model}.json"
        assert len(json.loads(cached.read_text())) == len(m.ops)
    logged.clear()
    assert read_measurements(tmp_path / "measured.csv", log=logged.append) == ms
    assert logged == []


def test_onnx_paths_are_relative_to_the_csv_and_device_rows_are_filtered(onnx_files) -> None:
    folder = onnx_files[0].parent
    rows = [
        {"onnx": p.name, "precision": "fp32", "p50_latency_ms": 1.0 + i, "device": dev}
        for i, (p, dev) in enumerate(
            zip(onnx_files[:4], ["rpi4", "nano", "rpi4", "nano"], strict=True)
        )
    ]
    path = _write_csv(folder, [{**r, "family": "mine"} for r in rows])
    ms = read_measurements(path, device="rpi4")
    assert [m.latency_ms for m in ms] == [1.0, 3.0] and {m.family for m in ms} == {"mine"}
    assert len(read_measurements(path)) == 4  # no device asked: every row
    with pytest.raises(TargetError, match=r"no rows for device 'orin'; it has \['nano', 'rpi4'\]"):
        read_measurements(path, device="orin")


def test_unreadable_measurement_files_say_what_is_wrong(onnx_files, tmp_path) -> None:
    with pytest.raises(TargetError, match="no measurements file"):
        read_measurements(tmp_path / "missing.csv")
    no_latency = _write_csv(tmp_path, [{"onnx": str(onnx_files[0]), "precision": "fp32"}])
    with pytest.raises(TargetError, match="needs a precision column and a latency column"):
        read_measurements(no_latency)
    gone = _write_csv(tmp_path, [{"onnx": "nowhere.onnx", "precision": "fp32", "latency_ms": 1.0}])
    with pytest.raises(TargetError, match=r"nowhere\.onnx does not exist"):
        read_measurements(gone)
    unnamed = _write_csv(tmp_path, [{"family": "resnet", "precision": "fp32", "latency_ms": 1.0}])
    with pytest.raises(TargetError, match="names its model by `onnx`"):
        read_measurements(unnamed)


def test_a_reference_net_without_an_exporter_points_at_export_reference_net(tmp_path) -> None:
    # a resolution no other test exports, so the operator cache cannot hold it
    row = {"torchvision_name": "torchvision.models.resnet18", "resolution": 77}
    path = _write_csv(tmp_path, [{**row, "precision": "fp32", "latency_ms": 3.0}])
    with pytest.raises(TargetError, match="export_reference_net") as err:
        read_measurements(path)
    assert "exporter=" in str(err.value)
    assert not (cache_root() / "opwork" / "torchvision-resnet18-r77.json").exists()
