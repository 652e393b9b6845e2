"""The search loop: ask, evaluate (or reuse), tell, write the run folder; stop and resume safely.

Every finished trial is committed to the study database before anything else happens, and
the tables are rewritten atomically after it (WRITE_SHARE), so a SIGKILL at any point loses at
most the trial that was running (it runs again on resume); the temp files of a write it cut
short are removed on resume. Ctrl-C interrupts the running trial, writes the tables and
returns a summary marked `stopped`. A full disk stops the run with StorageError; what was
committed is kept.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

from autoedge.atomic_files import remove_stale_temps
from autoedge.errors import AutoEdgeError, StorageError, disk_full_cause
from autoedge.evaluate.fidelity import FULL_FIDELITY, Fidelity
from autoedge.evaluate.result import EvalResult
from autoedge.results import (
    RUN_FORMAT,
    RunFolder,
    load_plotting,
    write_csv_atomic,
    write_json_atomic,
)
from autoedge.results.run_settings import read_run_data
from autoedge.search.backends import Backend, get_backend
from autoedge.search.backends.base import next_to_train
from autoedge.search.config import RunConfig
from autoedge.search.outputs import (
    SearchSummary,
    choose_for_refinement,
    front_of,
    read_refined,
    write_outputs,
)
from autoedge.search.planning import RunPlan, plan_config
from autoedge.search.planning import check_study_db as check_study_db  # re-exported
from autoedge.search.records import OK, TrialRecord
from autoedge.search.remeasure import models_to_drop, remeasure_front
from autoedge.search.rungs import Job, JobCall, RungBook
from autoedge.search.table import trial_row, trials_frame
from autoedge.space.candidate import Candidate
from autoedge.space.loader import dump_space, load_space_text
from autoedge.space.presets import baseline_candidate, list_baselines
from autoedge.space.spec import SearchSpace
from autoedge.versions import versions

#: Tables are rewritten after a trial while that costs at most this share of the time since the
#: last write (trials of seconds: every trial; thousands of quick ones: every few). The study
#: holds every result once told; a stop, an error and the end write the tables whole.
WRITE_SHARE = 0.1

#: (candidate, fidelity) -> EvalResult; a multi-fidelity run also passes `state_in` /
#: `state_out` (paths of saved training states, see evaluate()) when a rung needs them.
Evaluator = Callable[..., EvalResult]


class FrontValidator(Protocol):
    """Measures a trial that joined the front on a real device (hardware/validation.py)."""

    def check(self, number: int, key: str, predicted_ms: float) -> str | None:
        """Measure trial `number` (on the front), whose evaluation kept its deployed model; a
        line saying what was measured, or None when that trial cannot be checked."""
        ...

    def discard(self, key: str) -> None:
        """Forget the kept model of a trial that is not checked."""
        ...


@dataclass(frozen=True)
class SearchEvent:
    """Progress of a run: a trial (or a refinement) started or finished."""

    # trial_started | trial_finished | promoted | rung_started | remeasured |
    # refine_started | refine_finished | validated
    kind: str
    done: int
    budget: int
    number: int | None = None
    key: str = ""
    reused: bool = False
    state: str = ""
    summary: SearchSummary | None = None


def run_search(
    run: RunPlan | RunConfig,
    evaluator: Evaluator,
    *,
    on_event: Callable[[SearchEvent], None] | None = None,
    executable_bits: Iterable[int] | None = None,
    validator: FrontValidator | None = None,
) -> SearchSummary:
    """Run (or continue) the search `run` describes until its budget is spent.

    `run` is a plan from `plan_run`, or a RunConfig planned here (`plan_config`), where
    `executable_bits` (the target's runtime precisions as bit-widths) narrows a new run's
    bit-width choices; the narrowed space is the one stored. `validator` is shown every
    trial that joins the front as it ends (`--validate-on`).
    """
    if isinstance(run, RunPlan):
        if executable_bits is not None:
            raise TypeError("executable_bits goes to plan_run; a plan's space is narrowed already")
        plan = run
    else:
        plan = plan_config(run, executable_bits=executable_bits)
    config = plan.config
    folder = RunFolder(Path(config.out))
    emit = on_event or (lambda e: None)
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
        with folder.lock():
            remove_stale_temps(folder.path)
            space = _start_run_json(folder, plan)
            warm = []
            if config.warm_start:
                warm = [(n, baseline_candidate(n, space)) for n in list_baselines(space)]
            backend = get_backend(config.backend)(folder.db, config, space, warm)
            try:
                return _Loop(folder, config, backend, evaluator, emit, validator).run()
            finally:
                backend.close()
    except Exception as e:
        cause = None if isinstance(e, AutoEdgeError) else disk_full_cause(e)
        if cause is None:
            raise
        raise StorageError(
            f"the disk holding {folder.path} is full ({cause}); finished trials are kept: "
            f"free space, then continue with `autoedge search --resume {folder.path}`"
        ) from e


class _Loop:
    """One run's loop state: the backend, the evaluator, the counts and the refinements.

    It drives trials one at a time itself, or hands a parallel driver (the ray backend, or the
    local worker pool when `workers` > 1) its TrialHooks: `counted`, `prior`, `started` and
    `finished`.
    """

    def __init__(
        self,
        folder: RunFolder,
        config: RunConfig,
        backend: Backend,
        evaluator: Evaluator,
        emit: Callable[[SearchEvent], None],
        validator: FrontValidator | None = None,
    ) -> None:
        self.folder = folder
        self.validator = validator
        self.config = config
        self.backend = backend
        self.evaluator = evaluator
        self.emit = emit
        self.start = time.monotonic()
        self.refined = read_refined(folder)
        self.budget = config.budget
        self.book = RungBook(folder.path, config)
        self.book.recover(backend, backend.records())
        # the front's models are kept to be re-measured at the end (not from Ray's nodes)
        self.book.keep_models = config.backend != "ray" and hasattr(evaluator, "remeasure")
        records = backend.records()
        self.done = sum(r.counted for r in records)
        self.known = {r.key: r for r in records if r.counted and r.reused_from is None}
        self.current: int | None = None
        self._summary: SearchSummary | None = None  # the last write's, when it ended, its cost
        self._written_at, self._write_cost = 0.0, 0.0

    def run(self) -> SearchSummary:
        try:
            load_plotting()
            if self.config.backend == "ray":
                from autoedge.search.backends.ray_backend import run_on_ray

                tune_dir = self.folder.path / "ray"
                run_on_ray(self.backend, self.config, self.evaluator, self, tune_dir)
            elif self.config.workers > 1:
                from autoedge.search.pool import run_in_pool

                run_in_pool(self.backend, self.evaluator, self, self.config.workers)
            else:
                self._one_at_a_time()
            if self.done < self.budget:  # the parallel driver was stopped (Ctrl-C)
                return self._write(self.backend.records(), stopped=True)
            self._remeasure()
            self._refine(self.backend.records())
        except KeyboardInterrupt:
            if self.current is not None:
                self.backend.interrupt(self.current)
            return self._write(self.backend.records(), stopped=True)
        except BaseException:
            # Best effort: when the disk is full these writes fail too, and the first error
            # is the one to report.
            if self.current is not None:
                with contextlib.suppress(Exception):
                    self.backend.interrupt(self.current)
            with contextlib.suppress(Exception):
                self._write(self.backend.records())
            raise
        return self._write(self.backend.records())

    def _one_at_a_time(self) -> None:
        while (job := self.next_job()) is not None:
            call = self.call(job)
            result = self.evaluator(job.candidate, call.fidelity, **call.kwargs())
            if self.job_done(job, result):
                self.finished(job.number)

    def next_job(self, running: int = 0) -> Job | None:
        """The next evaluation: a promotion waiting to run, else a new trial while the budget
        allows (`running`: trials being evaluated now)."""
        if self.book.pending:
            job = self.book.pending.popleft()
            self.current = job.number
            key, rung = job.candidate.key, f"rung {job.rung}"
            self.emit(
                SearchEvent("rung_started", self.done, self.budget, job.number, key, state=rung)
            )
            return job
        prop = next_to_train(self.backend, self, running)
        return None if prop is None else Job(prop.number, prop.candidate)

    def pending(self) -> int:
        """Promoted trials waiting for a worker."""
        return len(self.book.pending)

    def call(self, job: Job) -> JobCall:
        return self.book.call(job)

    def job_done(self, job: Job, result: EvalResult) -> bool:
        """Record `job`'s result; True when its trial is finished (else it was promoted)."""
        done = self.book.record(self.backend, job, result, self.backend.records)
        if not done:
            self.current = None
            line = f"promoted to rung {job.rung + 1}"
            n, key = job.number, job.candidate.key
            self.emit(SearchEvent("promoted", self.done, self.budget, n, key, state=line))
        return done

    def counted(self) -> int:
        return self.done

    def prior(self, key: str) -> TrialRecord | None:
        return self.known.get(key)

    def started(self, number: int, key: str, reused: bool) -> None:
        self.current = number  # a stop before it is told gives it back (run's handlers)
        self.emit(SearchEvent("trial_started", self.done, self.budget, number, key, reused=reused))

    def finished(self, number: int) -> None:
        self.current = None
        records = self.backend.records()
        record = next(r for r in records if r.number == number)
        if record.reused_from is None:
            self.known[record.key] = record
        self.done += 1
        summary = self._write_when_due(records)
        if self.book.keep_models:
            self.book.drop_models(models_to_drop(records, self.config))
        self.emit(
            SearchEvent(
                "trial_finished",
                self.done,
                self.budget,
                record.number,
                record.key,
                reused=record.reused_from is not None,
                state=record.state,
                summary=summary,
            )
        )
        self._validate(record, records)

    def _remeasure(self) -> None:
        """Time the front's kept models again, together (search/remeasure.py)."""
        count, missing = remeasure_front(self.backend, self.config, self.book, self.evaluator)
        if count:
            line = (
                f"re-measured the latency of {count} front point(s) together, in interleaved "
                "rounds (the search's own numbers are kept as latency_search_ms)"
            )
            if missing:
                line += f"; {missing} front point(s) keep the search's number (model not kept)"
            self.emit(SearchEvent("remeasured", self.done, self.budget, state=line))
            self._write(self.backend.records())

    def _validate(self, record: TrialRecord, records: list[TrialRecord]) -> None:
        """Show the validator a fresh ok trial that is on the front now."""
        result = record.result
        if self.validator is None or record.reused_from is not None or result is None:
            return
        front, _ = front_of(trials_frame(records), self.config)
        on_front = record.number in set(front["number"].astype(int))
        if record.state != OK or result.latency_ms is None or not on_front:
            self.validator.discard(record.key)
            return
        line = self.validator.check(record.number, record.key, result.latency_ms)
        if line is not None:
            n, key = record.number, record.key
            self.emit(SearchEvent("validated", self.done, self.budget, n, key, state=line))

    @property
    def fidelity(self) -> Fidelity:
        return self.config.fidelity

    def _write_when_due(self, records: list[TrialRecord]) -> SearchSummary:
        """The tables after a finished trial, when due (WRITE_SHARE); else the last summary."""
        now = time.monotonic()
        if self._summary is None or self._write_cost <= WRITE_SHARE * (now - self._written_at):
            self._summary = self._write(records)
            self._written_at = time.monotonic()
            self._write_cost = self._written_at - now
        return self._summary

    def _write(self, records: list[TrialRecord], *, stopped: bool = False) -> SearchSummary:
        return write_outputs(
            self.folder,
            self.config,
            records,
            refined=self.refined if len(self.refined) else None,
            stopped=stopped,
            wall_s=time.monotonic() - self.start,
        )

    def _refine(self, records: list[TrialRecord]) -> None:
        """Re-evaluate `refine` front points at full fidelity (skipping ones already done)."""
        if self.config.refine <= 0:
            return
        front, _ = front_of(trials_frame(records), self.config)
        by_number = {r.number: r for r in records}
        done_keys = dict(zip(self.refined["number"], self.refined["key"], strict=True))
        full = replace(FULL_FIDELITY, seed=self.config.fidelity.seed)
        chosen = choose_for_refinement(front, self.config.refine)
        for i, number in enumerate(chosen):
            record = by_number[number]
            if done_keys.get(number) == record.key:
                continue
            self.emit(SearchEvent("refine_started", i, len(chosen), number, record.key))
            result = self.evaluator(Candidate.from_json(record.candidate), full)
            row = trial_row(
                replace(
                    record,
                    state=result.status,
                    result=result,
                    reused_from=None,
                    feasible=self.config.constraints.satisfied(result),
                )
            )
            row["fidelity"] = "full"
            self.refined = pd.concat([self.refined, pd.DataFrame([row])], ignore_index=True)
            write_csv_atomic(self.folder.refined, self.refined)
            summary = self._write(records)
            self.emit(
                SearchEvent(
                    "refine_finished",
                    i + 1,
                    len(chosen),
                    number,
                    record.key,
                    state=row["state"],
                    summary=summary,
                )
            )


def _start_run_json(folder: RunFolder, plan: RunPlan) -> SearchSpace:
    """Write run.json for a new run, or update budget/refine of a stored one; the space."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if folder.config.is_file():
        data = read_run_data(folder.path)
        space = load_space_text(data["space_yaml"], f"{folder.config} (space)")
        data["config"] = plan.config.to_json()
        data.setdefault("resumed_at", []).append(now)
        data["versions_resumed"] = versions()
    else:
        space = plan.space
        data = {
            "format": RUN_FORMAT,
            "created_at": now,
            "config": plan.config.to_json(),
            "space_yaml": dump_space(space),
            "versions": versions(),
        }
    write_json_atomic(folder.config, data)
    return space
