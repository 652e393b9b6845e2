"""Candidates: conditional genes, canonical form, stable keys, JSON and block strings."""

from __future__ import annotations

import json

import pytest

from autoedge.errors import CandidateError
from autoedge.space import (
    Candidate,
    FixedGenes,
    RandomGenes,
    check_candidate,
    get_space,
    list_spaces,
    parse_block_string,
    sample_candidate,
    sample_candidates,
)
from autoedge.space.candidate import make_candidate, make_stage


class RecordingGenes(RandomGenes):
    """Random genes that remember every gene name asked for."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.asked: list[str] = []

    def categorical(self, name, choices):
        self.asked.append(name)
        return super().categorical(name, choices)

    def integer(self, name, low, high):
        self.asked.append(name)
        return super().integer(name, low, high)

    def real(self, name, low, high, step):
        self.asked.append(name)
        return super().real(name, low, high, step)


@pytest.mark.parametrize("name", ["tiny", "mobilenetv3", "efficientnet"])
def test_only_existing_genes_are_asked(name):
    space = get_space(name)
    for seed in range(25):
        rec = RecordingGenes(seed)
        c = sample_candidate(space, rec)
        genes = c.genes()
        # every asked gene is a gene of the candidate, and asked once
        assert len(rec.asked) == len(set(rec.asked))
        assert set(rec.asked) <= set(genes)
        for i, s in enumerate(c.stages):
            for j in range(len(s.blocks), 8):
                assert not any(a.startswith(f"s{i}.b{j}.") for a in rec.asked)
            has_exp = any(a.startswith(f"s{i}.") and a.endswith(".expansion") for a in rec.asked)
            if s.block_type == "ds":
                assert not has_exp
                assert all(b.expansion is None for b in s.blocks)
            elif len(space.stages[i].expansion.values) > 1:
                assert has_exp
        assert ("kd_temperature" in rec.asked) == (c.kd_alpha > 0)
        check_candidate(c, space)


def test_depth_varies_and_blocks_follow():
    space = get_space("tiny")
    depths = {c.stages[2].depth for c in sample_candidates(space, 60, seed=3)}
    assert depths == {1, 2, 3}


@pytest.mark.parametrize("name", ["tiny", "mobilenetv3", "efficientnet"])
def test_json_round_trip_and_replay(name):
    space = get_space(name)
    for c in sample_candidates(space, 20, seed=7):
        again = Candidate.loads(json.dumps(c.to_json()))
        assert again == c
        assert again.key == c.key
        assert sample_candidate(space, FixedGenes(c.genes())) == c


def test_same_seed_same_candidates_and_keys_differ():
    space = get_space("mobilenetv3")
    a = sample_candidates(space, 30, seed=11)
    b = sample_candidates(space, 30, seed=11)
    assert [c.key for c in a] == [c.key for c in b]
    assert len({c.key for c in a}) == 30


def _stage(**kw):
    args = dict(
        block_type="ir",
        stride=2,
        width=24,
        activation="relu",
        blocks=[(3, 6, 0.25), (3, 6, 0.25)],
        prune=0.25,
        weight_bits=8,
        act_bits=8,
        rank=1.0,
    )
    args.update(kw)
    return make_stage(**args)


def _cand(**kw):
    args = dict(
        resolution=32,
        stem_width=16,
        head_width=64,
        kd_alpha=0.5,
        kd_temperature=4.0,
        stages=[_stage(block_type="ds", stride=1, width=16, blocks=[(3, None, 0.0)]), _stage()],
    )
    args.update(kw)
    return make_candidate(**args)


def test_key_is_stable_across_machines():
    # a golden value: the canonical form and its hash must not drift silently
    assert _cand().key == "9357e7ca0c2ebcd4"
    assert _cand(space="tiny").key == _cand(space="other").key  # metadata is not in the key


def test_no_temperature_without_distillation():
    a = _cand(kd_alpha=0.0, kd_temperature=4.0)
    b = _cand(kd_alpha=0.0, kd_temperature=7.0)
    assert a.kd_temperature is None
    assert a == b and a.key == b.key
    assert _cand(kd_temperature=4.0).key != _cand(kd_temperature=7.0).key


def test_ds_blocks_drop_expansion():
    a = _cand(stages=[_stage(block_type="ds", blocks=[(3, 6, 0.0)])])
    b = _cand(stages=[_stage(block_type="ds", blocks=[(3, 3, 0.0)])])
    assert a == b and a.key == b.key


def test_float_noise_is_canonical():
    a = _cand(stages=[_stage(prune=0.1 * 3)])
    b = _cand(stages=[_stage(prune=0.3)])
    assert a.key == b.key


def test_every_gene_changes_the_key():
    base = _cand()
    variants = [
        _cand(resolution=48),
        _cand(stem_width=8),
        _cand(head_width=32),
        _cand(kd_alpha=0.25),
        _cand(stages=[_stage(prune=0.5)]),
        _cand(stages=[_stage(rank=0.5)]),
        _cand(stages=[_stage(weight_bits=4)]),
        _cand(stages=[_stage(act_bits=32)]),
        _cand(stages=[_stage(activation="hard_swish")]),
        _cand(stages=[_stage(width=32)]),
        _cand(stages=[_stage(blocks=[(5, 6, 0.25), (3, 6, 0.25)])]),
        _cand(stages=[_stage(blocks=[(3, 6, 0.25)])]),
        _cand(stages=[_stage(block_type="er")]),
    ]
    keys = {v.key for v in variants}
    assert base.key not in keys and len(keys) == len(variants)


def test_block_strings_merge_equal_blocks_and_parse_back():
    c = _cand(stages=[_stage(blocks=[(5, 6, 0.25), (3, 6, 0.25), (3, 6, 0.25)])])
    (strings,) = c.block_strings()
    assert strings == ["ir_r1_k5_s2_e6_c24_se0.25_nre", "ir_r2_k3_s1_e6_c24_se0.25_nre"]
    first = parse_block_string(strings[0])
    assert (first.kernel, first.stride, first.expansion, first.out_channels, first.se) == (
        5,
        2,
        6.0,
        24,
        0.25,
    )
    ds = _cand(stages=[_stage(block_type="ds", blocks=[(3, None, 0.0)], activation="hard_swish")])
    assert ds.block_strings() == [["ds_r1_k3_s2_c24_nhs"]]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(resolution="big"), "resolution"),
        (lambda d: d.update(colour=1), "unknown field"),
        (lambda d: d.pop("stages"), "missing field 'stages'"),
        (lambda d: d["stages"][0].update(block_type="transformer"), "s0.block_type"),
        (lambda d: d["stages"][1].update(weight_bits=9), "s1.weight_bits"),
        (lambda d: d["stages"][1].update(prune=1.0), "s1.prune"),
        (lambda d: d["stages"][1].update(blocks=[]), "s1.blocks"),
        (lambda d: d["stages"][0]["blocks"][0].update(expansion=6), "no expansion"),
        (lambda d: d["stages"][1]["blocks"][0].update(expansion=None), "s1.b0.expansion"),
        (lambda d: d["stages"][1]["blocks"][0].update(kernel=4), "s1.b0.kernel"),
        (lambda d: d.update(kd_alpha=0.0), "kd_temperature"),
        (lambda d: d.update(kd_temperature=None), "kd_temperature"),
        (lambda d: d["stages"][1].update(prune="0.3"), "stages[1]"),
    ],
)
def test_malformed_candidate_json(mutate, expected):
    data = _cand().to_json()
    mutate(data)
    with pytest.raises(CandidateError) as e:
        Candidate.from_json(data)
    assert expected in str(e.value)


def test_invalid_json_text():
    with pytest.raises(CandidateError, match="not valid JSON"):
        Candidate.loads("{not json")


def test_check_candidate_names_the_gene_outside_the_space():
    space = get_space("tiny")
    c = sample_candidates(space, 1, seed=0)[0]
    data = c.to_json()
    data["stages"][1]["width"] = 40
    with pytest.raises(CandidateError, match=r"s1\.width = 40 is not in space 'tiny'"):
        check_candidate(Candidate.from_json(data), space)
    data = c.to_json()
    data["stages"] = data["stages"][:2]
    with pytest.raises(CandidateError, match="has 2 stages but space 'tiny' has 3"):
        check_candidate(Candidate.from_json(data), space)
    other = sample_candidates(get_space("mobilenetv3"), 1, seed=0)[0]
    with pytest.raises(CandidateError):
        check_candidate(other, space)


def test_every_bundled_space_is_listed_here():
    assert set(list_spaces()) == {"tiny", "mobilenetv3", "efficientnet"}
