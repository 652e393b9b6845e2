"""Latency intervals from held-out residuals, and the per-session latency scale of a fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoedge.errors import TargetError
from autoedge.hardware.latency_interval import (
    LatencyInterval,
    added,
    coverage,
    interval_from,
    log_ratios,
)
from autoedge.hardware.latency_model import fit_sessions, predict_ms


def test_interval_holds_the_middle_eighty_percent_of_the_residuals() -> None:
    rng = np.random.default_rng(0)
    residuals = rng.normal(0.0, 0.2, 2000)
    iv = interval_from(residuals, basis="synthetic")
    assert iv.low == pytest.approx(math.exp(-0.2 * 1.2816), rel=0.05)
    assert iv.high == pytest.approx(math.exp(0.2 * 1.2816), rel=0.05)
    fresh = np.exp(rng.normal(0.0, 0.2, 2000))  # measured / predicted of new models
    share = coverage([iv.bounds(1.0)] * len(fresh), list(fresh))
    assert 0.75 <= share <= 0.85


def test_the_point_estimate_is_always_inside() -> None:
    iv = interval_from([0.3, 0.4, 0.5], basis="all too slow")
    assert iv.low == 1.0 and iv.high > 1.4
    assert iv.bounds(2.0)[0] == 2.0


def test_added_residuals_make_a_wider_interval() -> None:
    rng = np.random.default_rng(1)
    a, b = list(rng.normal(0, 0.1, 40)), list(rng.normal(0, 0.3, 30))
    alone = interval_from(a, basis="a")
    both = interval_from(added(a, b), basis="a+b")
    assert len(added(a, b)) == 1200
    assert both.width > alone.width


def test_bad_intervals_and_residuals_are_errors() -> None:
    with pytest.raises(TargetError):
        LatencyInterval(low=1.2, high=1.5)
    with pytest.raises(TargetError):
        interval_from([], basis="none")
    with pytest.raises(TargetError):
        log_ratios([1.0, 0.0], [1.0, 1.0])
    iv = LatencyInterval(low=0.8, high=1.3, n=5, basis="b")
    assert LatencyInterval.from_json(iv.to_json()) == iv


def test_sessions_are_fitted_with_their_own_scale() -> None:
    """Two sessions of the same networks, the second 1.5x slower: one set of coefficients
    for the reference session and the other session's scale, recovered."""
    rng = np.random.default_rng(2)
    true = {"conv@fp16": 2.0, "memory@fp16": 1.0, "model_ms": 0.3}
    rows = [
        {"conv@fp16": float(c), "memory@fp16": float(m), "model_ms": 1.0}
        for c, m in rng.uniform(0.1, 3.0, (12, 2))
    ]
    base = [predict_ms(r, true, ["fp16"]) for r in rows]
    ys = base + [1.5 * y for y in base]
    sessions = ["new"] * 12 + ["old"] * 12
    coefs, scale = fit_sessions(rows + rows, ys, sessions, reference="new", precisions=["fp16"])
    assert scale["new"] == 1.0
    assert scale["old"] == pytest.approx(1.5, rel=0.02)
    pred = [predict_ms(r, coefs, ["fp16"]) for r in rows]
    assert np.allclose(pred, base, rtol=0.03)
