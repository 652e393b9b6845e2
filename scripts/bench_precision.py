"""Benchmark the precision plan that ships: objective vs file, PyTorch vs ONNX, mixed vs uniform.

    .venv/bin/python scripts/bench_precision.py [--n 8] [--data fashion-mnist] [--seed 0]
        [--fronts OLD_RUN,NEW_RUN]

Draws `--n` candidates of the default space (restricted to the bit-widths the host runs) whose
stages ship at more than one precision, evaluates each at the default fidelity (training,
compression, the deployed model.onnx) and reports per candidate:
- `size_bytes` (the size objective) against the bytes of model.onnx's initializers;
- the fake-quantized PyTorch accuracy against the deployed model's ONNX Runtime accuracy;
- host latency (ONNX Runtime, 1 thread) of the same trained network shipped as planned
  (mixed), all-fp32, all-int8 (ONNX Runtime static QDQ on every Conv / Gemm) and all-int8
  without the Q/DQ pairs on the layers' outputs (what training does not simulate), measured
  interleaved in one process so machine noise hits the variants alike.
With `--fronts OLD,NEW` it also compares two search runs' fronts: the share of points per
`ships_as` and the accuracy-latency hypervolume of each against one common reference (both
axes are measured; the size axis of runs before 2026-11-30 was simulated, so it is not used).
Writes results/bench_precision.csv and results/bench_precision.md.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import torch

from autoedge.compress.deployable import initializer_bytes
from autoedge.compress.int8_onnx import COMPUTE_OPS, quantize_int8
from autoedge.data import get_dataset
from autoedge.evaluate import DEFAULT_FIDELITY, evaluate, prepare_teacher
from autoedge.evaluate.evaluator import candidate_precisions
from autoedge.hardware.host_latency import measure_host_latency, time_interleaved
from autoedge.hardware.onnx_graph import precision_bits
from autoedge.hardware.targets import get_target
from autoedge.results import load_run
from autoedge.results.hypervolume import accuracy_latency_hypervolume
from autoedge.space import DEFAULT_SPACE, get_space, restrict_bits, sample_candidates
from autoedge.space.precision import ships_as

RESULTS = Path(__file__).resolve().parents[1] / "results"
LATENCY_ROUNDS = 5  # interleaved rounds of each variant, the median of their medians is kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="mixed candidates")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--fronts", action="append", default=[], help="OLD_RUN,NEW_RUN to compare (repeatable)"
    )
    ap.add_argument("--out", default=str(RESULTS / "bench_precision"))
    args = ap.parse_args()

    host = get_target("host")
    space, _ = restrict_bits(
        get_space(DEFAULT_SPACE), precision_bits(host.precisions), target="host"
    )
    mixed = []
    draws = sample_candidates(space, 20 * args.n, args.seed)
    for cand in draws:
        if ships_as(candidate_precisions(cand)) == "mixed":
            mixed.append(cand)
        if len(mixed) == args.n:
            break
    dataset = get_dataset(args.data)
    teacher = prepare_teacher("auto", dataset, log=print)
    rows: list[dict[str, Any]] = []
    for i, cand in enumerate(mixed):
        with tempfile.TemporaryDirectory(prefix="bench-precision-") as tmp:
            work = Path(tmp)
            r = evaluate(cand, dataset, fidelity=DEFAULT_FIDELITY, teacher=teacher, workdir=work)
            if not r.ok:
                print(f"{i}: failed: {r.error}")
                rows.append({"candidate": i, "key": cand.key, "status": "failed"})
                continue
            stored = initializer_bytes(work / "model.onnx")
            lat = _latencies(work, dataset, cand.resolution)
        row = {
            "candidate": i,
            "key": cand.key,
            "status": "ok",
            "precision_map": r.precision_map,
            "size_bytes": r.size_bytes,
            "initializer_bytes": stored,
            "size_diff_pct": 100 * abs(r.size_bytes - stored) / stored,
            "onnx_bytes": r.onnx_bytes,
            "accuracy_torch": r.accuracy_torch,
            "accuracy_onnx": r.accuracy,
            "gap_points": 100 * (r.accuracy - r.accuracy_torch),
            **lat,
        }
        rows.append(row)
        print(
            f"{i}: {r.precision_map}: size {r.size_bytes} vs {stored} B; torch "
            f"{100 * r.accuracy_torch:.2f}% onnx {100 * r.accuracy:.2f}%; latency mixed "
            f"{lat['mixed_ms']:.3f} fp32 {lat['fp32_ms']:.3f} int8 {lat['int8_ms']:.3f} ms"
        )
    frame = pd.DataFrame(rows)
    fronts = pd.concat([_compare_fronts(f) for f in args.fronts]) if args.fronts else None
    out = Path(args.out)
    frame.to_csv(out.with_suffix(".csv"), index=False)
    out.with_suffix(".md").write_text(_markdown(frame, fronts, args))
    print(f"wrote {out.with_suffix('.md')} and .csv")


def _latencies(work: Path, dataset: Any, resolution: int) -> dict[str, float]:
    """Host latency of the trained network as shipped, all-fp32 and all-int8, interleaved."""
    fp32 = work / "model_fp32.onnx"
    int8 = work / "all_int8.onnx"
    nodes = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type in COMPUTE_OPS]
    from autoedge.compress.training import images_to_tensor

    mean, std = dataset.normalization
    calib = images_to_tensor(dataset.train_x[:256], resolution, mean, std).numpy()
    calib = np.ascontiguousarray(calib)
    quantize_int8(fp32, int8, calib, nodes=nodes)
    int8_float_out = work / "all_int8_float_outputs.onnx"
    quantize_int8(fp32, int8_float_out, calib, nodes=nodes, requantize_outputs=False)
    variants = {
        "mixed": work / "model.onnx",
        "fp32": fp32,
        "int8": int8,
        "int8_float_outputs": int8_float_out,
    }
    seen = time_interleaved(
        variants, lambda p: measure_host_latency(p, threads=1, runs=100), rounds=LATENCY_ROUNDS
    )
    return {f"{k}_ms": float(np.median([m.median_ms for m in v])) for k, v in seen.items()}


def _compare_fronts(spec: str) -> pd.DataFrame:
    old, new = (load_run(p.strip()) for p in spec.split(","))
    ref = 1.1 * max(
        float(pd.to_numeric(v.front["latency_ms"]).max()) for v in (old, new) if len(v.front)
    )
    rows = []
    for label, view in (("before", old), ("after", new)):
        front = view.front
        counts = front.get("ships_as", pd.Series(dtype=str)).replace("", "unknown")
        share = counts.value_counts(normalize=True) if len(counts) else pd.Series(dtype=float)
        rows.append(
            {
                "run": label,
                "folder": str(view.folder.path),
                "front_points": len(front),
                "hypervolume_acc_latency": accuracy_latency_hypervolume(front, ref),
                "latency_ref_ms": ref,
                **{f"share_{k}": float(v) for k, v in share.items()},
            }
        )
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame, fronts: pd.DataFrame | None, args: argparse.Namespace) -> str:
    ok = frame[frame["status"] == "ok"] if len(frame) else frame
    cmd = f".venv/bin/python scripts/bench_precision.py --n {args.n} --data {args.data} "
    cmd += f"--seed {args.seed}" + "".join(f" --fronts {f}" for f in args.fronts)
    lines = [
        "# Precision plan that ships (bench_precision)",
        "",
        f"Command: `{cmd}`",
        f"Machine: {platform.processor() or platform.machine()}, torch threads "
        f"{torch.get_num_threads()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"fidelity: {DEFAULT_FIDELITY.describe()}.",
        "",
        f"{len(ok)} of {len(frame)} mixed candidates evaluated ok.",
        "",
        "| # | precision per stage | size objective B | initializers B | file B | PyTorch | "
        "ONNX | gap (points) | mixed ms | all-fp32 ms | all-int8 ms | all-int8, float "
        "outputs ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _, r in ok.iterrows() if len(ok) else []:
        lines.append(
            f"| {r['candidate']} | {r['precision_map'].replace('|', ', ')} | "
            f"{r['size_bytes']:,} | {r['initializer_bytes']:,} | {r['onnx_bytes']:,} | "
            f"{100 * r['accuracy_torch']:.2f}% | {100 * r['accuracy_onnx']:.2f}% | "
            f"{r['gap_points']:+.2f} | {r['mixed_ms']:.3f} | {r['fp32_ms']:.3f} | "
            f"{r['int8_ms']:.3f} | {r['int8_float_outputs_ms']:.3f} |"
        )
    if len(ok):
        gap = ok["gap_points"].abs()
        faster = (ok["mixed_ms"] < ok["fp32_ms"]) & (ok["mixed_ms"] < ok["int8_ms"])
        lines += [
            "",
            f"- Size objective vs the deployed initializers: largest difference "
            f"{ok['size_diff_pct'].max():.3f}% (equal by construction).",
            f"- PyTorch (fake-quantized) vs deployed ONNX accuracy: mean |gap| {gap.mean():.2f} "
            f"points, largest {gap.max():.2f}.",
            f"- Latency, mixed / all-fp32: median {np.median(ok['mixed_ms'] / ok['fp32_ms']):.2f}x"
            f"; all-int8 / all-fp32: median {np.median(ok['int8_ms'] / ok['fp32_ms']):.2f}x; "
            f"mixed faster than both in {int(faster.sum())} of {len(ok)}; all-int8 without "
            f"output Q/DQ / with: median "
            f"{np.median(ok['int8_float_outputs_ms'] / ok['int8_ms']):.2f}x.",
        ]
    if fronts is not None:
        lines += [
            "",
            "## Fronts",
            "",
            "Accuracy-latency hypervolume of each pair against one reference per pair (error "
            "1.0, 1.1x the slower front's slowest point); shares of front points by ships_as "
            "(unknown: a run before ships_as was recorded).",
            "",
            "| run | folder | front points | HV reference ms | hypervolume (accuracy, latency) "
            "| ships as |",
            "|---|---|---:|---:|---:|---|",
        ]
        for _, f in fronts.iterrows():
            shares = ", ".join(
                f"{k.removeprefix('share_')} {100 * v:.0f}%"
                for k, v in f.items()
                if k.startswith("share_") and v == v
            )
            lines.append(
                f"| {f['run']} | {f['folder']} | {f['front_points']} | {f['latency_ref_ms']:.3f} "
                f"| {f['hypervolume_acc_latency']:.3f} | {shares} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
