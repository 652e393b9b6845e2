"""The backend interface: ask for a candidate, tell its result, list the trials so far."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol

from autoedge.evaluate.result import EvalResult
from autoedge.search.records import TrialRecord
from autoedge.search.rungs import Job, JobCall
from autoedge.space.candidate import Candidate


@dataclass(frozen=True)
class Proposal:
    """A candidate the backend wants evaluated, under its trial number."""

    number: int
    candidate: Candidate
    baseline: str | None = None


class Backend(ABC):
    """A search strategy with durable storage; the loop drives it one trial at a time.

    Opening a backend on existing storage recovers it: trials left running by a killed
    process are marked interrupted and their candidates queued to run again.
    """

    @abstractmethod
    def ask(self) -> Proposal:
        """Start a trial and return its candidate."""

    @abstractmethod
    def tell(self, number: int, result: EvalResult, *, reused_from: int | None = None) -> None:
        """Finish trial `number` with `result` (copied from trial `reused_from` if given)."""

    @abstractmethod
    def interrupt(self, number: int) -> None:
        """Give trial `number` up unfinished; its candidate runs again on resume (a trial with
        results by rung stays running, to be carried on from its saved state)."""

    @abstractmethod
    def record_rung(self, number: int, entry: dict[str, Any]) -> None:
        """Store a multi-fidelity trial's result at one rung (search/rungs.py) durably."""

    @abstractmethod
    def records(self) -> list[TrialRecord]:
        """Every started trial, in trial-number order."""

    def close(self) -> None:  # noqa: B027 - an optional hook
        """Release storage handles."""


class TrialHooks(Protocol):
    """What a parallel driver (the ray backend) needs from the search loop."""

    budget: int

    def counted(self) -> int:
        """Trials with a result so far (ok, failed or reused)."""
        ...

    def prior(self, key: str) -> TrialRecord | None:
        """The earlier trained trial of a candidate with this key, if any."""
        ...

    def started(self, number: int, key: str, reused: bool) -> None:
        """Trial `number` was asked (and is reused instead of trained if `reused`)."""
        ...

    def finished(self, number: int) -> None:
        """Trial `number` was told its result: write the tables, report progress."""
        ...


class JobHooks(TrialHooks, Protocol):
    """What a driver of multi-fidelity jobs (the local pool, Ray) needs from the loop."""

    def next_job(self, running: int = 0) -> Job | None:
        """A promotion waiting to run, else a new trial while the budget allows."""
        ...

    def pending(self) -> int:
        """Promoted trials waiting for a worker."""
        ...

    def call(self, job: Job) -> JobCall:
        """The fidelity and saved states of `job`."""
        ...

    def job_done(self, job: Job, result: EvalResult) -> bool:
        """Record `job`'s result; True when its trial is finished (tell `finished` then)."""
        ...


def next_to_train(backend: Backend, hooks: TrialHooks, running: int = 0) -> Proposal | None:
    """Ask trials until one needs training (a candidate trained before is reused on the spot:
    told and finished); None once counted plus `running` trials fill the budget."""
    while hooks.counted() + running < hooks.budget:
        prop = backend.ask()
        prior = hooks.prior(prop.candidate.key)
        hooks.started(prop.number, prop.candidate.key, prior is not None)
        if prior is None or prior.result is None:
            return prop
        backend.tell(prop.number, prior.result, reused_from=prior.number)
        hooks.finished(prop.number)
    return None
