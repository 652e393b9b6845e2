"""Benchmark multi-fidelity search against single fidelity, judged on exported models.

    .venv/bin/python scripts/bench_fidelity.py [--minutes 35] [--judge 5] [--refit-epochs 3]
        [--data fashion-mnist] [--target host] [--seed 0] [--modes single,multi]

Runs `autoedge search` (default space, the default fidelity, --budget 100000) once per mode for
the same wall-clock time and stops it with SIGTERM, which autoedge takes as a Ctrl-C (the run
writes its tables and can be resumed); each front is taken from the trials that finished within
that time of the run's start (`--reuse` judges runs already in --work that way): `single` is
`--rungs 1`, `multi` the default `--rungs 3 --eta 3`.
Then judges each front the same way: `--judge` points spread along latency are exported with
`--refit-epochs` (autoedge's export path: retrained from scratch, compressed, deployed, scored
on the whole test split), and so is the hand baseline a user would otherwise ship, the
MobileNetV3-Small-like fp32 warm-start trial. Reported per mode: trials, front size, the
accuracy-latency hypervolume of the judged points (judged accuracy, judged host latency, one
reference for both modes), the mean |front accuracy - judged accuracy|, the Spearman rank
agreement of each rung's accuracy with the judged accuracy, and the smallest and the fastest
judged point within 1 point of the hand baseline's accuracy as deployed-bytes and host-latency
ratios. Writes results/bench_fidelity.csv and results/bench_fidelity.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from autoedge.deploy import export_point
from autoedge.hardware.host_latency import measure_host_latency, time_interleaved
from autoedge.results import load_run
from autoedge.results.hypervolume import accuracy_latency_hypervolume
from autoedge.search import RunConfig
from autoedge.search.outputs import choose_for_refinement, front_of

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
HAND = "mobilenetv3-small-fp32"
_JUDGED = ("judged_accuracy", "judged_latency_ms", "judged_size_bytes", "ships_as")
MODES = {"single": ["--rungs", "1"], "multi": ["--rungs", "3", "--eta", "3"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=35.0, help="wall-clock time per search")
    ap.add_argument("--judge", type=int, default=5, help="front points exported per mode")
    ap.add_argument("--refit-epochs", type=int, default=3)
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--target", default="host")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="single,multi")
    ap.add_argument(
        "--no-hand", dest="hand", action="store_false", help="do not export the hand baseline"
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="judge a mode's existing run in --work instead of searching again (cut at --minutes)",
    )
    ap.add_argument("--work", default=str(RESULTS / "bench_fidelity_runs"))
    ap.add_argument("--out", default=str(RESULTS / "bench_fidelity"))
    args = ap.parse_args()
    work = Path(args.work)
    rows: list[dict[str, Any]] = []
    facts: dict[str, dict[str, Any]] = {}
    for mode in args.modes.split(","):
        run = work / mode
        reuse = args.reuse and (run / "trials.csv").is_file()
        wall = args.minutes * 60 if reuse else _search(run, mode, args)
        view = load_run(run)
        front = _front_at(view, args.minutes)
        chosen = choose_for_refinement(front, args.judge)
        trials = view.trials
        hand = trials[(trials["baseline"] == HAND) & (trials["state"] == "ok")]
        hand = hand["number"].astype(int).tolist()
        facts[mode] = {
            "wall_s": wall,
            "trials": int(view.trials["state"].isin(["ok", "failed"]).sum()),
            "front": len(front),
            "rungs": _rungs(run),
        }
        extra = [h for h in hand[:1] if h not in chosen] if args.hand else []
        for number in [*chosen, *extra]:
            row = view.trials[view.trials["number"] == number].iloc[0]
            # the hand baseline is the same candidate, data and seed in every mode: one export
            name = "hand-export" if number in hand else f"{mode}-export-{number}"
            judged = _judge(run, number, work / name, args.refit_epochs)
            rows.append(
                {
                    "mode": mode,
                    "number": number,
                    "hand": number in hand,
                    "front_point": number in chosen,  # the hand baseline may be one too
                    "rung": int(row.get("rung", 0) or 0),
                    "front_accuracy": float(row["accuracy"]),
                    "front_latency_ms": float(row["latency_ms"]),
                    **judged,
                }
            )
            pd.DataFrame(rows).to_csv(f"{args.out}.csv", index=False)  # kept as it grows
    columns = [
        "mode", "number", "hand", "front_point", "rung", "front_accuracy", "front_latency_ms"
    ]  # fmt: skip
    table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns + list(_JUDGED))
    if len(table):  # every judged model timed again, together, on a quiet machine
        table["card_latency_ms"] = table["judged_latency_ms"]
        table["judged_latency_ms"] = _time_together(table["folder"].tolist())
        table = table.drop(columns=["folder"])
    table.to_csv(f"{args.out}.csv", index=False)
    Path(f"{args.out}.md").write_text(_report(table, facts, args), encoding="utf-8")
    print(Path(f"{args.out}.md").read_text(encoding="utf-8"))


def _front_at(view: Any, minutes: float) -> pd.DataFrame:
    """The front of the trials that finished within `minutes` of the run's start (a run
    that went on longer is judged as it stood then; its later trials are left out)."""
    trials = view.trials.copy()
    created = pd.Timestamp(view.config["created_at"])
    finished = pd.to_datetime(trials["finished_at"], errors="coerce", utc=True)
    trials = trials[finished <= created + pd.Timedelta(minutes=minutes)]
    config = RunConfig.from_json(view.config["config"])
    front, _ = front_of(trials, config)
    return front


def _search(run: Path, mode: str, args: argparse.Namespace) -> float:
    """Run `autoedge search` into `run` for args.minutes, then stop it as Ctrl-C would
    (SIGTERM: a background job may have SIGINT ignored); wall seconds."""
    cmd = [
        sys.executable,
        "-m",
        "autoedge",
        "search",
        "--data",
        args.data,
        "--target",
        args.target,
        "--seed",
        str(args.seed),
        "--budget",
        "100000",
        "--out",
        str(run),
        *MODES[mode],
    ]
    run.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(run.parent / f"{mode}.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=args.minutes * 60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=600)
    if proc.returncode not in (0, 130):
        raise SystemExit(f"search {mode} exited {proc.returncode}; see {run.parent / mode}.log")
    return time.monotonic() - start


def _judge(run: Path, number: int, out: Path, refit_epochs: int) -> dict[str, Any]:
    """Export trial `number` as a user would (tolerance off: we want the number, not a
    refusal) and read the card; an export already in `out` (an interrupted bench) is read."""
    if (out / "model_card.json").is_file():
        card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    else:
        report = export_point(
            run, out, trial=number, refit_epochs=refit_epochs, force=True, tolerance=1.0
        )
        card = report.card
    return {
        "folder": str(out),
        "judged_accuracy": float(card["metrics"]["accuracy"]),
        "judged_latency_ms": float(card["latency"]["host"]["median_ms"]),
        "judged_size_bytes": int(card["metrics"]["size_bytes"]),
        "ships_as": card["model"]["precision"],
    }


def _time_together(folders: list[str], rounds: int = 5, runs: int = 50) -> list[float]:
    """Host latency of each folder's model.onnx: the median of `rounds` medians, the models
    taken in turn within each round (drift hits them alike; the export's own figure was
    timed whenever that export ran)."""
    models = {i: Path(folder) / "model.onnx" for i, folder in enumerate(folders)}
    seen = time_interleaved(models, lambda p: measure_host_latency(p, runs=runs), rounds=rounds)
    return [statistics.median(m.median_ms for m in seen[i]) for i in range(len(folders))]


def _rungs(run: Path) -> pd.DataFrame | None:
    path = run / "rungs.csv"
    return pd.read_csv(path) if path.is_file() else None


def _report(table: pd.DataFrame, facts: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    cmd = (
        f"python scripts/bench_fidelity.py --minutes {args.minutes:g} --judge {args.judge} "
        f"--refit-epochs {args.refit_epochs} --data {args.data} --target {args.target} "
        f"--seed {args.seed} --modes {args.modes}{'' if args.hand else ' --no-hand'}"
        f"{' --reuse' if args.reuse else ''}"
    )
    judged = table[table["front_point"].astype(bool)] if len(table) else table
    ref = float(table["judged_latency_ms"].max()) * 1.1 if len(table) else 1.0
    lines = [
        "# Multi-fidelity vs single-fidelity search, judged on exported models",
        "",
        f"Command: `{cmd}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}.",
        "",
        "Each search ran for (at least) the same wall-clock time; its front is that of the trials",
        f"finished within {args.minutes:g} minutes of its start. Each judged",
        f"point was exported with `--refit-epochs {args.refit_epochs}` and scored on the whole",
        "test split; the judged models' host latencies were then timed together (5 interleaved",
        "rounds of 50 runs, median of the round medians). Hypervolume: judged accuracy x",
        "judged host latency, reference error 1.0",
        f"and {ref:.3f} ms (1.1x the slowest judged point), the same for both modes.",
        "",
        "| mode | wall | trials | front | judged | judged HV | mean abs(front - judged) acc |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, f in facts.items():
        mine = judged[judged["mode"] == mode]
        points = mine.rename(
            columns={"judged_accuracy": "accuracy", "judged_latency_ms": "latency_ms"}
        ).assign(state="ok")
        hv = accuracy_latency_hypervolume(points, ref) if len(points) else float("nan")
        gap = (mine["front_accuracy"] - mine["judged_accuracy"]).abs().mean() * 100
        lines.append(
            f"| {mode} | {f['wall_s'] / 60:.1f} min | {f['trials']} | {f['front']} | {len(mine)} "
            f"| {hv:.4f} | {gap:.2f} points |"
        )
    lines += ["", "## Rank agreement with the judged accuracy", ""]
    for mode, f in facts.items():
        lines += _agreement(mode, judged[judged["mode"] == mode], f["rungs"])
    lines += ["", "## Against the hand baseline (MobileNetV3-Small-like fp32, exported alike)", ""]
    for mode in facts:
        lines += _versus_hand(mode, table[table["mode"] == mode])
    lines += ["", "## Judged points", "", _markdown(table), ""]
    return "\n".join(lines)


def _agreement(mode: str, judged: pd.DataFrame, rungs: pd.DataFrame | None) -> list[str]:
    if rungs is None:
        rho = judged["front_accuracy"].corr(judged["judged_accuracy"], method="spearman")
        return [f"- {mode}: search accuracy vs judged, Spearman {rho:.2f} ({len(judged)} points)"]
    out = []
    for rung, at in rungs[rungs["status"] == "ok"].groupby("rung"):
        both = judged.merge(at[["number", "accuracy"]], on="number")
        if len(both) >= 3:
            rho = both["accuracy"].corr(both["judged_accuracy"], method="spearman")
            out.append(f"- {mode}, rung {rung}: Spearman {rho:.2f} ({len(both)} points)")
        else:
            out.append(f"- {mode}, rung {rung}: {len(both)} judged points measured there")
    return out


def _versus_hand(mode: str, table: pd.DataFrame) -> list[str]:
    hand = table[table["hand"]]
    if hand.empty:
        return [f"- {mode}: the hand baseline was not exported (not in the run, or --no-hand)"]
    h = hand.iloc[0]
    near = table[(~table["hand"]) & (table["judged_accuracy"] >= h["judged_accuracy"] - 0.01)]
    head = (
        f"- {mode}: hand baseline {100 * h['judged_accuracy']:.2f}%, "
        f"{h['judged_size_bytes'] / 1000:.1f} kB, {h['judged_latency_ms']:.3f} ms"
    )
    if near.empty:
        return [head + "; no judged front point within 1 point of its accuracy"]
    small = near.loc[near["judged_size_bytes"].idxmin()]
    fast = near.loc[near["judged_latency_ms"].idxmin()]
    return [
        head,
        f"  - smallest within 1 point: trial {int(small['number'])}, "
        f"{h['judged_size_bytes'] / small['judged_size_bytes']:.1f}x smaller, "
        f"{h['judged_latency_ms'] / small['judged_latency_ms']:.1f}x faster "
        f"({100 * small['judged_accuracy']:.2f}%)",
        f"  - fastest within 1 point: trial {int(fast['number'])}, "
        f"{h['judged_latency_ms'] / fast['judged_latency_ms']:.1f}x faster, "
        f"{h['judged_size_bytes'] / fast['judged_size_bytes']:.1f}x smaller "
        f"({100 * fast['judged_accuracy']:.2f}%)",
    ]


def _markdown(table: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body])


if __name__ == "__main__":
    main()
