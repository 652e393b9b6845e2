"""What the device agent refuses, and the checks that a posted model is safe to measure.

Every refusal is a `Reject` (an HTTP status and a one-line message). `check_model_bytes` takes
a request body only if it is a valid, self-contained ONNX model: a model that points at external
data files is refused before anything else looks at it.
"""

from __future__ import annotations

from collections.abc import Iterator

import onnx


def first_line(e: object) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class Reject(Exception):
    """A request the agent answers with an error status and a one-line message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor stored in a graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attr in node.attribute:
        yield attr.t
        yield from attr.tensors
        for sparse in (attr.sparse_tensor, *attr.sparse_tensors):
            yield from (sparse.values, sparse.indices)
        for sub in (attr.g, *attr.graphs):
            yield from _tensors(sub)


def external_tensors(model: onnx.ModelProto) -> list[str]:
    """Names of the tensors that point at external data files (a request must never)."""
    graphs = [model.graph]
    for info in model.training_info:
        graphs += [info.initialization, info.algorithm]
    tensors = [t for g in graphs for t in _tensors(g)]
    tensors += [t for f in model.functions for n in f.node for t in _node_tensors(n)]
    return [
        t.name or "(unnamed)"
        for t in tensors
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data) > 0
    ]


def check_model_bytes(body: bytes) -> None:
    """Raise Reject(400) unless `body` is a valid, self-contained ONNX model.

    External data is refused before the checker runs, so no path from a request is ever
    looked up on this machine's filesystem.
    """
    try:
        model = onnx.load_from_string(body)
    except Exception as e:  # protobuf's DecodeError and friends
        raise Reject(400, f"not an ONNX model: {first_line(e)}") from None
    external = external_tensors(model)
    if external:
        names = ", ".join(external[:3]) + (" …" if len(external) > 3 else "")
        raise Reject(400, f"model uses external data ({names}); send a self-contained .onnx file")
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # ValidationError, or protobuf errors on odd fields
        raise Reject(400, f"not a valid ONNX model: {first_line(e)}") from None
