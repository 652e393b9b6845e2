"""The `autoedge` command: parse -> call the domain code -> render. Errors exit 2 in one line."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from autoedge import __version__
from autoedge.errors import AutoEdgeError

if TYPE_CHECKING:
    from autoedge.evaluate.inspection import InspectReport

app = typer.Typer(
    name="autoedge",
    help="Search architecture, pruning, bit-widths, low-rank and distillation jointly for edge "
    "devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


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
    num_classes: Annotated[int, typer.Option(min=2, max=100_000, help="Classes.")] = 10,
    round_to: Annotated[
        int, typer.Option(min=1, max=256, help="Pruned channel counts round to this multiple.")
    ] = 8,
) -> None:
    """Sample candidates; show their networks before and after compression; check ONNX.

    Exits 1 if any candidate's ONNX export does not match PyTorch.
    """
    from autoedge.evaluate.inspection import inspect_candidate
    from autoedge.space import get_space, sample_candidates

    space_obj = get_space(space)
    failed = 0
    for i, cand in enumerate(sample_candidates(space_obj, sample, seed)):
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


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"autoedge {__version__}")
        raise typer.Exit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; our errors and usage errors become one line and exit 2."""
    try:
        result = app(args=argv, prog_name="autoedge", standalone_mode=False)
    except AutoEdgeError as e:
        err.print(f"autoedge: error: {e}", markup=False)
        return 2
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
