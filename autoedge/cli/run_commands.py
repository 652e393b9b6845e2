"""`autoedge search`, `show` and `pick`: parse, call the search and results layers, render."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from autoedge.cli.consoles import err, out

if TYPE_CHECKING:
    import pandas as pd

    from autoedge.hardware.targets import Target
    from autoedge.hardware.validation import ValidatedTarget
    from autoedge.search import SearchEvent, SearchSummary

# Each option is declared once and shared by the commands that take it.
MaxLatency = Annotated[
    float | None, typer.Option("--max-latency-ms", help="Latency bound on the target (ms).")
]
MaxSize = Annotated[
    float | None, typer.Option("--max-size-kb", help="Weight size bound (kB = 1000 bytes).")
]
MaxMemory = Annotated[
    float | None, typer.Option("--max-memory-kb", help="Peak activation memory bound (kB).")
]
MinAccuracy = Annotated[
    float | None, typer.Option("--min-accuracy", help="Accuracy floor, a fraction (0.85 = 85%).")
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
RunArg = Annotated[str, typer.Argument(help="A run folder written by `autoedge search`.")]


def search_cmd(
    space: Annotated[
        str | None, typer.Option(help="Bundled space (see `autoedge spaces`) or a YAML path.")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="fashion-mnist (default), mnist, digits, or a folder.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Latency target (default host).")] = None,
    budget: Annotated[
        int | None, typer.Option(help="Trials to run, counting finished ones (default 200).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="optuna (default), random, or ray (N trials at once).")
    ] = None,
    sampler: Annotated[
        str | None, typer.Option(help="Optuna sampler: tpe (default) or nsga2.")
    ] = None,
    objectives: Annotated[
        str | None,
        typer.Option(help="Comma list from accuracy,latency,size,memory (default the first 3)."),
    ] = None,
    max_latency_ms: MaxLatency = None,
    max_size_kb: MaxSize = None,
    max_memory_kb: MaxMemory = None,
    min_accuracy: MinAccuracy = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs per candidate.")] = None,
    subset: Annotated[
        int | None, typer.Option(help="Training images per candidate (0 = all).")
    ] = None,
    teacher: Annotated[
        str | None, typer.Option(help="auto (cached per dataset), none, or a teacher file.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the sampler and training.")] = None,
    out_dir: Annotated[
        str | None,
        typer.Option("--out", help="Run folder (default results/runs/<time>-<target>)."),
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue this run folder (same settings).")
    ] = None,
    refine: Annotated[
        int | None, typer.Option(help="Retrain this many front points at full fidelity.")
    ] = None,
    trial_timeout: Annotated[
        float | None,
        typer.Option(
            "--trial-timeout",
            help="Fail a candidate that runs longer than S seconds (0: no limit, the default).",
            metavar="S",
        ),
    ] = None,
    trial_memory_mb: Annotated[
        float | None,
        typer.Option(
            "--trial-memory-mb",
            help="Fail a candidate that needs more than M MB of extra memory (0: no limit).",
            metavar="M",
        ),
    ] = None,
    no_warm_start: Annotated[
        bool, typer.Option("--no-warm-start", help="Do not seed with the hand baselines.")
    ] = False,
    address: Annotated[
        str | None,
        typer.Option(help="ray: join this cluster (auto, ray://HOST:10001); default: local."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Trials at once: worker processes here (default: one per CPU core, at most "
            "8; 1 runs them in order, reproducibly), or on Ray (default 1)."
        ),
    ] = None,
    cpus_per_trial: Annotated[
        float | None, typer.Option(help="ray: CPUs per trial, also its torch threads (1).")
    ] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(help="ray: GPUs per trial (0).")] = None,
    validate_on: Annotated[
        str | None,
        typer.Option(
            help="agent:HOST:PORT: measure each new front point of a predicted target on that "
            "device and refit the target's model as the search goes.",
        ),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Search the joint space for the accuracy / latency / size front on a target.

    Rerunning with the same --out (or --resume RUN) continues the run: finished trials are
    kept, an interrupted one runs again. Ctrl-C stops after writing the results (exit 130).
    """
    from autoedge.data import get_dataset
    from autoedge.errors import SearchError
    from autoedge.evaluate.session import EvaluationSession
    from autoedge.evaluate.teacher import check_teacher_spec
    from autoedge.hardware.onnx_graph import precision_bits
    from autoedge.hardware.targets import get_target
    from autoedge.hardware.validation import ValidatedTarget
    from autoedge.search import get_backend, plan_run, run_search, run_space
    from autoedge.search.config import RAY_SETTINGS
    from autoedge.search.pool import threads_per_worker
    from autoedge.space import get_space, restrict_bits

    given = {
        "space": space,
        "data": data,
        "target": target,
        "budget": budget,
        "backend": backend,
        "sampler": sampler,
        "objectives": objectives.split(",") if objectives is not None else None,
        "teacher": teacher,
        "seed": seed,
        "refine": refine,
        "warm_start": False if no_warm_start else None,
        "trial_timeout_s": trial_timeout,
        "trial_memory_mb": trial_memory_mb,
        "address": address,
        "workers": workers,
        "cpus_per_trial": cpus_per_trial,
        "gpus_per_trial": gpus_per_trial,
        "validate_on": validate_on,
    }
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    bounds = {
        "max_latency_ms": max_latency_ms,
        "max_size_kb": max_size_kb,
        "max_memory_kb": max_memory_kb,
        "min_accuracy": min_accuracy,
    }
    if any(v is not None for v in bounds.values()):
        options["constraints"] = {k: v for k, v in bounds.items() if v is not None}
    fidelity = {k: v for k, v in (("epochs", epochs), ("subset", subset)) if v is not None}
    if fidelity:
        options["fidelity"] = fidelity
    config, resumed = plan_run(options, out=out_dir, resume=resume)
    # Check everything the run needs before anything is written.
    get_backend(config.backend)
    ray_given = [k for k in RAY_SETTINGS if options.get(k) is not None]
    if ray_given and config.backend != "ray":
        raise SearchError(
            f"--{ray_given[0].replace('_', '-')} is a setting of --backend ray; this run uses "
            f"--backend {config.backend}"
        )
    tgt = get_target(config.target)
    if config.validate_on is not None:
        tgt = _validated(tgt, config.validate_on, config.out)
    bits = precision_bits(tgt.precisions)
    dropped: list[int] = []
    if resumed:
        run_space(config.out)
    else:
        _, dropped = restrict_bits(get_space(config.space), bits, target=config.target)
    check_teacher_spec(config.teacher)
    dataset = get_dataset(config.data)

    log = lambda m: err.print(m, markup=False)  # noqa: E731
    verb = "continuing" if resumed else "starting"
    log(f"{verb} run {config.out}")
    log(f"data: {dataset.describe()}")
    log(
        f"space {config.space}, target {config.target}, backend {config.backend}"
        f"{' (' + config.sampler + ')' if config.backend == 'optuna' else ''}, budget "
        f"{config.budget}, objectives {','.join(config.objectives)}, constraints "
        f"{config.constraints.describe()}, fidelity {config.fidelity.describe()}"
    )
    if config.backend == "ray":
        log(
            f"ray: {config.workers} trials at once, {config.cpus_per_trial:g} CPU and "
            f"{config.gpus_per_trial:g} GPU each, on {config.address or 'a local Ray instance'}"
        )
    elif config.workers > 1:
        threads = threads_per_worker(config.workers)
        log(
            f"{config.workers} trials at once in worker processes, {threads} torch thread(s) "
            "each (--workers 1: one at a time, in a reproducible order)"
        )
    if dropped:
        log(
            f"target {tgt.name} executes {', '.join(tgt.precisions)}: bit-widths "
            f"{', '.join(map(str, dropped))} are not searched (no kernels run them there)"
        )
    if config.trial_timeout_s or config.trial_memory_mb:
        log(
            f"limits per candidate: {config.trial_timeout_s or 'no'} s (--trial-timeout), "
            f"{config.trial_memory_mb or 'no'} MB extra memory (--trial-memory-mb)"
        )
    session = EvaluationSession(dataset, tgt, teacher=config.teacher, limits=config.limits, log=log)
    validator = tgt if isinstance(tgt, ValidatedTarget) else None
    if validator is not None:
        log(
            f"validating on {validator.device.name}: each new front point is measured there "
            f"and the {tgt.name} model refitted ({len(validator.checks)} checks so far)"
        )
    with _SigtermAsInterrupt(), _SearchProgress(config.budget, quiet=json_out) as progress:
        summary = run_search(
            config, session, on_event=progress.update, executable_bits=bits, validator=validator
        )
    if validator is not None:
        summary = replace(summary, validation=validator.summary())
    _finish(summary, json_out)


def _validated(target: Target, spec: str, run: str) -> ValidatedTarget:
    """`target` checked on the device agent `spec` (a predicted target only)."""
    from autoedge.errors import SearchError
    from autoedge.hardware.agent_client import AgentTarget
    from autoedge.hardware.targets import PredictedTarget
    from autoedge.hardware.validation import ValidatedTarget

    if not isinstance(target, PredictedTarget):
        raise SearchError(
            f"--validate-on checks a predicted target's model on a device; --target "
            f"{target.name} is measured already"
        )
    return ValidatedTarget(target, AgentTarget.from_spec(spec), run)


def _finish(summary: SearchSummary, json_out: bool) -> None:
    from autoedge.results import jsonable, load_run

    if json_out:
        sys.stdout.write(json.dumps(jsonable(summary.to_json()), sort_keys=True) + "\n")
    elif summary.ok:  # with no ok trial there is no front: only the error below
        view = load_run(summary.run)
        _front_table(view.front, title=f"Pareto front of {summary.run}")
        out.print(
            f"{summary.done} of {summary.budget} trials ({summary.ok} ok, {summary.failed} "
            f"failed, {summary.reused} reused), front {summary.front_size} points; hypervolume "
            f"{summary.hypervolume:.4f} (ref latency {summary.hypervolume_ref_ms:.3f} ms)"
        )
        if not summary.front_constrained:
            out.print("[yellow]no trial meets the constraints; the front ignores them[/yellow]")
        v = summary.validation
        if v and v["checked"]:
            out.print(
                f"validated {v['checked']} front points on {v['device']}: search predictions "
                f"off by {v['search_mape']:.0%} on average (shipped model: "
                f"{v['shipped_mape']:.0%}); refitted model in {v['profile']} (use it with "
                f"--target {v['profile']})",
                markup=False,
            )
        for r in summary.refined:
            out.print(
                f"refined trial {r['number']}: accuracy {_pct(r['accuracy'])} (search) -> "
                f"{_pct(r['accuracy_full'])} (full fidelity)"
            )
        out.print(f"files: {', '.join(summary.files)}")
    if summary.stopped:
        err.print(
            f"autoedge: stopped after {summary.done} of {summary.budget} trials; continue with "
            f"`autoedge search --resume {summary.run}`",
            markup=False,
        )
        raise typer.Exit(130)
    if summary.ok == 0:
        err.print(
            f"autoedge: error: every trial failed ({summary.failed}), no front to show; most "
            f"often: {summary.top_failure or 'no reason recorded'} (all reasons: the error "
            f"column of {summary.run}/trials.csv)",
            markup=False,
        )
        raise typer.Exit(1)


class _SearchProgress:
    """A rich progress bar (trials done/budget, elapsed, ETA, front size, best accuracy)."""

    def __init__(self, budget: int, *, quiet: bool) -> None:
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[front]}"),
            console=err,
            disable=quiet,
        )
        self.task = self.progress.add_task("search", total=budget, front="")
        self._started = False

    def __enter__(self) -> _SearchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, e: SearchEvent) -> None:
        if e.kind == "trial_started" and not self._started:
            self._started = True
            self.progress.reset(self.task, total=e.budget, completed=e.done)
        if e.kind == "validated":
            if not self.quiet:
                self.progress.console.print(e.state, markup=False, highlight=False)
            return
        if e.kind == "refine_started":
            self.progress.update(self.task, description="refine", total=e.budget, completed=e.done)
        if e.kind not in ("trial_finished", "refine_finished") or e.summary is None:
            return
        s = e.summary
        best = f"best {_pct(s.best['accuracy'])}" if s.best else "best -"
        self.progress.update(self.task, completed=e.done, front=f"front {s.front_size}  {best}")
        if not self.quiet:
            self.progress.console.print(self._line(e), markup=False, highlight=False)

    @staticmethod
    def _line(e: SearchEvent) -> str:
        what = "refined" if e.kind == "refine_finished" else "trial"
        tag = " (reused)" if e.reused else ""
        return f"{what} {e.number} {e.state}{tag} key {e.key}"


class _SigtermAsInterrupt:
    """SIGTERM stops the run like Ctrl-C (results written, resumable)."""

    def __enter__(self) -> None:
        def handler(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        self.previous = signal.signal(signal.SIGTERM, handler)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self.previous)


def show_cmd(
    run: RunArg,
    all_trials: Annotated[
        bool, typer.Option("--all", help="Every trial, not only the front.")
    ] = False,
    json_out: JsonOut = False,
) -> None:
    """The run's Pareto front (or every trial) as a table sorted by latency."""
    from autoedge.results import load_run

    view = load_run(run)
    rows = view.trials if all_trials else view.front
    if all_trials:
        rows = rows.sort_values(["latency_ms", "number"], na_position="last")
    if json_out:
        sys.stdout.write(json.dumps(_records(rows), sort_keys=True) + "\n")
        return
    what = "trials" if all_trials else "Pareto front"
    _front_table(rows, title=f"{what} of {run} ({len(rows)} rows)")


def pick_cmd(
    run: RunArg,
    max_latency_ms: MaxLatency = None,
    max_size_kb: MaxSize = None,
    max_memory_kb: MaxMemory = None,
    min_accuracy: MinAccuracy = None,
    json_out: JsonOut = False,
) -> None:
    """The most accurate front point under the bounds (ties go to the faster).

    Exits 1 when no front point qualifies.
    """
    from autoedge.results import load_run, pick_point
    from autoedge.search import Constraints

    bounds = Constraints(
        max_latency_ms=max_latency_ms,
        max_size_kb=max_size_kb,
        max_memory_kb=max_memory_kb,
        min_accuracy=min_accuracy,
    )
    view = load_run(run)
    row = pick_point(
        view.front,
        max_latency_ms=bounds.max_latency_ms,
        max_size_kb=bounds.max_size_kb,
        max_memory_kb=bounds.max_memory_kb,
        min_accuracy=bounds.min_accuracy,
    )
    if row is None:
        err.print(
            f"autoedge: no front point of {run} meets {bounds.describe()} "
            f"({len(view.front)} front points; see `autoedge show {run}`)",
            markup=False,
        )
        raise typer.Exit(1)
    data = _records(row.to_frame().T)[0]
    if json_out:
        sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
        return
    out.print(
        f"trial {data['number']} key {data['key']}: accuracy {_pct(data['accuracy'])}, latency "
        f"{data['latency_ms']:.3f} ms ({data['latency_source']}), ships as "
        f"{data.get('ships_as') or '-'}, size "
        f"{data['size_bytes'] / 1000:.1f} kB, peak memory {data['peak_memory_bytes'] / 1000:.1f}"
        f" kB\n  {data['arch']}"
    )


def _front_table(rows: pd.DataFrame, *, title: str) -> None:
    """Metrics as a table, then each row's block strings on a line of their own."""
    table = Table(title=title, title_justify="left")
    cols = (
        "#",
        "state",
        "accuracy",
        "latency ms",
        "source",
        "ships as",
        "size kB",
        "params",
        "MACs",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in ("state", "source", "ships as") else "right")
    table.add_column("key", no_wrap=True)
    records = _records(rows)
    for r in records:
        reused = r.get("reused_from")
        table.add_row(
            str(r["number"]),
            r["state"] + (f" =#{reused}" if reused is not None else ""),
            _pct(r["accuracy"]),
            _fmt(r["latency_ms"], "{:.3f}"),
            r["latency_source"] or "-",
            r.get("ships_as") or "-",
            _fmt(r["size_bytes"], "{:.1f}", scale=1e-3),
            _fmt(r["params"], "{:,.0f}"),
            _fmt(r["macs"], "{:,.0f}"),
            r["key"],
        )
    out.print(table)
    for r in records:
        detail = r["arch"] if r["state"] == "ok" else f"{r['error'] or r['state']}"
        out.print(f"  #{r['number']}: {detail}", markup=False)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts (NaN -> None, numpy scalars -> Python)."""
    from autoedge.results import jsonable

    return [jsonable(r) for r in frame.to_dict(orient="records")]


def _fmt(v: Any, spec: str, *, scale: float = 1.0) -> str:
    return "-" if v is None else spec.format(v * scale)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"
