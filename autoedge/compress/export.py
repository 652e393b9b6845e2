"""Export a float torch module to ONNX (one file, dynamic batch dimension)."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from autoedge.errors import ExportError

WEIGHTS_FILE = "weights.safetensors"

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


EXPORTERS = ("torchscript", "dynamo")


def export_onnx(
    model: nn.Module,
    example_input: torch.Tensor,
    path: str | Path,
    *,
    opset: int = OPSET,
    exporter: str = "torchscript",
) -> Path:
    """Write `model` (eval mode, batch dimension dynamic) to `path` as one ONNX file.

    `exporter` ``torchscript`` (the default) is torch's tracing exporter: about ten times faster
    than ``dynamo`` (torch.export), which matters when every candidate of a search is exported;
    when it fails the dynamo exporter is tried. Give an example batch of at least 2: the dynamo
    exporter specialises a batch-1 example. The exporters' chatter is captured, so stdout stays
    clean for `--json` output; it is quoted in the error when the export fails.
    """
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; use one of {', '.join(EXPORTERS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    order = (exporter,) if exporter == "dynamo" else ("torchscript", "dynamo")
    failures = []
    try:
        for name in order:
            chatter = io.StringIO()
            try:
                with (
                    contextlib.redirect_stdout(chatter),
                    contextlib.redirect_stderr(chatter),
                    warnings.catch_warnings(),
                ):
                    warnings.simplefilter("ignore")
                    _EXPORT[name](model, example_input, path, opset)
                return path
            except Exception as e:  # the exporters raise many types; report them as one
                tail = " | ".join(chatter.getvalue().strip().splitlines()[-3:])
                failures.append(f"{name}: {type(e).__name__}: {e} [{tail}]")
    finally:
        model.train(was_training)
    raise ExportError("ONNX export failed: " + "; ".join(failures))


def _torchscript(model: nn.Module, x: torch.Tensor, path: Path, opset: int) -> None:
    torch.onnx.export(
        model,
        (x,),
        str(path),
        dynamo=False,
        opset_version=opset,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
    )


def _dynamo(model: nn.Module, x: torch.Tensor, path: Path, opset: int) -> None:
    torch.onnx.export(
        model,
        (x,),
        str(path),
        dynamo=True,
        external_data=False,
        opset_version=opset,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
        verbose=False,
    )


_EXPORT = {"torchscript": _torchscript, "dynamo": _dynamo}


def forward_numpy(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The model's eval-mode output for `x` as a numpy array (the reference for ONNX checks)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x).numpy()
    finally:
        model.train(was_training)


def save_weights(model: nn.Module, path: str | Path, metadata: dict[str, str]) -> Path:
    """Write `model`'s parameters and buffers as safetensors (shared tensors stored once)."""
    from safetensors.torch import save_model

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, str(path), metadata=metadata)
    return path
