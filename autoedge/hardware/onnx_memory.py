"""Peak activation memory of one forward pass, read off an ONNX graph's inferred shapes."""

from __future__ import annotations

import math
from pathlib import Path

import onnx
from onnx import helper, shape_inference

from autoedge.errors import ExportError


def peak_activation_bytes(
    path: str | Path,
    *,
    batch: int = 1,
    bytes_per_element: int | None = None,
    fused_qdq: bool = False,
) -> int:
    """The largest total size of activation tensors alive at once when running `path`.

    Nodes run in graph (topological) order. A tensor is alive from the node that makes it (graph
    inputs from the start) until its last consumer has run; graph outputs stay alive to the end.
    At each node the count is the still-needed tensors plus the node's outputs. Weights
    (initializers), Constant outputs and what is computed from them alone (e.g. the
    DequantizeLinear of an int8 weight, which runtimes fold) are not activations. Activations
    are sized as the graph declares them: fp32 between the Q/DQ pairs of a QDQ model, so pass
    `bytes_per_element=1` to estimate a fused int8 runtime. The first input dimension, when
    symbolic, is set to `batch`; other unknown dimensions raise ExportError. A tensor weighs
    elements x `bytes_per_element`, or x its dtype's size when that is None. `fused_qdq` sizes a
    mixed-precision QDQ graph as a runtime that fuses its Q/DQ pairs holds it: a Q -> DQ chain
    on an activation is one tensor of 1 byte per element, every other tensor is sized by its
    dtype. Control-flow nodes with subgraphs (If, Loop, Scan) are not expected in exported
    CNNs and are rejected.
    """
    if batch < 1:
        raise ExportError(f"peak memory: batch must be >= 1, got {batch}")
    if bytes_per_element is not None and bytes_per_element < 1:
        raise ExportError(f"peak memory: bytes_per_element must be >= 1, got {bytes_per_element}")
    graph = _inferred_graph(Path(path), batch)
    constants = _constant_tensors(graph)
    nodes = list(graph.node)
    alias: dict[str, str] = {}
    if fused_qdq:
        nodes, alias = _collapse_qdq(nodes, constants)
    held_int8 = set(alias.values())
    end = len(nodes)
    last_use: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if any(
            a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
            for a in node.attribute
        ):
            raise ExportError(
                f"peak memory: node {node.name or node.op_type!r} has a subgraph "
                f"({node.op_type}); control flow is not supported, export a static graph"
            )
        for name in node.input:
            last_use[name] = i
    for out in graph.output:
        last_use[alias.get(out.name, out.name)] = end

    sizes = _tensor_bytes(graph, constants, bytes_per_element, held_int8)
    live = {i.name for i in graph.input if i.name not in constants}
    peak = sum(sizes[t] for t in live)
    for i, node in enumerate(nodes):
        live = {t for t in live if last_use.get(t, -1) >= i}  # freed after their last consumer
        outputs = {o for o in node.output if o and o not in constants}
        peak = max(peak, sum(sizes[t] for t in live | outputs))
        live |= outputs
    return peak


def _constant_tensors(graph: onnx.GraphProto) -> set[str]:
    """Initializers, Constant outputs, and outputs of deterministic nodes fed only by those."""
    constants = {i.name for i in graph.initializer}
    for node in graph.node:
        inputs = [n for n in node.input if n]
        fed_by_constants = bool(inputs) and all(n in constants for n in inputs)
        if node.op_type == "Constant" or (fed_by_constants and not _is_random(node.op_type)):
            constants.update(o for o in node.output if o)
    return constants


def _collapse_qdq(
    nodes: list[onnx.NodeProto], constants: set[str]
) -> tuple[list[onnx.NodeProto], dict[str, str]]:
    """`nodes` without the Q/DQ nodes on activations (their readers read the tensor the chain
    started from), and each removed output's source tensor (held as int8)."""
    alias: dict[str, str] = {}
    kept: list[onnx.NodeProto] = []
    for node in nodes:
        inputs = [alias.get(n, n) for n in node.input]
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and inputs[0] not in constants:
            alias[node.output[0]] = inputs[0]
            continue
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.input[:] = inputs
        kept.append(copy)
    return kept, alias


def _is_random(op_type: str) -> bool:
    """Ops whose output is not a function of their inputs, so never folded."""
    return op_type.startswith("Random") or op_type in ("Bernoulli", "Multinomial")


def _inferred_graph(path: Path, batch: int) -> onnx.GraphProto:
    """The graph of `path` with symbolic batch dims fixed to `batch` and shapes re-inferred."""
    if not path.is_file():
        raise ExportError(f"peak memory: no ONNX file at {path}; export the model first")
    try:
        model = onnx.load(str(path), load_external_data=False)  # dims suffice, not weights
    except Exception as e:  # protobuf errors
        raise ExportError(f"peak memory: cannot read {path} as ONNX: {e}") from e
    graph = model.graph
    for inp in graph.input:
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = batch  # clears dim_param too (protobuf oneof)
    del graph.value_info[:]  # stale symbolic shapes would mask the fixed batch
    for out in graph.output:
        out.type.tensor_type.ClearField("shape")
    try:
        return shape_inference.infer_shapes(model, data_prop=True).graph
    except Exception as e:  # onnx raises InferenceError and friends
        raise ExportError(f"peak memory: ONNX shape inference failed on {path}: {e}") from e


def _tensor_bytes(
    graph: onnx.GraphProto,
    constants: set[str],
    bytes_per_element: int | None,
    held_int8: set[str] | frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Bytes of every activation tensor; ExportError naming the first one without a shape."""
    infos = {v.name: v for v in (*graph.input, *graph.value_info, *graph.output)}
    names = [i.name for i in graph.input] + [o for n in graph.node for o in n.output]
    sizes: dict[str, int] = {}
    for name in names:
        if not name or name in constants:
            continue
        info = infos.get(name)
        tensor = info.type.tensor_type if info is not None else None
        if tensor is None or not tensor.HasField("shape"):
            raise ExportError(f"peak memory: tensor {name!r} has no inferred shape; cannot size it")
        dims = tensor.shape.dim
        if not all(d.HasField("dim_value") for d in dims):
            shown = [d.dim_value if d.HasField("dim_value") else d.dim_param or "?" for d in dims]
            raise ExportError(
                f"peak memory: tensor {name!r} has unknown dims {shown}; export with static "
                "shapes except the batch dimension"
            )
        if name in held_int8:
            item = 1
        elif bytes_per_element is not None:
            item = bytes_per_element
        else:
            try:
                item = helper.tensor_dtype_to_np_dtype(tensor.elem_type).itemsize
            except (KeyError, TypeError) as e:
                raise ExportError(
                    f"peak memory: tensor {name!r} has no sized dtype; pass bytes_per_element"
                ) from e
        sizes[name] = math.prod(d.dim_value for d in dims) * item
    return sizes
