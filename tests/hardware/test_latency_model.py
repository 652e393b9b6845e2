"""The latency model: features, fitting on known coefficients, fit quality, profiles."""

from __future__ import annotations

import numpy as np
import pytest

from autoedge.errors import TargetError
from autoedge.hardware.latency_model import (
    coefficient,
    features,
    fit_coefficients,
    fit_quality,
    macs_baseline,
    predict_ms,
)
from autoedge.hardware.onnx_graph import OpWork
from autoedge.hardware.profiles import shipped_profiles
from autoedge.hardware.targets import get_target, target_profile


def _op(kind: str, macs: int, elements: int, precision: str = "fp32", chain=()) -> OpWork:
    return OpWork("n", "Conv", kind, precision, macs, elements, tuple(chain))


def test_features_take_the_slower_of_compute_and_memory() -> None:
    ops = [
        _op("pwconv", 10_000_000, 1000),  # compute-bound: 10 M / (10 GMAC/s) = 1 ms
        _op("elementwise", 0, 5_000_000),  # memory-bound: 20 MB / (10 GB/s) = 2 ms
        _op("elementwise", 0, 5_000_000, chain=("Relu",)),  # fused: free
    ]
    f = features(ops, peak_gmacs={"fp32": 10.0}, memory_gbs=10.0, fuse=["Relu"])
    assert f["pwconv@fp32"] == pytest.approx(1.0)
    assert f["elementwise@fp32"] == pytest.approx(2.0)
    assert f["op_ms"] == 2 and f["model_ms"] == 1
    g = features(
        ops,
        peak_gmacs={"fp32": 10.0},
        memory_gbs=10.0,
        fuse=[],
        groups={"pwconv": "conv", "elementwise": "memory@all"},
    )
    assert set(g) == {"conv@fp32", "memory@all", "op_ms", "model_ms"}


def test_fit_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(0)
    truth = {"pwconv@fp32": 2.0, "dwconv@fp32": 6.0, "op_ms": 0.01, "model_ms": 0.5}
    rows = [
        {
            "pwconv@fp32": rng.uniform(1, 20),
            "dwconv@fp32": rng.uniform(0.1, 3),
            "op_ms": float(rng.integers(20, 80)),
            "model_ms": 1.0,
        }
        for _ in range(40)
    ]
    ys = [predict_ms(r, truth, ["fp32"]) for r in rows]
    fitted = fit_coefficients(rows, ys, ridge=1e-8)
    for k, v in truth.items():
        assert fitted[k] == pytest.approx(v, rel=0.05, abs=0.005)
    q = fit_quality([predict_ms(r, fitted, ["fp32"]) for r in rows], ys)
    assert q.mape < 1 and q.within_10 == 1.0 and q.kendall_tau > 0.99


def test_an_update_keeps_the_prior_of_kinds_the_rows_never_show() -> None:
    """Refitting with a prior (a device check, jetson-nano on the Xavier fit) leaves the
    coefficients of kinds absent from the rows at the prior's value."""
    prior = {"conv@fp16": 1.3, "dwconv@fp16": 3.9, "model_ms": 0.2}
    rows = [{"conv@fp16": float(c), "model_ms": 1.0} for c in (1.0, 2.0, 3.0, 4.0)]
    fitted = fit_coefficients(rows, [2.0 * c + 0.5 for c in (1.0, 2.0, 3.0, 4.0)], prior=prior)
    assert fitted["dwconv@fp16"] == 3.9
    assert fitted["conv@fp16"] == pytest.approx(2.0, rel=0.1)
    assert "dwconv@fp16" not in fit_coefficients(rows, [1.0, 2.0, 3.0, 4.0])
    nano, xavier = shipped_profiles()["jetson-nano"], shipped_profiles()["jetson-xavier"]
    assert nano.coefficients["dwconv@fp16"] == xavier.coefficients["dwconv@fp16"]


def test_missing_precision_borrows_the_kind_and_unknown_gets_the_prior() -> None:
    coefs = {"conv@fp16": 1.5}
    assert coefficient(coefs, "conv@int8", ["fp32", "fp16", "int8"]) == 1.5
    assert coefficient(coefs, "gemm@int8", ["fp16"]) > 0
    with pytest.raises(TargetError):
        fit_coefficients([{"a": 1.0}], [-1.0])


def test_macs_baseline_is_linear() -> None:
    assert macs_baseline([1, 2, 3], [3, 5, 7], [10])[0] == pytest.approx(21)


def test_shipped_profiles_are_calibrated_with_provenance() -> None:
    profiles = shipped_profiles()
    assert {"host", "rpi4", "jetson-nano", "jetson-orin-nano", "jetson-xavier"} <= set(profiles)
    rpi4 = profiles["rpi4"]
    assert rpi4.precisions == ("fp32", "int8") and rpi4.calibration.rows == 75
    assert "MLPerf" in rpi4.calibration.source and rpi4.coefficients
    for fam in ("mobilenet_v1", "mobilenet_v2"):  # the fitted model beats the MACs proxy
        cv = rpi4.calibration.cross_validation[fam]
        assert cv["model"]["mape"] < cv["macs_baseline"]["mape"]
    assert "int8" not in profiles["jetson-nano"].precisions
    assert "transferred" in profiles["jetson-orin-nano"].calibration.source
    assert target_profile("jetson")[0].name == "jetson-orin-nano"


def test_unknown_target_lists_the_valid_ones() -> None:
    with pytest.raises(TargetError, match="rpi4"):
        get_target("pi5")
