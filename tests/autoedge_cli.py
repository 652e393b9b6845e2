"""Run the `autoedge` command as a user does: a real subprocess of this interpreter."""

from __future__ import annotations

import subprocess
import sys


def autoedge(
    *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m autoedge ARGS`, output captured as text, never raising on the exit code."""
    return subprocess.run(
        [sys.executable, "-m", "autoedge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
