"""inspect_candidate: counts before/after compression and a real ONNX Runtime check."""

from __future__ import annotations

import dataclasses

from autoedge.evaluate.inspection import inspect_candidate
from autoedge.space import Candidate, get_space, sample_candidates


def test_report_on_tiny_candidates():
    for cand in sample_candidates(get_space("tiny"), 3, seed=3):
        r = inspect_candidate(cand, in_chans=1, num_classes=10)
        assert r.key == cand.key
        assert Candidate.from_json(r.candidate) == cand
        assert r.arch == cand.block_strings()
        assert r.onnx_ok, r.onnx_error
        assert r.onnx_max_abs_diff is not None and r.onnx_max_abs_diff < 1e-3
        assert r.params_compressed <= r.params_pruned <= r.params
        assert r.macs_compressed <= r.macs
        if any(s.prune > 0 for s in cand.stages) and r.params_pruned < r.params:
            assert r.macs_pruned < r.macs
        if all(s.weight_bits <= 8 for s in cand.stages):
            assert r.weight_bytes < r.weight_bytes_fp32 / 2


def test_uncompressed_candidate_reports_equal_counts():
    cand = sample_candidates(get_space("tiny"), 1, seed=0)[0]
    stages = tuple(
        dataclasses.replace(s, prune=0.0, rank=1.0, weight_bits=32, act_bits=32)
        for s in cand.stages
    )
    r = inspect_candidate(dataclasses.replace(cand, stages=stages), in_chans=3, num_classes=5)
    assert r.params == r.params_pruned == r.params_compressed
    assert r.macs == r.macs_compressed
    assert r.weight_bytes == r.weight_bytes_fp32
    assert r.factorized_layers == 0
    assert r.onnx_ok
