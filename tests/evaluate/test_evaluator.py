"""evaluate(): a real tiny candidate trained, compressed, exported and measured in ORT."""

from __future__ import annotations

import dataclasses
import json

import pytest

from autoedge.compress.deployable import initializer_bytes
from autoedge.data import get_dataset
from autoedge.evaluate import EvalResult, Fidelity, evaluate
from autoedge.space import get_space, sample_candidates
from autoedge.space.candidate import Candidate
from autoedge.space.presets import baseline_candidate

FAST = Fidelity(
    epochs=3, subset=0, finetune_epochs=1, finetune_subset=400, test_subset=0, latency_runs=5
)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits")


def _candidate(bits: int, seed: int = 1) -> Candidate:
    cand = sample_candidates(get_space("tiny"), 1, seed=seed)[0]
    stages = tuple(
        dataclasses.replace(s, weight_bits=bits, act_bits=bits, prune=0.0, rank=1.0)
        for s in cand.stages
    )
    return dataclasses.replace(cand, stages=stages, kd_alpha=0.0, kd_temperature=None)


def test_float_candidate_is_measured_on_its_onnx(digits, tmp_path):
    cand = _candidate(32)
    r = evaluate(cand, digits, fidelity=FAST, workdir=tmp_path)
    assert r.ok, r.error
    assert r.key == cand.key and Candidate.from_json(r.candidate) == cand
    assert r.accuracy is not None and r.accuracy > 0.6
    assert abs(r.accuracy - r.accuracy_torch) < 0.01 and r.accuracy_gap is False
    assert r.test_images == len(digits.test_y)
    assert r.latency_source == "measured" and r.latency_ms > 0
    assert r.int8 is False and r.ships_as == "fp32"
    assert r.onnx_bytes == (tmp_path / "model.onnx").stat().st_size
    assert r.size_bytes == initializer_bytes(tmp_path / "model.onnx") <= r.onnx_bytes
    assert 3.5 * r.params <= r.size_bytes <= 4 * r.params  # fp32, batch norms folded away
    assert r.macs > 0 and r.peak_memory_bytes >= 4 * 32 * 32  # at least the input image
    assert set(r.phase_s) == {"prepare", "train", "compress", "finetune", "export", "measure"}
    assert r.wall_s >= sum(r.phase_s.values()) * 0.99
    again = EvalResult.from_json(json.loads(json.dumps(r.to_json())))
    assert again == r


def test_all_eight_bit_candidate_ships_int8(digits, tmp_path):
    # A MobileNetV3-Small-like network: big enough that weights dominate the ONNX file.
    cand = baseline_candidate("mobilenetv3-small-int8", get_space("mobilenetv3"))
    cand = dataclasses.replace(cand, resolution=48, kd_alpha=0.0, kd_temperature=None)
    # Recovered as the default fidelity does: two fine-tune epochs over the training images.
    fid = dataclasses.replace(FAST, finetune_epochs=2, finetune_subset=0)
    r = evaluate(cand, digits, fidelity=fid, workdir=tmp_path)
    assert r.ok, r.error
    assert r.int8 is True and r.ships_as == "int8"
    assert set(r.precision_map.split("|")) == {"int8"}
    assert (tmp_path / "model.onnx").stat().st_size == r.onnx_bytes
    assert r.onnx_bytes < 0.35 * r.onnx_fp32_bytes
    assert r.accuracy > 0.5
    assert abs(r.accuracy - r.accuracy_torch) <= 0.03  # ORT int8 vs fake-quant PyTorch
    # one byte per weight, plus per output channel an fp32 scale, an int8 zero point and an
    # int32 bias: the initializers of the file, as stored
    assert r.size_bytes == initializer_bytes(tmp_path / "model.onnx")
    assert r.params < r.size_bytes < 1.3 * r.params


def test_diverging_training_comes_back_failed(digits):
    cand = _candidate(32)
    r = evaluate(cand, digits, fidelity=dataclasses.replace(FAST, lr=1e12))
    assert r.status == "failed" and not r.ok
    assert r.error.startswith("train: TrainingError: training diverged")
    assert r.accuracy is None and r.latency_ms is None
    assert "train" in r.phase_s


def test_a_crash_inside_a_phase_is_reported_not_raised(digits):
    def boom(step: int, loss: float) -> None:
        if step == 3:
            raise MemoryError("simulated out-of-memory")

    r = evaluate(_candidate(32), digits, fidelity=FAST, on_step=boom)
    assert r.status == "failed"
    assert r.error == "train: MemoryError: simulated out-of-memory"


def test_same_seed_same_result(digits):
    cand = _candidate(32, seed=4)
    fid = dataclasses.replace(FAST, epochs=1)
    a, b = evaluate(cand, digits, fidelity=fid), evaluate(cand, digits, fidelity=fid)
    assert a.accuracy == b.accuracy and a.accuracy_torch == b.accuracy_torch


def test_a_bug_in_autoedge_is_an_error_with_its_traceback_not_a_failed_candidate(
    digits, monkeypatch
):
    def bug(step: int, loss: float) -> None:
        if step == 2:
            raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.delenv("AUTOEDGE_STRICT", raising=False)
    r = evaluate(_candidate(32), digits, fidelity=FAST, on_step=bug)
    assert r.status == "error" and not r.ok
    assert r.error == "train: TypeError: unsupported operand type(s) for +: 'int' and 'str'"
    assert "Traceback" in r.traceback and "def bug" not in r.error
    assert EvalResult.from_json(json.loads(json.dumps(r.to_json()))) == r
    monkeypatch.setenv("AUTOEDGE_STRICT", "1")  # the test suite's setting: bugs raise
    with pytest.raises(TypeError, match="unsupported operand"):
        evaluate(_candidate(32), digits, fidelity=FAST, on_step=bug)
