"""Benchmark the latency models: predicted vs measured, beside a MACs-linear baseline.

    .venv/bin/python scripts/bench_latency.py [--train 60] [--test 100] [--seed 0]
        [--runs 50] [--skip-host]

host: candidates sampled from the default space (bit-widths the host executes: fp32 and
all-int8 QDQ), built and compressed untrained (latency does not depend on the weights),
exported, and measured in ONNX Runtime (1 thread, median of `runs`); the host model is fitted
on the first `train` and scored on the `test` held-out ones, beside the same models measured
a second time (this machine's noise floor). rpi4: leave-one-family-out on
the shipped MLPerf measurements (fit on MobileNet V1, predict V2, and the reverse), fp32 and
int8 rows together and per precision. Writes results/bench_latency.md and .csv.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from autoedge.compress.build import build_model, example_input
from autoedge.compress.export import export_onnx
from autoedge.compress.int8_onnx import quantize_int8
from autoedge.compress.pipeline import compress
from autoedge.compress.reference_nets import export_reference_net
from autoedge.hardware.calibration import (
    Measurement,
    calibrate,
    predict_with,
    read_measurements,
)
from autoedge.hardware.host_latency import measure_host_latency
from autoedge.hardware.latency_model import fit_quality, macs_baseline
from autoedge.hardware.onnx_graph import graph_work, ops_precision, precision_bits, total_macs
from autoedge.hardware.profiles import PROFILE_DIR, shipped_profiles
from autoedge.space import DEFAULT_SPACE, get_space, restrict_bits, sample_candidates

RESULTS = Path(__file__).resolve().parents[1] / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=60)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--skip-host", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "bench_latency"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows: list[dict] = []
    t0 = time.perf_counter()
    if not args.skip_host:
        rows += _host(args)
    rows += _rpi4()
    df = pd.DataFrame(rows)
    df.to_csv(f"{args.out}.csv", index=False)
    _report(df, args, time.perf_counter() - t0, Path(f"{args.out}.md"))
    print(Path(f"{args.out}.md").read_text())


def _host(args: argparse.Namespace) -> list[dict]:
    profile = shipped_profiles()["host"]
    space, _ = restrict_bits(
        get_space(DEFAULT_SPACE), precision_bits(profile.precisions), target="host"
    )
    cands = list(sample_candidates(space, args.train + args.test, args.seed))
    # Half of them all-int8, so both precisions are well represented.
    measured: list[Measurement] = []
    again: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, cand in enumerate(cands):
            path = _export(cand, Path(tmp), i, int8=i % 2 == 1)
            ops = graph_work(path)
            lat = measure_host_latency(path, threads=1, runs=args.runs).median_ms
            measured.append(
                Measurement(
                    f"cand{i}", "host", ops_precision(ops), lat, total_macs(ops), tuple(ops)
                )
            )
            paths.append(path)
            print(f"host {i + 1}/{len(cands)}: {ops_precision(ops)} {lat:.3f} ms", flush=True)
        # The noise floor: each held-out model measured again, minutes after its first time.
        for path in paths[args.train :]:
            again.append(measure_host_latency(path, threads=1, runs=args.runs).median_ms)
    train, test = measured[: args.train], measured[args.train :]
    fitted = calibrate(profile, train, source="bench").profile
    pred = [predict_with(fitted, m.ops) for m in test]
    ys = [m.latency_ms for m in test]
    base = []
    for m in test:
        same = [t for t in train if t.precision == m.precision] or train
        base += macs_baseline([t.macs for t in same], [t.latency_ms for t in same], [m.macs])
    out = []
    for label, sel in (("all", None), ("fp32", "fp32"), ("int8", "int8")):
        idx = [i for i, m in enumerate(test) if sel is None or m.precision == sel]
        if len(idx) < 2:
            continue
        methods = (("autoedge model", pred), ("MACs-linear", base), ("re-measured", again))
        for method, p in methods:
            q = fit_quality([p[i] for i in idx], [ys[i] for i in idx])
            out.append(
                {
                    "target": "host",
                    "split": f"held-out {label}",
                    "method": method,
                    "train_rows": len(train),
                    **q.to_json(),
                }
            )
    return out


def _export(cand, folder: Path, i: int, *, int8: bool) -> Path:
    if int8:
        cand = _all_int8(cand)
    model = build_model(cand, in_chans=1, num_classes=10).eval()
    x = example_input(cand, 1, batch=2)
    frozen = compress(model, cand, x).frozen().eval()
    fp32 = export_onnx(frozen, x, folder / f"c{i}.onnx")
    if not int8:
        return fp32
    calib = np.random.default_rng(i).standard_normal((16, *x.shape[1:])).astype(np.float32)
    return quantize_int8(fp32, folder / f"c{i}_int8.onnx", calib)


def _all_int8(cand):
    from dataclasses import replace

    stages = tuple(replace(s, weight_bits=8, act_bits=8) for s in cand.stages)
    return replace(cand, stages=stages)


def _rpi4() -> list[dict]:
    profile = shipped_profiles()["rpi4"]
    rows = read_measurements(
        PROFILE_DIR.parent / "measurements" / "rpi4_tflite_mobilenet_v1_v2.csv",
        device=profile.device_id,
        exporter=export_reference_net,
    )
    report = calibrate(profile, rows, source="bench")
    out = []
    for fam, q in report.held_out.items():
        for method, key in (("autoedge model", "model"), ("MACs-linear", "macs_baseline")):
            out.append(
                {
                    "target": "rpi4",
                    "split": f"held-out {fam} (fit on the other)",
                    "method": method,
                    "train_rows": len(rows) - q[key]["n"],
                    **q[key],
                }
            )
    return out


def _report(df: pd.DataFrame, args: argparse.Namespace, wall: float, path: Path) -> None:
    cmd = (
        "scripts/bench_latency.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k not in ("out", "skip_host")
        )
        + (" --skip-host" if args.skip_host else "")
    )
    lines = [
        "# Latency models: predicted vs measured",
        "",
        f"Command: `.venv/bin/python {cmd}`",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or '?'};"
        f" total wall {wall / 60:.1f} min",
        "- host: ONNX Runtime CPU, 1 intra-op thread, median of the timed runs; candidates "
        "from the default space (bits the host runs), half exported all-int8 (QDQ)",
        "- rpi4: shipped MLPerf v2.0 Raspberry Pi 4 TFLite measurements (75 rows), leave one "
        "MobileNet family out",
        "- MAPE: mean absolute percentage error; within 10%: share of models predicted within "
        "+-10%; tau: Kendall rank correlation",
        "- host `re-measured`: the held-out models measured a second time after all first "
        "measurements, scored against their first measurement: the noise floor of this "
        "machine, which no predictor can beat when it is scored against one measurement",
        "",
        "| target | split | method | train rows | n | MAPE % | within 10% | tau |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        lines.append(
            f"| {r.target} | {r.split} | {r.method} | {r.train_rows} | {r.n} | {r.mape:.1f} | "
            f"{100 * r.within_10:.0f}% | {r.kendall_tau:.3f} |"
        )
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
