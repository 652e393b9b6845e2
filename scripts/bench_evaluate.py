"""Benchmark evaluate() at the default fidelity: wall time per phase and accuracy.

    .venv/bin/python scripts/bench_evaluate.py [--n 10] [--data fashion-mnist] [--seed 0]

Evaluates the MobileNetV3-Small-like baselines and `--n` candidates sampled from the default
space, then writes results/bench_evaluate.csv (one row per candidate) and
results/bench_evaluate.md (summary: projected budget-200 search time, share of time outside
training, accuracy). Training = the `train` and `finetune` phases; everything else (data
preparation, build, prune/factorize, export, int8 quantization, ONNX accuracy, latency,
memory) is overhead.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from autoedge.data import get_dataset
from autoedge.evaluate import DEFAULT_FIDELITY, evaluate, prepare_teacher
from autoedge.space import DEFAULT_SPACE, get_space, sample_candidates
from autoedge.space.presets import baseline_candidate

RESULTS = Path(__file__).resolve().parents[1] / "results"
TRAINING = ("train", "finetune")
PHASES = ("prepare", "train", "compress", "finetune", "export", "measure")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="sampled candidates")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "bench_evaluate"))
    args = ap.parse_args()

    space = get_space(DEFAULT_SPACE)
    dataset = get_dataset(args.data)
    t0 = time.perf_counter()
    teacher = prepare_teacher("auto", dataset, log=print)
    teacher_s = time.perf_counter() - t0
    print(dataset.describe())
    print(f"teacher: {teacher.description} (ready in {teacher_s:.1f}s)")
    named = [
        (n, baseline_candidate(n, space))
        for n in ("mobilenetv3-small-fp32", "mobilenetv3-small-int8")
    ]
    named += [(f"sample-{i}", c) for i, c in enumerate(sample_candidates(space, args.n, args.seed))]
    rows = []
    for name, cand in named:
        r = evaluate(cand, dataset, fidelity=DEFAULT_FIDELITY, teacher=teacher)
        row = {
            "name": name,
            "key": r.key,
            "status": r.status,
            "error": r.error,
            "resolution": cand.resolution,
            "accuracy": r.accuracy,
            "accuracy_torch": r.accuracy_torch,
            "int8": r.int8,
            "params": r.params,
            "macs": r.macs,
            "latency_ms": r.latency_ms,
            "size_bytes": r.size_bytes,
            "wall_s": r.wall_s,
        }
        row.update({f"{p}_s": r.phase_s.get(p, 0.0) for p in PHASES})
        rows.append(row)
        acc = f"{100 * r.accuracy:.1f}%" if r.accuracy is not None else r.error
        print(f"{name:24s} {r.wall_s:6.1f}s  {acc}", flush=True)
    df = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".csv"), index=False)
    out.with_suffix(".md").write_text(
        _report(df, dataset.describe(), teacher.description, teacher_s, args)
    )
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.csv')}")


def _report(
    df: pd.DataFrame, data: str, teacher: str, teacher_s: float, args: argparse.Namespace
) -> str:
    sampled = df[df.name.str.startswith("sample-")]
    ok = sampled[sampled.status == "ok"]
    train = ok[[f"{p}_s" for p in TRAINING]].sum(axis=1)
    overhead = ok.wall_s - train
    mean_wall = float(sampled.wall_s.mean())
    failed = int((sampled.status != "ok").sum())
    lines = [
        "# evaluate() at the default fidelity",
        "",
        f"Command: `.venv/bin/python scripts/bench_evaluate.py --n {args.n} --data {args.data} "
        f"--seed {args.seed}`",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads",
        f"- Data: {data}",
        f"- Teacher: {teacher} (ready in {teacher_s:.0f} s)",
        f"- Fidelity: {DEFAULT_FIDELITY.to_json()}",
        "",
        "## Summary (sampled candidates)",
        "",
        f"- Mean wall time per candidate: {mean_wall:.1f} s (median "
        f"{float(sampled.wall_s.median()):.1f} s); a budget-200 search would take about "
        f"{200 * mean_wall / 60:.0f} min of evaluation.",
        f"- Overhead outside training (prepare, build, prune, export, int8, measure): "
        f"{100 * float(overhead.sum() / ok.wall_s.sum()):.1f}% of candidate time "
        f"(worst candidate {100 * float((overhead / ok.wall_s).max()):.1f}%).",
        f"- Accuracy (ONNX Runtime, {DEFAULT_FIDELITY.test_subset or 'all'} test images): "
        f"mean {100 * float(ok.accuracy.mean()):.1f}%, min {100 * float(ok.accuracy.min()):.1f}%, "
        f"max {100 * float(ok.accuracy.max()):.1f}%; failed: {failed}.",
        "",
        "## Every candidate",
        "",
        "| name | res | params | accuracy | torch acc | int8 | ONNX kB (fp32 kB) | wall s | "
        + " | ".join(PHASES)
        + " |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(PHASES),
    ]
    for _, r in df.iterrows():
        acc = f"{100 * r.accuracy:.1f}%" if pd.notna(r.accuracy) else f"failed: {r.error}"
        tacc = f"{100 * r.accuracy_torch:.1f}%" if pd.notna(r.accuracy_torch) else ""
        params = f"{int(r.params):,}" if pd.notna(r.params) else ""
        size = (
            f"{r.onnx_bytes / 1e3:,.0f} ({r.onnx_fp32_bytes / 1e3:,.0f})"
            if pd.notna(r.onnx_bytes)
            else ""
        )
        lines.append(
            f"| {r['name']} | {r.resolution} | {params} | {acc} | {tacc} | {r.int8} | {size} | "
            f"{r.wall_s:.1f} | " + " | ".join(f"{r[f'{p}_s']:.2f}" for p in PHASES) + " |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
