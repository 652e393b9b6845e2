"""Run ONNX models in ONNX Runtime on this machine's CPU."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from autoedge.errors import ExportError


def open_session(
    path: str | Path, *, threads: int | None = None, providers: Sequence[str] | None = None
) -> ort.InferenceSession:
    """An ONNX Runtime session for `path` on the CPU, or on `providers` (in order of
    preference); `threads` caps intra-op threads."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            str(path), opts, providers=list(providers or ["CPUExecutionProvider"])
        )
    except Exception as e:  # ORT raises its own exception types for bad models
        raise ExportError(f"ONNX Runtime cannot load {path}: {e}") from e


def run_exposing(
    model: onnx.ModelProto, names: Sequence[str], feed: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Run `model` once, unoptimised, with the tensors `names` exposed as extra outputs;
    every output by name. ORT's own errors pass through (callers word them)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in have)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    outs = sess.run(None, feed)
    return {o.name: v for o, v in zip(sess.get_outputs(), outs, strict=True)}


def run_session(session: ort.InferenceSession, batch: np.ndarray) -> np.ndarray:
    """Outputs of the session's first output for one input batch (float32)."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def onnx_accuracy(
    path: str | Path, x: np.ndarray | Iterable[np.ndarray], y: np.ndarray, *, batch: int = 256
) -> float:
    """Top-1 accuracy of the classifier at `path` on prepared inputs `x` (one array, or
    consecutive chunks of it), in a fresh session (in `batch`es, or the model's own batch size
    when its input fixes one)."""
    session = open_session(path)
    step = fixed_batch(session) or batch
    preds = []
    for chunk in [x] if isinstance(x, np.ndarray) else x:
        data = np.ascontiguousarray(chunk, dtype=np.float32)
        preds += [
            run_padded(session, data[i : i + step]).argmax(1) for i in range(0, len(data), step)
        ]
    return float((np.concatenate(preds) == np.asarray(y)).mean())


def fixed_batch(session: ort.InferenceSession) -> int | None:
    """The batch size the session's first input fixes (None: dynamic)."""
    first = session.get_inputs()[0].shape[0]
    return first if isinstance(first, int) and first > 0 else None


def run_padded(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    """`run_session` for up to a batch of inputs, padding a short last batch of a model with a
    fixed batch size with zeros (their outputs dropped)."""
    fixed = fixed_batch(session)
    if fixed and len(x) < fixed:
        pad = np.zeros((fixed - len(x), *x.shape[1:]), dtype=np.float32)
        return run_session(session, np.concatenate([x, pad]))[: len(x)]
    return run_session(session, x)


def onnx_logits(
    path: str | Path,
    images: np.ndarray,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch: int = 256,
) -> np.ndarray:
    """Outputs of an image classifier for uint8 (N, H, W, C) images, normalised by the model's
    ``autoedge.mean`` / ``autoedge.std`` metadata when it has them, else by `mean` / `std`.

    Images are resized (bilinear) to the model's input size when it is fixed and different.
    """
    session = open_session(path)
    inp = session.get_inputs()[0]
    shape = inp.shape
    if len(shape) != 4:
        raise ExportError(f"{path}: input {inp.name} has shape {shape}; expected (N, C, H, W)")
    chans = shape[1] if isinstance(shape[1], int) else images.shape[3]
    if chans != images.shape[3]:
        raise ExportError(
            f"{path}: model takes {chans} channels, the images have {images.shape[3]}"
        )
    props = session.get_modelmeta().custom_metadata_map
    if "autoedge.mean" in props and "autoedge.std" in props:
        mean = tuple(float(v) for v in props["autoedge.mean"].split(","))
        std = tuple(float(v) for v in props["autoedge.std"].split(","))
    h = shape[2] if isinstance(shape[2], int) else images.shape[1]
    w = shape[3] if isinstance(shape[3], int) else images.shape[2]
    step = fixed_batch(session) or batch
    m = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    outs = []
    for start in range(0, len(images), step):
        chunk = _resize(images[start : start + step], h, w)
        x = (chunk.transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - m) / s
        outs.append(run_padded(session, x))
    return np.concatenate(outs).astype(np.float32)


def _resize(images: np.ndarray, h: int, w: int) -> np.ndarray:
    if images.shape[1:3] == (h, w):
        return images
    from PIL import Image

    out = np.empty((len(images), h, w, images.shape[3]), dtype=np.uint8)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[..., 0] if img.shape[2] == 1 else img)
        arr = np.asarray(pil.resize((w, h), Image.BILINEAR))
        out[i] = arr.reshape(h, w, -1)
    return out
