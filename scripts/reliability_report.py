"""Run the tests that try to break autoedge and write results/reliability.md from what they saw.

    .venv/bin/python scripts/reliability_report.py

The table is made by the tests themselves (tests/conftest.py's `report` fixture): each row is
a case a test ran and the outcome it asserted. Exit status: pytest's.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/reliability",
    "tests/hardware/test_agent.py",
    "tests/compress/test_teacher_net.py",
    "tests/evaluate/test_teacher.py",
    "tests/deploy/test_export_cli.py::test_a_killed_export_leaves_nothing_in_the_destination",
    "tests/cli/test_search_cli.py::test_ctrl_c_stops_cleanly_and_resume_finishes",
    "tests/cli/test_search_cli.py::test_a_locked_run_is_refused",
    "tests/search/test_ray_backend.py::test_a_killed_worker_is_retried_or_recorded_and_the_run_finishes",
]
OUT = ROOT / "results" / "reliability.md"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "table.md"
        env = {**os.environ, "AUTOEDGE_RELIABILITY_REPORT": str(table)}
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]
        done = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
        if not table.is_file():
            print("reliability_report: the tests wrote no table", file=sys.stderr)
            return done.returncode or 1
        body = table.read_text()
    head = [
        "# Reliability: what was tried to break autoedge, and what held",
        "",
        "Made by `.venv/bin/python scripts/reliability_report.py` (it runs the tests below; "
        "each row is a case a test ran and the outcome it asserted).",
        "",
        f"- run at {datetime.now(UTC).isoformat(timespec='seconds')} on {platform.platform()}, "
        f"{os.cpu_count()} CPUs; pytest exit status {done.returncode} "
        f"({'all passed' if done.returncode == 0 else 'SOME FAILED'})",
        "",
    ]
    OUT.write_text("\n".join(head) + "\n" + body)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
