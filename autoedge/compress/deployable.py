"""The one export path: a compressed model to the ONNX file that ships, at its precision plan.

`export_deployable` writes the float export (`model_fp32.onnx`, kept for diagnosis) and the
deployed model (`model.onnx`) whose every stage has the precision its genes say
(`autoedge.space.precision`): int8 stages through ONNX Runtime's static QDQ quantization
restricted to their Conv / Gemm nodes, int8-weights stages as int8 initializers behind a
DequantizeLinear, fp16 stages through ONNX Runtime's float16 converter restricted to their
nodes, fp32 stages untouched. evaluate() and `autoedge export` ship through here; the float
step is the same `export_onnx` that `inspect` and calibration's reference networks use.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx

from autoedge.compress.fp16_onnx import convert_nodes_to_fp16
from autoedge.compress.int8_onnx import COMPUTE_OPS, quantize_int8, shorten_names
from autoedge.compress.weight_only import quantize_weights_int8
from autoedge.errors import ExportError
from autoedge.space.precision import (
    FP16,
    INT8,
    INT8_WEIGHTS,
    STAGE_PRECISIONS,
    ships_as,
    stage_of_layer,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

DEPLOYED_FILE = "model.onnx"
FLOAT_FILE = "model_fp32.onnx"
_QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


@dataclass(frozen=True)
class DeployedModel:
    """The file that ships, its precision per stage, and the float export it was made from."""

    path: Path
    float_path: Path
    precision_map: tuple[str, ...]

    @property
    def ships_as(self) -> str:
        return ships_as(self.precision_map)

    def weight_bytes(self) -> int:
        """Bytes of the deployed model's weights as stored: every initializer (int8 weights,
        their scales and zero points, int32 biases, fp16 or fp32 tensors)."""
        return initializer_bytes(self.path)


def export_deployable(
    model: nn.Module,
    example: torch.Tensor,
    precision_map: Sequence[str],
    folder: Path,
    calibration: np.ndarray | None = None,
) -> DeployedModel:
    """Export `model` (plain float, eval) into `folder` with each stage at its precision.

    `calibration` (model inputs, batch first) sets the activation ranges of int8 stages and
    is needed only when there are some. Give an `example` batch of at least 2 (see
    `export_onnx`).
    """
    plan = tuple(precision_map)
    unknown = [p for p in plan if p not in STAGE_PRECISIONS]
    if unknown or not plan:
        raise ExportError(
            f"precision map {list(plan)} is not a list of {', '.join(STAGE_PRECISIONS)}"
        )
    from autoedge.compress.export import export_onnx  # torch: only where a model is exported

    folder.mkdir(parents=True, exist_ok=True)
    float_path = export_onnx(model, example, folder / FLOAT_FILE)
    path = folder / DEPLOYED_FILE
    stage_nodes = _nodes_by_stage(onnx.load(str(float_path)), len(plan), len(set(plan)) == 1)
    if INT8 in plan:
        if calibration is None:
            raise ExportError("int8 stages need calibration images to set activation ranges")
        nodes = _nodes_at(stage_nodes, plan, INT8)
        quantize_int8(float_path, path, calibration, nodes=nodes, shorten=False)
    else:
        shutil.copyfile(float_path, path)
    proto = onnx.load(str(path))
    if INT8_WEIGHTS in plan:
        quantize_weights_int8(proto.graph, set(_nodes_at(stage_nodes, plan, INT8_WEIGHTS)))
    if FP16 in plan:
        proto = convert_nodes_to_fp16(proto, set(_nodes_at(stage_nodes, plan, FP16)))
    for node in proto.graph.node:  # the exporter's per-node stack traces mean nothing shipped
        del node.metadata_props[:]
        node.doc_string = ""
    shorten_names(proto.graph, keep_nodes=frozenset(COMPUTE_OPS))
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))
    return DeployedModel(path=path, float_path=float_path, precision_map=plan)


def initializer_bytes(path: str | Path) -> int:
    """Total bytes of the initializers of the ONNX file at `path`, as stored."""
    proto = onnx.load(str(path))
    total = 0
    for init in proto.graph.initializer:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
        total += int(np.prod(init.dims, dtype=np.int64)) * dtype.itemsize
    return total


def _nodes_by_stage(proto: onnx.ModelProto, n_stages: int, uniform: bool) -> dict[int, list[str]]:
    """Node names per stage (Q/DQ nodes excluded). With one precision for every stage all
    nodes count as stage 0's; otherwise a compute node whose name holds no module path (an
    exporter that does not keep them) is an ExportError."""
    by_stage: dict[int, list[str]] = {i: [] for i in range(n_stages)}
    for node in proto.graph.node:
        if node.op_type in _QDQ_OPS:
            continue
        stage = 0 if uniform else stage_of_layer(node.name, n_stages)
        if stage is None:
            if node.op_type in COMPUTE_OPS:
                raise ExportError(
                    f"exported node {node.name!r} ({node.op_type}) names no layer of the "
                    "network, so its stage's precision cannot be applied"
                )
            continue
        if not 0 <= stage < n_stages:
            raise ExportError(f"exported node {node.name!r} is in stage {stage} of {n_stages}")
        by_stage[stage].append(node.name)
    return by_stage


def _nodes_at(stage_nodes: dict[int, list[str]], plan: Sequence[str], precision: str) -> list[str]:
    """The names of every node of the stages that ship at `precision` (the quantizers pick
    their op types among them)."""
    return [n for s, names in stage_nodes.items() if plan[s] == precision for n in names]
