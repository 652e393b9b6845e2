"""`autoedge targets`, `latency` and `calibrate`: parse, call the hardware layer, render."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from autoedge.cli import run_render as render
from autoedge.cli.consoles import err, out

if TYPE_CHECKING:
    from autoedge.hardware.profiles import TargetProfile

TargetName = Annotated[
    str,
    typer.Option(
        help="host, rpi4, jetson-nano, jetson (= jetson-orin-nano), jetson-xavier, "
        "agent:HOST:PORT, or a profile .yaml."
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def targets_cmd(json_out: JsonOut = False) -> None:
    """List the targets: runtime, precisions it executes, and where its latency model comes from."""
    from autoedge.hardware.targets import list_targets, target_profile

    rows = []
    for name in list_targets():
        prof, origin = target_profile(name)
        cal = prof.calibration
        rows.append(
            {
                "name": prof.name,
                "aliases": list(prof.aliases),
                "runtime": prof.runtime,
                "latency": prof.mode,
                "precisions": list(prof.precisions),
                "profile": origin,
                "calibration": cal.source,
                "calibration_rows": cal.rows,
                "fit_mape": cal.fit.get("mape"),
                "held_out_mape": cal.held_out_mape(),
                "interval": cal.interval or None,
                "runtime_version": prof.runtime_version,
            }
        )
    rows.append(
        {
            "name": "agent:HOST:PORT",
            "aliases": [],
            "runtime": "ONNX Runtime on the device running `autoedge agent serve`",
            "latency": "measured",
            "precisions": ["fp32", "int8"],
            "profile": "-",
            "calibration": "none needed: measured on the device",
            "calibration_rows": 0,
            "fit_mape": None,
            "held_out_mape": None,
            "interval": None,
            "runtime_version": "",
        }
    )
    if json_out:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="targets")
    for col in ("name", "runtime", "latency", "precisions", "held-out error", "80% interval"):
        table.add_column(col, overflow="fold")
    table.add_column("calibration", overflow="fold")
    for r in rows:
        alias = f" (= {', '.join(r['aliases'])})" if r["aliases"] else ""
        fit = f"; fit MAPE {r['fit_mape']:.1f}%" if _finite(r["fit_mape"]) else ""
        cal = f"{r['calibration']}" + (f" [{r['calibration_rows']} rows{fit}]" if fit else "")
        held = f"{r['held_out_mape']:.0f}% MAPE" if _finite(r["held_out_mape"]) else "-"
        runtime = r["runtime"] + (f" ({r['runtime_version']})" if r["runtime_version"] else "")
        table.add_row(
            r["name"] + alias,
            runtime,
            r["latency"],
            ", ".join(r["precisions"]),
            held,
            interval_text(r["interval"]),
            cal,
        )
    out.print(table)


def interval_text(interval: dict[str, Any] | None) -> str:
    """ "x0.78-x1.31 (n=29)": the factors of a profile's 80% interval on a prediction."""
    if not interval:
        return "-"
    return f"x{interval['low']:.2f}-x{interval['high']:.2f} (n={interval['n']})"


def latency_cmd(
    model: Annotated[Path, typer.Argument(help="An ONNX model (any, not only ours).")],
    target: TargetName = "host",
    precision: Annotated[
        str | None,
        typer.Option(help="fp32, fp16 or int8 (default: as the graph is: int8 if QDQ)."),
    ] = None,
    predict: Annotated[
        bool, typer.Option("--predict", help="host: answer from its calibrated model, no run.")
    ] = False,
    runs: Annotated[int, typer.Option(min=3, max=10_000, help="Timed runs (measured).")] = 50,
    json_out: JsonOut = False,
) -> None:
    """Latency of one batch-1 inference of MODEL on a target: measured or predicted, labelled."""
    from autoedge.hardware.targets import PredictedTarget, get_target, target_profile

    tgt = get_target(target)
    if predict and target.split(":")[0] == "host":
        prof, origin = target_profile("host")
        tgt = PredictedTarget(_host_model(prof), origin)
    result = tgt.latency(model, runs=runs, precision=precision)
    from autoedge.hardware.onnx_graph import graph_work, ops_precision

    prec = precision or ops_precision(graph_work(model))
    data: dict[str, Any] = {
        "model": str(model),
        "target": tgt.name,
        "precision": prec,
        "latency_ms": round(result.median_ms, 4),
        "latency_p90_ms": round(result.p90_ms, 4),
        "latency_low_ms": round(result.bounds_ms[0], 4),
        "latency_high_ms": round(result.bounds_ms[1], 4),
        "latency_source": result.source,
        "detail": result.detail,
    }
    if isinstance(tgt, PredictedTarget):
        cal = tgt.profile.calibration
        data["calibration"] = {
            "source": cal.source,
            "rows": cal.rows,
            "fit": cal.fit,
            "held_out_mape": cal.held_out_mape(),
            "interval": cal.interval or None,
        }
    if json_out:
        sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
        return
    out.print(f"{tgt.name} {prec}: {render.latency_text(data)}", markup=False, highlight=False)
    if result.detail:
        out.print(f"  {result.detail}", markup=False, highlight=False)


def _host_model(profile: TargetProfile) -> TargetProfile:
    """The host profile refitted from this machine's stored measurements (if it can be)."""
    from autoedge.errors import TargetError
    from autoedge.hardware.host_store import refit_host

    try:
        return refit_host(profile).profile
    except TargetError as e:
        if profile.coefficients:
            err.print(f"using the stored host profile: {e}", markup=False)
            return profile
        raise


def calibrate_cmd(
    target: TargetName,
    measurements: Annotated[
        Path | None,
        typer.Option(
            help="CSV of measured latencies (see README); host: omit to use the "
            "measurements kept from earlier runs."
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help="Rows of this `device` in the CSV (default: the target's)."),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write the fitted profile (default: the user "
            "profile that later runs of this target use).",
        ),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Fit a target's latency model to measurements; print the fit and leave-one-family-out."""
    from autoedge.errors import TargetError
    from autoedge.hardware.calibration import calibrate, read_measurements
    from autoedge.hardware.host_store import refit_host
    from autoedge.hardware.profiles import save_profile
    from autoedge.hardware.targets import target_profile, user_profile_path

    if target.startswith("agent:"):
        raise TargetError("agent targets are measured on the device; there is nothing to fit")
    prof, _ = target_profile(target)
    if measurements is None:
        if prof.name != "host":
            raise TargetError(f"calibrating {prof.name} needs --measurements FILE.csv")
        report = refit_host(prof)
    else:
        from autoedge.compress.reference_nets import export_reference_net  # torch, when needed

        rows = read_measurements(
            measurements,
            device=device or prof.device_id or None,
            log=lambda m: err.print(m, markup=False),
            exporter=export_reference_net,
        )
        report = calibrate(prof, rows, source=f"{measurements} ({len(rows)} rows)")
    dest = save_profile(report.profile, out_path or user_profile_path(prof.name))
    if json_out:
        sys.stdout.write(json.dumps({**report.to_json(), "profile": str(dest)}) + "\n")
        return
    fit = report.fit
    out.print(
        f"{prof.name}: fitted on {fit.n} models: MAPE {fit.mape:.1f}%, "
        f"{100 * fit.within_10:.0f}% within ±10%, Kendall tau {fit.kendall_tau:.3f}",
        highlight=False,
    )
    if report.held_out:
        table = Table(title="leave-one-family-out (fit on the others, predict this family)")
        for col in ("held out", "n", "model MAPE", "within ±10%", "tau", "MACs-linear MAPE"):
            table.add_column(col)
        for fam, q in report.held_out.items():
            m, b = q["model"], q["macs_baseline"]
            table.add_row(
                fam,
                str(m["n"]),
                f"{m['mape']:.1f}%",
                f"{100 * m['within_10']:.0f}%",
                f"{m['kendall_tau']:.3f}" if _finite(m["kendall_tau"]) else "-",
                f"{b['mape']:.1f}%",
            )
        out.print(table)
    cal = report.profile.calibration
    held = cal.held_out_mape()
    if held is not None:
        out.print(f"held-out error: {held:.1f}% MAPE", highlight=False)
    if len(cal.sessions) > 1:
        scales = ", ".join(f"{k} x{v:.3f}" for k, v in cal.sessions.items())
        out.print(f"measurement sessions (latency scale): {scales}", markup=False, highlight=False)
    out.print(
        f"80% interval on a prediction: {interval_text(cal.interval)} from "
        f"{cal.interval.get('basis', '-')}",
        markup=False,
        highlight=False,
    )
    out.print(f"profile written to {dest}", markup=False, highlight=False)


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)
