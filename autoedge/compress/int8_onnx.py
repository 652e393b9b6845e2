"""Static int8 quantization of an fp32 ONNX model (QDQ format) with ONNX Runtime."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from autoedge.errors import ExportError

CALIBRATION_BATCH = 16
#: The operators whose weights a stage's bit-width genes govern.
COMPUTE_OPS: tuple[str, ...] = ("Conv", "Gemm", "MatMul")
_QUANT_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})


class _ArrayReader(CalibrationDataReader):
    """Feeds a calibration array to ORT's calibrator in fixed-size batches."""

    def __init__(self, data: np.ndarray, input_name: str, batch: int = CALIBRATION_BATCH) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            [{input_name: data[i : i + batch]} for i in range(0, len(data), batch)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    calibration: np.ndarray,
    *,
    per_channel: bool = True,
    nodes: list[str] | None = None,
    shorten: bool = True,
    requantize_outputs: bool = True,
) -> Path:
    """Write a static int8 QDQ copy of the fp32 ONNX model at `fp32_path` to `out_path`.

    `nodes` restricts quantization to those Conv / Gemm / MatMul nodes (ONNX Runtime's own
    node selection, `nodes_to_quantize`): their inputs, weights and outputs get Q/DQ pairs, so
    its int8 kernels run them, and every other operator stays float. None quantizes every
    operator ONNX Runtime can. `shorten` renames tensors (see `shorten_names`); a caller that
    still selects nodes by name afterwards passes False. `requantize_outputs=False` leaves the
    quantized nodes' outputs float (a benchmark's variant: ONNX Runtime's int8 kernels then
    cannot run them).

    Weights are int8 (per output channel unless `per_channel` is False), activations uint8 with
    MinMax ranges measured on `calibration` (float32, shaped like the model input, batch first).
    ONNX Runtime's pre-processing is skipped: on our exports (BatchNorm already folded)
    it changed no prediction and cost ~5x the time. The exporter's per-node debug metadata is
    dropped. Quantizer chatter is captured and quoted in the error if quantization fails.
    """
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    model = _load_float_model(fp32_path)
    inp = model.graph.input[0]
    data = _check_calibration(calibration, inp)
    if out_path.resolve() == fp32_path.resolve():
        raise ExportError(f"int8 quantization: output path {out_path} is the input; pick another")
    # torch.export's per-node stack traces: ~0.2 MB, a quarter of a 0.6M-param int8 file
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    selection: dict[str, object] = {}
    if nodes is not None:
        selection = {"nodes_to_quantize": list(nodes), "op_types_to_quantize": list(COMPUTE_OPS)}
    if not requantize_outputs:  # only for measuring what the output Q/DQ pairs buy
        selection["extra_options"] = {"OpTypesToExcludeOutputQuantization": list(COMPUTE_OPS)}
    chatter = io.StringIO()
    previous_disable = logging.root.manager.disable
    try:
        with (
            tempfile.TemporaryDirectory(prefix="autoedge-int8-") as tmp,
            contextlib.redirect_stdout(chatter),
            contextlib.redirect_stderr(chatter),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)  # ORT logs "consider pre-processing" on the root
            # ORT writes a shape-inferred copy next to its input: keep that in `tmp` too
            staged = Path(tmp) / "fp32.onnx"
            onnx.save_model(model, str(staged))
            quantize_static(
                str(staged),
                str(out_path),
                _ArrayReader(data, inp.name),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                **selection,
            )
    except Exception as e:  # the quantizer raises many types; report them as one
        tail = " | ".join(chatter.getvalue().strip().splitlines()[-3:])
        raise ExportError(
            f"int8 quantization of {fp32_path} failed: {type(e).__name__}: {e} [{tail}]"
        ) from e
    finally:
        logging.disable(previous_disable)
    if shorten:
        quantized = onnx.load(str(out_path))
        shorten_names(quantized.graph)
        onnx.save_model(quantized, str(out_path))
    return out_path


def shorten_names(graph: onnx.GraphProto, keep_nodes: frozenset[str] = frozenset()) -> None:
    """Rename every internal tensor to a short id and drop node names, in place.

    A QDQ graph names each Q/DQ pair after the tensor it wraps (``/blocks/blocks.2/...
    _QuantizeLinear_Output``); those strings are ~15% of a small int8 file and mean nothing
    to a runtime. Graph inputs and outputs keep their names, and so do the nodes of the op
    types in `keep_nodes` (the layer names that say which stage a convolution belongs to).
    """
    keep = {v.name for v in (*graph.input, *graph.output)}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        if name not in names:
            names[name] = f"t{len(names):x}"
        return names[name]

    for init in graph.initializer:
        init.name = short(init.name)
    for node in graph.node:
        if node.op_type not in keep_nodes:
            node.name = ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    for info in graph.value_info:
        info.name = short(info.name)


def _load_float_model(path: Path) -> onnx.ModelProto:
    """The model at `path` with its weights, checked to have one float32 input."""
    if not path.is_file():
        raise ExportError(f"int8 quantization: no ONNX file at {path}; export the model first")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf and external-data errors
        raise ExportError(f"int8 quantization: cannot read {path} as ONNX: {e}") from e
    inputs = model.graph.input
    if len(inputs) != 1:
        raise ExportError(f"int8 quantization: {path} has {len(inputs)} inputs; need exactly one")
    if inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise ExportError(
            f"int8 quantization: input {inputs[0].name!r} of {path} is not float32; "
            "only float image models can be calibrated"
        )
    if any(n.op_type in _QUANT_OPS or n.op_type.startswith("QLinear") for n in model.graph.node):
        raise ExportError(
            f"int8 quantization: {path} is already quantized; pass the fp32 export instead"
        )
    return model


def _check_calibration(calibration: np.ndarray, inp: onnx.ValueInfoProto) -> np.ndarray:
    """`calibration` as contiguous float32, checked against the input's rank and fixed dims."""
    try:
        data = np.ascontiguousarray(calibration, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ExportError(f"int8 quantization: calibration is not a float array: {e}") from e
    dims = [
        d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim
    ]
    if data.ndim != len(dims) or any(
        d is not None and d != n for d, n in zip(dims[1:], data.shape[1:], strict=True)
    ):
        shown = ["N" if d is None else d for d in dims]
        raise ExportError(
            f"int8 quantization: calibration shape {data.shape} does not fit model input "
            f"{inp.name!r} {shown}; pass a batch-first array of model inputs"
        )
    if len(data) == 0:
        raise ExportError("int8 quantization: calibration array is empty; pass at least one sample")
    if not np.isfinite(data).all():
        raise ExportError("int8 quantization: calibration data has NaN or inf; clean it first")
    return data
