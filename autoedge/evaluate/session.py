"""EvaluationSession: a run's data, teacher and target, prepared once for many candidates."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from autoedge.data.dataset import ImageDataset
from autoedge.evaluate.fidelity import Fidelity
from autoedge.evaluate.limits import TrialLimits
from autoedge.evaluate.result import EvalResult
from autoedge.evaluate.teacher import Teacher, prepare_teacher
from autoedge.hardware.host_latency import time_interleaved
from autoedge.hardware.targets import Target
from autoedge.space.candidate import Candidate

#: Rounds of the end-of-run latency re-measurement of the front (see `remeasure`).
REMEASURE_ROUNDS = 5


class EvaluationSession:
    """Call it with (candidate, fidelity) for an EvalResult; the search sees only this callable.

    The teacher is prepared on the first candidate that distils (``auto`` may train it once,
    then it is cached on disk); a run whose candidates never distil never loads one.
    `limits` (time, memory) apply to every evaluation (see limits.py). `device` (auto, cpu,
    cuda, cuda:N) is where the teacher and the candidates train (evaluate/devices.py).
    """

    def __init__(
        self,
        dataset: ImageDataset,
        target: Target,
        *,
        teacher: str = "auto",
        limits: TrialLimits | None = None,
        log: Callable[[str], None] | None = None,
        device: str = "auto",
    ) -> None:
        self.dataset = dataset
        self.target = target
        self.teacher_spec = teacher
        self.limits = limits or TrialLimits()
        self.log = log
        self.device = device
        self._teacher: Teacher | None = None
        self._teacher_ready = False
        self._threads: int | None = None  # torch threads, set in a worker process copy

    def teacher(self) -> Teacher | None:
        """The run's teacher (None for ``--teacher none``), prepared on first use."""
        if not self._teacher_ready:
            self._teacher = prepare_teacher(
                self.teacher_spec, self.dataset, log=self.log, device=self.device
            )
            self._teacher_ready = True
            if self.log and self._teacher is not None:
                self.log(f"teacher: {self._teacher.description}")
        return self._teacher

    def portable(self, threads: int | None = None, device: str | None = None) -> EvaluationSession:
        """A copy to ship to worker processes: the teacher prepared here, once; no log hook.

        With `threads`, the copy limits torch to that many threads before its first candidate
        (each worker gets its share of the cores); with `device`, it trains there (a worker's
        GPU, see `worker_devices`) instead of on this session's device.
        """
        copy = EvaluationSession(
            self.dataset,
            self.target,
            teacher=self.teacher_spec,
            limits=self.limits,
            device=device or self.device,
        )
        copy._teacher = self.teacher()
        copy._teacher_ready = True
        copy._threads = threads
        return copy

    def worker_devices(self, workers: int) -> list[str]:
        """The device of each of `workers` local workers: this session's device spread over
        the GPUs this machine has (DeviceError when it asks for a GPU that is absent)."""
        from autoedge.devices import worker_devices
        from autoedge.evaluate.devices import gpu_count

        return worker_devices(self.device, workers, gpu_count())

    def __call__(
        self,
        candidate: Candidate,
        fidelity: Fidelity,
        *,
        state_in: Path | None = None,
        state_out: Path | None = None,
        model_out: Path | None = None,
    ) -> EvalResult:
        """Evaluate `candidate` at `fidelity` (a higher rung carries on from `state_in`;
        `state_out` saves the training state for the next rung; `model_out` keeps a copy of
        the deployed model; see evaluate())."""
        from autoedge.evaluate.evaluator import evaluate  # torch loads with the first candidate

        if self._threads is not None:
            from autoedge.compress.training import limit_threads

            limit_threads(self._threads)
            self._threads = None
        teacher = self.teacher() if candidate.kd_alpha > 0 else None
        # A target that checks models on a device later keeps each trial's deployed model.
        keep = getattr(self.target, "model_dir", None)
        return evaluate(
            candidate,
            self.dataset,
            target=self.target,
            fidelity=fidelity,
            teacher=teacher,
            limits=self.limits,
            workdir=keep(candidate.key) if callable(keep) else None,
            state_in=state_in,
            state_out=state_out,
            model_out=model_out,
            device=self.device,
        )

    def remeasure(
        self, models: dict[int, Path], *, rounds: int = REMEASURE_ROUNDS, runs: int = 20
    ) -> dict[int, dict[str, float]]:
        """Time each model again on the target, `rounds` x `runs` runs, the models taken in
        turn in every round so that the machine's drift hits them alike. Per key: the median,
        p10 and p90 of the rounds' values, and the runs made. Empty for a predicted target
        (its numbers do not vary)."""
        if not models:
            return {}
        probe = self.target.latency(next(iter(models.values())), runs=3)  # warms up, too
        if probe.source != "measured":
            return {}
        times = time_interleaved(
            models, lambda path: self.target.latency(path, runs=runs), rounds=rounds
        )
        out = {}
        for number, ms in times.items():
            p10 = [m.p10_ms if m.p10_ms is not None else m.min_ms for m in ms]
            out[number] = {
                "latency_ms": statistics.median(m.median_ms for m in ms),
                "latency_p10_ms": statistics.median(p10),
                "latency_p90_ms": statistics.median(m.p90_ms for m in ms),
                "runs": rounds * runs,
            }
        return out
