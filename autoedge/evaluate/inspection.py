"""Look inside candidates: build, compress, count, export to ONNX and check ORT agrees."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoedge.compress.build import build_model, example_input
from autoedge.compress.export import export_onnx, forward_numpy
from autoedge.compress.pipeline import CompressionPlan, compress_pruned
from autoedge.compress.prune import prune_channels
from autoedge.compress.stats import model_stats
from autoedge.errors import ExportError
from autoedge.hardware.onnx_runtime import open_session, run_session
from autoedge.space.candidate import Candidate

#: ORT and PyTorch must agree to within this (relative to the logits' scale).
ONNX_RTOL = 1e-3
ONNX_ATOL = 1e-4


@dataclass(frozen=True)
class InspectReport:
    """What one candidate builds to, before and after compression, and whether ONNX agrees."""

    key: str
    network_key: str
    candidate: dict[str, Any]
    arch: list[list[str]]
    params: int
    params_pruned: int
    params_compressed: int
    macs: int
    macs_pruned: int
    macs_compressed: int
    weight_bytes: int
    weight_bytes_fp32: int
    factorized_layers: int
    onnx_ok: bool
    onnx_max_abs_diff: float | None
    onnx_error: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def inspect_candidate(
    candidate: Candidate, *, in_chans: int, num_classes: int, round_to: int = 8
) -> InspectReport:
    """Build and compress `candidate` (untrained weights) and check its ONNX export."""
    model = build_model(candidate, in_chans=in_chans, num_classes=num_classes).eval()
    x = example_input(candidate, in_chans, batch=2)
    base = model_stats(model, x)
    plan = CompressionPlan.from_candidate(candidate)
    pruned_model = prune_channels(model, x, plan.prune, round_to=round_to)
    pruned = model_stats(pruned_model, x)
    compressed = compress_pruned(pruned_model, candidate)
    frozen = compressed.frozen().eval()
    after = model_stats(frozen, x)
    ok, diff, error = onnx_agrees(frozen, x)
    return InspectReport(
        key=candidate.key,
        network_key=compressed.network_key,
        candidate=candidate.to_json(),
        arch=candidate.block_strings(),
        params=base.params,
        params_pruned=pruned.params,
        params_compressed=after.params,
        macs=base.macs,
        macs_pruned=pruned.macs,
        macs_compressed=after.macs,
        weight_bytes=compressed.weight_bytes(),
        weight_bytes_fp32=4 * after.params,
        factorized_layers=len(compressed.factorized),
        onnx_ok=ok,
        onnx_max_abs_diff=diff,
        onnx_error=error,
    )


def onnx_agrees(model: Any, x: Any) -> tuple[bool, float | None, str | None]:
    """Export `model` to ONNX, run it in ORT on `x`, and compare with PyTorch's output."""
    expected = forward_numpy(model, x)
    with tempfile.TemporaryDirectory(prefix="autoedge-inspect-") as tmp:
        try:
            path = export_onnx(model, x, Path(tmp) / "model.onnx")
            got = run_session(open_session(path, threads=1), x.numpy())
        except ExportError as e:
            return False, None, str(e)
    diff = float(np.max(np.abs(got - expected)))
    scale = max(1.0, float(np.abs(expected).max()))
    ok = got.shape == expected.shape and bool(
        np.allclose(got, expected, rtol=ONNX_RTOL, atol=ONNX_ATOL * scale)
    )
    return ok, diff, None if ok else f"ONNX Runtime differs from PyTorch by {diff:.3g}"
