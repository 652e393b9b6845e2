"""The test session's own cache, and the `report` fixture.

Every test session gets its own AUTOEDGE_CACHE (a temporary folder, removed at the end, shared
by the session's tests so a teacher trained once is reused as in real runs): tests never read
or write the user's ~/.cache/autoedge, so a host profile calibrated there cannot change their
outcome and their host latency records do not land there. Subprocesses inherit it, and
AUTOEDGE_STRICT=1: an exception of autoedge's own code raises instead of being recorded as a
trial in state `error`.

`report`: tests that try to break autoedge record what they tried and what held. With
AUTOEDGE_RELIABILITY_REPORT=PATH set (scripts/reliability_report.py sets it), the session
writes those cases, and every test's outcome, to PATH as markdown; otherwise nothing is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPORT_ENV = "AUTOEDGE_RELIABILITY_REPORT"
Record = Callable[[str, str, str], None]

_cases: dict[str, list[tuple[str, str, str]]] = {}
_outcomes: dict[str, tuple[str, str, float]] = {}


CACHE_ENV = "AUTOEDGE_CACHE"
_session_cache = Path(tempfile.mkdtemp(prefix="autoedge-test-cache-"))
os.environ[CACHE_ENV] = str(_session_cache)  # before any test module imports autoedge
os.environ["AUTOEDGE_STRICT"] = "1"  # a bug in autoedge raises instead of failing a candidate


@pytest.fixture(scope="session")
def session_cache() -> Path:
    """The AUTOEDGE_CACHE of this test session."""
    return _session_cache


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[Record]:
    """Call report(area, what_was_tried, what_held) once per case the test checked."""
    rows = _cases.setdefault(request.node.nodeid, [])
    yield lambda area, case, held: rows.append((area, case, held))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    rep = yield
    if rep.when == "call" or (rep.when == "setup" and not rep.passed):
        doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip().splitlines()
        _outcomes[item.nodeid] = (rep.outcome, doc[0] if doc else "", rep.duration)
    return rep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_session_cache, ignore_errors=True)
    path = os.environ.get(REPORT_ENV)
    if path and _outcomes:
        Path(path).write_text(_markdown(), encoding="utf-8")


def _markdown() -> str:
    lines = [
        "| area | what was tried | what held | test |",
        "|---|---|---|---|",
    ]
    for nodeid, rows in _cases.items():
        outcome = _outcomes.get(nodeid, ("not run", "", 0.0))[0]
        for area, case, held in rows:
            shown = held if outcome == "passed" else f"**{outcome.upper()}** ({held})"
            lines.append(f"| {area} | {_cell(case)} | {_cell(shown)} | `{_short(nodeid)}` |")
    lines += ["", "Every test in the run:", "", "| test | outcome | seconds |", "|---|---|---|"]
    for nodeid, (outcome, doc, seconds) in _outcomes.items():
        about = f" - {doc}" if doc else ""
        lines.append(f"| `{_short(nodeid)}`{_cell(about)} | {outcome} | {seconds:.1f} |")
    return "\n".join(lines) + "\n"


def _short(nodeid: str) -> str:
    return nodeid.removeprefix("tests/")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
