"""The one export path: each stage of a real timm candidate at the precision its genes say."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from timm_models import three_stage_candidate

from autoedge.compress.build import build_model
from autoedge.compress.deployable import export_deployable, initializer_bytes
from autoedge.compress.pipeline import compress
from autoedge.errors import ExportError
from autoedge.hardware.onnx_graph import graph_work, ops_precision
from autoedge.hardware.onnx_memory import peak_activation_bytes
from autoedge.hardware.onnx_precision import deployed_precision_map


def _frozen(bits):
    torch.manual_seed(0)
    cand = three_stage_candidate(bits, last_rank=0.5)
    model = build_model(cand, in_chans=1, num_classes=10)
    x = torch.randn(64, 1, 32, 32)
    with torch.no_grad():
        model.train()(x)  # batch-norm statistics that are not the identity
    compressed = compress(model.eval(), cand, x[:2])
    return compressed, x


def _run(path, x):
    return ort.InferenceSession(str(path)).run(None, {"input": x})[0]


def test_weight_only_stages_keep_the_trained_grid_exactly(tmp_path):
    compressed, x = _frozen([(8, 32), (32, 32), (8, 32)])
    frozen = compressed.frozen().eval()
    plan = ("int8-weights", "fp32", "int8-weights")
    d = export_deployable(frozen, x[:2], plan, tmp_path)
    assert deployed_precision_map(d.path, 3) == plan and d.ships_as == "mixed"
    # the fake-quantized weights were already on the int8 grid: dequantized, they are equal
    # (ONNX Runtime picks other convolution kernels for them: float summation order differs)
    got, want = _run(d.path, x.numpy()), _run(d.float_path, x.numpy())
    np.testing.assert_allclose(got, want, atol=1e-2 * float(np.abs(want).max()))
    assert d.weight_bytes() == initializer_bytes(d.path) < initializer_bytes(d.float_path)
    assert "QuantizeLinear" not in {n.op_type for n in onnx.load(str(d.path)).graph.node}


def test_int8_stages_are_quantized_and_the_rest_stays_float(tmp_path):
    compressed, x = _frozen([(8, 8), (32, 32), (32, 32)])
    d = export_deployable(
        compressed.frozen().eval(), x[:2], ("int8", "fp32", "fp32"), tmp_path, x.numpy()
    )
    assert deployed_precision_map(d.path, 3) == ("int8", "fp32", "fp32")
    ops = graph_work(d.path)
    assert ops_precision(ops) == "mixed"
    fused = peak_activation_bytes(d.path, fused_qdq=True)
    assert 0 < fused <= peak_activation_bytes(d.path)
    with pytest.raises(ExportError, match="calibration"):
        export_deployable(
            compressed.frozen().eval(), x[:2], ("int8", "fp32", "fp32"), tmp_path / "again"
        )


def test_fp16_stages_compute_in_fp16_with_casts_only_at_their_borders(tmp_path):
    compressed, x = _frozen([(32, 32), (16, 16), (32, 32)])
    d = export_deployable(compressed.frozen().eval(), x[:2], ("fp32", "fp16", "fp32"), tmp_path)
    assert deployed_precision_map(d.path, 3) == ("fp32", "fp16", "fp32")
    casts = [n for n in onnx.load(str(d.path)).graph.node if n.op_type == "Cast"]
    assert 1 <= len(casts) <= 4  # into stage 1 and out of it (a residual may add one)
    got, want = _run(d.path, x[:8].numpy()), _run(d.float_path, x[:8].numpy())
    np.testing.assert_allclose(got, want, atol=2e-2 * float(np.abs(want).max()))
    assert {op.precision for op in graph_work(d.path)} == {"fp16", "fp32"}


def test_a_plan_that_names_no_precision_is_refused(tmp_path):
    compressed, x = _frozen([(32, 32)] * 3)
    with pytest.raises(ExportError, match="precision map"):
        export_deployable(compressed.frozen().eval(), x[:2], ("fp32", "int4", "fp32"), tmp_path)
