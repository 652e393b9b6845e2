"""`autoedge search`, `show` and `pick`: parse the options, plan and run; run_render.py prints."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from autoedge.cli import run_render as render
from autoedge.cli.consoles import err, out

if TYPE_CHECKING:
    from autoedge.data import ImageDataset
    from autoedge.hardware.targets import Target
    from autoedge.search import RunConfig

# Each option is declared once and shared by the commands that take it.
MaxLatency = Annotated[
    float | None, typer.Option("--max-latency-ms", help="Latency bound on the target (ms).")
]
LatencyBound = Annotated[
    str | None,
    typer.Option(
        "--latency-bound",
        help="What --max-latency-ms binds: point (the latency; default) or high (the upper end "
        "of its 80% range: a prediction's interval, a measurement's p90).",
    ),
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

# The options of `search` alone.
Space = Annotated[
    str | None, typer.Option(help="Bundled space (see `autoedge spaces`) or a YAML path.")
]
Data = Annotated[
    str | None, typer.Option(help="fashion-mnist (default), mnist, digits, or a folder.")
]
ImageSize = Annotated[
    int | None,
    typer.Option(
        min=8,
        max=1024,
        help="Image folders: store images at NxN (default: the folder's native "
        "size, the median shorter side, at most 224).",
    ),
]
TargetName = Annotated[str | None, typer.Option(help="Latency target (default host).")]
Budget = Annotated[
    int | None, typer.Option(help="Trials to run, counting finished ones (default 200).")
]
Backend = Annotated[
    str | None, typer.Option(help="optuna (default), random, or ray (N trials at once).")
]
Sampler = Annotated[str | None, typer.Option(help="Optuna sampler: tpe (default) or nsga2.")]
Objectives = Annotated[
    str | None,
    typer.Option(help="Comma list from accuracy,latency,size,memory (default the first 3)."),
]
Epochs = Annotated[int | None, typer.Option(help="Training epochs per candidate.")]
Subset = Annotated[int | None, typer.Option(help="Training images per candidate (0 = all).")]
Rungs = Annotated[
    int | None,
    typer.Option(help="Fidelity rungs of the successive halving (default 3; 1: single fidelity)."),
]
Eta = Annotated[
    int | None, typer.Option(help="The top 1/ETA of a rung is promoted to the next (default 3).")
]
Teacher = Annotated[
    str | None, typer.Option(help="auto (cached per dataset), none, or a teacher file.")
]
Seed = Annotated[int | None, typer.Option(help="Seed of the sampler and training.")]
OutDir = Annotated[
    str | None,
    typer.Option("--out", help="Run folder (default results/runs/<time>-<target>)."),
]
Resume = Annotated[str | None, typer.Option(help="Continue this run folder (same settings).")]
Refine = Annotated[
    int | None, typer.Option(help="Retrain this many front points at full fidelity.")
]
TrialTimeout = Annotated[
    float | None,
    typer.Option(
        "--trial-timeout",
        help="Fail a candidate that runs longer than S seconds (0: no limit, the default).",
        metavar="S",
    ),
]
TrialMemory = Annotated[
    float | None,
    typer.Option(
        "--trial-memory-mb",
        help="Fail a candidate that needs more than M MB of extra memory (0: no limit).",
        metavar="M",
    ),
]
NoWarmStart = Annotated[
    bool, typer.Option("--no-warm-start", help="Do not seed with the hand baselines.")
]
Address = Annotated[
    str | None,
    typer.Option(help="ray: join this cluster (auto, ray://HOST:10001); default: local."),
]
Workers = Annotated[
    int | None,
    typer.Option(
        help="Trials at once: worker processes here (default: one per CPU core, at most "
        "8; 1 runs them in order, reproducibly), or on Ray (default 1)."
    ),
]
CpusPerTrial = Annotated[
    float | None, typer.Option(help="ray: CPUs per trial, also its torch threads (1).")
]
GpusPerTrial = Annotated[float | None, typer.Option(help="ray: GPUs per trial (0).")]
Device = Annotated[
    str | None,
    typer.Option(
        help="Where candidates and the teacher train: auto (default: a GPU when torch sees "
        "one), cpu, cuda (workers spread over every GPU) or cuda:N. Latency is always the "
        "target's."
    ),
]
ValidateOn = Annotated[
    str | None,
    typer.Option(
        help="agent:HOST:PORT: measure each new front point of a predicted target on that "
        "device and refit the target's model as the search goes.",
    ),
]


def search_cmd(
    space: Space = None,
    data: Data = None,
    image_size: ImageSize = None,
    target: TargetName = None,
    budget: Budget = None,
    backend: Backend = None,
    sampler: Sampler = None,
    objectives: Objectives = None,
    max_latency_ms: MaxLatency = None,
    latency_bound: LatencyBound = None,
    max_size_kb: MaxSize = None,
    max_memory_kb: MaxMemory = None,
    min_accuracy: MinAccuracy = None,
    epochs: Epochs = None,
    subset: Subset = None,
    rungs: Rungs = None,
    eta: Eta = None,
    teacher: Teacher = None,
    seed: Seed = None,
    out_dir: OutDir = None,
    resume: Resume = None,
    refine: Refine = None,
    trial_timeout: TrialTimeout = None,
    trial_memory_mb: TrialMemory = None,
    no_warm_start: NoWarmStart = False,
    address: Address = None,
    workers: Workers = None,
    cpus_per_trial: CpusPerTrial = None,
    gpus_per_trial: GpusPerTrial = None,
    validate_on: ValidateOn = None,
    device: Device = None,
    json_out: JsonOut = False,
) -> None:
    """Search the joint space for the accuracy / latency / size front on a target.

    Rerunning with the same --out (or --resume RUN) continues the run: finished trials are
    kept, an interrupted one runs again. Ctrl-C stops after writing the results (exit 130).
    """
    options = _run_options(locals())  # first: locals() holds just the options here
    _search(options, out_dir, resume, json_out)


def _search(
    options: dict[str, Any], out_dir: str | None, resume: str | None, json_out: bool
) -> None:
    """Plan the run the options ask for (every check before anything is written), run it with
    a progress bar, print its summary."""
    from autoedge.evaluate.session import EvaluationSession
    from autoedge.hardware.validation import ValidatedTarget
    from autoedge.search import plan_run, run_search

    run_target, run_data = _RunTarget(), _RunData()  # checked before anything is written
    plan = plan_run(
        options,
        out=out_dir,
        resume=resume,
        executable_bits=run_target.bits,
        data_size=run_data.size,
    )
    config, tgt = plan.config, run_target.target
    dataset = run_data.load(config)
    session = EvaluationSession(
        dataset,
        tgt,
        teacher=config.teacher,
        limits=config.limits,
        log=render.log,
        device=config.device,
    )
    devices = None if config.backend == "ray" else session.worker_devices(config.workers)
    render.describe_run(plan, dataset.describe(), tgt, devices)
    validator = tgt if isinstance(tgt, ValidatedTarget) else None
    with render.SigtermAsInterrupt(), render.SearchProgress(config.budget, json_out) as bar:
        summary = run_search(plan, session, on_event=bar.update, validator=validator)
    if validator is not None:
        summary = replace(summary, validation=validator.summary())
    render.finish(summary, json_out)


#: The run settings `search` takes, as RunConfig names them, in the order a resume checks them.
_SETTINGS = (
    "space",
    "data",
    "image_size",
    "target",
    "budget",
    "backend",
    "sampler",
    "objectives",
    "teacher",
    "seed",
    "refine",
    "warm_start",
    "trial_timeout_s",
    "trial_memory_mb",
    "address",
    "workers",
    "cpus_per_trial",
    "gpus_per_trial",
    "validate_on",
    "rungs",
    "eta",
    "device",
)
_BOUNDS = ("max_latency_ms", "latency_bound", "max_size_kb", "max_memory_kb", "min_accuracy")


def _run_options(flags: dict[str, Any]) -> dict[str, Any]:
    """The run settings the user gave (an option left out is None), named as RunConfig does."""
    f = dict(flags)
    f["objectives"] = f["objectives"].split(",") if f["objectives"] is not None else None
    f["warm_start"] = False if f["no_warm_start"] else None
    f["trial_timeout_s"] = f["trial_timeout"]
    options: dict[str, Any] = {k: f[k] for k in _SETTINGS if f[k] is not None}
    for name, keys in (("constraints", _BOUNDS), ("fidelity", ("epochs", "subset"))):
        if part := {k: f[k] for k in keys if f[k] is not None}:
            options[name] = part
    return options


class _RunData:
    """The run's dataset, loaded once (with a progress bar while a folder is decoded)."""

    dataset: ImageDataset | None = None

    def load(self, config: RunConfig) -> ImageDataset:
        if self.dataset is None:
            from autoedge.data import get_dataset

            with render.DecodeProgress() as bar:
                self.dataset = get_dataset(
                    config.data, image_size=config.image_size, progress=bar.update
                )
        return self.dataset

    def size(self, config: RunConfig) -> int:
        """The image size a new run's relative resolution follows."""
        return self.load(config).image_size[0]


class _RunTarget:
    """The run's target, resolved when plan_run asks for the bit-widths it executes."""

    target: Target

    def bits(self, config: RunConfig) -> set[int]:
        from autoedge.hardware.onnx_graph import precision_bits
        from autoedge.hardware.targets import get_target

        self.target = get_target(config.target)
        if config.validate_on is not None:
            self.target = _validated(self.target, config.validate_on, config.out)
        return precision_bits(self.target.precisions)


def _validated(target: Target, spec: str, run: str) -> Target:
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


def show_cmd(
    run: RunArg,
    all_trials: Annotated[
        bool, typer.Option("--all", help="Every trial, not only the front.")
    ] = False,
    json_out: JsonOut = False,
) -> None:
    """The run's Pareto front (or every trial) as a table sorted by latency."""
    from autoedge.results import load_run
    from autoedge.results.overlap import indistinguishable

    view = load_run(run)
    rows = view.trials if all_trials else view.front
    twins = None
    if all_trials:
        rows = rows.sort_values(["latency_ms", "number"], na_position="last")
    else:
        objectives = tuple(view.config["config"].get("objectives") or ("accuracy", "latency"))
        twins = indistinguishable(rows, objectives)
    if json_out:
        data = render.json_rows(rows)
        if twins is not None:
            for row in data:
                row["indistinguishable_from"] = twins.get(row["number"], [])
        sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
        return
    what = "trials" if all_trials else "Pareto front"
    render.front_table(rows, title=f"{what} of {run} ({len(rows)} rows)", twins=twins)


def pick_cmd(
    run: RunArg,
    max_latency_ms: MaxLatency = None,
    latency_bound: LatencyBound = None,
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
        latency_bound=latency_bound or "point",
    )
    view = load_run(run)
    row = pick_point(view.front, **bounds.limits(), latency_bound=bounds.latency_bound)
    if row is None:
        err.print(
            f"autoedge: no front point of {run} meets {bounds.describe()} "
            f"({len(view.front)} front points; see `autoedge show {run}`)",
            markup=False,
        )
        raise typer.Exit(1)
    data = render.json_rows(row.to_frame().T)[0]
    if json_out:
        sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
        return
    out.print(
        f"trial {data['number']} key {data['key']}: accuracy {render.pct(data['accuracy'])}, "
        f"latency {render.latency_text(data)}, ships as "
        f"{data.get('ships_as') or '-'}, size "
        f"{data['size_bytes'] / 1000:.1f} kB, peak memory {data['peak_memory_bytes'] / 1000:.1f}"
        f" kB\n  {data['arch']}"
    )
