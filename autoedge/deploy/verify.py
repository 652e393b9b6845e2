"""Re-check an export folder against its card: files, hashes, accuracy, host latency.

Runs without torch: the model is fed by the card's numpy/Pillow preprocessing in a fresh
ONNX Runtime session, as a user's own code would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnx

from autoedge.data import get_dataset
from autoedge.deploy.card import (
    EXPORT_FILES,
    EXPORT_TOLERANCE,
    MODEL_FILE,
    WEIGHTS_FILE,
    file_sha256,
    read_card,
    split_sha256,
)
from autoedge.deploy.preprocess import InputSpec, prepare_images
from autoedge.errors import AutoEdgeError
from autoedge.hardware.host_latency import measure_host_latency
from autoedge.hardware.host_store import machine_id
from autoedge.hardware.onnx_precision import deployed_precision_map
from autoedge.hardware.onnx_runtime import onnx_accuracy
from autoedge.space.precision import ships_as

#: Same test split: the accuracy must match the card to 0.1 point.
SAME_SPLIT_TOLERANCE = 0.001
#: On the export's machine, host latency may differ from the card's by this factor either way,
#: plus LATENCY_SLACK_MS of timer noise (shared machines; sub-millisecond models).
LATENCY_FACTOR = 3.0
LATENCY_SLACK_MS = 0.2


@dataclass(frozen=True)
class Check:
    """One verified property: its name, whether it held, and what was found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """Every check made on an export folder."""

    folder: Path
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "ok": self.ok,
            "checks": [asdict(c) for c in self.checks],
        }


def verify_export(
    folder: str | Path,
    *,
    data: str | None = None,
    latency_runs: int = 20,
    log: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Check an export folder; `data` replaces the card's dataset (e.g. moved to a new path).

    Raises ExportError when `folder` is not an export at all; every mismatch is a failed Check.
    """
    say = log or (lambda m: None)
    folder = Path(folder)
    card = read_card(folder)
    checks = [_files(folder)]
    model, weights = folder / MODEL_FILE, folder / WEIGHTS_FILE
    checks.append(_hash(model, card["model"]["sha256"], MODEL_FILE))
    checks.append(_hash(weights, card["weights"]["sha256"], WEIGHTS_FILE))
    loadable = _loads(model)
    checks.append(loadable)
    if loadable.ok:
        checks.append(_precision(model, card))
        say(f"scoring {MODEL_FILE} on the test split")
        checks.append(_accuracy(model, card, data))
        checks.append(_latency(model, card, latency_runs))
    return VerifyReport(folder=folder, checks=tuple(checks))


def _files(folder: Path) -> Check:
    missing = [f for f in EXPORT_FILES if not (folder / f).is_file()]
    if missing:
        return Check("files", False, f"missing {', '.join(missing)}")
    return Check("files", True, ", ".join(EXPORT_FILES))


def _hash(path: Path, expected: str, what: str) -> Check:
    if not path.is_file():
        return Check(f"{what} sha256", False, "file missing")
    found = file_sha256(path)
    if found != expected:
        return Check(
            f"{what} sha256",
            False,
            f"{found[:16]}… does not match the card's {expected[:16]}…: the file was changed or "
            "corrupted after export",
        )
    return Check(f"{what} sha256", True, found[:16] + "…")


def _loads(model: Path) -> Check:
    try:
        onnx.checker.check_model(onnx.load(str(model)), full_check=True)
    except Exception as e:  # onnx raises several types (DecodeError, ValidationError, OSError)
        text = " ".join(str(e).split())[:160] or type(e).__name__
        return Check("model loads", False, f"{MODEL_FILE} is not a valid ONNX model: {text}")
    return Check("model loads", True, "onnx checker passed")


def _precision(model: Path, card: dict[str, Any]) -> Check:
    """The file runs each stage at the precision the card says it ships at."""
    promised = card["model"].get("precision_map")
    if not promised:  # a card written before precision maps: its one precision is all we have
        return Check("precision", True, f"card says {card['model'].get('precision')}; no map")
    found = deployed_precision_map(model, len(promised))
    wrong = [
        f"stage {i}: {f} (card {p})"
        for i, (f, p) in enumerate(zip(found, promised, strict=True))
        if f != p
    ]
    ships = card["model"].get("ships_as")
    if wrong or ships != ships_as(found):
        what = "; ".join(wrong) or f"ships as {ships_as(found)} (card {ships})"
        return Check("precision", False, f"{MODEL_FILE} does not ship as its card says: {what}")
    return Check("precision", True, f"ships as {ships}: {', '.join(found)}")


def _accuracy(model: Path, card: dict[str, Any], data: str | None) -> Check:
    spec_data = data or card["dataset"]["spec"]
    try:
        same_data = spec_data == card["dataset"]["spec"]
        size = card["dataset"].get("image_size") if same_data else None
        dataset = get_dataset(spec_data, image_size=size)
        x = prepare_images(dataset.test_x, InputSpec.from_json(card["input"]))
        acc = onnx_accuracy(model, x, dataset.test_y)
    except AutoEdgeError as e:
        return Check("accuracy", False, f"cannot score on {spec_data}: {e}")
    expected = float(card["metrics"]["accuracy"])
    same = split_sha256(dataset.test_x, dataset.test_y) == card["dataset"]["test_sha256"]
    tol = SAME_SPLIT_TOLERANCE if same else EXPORT_TOLERANCE
    where = "the card's test split" if same else f"a different test split ({spec_data})"
    detail = (
        f"{100 * acc:.2f}% on {len(dataset.test_y)} images of {where}; card "
        f"{100 * expected:.2f}% (tolerance {100 * tol:.1f} point)"
    )
    ok = acc >= expected - tol and (not same or acc <= expected + tol)
    return Check("accuracy", bool(ok), detail)


def _latency(model: Path, card: dict[str, Any], runs: int) -> Check:
    host = card["latency"]["host"]
    threads = int(host.get("threads", 1))
    measured = measure_host_latency(model, threads=threads, runs=runs)
    expected = float(host["median_ms"])
    detail = f"{measured.median_ms:.3f} ms median on host; card {expected:.3f} ms"
    if host.get("machine") != machine_id(threads):
        return Check("host latency", True, f"{detail} (another machine: not compared)")
    low = expected / LATENCY_FACTOR - LATENCY_SLACK_MS
    high = expected * LATENCY_FACTOR + LATENCY_SLACK_MS
    ok = low <= measured.median_ms <= high
    return Check("host latency", ok, f"{detail} (allowed up to {high:.3f} ms on this machine)")
