"""Every registered target, fp32 and int8, times a small real exported ONNX model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autoedge.compress.export import export_onnx
from autoedge.compress.int8_onnx import quantize_int8
from autoedge.errors import TargetError
from autoedge.hardware.host_latency import LatencyMeasurement
from autoedge.hardware.targets import get_target, list_targets

TARGETS = list_targets()
SHAPE = (3, 32, 32)


def _expected_source(name: str) -> str:
    return "measured" if name == "host" else "predicted"


def _tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """fp32 export of a tiny conv net and its static int8 QDQ copy."""
    tmp = tmp_path_factory.mktemp("targets")
    fp32 = export_onnx(_tiny_net(), torch.randn(2, *SHAPE), tmp / "fp32.onnx")
    calibration = np.random.default_rng(0).standard_normal((16, *SHAPE)).astype(np.float32)
    int8 = quantize_int8(fp32, tmp / "int8.onnx", calibration)
    return {"fp32": fp32, "int8": int8}


def _check(name: str, m: LatencyMeasurement) -> None:
    assert isinstance(m, LatencyMeasurement)
    assert m.source == _expected_source(name)
    assert math.isfinite(m.median_ms) and 0 < m.median_ms < 1000
    if m.source == "predicted":
        assert m.detail.strip(), f"{name}: a predicted latency must say where it came from"
        assert name in m.detail or get_target(name).name in m.detail


def test_the_registry_holds_host_and_predicted_devices() -> None:
    assert "host" in TARGETS
    assert any(_expected_source(n) == "predicted" for n in TARGETS)
    assert len(TARGETS) == len(set(TARGETS))
    for name in TARGETS:
        assert get_target(name).name == name


@pytest.mark.parametrize("name", TARGETS)
def test_fp32_latency(name: str, models: dict[str, Path]) -> None:
    target = get_target(name)
    assert "fp32" in target.precisions
    _check(name, target.latency(models["fp32"], runs=5))


@pytest.mark.parametrize("name", TARGETS)
def test_int8_latency_or_a_clear_refusal(name: str, models: dict[str, Path]) -> None:
    target = get_target(name)
    if "int8" in target.precisions:
        m = target.latency(models["int8"], runs=5)
        _check(name, m)
        if m.source == "predicted":
            assert "int8" in m.detail
    else:
        with pytest.raises(TargetError, match="int8"):
            target.latency(models["int8"], runs=5)


def test_jetson_nano_has_no_int8(models: dict[str, Path]) -> None:
    assert "jetson-nano" in TARGETS
    nano = get_target("jetson-nano")
    assert "int8" not in nano.precisions
    with pytest.raises(TargetError, match="does not execute int8"):
        nano.latency(models["int8"], runs=5)
    with pytest.raises(TargetError, match="does not execute int8"):
        nano.latency(models["fp32"], runs=5, precision="int8")


PREDICTED_INT8 = [n for n in TARGETS if n != "host" and "int8" in get_target(n).precisions]


@pytest.mark.parametrize("name", PREDICTED_INT8)
def test_int8_predicts_no_slower_than_fp32(name: str, models: dict[str, Path]) -> None:
    """The same graph timed at int8 (more peak compute, fewer bytes) is not predicted slower."""
    target = get_target(name)
    fp32 = target.latency(models["fp32"], runs=0).median_ms
    int8 = target.latency(models["fp32"], runs=0, precision="int8").median_ms
    assert int8 <= fp32
