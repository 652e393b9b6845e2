"""Run ONNX models in ONNX Runtime on this machine's CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from autoedge.errors import ExportError


def open_session(path: str | Path, *, threads: int | None = None) -> ort.InferenceSession:
    """A CPU ONNX Runtime session for `path`; `threads` caps intra-op threads."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types for bad models
        raise ExportError(f"ONNX Runtime cannot load {path}: {e}") from e


def run_session(session: ort.InferenceSession, batch: np.ndarray) -> np.ndarray:
    """Outputs of the session's first output for one input batch (float32)."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
