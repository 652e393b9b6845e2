"""Run the `autoedge` command as a user does: a real subprocess of this interpreter."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd


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


def interruptible() -> None:
    """Child set-up (a `preexec_fn`): Ctrl-C (SIGINT) back to its default disposition.

    A shell starts background jobs with SIGINT ignored, and children inherit that: a test
    suite run as `... &` would otherwise send SIGINT to processes that cannot hear it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str) -> subprocess.Popen[str]:
    """`python -m autoedge ARGS` started in the background, stdout/stderr piped as text;
    it answers SIGINT as under a terminal, however the test suite was started."""
    return subprocess.Popen(
        [sys.executable, "-m", "autoedge", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )


def finished_rows(run: Path) -> int:
    """Trials of a run folder's trials.csv with a result (ok or failed); 0 before it exists."""
    try:
        rows = pd.read_csv(run / "trials.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0
    return int(rows["state"].isin(["ok", "failed"]).sum())


def wait_for_rows(proc: subprocess.Popen[str], run: Path, n: int, timeout: float = 300) -> None:
    """Wait until `run` has `n` finished trials; fail if `proc` exits or time runs out first."""
    deadline = time.monotonic() + timeout
    while finished_rows(run) < n:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the run did not reach the expected trial in time"
        time.sleep(0.05)


def serve_agent(token_file: Path, log: Path, *options: str) -> tuple[subprocess.Popen, int]:
    """`autoedge agent serve --port 0` in the background, stderr to `log`; (process, port)
    once it says where it listens."""
    cmd = [sys.executable, "-m", "autoedge", "agent", "serve", "--port", "0"]
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*cmd, "--token-file", str(token_file), *options],
            stderr=err,
            preexec_fn=interruptible,
        )
    deadline, port = time.monotonic() + 60, None
    while port is None and time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text())
        port = int(found.group(1)) if found else time.sleep(0.1)
    if port is None:
        proc.kill()
        raise AssertionError(f"the agent did not start: {log.read_text()}")
    return proc, port
