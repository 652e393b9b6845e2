"""ONNX export: both exporters give one file that ONNX Runtime runs like PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm_models import tiny_efficientnet

from autoedge.compress.export import export_onnx, forward_numpy
from autoedge.errors import ExportError
from autoedge.hardware.onnx_runtime import open_session, run_session


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_exporters_match_pytorch_with_a_dynamic_batch(tmp_path, exporter):
    model = tiny_efficientnet().eval()
    x = torch.randn(2, 1, 32, 32)
    path = export_onnx(model, x, tmp_path / "m.onnx", exporter=exporter)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no external data
    session = open_session(path)
    for batch in (1, 5):
        xb = torch.randn(batch, 1, 32, 32)
        assert np.abs(run_session(session, xb.numpy()) - forward_numpy(model, xb)).max() < 1e-4


def test_unknown_exporter_and_unexportable_model(tmp_path):
    with pytest.raises(ExportError, match="unknown exporter"):
        export_onnx(
            tiny_efficientnet(), torch.randn(2, 1, 32, 32), tmp_path / "m.onnx", exporter="tflite"
        )

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("this layer cannot run")

    with pytest.raises(ExportError, match=r"ONNX export failed: torchscript: .*; dynamo: "):
        export_onnx(Broken(), torch.randn(2, 3), tmp_path / "d.onnx")
