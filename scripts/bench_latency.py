"""Benchmark the latency models: predicted vs measured, beside a MACs-linear baseline.

    .venv/bin/python scripts/bench_latency.py [--train 60] [--test 100] [--seed 0]
        [--runs 50] [--skip-host]

host: candidates sampled from the default space (bit-widths the host executes: fp32 and
all-int8 QDQ), built and compressed untrained (latency does not depend on the weights),
exported, and measured in ONNX Runtime (1 thread, median of `runs`); the host model is fitted
on the first `train` and scored on the `test` held-out ones, beside the same models measured
a second time (this machine's noise floor); `--skip-host` keeps the host rows of the last
run. Predicted targets (rpi4, jetson-xavier, jetson-nano): leave-one-family-out on their
shipped measurements, each family predicted by a fit that never saw it, with that fit's own
80% interval (from its own leave-one-family-out residuals): MAPE, share within +-10% / +-20%,
Kendall tau, and the interval's coverage. Writes results/bench_latency.md and .csv.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import replace
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
    predict_family_unseen,
    predict_with,
    read_measurements,
)
from autoedge.hardware.host_latency import measure_host_latency
from autoedge.hardware.latency_interval import coverage
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
    elif Path(f"{args.out}.csv").is_file():  # keep the last host measurement, said so below
        old = pd.read_csv(f"{args.out}.csv")
        rows += old[old["target"] == "host"].to_dict("records")
    rows += _predicted()
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


#: Predicted profiles scored here: (profile, measurement files, reference session, split by
#: precision). The Xavier one is also scored with depthwise folded into convolutions (before
#: issue 23), to show what its own kind buys on depthwise networks.
PREDICTED = (
    ("rpi4", ("rpi4_tflite_mobilenet_v1_v2",), None, True),
    (
        "jetson-xavier",
        ("jetson_xavier_tensorrt_fp16_torchvision_d8b43bd", "jetson_tensorrt_fp16_torchvision"),
        "jetson_xavier_tensorrt_fp16_torchvision_d8b43bd",
        False,
    ),
    ("jetson-nano", ("jetson_tensorrt_fp16_torchvision",), None, False),
)
DEPTHWISE = ("mnasnet", "mobilenet_v", "shufflenet_v")


def _predicted() -> list[dict]:
    """Leave-one-family-out on the shipped measurements of each predicted profile: every
    family predicted by a fit that never saw it, with that fit's 80% interval."""
    out = []
    profiles = shipped_profiles()
    for name, files, ref, by_precision in PREDICTED:
        prof = profiles[name]
        rows = []
        for f in files:
            rows += read_measurements(
                PROFILE_DIR.parent / "measurements" / f"{f}.csv",
                device=prof.device_id,
                exporter=export_reference_net,
            )
        # jetson-nano has no depthwise rows: its fit keeps the Xavier efficiencies as prior
        prior = profiles["jetson-xavier"].coefficients if name == "jetson-nano" else None
        variants = [("autoedge model", prof)]
        if name == "jetson-xavier":
            folded = {**prof.kind_groups, "dwconv": "conv"}
            variants.append(("depthwise folded into conv", replace(prof, kind_groups=folded)))
        for method, p in variants:
            points = [
                (pt, m.precision)
                for fam in sorted({m.family for m in rows})
                for pt, m in zip(
                    predict_family_unseen(p, rows, fam, reference_session=ref, prior=prior),
                    [m for m in rows if m.family == fam],
                    strict=True,
                )
            ]
            splits = [("all", lambda pt, prec: True)]
            if by_precision:
                splits += [(q, lambda pt, prec, q=q: prec == q) for q in ("fp32", "int8")]
            if name == "jetson-xavier":
                splits.append(("depthwise families", lambda pt, prec: pt.family in DEPTHWISE))
            for split, keep in splits:
                sel = [pt for pt, prec in points if keep(pt, prec)]
                out.append(
                    {
                        "target": name,
                        "split": f"held-out {split}",
                        "method": method,
                        "train_rows": len(rows),
                        **_scores(sel),
                    }
                )
    return out


def _scores(points: list) -> dict:
    pred = [p.predicted_ms for p in points]
    meas = [p.measured_ms for p in points]
    q = fit_quality(pred, meas).to_json()
    rel = np.abs(np.asarray(pred) - np.asarray(meas)) / np.asarray(meas)
    return {
        **q,
        "within_20": float((rel <= 0.20).mean()),
        "coverage": coverage([(p.low_ms, p.high_ms) for p in points], meas),
    }


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
        "- MAPE: mean absolute percentage error; within 10% / 20%: share of models predicted "
        "within +-10% / +-20%; tau: Kendall rank correlation; coverage: share of measurements "
        "inside their predicted 80% interval (goal 75-85%: honest, not merely wide)",
        "",
        "## Predicted targets, leave one family out",
        "",
        "Each family of the shipped measurements predicted by a fit that never saw it, with "
        "the interval that fit gives (from its own leave-one-family-out residuals). rpi4: "
        "MLPerf v2.0 Raspberry Pi 4 TFLite MobileNet V1/V2 (75 rows); jetson-xavier: torch2trt "
        "TensorRT fp16 sessions d8b43bd (29 rows, with depthwise networks) and 46801295 (14 "
        "rows), one latency scale per session; jetson-nano: torch2trt session 5eeddca7 (12 "
        "rows, no depthwise network). `depthwise folded into conv` is the Xavier model as it "
        "was before depthwise convolutions had their own efficiency.",
        "",
        "| target | split | method | n | MAPE % | within 10% | within 20% | tau | coverage |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in df[df["target"] != "host"].itertuples():
        lines.append(
            f"| {r.target} | {r.split} | {r.method} | {r.n} | {r.mape:.1f} | "
            f"{100 * r.within_10:.0f}% | {100 * r.within_20:.0f}% | {r.kendall_tau:.3f} | "
            f"{100 * r.coverage:.0f}% |"
        )
    host = df[df["target"] == "host"]
    lines += [
        "",
        "## host (measured; its model serves `latency --predict`)",
        "",
        "ONNX Runtime CPU, 1 intra-op thread, median of the timed runs; candidates from the "
        "default space (bits the host runs), half exported all-int8 (QDQ). `re-measured`: the "
        "held-out models measured a second time, scored against their first measurement: the "
        "noise floor of this machine."
        + (
            " These rows are kept from the last run with the host (2026-11, `--train 60 --test "
            "100 --seed 0 --runs 30`); this run skipped it."
            if args.skip_host
            else ""
        ),
        "",
        "| split | method | train rows | n | MAPE % | within 10% | tau |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in host.itertuples():
        lines.append(
            f"| {r.split} | {r.method} | {r.train_rows} | {r.n} | {r.mape:.1f} | "
            f"{100 * r.within_10:.0f}% | {r.kendall_tau:.3f} |"
        )
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
