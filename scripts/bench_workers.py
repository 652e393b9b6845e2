"""Benchmark `--workers`: the same search one trial at a time and N trials at once, on this machine.

    .venv/bin/python scripts/bench_workers.py [--data fashion-mnist] [--budget 12]
        [--workers 2] [--epochs E] [--subset N] [--target host]

Two runs of the random backend (seed 0, warm start on, the default fidelity unless --epochs /
--subset), so both evaluate the same candidates in the same trial numbers: first with
`workers=1` (torch uses every core, one trial at a time), then with `workers=N` (N worker
processes, torch limited to its share of the cores in each). Wall time is the whole
`run_search` call, worker start-up included; the teacher is prepared before either run.
Writes results/bench_workers.csv (one row per trial and run) and results/bench_workers.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

import pandas as pd

from autoedge.data import get_dataset
from autoedge.evaluate.fidelity import DEFAULT_FIDELITY
from autoedge.evaluate.session import EvaluationSession
from autoedge.hardware.onnx_graph import precision_bits
from autoedge.hardware.targets import get_target
from autoedge.search import RunConfig, run_search
from autoedge.search.pool import threads_per_worker, usable_cpus

RESULTS = Path(__file__).resolve().parents[1] / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--budget", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--subset", type=int, default=None)
    ap.add_argument("--target", default="host")
    ap.add_argument("--runs", default="/tmp/autoedge-bench-workers")
    ap.add_argument("--out", default=str(RESULTS / "bench_workers"))
    args = ap.parse_args()
    fidelity = DEFAULT_FIDELITY.with_budget(epochs=args.epochs, subset=args.subset)
    dataset = get_dataset(args.data)
    target = get_target(args.target)
    session = EvaluationSession(dataset, target, log=print)
    session.teacher()  # trained or loaded once, before the clocks start
    runs = Path(args.runs)
    shutil.rmtree(runs, ignore_errors=True)
    rows, walls = [], {}
    for workers in (1, args.workers):
        out = runs / f"workers{workers}"
        config = RunConfig(
            out=str(out),
            data=args.data,
            target=args.target,
            budget=args.budget,
            backend="random",
            fidelity=fidelity,
            workers=workers,
        )
        start = time.perf_counter()
        run_search(config, session, executable_bits=precision_bits(target.precisions))
        walls[workers] = time.perf_counter() - start
        rows.append(pd.read_csv(out / "trials.csv").assign(workers=workers))
        print(f"workers {workers}: {walls[workers]:.0f} s", flush=True)
    df = pd.concat(rows, ignore_index=True)
    keep = ["workers", "number", "key", "state", "accuracy", "latency_ms", "wall_s", "baseline"]
    out = Path(args.out)
    df[keep].to_csv(out.with_suffix(".csv"), index=False)
    out.with_suffix(".md").write_text(_report(df, walls, args, fidelity.describe()))
    print(out.with_suffix(".md").read_text())


def _report(
    df: pd.DataFrame, walls: dict[int, float], args: argparse.Namespace, fidelity: str
) -> str:
    one, many = (df[df["workers"] == w].set_index("number") for w in (1, args.workers))
    same = bool((one["key"] == many["key"]).all())
    both = one["accuracy"].notna() & many["accuracy"].notna()
    acc_diff = (one["accuracy"] - many["accuracy"])[both].abs().mean() * 100
    lat_ratio = (many["latency_ms"] / one["latency_ms"])[both].median()
    command = (
        f".venv/bin/python scripts/bench_workers.py --data {args.data} --budget {args.budget} "
        f"--workers {args.workers} --target {args.target}"
        + (f" --epochs {args.epochs}" if args.epochs is not None else "")
        + (f" --subset {args.subset}" if args.subset is not None else "")
    )
    lines = [
        "# `--workers`: one trial at a time vs N at once",
        "",
        f"Command: `{command}`",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
        f"({usable_cpus()} usable); one run of each, back to back, on a shared machine",
        f"- Search: random backend, seed 0, warm start, budget {args.budget}, target "
        f"{args.target}; fidelity: {fidelity}",
        f"- Same candidates in the same trial numbers in both runs: {'yes' if same else 'NO'}",
        "",
        "| workers | torch threads each | wall s | trials / min | mean trial s |",
        "|---|---|---|---|---|",
    ]
    for w, part in ((1, one), (args.workers, many)):
        lines.append(
            f"| {w} | {threads_per_worker(w)} | {walls[w]:.0f} | "
            f"{60 * len(part) / walls[w]:.2f} | {part['wall_s'].mean():.1f} |"
        )
    lines += [
        "",
        f"Speedup (wall, 1 worker / {args.workers}): **{walls[1] / walls[args.workers]:.2f}x**. "
        f"Mean absolute accuracy difference per candidate between the runs: {acc_diff:.1f} "
        "points (torch thread count changes the order of floating-point sums, and short "
        f"training amplifies it); median latency ratio ({args.workers} workers / 1): "
        f"{lat_ratio:.2f} (latency is measured single-threaded while the other workers train).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
