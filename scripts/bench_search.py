"""Benchmark the search: (accuracy, latency) hypervolume by budget, optuna vs random vs hand.

    .venv/bin/python scripts/bench_search.py [--data fashion-mnist] [--budgets 25,50,100]
        [--seeds 0,1,2] [--backends tpe,nsga2,random] [--epochs 1] [--subset 1000]
        [--test-subset 500] [--latency-ref-ms 5] [--target host]

For each backend and seed, searches of the default space (no warm start, objectives accuracy
and latency, one fixed low fidelity, one trial at a time): TPE and random do not look at the
budget, so one run to the largest budget gives every budget-B front as the front after its
first B trials; NSGA-II sizes its population by the budget, so each budget is a run of its
own (results before 2026-11-30 scored NSGA-II's smaller budgets as prefixes of its
budget-100 run, whose population was sized for 100). The hand baselines -
MobileNetV3-Small-like at widths 0.5 / 0.75 / 1.0, fp32 and int8, as timm's
mobilenetv3_small_050/075/100 - are trained at the
same fidelity. Hypervolume is of (1 - accuracy, latency / latency-ref) with reference
(1, 1), so it lies in [0, 1].
A predicted target (e.g. rpi4) makes the latency objective deterministic, so a comparison of
samplers does not depend on how busy this machine was; `host` measures in the loop.
Runs are resumable: the run folders under results/bench_search_runs/<target>/ are continued.
Writes results/bench_search.csv (one row per backend, seed, budget), bench_search.md
(median and spread), bench_search.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from autoedge.data import get_dataset
from autoedge.evaluate.fidelity import Fidelity
from autoedge.evaluate.session import EvaluationSession
from autoedge.hardware.onnx_graph import precision_bits
from autoedge.hardware.targets import get_target
from autoedge.results import accuracy_latency_hypervolume, non_dominated, pareto_front
from autoedge.search import RunConfig, run_search
from autoedge.space import DEFAULT_SPACE, get_space
from autoedge.space.presets import scaled_baseline

RESULTS = Path(__file__).resolve().parents[1] / "results"
OBJECTIVES = ("accuracy", "latency")
#: Benchmark engine name -> (search backend, Optuna sampler).
ENGINES = {"tpe": ("optuna", "tpe"), "nsga2": ("optuna", "nsga2"), "random": ("random", "tpe")}
#: Samplers that size themselves by the budget: each budget is scored on a run of its own.
BUDGET_DEPENDENT = frozenset({"nsga2"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--budgets", default="25,50,100")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--backends", default=",".join(ENGINES))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--subset", type=int, default=1000)
    ap.add_argument("--test-subset", type=int, default=500)
    ap.add_argument("--latency-ref-ms", type=float, default=5.0)
    ap.add_argument("--target", default="host")
    ap.add_argument("--runs", default=str(RESULTS / "bench_search_runs"))
    ap.add_argument("--out", default=str(RESULTS / "bench_search"))
    args = ap.parse_args()
    budgets = sorted(int(b) for b in args.budgets.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    backends = args.backends.split(",")
    unknown = sorted(set(backends) - set(ENGINES))
    if unknown:
        raise SystemExit(f"unknown backends {unknown}; choose from {sorted(ENGINES)}")
    fidelity = Fidelity(
        epochs=args.epochs, subset=args.subset, finetune_subset=500, test_subset=args.test_subset
    )
    dataset = get_dataset(args.data)
    target = get_target(args.target)
    session = EvaluationSession(dataset, target, log=print)
    bits = precision_bits(target.precisions)  # as `autoedge search` does: no 4/6/16-bit here
    print(dataset.describe())

    t0 = time.perf_counter()
    runs = Path(args.runs) / args.target
    hand = _hand_baselines(session, fidelity, runs / "baselines.csv")
    hand_hv = accuracy_latency_hypervolume(_front(hand), args.latency_ref_ms)
    rows = []
    for backend in backends:
        for seed in seeds:
            # NSGA-II sizes its population by the budget (budget/4): a budget-B front is only
            # what a budget-B run would find when the run had budget B. TPE and random do not
            # look at the budget, so one run to the largest budget gives every prefix.
            own_run = backend in BUDGET_DEPENDENT
            for run_budget in budgets if own_run else budgets[-1:]:
                name = f"{backend}-s{seed}" + (f"-b{run_budget}" if own_run else "")
                config = RunConfig(
                    out=str(runs / name),
                    space=DEFAULT_SPACE,
                    data=args.data,
                    target=args.target,
                    budget=run_budget,
                    backend=ENGINES[backend][0],
                    sampler=ENGINES[backend][1],
                    objectives=OBJECTIVES,
                    fidelity=fidelity,
                    seed=seed,
                    warm_start=False,
                    workers=1,
                )
                start = time.perf_counter()
                summary = run_search(config, session, executable_bits=bits)
                print(f"{name}: {summary.done} trials, {time.perf_counter() - start:.0f} s")
                trials = pd.read_csv(Path(config.out) / "trials.csv")
                for b in [run_budget] if own_run else budgets:
                    rows.append(_budget_row(trials, b, backend, seed, hand, args))
    df = pd.DataFrame(rows)
    df.to_csv(f"{args.out}.csv", index=False)
    hand.to_csv(f"{args.out}_baselines.csv", index=False)
    _plot(df, hand_hv, Path(f"{args.out}.png"))
    _report(df, hand, hand_hv, args, fidelity, time.perf_counter() - t0, Path(f"{args.out}.md"))
    print(Path(f"{args.out}.md").read_text())


def _budget_row(
    trials: pd.DataFrame,
    b: int,
    backend: str,
    seed: int,
    hand: pd.DataFrame,
    args: argparse.Namespace,
) -> dict[str, object]:
    """The scores of the first `b` counted trials of a run."""
    first = trials[trials["number"] < _nth_counted(trials, b)]
    front = pareto_front(first, OBJECTIVES)
    return {
        "backend": backend,
        "seed": seed,
        "budget": b,
        "hypervolume": accuracy_latency_hypervolume(front, args.latency_ref_ms),
        "front_size": len(front),
        "baselines_dominated": _dominated(hand, front),
        "best_accuracy": float(first["accuracy"].max()),
        "failed": int((first["state"] == "failed").sum()),
        "wall_s": float(first["wall_s"].sum()),
    }


def _hand_baselines(session: EvaluationSession, fidelity: Fidelity, cache: Path) -> pd.DataFrame:
    """The hand baselines at `fidelity`, reused from `cache` when it was made at the same one."""
    stamp = json.dumps(fidelity.to_json(), sort_keys=True)
    if cache.is_file():
        cached = pd.read_csv(cache)
        if "fidelity" in cached.columns and (cached["fidelity"] == stamp).all():
            return cached.drop(columns="fidelity")
    space = get_space(DEFAULT_SPACE)
    rows = []
    for precision in ("fp32", "int8"):
        for width in (0.5, 0.75, 1.0):
            cand = scaled_baseline(f"mobilenetv3-small-{precision}", space, width)
            r = session(cand, fidelity)
            rows.append(
                {
                    "name": f"mobilenetv3_small_{round(width * 100):03d}-{precision}",
                    "state": "ok" if r.ok else "failed",
                    "feasible": r.ok,
                    "reused_from": None,
                    "accuracy": r.accuracy,
                    "latency_ms": r.latency_ms,
                    "latency_source": r.latency_source,
                    "size_bytes": r.size_bytes,
                    "error": r.error or "",
                }
            )
            print(rows[-1])
    hand = pd.DataFrame(rows)
    cache.parent.mkdir(parents=True, exist_ok=True)
    hand.assign(fidelity=stamp).to_csv(cache, index=False)
    return hand


def _front(hand: pd.DataFrame) -> pd.DataFrame:
    return pareto_front(hand.assign(number=range(len(hand)), key=hand["name"]), OBJECTIVES)


def _nth_counted(trials: pd.DataFrame, b: int) -> int:
    """The trial number just after the b-th trial with a result (interrupted ones skipped)."""
    counted = trials[trials["state"].isin(["ok", "failed"])].sort_values("number")
    if len(counted) < b:
        raise SystemExit(f"run has only {len(counted)} finished trials, fewer than budget {b}")
    return int(counted["number"].iloc[b - 1]) + 1


def _dominated(hand: pd.DataFrame, front: pd.DataFrame) -> int:
    """How many hand baselines some front point weakly dominates in (accuracy, latency)."""
    n = 0
    for _, h in hand[hand["state"] == "ok"].iterrows():
        pts = np.vstack([[h.accuracy, h.latency_ms], front[["accuracy", "latency_ms"]].to_numpy()])
        n += int(not non_dominated(pts, ["maximize", "minimize"])[0])
    return n


def _plot(df: pd.DataFrame, hand_hv: float, path: Path) -> None:
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for backend, g in df.groupby("backend"):
        s = g.groupby("budget")["hypervolume"]
        ax.plot(s.median().index, s.median().values, marker="o", label=f"{backend} (median)")
        ax.fill_between(s.min().index, s.min().values, s.max().values, alpha=0.2)
    ax.axhline(hand_hv, color="k", linestyle="--", label="hand baselines")
    ax.set_xlabel("budget (trials)")
    ax.set_ylabel("hypervolume of (1 - accuracy, latency)")
    ax.legend()
    fig.tight_layout()
    FigureCanvasAgg(fig).print_png(str(path))


def _report(
    df: pd.DataFrame,
    hand: pd.DataFrame,
    hand_hv: float,
    args: argparse.Namespace,
    fidelity: Fidelity,
    wall: float,
    path: Path,
) -> None:
    g = df.groupby(["backend", "budget"])["hypervolume"]
    table = pd.DataFrame(
        {"median": g.median(), "min": g.min(), "max": g.max(), "runs": g.count()}
    ).reset_index()
    lines = [
        "# Search quality: hypervolume by budget",
        "",
        f"Command: `.venv/bin/python scripts/bench_search.py --data {args.data} --budgets "
        f"{args.budgets} --seeds {args.seeds} --backends {args.backends} --epochs {args.epochs} "
        f"--subset {args.subset} --test-subset {args.test_subset} --latency-ref-ms "
        f"{args.latency_ref_ms} --target {args.target}`",
        "",
        f"- Target: {args.target} (latency {hand['latency_source'].iloc[0]})",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs; total wall {wall / 60:.0f} min",
        f"- Fidelity: {fidelity.to_json()}",
        f"- Hypervolume of (1 - accuracy, latency / {args.latency_ref_ms} ms), reference (1, 1); "
        "objectives accuracy and latency; no warm start",
        f"- Hand baselines' front hypervolume: {hand_hv:.4f}",
        "",
        "| backend | budget | median HV | min | max | runs |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.backend} | {r.budget} | {r.median:.4f} | {r.min:.4f} | {r.max:.4f} | {r.runs} |"
        )
    lines += [
        "",
        "## Hand baselines (same fidelity)",
        "",
        "| name | accuracy | latency ms |",
        "|---|---|---|",
    ]
    for r in hand.itertuples():
        acc = f"{100 * r.accuracy:.1f}%" if r.state == "ok" else f"failed: {r.error}"
        lat = f"{r.latency_ms:.3f}" if r.state == "ok" else "-"
        lines.append(f"| {r.name} | {acc} | {lat} |")
    lines += ["", "## Every run", "", "| " + " | ".join(df.columns) + " |"]
    lines.append("|" + "---|" * len(df.columns))
    for r in df.itertuples(index=False):
        cells = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
