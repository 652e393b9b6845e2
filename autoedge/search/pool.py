"""Trials N at once on this machine: worker processes fed by the search loop.

Small networks use two or more CPU cores poorly from one process (on 2 cores, two 1-thread
trainings side by side do ~1.25x the work of one 2-thread training), so `--workers N` runs N
evaluations at once, each in its own process with torch limited to its share of the cores.
The loop process alone asks and tells the study, so the database has one writer and the run
folder is written as before. Workers are spawned once per run and receive the prepared
evaluator (data, teacher) once; a worker that dies (killed, out of memory) fails its trial with
the reason and is replaced. A stop (Ctrl-C, an error) terminates the workers and gives their
trials back to the study, to run again on resume.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from autoedge.evaluate.result import EvalResult, failed_result
from autoedge.search.backends.base import Backend, JobHooks
from autoedge.search.rungs import Job
from autoedge.space.candidate import Candidate

#: Most workers a run starts by default (each holds the data and trains one network).
MAX_DEFAULT_WORKERS = 8


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Trials at once for a new local run: one per core, at most MAX_DEFAULT_WORKERS."""
    return min(usable_cpus(), MAX_DEFAULT_WORKERS)


def threads_per_worker(workers: int) -> int:
    """Torch threads each of `workers` workers gets: an equal share of the cores, at least 1."""
    return max(1, usable_cpus() // max(1, workers))


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    job: Job | None = None


def run_in_pool(
    backend: Backend,
    evaluator: Any,
    hooks: JobHooks,
    workers: int,
) -> None:
    """Evaluate jobs (a new trial, or a promoted one's next rung) `workers` at once until the
    budget is counted and no promotion waits.

    `evaluator` is the run's EvaluationSession (anything with ``worker_devices(n)`` and
    ``portable(threads, device)`` returning a picklable callable): worker i trains on the i-th
    device, so workers share a machine's GPUs evenly. Raises what stopped the run
    (KeyboardInterrupt, an error a worker sent back) after giving the unfinished trials back
    to the study.
    """
    threads = threads_per_worker(workers)
    devices = evaluator.worker_devices(workers)
    pool = _Pool([evaluator.portable(threads=threads, device=d) for d in devices])
    try:
        told: list[int] = []  # told the study, not yet counted by the loop
        while True:
            pool.dispatch(hooks, len(told))
            for number in told:  # the tables are written while the workers train
                hooks.finished(number)
            told = []
            if not pool.running():
                return
            for job, result in pool.collect():
                if hooks.job_done(job, result):
                    told.append(job.number)
    finally:
        for number in pool.running():
            backend.interrupt(number)
        pool.stop()


class _Pool:
    """The worker processes and the trial each is running."""

    def __init__(self, evaluators: list[Callable[..., EvalResult]]) -> None:
        self.evaluators = evaluators  # one per worker slot (its device), kept for restarts
        self.context = mp.get_context("spawn")  # no fork: torch's threads, sqlite handles
        self.workers: list[_Worker] = []
        for slot in range(len(evaluators)):
            self.workers.append(self._start(slot))

    def running(self) -> list[int]:
        """Trial numbers being evaluated now."""
        return [w.job.number for w in self.workers if w.job is not None]

    def dispatch(self, hooks: JobHooks, told: int) -> None:
        """Give every idle worker a job while there is one (`told`: trials told but not yet
        counted)."""
        for i, worker in enumerate(self.workers):
            if worker.job is not None:
                continue
            if not worker.process.is_alive():  # died between trials: nothing was lost
                worker.conn.close()
                worker = self.workers[i] = self._start(i)
            worker.job = hooks.next_job(len(self.running()) + told)
            if worker.job is None:
                return
            call = hooks.call(worker.job)
            message = (worker.job.candidate.to_json(), call.fidelity, call.kwargs())
            with contextlib.suppress(BrokenPipeError):  # died just now: collect() sees it
                worker.conn.send(message)

    def collect(self) -> list[tuple[Job, EvalResult]]:
        """Wait until a busy worker answers or dies; (job, result) of each that did."""
        busy = [w for w in self.workers if w.job is not None]
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
        done = []
        for i, worker in enumerate(self.workers):
            if worker.job is None:
                continue
            if worker.conn in ready:
                result = _receive(worker)
            elif worker.process.sentinel in ready:
                result = _died(worker)
            else:
                continue
            done.append((worker.job, result))
            worker.job = None
            if not worker.process.is_alive():
                worker.conn.close()
                self.workers[i] = self._start(i)
        return done

    def _start(self, slot: int) -> _Worker:
        ours, theirs = self.context.Pipe()
        evaluator = self.evaluators[slot]
        process = self.context.Process(target=_serve, args=(theirs, evaluator), daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def stop(self) -> None:
        """Terminate every worker (a trial in progress is abandoned)."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


def _receive(worker: _Worker) -> EvalResult:
    """The worker's answer: a result, or the exception it raised (re-raised here: evaluate()
    only raises what must stop the run, such as a full disk)."""
    try:
        kind, payload = worker.conn.recv()
    except (EOFError, OSError):  # it died while answering
        return _died(worker)
    if kind == "raised":
        raise payload
    return EvalResult.from_json(payload)


def _died(worker: _Worker) -> EvalResult:
    """A failed result for the trial of a worker whose process ended."""
    assert worker.job is not None
    worker.process.join(timeout=5)
    code = worker.process.exitcode
    why = f"exit code {code}"
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        why = f"killed by {name}" + (", most likely out of memory" if name == "SIGKILL" else "")
    return failed_result(
        worker.job.candidate.key,
        f"worker: the process evaluating this trial died ({why})",
    )


def _serve(conn: Connection, evaluator: Callable[..., EvalResult]) -> None:
    """A worker's loop: evaluate each (candidate JSON, fidelity, keyword arguments) sent
    until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the loop process, which stops us
    _exit_with_parent()
    while True:
        try:
            cand, fidelity, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[str, Any] = (
                "result",
                evaluator(Candidate.from_json(cand), fidelity, **kwargs).to_json(),
            )
        except BaseException as e:  # handed to the loop process, which raises it
            answer = ("raised", e)
        try:
            try:
                conn.send(answer)
            except (pickle.PicklingError, TypeError, AttributeError):  # the text pickles
                error = answer[1]
                conn.send(("raised", RuntimeError(f"{type(error).__name__}: {error}")))
        except (BrokenPipeError, EOFError, OSError):  # the loop process is gone
            return


def _exit_with_parent() -> None:
    """End this worker within a second of its loop process dying (a SIGKILL leaves it no
    time to stop us), so an orphan never trains on for nothing."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="autoedge-parent-watch").start()
