"""evaluate(): train a candidate with distillation, compress it, export it, measure the export.

One call, one candidate, one EvalResult. Accuracy is measured on the exported ONNX model in
ONNX Runtime, not on the PyTorch module; a failure anywhere (a diverging loss, an export error,
running out of memory, running past its time limit) comes back as a `failed` result with the
phase and the reason. A full disk is not the candidate's fault: it is raised, not recorded.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoedge.atomic_files import write_bytes_atomic
from autoedge.compress.batches import ImageBatches
from autoedge.compress.build import build_model
from autoedge.compress.deployable import export_deployable
from autoedge.compress.export import WEIGHTS_FILE, save_weights
from autoedge.compress.pipeline import compress
from autoedge.compress.stats import count_macs, count_params
from autoedge.compress.train_state import TrainState, load_state, save_state
from autoedge.compress.training import (
    StepHook,
    TrainSettings,
    accuracy,
    predict_logits,
    recalibrate_batchnorm,
    train_model,
)
from autoedge.data.dataset import ImageDataset
from autoedge.errors import AutoEdgeError, disk_full_cause
from autoedge.evaluate.devices import training_device
from autoedge.evaluate.fidelity import DEFAULT_FIDELITY, Fidelity
from autoedge.evaluate.limits import TrialLimits, eval_batch
from autoedge.evaluate.result import (
    OK,
    EvalResult,
    accuracy_gap,
    error_result,
    failed_result,
    wilson_interval,
)
from autoedge.evaluate.teacher import Teacher
from autoedge.hardware.onnx_graph import precision_bits
from autoedge.hardware.onnx_memory import peak_activation_bytes
from autoedge.hardware.onnx_runtime import onnx_accuracy
from autoedge.hardware.targets import Target, get_target
from autoedge.space.candidate import Candidate
from autoedge.space.precision import INT8, format_precision_map, precision_map

NO_LIMITS = TrialLimits()
_CPU = torch.device("cpu")
#: Set to 1 (the test suite does) to raise autoedge's own bugs instead of recording them.
STRICT_ENV = "AUTOEDGE_STRICT"


def evaluate(
    candidate: Candidate,
    dataset: ImageDataset,
    *,
    target: str | Target = "host",
    fidelity: Fidelity = DEFAULT_FIDELITY,
    teacher: Teacher | None = None,
    workdir: str | Path | None = None,
    on_step: StepHook | None = None,
    limits: TrialLimits = NO_LIMITS,
    state_in: str | Path | None = None,
    state_out: str | Path | None = None,
    model_out: str | Path | None = None,
    device: str = "auto",
) -> EvalResult:
    """Train, compress, export and measure `candidate`; never raises for a bad candidate.

    `workdir` keeps the deployed model (`model.onnx`, each stage at the precision its genes
    say), its float export (`model_fp32.onnx`) and the compressed float model's
    `weights.safetensors`; by default the ONNX files go to a temporary folder that is removed.
    `on_step(step, loss)` is called after every optimisation step (a test hook).
    `limits` fail the candidate once it runs too long or allocates too much (limits.py).
    `fidelity.rung` > 0 carries on the training saved at `state_in` (a TrainState of the rung
    below) instead of training from scratch; `state_out` saves this evaluation's state for
    the rung above (multi-fidelity search, search/asha.py). `model_out` receives a copy of
    the deployed model.onnx (the search re-measures its front's latencies at the end).
    `device` (auto, cpu, cuda, cuda:N) trains there; the export is measured on the target.
    A device this machine lacks raises DeviceError: it is the run's setting, not the candidate.
    """
    tgt = get_target(target) if isinstance(target, str) else target
    dev = training_device(device)
    clock = _PhaseClock(limits)
    step_hook = clock.step_hook(on_step)
    common: dict[str, Any] = {
        "target": tgt.name,
        "fidelity": fidelity.to_json(),
        "rung": fidelity.rung,
        "candidate": candidate.to_json(),
        "teacher": teacher.description if teacher and candidate.kd_alpha > 0 else None,
    }
    unrunnable = _bits(candidate) - precision_bits(tgt.precisions)
    if unrunnable:
        reason = (
            f"setup: target {tgt.name} executes {', '.join(tgt.precisions)} only; "
            f"{', '.join(map(str, sorted(unrunnable)))}-bit tensors have no kernel there"
        )
        return failed_result(candidate.key, reason, wall_s=0.0, phase_s={}, **common)
    try:
        with _workdir(workdir) as folder:
            with limits.memory_cap():
                carry = _Carry(_path(state_in), _path(state_out), _path(model_out), dev)
                metrics, frozen = _run(
                    candidate, dataset, tgt, fidelity, teacher, folder, clock, step_hook, carry
                )
            if workdir is not None:
                save_weights(frozen, folder / WEIGHTS_FILE, {"key": candidate.key})
    except Exception as e:  # a failed record for the candidate's failures, error for bugs
        if disk_full_cause(e):  # the machine's fault: the run stops, the trial runs again later
            raise
        oom = limits.out_of_memory_reason(e)
        why = oom or f"{type(e).__name__}: {_first_line(e)}"
        reason = f"{clock.current or 'setup'}: {why}"
        timing = {"wall_s": clock.total(), "phase_s": clock.phases}
        if oom or candidate_failure(e):
            return failed_result(candidate.key, reason, **timing, **common)
        if os.environ.get(STRICT_ENV) == "1":  # tests: a bug in our code fails loudly
            raise
        trace = "".join(traceback.format_exception(e))
        return error_result(candidate.key, reason, trace, **timing, **common)
    return EvalResult(
        key=candidate.key,
        status=OK,
        wall_s=clock.total(),
        phase_s=clock.phases,
        **common,
        **metrics,
    )


def _run(
    candidate: Candidate,
    dataset: ImageDataset,
    target: Target,
    fidelity: Fidelity,
    teacher: Teacher | None,
    folder: Path,
    clock: _PhaseClock,
    on_step: StepHook | None,
    carry: _Carry,
) -> tuple[dict[str, Any], torch.nn.Module]:
    """The metrics of one evaluation and the compressed float model they were measured on.

    Rung 0 trains from scratch, compresses and fine-tunes; a higher rung loads the network
    saved at the rung below (`carry.state_in`) and fine-tunes it further. With
    `carry.state_out` the fine-tuned network and its optimiser state are saved for the next.
    """
    torch.manual_seed(fidelity.seed)
    with clock("prepare"):
        mean, std = dataset.normalization
        res = candidate.resolution
        idx = _subset(len(dataset.train_y), fidelity.subset, fidelity.seed)
        test_idx = _subset(len(dataset.test_y), fidelity.test_subset, fidelity.seed)
        dev = carry.device
        aug = dataset.augmentation
        x = ImageBatches(dataset.train_x[idx], res, mean, std, device=dev, augment=aug)
        y = torch.from_numpy(dataset.train_y[idx].astype(np.int64)).to(dev)
        x_test = ImageBatches(dataset.test_x[test_idx], res, mean, std, device=dev)
        y_test = dataset.test_y[test_idx]
        soft = None
        if teacher is not None and candidate.kd_alpha > 0:
            soft = torch.from_numpy(teacher.train_logits[idx]).to(dev)
        settings = TrainSettings(
            epochs=fidelity.epochs,
            batch_size=fidelity.batch_size,
            lr=fidelity.lr,
            seed=fidelity.seed,
            kd_alpha=candidate.kd_alpha if soft is not None else 0.0,
            kd_temperature=candidate.kd_temperature if soft is not None else None,
        )

        if fidelity.rung == 0:
            model = build_model(
                candidate, in_chans=dataset.in_chans, num_classes=dataset.num_classes
            )
            model = model.to(dev, memory_format=torch.channels_last)

    if fidelity.rung == 0:
        with clock("train"):
            steps = train_model(model, x, y, settings, teacher_logits=soft, on_step=on_step).steps
            recalibrate_batchnorm(model, x.first(512))
        with clock("compress"):
            compressed = compress(model.eval(), candidate, x.first(2).tensor())
        optimizer = None
    else:
        with clock("resume"):
            if carry.state_in is None:
                raise ValueError(f"rung {fidelity.rung} carries on a saved state; none given")
            state = load_state(carry.state_in, candidate.key)
            compressed, steps, optimizer = state.compressed, state.steps, state.optimizer
    qat = compressed.model.to(dev, memory_format=torch.channels_last)

    with clock("finetune"):
        n_ft = fidelity.finetune_images or len(y)
        if fidelity.finetune_epochs > 0:
            ft = TrainSettings(
                epochs=fidelity.finetune_epochs,
                batch_size=fidelity.batch_size,
                lr=fidelity.lr * fidelity.finetune_lr_scale,
                seed=fidelity.seed + 1 + fidelity.rung,
                kd_alpha=settings.kd_alpha,
                kd_temperature=settings.kd_temperature,
            )
            ft_soft = soft[:n_ft] if soft is not None else None
            log = train_model(
                qat,
                x.first(n_ft),
                y[:n_ft],
                ft,
                teacher_logits=ft_soft,
                on_step=on_step,
                optimizer_state=optimizer,
                start_step=steps,
            )
            steps, optimizer = log.steps, log.optimizer_state
        recalibrate_batchnorm(qat, x.first(512))
        qat.eval()
    if carry.state_out is not None:
        with clock("save"):
            saved = TrainState(candidate.key, fidelity.rung, steps, compressed, optimizer)
            save_state(carry.state_out, saved)

    with clock("export"):
        frozen = compressed.frozen().cpu().eval()  # exported and measured off the GPU
        # batch 2: a batch-1 example pins the dynamic batch
        example = x.first(2).tensor().cpu().contiguous()
        plan = candidate_precisions(candidate)
        n_calib = fidelity.calibration_images
        calib = x.first(n_calib).tensor().cpu().contiguous().numpy() if INT8 in plan else None
        deployed = export_deployable(frozen, example, plan, folder, calib)

    with clock("measure"):
        batch = eval_batch(fidelity.batch_size * 4, res, dataset.in_chans)
        acc_torch = accuracy(predict_logits(qat, x_test, batch_size=batch), y_test)
        acc_onnx = onnx_accuracy(
            deployed.path,
            (c.cpu().numpy() for c in x_test.chunks(4 * batch)),
            y_test,
            batch=batch,
        )
        latency = target.latency(deployed.path, runs=fidelity.latency_runs)
        peak = peak_activation_bytes(deployed.path, batch=1, fused_qdq=True)
        params = count_params(frozen)
        macs = count_macs(frozen, example[:1])
    low, high = wilson_interval(acc_onnx, len(y_test))
    if carry.model_out is not None:
        carry.model_out.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(carry.model_out, deployed.path.read_bytes())

    return {
        "accuracy": acc_onnx,
        "accuracy_low": low,
        "accuracy_high": high,
        "accuracy_torch": acc_torch,
        "accuracy_gap": accuracy_gap(acc_onnx, acc_torch),
        "latency_ms": latency.median_ms,
        "latency_p90_ms": latency.p90_ms,
        "latency_p10_ms": latency.p10_ms,
        "latency_low_ms": latency.bounds_ms[0],
        "latency_high_ms": latency.bounds_ms[1],
        "latency_spread": latency.spread,
        "latency_source": latency.source,
        "size_bytes": deployed.weight_bytes(),
        "onnx_bytes": deployed.path.stat().st_size,
        "onnx_fp32_bytes": deployed.float_path.stat().st_size,
        "int8": deployed.ships_as == INT8,
        "ships_as": deployed.ships_as,
        "precision_map": format_precision_map(deployed.precision_map),
        "params": params,
        "macs": macs,
        "peak_memory_bytes": peak,
        "test_images": len(y_test),
        "steps": steps,
    }, frozen


@dataclass(frozen=True)
class _Carry:
    """The saved training state an evaluation starts from, the one it leaves, where a copy
    of its deployed model goes (each None when not wanted), and the device it trains on."""

    state_in: Path | None = None
    state_out: Path | None = None
    model_out: Path | None = None
    device: torch.device = _CPU


def candidate_failure(e: BaseException) -> bool:
    """Whether `e` is the candidate's failure rather than a bug in autoedge: autoedge's own
    errors (diverged, past its limits, unsupported export), running out of memory, and what
    torch, ONNX or ONNX Runtime raise about this network (RuntimeError and their own types)."""
    if isinstance(e, NotImplementedError | RecursionError):  # RuntimeErrors of our own code
        return False
    if isinstance(e, AutoEdgeError | MemoryError | RuntimeError | FloatingPointError):
        return True
    module = type(e).__module__ or ""
    return module.split(".")[0] in ("onnx", "onnxruntime", "torch", "torch_pruning")


def _bits(candidate: Candidate) -> set[int]:
    return {b for s in candidate.stages for b in (s.weight_bits, s.act_bits)}


def candidate_precisions(candidate: Candidate) -> tuple[str, ...]:
    """Per stage, the precision `candidate` ships at (see autoedge.space.precision)."""
    return precision_map((s.weight_bits, s.act_bits) for s in candidate.stages)


def _subset(n: int, size: int, seed: int) -> np.ndarray:
    """The first `size` indices of a seeded permutation of range(n) (all of them if 0)."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:size] if 0 < size < n else order)


class _PhaseClock:
    """Wall seconds per named phase, which phase is running (for failure messages), and the
    time limit, checked on entering a phase and after every training step."""

    def __init__(self, limits: TrialLimits = NO_LIMITS) -> None:
        self.phases: dict[str, float] = {}
        self.current: str | None = None
        self.limits = limits
        self._start = time.perf_counter()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.current = name
        self.check()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round(time.perf_counter() - start, 4)
        self.current = None

    def check(self) -> None:
        """Raise TrialTimeout once the limit (if any) has passed."""
        error = self.limits.timeout_error(time.perf_counter() - self._start)
        if error is not None:
            raise error

    def step_hook(self, on_step: StepHook | None) -> StepHook | None:
        """`on_step` with the time limit checked first (None when neither is needed)."""
        if self.limits.time_s <= 0:
            return on_step

        def hook(step: int, loss: float) -> None:
            self.check()
            if on_step is not None:
                on_step(step, loss)

        return hook

    def total(self) -> float:
        return round(time.perf_counter() - self._start, 4)


@contextmanager
def _workdir(path: str | Path | None) -> Iterator[Path]:
    if path is not None:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="autoedge-eval-") as tmp:
        yield Path(tmp)


def _path(p: str | Path | None) -> Path | None:
    return None if p is None else Path(p)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else repr(e)


__all__ = ["candidate_precisions", "evaluate"]
