"""The Optuna backend: a multi-objective study in SQLite, driven by ask/tell.

Each trial keeps its candidate (user attribute ``candidate``) from the moment it is asked, and
its EvalResult (``result``, ``status``) once told, so the database alone rebuilds every table.
Failed candidates are Optuna FAIL trials with ``status = failed``; a FAIL trial without a
status is one that a stop interrupted, and its parameters are queued to run again.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from autoedge.evaluate.result import EvalResult, failed_result
from autoedge.search.backends.base import Backend, Proposal
from autoedge.search.backends.study_storage import release, sqlite_storage
from autoedge.search.config import RunConfig
from autoedge.search.objectives import metric_names, objective_directions, objective_values
from autoedge.search.records import ERROR, FAILED, INTERRUPTED, OK, RUNNING, TrialRecord
from autoedge.space.axes import Value
from autoedge.space.candidate import Candidate
from autoedge.space.sampling import sample_candidate
from autoedge.space.spec import SearchSpace

STUDY_NAME = "autoedge"
_SEEDED = "autoedge.warm_start_queued"
_REMEASURED = "autoedge.remeasured"


class OptunaGenes:
    """A GeneSource that asks an Optuna trial, so the study records exactly the live genes."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def categorical(self, name: str, choices: tuple[Value, ...]) -> Value:
        return self.trial.suggest_categorical(name, list(choices))

    def integer(self, name: str, low: int, high: int) -> int:
        return self.trial.suggest_int(name, low, high)

    def real(self, name: str, low: float, high: float, step: float) -> float:
        v = self.trial.suggest_float(name, low, high, step=step)
        return low + step * round((v - low) / step)  # the grid value RandomGenes would give


def make_sampler(
    config: RunConfig, kind: str, *, trials_so_far: int = 0
) -> optuna.samplers.BaseSampler:
    """The sampler for `kind` (tpe, nsga2, random), seeded, with the run's constraints.

    A resumed run seeds with `seed + trials_so_far`, so it does not replay the random draws
    its first session already made (reproducible, and no wasted duplicates).
    """
    with warnings.catch_warnings():
        # TPE's `group` is marked experimental; it serves conditional genes well, and the
        # warning would otherwise break into every run's progress display.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(config, kind, config.seed + trials_so_far)


def _sampler(config: RunConfig, kind: str, seed: int) -> optuna.samplers.BaseSampler:
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "nsga2":
        population = max(10, min(50, config.budget // 4))
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)


class OptunaBackend(Backend):
    """Ask/tell over an Optuna study stored at `db` (SQLite).

    `sampler(trials_so_far)` makes the sampler once the study is open (see make_sampler).
    """

    def __init__(
        self,
        db: Path,
        config: RunConfig,
        space: SearchSpace,
        *,
        sampler: Callable[[int], optuna.samplers.BaseSampler],
        warm_start: Sequence[tuple[str, Candidate]] = (),
    ) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.config = config
        self.space = space
        self._db = Path(db)
        self._storage = sqlite_storage(self._db)
        self.study = optuna.create_study(
            storage=self._storage,
            study_name=STUDY_NAME,
            directions=objective_directions(config.objectives),
            sampler=sampler(0),
            load_if_exists=True,
        )
        names = metric_names(config.objectives)
        if self.study.metric_names != names:  # optuna-dashboard shows these, not "Objective 0"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.study.set_metric_names(names)
        existing = len(self.study.get_trials(deepcopy=False))
        if existing:
            self.study.sampler = sampler(existing)
        self._live: dict[int, optuna.Trial] = {}
        # records of finished trials (they never change but for a re-measure), built once:
        # rebuilding every record after every trial made a run quadratic in its trials
        self._finished: dict[int, TrialRecord] = {}
        self._again: dict[str, dict[str, float]] = dict(
            self.study.user_attrs.get(_REMEASURED) or {}
        )
        # results by rung of the running trials that have some (mirrors their `rungs` attribute)
        self._rungs: dict[int, list[dict[str, Any]]] = {}
        self._recover()
        if not self.study.user_attrs.get(_SEEDED):
            for name, cand in warm_start:
                self.study.enqueue_trial(cand.genes(), user_attrs={"baseline": name})
            self.study.set_user_attr(_SEEDED, True)

    def _recover(self) -> None:
        """Trials a killed process left RUNNING: mark them interrupted, queue them again.

        A trial with results at some rung (multi-fidelity) stays running: the search loop
        carries it on from its saved state, or tells it its last rung's result."""
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.user_attrs.get("rungs"):
                self._live[t.number] = optuna.Trial(self.study, t._trial_id)
                self._rungs[t.number] = list(t.user_attrs["rungs"])
                continue
            self.study.tell(t.number, state=TrialState.FAIL)
            self._requeue(t)

    def _requeue(self, t: FrozenTrial) -> None:
        attrs = {"rerun_of": t.number}
        if t.user_attrs.get("baseline"):
            attrs["baseline"] = t.user_attrs["baseline"]
        self.study.enqueue_trial(t.params, user_attrs=attrs)

    def ask(self) -> Proposal:
        return self.adopt(self.study.ask())

    def adopt(self, trial: Any) -> Proposal:
        """Draw the candidate of a trial asked from this study (here, or by a driver such as
        Ray Tune's OptunaSearch, whose wrapper of the trial is accepted) and track it."""
        real: optuna.Trial = getattr(trial, "ot_trial", trial)
        try:
            with self._storage.genes_at_once():
                cand = sample_candidate(self.space, OptunaGenes(trial))
        except BaseException:
            self.study.tell(real, state=TrialState.FAIL)
            raise
        real.set_user_attr("key", cand.key)
        real.set_user_attr("candidate", cand.to_json())
        self._live[real.number] = real
        return Proposal(real.number, cand, real.user_attrs.get("baseline"))

    def tell(self, number: int, result: EvalResult, *, reused_from: int | None = None) -> None:
        trial = self._live.pop(number)
        self._rungs.pop(number, None)
        values = objective_values(self.config.objectives, result) if result.ok else None
        if result.ok and values is None:  # cannot be ranked: record it as failed, with why
            result = failed_result(
                result.key, "measure: an objective value is missing or not finite"
            )
        stored = result.to_json()
        stored.pop("candidate", None)  # kept once, in the `candidate` attribute
        trial.set_user_attr("result", stored)
        trial.set_user_attr("status", result.status)
        if reused_from is not None:
            trial.set_user_attr("reused_from", reused_from)
        if values is None:
            self.study.tell(trial, state=TrialState.FAIL)
            return
        # Optuna's samplers read these: infeasible points guide the search, ranked below
        # feasible ones by how far they miss.
        for name, value in self.config.constraints.violations(result).items():
            trial.set_constraint(name, value)
        self.study.tell(trial, values)

    def record_rung(self, number: int, entry: dict[str, Any]) -> None:
        """Append `entry` (search/rungs.py) to trial `number`'s results by rung."""
        rungs = [*self._rungs.get(number, []), entry]
        self._live[number].set_user_attr("rungs", rungs)
        self._rungs[number] = rungs

    def interrupt(self, number: int) -> None:
        if number in self._rungs:
            return  # has results by rung: stays running, carried on in the next session
        trial = self._live.pop(number, None)
        if trial is None:
            return
        self.study.tell(trial, state=TrialState.FAIL)
        self._requeue(self.study.get_trials(deepcopy=False)[number])

    def records(self) -> list[TrialRecord]:
        out = []
        for t in self.study.get_trials(deepcopy=False):
            if t.state == TrialState.WAITING:
                continue
            record = self._finished.get(t.number)
            if record is None:
                record = self._record(t, self._again.get(str(t.number)))
                if t.state.is_finished():
                    self._finished[t.number] = record
            out.append(record)
        return out

    def remeasured(self) -> set[int]:
        """Trials whose latency was re-measured at the end of a run (search/remeasure.py)."""
        return {int(n) for n in self._again}

    def set_remeasured(self, measured: dict[int, dict[str, float]]) -> None:
        """Store re-measured latencies (median, p10, p90, runs) by trial number; they replace
        the search's in the records. Kept on the study: a finished trial cannot change."""
        stored = {**self._again, **{str(n): data for n, data in measured.items()}}
        self.study.set_user_attr(_REMEASURED, stored)
        self._again = stored
        for number in measured:
            self._finished.pop(number, None)

    def _record(self, t: FrozenTrial, again: dict[str, float] | None = None) -> TrialRecord:
        attrs = t.user_attrs
        cand = attrs.get("candidate") or {}
        result = _result(attrs, cand)
        if again and result is not None and result.ok:
            result = replace(
                result,
                latency_search_ms=result.latency_ms,
                latency_ms=again["latency_ms"],
                latency_p10_ms=again["latency_p10_ms"],
                latency_p90_ms=again["latency_p90_ms"],
                latency_low_ms=again["latency_p10_ms"],
                latency_high_ms=again["latency_p90_ms"],
            )
        if t.state == TrialState.RUNNING:
            state = RUNNING
        elif t.state == TrialState.COMPLETE and result is not None:
            state = OK
        elif result is not None and not result.ok:
            state = ERROR if result.status == ERROR else FAILED
        else:  # stopped before its result was told
            state, result = INTERRUPTED, None
        return TrialRecord(
            number=t.number,
            state=state,
            key=attrs.get("key", ""),
            candidate=cand,
            started_at=_iso(t.datetime_start),
            finished_at=_iso(t.datetime_complete),
            result=result,
            reused_from=attrs.get("reused_from"),
            baseline=attrs.get("baseline"),
            feasible=state == OK and self.config.constraints.satisfied(result),
            rungs=tuple(attrs.get("rungs") or ()),
        )

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        """The study's storage (for drivers that open the same study)."""
        return self._storage

    def close(self) -> None:
        """Release the storage; study.db is left without a write-ahead log (study_storage)."""
        release(self._storage, self._db)


def _result(attrs: dict[str, Any], candidate: dict[str, Any]) -> EvalResult | None:
    data = attrs.get("result")
    if not data:
        return None
    return EvalResult.from_json({**data, "candidate": candidate})


def _iso(dt: Any) -> str | None:
    return dt.isoformat(timespec="seconds") if dt is not None else None
