"""Benchmark the ray backend: the same search on 1 worker (optuna) and on N Ray workers.

    .venv/bin/python scripts/bench_ray.py [--data fashion-mnist] [--budget 12] [--seeds 0,1]
        [--workers 2] [--epochs 1] [--subset 1000] [--target rpi4] [--latency-ref-ms 30]

Per seed: one optuna-backend run (torch uses every core, one trial at a time) and one
ray-backend run (N trials at once, each limited to its CPUs), same space, budget, fidelity and
target, no warm start. Wall time includes starting the local Ray instance. The front's
hypervolume is of (1 - accuracy, latency / ref) with reference (1, 1). A predicted target keeps
latency independent of how many trials share the machine; `host` would measure contention.
Writes results/bench_ray.csv and results/bench_ray.md.
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
from autoedge.evaluate.fidelity import Fidelity
from autoedge.evaluate.session import EvaluationSession
from autoedge.hardware.onnx_graph import precision_bits
from autoedge.hardware.targets import get_target
from autoedge.results import accuracy_latency_hypervolume, pareto_front
from autoedge.search import RunConfig, run_search
from autoedge.space import DEFAULT_SPACE

RESULTS = Path(__file__).resolve().parents[1] / "results"
OBJECTIVES = ("accuracy", "latency")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--budget", type=int, default=12)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--subset", type=int, default=1000)
    ap.add_argument("--target", default="rpi4")
    ap.add_argument("--latency-ref-ms", type=float, default=30.0)
    ap.add_argument("--runs", default="/tmp/autoedge-bench-ray")
    ap.add_argument("--out", default=str(RESULTS / "bench_ray"))
    ap.add_argument("--report-only", action="store_true", help="Rewrite the .md from the runs.")
    args = ap.parse_args()
    fidelity = Fidelity(
        epochs=args.epochs, subset=args.subset, finetune_subset=500, test_subset=500
    )
    runs = Path(args.runs)
    if args.report_only:
        _report(pd.read_csv(f"{args.out}.csv"), args, fidelity, Path(f"{args.out}.md"))
        return
    dataset = get_dataset(args.data)
    target = get_target(args.target)
    session = EvaluationSession(dataset, target, log=print)
    session.teacher()  # prepared once, before either run is timed
    bits = precision_bits(target.precisions)
    shutil.rmtree(runs, ignore_errors=True)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for backend, workers in (("optuna", 1), ("ray", args.workers)):
            config = RunConfig(
                out=str(runs / f"{backend}-s{seed}"),
                space=DEFAULT_SPACE,
                data=args.data,
                target=args.target,
                budget=args.budget,
                backend=backend,
                objectives=OBJECTIVES,
                fidelity=fidelity,
                seed=seed,
                warm_start=False,
                workers=workers,
            )
            start = time.perf_counter()
            summary = run_search(config, session, executable_bits=bits)
            wall = time.perf_counter() - start
            trials = pd.read_csv(Path(config.out) / "trials.csv")
            front = pareto_front(trials, OBJECTIVES)
            rows.append(
                {
                    "seed": seed,
                    "backend": backend,
                    "workers": workers,
                    "trials": summary.done,
                    "failed": int((trials["state"] == "failed").sum()),
                    "wall_s": round(wall, 1),
                    "trial_s_mean": round(float(trials["wall_s"].mean()), 2),
                    "hypervolume": accuracy_latency_hypervolume(front, args.latency_ref_ms),
                    "best_accuracy": float(trials["accuracy"].max()),
                }
            )
            print(rows[-1])
    df = pd.DataFrame(rows)
    df.to_csv(f"{args.out}.csv", index=False)
    _report(df, args, fidelity, Path(f"{args.out}.md"))
    print(Path(f"{args.out}.md").read_text())


def _report(df: pd.DataFrame, args: argparse.Namespace, fidelity: Fidelity, path: Path) -> None:
    wide = df.pivot(index="seed", columns="backend", values=["wall_s", "hypervolume"])
    speedups = wide[("wall_s", "optuna")] / wide[("wall_s", "ray")]
    lines = [
        "# Ray backend: N workers vs one",
        "",
        f"Command: `.venv/bin/python scripts/bench_ray.py --data {args.data} --budget "
        f"{args.budget} --seeds {args.seeds} --workers {args.workers} --epochs {args.epochs} "
        f"--subset {args.subset} --target {args.target} --latency-ref-ms {args.latency_ref_ms}`",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs; space {DEFAULT_SPACE}, "
        f"objectives accuracy and latency on {args.target}, no warm start",
        f"- Fidelity: {fidelity.to_json()}",
        "- Speedup (optuna wall / ray wall) per seed: "
        + ", ".join(f"{s:.2f}x" for s in speedups)
        + f"; median {speedups.median():.2f}x (goal >= 1.6x)",
        "",
        "| seed | backend | workers | trials | failed | wall s | mean trial s | HV | best acc |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        lines.append(
            f"| {r.seed} | {r.backend} | {r.workers} | {r.trials} | {r.failed} | {r.wall_s} | "
            f"{r.trial_s_mean} | {r.hypervolume:.4f} | {100 * r.best_accuracy:.1f}% |"
        )
    lines += ["", *_same_candidates(Path(args.runs), sorted(df["seed"].unique()))]
    path.write_text("\n".join(lines) + "\n")


def _same_candidates(runs: Path, seeds: list[int]) -> list[str]:
    """Candidates both runs of a seed evaluated (the samplers' random start): their cost alone
    with every core vs beside another trial with one core, and their accuracy each way."""
    lines = [
        "## The same candidates both ways",
        "",
        "| seed | candidates | evaluate s, optuna (all cores, alone) | evaluate s, ray (1 core "
        "each, 2 at once) | throughput ratio 2 x optuna / ray | mean abs accuracy difference |",
        "|---|---|---|---|---|---|",
    ]
    for seed in seeds:
        try:
            a = pd.read_csv(runs / f"optuna-s{seed}" / "trials.csv")
            b = pd.read_csv(runs / f"ray-s{seed}" / "trials.csv")
        except FileNotFoundError:
            continue
        m = a.merge(b, on="key", suffixes=("_o", "_r"))
        if m.empty:
            continue
        t_o, t_r = m["wall_s_o"].sum(), m["wall_s_r"].sum()
        diff = (m["accuracy_o"] - m["accuracy_r"]).abs().mean()
        lines.append(
            f"| {seed} | {len(m)} | {t_o:.1f} | {t_r:.1f} | {2 * t_o / t_r:.2f}x | "
            f"{100 * diff:.1f} points |"
        )
    return lines


if __name__ == "__main__":
    main()
