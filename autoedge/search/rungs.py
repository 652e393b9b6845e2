"""The search loop's multi-fidelity bookkeeping: jobs by rung, promotions, saved states.

A trial is one candidate. With R rungs its work comes as jobs (trial, rung): rung 0 is asked
from the sampler; each later rung is a promotion (asha.py decides) and runs from the state
the rung below saved in RUN/states/. Every rung's result is recorded in the trial (user
attribute ``rungs``: rung, seq, result, promoted, rank, of) as it arrives; the trial is told
the study, once, when its last rung is done: its highest rung's result is what the sampler
learns. A state is deleted once its trial can no longer use it (the next rung finished, or
not promoted). A stop or a SIGKILL leaves a promoted trial running in the study with its state
on disk; the next session carries it on from there.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from autoedge.evaluate.fidelity import Fidelity
from autoedge.evaluate.result import EvalResult
from autoedge.search.asha import Decision, RungResult, RungSchedule, decide
from autoedge.search.config import RunConfig
from autoedge.search.objectives import minimised_values
from autoedge.search.records import RUNNING, TrialRecord
from autoedge.space.candidate import Candidate

#: Under the run folder: the saved training states of promoted candidates.
STATES_DIR = "states"
#: Under the run folder: the deployed models of the front, re-measured when the run ends.
MODELS_DIR = "models"
_STATE_FILE = re.compile(r"trial-(\d+)-rung-(\d+)\.pt")


@dataclass(frozen=True)
class Job:
    """One evaluation the loop hands out: trial `number`'s candidate at `rung`."""

    number: int
    candidate: Candidate
    rung: int = 0


@dataclass(frozen=True)
class JobCall:
    """What a worker needs to run a job: the fidelity and the states to read and write."""

    fidelity: Fidelity
    state_in: Path | None = None
    state_out: Path | None = None
    model_out: Path | None = None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the evaluator (only those set)."""
        named = {
            "state_in": self.state_in,
            "state_out": self.state_out,
            "model_out": self.model_out,
        }
        return {k: v for k, v in named.items() if v is not None}


class RungBook:
    """Pending promotions, the states folder and the promotion decisions of one run."""

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        self.config = config
        self.schedule: RungSchedule = config.schedule
        self.states = Path(run_dir) / STATES_DIR
        self.pending: deque[Job] = deque()
        self.seq = 0
        #: each recorded rung result as the ranking sees it, by (trial, rung, seq): a recorded
        #: result never changes, so it is parsed once, not at every decision of its rung
        self._ranked: dict[tuple[int, int, Any], RungResult] = {}
        self.models = Path(run_dir) / MODELS_DIR
        self.keep_models = False  # set by the loop when its evaluator can re-measure

    @property
    def multi(self) -> bool:
        return self.schedule.rungs > 1

    def state_path(self, number: int, rung: int) -> Path:
        return self.states / f"trial-{number}-rung-{rung}.pt"

    def call(self, job: Job) -> JobCall:
        """The fidelity of `job`'s rung and the states it reads and writes."""
        fidelity = self.schedule.fidelity(self.config.fidelity, job.rung)
        state_in = self.state_path(job.number, job.rung - 1) if job.rung > 0 else None
        state_out = None
        if job.rung < self.schedule.top:
            state_out = self.state_path(job.number, job.rung)
            self.states.mkdir(parents=True, exist_ok=True)
        model_out = None
        if self.keep_models and job.rung == self.schedule.top:
            model_out = self.model_path(job.number)
        return JobCall(fidelity, state_in, state_out, model_out)

    def model_path(self, number: int) -> Path:
        return self.models / f"trial-{number}.onnx"

    def drop_models(self, numbers: Iterable[int]) -> None:
        """Delete the kept models of these trials (finished off the front: they stay off)."""
        for number in numbers:
            self._remove(self.model_path(number))

    def recover(self, backend: Any, records: list[TrialRecord]) -> None:
        """A new session: queue each promoted trial whose state survived; finish (tell its
        last rung's result) one whose state is gone; delete states nobody can use."""
        self.seq = sum(len(r.rungs) for r in records)
        wanted: set[Path] = set()
        for r in records:
            if r.state != RUNNING or not r.rungs:
                continue
            last = r.rungs[-1]
            path = self.state_path(r.number, int(last["rung"]))
            if last.get("promoted") and path.is_file():
                self.pending.append(
                    Job(r.number, Candidate.from_json(r.candidate), last["rung"] + 1)
                )
                wanted.add(path)
            else:
                backend.tell(r.number, _result(last, r.candidate))
        self._sweep(wanted)

    def record(
        self,
        backend: Any,
        job: Job,
        result: EvalResult,
        records: Callable[[], Iterable[TrialRecord]],
    ) -> bool:
        """Record `job`'s result; promote it (queue its next rung) or tell the study its final
        result. True when the trial is finished. `records` is read only when a promotion is
        decided (a single-fidelity run never reads it)."""
        if not self.multi:
            backend.tell(job.number, result)
            return True
        decision = self._decide(job, result, records)
        self.seq += 1
        entry = {
            "rung": job.rung,
            "seq": self.seq,
            "result": _stored(result),
            "promoted": decision.promoted if decision else False,
            "rank": decision.rank if decision else None,
            "of": decision.of if decision else None,
        }
        backend.record_rung(job.number, entry)
        if job.rung > 0:
            self._remove(self.state_path(job.number, job.rung - 1))
        if decision is not None and decision.promoted:
            self.pending.append(Job(job.number, job.candidate, job.rung + 1))
            return False
        self._remove(self.state_path(job.number, job.rung))
        backend.tell(job.number, result)
        return True

    def _decide(
        self, job: Job, result: EvalResult, records: Callable[[], Iterable[TrialRecord]]
    ) -> Decision | None:
        """The promotion decision (None at the top rung or for a failed result)."""
        if job.rung >= self.schedule.top or not result.ok:
            return None
        at_rung = [
            replace(self._recorded(r, e), promoted=bool(e.get("promoted")))
            for r in records()
            for e in r.rungs
            if int(e["rung"]) == job.rung and r.number != job.number
        ]
        at_rung.append(self.rung_result(job.number, result))
        return decide(at_rung, job.number, self.schedule)

    def _recorded(self, record: TrialRecord, entry: dict[str, Any]) -> RungResult:
        key = (record.number, int(entry["rung"]), entry.get("seq"))
        if key not in self._ranked:
            self._ranked[key] = self.rung_result(record.number, _result(entry, record.candidate))
        return self._ranked[key]

    def rung_result(self, number: int, result: EvalResult) -> RungResult:
        """`result` as the ranking sees it: objectives turned to minimise, summed violation."""
        values = minimised_values(self.config.objectives, result)
        if values is None:
            return RungResult(number, None)
        violations = self.config.constraints.violations(result).values()
        return RungResult(number, values, sum(max(0.0, v) for v in violations))

    def _sweep(self, wanted: set[Path]) -> None:
        if not self.states.is_dir():
            return
        for path in self.states.iterdir():
            if path not in wanted and (_STATE_FILE.fullmatch(path.name) or path.suffix == ".tmp"):
                self._remove(path)

    @staticmethod
    def _remove(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _stored(result: EvalResult) -> dict[str, Any]:
    data = result.to_json()
    data.pop("candidate", None)
    data.pop("traceback", None)
    return data


def _result(entry: dict[str, Any], candidate: dict[str, Any]) -> EvalResult:
    return EvalResult.from_json({**entry["result"], "candidate": candidate})
