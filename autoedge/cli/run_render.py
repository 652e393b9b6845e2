"""What `search`, `show` and `pick` print: the run's setup, progress, summary and tables."""

from __future__ import annotations

import json
import signal
import sys
from typing import TYPE_CHECKING, Any

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
from autoedge.space.resolution import drawn_resolutions

if TYPE_CHECKING:
    import pandas as pd

    from autoedge.hardware.targets import Target
    from autoedge.search import RunPlan, SearchEvent, SearchSummary


def log(message: str) -> None:
    """A progress line on stderr, printed as it is."""
    err.print(message, markup=False)


def describe_run(
    plan: RunPlan, data: str, target: Target, devices: list[str] | None = None
) -> None:
    """The log lines that open a run: what it searches, how, and what it leaves out.
    `devices`: where each local worker trains (None for Ray: the GPUs it assigns)."""
    from autoedge.hardware.validation import ValidatedTarget
    from autoedge.search.pool import threads_per_worker

    config = plan.config
    log(f"{'continuing' if plan.resumed else 'starting'} run {config.out}")
    log(f"data: {data}")
    values = drawn_resolutions(plan.space)
    log(f"resolutions drawn for this data: {', '.join(f'{v}x{v}' for v in values)}")
    log(
        f"space {config.space}, target {config.target}, backend {config.backend}"
        f"{' (' + config.sampler + ')' if config.backend == 'optuna' else ''}, budget "
        f"{config.budget}, objectives {','.join(config.objectives)}, constraints "
        f"{config.constraints.describe()}, fidelity {config.fidelity.describe()}"
    )
    if config.rungs > 1:
        log(f"multi-fidelity: {config.schedule.describe(config.fidelity)}")
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
    where = ", ".join(dict.fromkeys(devices)) if devices else "as Ray assigns (--gpus-per-trial)"
    log(
        f"training on {where} (--device {config.device}); latency from target "
        f"{config.target}, never from the training device"
    )
    if plan.dropped_bits:
        log(
            f"target {target.name} executes {', '.join(target.precisions)}: bit-widths "
            f"{', '.join(map(str, plan.dropped_bits))} are not searched (no kernels run them there)"
        )
    if config.trial_timeout_s or config.trial_memory_mb:
        log(
            f"limits per candidate: {config.trial_timeout_s or 'no'} s (--trial-timeout), "
            f"{config.trial_memory_mb or 'no'} MB extra memory (--trial-memory-mb)"
        )
    if isinstance(target, ValidatedTarget):
        log(
            f"validating on {target.device.name}: each new front point is measured there "
            f"and the {target.name} model refitted ({len(target.checks)} checks so far)"
        )


def finish(summary: SearchSummary, json_out: bool) -> None:
    from autoedge.results import jsonable, load_run

    if json_out:
        sys.stdout.write(json.dumps(jsonable(summary.to_json()), sort_keys=True) + "\n")
    elif summary.ok:  # with no ok trial there is no front: only the error below
        view = load_run(summary.run)
        front_table(view.front, title=f"Pareto front of {summary.run}")
        out.print(
            f"{summary.done} of {summary.budget} trials ({summary.ok} ok, {summary.failed} "
            f"failed, {summary.reused} reused), front {summary.front_size} points; hypervolume "
            f"{summary.hypervolume:.4f} (ref latency {summary.hypervolume_ref_ms:.3f} ms)"
        )
        if not summary.front_constrained:
            out.print("[yellow]no trial meets the constraints; the front ignores them[/yellow]")
        _print_errors(summary)
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
                f"refined trial {r['number']}: accuracy {pct(r['accuracy'])} (search) -> "
                f"{pct(r['accuracy_full'])} (full fidelity)"
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
        _print_errors(summary)
        err.print(
            f"autoedge: error: every trial failed ({summary.failed}), no front to show; most "
            f"often: {summary.top_failure or 'no reason recorded'} (all reasons: the error "
            f"column of {summary.run}/trials.csv)",
            markup=False,
        )
        raise typer.Exit(1)


def _print_errors(summary: Any) -> None:
    if summary.errors:
        err.print(
            f"autoedge: {summary.errors} trial(s) hit a bug in autoedge itself, not a bad "
            f"candidate: tracebacks in {summary.run}/errors/ (please report them)",
            markup=False,
        )


class SearchProgress:
    """A rich progress bar (trials done/budget, elapsed, ETA, front size, best accuracy)."""

    def __init__(self, budget: int, quiet: bool) -> None:
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

    def __enter__(self) -> SearchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, e: SearchEvent) -> None:
        if e.kind == "trial_started" and not self._started:
            self._started = True
            self.progress.reset(self.task, total=e.budget, completed=e.done)
        if e.kind in ("validated", "promoted", "remeasured"):
            line = f"trial {e.number} {e.state}" if e.kind == "promoted" else e.state
            if not self.quiet:
                self.progress.console.print(line, markup=False, highlight=False)
            return
        if e.kind == "refine_started":
            self.progress.update(self.task, description="refine", total=e.budget, completed=e.done)
        if e.kind not in ("trial_finished", "refine_finished") or e.summary is None:
            return
        s = e.summary
        best = f"best {pct(s.best['accuracy'])}" if s.best else "best -"
        self.progress.update(self.task, completed=e.done, front=f"front {s.front_size}  {best}")
        if not self.quiet:
            self.progress.console.print(self._line(e), markup=False, highlight=False)

    @staticmethod
    def _line(e: SearchEvent) -> str:
        what = "refined" if e.kind == "refine_finished" else "trial"
        tag = " (reused)" if e.reused else ""
        return f"{what} {e.number} {e.state}{tag} key {e.key}"


class SigtermAsInterrupt:
    """SIGTERM stops the run like Ctrl-C (results written, resumable)."""

    def __enter__(self) -> None:
        def handler(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        self.previous = signal.signal(signal.SIGTERM, handler)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self.previous)


def front_table(
    rows: pd.DataFrame, *, title: str, twins: dict[int, list[int]] | None = None
) -> None:
    """Metrics as a table, then each row's block strings on a line of their own. `twins`
    (front points only) fills the column "≈": the points a row cannot be told apart from."""
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
    if twins is not None:
        table.add_column("≈", justify="left")
    table.add_column("key", no_wrap=True)
    rows_json = json_rows(rows)
    for r in rows_json:
        reused = r.get("reused_from")
        table.add_row(
            str(r["number"]),
            r["state"] + (f" =#{reused}" if reused is not None else ""),
            pct(r["accuracy"]),
            latency_cell(r),
            r["latency_source"] or "-",
            r.get("ships_as") or "-",
            fmt(r["size_bytes"], "{:.1f}", scale=1e-3),
            fmt(r["params"], "{:,.0f}"),
            fmt(r["macs"], "{:,.0f}"),
            *([",".join(f"#{n}" for n in twins.get(r["number"], []))] if twins is not None else []),
            r["key"],
        )
    out.print(table)
    if twins:
        out.print(
            "≈: intervals overlap on every objective (accuracy 95%, latency p10-p90): "
            "the measurements cannot tell these points apart",
            markup=False,
        )
    for r in rows_json:
        detail = r["arch"] if r["state"] == "ok" else f"{r['error'] or r['state']}"
        out.print(f"  #{r['number']}: {detail}", markup=False)


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts (NaN -> None, numpy scalars -> Python)."""
    from autoedge.results import jsonable

    return [jsonable(r) for r in frame.to_dict(orient="records")]


def fmt(v: Any, spec: str, *, scale: float = 1.0) -> str:
    return "-" if v is None else spec.format(v * scale)


def _predicted_range(r: dict[str, Any]) -> str | None:
    """ "1.600-2.900" for a predicted latency with its 80% interval, else None."""
    low, high = r.get("latency_low_ms"), r.get("latency_high_ms")
    if r.get("latency_source") != "predicted" or low is None or high is None:
        return None
    return f"{low:.3f}-{high:.3f}"


def latency_cell(r: dict[str, Any]) -> str:
    """The latency, with its 80% interval when it is a prediction: "2.100 (1.600-2.900)"."""
    point, rng = fmt(r.get("latency_ms"), "{:.3f}"), _predicted_range(r)
    return f"{point} ({rng})" if rng else point


def latency_text(r: dict[str, Any]) -> str:
    """ "2.100 ms (predicted, 1.600-2.900)" or "0.300 ms (measured)"."""
    point, rng = fmt(r.get("latency_ms"), "{:.3f}"), _predicted_range(r)
    source = r.get("latency_source") or "?"
    return f"{point} ms ({source}, {rng})" if rng else f"{point} ms ({source})"


def pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


class DecodeProgress:
    """A progress bar on stderr while an image folder is decoded into the cache (only then)."""

    def __enter__(self) -> DecodeProgress:
        self._bar: Progress | None = None
        return self

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = Progress(
                TextColumn("decoding images"),
                BarColumn(),
                MofNCompleteColumn(),
                console=err,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("decode", total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
