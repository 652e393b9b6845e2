"""Weight-only int8: a float ONNX layer's weight stored as int8 behind a DequantizeLinear.

ONNX Runtime's quantizers have no weight-only mode for convolutions (static quantization
always quantizes the activations of the nodes it selects), so this one step is written here:
per-output-channel symmetric int8 on the grid that training's fake quantization used, with
activations left float.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from autoedge.compress.int8_onnx import COMPUTE_OPS

QMAX = 127


def quantize_weights_int8(graph: onnx.GraphProto, nodes: set[str]) -> int:
    """Store the float weight of every Conv / Gemm / MatMul node named in `nodes` as int8 with
    per-output-channel fp32 scales, in place; the number of weights converted."""
    inits = {t.name: t for t in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    new_nodes: list[onnx.NodeProto] = []
    converted = 0
    for node in graph.node:
        weight = node.input[1] if node.name in nodes and node.op_type in COMPUTE_OPS else ""
        init = inits.get(weight)
        if init is None or init.data_type != onnx.TensorProto.FLOAT or readers[weight] != 1:
            new_nodes.append(node)
            continue
        w = numpy_helper.to_array(init)
        axis = _channel_axis(node, w)
        q, scale = _quantize(w, axis)
        graph.initializer.remove(init)
        graph.initializer.extend(
            [
                numpy_helper.from_array(q, f"{weight}_int8"),
                numpy_helper.from_array(scale, f"{weight}_scale"),
            ]
        )
        dequantized = f"{weight}_dequantized"
        new_nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{weight}_int8", f"{weight}_scale"],
                [dequantized],
                axis=axis,
            )
        )
        node.input[1] = dequantized
        new_nodes.append(node)
        converted += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    return converted


def _channel_axis(node: onnx.NodeProto, w: np.ndarray) -> int:
    """The axis of output channels: 0 for Conv and a transposed Gemm weight, else the last."""
    if node.op_type == "Conv":
        return 0
    trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
    return 0 if node.op_type == "Gemm" and trans_b else w.ndim - 1


def _quantize(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    amax = np.abs(moved).max(axis=1)
    scale = np.where(amax > 0, amax / QMAX, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -QMAX, QMAX).astype(np.int8)
    return q, scale
