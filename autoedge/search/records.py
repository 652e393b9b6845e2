"""TrialRecord: one trial of a run as the loop, the tables and the report see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoedge.evaluate.result import EvalResult

OK = "ok"
FAILED = "failed"
ERROR = "error"  # autoedge's own code raised (a bug); its traceback is in RUN/errors/
INTERRUPTED = "interrupted"
RUNNING = "running"
#: States of a trial that has its result; the budget counts these.
COUNTED = (OK, FAILED, ERROR)


@dataclass(frozen=True)
class TrialRecord:
    """A trial: its candidate, when it ran, and its result (None until it has one).

    `reused_from` names the trial whose result a duplicate candidate copied; `baseline` is
    the hand-baseline name of a warm-start trial; `feasible` says it meets the constraints.
    `rungs`: a multi-fidelity trial's result at each rung reached so far, with its promotion
    decision (search/rungs.py); empty in a single-fidelity run.
    """

    number: int
    state: str
    key: str
    candidate: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    result: EvalResult | None = None
    reused_from: int | None = None
    baseline: str | None = None
    feasible: bool = False
    rungs: tuple[dict[str, Any], ...] = ()

    @property
    def counted(self) -> bool:
        return self.state in COUNTED
