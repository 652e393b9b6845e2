"""Export one point of a run as a verified, self-describing folder.

The candidate is rebuilt from the run, retrained at full fidelity, compressed and exported by
the same `evaluate()` the search used; its `model.onnx` is then scored on the whole test split
in a fresh ONNX Runtime session, fed by the card's documented numpy/Pillow preprocessing. If it
falls more than `tolerance` below what the run promised, the export fails, says by how much and
what it suspects, and leaves nothing in the destination.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd

from autoedge.compress.batches import PHOTO_RATIO, PHOTO_SCALE
from autoedge.compress.deployable import DEPLOYED_FILE, FLOAT_FILE
from autoedge.data import get_dataset, list_datasets
from autoedge.data.dataset import ImageDataset
from autoedge.deploy.card import (
    CARD_FORMAT,
    CARD_JSON,
    CARD_MD,
    EXPORT_TOLERANCE,
    MODEL_FILE,
    WEIGHTS_FILE,
    file_sha256,
    render_markdown,
    split_sha256,
)
from autoedge.deploy.diagnose import most_sensitive, quantization_drift
from autoedge.deploy.edge_onnx import fix_batch, input_shape, mobile_partitions
from autoedge.deploy.preprocess import InputSpec, prepare_images
from autoedge.deploy.selection import candidate_of, select_row
from autoedge.deploy.staging import check_destination, staged_folder
from autoedge.errors import ExportError, VerificationError
from autoedge.evaluate.devices import require_device
from autoedge.evaluate.fidelity import FULL_FIDELITY, Fidelity
from autoedge.evaluate.result import EvalResult
from autoedge.evaluate.teacher import prepare_teacher
from autoedge.hardware.host_latency import measure_host_latency
from autoedge.hardware.host_store import machine_id
from autoedge.hardware.onnx_runtime import onnx_accuracy
from autoedge.hardware.targets import Target, get_target
from autoedge.results import RunFolder, load_run, write_json_atomic, write_text_atomic
from autoedge.results.run_settings import read_run_settings, run_space
from autoedge.space import Candidate
from autoedge.space.precision import INT8, parse_precision_map
from autoedge.versions import versions


@dataclass(frozen=True)
class ExportReport:
    """Where the export went and its card (the content of model_card.json)."""

    folder: Path
    card: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "card": self.card}


@dataclass(frozen=True)
class _Promise:
    accuracy: float
    fidelity: str  # "full" (a refined row) or "search"


def export_point(
    run: str | Path,
    out: str | Path,
    *,
    trial: int | None = None,
    key: str | None = None,
    bounds: dict[str, float] | None = None,
    refit_epochs: int | None = None,
    force: bool = False,
    tolerance: float = EXPORT_TOLERANCE,
    log: Callable[[str], None] | None = None,
    device: str = "auto",
    batch: int | None = 1,
) -> ExportReport:
    """Retrain, compress, export and verify one point of `run` into the folder `out`.

    Retraining (and a teacher trained for it) runs on `device` (auto, cpu, cuda, cuda:N);
    the model is verified and timed on the CPU and the run's target. `batch`: the model's
    fixed batch size (1: what edge runtimes and mobile providers want, deploy/edge_onnx.py);
    None keeps the batch axis dynamic.
    Raises AutoEdgeError subclasses for bad input (before any training) and VerificationError
    when the exported model misses the run's promise; `out` is then left as it was.
    """
    say = log or (lambda m: None)
    view = load_run(run)
    config = read_run_settings(run)
    row = select_row(view, trial=trial, key=key, bounds=bounds)
    cand = candidate_of(row, run_space(run))
    dest = Path(out).absolute()
    check_destination(dest, force=force)
    fidelity = _export_fidelity(Fidelity.from_json(config.fidelity), refit_epochs)
    require_device(device)  # a GPU that is not here: say so before anything trains
    promise = _promise(view.folder, row, fidelity)
    dataset = get_dataset(config.data, image_size=config.image_size)
    target = get_target(config.target)
    teacher = None
    if cand.kd_alpha > 0:
        teacher = prepare_teacher(config.teacher, dataset, log=say, device=device)
    number = int(row["number"])
    say(
        f"exporting trial {number} ({cand.arch()}): retraining {fidelity.epochs} epochs on "
        f"{fidelity.subset or 'all'} images of {dataset.name}"
    )
    # torch loads here, after the checks
    from autoedge.compress.export import WEIGHTS_FILE as TRAINED_WEIGHTS
    from autoedge.evaluate.evaluator import evaluate

    with staged_folder(dest, force=force) as stage:
        work = stage / ".work"
        result = evaluate(
            cand,
            dataset,
            target=target,
            fidelity=fidelity,
            teacher=teacher,
            workdir=work,
            device=device,
        )
        if not result.ok:
            raise ExportError(f"retraining trial {number} for export failed: {result.error}")
        shutil.move(work / DEPLOYED_FILE, stage / MODEL_FILE)
        if batch is not None:
            fix_batch(stage / MODEL_FILE, batch)
        shutil.move(work / TRAINED_WEIGHTS, stage / WEIGHTS_FILE)
        (stage / WEIGHTS_FILE).chmod(0o644)
        first = input_shape(stage / MODEL_FILE)[0]
        spec = InputSpec(
            name=_input_name(stage / MODEL_FILE),
            batch=first if isinstance(first, int) else None,
            resolution=cand.resolution,
            channels=dataset.in_chans,
            mean=dataset.normalization[0],
            std=dataset.normalization[1],
        )
        say(f"verifying {MODEL_FILE} on {len(dataset.test_y)} test images")
        x_test = prepare_images(dataset.test_x, spec)
        accuracy = onnx_accuracy(stage / MODEL_FILE, x_test, dataset.test_y)
        if accuracy < promise.accuracy - tolerance:
            raise VerificationError(
                _shortfall(
                    number,
                    accuracy,
                    promise,
                    result,
                    work,
                    stage / MODEL_FILE,
                    x_test,
                    dataset.test_y,
                )
            )
        host = _host_latency(stage / MODEL_FILE, target, result, fidelity.latency_runs)
        card = _card(
            run=view.folder.path,
            dest=dest,
            row=row,
            cand=cand,
            dataset=dataset,
            data_spec=config.data,
            result=result,
            fidelity=fidelity,
            promise=promise,
            spec=spec,
            accuracy=accuracy,
            host=host,
            model=stage / MODEL_FILE,
        )
        write_json_atomic(stage / CARD_JSON, card)
        write_text_atomic(stage / CARD_MD, render_markdown(card))
        shutil.rmtree(work)
    say(f"exported to {dest}: {100 * accuracy:.2f}% (promised {100 * promise.accuracy:.2f}%)")
    return ExportReport(folder=dest, card=card)


def _export_fidelity(search: Fidelity, refit_epochs: int | None) -> Fidelity:
    full = replace(FULL_FIDELITY, seed=search.seed, batch_size=search.batch_size, lr=search.lr)
    if refit_epochs is not None:
        if isinstance(refit_epochs, bool) or not isinstance(refit_epochs, int) or refit_epochs < 1:
            raise ExportError(f"--refit-epochs must be an integer >= 1, got {refit_epochs!r}")
        full = full.with_budget(epochs=refit_epochs)
    return full


def _promise(folder: RunFolder, row: pd.Series, fidelity: Fidelity) -> _Promise:
    """The accuracy the run recorded for this point at the export's fidelity if it has one
    (a refined row at full fidelity), else the search-fidelity accuracy."""
    if fidelity.epochs == FULL_FIDELITY.epochs and folder.refined.is_file():
        try:
            refined = pd.read_csv(folder.refined)
        except (OSError, ValueError, pd.errors.ParserError):
            refined = pd.DataFrame()
        if {"number", "key", "state", "accuracy"} <= set(refined.columns):
            match = refined[(refined["number"] == row["number"]) & (refined["key"] == row["key"])]
            match = match[match["state"] == "ok"]
            if len(match):
                return _Promise(float(match.iloc[-1]["accuracy"]), "full")
    return _Promise(float(row["accuracy"]), "search")


def _input_name(path: Path) -> str:
    model = onnx.load(str(path), load_external_data=False)
    init = {i.name for i in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in init)


def _host_latency(path: Path, target: Target, result: EvalResult, runs: int) -> dict[str, Any]:
    """The host's latency of the exported file: the evaluation's when the target is host."""
    if target.name == "host" and result.latency_ms is not None:
        median, p90 = result.latency_ms, result.latency_p90_ms
    else:
        measured = measure_host_latency(path, threads=1, runs=runs)
        median, p90 = measured.median_ms, measured.p90_ms
    return {
        "target": "host",
        "source": "measured",
        "median_ms": median,
        "p90_ms": p90,
        "threads": 1,
        "machine": machine_id(1),
    }


def _shortfall(
    number: int,
    accuracy: float,
    promise: _Promise,
    result: EvalResult,
    work: Path,
    model: Path,
    x: np.ndarray,
    y: np.ndarray,
) -> str:
    """Why the export misses its promise, as one line: by how much, and the likely cause."""
    gap = 100 * (promise.accuracy - accuracy)
    head = (
        f"export of trial {number} failed verification: {100 * accuracy:.2f}% on the exported "
        f"ONNX is {gap:.2f} points below the run's {100 * promise.accuracy:.2f}% "
        f"({promise.fidelity} fidelity); nothing was written"
    )
    torch_acc = result.accuracy_torch or 0.0
    quantized = INT8 in parse_precision_map(result.precision_map or "fp32")
    if quantized:
        fp32 = onnx_accuracy(work / FLOAT_FILE, x, y)
        if fp32 - accuracy > 0.005:
            drift = quantization_drift(work / FLOAT_FILE, model, x[:64])
            worst = most_sensitive(drift)
            where = (
                f"; most sensitive layer {worst[0]} (+{worst[1]:.3f} relative error)"
                if worst
                else ""
            )
            return (
                f"{head}. Suspect int8 quantization: the fp32 export scores {100 * fp32:.2f}%"
                f"{where}; search with 16/32-bit choices for that stage"
            )
    if torch_acc - accuracy > 0.005:
        return f"{head}. Suspect the ONNX export: the PyTorch model scores {100 * torch_acc:.2f}%"
    return (
        f"{head}. Suspect training at this fidelity: the PyTorch model scores "
        f"{100 * torch_acc:.2f}% too; raise --refit-epochs"
    )


_AUGMENTATION = {  # what training did to the images (evaluation never augments)
    "none": "none",
    "photo": f"random resized crop (area {PHOTO_SCALE[0]:.0%}-{PHOTO_SCALE[1]:.0%} of the "
    f"stored image, aspect {PHOTO_RATIO[0]:.2f}-{PHOTO_RATIO[1]:.2f}; timm's "
    "RandomResizedCropAndInterpolation.get_params) and horizontal flip, resized to the model's "
    "resolution",
}


def _card(
    *,
    run: Path,
    dest: Path,
    row: pd.Series,
    cand: Candidate,
    dataset: ImageDataset,
    data_spec: str,
    result: EvalResult,
    fidelity: Fidelity,
    promise: _Promise,
    spec: InputSpec,
    accuracy: float,
    host: dict[str, Any],
    model: Path,
) -> dict[str, Any]:
    proto = onnx.load(str(model), load_external_data=False)
    mobile = mobile_partitions(model)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    folder_data = data_spec not in list_datasets()
    input_doc = spec.describe()
    if folder_data:
        size = dataset.image_size[0]
        mode = "RGB" if dataset.in_chans == 3 else "L"
        input_doc += (
            f" Image files are first read as autoedge loads them (data/image_folder.py: "
            f"load_image): with Pillow, `im.convert('{mode}')`, scaled so the shorter side is "
            f"{size} px (`im.resize((max({size}, round(w * {size} / min(w, h))), "
            f"max({size}, round(h * {size} / min(w, h)))), Image.BILINEAR)`), then the centre "
            f"{size}x{size} square cropped (offsets `(W - {size}) // 2`, `(H - {size}) // 2`), "
            "as uint8 pixels."
        )
    return {
        "format": CARD_FORMAT,
        "name": dest.name,
        "folder": str(dest),
        "run": str(run),
        "trial": int(row["number"]),
        "key": cand.key,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "candidate": {
            "genes": cand.genes(),
            "arch": cand.arch(),
            "block_strings": cand.block_strings(),
            "json": cand.to_json(),
        },
        "dataset": {
            "name": dataset.name,
            "spec": data_spec,
            "image_size": dataset.image_size[0] if folder_data else None,
            "train_augmentation": _AUGMENTATION[dataset.augmentation],
            "source": dataset.source,
            "test_images": len(dataset.test_y),
            "test_sha256": split_sha256(dataset.test_x, dataset.test_y),
        },
        "teacher": result.teacher,
        "fidelity": fidelity.to_json(),
        "promise": {"accuracy": promise.accuracy, "fidelity": promise.fidelity},
        "model": {
            "file": MODEL_FILE,
            "precision": result.ships_as,
            "ships_as": result.ships_as,
            "precision_map": parse_precision_map(result.precision_map or ""),
            "opset": int(opset),
            "bytes": model.stat().st_size,
            "sha256": file_sha256(model),
        },
        "weights": {
            "file": WEIGHTS_FILE,
            "sha256": file_sha256(model.parent / WEIGHTS_FILE),
        },
        "input": spec.to_json(),
        "input_doc": input_doc,
        # ONNX Runtime's mobile usability check (NNAPI, CoreML) of the shipped model
        "mobile": mobile,
        "output": {
            "name": proto.graph.output[0].name,
            "classes": dataset.num_classes,
            "class_names": list(dataset.classes),
        },
        "metrics": {
            "accuracy": accuracy,
            "accuracy_torch": result.accuracy_torch,
            "test_images": len(dataset.test_y),
            "size_bytes": result.size_bytes,
            "onnx_bytes": model.stat().st_size,
            "params": result.params,
            "macs": result.macs,
            "peak_memory_bytes": result.peak_memory_bytes,
        },
        "latency": {
            "target": {
                "target": result.target,
                "source": result.latency_source,
                "median_ms": result.latency_ms,
                "p90_ms": result.latency_p90_ms,
                # the 80% range: a prediction's interval, a measurement's p10-p90
                "low_ms": result.latency_low_ms,
                "high_ms": result.latency_high_ms,
            },
            "host": host,
        },
        "versions": versions(),
    }
