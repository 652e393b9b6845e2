"""Edge-ready ONNX: a fixed batch-1 input, and what ONNX Runtime's mobile checker says of it.

Mobile execution providers (NNAPI on Android, CoreML on Apple) take only nodes whose input
shapes are fixed: a front point exported with a dynamic batch axis gave them 0 of its 42 nodes
(`python -m onnxruntime.tools.check_onnx_model_mobile_usability`, issue 24). `fix_batch`
rewrites the batch axis to 1 (the operators and weights are untouched: the search timed the
same graph at batch 1); `mobile_partitions` runs the checker's partitioning on the model, as
the command does (optimized at ONNX Runtime's basic level first), and returns its summary for
the model card.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import onnx

from autoedge.errors import ExportError

#: ONNX Runtime's supported-operator lists for the mobile providers it checks, by name.
_COREML_OPS = "coreml_supported_mlprogram_ops.md"


def input_shape(path: Path) -> list[int | str]:
    """The first input's shape: sizes, or the name of a dynamic axis."""
    return _input_shape(onnx.load(str(path), load_external_data=False))


def _input_shape(model: onnx.ModelProto) -> list[int | str]:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def fix_batch(path: Path, batch: int = 1) -> None:
    """Rewrite the model at `path` in place so that its batch axis (input and outputs) is
    `batch`; a model whose batch is fixed already is left alone."""
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_input_shape_fixed

    model = onnx.load(str(path))
    first = model.graph.input[0]
    shape = _input_shape(model)
    if isinstance(shape[0], int) and shape[0] > 0:
        return
    if any(not isinstance(d, int) or d <= 0 for d in shape[1:]):
        raise ExportError(f"{path}: only the batch axis may be dynamic to fix it, got {shape}")
    make_input_shape_fixed(model.graph, first.name, [batch, *shape[1:]])
    fix_output_shapes(model)
    onnx.checker.check_model(model)
    tmp = path.with_suffix(".fixing.tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, path)


def mobile_partitions(path: Path) -> dict[str, dict[str, Any]]:
    """ONNX Runtime's mobile usability check of `path`, per provider (NNAPI, CoreML
    MLProgram): nodes, nodes it can take, partitions, the checker's verdict (yes, maybe, no)
    and the operators it cannot run. Shapes count: a dynamic input keeps nodes off."""
    from onnxruntime.tools.mobile_helpers import usability_checker as checker
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "model.onnx"
        optimize_model(Path(path), optimized, use_external_initializers=True)
        model = ModelProtoWithShapeInfo(optimized).model_with_shape_info
        infos = {
            "NNAPI": checker.check_nnapi_partitions(model, True),
            "CoreML MLProgram": checker.check_coreml_partitions(model, True, _COREML_OPS),
        }
    return {
        ep: {
            "nodes": info.num_nodes,
            "supported_nodes": info.num_supported_nodes,
            "partitions": info.num_partitions,
            "verdict": info.suitability().name.lower(),
            "unsupported_ops": sorted(str(op) for op in info.unsupported_ops),
        }
        for ep, info in infos.items()
    }


def describe_partitions(partitions: dict[str, dict[str, Any]]) -> str:
    """One line per provider, e.g. 'CoreML MLProgram: 40/42 nodes in 2 partitions (maybe)'."""
    lines = []
    for ep, p in partitions.items():
        share = f"{p['supported_nodes']}/{p['nodes']} nodes in {p['partitions']} partition(s)"
        missing = f"; cannot run {', '.join(p['unsupported_ops'])}" if p["unsupported_ops"] else ""
        lines.append(f"{ep}: {share} ({p['verdict']}){missing}")
    return "\n".join(lines)
