"""EvaluationSession: a lazy teacher, run-wide limits, and `portable` copies for workers."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator

import pytest
import torch

from autoedge.data import get_dataset
from autoedge.data.dataset import ImageDataset
from autoedge.errors import TeacherError
from autoedge.evaluate.fidelity import Fidelity
from autoedge.evaluate.limits import TrialLimits
from autoedge.evaluate.session import EvaluationSession
from autoedge.hardware.targets import Target, get_target
from autoedge.space import get_space, sample_candidates
from autoedge.space.candidate import Candidate

FAST = Fidelity(
    epochs=1,
    subset=200,
    finetune_epochs=0,
    finetune_subset=0,
    test_subset=200,
    calibration_images=16,
    latency_runs=5,
)


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return get_dataset("digits")


@pytest.fixture(scope="module")
def host() -> Target:
    return get_target("host")


@pytest.fixture
def torch_threads() -> Iterator[int]:
    """Sets torch to 2 threads for the test (so a limit to 1 shows) and restores it after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield 2
    finally:
        torch.set_num_threads(before)


def _candidate(kd_alpha: float = 0.0) -> Candidate:
    cand = sample_candidates(get_space("tiny"), 1, seed=1)[0]
    stages = tuple(
        dataclasses.replace(s, weight_bits=32, act_bits=32, prune=0.0, rank=1.0)
        for s in cand.stages
    )
    return dataclasses.replace(
        cand, stages=stages, kd_alpha=kd_alpha, kd_temperature=4.0 if kd_alpha else None
    )


def test_teacher_none_is_no_teacher_and_says_nothing(digits, host) -> None:
    said: list[str] = []
    session = EvaluationSession(digits, host, teacher="none", log=said.append)
    assert session.teacher() is None
    assert session.teacher() is None
    assert said == []


def test_a_candidate_that_does_not_distil_never_loads_the_teacher(digits, host, tmp_path) -> None:
    missing = str(tmp_path / "no-such-teacher.onnx")
    session = EvaluationSession(digits, host, teacher=missing)  # nothing is loaded yet
    cand = _candidate(kd_alpha=0.0)
    result = session(cand, FAST)
    assert result.ok, result.error
    assert result.key == cand.key and result.teacher is None
    assert result.target == "host" and result.latency_source == "measured"
    with pytest.raises(TeacherError, match=r"no-such-teacher\.onnx"):
        session(_candidate(kd_alpha=0.5), FAST)  # the first one that distils needs it
    with pytest.raises(TeacherError, match=r"no-such-teacher\.onnx"):
        session.portable(threads=1)  # a copy for workers is shipped with the teacher ready


def test_the_sessions_limits_apply_to_each_evaluation(digits, host) -> None:
    session = EvaluationSession(digits, host, teacher="none", limits=TrialLimits(time_s=1e-6))
    result = session(_candidate(), FAST)
    assert result.status == "failed" and not result.ok
    assert "trial time limit" in result.error and "--trial-timeout" in result.error
    # ... and to its portable copies
    copy = session.portable(threads=1)
    assert copy.limits == TrialLimits(time_s=1e-6)


def test_portable_copy_shares_the_runs_pieces_without_the_log(digits, host) -> None:
    limits = TrialLimits(time_s=600, memory_mb=0)
    session = EvaluationSession(digits, host, teacher="none", limits=limits, log=print)
    copy = session.portable(threads=1)
    assert copy is not session
    assert copy.dataset is session.dataset and copy.target is session.target
    assert copy.teacher_spec == "none" and copy.limits == limits
    assert copy.log is None  # a log hook need not (or cannot) travel to a worker
    assert copy.teacher() is None
    shipped = pickle.loads(pickle.dumps(copy))
    assert isinstance(shipped, EvaluationSession)
    assert shipped.target.name == "host" and shipped.limits == limits
    assert (shipped.dataset.test_y == digits.test_y).all()


def test_portable_threads_limit_torch_before_the_first_candidate(
    digits, host, torch_threads
) -> None:
    copy = EvaluationSession(digits, host, teacher="none").portable(threads=1)
    assert torch.get_num_threads() == torch_threads  # nothing changes until it evaluates
    result = copy(_candidate(), FAST)
    assert result.ok, result.error
    assert torch.get_num_threads() == 1


def test_portable_without_threads_leaves_torch_alone(digits, host, torch_threads) -> None:
    copy = EvaluationSession(digits, host, teacher="none").portable()
    result = copy(_candidate(), FAST)
    assert result.ok, result.error
    assert torch.get_num_threads() == torch_threads
