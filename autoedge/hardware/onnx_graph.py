"""Walk any ONNX graph into the work its operators do: MACs, bytes moved, precision, fusion.

This is what a latency model sees of a network. It knows nothing of how the model was made:
a timm export, one of our candidates, or a user's file all read the same way. Shapes come from
ONNX Runtime's symbolic shape inference at batch 1 (it follows the shape arithmetic of
TF-"same" padding that plain ONNX inference gives up on).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import onnx

from autoedge.errors import TargetError

#: Element size in bytes of each precision a runtime executes.
ELEMENT_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}


def precision_bits(precisions: Iterable[str]) -> set[int]:
    """Bit-widths of tensors that runtimes executing `precisions` hold (fp32 -> 32, ...)."""
    return {ELEMENT_BYTES[p] * 8 for p in precisions}


#: Operator kinds a latency model has coefficients for.
COMPUTE_KINDS = ("conv", "dwconv", "pwconv", "gemm")
MEMORY_KINDS = ("pool", "elementwise")
KINDS = COMPUTE_KINDS + MEMORY_KINDS

#: Operators that only rename, reshape or describe tensors: no work at run time.
_FREE_OPS = frozenset(
    {
        "Identity",
        "Constant",
        "Shape",
        "Flatten",
        "Reshape",
        "Squeeze",
        "Unsqueeze",
        "Dropout",
        "QuantizeLinear",
        "DequantizeLinear",
        "Cast",
        "ConstantOfShape",
        "Size",
    }
)
_POOL_OPS = frozenset(
    {"GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool", "ReduceMean", "ReduceMax"}
)
_CONV_OPS = frozenset({"Conv", "QLinearConv", "ConvInteger"})
_GEMM_OPS = frozenset({"Gemm", "MatMul", "QLinearMatMul", "MatMulInteger"})
#: Outputs with fewer elements than this are shape arithmetic (padding sizes and the like).
_SCALAR_ELEMENTS = 16


@dataclass(frozen=True)
class OpWork:
    """One operator's work at batch 1: multiply-accumulates and elements read and written.

    `chain` lists the op types between the nearest preceding convolution and this operator
    when each is the sole consumer of the one before (Conv -> BatchNormalization -> Relu gives
    Relu the chain ("BatchNormalization", "Relu")); a runtime that fuses all of them into the
    convolution runs this operator for free. Empty when the operator does not follow a conv.
    """

    name: str
    op_type: str
    kind: str  # one of KINDS
    precision: str  # "fp32", "fp16" or "int8"
    macs: int
    elements: int  # input activations + weights + output
    chain: tuple[str, ...] = ()

    @property
    def bytes(self) -> int:
        """Bytes moved at the operator's precision."""
        return self.elements * ELEMENT_BYTES[self.precision]

    def fused(self, fuse: frozenset[str] | set[str]) -> bool:
        """Whether a runtime that fuses the op types in `fuse` into convolutions folds it."""
        return bool(self.chain) and all(t in fuse for t in self.chain)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "chain": list(self.chain)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OpWork:
        return cls(**{**data, "chain": tuple(data.get("chain", ()))})


def at_precision(ops: Iterable[OpWork], precision: str) -> list[OpWork]:
    """The operators as a runtime would run them with every tensor at `precision`."""
    if precision not in ELEMENT_BYTES:
        raise TargetError(f"unknown precision {precision!r}; use one of {list(ELEMENT_BYTES)}")
    return [replace(op, precision=precision) for op in ops]


def graph_work(model: str | Path | onnx.ModelProto) -> list[OpWork]:
    """The operators of `model` that take time, in graph order, at the graph's precision:
    int8 where a runtime runs the operator with int8 kernels (`runs_int8`), fp16 where its
    tensors are fp16, fp32 elsewhere (see `at_precision` to run it at another)."""
    proto = _load(model)
    shapes = _static_shapes(proto)
    inits = {t.name: t for t in proto.graph.initializer}
    producer: dict[str, onnx.NodeProto] = {}
    consumers: dict[str, int] = {}
    for node in proto.graph.node:
        for out in node.output:
            producer[out] = node
        for inp in node.input:
            consumers[inp] = consumers.get(inp, 0) + 1
    for node in proto.graph.node:  # Constant nodes act as initializers
        for attr in node.attribute:
            if node.op_type == "Constant" and attr.name == "value":
                inits[node.output[0]] = attr.t
    half = _half_tensors(proto, inits)
    readers = tensor_readers(proto)
    ops: list[OpWork] = []
    chains: dict[str, tuple[str, ...]] = {}  # tensor -> op types since the conv that made it
    for node in proto.graph.node:
        if node.op_type in _FREE_OPS:
            if node.input and node.input[0] in chains:
                for out in node.output:
                    chains[out] = chains[node.input[0]]
            continue
        out_elems = _elements(shapes.get(node.output[0]) if node.output else None)
        if out_elems is None:
            continue  # an output nothing computes
        kind, macs = _kind_and_macs(node, shapes, inits)
        if kind == "elementwise" and out_elems < _SCALAR_ELEMENTS:
            continue  # shape arithmetic (padding sizes and the like)
        act_in = sum(_elements(shapes.get(i)) or 0 for i in node.input if i and i not in inits)
        weights = sum(_tensor_elements(inits[i]) for i in _weight_inputs(node, producer, inits))
        chain: tuple[str, ...] = ()
        src = _source(node.input[0], producer) if node.input else ""
        sole = consumers.get(src, 0) == 1 and consumers.get(node.input[0], 0) == 1
        if kind in MEMORY_KINDS and node.input[0] in chains and sole:
            chain = (*chains[node.input[0]], node.op_type)
        if kind in ("conv", "dwconv", "pwconv"):
            for out in node.output:
                chains[out] = ()
        elif chain:
            for out in node.output:
                chains[out] = chain
        prec = _graph_precision(node, producer, half, readers)
        ops.append(
            OpWork(node.name, node.op_type, kind, prec, macs, act_in + out_elems + weights, chain)
        )
    return ops


def total_macs(ops: Iterable[OpWork]) -> int:
    """Multiply-accumulates of all operators."""
    return sum(op.macs for op in ops)


def ops_precision(ops: Iterable[OpWork]) -> str:
    """The precision every compute operator runs at ("int8" for QDQ or QLinear, "fp16",
    "fp32"), or "mixed" when they differ."""
    kinds = {op.precision for op in ops if op.kind in COMPUTE_KINDS}
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "fp32")


def compute_precisions(ops: Iterable[OpWork]) -> set[str]:
    """The precisions the compute operators of `ops` run at."""
    return {op.precision for op in ops if op.kind in COMPUTE_KINDS}


def ops_at(ops: Sequence[OpWork], precision: str | None) -> list[OpWork]:
    """`ops` as run at `precision`, or at each one's own precision when it is None."""
    return list(ops) if precision is None else at_precision(ops, precision)


def _load(model: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    path = Path(model)
    if not path.is_file():
        raise TargetError(f"no ONNX model at {path}")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises its own DecodeError
        raise TargetError(f"{path} is not an ONNX model ({type(e).__name__}: {e})") from e


def _static_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape with batch (any symbolic leading input dim) fixed to 1."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for inp in m.graph.input:
        for d in inp.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.ClearField("dim_param")
                d.dim_value = 1
    try:
        inferred = SymbolicShapeInference.infer_shapes(m, auto_merge=True)
    except Exception:  # fall back to plain ONNX inference; unknown shapes are skipped later
        inferred = None
    if inferred is None:
        inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
    shapes: dict[str, tuple[int, ...]] = {}
    for v in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = v.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[v.name] = tuple(int(d.dim_value) for d in dims)
    for t in inferred.graph.initializer:
        shapes[t.name] = tuple(int(d) for d in t.dims)
    missing = [
        out
        for node in m.graph.node
        if node.op_type != "Constant"
        for out in node.output
        if out and out not in shapes
    ]
    if missing:
        shapes.update(_run_for_shapes(m, missing))
    return shapes


def _run_for_shapes(model: onnx.ModelProto, names: list[str]) -> dict[str, tuple[int, ...]]:
    """Shapes that inference cannot derive (e.g. padding computed from the input's size),
    read by running the graph once on zeros at batch 1 with those tensors as outputs."""
    import numpy as np

    from autoedge.hardware.onnx_runtime import run_exposing

    init = {i.name for i in model.graph.initializer}
    feed = {}
    for inp in model.graph.input:
        if inp.name in init:
            continue
        t = inp.type.tensor_type
        shape = [d.dim_value if d.dim_value > 0 else 1 for d in t.shape.dim]
        dtype = np.int64 if t.elem_type == onnx.TensorProto.INT64 else np.float32
        feed[inp.name] = np.zeros(shape, dtype=dtype)
    try:
        outs = run_exposing(model, names, feed)
    except Exception as e:  # ORT raises its own exception types for bad models
        raise TargetError(f"ONNX Runtime cannot run the model to read its shapes: {e}") from e
    return {name: tuple(int(d) for d in np.shape(v)) for name, v in outs.items()}


def _elements(shape: tuple[int, ...] | None) -> int | None:
    return None if shape is None else math.prod(shape)


def _tensor_elements(t: onnx.TensorProto) -> int:
    return math.prod(int(d) for d in t.dims)


def _source(name: str, producer: dict[str, onnx.NodeProto]) -> str:
    """The tensor a chain of free operators (Identity, Q/DQ, ...) started from."""
    seen = 0
    while name in producer and producer[name].op_type in _FREE_OPS and seen < 16:
        node = producer[name]
        if not node.input:
            break
        name = node.input[0]
        seen += 1
    return name


def _weight_inputs(
    node: onnx.NodeProto, producer: dict[str, onnx.NodeProto], inits: dict[str, onnx.TensorProto]
) -> list[str]:
    """Initializer inputs, also those behind a DequantizeLinear (QDQ weights)."""
    names = []
    for i in node.input:
        if i in inits:
            names.append(i)
            continue
        p = producer.get(i)
        if p is not None and p.op_type == "DequantizeLinear" and p.input[0] in inits:
            names.append(p.input[0])
    return names


def runs_int8(
    node: onnx.NodeProto, producer: dict[str, onnx.NodeProto], readers: dict[str, list[str]]
) -> bool:
    """Whether a runtime runs `node` with int8 kernels: a QLinear / Integer operator, or a
    conv / matmul of a QDQ node unit (input and weight come through DequantizeLinear, the
    output goes on through QuantizeLinear). A float layer that reads the dequantized output of
    an int8 one, or an int8 weight dequantized into float activations, runs in float."""
    if node.op_type.startswith("QLinear") or node.op_type.endswith("Integer"):
        return True
    if (node.op_type not in _CONV_OPS and node.op_type not in _GEMM_OPS) or len(node.input) < 2:
        return False
    inputs = [producer.get(name) for name in node.input[:2]]
    through_dq = all(p is not None and p.op_type == "DequantizeLinear" for p in inputs)
    out = readers.get(node.output[0], []) if node.output else []
    return through_dq and bool(out) and all(op == "QuantizeLinear" for op in out)


def tensor_readers(proto: onnx.ModelProto) -> dict[str, list[str]]:
    """Each tensor's reading nodes' op types."""
    readers: dict[str, list[str]] = {}
    for node in proto.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.op_type)
    return readers


def _graph_precision(
    node: onnx.NodeProto,
    producer: dict[str, onnx.NodeProto],
    half: set[str],
    readers: dict[str, list[str]],
) -> str:
    if runs_int8(node, producer, readers):
        return "int8"
    if any(i in half for i in node.input):
        return "fp16"
    return "fp32"


def _half_tensors(proto: onnx.ModelProto, inits: dict[str, onnx.TensorProto]) -> set[str]:
    """Tensors of dtype float16: fp16 initializers, Casts to fp16, and what nodes compute from
    an fp16 input (a runtime computes those in fp16)."""
    half = {n for n, t in inits.items() if t.data_type == onnx.TensorProto.FLOAT16}
    for node in proto.graph.node:
        if node.op_type == "Cast":
            if _attr(node, "to", 0) == onnx.TensorProto.FLOAT16:
                half.update(node.output)
        elif node.op_type not in ("QuantizeLinear", "DequantizeLinear") and any(
            i in half for i in node.input
        ):
            half.update(node.output)
    return half


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(onnx.helper.get_attribute_value(a))
    return default


def _kind_and_macs(
    node: onnx.NodeProto,
    shapes: dict[str, tuple[int, ...]],
    inits: dict[str, onnx.TensorProto],
) -> tuple[str, int]:
    op = node.op_type
    out = shapes.get(node.output[0], ())
    if op in _CONV_OPS:
        w_name = node.input[3] if op == "QLinearConv" else node.input[1]
        w = shapes.get(w_name) or _init_shape(w_name, inits)
        if not w or len(out) < 3:
            return "conv", 0
        group = _attr(node, "group", 1)
        kernel = math.prod(w[2:])
        macs = math.prod(out) * w[1] * kernel
        if group > 1 and w[1] == 1:
            return "dwconv", macs
        return ("pwconv" if kernel == 1 and group == 1 else "conv"), macs
    if op in _GEMM_OPS:
        b_name = node.input[3] if op == "QLinearMatMul" else node.input[1]
        b = shapes.get(b_name) or _init_shape(b_name, inits)
        k = b[0] if b and not _attr(node, "transB", 0) else (b[-1] if b else 0)
        if op != "Gemm" and b:
            k = b[-2] if len(b) >= 2 else b[0]
        return "gemm", math.prod(out) * int(k)
    if op in _POOL_OPS:
        return "pool", 0
    return "elementwise", 0


def _init_shape(name: str, inits: dict[str, onnx.TensorProto]) -> tuple[int, ...]:
    t = inits.get(name)
    return tuple(int(d) for d in t.dims) if t is not None else ()
