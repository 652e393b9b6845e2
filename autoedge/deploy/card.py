"""The model card of an export: what the model is, what it scores, and how to run it.

`model_card.json` is the machine-readable record `autoedge verify` checks against;
`model_card.md` renders the same facts for people, with the five lines of onnxruntime code
that run the model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from autoedge.errors import ExportError, VerificationError
from autoedge.evaluate.fidelity import Fidelity

CARD_FORMAT = "autoedge-export/1"
MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "weights.safetensors"
CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
EXPORT_FILES = (MODEL_FILE, WEIGHTS_FILE, CARD_JSON, CARD_MD)
#: An export may score at most this far (a fraction, 0.01 = 1 point) below the run's promise.
EXPORT_TOLERANCE = 0.01


def read_card(folder: str | Path) -> dict[str, Any]:
    """The card of an export folder: ExportError if the folder is not an export,
    VerificationError if its card is damaged."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder} is not a folder; give the folder `autoedge export` wrote")
    path = folder / CARD_JSON
    if not path.is_file():
        raise ExportError(
            f"{folder} is not an autoedge export (no {CARD_JSON}); give a folder "
            "`autoedge export --out` wrote"
        )
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VerificationError(f"{path} is unreadable ({e}); the export is damaged") from e
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise VerificationError(
            f"{path} is not an autoedge model card (format {CARD_FORMAT}); the export is damaged"
        )
    return card


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_sha256(images: Any, labels: Any) -> str:
    """Hex SHA-256 of a split's pixels and labels (tells verify it sees the same test set)."""
    digest = hashlib.sha256()
    digest.update(str(images.shape).encode())
    digest.update(images.tobytes())
    digest.update(labels.astype("int64").tobytes())
    return digest.hexdigest()


def usage_code(card: dict[str, Any]) -> str:
    """Five lines of plain onnxruntime that run the model on prepared images."""
    spec = card["input"]
    batch = _batch(card)
    rows = "N" if batch is None else str(batch)
    return "\n".join(
        [
            "import numpy as np, onnxruntime as ort",
            f'session = ort.InferenceSession("{MODEL_FILE}", providers=["CPUExecutionProvider"])',
            f"# x: float32 ({rows}, {spec['channels']}, {spec['resolution']}, "
            f"{spec['resolution']}), prepared as the card's Input section says",
            f'logits = session.run(None, {{"{spec["name"]}": x}})[0]',
            "classes = logits.argmax(axis=1)",
        ]
    )


def render_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown for people."""
    m, cand, data = card["metrics"], card["candidate"], card["dataset"]
    tgt, host = card["latency"]["target"], card["latency"]["host"]
    promise = card["promise"]
    lines = [
        f"# {card['name']}",
        "",
        f"Trial {card['trial']} (key `{card['key']}`) of run `{card['run']}`, exported "
        f"{card['exported_at']} by autoedge {card['versions']['autoedge']}.",
        "",
        "## Model",
        f"- file: `{MODEL_FILE}` ({card['model']['precision']}, opset {card['model']['opset']}, "
        f"{card['model']['bytes']:,} bytes, sha256 `{card['model']['sha256']}`)",
        _stages(card),
        f"- weights: `{WEIGHTS_FILE}` (compressed float model, sha256 "
        f"`{card['weights']['sha256']}`)",
        f"- architecture: `{cand['arch']}`",
        "- block strings (timm `decode_arch_def`): "
        + "; ".join(" ".join(stage) for stage in cand["block_strings"]),
        _distillation(card),
        "",
        "## Input",
        card["input_doc"],
        f"Output `{card['output']['name']}`: float32 ({_batch(card) or 'batch'}, "
        f"{card['output']['classes']}) logits for classes "
        f"{', '.join(card['output']['class_names'])}.",
        _batch_doc(card),
        "",
        *_mobile(card),
        "## Measured",
        "| metric | value |",
        "|---|---|",
        f"| accuracy (exported ONNX, {m['test_images']} test images of {data['name']}) | "
        f"{100 * m['accuracy']:.2f}% |",
        f"| accuracy promised by the run ({promise['fidelity']} fidelity) | "
        f"{100 * promise['accuracy']:.2f}% |",
        f"| latency on {tgt['target']} ({tgt['source']}) | {tgt['median_ms']:.3f} ms"
        f"{_interval(tgt)} |",
        f"| latency on host ({host['source']}, {host['machine']}) | {host['median_ms']:.3f} ms |",
        f"| weights as stored in `{MODEL_FILE}` (scales and zero points included) | "
        f"{m['size_bytes']:,} B |",
        f"| params | {m['params']:,} |",
        f"| MACs | {m['macs']:,} |",
        f"| peak activation memory (batch 1) | {m['peak_memory_bytes']:,} B |",
        "",
        f"Trained on {data['name']} ({data['source']}): "
        f"{Fidelity.from_json(card['fidelity']).describe()}; seed {card['fidelity']['seed']}.",
        "",
        "## Run it",
        "```python",
        usage_code(card),
        "```",
        "",
        "## Versions",
        ", ".join(f"{k} {v}" for k, v in card["versions"].items()),
        "",
        f"Check this folder any time with `autoedge verify {card['folder']}`.",
        "",
    ]
    return "\n".join(lines)


def _batch(card: dict[str, Any]) -> int | None:
    """The model's fixed batch size (None: dynamic; cards before the field: dynamic)."""
    first = card["input"]["shape"][0]
    return first if isinstance(first, int) and first > 0 else None


def _batch_doc(card: dict[str, Any]) -> str:
    batch = _batch(card)
    if batch is None:
        return "The batch axis is dynamic (exported with `--dynamic-batch`)."
    return (
        f"The batch size is fixed at {batch}, as edge runtimes and mobile providers want; "
        "`autoedge export --dynamic-batch` exports a dynamic batch axis instead."
    )


def _mobile(card: dict[str, Any]) -> list[str]:
    if not card.get("mobile"):
        return []
    from autoedge.deploy.edge_onnx import describe_partitions

    return [
        "## Mobile execution providers",
        "ONNX Runtime's usability check (`python -m "
        "onnxruntime.tools.check_onnx_model_mobile_usability`, operator lists only):",
        *(f"- {line}" for line in describe_partitions(card["mobile"]).splitlines()),
        "",
    ]


def _stages(card: dict[str, Any]) -> str:
    stages = card["model"].get("precision_map")
    if not stages:
        return f"- precision: {card['model']['precision']} throughout"
    shown = ", ".join(f"stage {i} {p}" for i, p in enumerate(stages))
    return (
        f"- precision per stage (stem with stage 0, head with the last): {shown} "
        "(int8 = int8 QDQ weights and activations; int8-weights = int8 weights, float "
        "activations)"
    )


def _distillation(card: dict[str, Any]) -> str:
    genes = card["candidate"]["genes"]
    if not card["teacher"]:
        return "- distillation: none (trained on labels only)"
    return (
        f"- distillation: alpha {genes.get('kd_alpha')}, temperature "
        f"{genes.get('kd_temperature', '-')} from teacher {card['teacher']}"
    )


def _interval(latency: dict[str, Any]) -> str:
    """The interval of a prediction, e.g. " (80%: 0.688-1.811 ms)"; "" otherwise."""
    low, high = latency.get("low_ms"), latency.get("high_ms")
    if latency.get("source") != "predicted" or low is None or high is None:
        return ""
    return f" (80%: {low:.3f}-{high:.3f} ms)"
