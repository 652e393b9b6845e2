"""fp16 for chosen nodes of an ONNX model, through ONNX Runtime's float16 converter."""

from __future__ import annotations

import contextlib
import io
import warnings

import onnx

from autoedge.errors import ExportError

_FLOAT = onnx.TensorProto.FLOAT
_HALF = onnx.TensorProto.FLOAT16


def convert_nodes_to_fp16(model: onnx.ModelProto, nodes: set[str]) -> onnx.ModelProto:
    """A copy of `model` whose nodes named in `nodes` compute in fp16 (Casts at the borders);
    every other node, and the model's inputs and outputs, stay as they are."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    blocked = [n.name for n in model.graph.node if n.name not in nodes]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp16 = convert_float_to_float16(model, keep_io_types=True, node_block_list=blocked)
    _drop_round_trips(fp16.graph)
    sort_nodes(fp16.graph)  # the converter appends its Casts after their consumers
    return fp16


def _drop_round_trips(graph: onnx.GraphProto) -> None:
    """Remove the converter's float -> fp16 -> float Cast pairs between two float nodes (it
    wraps every blocked node in Casts), so only the fp16 stages' borders keep theirs."""
    producer = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    rename: dict[str, str] = {}
    for node in graph.node:
        inner = producer.get(node.input[0]) if node.op_type == "Cast" else None
        if (
            inner is not None
            and inner.op_type == "Cast"
            and _to(node) == _FLOAT
            and _to(inner) == _HALF
        ):
            if node.output[0] in outputs:  # keeps its name: a float-to-float Cast, a no-op
                node.input[0] = inner.input[0]
            else:
                rename[node.output[0]] = inner.input[0]
    for node in graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
    _remove_dead(graph)


def _to(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), -1)


def _remove_dead(graph: onnx.GraphProto) -> None:
    """Drop nodes none of whose outputs is read (repeatedly) or is a graph output."""
    keep_names = {o.name for o in graph.output}
    while True:
        read = {n for node in graph.node for n in node.input} | keep_names
        alive = [n for n in graph.node if any(o in read for o in n.output)]
        if len(alive) == len(graph.node):
            return
        del graph.node[:]
        graph.node.extend(alive)


def sort_nodes(graph: onnx.GraphProto) -> None:
    """Order `graph`'s nodes so each comes after the producers of its inputs (in place)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ExportError("fp16 conversion left a graph with a cycle or a missing input")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
