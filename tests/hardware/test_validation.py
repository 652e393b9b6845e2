"""Online refit of a predicted target from device checks (hardware/validation.py)."""

from __future__ import annotations

import math
import random

from autoedge.hardware.latency_model import predict_ms
from autoedge.hardware.profiles import shipped_profiles
from autoedge.hardware.validation import (
    FULL_REFIT_ROWS,
    INTERVAL_CHECKS,
    DeviceCheck,
    load_checks,
    refit,
)

RPI4 = shipped_profiles()["rpi4"]


def _checks(n: int, truth: dict[str, float], seed: int = 0) -> list[DeviceCheck]:
    """`n` checks whose measured latency follows `truth` coefficients exactly."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        feats = {
            "conv@fp32": rng.uniform(0.1, 2.0),
            "dwconv@fp32": rng.uniform(0.1, 2.0),
            "op_ms": float(rng.randint(20, 80)),
            "model_ms": 1.0,
        }
        out.append(
            DeviceCheck(
                number=i, key=f"k{i}", precision="fp32", predicted_ms=1.0, shipped_ms=1.0,
                measured_ms=predict_ms(feats, truth, RPI4.precisions), macs=1, model_sha256="x",
                features=feats, device="agent:d:1", measured_at="",
            )
        )  # fmt: skip
    return out


def _mape(profile, checks) -> float:
    errs = [
        abs(predict_ms(c.features, profile.coefficients, profile.precisions) - c.measured_ms)
        / c.measured_ms
        for c in checks
    ]
    return sum(errs) / len(errs)


def test_no_checks_keep_the_profile() -> None:
    assert refit(RPI4, [], device="agent:d:1") is RPI4


def test_few_checks_rescale_the_shipped_model() -> None:
    truth = {k: v * 0.25 for k, v in RPI4.coefficients.items()}  # a device 4x faster
    checks = _checks(FULL_REFIT_ROWS - 1, truth)
    fitted = refit(RPI4, checks, device="agent:d:1")
    assert "x 0.250" in fitted.calibration.source and fitted.calibration.rows == len(checks)
    assert _mape(fitted, checks) < 1e-9  # a pure rescale is recovered exactly


def test_enough_checks_refit_every_coefficient_when_that_fits_better() -> None:
    # A device whose depthwise convolutions are 10x slower relative to the rest: no single
    # factor explains it, a full refit does.
    truth = {k: v * 0.5 for k, v in RPI4.coefficients.items()}
    truth["dwconv@fp32"] = RPI4.coefficients["dwconv@fp32"] * 5.0
    checks = _checks(3 * FULL_REFIT_ROWS, truth)
    few = refit(RPI4, checks[: FULL_REFIT_ROWS - 1], device="agent:d:1")
    full = refit(RPI4, checks, device="agent:d:1")
    assert "every coefficient refitted" in full.calibration.source
    assert _mape(full, checks) < 0.5 * _mape(few, checks)
    assert math.isclose(full.calibration.fit["mape"] / 100, _mape(full, checks), abs_tol=1e-5)


def test_the_interval_narrows_once_the_device_has_spoken() -> None:
    """A device 4x faster than the shipped rpi4 model, consistently: from INTERVAL_CHECKS
    checks on, the interval is the checks' own (narrow); before, the profile's."""
    truth = {k: v * 0.25 for k, v in RPI4.coefficients.items()}
    checks = _checks(INTERVAL_CHECKS, truth)
    before = refit(RPI4, checks[:-1], device="agent:d:1").interval()
    after = refit(RPI4, checks, device="agent:d:1").interval()
    assert before == RPI4.interval()
    assert after is not None and before is not None
    assert after.width < 0.1 * before.width and "checks on the device" in after.basis


def test_checks_are_read_back_and_a_cut_line_is_skipped(tmp_path) -> None:
    import json
    from dataclasses import asdict

    checks = _checks(2, RPI4.coefficients)
    lines = [json.dumps(asdict(c)) for c in checks]
    (tmp_path / "validation.jsonl").write_text("\n".join(lines) + '\n{"number": 3, "ke')
    assert load_checks(tmp_path) == checks
