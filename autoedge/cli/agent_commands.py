"""`autoedge agent serve`: run the device agent that measures latency for a remote search."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer

from autoedge.cli.consoles import err

agent_app = typer.Typer(
    name="agent",
    help="The device agent: time ONNX models on this machine for a search run elsewhere.",
    no_args_is_help=True,
)


@agent_app.command("serve")
def serve_cmd(
    token_file: Annotated[
        str,
        typer.Option(
            "--token-file",
            help="File holding the shared secret; clients send it as `Authorization: Bearer`.",
        ),
    ],
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: every interface, plain HTTP).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8765,
    providers: Annotated[
        str,
        typer.Option(help="ONNX Runtime execution providers, comma-separated, preferred first."),
    ] = "CPUExecutionProvider",
    threads: Annotated[
        int, typer.Option(min=1, max=1024, help="Intra-op threads, pinned per measurement.")
    ] = 1,
    max_mb: Annotated[
        float, typer.Option("--max-mb", min=0.001, help="Largest model accepted (MB).")
    ] = 64.0,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", min=0.01, help="Longest one measurement may take.")
    ] = 120.0,
    read_timeout_s: Annotated[
        float,
        typer.Option("--read-timeout-s", min=0.01, help="Longest a client may take to upload."),
    ] = 30.0,
) -> None:
    """Serve latency measurements over HTTP until Ctrl-C.

    POST /v1/measure?runs=N&warmup=W takes a model's ONNX bytes; GET /v1/info says what runs
    here. A search uses it as `--target agent:HOST:PORT` with AUTOEDGE_AGENT_TOKEN set.
    """
    from autoedge.hardware.agent_client import read_token_file
    from autoedge.hardware.agent_server import AgentConfig, serve

    config = AgentConfig(
        token=read_token_file(token_file),
        host=host,
        port=port,
        providers=tuple(p.strip() for p in providers.split(",") if p.strip()),
        threads=threads,
        max_mb=max_mb,
        timeout_s=timeout_s,
        read_timeout_s=read_timeout_s,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops as cleanly as Ctrl-C
    serve(config, log=lambda line: err.print(line, markup=False))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
