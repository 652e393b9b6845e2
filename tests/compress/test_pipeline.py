"""The candidate's compression genes applied together, and the network key."""

from __future__ import annotations

import dataclasses

import torch

from autoedge.compress.build import build_model, example_input
from autoedge.compress.pipeline import CompressionPlan, compress
from autoedge.compress.quant import QuantConv2d
from autoedge.compress.stats import count_macs, model_stats
from autoedge.space import get_space, sample_candidates
from autoedge.space.candidate import Candidate


def _with_stage(cand: Candidate, i: int, **genes) -> Candidate:
    stages = list(cand.stages)
    stages[i] = dataclasses.replace(stages[i], **genes)
    return dataclasses.replace(cand, stages=tuple(stages))


def _base() -> Candidate:
    cand = sample_candidates(get_space("tiny"), 1, seed=1)[0]
    for i in range(len(cand.stages)):
        cand = _with_stage(cand, i, prune=0.0, rank=1.0, weight_bits=32, act_bits=32)
    return cand


def _compressed(cand: Candidate):
    model = build_model(cand, in_chans=1, num_classes=10)
    x = example_input(cand, 1)
    return model, x, compress(model, cand, x)


def test_plan_covers_stem_stages_and_head():
    cand = _with_stage(_base(), 0, weight_bits=4, act_bits=8)
    cand = _with_stage(cand, 2, rank=0.5, weight_bits=6, act_bits=16)
    plan = CompressionPlan.from_candidate(cand)
    assert plan.bits["conv_stem"] == (4, 8)
    assert plan.bits["conv_head"] == plan.bits["classifier"] == (6, 16)
    assert plan.rank["conv_head"] == 0.5
    assert set(plan.prune) == {"conv_stem", "blocks.0", "blocks.1", "blocks.2"}


def test_uncompressed_candidate_is_unchanged():
    model, x, cm = _compressed(_base())
    assert model_stats(cm.frozen(), x) == model_stats(model, x)
    assert cm.factorized == ()
    assert all((layer.weight_bits, layer.act_bits) == (32, 32) for layer in cm.quant_plan.layers)
    # fp32: 4 bytes per parameter
    assert cm.weight_bytes() == 4 * sum(p.numel() for p in model.parameters())


def test_pruning_removes_parameters_and_macs():
    base = _base()
    pruned = _with_stage(_with_stage(base, 1, prune=0.5), 2, prune=0.5)
    model, x, cm = _compressed(pruned)
    frozen = cm.frozen()
    assert sum(p.numel() for p in frozen.parameters()) < sum(p.numel() for p in model.parameters())
    assert count_macs(frozen, x) < count_macs(model, x)
    assert frozen(x).shape == model(x).shape


def test_low_rank_and_bits_shrink_weight_bytes():
    base = _base()
    _, _, plain = _compressed(base)
    cand = base
    for i in range(len(base.stages)):
        cand = _with_stage(cand, i, weight_bits=8, act_bits=8)
    _, _, int8 = _compressed(cand)
    assert int8.weight_bytes() < 0.4 * plain.weight_bytes()
    assert any(isinstance(m, QuantConv2d) for m in int8.model.modules())
    low = _with_stage(base, 2, rank=0.5)
    _, _, lr = _compressed(low)
    if lr.factorized:
        assert lr.weight_bytes() < plain.weight_bytes()


def test_network_key_identifies_the_built_network():
    base = _base()
    # stage 0's pointwise convs are 16 wide: a rank ratio of 0.9 (rank 14) would add
    # parameters, so low-rank is not applied -- the genes differ, the network is the same,
    # and the network key says so.
    same = _with_stage(base, 0, rank=0.9)
    other = _with_stage(base, 0, prune=0.5)
    assert base.stages[0].width == 16
    k_base = _compressed(base)[2].network_key
    k_same = _compressed(same)[2].network_key
    k_other = _compressed(other)[2].network_key
    assert base.key != same.key
    assert k_base == k_same
    assert k_other != k_base
    # bits are part of the network
    k_bits = _compressed(_with_stage(base, 1, weight_bits=8))[2].network_key
    assert k_bits != k_base
    # the key does not depend on the random weights
    torch.manual_seed(123)
    assert _compressed(base)[2].network_key == k_base
