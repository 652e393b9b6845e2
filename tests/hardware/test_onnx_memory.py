"""Peak activation memory from ONNX graphs: hand-built graphs with known answers, a timm export."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper, shape_inference
from timm_models import tiny_efficientnet

from autoedge.compress.export import export_onnx
from autoedge.errors import ExportError
from autoedge.hardware.onnx_memory import peak_activation_bytes

FULL = 4 * 8 * 8 * 4  # one 1x4x8x8 fp32 tensor: 1024 bytes


def save(tmp_path: Path, nodes: list, outputs: list[str], *, dims=("batch", 4, 8, 8)) -> Path:
    weight = numpy_helper.from_array(np.ones((4, 4, 3, 3), np.float32), "W")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        initializer=[weight],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("custom.ops", 1)]
    )
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture
def residual(tmp_path) -> Path:
    """X -> Relu -> R -> Conv -> C; A = C + R; M = A * K (Constant); G = GAP(M); Y = Flatten(G)."""
    k = numpy_helper.from_array(np.array([2.0], np.float32), "k")
    nodes = [
        helper.make_node("Relu", ["X"], ["R"]),
        helper.make_node("Conv", ["R", "W"], ["C"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["C", "R"], ["A"]),
        helper.make_node("Constant", [], ["K"], value=k),
        helper.make_node("Mul", ["A", "K"], ["M"]),
        helper.make_node("GlobalAveragePool", ["M"], ["G"]),
        helper.make_node("Flatten", ["G"], ["Y"]),
    ]
    return save(tmp_path, nodes, ["Y"])


def test_residual_graph_by_hand(residual):
    # per node (X, R, C, A, M: 1024 B; G, Y: 16 B; W and K are not activations):
    # Relu X+R=2048, Conv R+C=2048, Add R+C+A=3072 (the skip keeps R alive), Constant A=1024,
    # Mul A+M=2048, GAP M+G=1040, Flatten G+Y=32
    assert peak_activation_bytes(residual) == 3 * FULL
    assert peak_activation_bytes(residual, bytes_per_element=1) == 3 * FULL // 4
    assert peak_activation_bytes(residual, batch=2) == 2 * 3 * FULL


def test_graph_outputs_stay_alive(tmp_path):
    nodes = [
        helper.make_node("Relu", ["X"], ["A"]),
        helper.make_node("Relu", ["A"], ["B"]),
        helper.make_node("Relu", ["B"], ["Y"]),
    ]
    # a plain chain peaks at two tensors; A being an output keeps it next to B and Y
    assert peak_activation_bytes(save(tmp_path, nodes, ["Y"])) == 2 * FULL
    assert peak_activation_bytes(save(tmp_path, nodes, ["Y", "A"])) == 3 * FULL


def test_tensors_computed_from_constants_are_not_activations(tmp_path):
    k = numpy_helper.from_array(np.array([2.0], np.float32), "k")
    shape = numpy_helper.from_array(np.array([1, 4, 8, 8], np.int64), "S")
    nodes = [
        helper.make_node("Constant", [], ["K"], value=k),
        helper.make_node("Constant", [], ["S"], value=shape),
        helper.make_node("Expand", ["K", "S"], ["E"]),  # a full-size tensor, but folded
        helper.make_node("Add", ["X", "E"], ["Y"]),
    ]
    assert peak_activation_bytes(save(tmp_path, nodes, ["Y"])) == 2 * FULL


def test_unknown_shape_names_the_tensor(tmp_path):
    nodes = [helper.make_node("Relu", ["X"], ["R"]), helper.make_node("Relu", ["R"], ["Y"])]
    with pytest.raises(ExportError, match="'X'"):
        peak_activation_bytes(save(tmp_path, nodes, ["Y"], dims=(1, "c", 8, 8)))
    nodes = [helper.make_node("Mystery", ["X"], ["R"], domain="custom.ops"), *nodes[1:]]
    with pytest.raises(ExportError, match="'R'"):
        peak_activation_bytes(save(tmp_path, nodes, ["Y"]))


def test_bad_arguments(residual, tmp_path):
    with pytest.raises(ExportError, match="no ONNX file"):
        peak_activation_bytes(tmp_path / "missing.onnx")
    with pytest.raises(ExportError, match="batch"):
        peak_activation_bytes(residual, batch=0)


def test_timm_export(tmp_path):
    path = export_onnx(tiny_efficientnet(), torch.randn(1, 1, 32, 32), tmp_path / "eff.onnx")
    peak = peak_activation_bytes(path)
    # every activation's size, from an independent pass of shape inference at batch 1
    model = onnx.load(str(path), load_external_data=False)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    del model.graph.value_info[:]
    graph = shape_inference.infer_shapes(model).graph
    constants = {i.name for i in graph.initializer}
    total = sum(
        math.prod(d.dim_value for d in v.type.tensor_type.shape.dim)
        * helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).itemsize
        for v in (*graph.input, *graph.value_info)
        if v.name not in constants
    )
    assert 32 * 32 * 4 <= peak < total
    assert peak_activation_bytes(path, batch=4) > 3 * peak
