"""Where quantization hurts: compare each layer's output in the int8 and fp32 exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from autoedge.hardware.onnx_runtime import run_exposing

_LAYER_OPS = ("Conv", "Gemm", "MatMul")


def quantization_drift(
    fp32_path: str | Path, int8_path: str | Path, x: np.ndarray
) -> list[tuple[str, float]]:
    """(layer, relative L2 error of its int8 output against fp32 on `x`), in graph order.

    Layers are the fp32 graph's Conv/Gemm/MatMul nodes, paired in graph order with the QDQ
    graph's (our int8 export renames tensors, but the quantizer keeps the node order).
    """
    fp32 = onnx.load(str(fp32_path))
    int8 = onnx.load(str(int8_path))
    ref_nodes = [n for n in fp32.graph.node if n.op_type in _LAYER_OPS]
    q_nodes = [n for n in int8.graph.node if n.op_type in _LAYER_OPS]
    if [n.op_type for n in ref_nodes] != [n.op_type for n in q_nodes]:
        return []  # not the same network: nothing to compare layer by layer
    feed = {fp32.graph.input[0].name: np.ascontiguousarray(x, np.float32)}
    ref = run_exposing(fp32, [n.output[0] for n in ref_nodes], feed)
    got = run_exposing(int8, [n.output[0] for n in q_nodes], feed)
    out = []
    for r, q in zip(ref_nodes, q_nodes, strict=True):
        a, b = ref[r.output[0]], got[q.output[0]]
        if a.shape != b.shape:
            return []  # the order differs after all: a wrong pairing would mislead
        error = float(np.linalg.norm(a - b) / max(float(np.linalg.norm(a)), 1e-12))
        out.append((r.name or r.output[0], error))
    return out


def most_sensitive(drift: list[tuple[str, float]]) -> tuple[str, float] | None:
    """The layer whose error grows most over the largest error before it (None if no layers)."""
    best, seen = None, 0.0
    for layer, error in drift:
        jump = error - seen
        if best is None or jump > best[1]:
            best = (layer, jump)
        seen = max(seen, error)
    return best
