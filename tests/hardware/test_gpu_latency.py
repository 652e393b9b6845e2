"""The Jetson latency models: depthwise convolutions as their own kind, fitted on the shipped
TensorRT measurements of two sessions, with intervals that hold networks they have not seen.

Refits use the shipped operator work of the reference networks (no network is built)."""

from __future__ import annotations

import pytest

from autoedge.hardware.calibration import (
    Measurement,
    calibrate,
    predict_family_unseen,
    read_measurements,
)
from autoedge.hardware.profiles import PROFILE_DIR, TargetProfile, shipped_profiles

MEASUREMENTS = PROFILE_DIR.parent / "measurements"
NEW = "jetson_xavier_tensorrt_fp16_torchvision_d8b43bd"
OLD = "jetson_tensorrt_fp16_torchvision"


@pytest.fixture(scope="module")
def xavier() -> TargetProfile:
    return shipped_profiles()["jetson-xavier"]


@pytest.fixture(scope="module")
def rows(xavier: TargetProfile) -> list[Measurement]:
    """Both Xavier sessions, read from the shipped files (no exporter: nothing is built)."""
    return read_measurements(MEASUREMENTS / f"{NEW}.csv", device=xavier.device_id) + (
        read_measurements(MEASUREMENTS / f"{OLD}.csv", device=xavier.device_id)
    )


@pytest.mark.parametrize("family", ["mnasnet", "shufflenet_v", "mobilenet_v"])
def test_an_unseen_depthwise_family_falls_inside_the_intervals(
    xavier: TargetProfile, rows: list[Measurement], family: str
) -> None:
    """Acceptance (issue 23): the Xavier profile refitted without one family of depthwise
    networks predicts them inside its 80% intervals."""
    points = predict_family_unseen(xavier, rows, family, reference_session=NEW)
    assert points and all(p.family == family for p in points)
    outside = [(p.model, p.measured_ms, p.low_ms, p.high_ms) for p in points if not p.inside]
    assert not outside


def test_sessions_are_kept_apart_and_depthwise_has_its_own_efficiency(
    xavier: TargetProfile, rows: list[Measurement]
) -> None:
    report = calibrate(xavier, rows, source="test", reference_session=NEW)
    prof = report.profile
    assert {m.session for m in rows} == {NEW, OLD}
    assert prof.calibration.sessions[NEW] == 1.0
    assert prof.calibration.sessions[OLD] != pytest.approx(1.0, abs=0.02)
    assert prof.coefficients["dwconv@fp16"] > prof.coefficients["conv@fp16"]
    assert set(report.residuals) == {m.family for m in rows}
    # the shipped profile is this fit
    assert shipped_profiles()["jetson-xavier"].coefficients == pytest.approx(
        {k: round(v, 6) for k, v in prof.coefficients.items()}, rel=1e-4
    )


def test_the_held_out_coverage_is_honest(xavier: TargetProfile, rows: list[Measurement]) -> None:
    """Every family predicted unseen with the interval of a fit that never saw it: the share
    inside is near the interval's 80% (not merely wide)."""
    points = [
        p
        for fam in sorted({m.family for m in rows})
        for p in predict_family_unseen(xavier, rows, fam, reference_session=NEW)
    ]
    share = sum(p.inside for p in points) / len(points)
    assert 0.70 <= share <= 0.90, share
