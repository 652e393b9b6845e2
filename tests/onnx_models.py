"""Tiny hand-built ONNX models for agent and runtime tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_model(
    cin: int = 1,
    cout: int = 4,
    hw: int | str = 16,
    *,
    custom_op: bool = False,
    batch: int | str = 1,
) -> bytes:
    """A Conv + Relu model (or one whose op no runtime knows), serialized; `batch` or `hw`
    given as a name makes that axis dynamic."""
    weight = np.random.default_rng(0).standard_normal((cout, cin, 3, 3)).astype(np.float32)
    op = helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])
    if custom_op:
        op = helper.make_node("NoSuchOp", ["x", "w"], ["c"], domain="com.example")
    graph = helper.make_graph(
        [op, helper.make_node("Relu", ["c"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, cin, hw, hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, cout, hw, hw])],
        [numpy_helper.from_array(weight, "w")],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    model = helper.make_model(graph, opset_imports=opsets[: 1 + custom_op])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()
