"""Read off a deployed ONNX file the precision each stage's convolutions really run at."""

from __future__ import annotations

from pathlib import Path

import onnx

from autoedge.errors import ExportError
from autoedge.hardware.onnx_graph import runs_int8, tensor_readers
from autoedge.space.precision import FP16, FP32, INT8, INT8_WEIGHTS, stage_of_layer

_COMPUTE_OPS = ("Conv", "Gemm", "MatMul")


def node_precision(
    node: onnx.NodeProto,
    producer: dict[str, onnx.NodeProto],
    inits: dict[str, onnx.TensorProto],
    readers: dict[str, list[str]],
) -> str:
    """int8 (a QDQ node unit, see `runs_int8`), int8-weights (its weight comes through
    DequantizeLinear, its activations stay float), fp16 (its weight is stored fp16) or fp32."""
    if runs_int8(node, producer, readers):
        return INT8
    weight = producer.get(node.input[1]) if len(node.input) > 1 else None
    if weight is not None and weight.op_type == "DequantizeLinear":
        return INT8_WEIGHTS
    init = inits.get(node.input[1]) if len(node.input) > 1 else None
    if init is not None and init.data_type == onnx.TensorProto.FLOAT16:
        return FP16
    return FP32


def deployed_precision_map(path: str | Path, n_stages: int) -> tuple[str, ...]:
    """Per stage, the precision its Conv / Gemm / MatMul nodes run at in the file at `path`
    ("a+b" when they disagree, "none" for a stage with no such node). Nodes whose name gives
    no stage count for every stage (an export that dropped layer names)."""
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # protobuf errors
        raise ExportError(f"cannot read {path} as ONNX: {e}") from e
    producer = {o: n for n in proto.graph.node for o in n.output}
    inits = {t.name: t for t in proto.graph.initializer}
    readers = tensor_readers(proto)
    found: list[set[str]] = [set() for _ in range(n_stages)]
    for node in proto.graph.node:
        if node.op_type not in _COMPUTE_OPS:
            continue
        prec = node_precision(node, producer, inits, readers)
        stage = stage_of_layer(node.name, n_stages)
        for s in range(n_stages) if stage is None else [stage]:
            if 0 <= s < n_stages:
                found[s].add(prec)
    return tuple("+".join(sorted(f)) if f else "none" for f in found)
