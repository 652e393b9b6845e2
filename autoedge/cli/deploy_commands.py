"""`autoedge export` and `autoedge verify`: parse, call autoedge.deploy, render."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from autoedge.cli.consoles import err, out
from autoedge.cli.run_commands import (
    Device,
    JsonOut,
    LatencyBound,
    MaxLatency,
    MaxMemory,
    MaxSize,
    MinAccuracy,
    RunArg,
)


def export_cmd(
    run: RunArg,
    out_dir: Annotated[str, typer.Option("--out", help="Folder to write the export into.")],
    trial: Annotated[int | None, typer.Option(help="Export this trial number.")] = None,
    key: Annotated[str | None, typer.Option(help="Export the trial with this key.")] = None,
    max_latency_ms: MaxLatency = None,
    latency_bound: LatencyBound = None,
    max_size_kb: MaxSize = None,
    max_memory_kb: MaxMemory = None,
    min_accuracy: MinAccuracy = None,
    refit_epochs: Annotated[
        int | None, typer.Option(help="Retraining epochs (default: full fidelity, 10).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the contents of a non-empty --out.")
    ] = False,
    device: Device = "auto",
    dynamic_batch: Annotated[
        bool,
        typer.Option(
            "--dynamic-batch",
            help="Keep the batch axis dynamic (default: fixed at 1, as edge runtimes and "
            "NNAPI/CoreML want).",
        ),
    ] = False,
    json_out: JsonOut = False,
) -> None:
    """Retrain, compress and export one point of a run as a verified deployable folder.

    Choose the point with --trial, --key, or bounds as in `autoedge pick` (the most accurate
    front point by default). The folder gets model.onnx, weights.safetensors and a model card;
    the export fails (exit 1, nothing written) if model.onnx scores more than 1 point below
    what the run promised.
    """
    from autoedge.deploy import export_point

    bounds = {
        "max_latency_ms": max_latency_ms,
        "max_size_kb": max_size_kb,
        "max_memory_kb": max_memory_kb,
        "min_accuracy": min_accuracy,
        "latency_bound": latency_bound,
    }
    report = export_point(
        run,
        out_dir,
        trial=trial,
        key=key,
        bounds=bounds,
        refit_epochs=refit_epochs,
        force=force,
        log=lambda m: err.print(m, markup=False),
        device=device,
        batch=None if dynamic_batch else 1,
    )
    if json_out:
        sys.stdout.write(json.dumps(report.to_json(), sort_keys=True) + "\n")
        return
    card = report.card
    m, lat = card["metrics"], card["latency"]
    out.print(
        f"exported trial {card['trial']} to {report.folder}\n"
        f"  {card['model']['precision']} model.onnx {card['model']['bytes']:,} B, accuracy "
        f"{100 * m['accuracy']:.2f}% on {m['test_images']} test images (promised "
        f"{100 * card['promise']['accuracy']:.2f}%)\n"
        f"  latency {lat['target']['median_ms']:.3f} ms on {lat['target']['target']} "
        f"({lat['target']['source']}), {lat['host']['median_ms']:.3f} ms on host (measured)",
        markup=False,
    )


def verify_cmd(
    folder: Annotated[str, typer.Argument(help="A folder written by `autoedge export`.")],
    data: Annotated[
        str | None, typer.Option(help="Score on this dataset instead of the card's.")
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Re-check an export against its card: files, hashes, accuracy, host latency.

    Exits 1 on any mismatch.
    """
    from autoedge.deploy import verify_export
    from autoedge.errors import VerificationError

    report = verify_export(folder, data=data, log=lambda m: err.print(m, markup=False))
    if json_out:
        sys.stdout.write(json.dumps(report.to_json(), sort_keys=True) + "\n")
    else:
        for c in report.checks:
            mark = "ok  " if c.ok else "FAIL"
            out.print(f"{mark} {c.name}: {c.detail}", markup=False)
    if not report.ok:
        first = report.failures[0]
        more = f" (and {len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
        raise VerificationError(f"{folder} failed verification: {first.name}: {first.detail}{more}")
