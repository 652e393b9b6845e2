"""`python -m autoedge` runs the CLI."""

from __future__ import annotations

from autoedge.cli.app import run

run()
