"""Edge-ready ONNX (deploy/edge_onnx.py): a fixed batch-1 input and the mobile providers' view."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_models import conv_model

from autoedge.deploy.edge_onnx import fix_batch, input_shape, mobile_partitions
from autoedge.errors import ExportError
from autoedge.hardware.onnx_runtime import onnx_accuracy


@pytest.fixture
def dynamic(tmp_path):
    path = tmp_path / "dynamic.onnx"
    path.write_bytes(conv_model(batch="batch"))
    return path


def outputs(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_fix_batch_fixes_input_and_output_and_computes_the_same(dynamic, tmp_path) -> None:
    fixed = tmp_path / "fixed.onnx"
    fixed.write_bytes(dynamic.read_bytes())
    fix_batch(fixed)
    assert input_shape(dynamic) == ["batch", 1, 16, 16]
    assert input_shape(fixed) == [1, 1, 16, 16]
    session = ort.InferenceSession(str(fixed), providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].shape == [1, 4, 16, 16]
    x = np.random.default_rng(1).standard_normal((1, 1, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(outputs(fixed, x), outputs(dynamic, x))
    before = fixed.read_bytes()
    fix_batch(fixed)  # already fixed: left alone
    assert fixed.read_bytes() == before


def test_only_a_dynamic_batch_axis_can_be_fixed(tmp_path) -> None:
    path = tmp_path / "any_size.onnx"
    path.write_bytes(conv_model(batch="batch", hw="side"))
    with pytest.raises(ExportError, match="only the batch axis"):
        fix_batch(path)


def test_mobile_providers_take_the_nodes_only_once_the_batch_is_fixed(dynamic) -> None:
    before = mobile_partitions(dynamic)
    fix_batch(dynamic)
    after = mobile_partitions(dynamic)
    assert set(before) == set(after) == {"NNAPI", "CoreML MLProgram"}
    for ep in after:
        assert before[ep]["supported_nodes"] < after[ep]["supported_nodes"]
        assert after[ep]["supported_nodes"] == after[ep]["nodes"] >= 1
        assert (after[ep]["partitions"], after[ep]["verdict"]) == (1, "yes")


def classifier(batch: int | str) -> bytes:
    """Flatten + MatMul: (batch, 1, 16, 16) images to (batch, 4) logits."""
    w = np.random.default_rng(0).standard_normal((256, 4)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["f"]),
            helper.make_node("MatMul", ["f", "w"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_accuracy_of_a_fixed_batch_model_runs_it_one_batch_at_a_time(tmp_path) -> None:
    dynamic, fixed = tmp_path / "dynamic.onnx", tmp_path / "fixed.onnx"
    dynamic.write_bytes(classifier("batch"))
    fixed.write_bytes(classifier("batch"))
    fix_batch(fixed)
    x = np.random.default_rng(2).standard_normal((7, 1, 16, 16)).astype(np.float32)
    y = outputs(dynamic, x).argmax(axis=1)
    y[:2] = (y[:2] + 1) % 4  # two wrong labels: 5 of 7 right
    assert onnx_accuracy(fixed, x, y) == onnx_accuracy(dynamic, x, y) == pytest.approx(5 / 7)
    assert onnx_accuracy(dynamic, x, y, batch=3) == pytest.approx(5 / 7)  # a short last batch
