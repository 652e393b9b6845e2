"""Export a float torch module to ONNX with the torch.export-based exporter."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from autoedge.errors import ExportError

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(
    model: nn.Module, example_input: torch.Tensor, path: str | Path, *, opset: int = OPSET
) -> Path:
    """Write `model` (eval mode, batch dimension dynamic) to `path` as ONNX.

    The exporter's progress chatter is captured, so stdout stays clean for `--json` output;
    it is quoted in the error when the export fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    chatter = io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(chatter),
            contextlib.redirect_stderr(chatter),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example_input,),
                str(path),
                dynamo=True,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
                verbose=False,
            )
    except Exception as e:  # the exporter raises many types; report them as one
        tail = " | ".join(chatter.getvalue().strip().splitlines()[-3:])
        raise ExportError(f"ONNX export failed: {type(e).__name__}: {e} [{tail}]") from e
    finally:
        model.train(was_training)
    return path


def forward_numpy(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The model's eval-mode output for `x` as a numpy array (the reference for ONNX checks)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x).numpy()
    finally:
        model.train(was_training)
