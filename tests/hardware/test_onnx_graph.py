"""The ONNX graph walker on real exports: MACs, kinds, QDQ precision, fusion chains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from torch import nn

from autoedge.compress.export import export_onnx
from autoedge.compress.int8_onnx import quantize_int8
from autoedge.compress.stats import count_macs
from autoedge.errors import TargetError
from autoedge.hardware.onnx_graph import at_precision, graph_work, ops_precision, total_macs


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 32, 1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        y = torch.nn.functional.hardswish(self.pw(self.dw(y)))
        return self.fc(y.mean((2, 3)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("graph")
    net = _Net().eval()
    x = torch.randn(2, 3, 32, 32)
    fp32 = export_onnx(net, x, folder / "net.onnx")
    calib = np.random.default_rng(0).standard_normal((8, 3, 32, 32)).astype(np.float32)
    int8 = quantize_int8(fp32, folder / "net_int8.onnx", calib)
    return fp32, int8, count_macs(net, x[:1])


def test_macs_and_kinds_match_the_module(exported: tuple[Path, Path, int]) -> None:
    fp32, _, macs = exported
    ops = graph_work(fp32)
    kinds = [op.kind for op in ops]
    assert {"conv", "dwconv", "pwconv", "gemm"} <= set(kinds)
    assert total_macs(ops) == pytest.approx(macs, rel=0.01)
    assert ops_precision(ops) == "fp32"
    relu = next(op for op in ops if op.op_type == "Relu")
    assert relu.fused({"Relu", "BatchNormalization"})  # conv (+folded BN) -> relu
    hswish = next(op for op in ops if op.op_type == "HardSwish")
    assert not hswish.fused({"Relu", "Clip"})


def test_qdq_graph_reads_as_int8_with_quarter_bytes(exported: tuple[Path, Path, int]) -> None:
    fp32, int8, _ = exported
    q = graph_work(int8)
    assert ops_precision(q) == "int8"
    f = at_precision(graph_work(fp32), "int8")
    conv_f = next(op for op in f if op.kind == "pwconv")
    conv_q = next(op for op in q if op.kind == "pwconv")
    assert conv_q.precision == "int8" and conv_q.macs == conv_f.macs
    assert conv_f.bytes == conv_f.elements  # 1 byte each at int8


def test_tf_same_padding_shapes_are_read_by_running_the_graph(tmp_path: Path) -> None:
    model = timm.create_model("tf_mobilenetv3_small_minimal_100", num_classes=10).eval()
    path = export_onnx(model, torch.randn(2, 3, 96, 96), tmp_path / "tf.onnx")
    ops = graph_work(path)
    assert total_macs(ops) == pytest.approx(count_macs(model, torch.randn(1, 3, 96, 96)), rel=0.02)


def test_not_an_onnx_file_is_a_target_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(TargetError, match="not an ONNX model"):
        graph_work(bad)
    with pytest.raises(TargetError, match="no ONNX model"):
        graph_work(tmp_path / "missing.onnx")
