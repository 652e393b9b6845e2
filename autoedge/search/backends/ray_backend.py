"""The Ray backend: the same study and evaluate(), N trials at once on a Ray cluster.

Ray Tune runs the trials; its OptunaSearch asks them from the run's own SQLite study (same
directions, sampler, constraints and warm-start queue as the optuna backend), so the run folder,
`--resume`, `show`, `pick` and `export` work unchanged. Results are told on the driver, so the
study is only ever written by one process. The data and the prepared teacher travel to the
workers once through the object store (`tune.with_parameters`); each trial limits torch to the
CPUs Ray reserved for it. A trial whose worker dies is retried once by Tune, then recorded as
failed with Ray's reason. This is the only module of autoedge that imports ray.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from autoedge.atomic_files import write_bytes_atomic
from autoedge.errors import SearchError
from autoedge.evaluate.fidelity import Fidelity
from autoedge.evaluate.result import EvalResult, failed_result
from autoedge.search.backends.base import JobHooks
from autoedge.search.backends.optuna_backend import STUDY_NAME, OptunaBackend
from autoedge.search.config import RunConfig
from autoedge.search.objectives import objective_directions, objective_values
from autoedge.search.rungs import Job
from autoedge.space.candidate import Candidate

#: Times Tune restarts a trial whose worker died before it is recorded as failed.
TRIAL_RETRIES = 1
_RESULT = "autoedge_result"
_STATE = "autoedge_state"


def run_on_ray(
    backend: OptunaBackend,
    config: RunConfig,
    evaluator: Any,
    hooks: JobHooks,
    tune_dir: Path,
) -> None:
    """Run trials on Ray until the budget is counted or Tune stops; trials left unfinished
    are given back to the study (they run again on resume)."""
    with _ray_connection(config):
        trainable = tune.with_parameters(
            _trial,
            evaluator=evaluator.portable(threads=max(1, math.floor(config.cpus_per_trial))),
            objectives=list(config.objectives),
        )
        resources = {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial}
        search = _StudySearch(backend, config, hooks)
        tuner = tune.Tuner(
            tune.with_resources(trainable, resources),
            tune_config=tune.TuneConfig(
                search_alg=search,
                num_samples=-1,
                max_concurrent_trials=config.workers,
                reuse_actors=True,  # a worker keeps torch imported and its data fetched
            ),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str(tune_dir.resolve()),
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=TRIAL_RETRIES),
                callbacks=[search.watcher],
            ),
        )
        try:
            tuner.fit()
        finally:
            search.give_back_unfinished()


def _trial(config: dict[str, Any], *, evaluator: Any, objectives: list[str]) -> None:
    """One Tune trial: evaluate the candidate at the job's rung (the evaluator limits torch to
    the reserved CPUs). The saved training state travels as bytes, both ways: the worker may
    be on another node than the run folder."""
    cand = Candidate.from_json(config["candidate"])
    fidelity = Fidelity.from_json(config["fidelity"])
    with tempfile.TemporaryDirectory(prefix="autoedge-state-") as tmp:
        kwargs: dict[str, Path] = {}
        if config.get("state"):
            kwargs["state_in"] = Path(tmp) / "in.pt"
            kwargs["state_in"].write_bytes(base64.b64decode(config["state"]))
        if config.get("save_state"):
            kwargs["state_out"] = Path(tmp) / "out.pt"
        result = evaluator(cand, fidelity, **kwargs)
        state = ""
        if "state_out" in kwargs and kwargs["state_out"].is_file():
            state = base64.b64encode(kwargs["state_out"].read_bytes()).decode()
    values = objective_values(tuple(objectives), result) if result.ok else None
    report = {f"objective_{i}": math.nan for i in range(len(objectives))}
    if values is not None:
        report.update({f"objective_{i}": v for i, v in enumerate(values)})
    tune.report({_RESULT: json.dumps(result.to_json()), _STATE: state, **report})


class _TrialWatcher(tune.Callback):
    """Keeps Tune's Trial objects by id, so a failed trial's error text can be read."""

    def __init__(self) -> None:
        self.trials: dict[str, Any] = {}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.trials[trial.trial_id] = trial

    def __getstate__(self) -> dict[str, Any]:
        return {"trials": {}}  # Tune pickles its state; live trials stay in this process


class _StudySearch(OptunaSearch):
    """OptunaSearch over the run's own study, telling results through the optuna backend."""

    def __init__(self, backend: OptunaBackend, config: RunConfig, hooks: JobHooks) -> None:
        self._backend = backend
        self._config = config
        self._hooks = hooks
        self._running: dict[str, Job] = {}  # Tune trial id -> the job it runs
        self.watcher = _TrialWatcher()
        n = len(config.objectives)
        super().__init__(
            space=self._draw,
            metric=[f"objective_{i}" for i in range(n)],
            mode=[d[:3] for d in objective_directions(config.objectives)],
            sampler=backend.study.sampler,
            study_name=STUDY_NAME,
            storage=backend.storage,
        )

    def _setup_study(self, mode: Any) -> None:
        self._ot_study = self._backend.study  # the run's study itself, warm start queued

    # The study database is the run's durable state (resume reopens it), so Tune's own
    # searcher checkpoints are not written; Tune still pickles the searcher with its state.
    def __getstate__(self) -> dict[str, Any]:
        return {}

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        return None

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        return None

    def _draw(self, trial: Any) -> dict[str, Any]:
        proposal = self._backend.adopt(trial)
        cand = proposal.candidate
        return {"candidate": cand.to_json(), "number": proposal.number, "key": cand.key}

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._hooks.pending():  # a promotion first (ASHA), from its saved state
            job = self._hooks.next_job()
            assert job is not None
            self._running[trial_id] = job
            return self._job_config(job, {"candidate": job.candidate.to_json()})
        while True:
            if self._hooks.counted() + len(self._running) >= self._hooks.budget:
                # promotions may still come from the trials running: ask again later
                return None if self._running else Searcher.FINISHED
            config = super().suggest(trial_id)
            number, key = int(config["number"]), str(config["key"])
            prior = self._hooks.prior(key)
            self._hooks.started(number, key, prior is not None)
            if prior is None or prior.result is None:
                job = Job(number, Candidate.from_json(config["candidate"]))
                self._running[trial_id] = job
                return self._job_config(job, config)
            # the same candidate was trained before: reuse its result, ask again
            del self._ot_trials[trial_id]
            self._backend.tell(number, prior.result, reused_from=prior.number)
            self._hooks.finished(number)

    def _job_config(self, job: Job, config: dict[str, Any]) -> dict[str, Any]:
        """The Tune config of `job`: its fidelity, the state it starts from (bytes, base64)
        and whether it saves one."""
        call = self._hooks.call(job)
        state = ""
        if call.state_in is not None and call.state_in.is_file():
            state = base64.b64encode(call.state_in.read_bytes()).decode()
        return {
            **config,
            "number": job.number,
            "rung": job.rung,
            "fidelity": call.fidelity.to_json(),
            "state": state,
            "save_state": call.state_out is not None,
        }

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        job = self._running.pop(trial_id, None)
        self._ot_trials.pop(trial_id, None)
        if job is None:
            return
        number, key = job.number, job.candidate.key
        if result and _RESULT in result:
            outcome = EvalResult.from_json(json.loads(result[_RESULT]))
            state_out = self._hooks.call(job).state_out
            if result.get(_STATE) and state_out is not None:
                state_out.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(state_out, base64.b64decode(result[_STATE]))
        elif error:
            outcome = failed_result(key, self._failure_reason(trial_id), target=self._config.target)
        else:  # stopped by Tune before it finished: it runs again on resume
            self._backend.interrupt(number)
            return
        if self._hooks.job_done(job, outcome):
            self._hooks.finished(number)

    def _failure_reason(self, trial_id: str) -> str:
        trial = self.watcher.trials.get(trial_id)
        text = ""
        if trial is not None:
            error = trial.get_error()
            lines = [ln.strip() for ln in str(error or "").splitlines() if ln.strip()]
            text = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
        tries = TRIAL_RETRIES + 1
        return f"ray: the trial's worker failed {tries} times: {text[:300] or 'no reason given'}"

    def give_back_unfinished(self) -> None:
        """Trials Tune started but never completed (a stop): interrupted, queued again."""
        for trial_id, job in list(self._running.items()):
            self._backend.interrupt(job.number)
            del self._running[trial_id]


@contextmanager
def _ray_connection(config: RunConfig) -> Iterator[None]:
    """Ray for the run: join `address`, or start a local instance that stops with the run."""
    if ray.is_initialized():
        yield
        return
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # the study keeps results
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")  # the trial's record says why
    # ... so Tune's own result analysis finds no result files: not worth a warning
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if config.address:
            ray.init(address=config.address, **quiet)
        else:
            ray.init(include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = config.address or "a local Ray instance"
        raise SearchError(f"cannot start or reach {where}: {str(e).splitlines()[0]}") from e
    try:
        yield
    finally:
        ray.shutdown()  # with --address this only disconnects; the cluster keeps running
