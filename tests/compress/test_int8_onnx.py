"""Static int8 (QDQ) quantization of a real exported timm model in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from timm_models import tiny_mobilenet

from autoedge.compress.export import export_onnx
from autoedge.compress.int8_onnx import quantize_int8
from autoedge.errors import ExportError
from autoedge.hardware.onnx_runtime import open_session, run_session

SHAPE = (3, 32, 32)


def on_disk_bytes(path: Path) -> int:
    """The model file plus the external-data files it references."""
    model = onnx.load(str(path), load_external_data=False)
    files = {
        entry.value
        for init in model.graph.initializer
        if init.data_location == onnx.TensorProto.EXTERNAL
        for entry in init.external_data
        if entry.key == "location"
    }
    return path.stat().st_size + sum((path.parent / f).stat().st_size for f in files)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """fp32 export of MobileNetV3-Small-0.5 (0.58M params: weights dominate) and its int8 copy."""
    tmp = tmp_path_factory.mktemp("int8")
    fp32 = export_onnx(tiny_mobilenet(), torch.randn(1, *SHAPE), tmp / "fp32" / "model.onnx")
    calibration = np.random.default_rng(0).standard_normal((32, *SHAPE)).astype(np.float32)
    int8 = quantize_int8(fp32, tmp / "int8" / "model.onnx", calibration)
    return fp32, int8


def test_writes_a_small_qdq_model(models):
    fp32, int8 = models
    assert int8.is_file()
    graph = onnx.load(str(int8)).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # internal names shortened (they were ~15% of the file), the interface kept
    assert all(len(t.name) <= 8 for t in graph.initializer)
    assert all(n.name == "" for n in graph.node)
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == [
        "logits"
    ]
    assert on_disk_bytes(int8) < 0.35 * on_disk_bytes(fp32)
    assert sorted(p.name for p in int8.parent.iterdir()) == ["model.onnx"]  # no temp files


def test_int8_predictions_follow_fp32(models):
    fp32, int8 = models
    x = np.random.default_rng(1).standard_normal((64, *SHAPE)).astype(np.float32)
    ref = run_session(open_session(fp32), x)
    out = run_session(open_session(int8), x)
    # a random-init net favours one class; the bar must sit above that "constant" baseline
    majority = np.bincount(ref.argmax(1)).max() / len(ref)
    assert majority < 0.85
    # a sane quantizer gets ~0.95 and ~0.09 here; badly scaled activations get <0.8 and >0.5
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.85
    assert np.abs(out - ref).max() / np.abs(ref).max() < 0.25


def test_stdout_stays_clean(models, tmp_path, capfd):
    fp32, _ = models
    calibration = np.zeros((2, *SHAPE), dtype=np.float32)
    quantize_int8(fp32, tmp_path / "q.onnx", calibration, per_channel=False)
    assert capfd.readouterr().out == ""


def test_errors(models, tmp_path):
    fp32, int8 = models
    ok = np.zeros((4, *SHAPE), dtype=np.float32)
    with pytest.raises(ExportError, match="empty"):
        quantize_int8(fp32, tmp_path / "q.onnx", np.zeros((0, *SHAPE), dtype=np.float32))
    with pytest.raises(ExportError, match="no ONNX file"):
        quantize_int8(tmp_path / "missing.onnx", tmp_path / "q.onnx", ok)
    with pytest.raises(ExportError, match="does not fit"):
        quantize_int8(fp32, tmp_path / "q.onnx", np.zeros((4, 1, 32, 32), dtype=np.float32))
    with pytest.raises(ExportError, match="already quantized"):
        quantize_int8(int8, tmp_path / "q.onnx", ok)
    assert not (tmp_path / "q.onnx").exists()
