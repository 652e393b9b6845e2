"""Benchmark autoedge's own cost at scale: the real search loop with a synthetic evaluator.

    .venv/bin/python scripts/bench_scale.py --part driver [--trials 200,1000,5000]
        [--samplers tpe,nsga2,random] [--window 50]
    .venv/bin/python scripts/bench_scale.py --part ray [--concurrency 8,32,128] [--trial-s 60]
        [--rounds 3]

`driver`: `run_search` with the optuna backend (`random`: the random backend), one trial at a
time in this process, the default space and schedule (3 rungs), no warm start; the evaluator
scores a candidate from its genes in microseconds, so every second is the driver's: ask, tell,
the study's SQLite storage, the run folder's tables, the rung bookkeeping. Per trial count in
`--trials` (the run goes on to the largest), the mean wall time per counted trial over the
`--window` trials up to it, and where it went (ask, tell, reading the records back, writing the
tables; "other" is the rest: the rung book, progress events, the evaluator).

`ray`: trial throughput against concurrency on Ray logical CPUs: a local Ray head with as many
logical CPUs as the largest concurrency, the ray backend with `--workers N` (one logical CPU per
trial, one rung), `--rounds` x N trials that each sleep `--trial-s` seconds. Efficiency is the
ideal time (rounds x trial-s) over the wall time from the first trial's start to the last one's
end.

Writes results/bench_scale_<part>.csv and results/bench_scale.md (both parts' tables).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from autoedge.evaluate.result import EvalResult, wilson_interval
from autoedge.search import RunConfig, run_search
from autoedge.search import run as run_module
from autoedge.search.backends.optuna_backend import OptunaBackend
from autoedge.search.run import SearchEvent
from autoedge.space import DEFAULT_SPACE, Candidate

RESULTS = Path(__file__).resolve().parents[1] / "results"
BITS = [8, 32]  # the host's precisions: the space a host run searches


class SyntheticEvaluator:
    """Scores a candidate from its genes (plausible accuracy, latency, size) after sleeping
    `sleep_s`; writes a token state file for the rung above. Picklable, torch-free."""

    def __init__(self, sleep_s: float = 0.0) -> None:
        self.sleep_s = sleep_s

    def worker_devices(self, workers: int) -> list[str]:
        return ["cpu"] * workers

    def portable(self, threads: int | None = None, device: str | None = None) -> Any:
        return SyntheticEvaluator(self.sleep_s)

    def __call__(
        self,
        cand: Candidate,
        fidelity: Any,
        state_in: Path | None = None,
        state_out: Path | None = None,
        model_out: Path | None = None,
    ) -> EvalResult:
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if state_out is not None:
            state_out.write_text(cand.key)
        noise = int(hashlib.sha256(cand.key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        work = sum(s.width * s.depth * (1 - s.prune) for s in cand.stages) * cand.resolution / 32
        bits = sum(s.weight_bits for s in cand.stages) / len(cand.stages)
        acc = min(0.99, 0.55 + 0.3 * work / (work + 200) + 0.05 * noise + 0.02 * fidelity.rung)
        low, high = wilson_interval(acc, 2000)
        return EvalResult(
            key=cand.key,
            status="ok",
            accuracy=acc,
            accuracy_low=low,
            accuracy_high=high,
            latency_ms=0.002 * work * (1 + 0.1 * noise),
            latency_source="measured",
            size_bytes=int(work * bits * 12),
            peak_memory_bytes=int(work * 400),
            params=int(work * 40),
            macs=int(work * 9000),
            test_images=2000,
            candidate=cand.to_json(),
            rung=fidelity.rung,
            wall_s=self.sleep_s,
        )


class Stopwatch:
    """Seconds spent in wrapped functions, by name, since the last `take()`."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        inner: Callable[..., Any] = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - start

        setattr(owner, attr, timed)

    def take(self) -> dict[str, float]:
        out = dict(self.spent)
        self.spent.clear()
        return out


def driver(args: argparse.Namespace) -> pd.DataFrame:
    checkpoints = sorted(int(n) for n in args.trials.split(","))
    watch = Stopwatch()
    watch.wrap(OptunaBackend, "ask", "ask")
    watch.wrap(OptunaBackend, "tell", "tell")
    watch.wrap(OptunaBackend, "records", "records")
    watch.wrap(run_module, "write_outputs", "write")
    rows = []
    for sampler in args.samplers.split(","):
        frame, wall = _driver_run(sampler, checkpoints, watch, Path(args.runs))
        for n in checkpoints:
            mean = frame.iloc[max(0, n - args.window) : n].mean()
            parts = {k: 1e3 * float(mean.get(k, 0.0)) for k in ("ask", "tell", "records", "write")}
            rows.append(
                {
                    "sampler": sampler,
                    "trials": n,
                    "ms_per_trial": round(1e3 * float(mean["total"]), 1),
                    **{f"{k}_ms": round(v, 1) for k, v in parts.items()},
                    "other_ms": round(1e3 * float(mean["total"]) - sum(parts.values()), 1),
                    "run_wall_s": round(wall, 1),
                }
            )
    return pd.DataFrame(rows)


def _driver_run(
    sampler: str, checkpoints: list[int], watch: Stopwatch, runs: Path
) -> tuple[pd.DataFrame, float]:
    """One synthetic run to the largest checkpoint: each counted trial's wall seconds (and
    the stopwatch's parts), and the run's wall time."""
    out = runs / f"driver-{sampler}"
    shutil.rmtree(out, ignore_errors=True)
    config = RunConfig.from_options(
        str(out),
        {
            "space": DEFAULT_SPACE,
            "budget": checkpoints[-1],
            "backend": "random" if sampler == "random" else "optuna",
            "sampler": "tpe" if sampler == "random" else sampler,
            "workers": 1,
            "warm_start": False,
            "teacher": "none",
            "seed": 0,
        },
    )
    per_trial: list[dict[str, float]] = []
    last = time.perf_counter()

    def on_event(event: SearchEvent) -> None:
        nonlocal last
        if event.kind != "trial_finished":
            return
        now = time.perf_counter()
        per_trial.append({"total": now - last, **watch.take()})
        last = now
        if event.done in checkpoints:
            print(f"{sampler}: {event.done} trials, {per_trial[-1]['total'] * 1e3:.0f} ms")

    start = time.perf_counter()
    watch.take()
    run_search(config, SyntheticEvaluator(), on_event=on_event, executable_bits=BITS)
    return pd.DataFrame(per_trial).fillna(0.0), time.perf_counter() - start


def ray_throughput(args: argparse.Namespace) -> pd.DataFrame:
    levels = [int(n) for n in args.concurrency.split(",")]
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = [ray_bin, "start", "--head", f"--num-cpus={max(levels)}", "--num-gpus=0"]
    subprocess.run([ray_bin, "stop", "--force"], capture_output=True)
    subprocess.run([*head, "--include-dashboard=false"], check=True, capture_output=True)
    rows = []
    try:
        for n in levels:
            out = Path(args.runs) / f"ray-{n}"
            shutil.rmtree(out, ignore_errors=True)
            config = RunConfig.from_options(
                str(out),
                {
                    "budget": args.rounds * n,
                    "backend": "ray",
                    "address": "auto",
                    "workers": n,
                    "cpus_per_trial": 1.0,
                    "rungs": 1,
                    "warm_start": False,
                    "teacher": "none",
                    "seed": 0,
                },
            )
            first: float | None = None
            end = 0.0

            def on_event(event: SearchEvent) -> None:
                nonlocal first, end
                if event.kind == "trial_started" and first is None:
                    first = time.perf_counter()
                if event.kind == "trial_finished":
                    end = time.perf_counter()

            summary = run_search(
                config,
                SyntheticEvaluator(args.trial_s),
                on_event=on_event,
                executable_bits=BITS,
            )
            wall = end - (first or end)
            ideal = args.rounds * args.trial_s
            rows.append(
                {
                    "concurrency": n,
                    "trials": summary.trials,
                    "trial_s": args.trial_s,
                    "wall_s": round(wall, 1),
                    "ideal_s": ideal,
                    "throughput_per_min": round(60 * summary.trials / wall, 1) if wall else 0,
                    "ideal_per_min": round(60 * n / args.trial_s, 1),
                    "efficiency": round(ideal / wall, 3) if wall else 0,
                }
            )
            print(rows[-1])
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True)
    return pd.DataFrame(rows)


def report() -> None:
    lines = [
        "# Driver cost at scale (issue 25)",
        "",
        f"Machine: {platform.machine()}, {platform.python_version()}; "
        f"{_cores()} cores. Synthetic evaluator (scripts/bench_scale.py): only autoedge's own "
        "cost is timed.",
    ]
    driver_csv = RESULTS / "bench_scale_driver.csv"
    if driver_csv.is_file():
        frame = pd.read_csv(driver_csv)
        commands = frame.pop("command").unique()
        lines += [
            "",
            "## Driver time per trial",
            "",
            *[f"`.venv/bin/python {c}`" for c in commands],
            "",
            "Mean wall ms per counted trial over the trials up to the count (default space, "
            "3 rungs, one at a time). Goals: <= 50 ms at 1000 trials, <= 200 ms at 5000.",
            "",
            _markdown(frame),
        ]
    ray_csv = RESULTS / "bench_scale_ray.csv"
    if ray_csv.is_file():
        frame = pd.read_csv(ray_csv)
        command = frame.pop("command").iloc[0]
        lines += [
            "",
            "## Ray throughput against concurrency",
            "",
            f"`.venv/bin/python {command}`",
            "",
            "Goal: >= 90% of ideal throughput at 128 simulated workers with 60-second trials.",
            "",
            _markdown(frame),
        ]
    (RESULTS / "bench_scale.md").write_text("\n".join(lines) + "\n")


def _markdown(frame: pd.DataFrame) -> str:
    """A GitHub table of `frame` (pandas' to_markdown needs tabulate, not a dependency)."""
    rows = [list(frame.columns), ["---"] * len(frame.columns), *frame.astype(str).values.tolist()]
    return "\n".join("| " + " | ".join(map(str, r)) + " |" for r in rows)


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["driver", "ray", "report"], required=True)
    ap.add_argument("--trials", default="200,1000,5000")
    ap.add_argument("--samplers", default="tpe,nsga2,random")
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--concurrency", default="8,32,128")
    ap.add_argument("--trial-s", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", default="/tmp/autoedge-bench-scale")
    args = ap.parse_args()
    command = "scripts/bench_scale.py " + " ".join(sys.argv[1:])
    if args.part in ("driver", "ray"):
        frame = driver(args) if args.part == "driver" else ray_throughput(args)
        frame["command"] = command
        path = RESULTS / f"bench_scale_{args.part}.csv"
        if args.part == "driver" and path.is_file():  # other samplers' rows stay
            kept = pd.read_csv(path)
            kept = kept[~kept["sampler"].isin(frame["sampler"])]
            frame = pd.concat([kept, frame], ignore_index=True)
        frame.to_csv(path, index=False)
    report()


if __name__ == "__main__":
    main()
