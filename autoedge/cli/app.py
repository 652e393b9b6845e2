"""The `autoedge` command: parse -> call the domain code -> render. Errors exit 2 in one line."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from autoedge import __version__
from autoedge.cli import run_render as render
from autoedge.cli.agent_commands import agent_app
from autoedge.cli.consoles import err, out
from autoedge.cli.deploy_commands import export_cmd, verify_cmd
from autoedge.cli.run_commands import Device, pick_cmd, search_cmd, show_cmd
from autoedge.cli.target_commands import calibrate_cmd, latency_cmd, targets_cmd
from autoedge.errors import AutoEdgeError

if TYPE_CHECKING:
    from autoedge.evaluate.inspection import InspectReport
    from autoedge.evaluate.result import EvalResult
    from autoedge.space import Candidate, SearchSpace

app = typer.Typer(
    name="autoedge",
    help="Search architecture, pruning, bit-widths, low-rank and distillation jointly for edge "
    "devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("spaces")
def spaces_cmd() -> None:
    """List the bundled search spaces."""
    from autoedge.space import get_space, list_spaces

    for name in list_spaces():
        space = get_space(name)
        out.print(f"{name:14s} {len(space.stages)} stages  {space.description}")


@app.command("inspect")
def inspect_cmd(
    space: Annotated[
        str, typer.Option(help="Bundled space name (see `autoedge spaces`) or a YAML path.")
    ] = "mobilenetv3",
    sample: Annotated[int, typer.Option(min=1, max=10_000, help="Candidates to draw.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the random draw.")] = 0,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per candidate per line.")
    ] = False,
    in_chans: Annotated[int, typer.Option(min=1, max=64, help="Input channels.")] = 1,
    image_size: Annotated[
        int | None,
        typer.Option(
            min=8,
            max=1024,
            help="The data's image size (a relative resolution "
            "follows it; default: small images, as the 28x28 built-ins).",
        ),
    ] = None,
    num_classes: Annotated[int, typer.Option(min=2, max=100_000, help="Classes.")] = 10,
    round_to: Annotated[
        int, typer.Option(min=1, max=256, help="Pruned channel counts round to this multiple.")
    ] = 8,
) -> None:
    """Sample candidates; show their networks before and after compression; check ONNX.

    Exits 1 if any candidate's ONNX export does not match PyTorch.
    """
    from autoedge.space import get_space, sample_candidates
    from autoedge.space.resolution import drawn_resolutions

    space_obj = get_space(space, image_size=image_size)
    values = drawn_resolutions(space_obj)
    err.print(f"resolutions drawn for {image_size or 'small'} px images: {list(values)}")
    candidates = sample_candidates(space_obj, sample, seed)
    from autoedge.evaluate.inspection import inspect_candidate  # torch: after the checks

    failed = 0
    for i, cand in enumerate(candidates):
        if not json_out:
            err.print(f"[dim]inspecting {i + 1}/{sample} …[/dim]")
        report = inspect_candidate(
            cand, in_chans=in_chans, num_classes=num_classes, round_to=round_to
        )
        failed += not report.onnx_ok
        if json_out:
            sys.stdout.write(json.dumps(report.to_json(), sort_keys=True) + "\n")
            sys.stdout.flush()
        else:
            _render_report(i, report)
    if failed:
        err.print(f"{failed} of {sample} candidates failed the ONNX check")
        raise typer.Exit(1)


def _render_report(i: int, r: InspectReport) -> None:
    out.print(f"[bold]#{i} key {r.key}[/bold]  network {r.network_key}")
    for s, strings in enumerate(r.arch):
        out.print(f"  s{s}: {' '.join(strings)}")
    out.print(
        f"  params {r.params:,} -> pruned {r.params_pruned:,} -> compressed "
        f"{r.params_compressed:,}   MACs {r.macs:,} -> {r.macs_pruned:,} -> {r.macs_compressed:,}"
    )
    out.print(
        f"  weights {r.weight_bytes:,} B at chosen bits (fp32 {r.weight_bytes_fp32:,} B)   "
        f"factorized layers {r.factorized_layers}   ONNX "
        + ("[green]ok[/green]" if r.onnx_ok else f"[red]FAILED[/red] {r.onnx_error}")
    )


@app.command("evaluate")
def evaluate_cmd(
    candidate: Annotated[
        str,
        typer.Option(
            help="Candidate JSON, or a file holding it (a line of `autoedge inspect --json` "
            "works too)."
        ),
    ],
    space: Annotated[
        str, typer.Option(help="Bundled space name (see `autoedge spaces`) or a YAML path.")
    ] = "mobilenetv3",
    data: Annotated[
        str, typer.Option(help="fashion-mnist, mnist, digits, or an image folder path.")
    ] = "fashion-mnist",
    target: Annotated[str, typer.Option(help="Where latency comes from.")] = "host",
    epochs: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Training epochs (fidelity).")
    ] = None,
    subset: Annotated[
        int | None,
        typer.Option(min=0, help="Training images per epoch (0 = all) (fidelity)."),
    ] = None,
    teacher: Annotated[
        str, typer.Option(help="auto (cached per dataset), none, or a .onnx/.safetensors file.")
    ] = "auto",
    keep: Annotated[
        str | None, typer.Option(help="Keep the exported ONNX files in this folder.")
    ] = None,
    device: Device = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train, compress, export and measure one candidate; print its EvalResult.

    Exits 1 when the candidate fails (the reason is printed), 2 on bad input.
    """
    from autoedge.data import get_dataset
    from autoedge.evaluate.fidelity import DEFAULT_FIDELITY
    from autoedge.evaluate.teacher import check_teacher_spec
    from autoedge.hardware.targets import get_target
    from autoedge.space import check_candidate, get_space

    dataset = get_dataset(data)  # the space's relative resolution follows its size
    space_obj = get_space(space, image_size=dataset.image_size[0])
    cand = _read_candidate(candidate, space_obj)
    check_candidate(cand, space_obj)
    tgt = get_target(target)
    check_teacher_spec(teacher)
    fidelity = DEFAULT_FIDELITY.with_budget(epochs=epochs, subset=subset)
    from autoedge.evaluate import evaluate, prepare_teacher  # torch: after the checks
    from autoedge.evaluate.devices import require_device

    require_device(device)  # a GPU that is not here: exit 2 before any training

    err.print(f"data: {dataset.describe()}", markup=False)
    teach = None
    if cand.kd_alpha > 0:
        teach = prepare_teacher(
            teacher, dataset, log=lambda m: err.print(m, markup=False), device=device
        )
        if teach is not None:
            err.print(f"teacher: {teach.description}", markup=False)
    result = evaluate(
        cand,
        dataset,
        target=tgt,
        fidelity=fidelity,
        teacher=teach,
        workdir=keep,
        device=device,
    )
    if json_out:
        sys.stdout.write(json.dumps(result.to_json(), sort_keys=True) + "\n")
    else:
        _render_result(result)
    if not result.ok:
        raise typer.Exit(1)


def _read_candidate(text: str, space: SearchSpace) -> Candidate:
    from autoedge.errors import CandidateError
    from autoedge.space import Candidate

    stripped = text.strip()
    if not stripped.startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise CandidateError(
                f"--candidate {text!r} is neither JSON nor a readable file; paste the JSON "
                "of `autoedge inspect --json` or give a file holding it"
            )
        try:
            stripped = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise CandidateError(f"cannot read candidate file {path}: {e}") from e
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as e:
        raise CandidateError(f"candidate JSON is not valid JSON: {e}") from e
    if isinstance(data, dict) and "candidate" in data and "stages" not in data:
        data = data["candidate"]  # a whole `inspect --json` line
    cand = Candidate.from_json(data)
    if cand.space and cand.space != space.name:
        raise CandidateError(
            f"candidate was drawn from space {cand.space!r} but --space is {space.name!r}"
        )
    return cand


def _render_result(r: EvalResult) -> None:
    if not r.ok:
        out.print(f"[bold]{r.key}[/bold] [red]failed[/red]: {r.error}")
        return
    assert r.accuracy is not None and r.accuracy_torch is not None
    gap = "  [yellow](ONNX/PyTorch gap > 1 point)[/yellow]" if r.accuracy_gap else ""
    out.print(
        f"[bold]{r.key}[/bold] ok   accuracy {100 * r.accuracy:.2f}% (ONNX Runtime, "
        f"{r.test_images} test images; PyTorch {100 * r.accuracy_torch:.2f}%){gap}"
    )
    lat = render.latency_text(asdict(r))
    if r.latency_source == "measured":
        lat += f", p90 {r.latency_p90_ms:.3f} ms"
    out.print(
        f"  latency {lat} on {r.target}   ships as {r.ships_as} ({r.precision_map}): weights "
        f"{r.size_bytes:,} B, file {r.onnx_bytes:,} B",
        markup=False,
        highlight=False,
    )
    out.print(
        f"  params {r.params:,}   MACs {r.macs:,}   peak activations {r.peak_memory_bytes:,} B"
    )
    phases = "  ".join(f"{k} {v:.1f}s" for k, v in r.phase_s.items())
    out.print(f"  wall {r.wall_s:.1f}s: {phases}")


app.command("search")(search_cmd)
app.command("show")(show_cmd)
app.command("pick")(pick_cmd)
app.command("targets")(targets_cmd)
app.command("latency")(latency_cmd)
app.command("calibrate")(calibrate_cmd)
app.command("export")(export_cmd)
app.command("verify")(verify_cmd)
app.add_typer(agent_app, name="agent")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"autoedge {__version__}")
        raise typer.Exit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; our errors and usage errors become one line and exit 2 (1 for
    a failed verification)."""
    try:
        result = app(args=argv, prog_name="autoedge", standalone_mode=False)
    except AutoEdgeError as e:
        err.print(f"autoedge: error: {e}", markup=False)
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("autoedge: interrupted", markup=False)
        return 130
    except typer.TyperException as e:  # click's usage errors, re-exported by typer
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        if not message:  # bare `autoedge`: the help was printed, nothing went wrong
            return 0
        ctx = getattr(e, "ctx", None)
        where = f"{ctx.command_path} --help" if ctx is not None else "autoedge --help"
        err.print(f"autoedge: error: {message} (see '{where}')", markup=False)
        return int(getattr(e, "exit_code", 2))
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point: exit with `main()`'s code."""
    sys.exit(main())
