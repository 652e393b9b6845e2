"""RunConfig, objectives and constraints: validation, JSON round trip, resume rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from autoedge.errors import SearchError
from autoedge.evaluate.fidelity import DEFAULT_FIDELITY
from autoedge.evaluate.result import EvalResult, failed_result
from autoedge.search import Constraints, RunConfig, default_out, parse_objectives
from autoedge.search.asha import RUNG0_FIDELITY
from autoedge.search.objectives import objective_values


def test_objectives_parse_and_reject():
    assert parse_objectives("accuracy, latency,memory") == ("accuracy", "latency", "memory")
    for bad, needle in [
        ("accuracy,speed", "unknown objective 'speed'"),
        ("latency,size", "must include accuracy"),
        ("accuracy", "at least one cost"),
        ("accuracy,latency,latency", "twice"),
    ]:
        with pytest.raises(SearchError, match=needle):
            parse_objectives(bad)


def result(**kw) -> EvalResult:
    base = {"accuracy": 0.9, "latency_ms": 2.0, "size_bytes": 50_000, "peak_memory_bytes": 8000}
    return EvalResult(key="k", status="ok", **{**base, **kw})


def test_constraints_violations_follow_optuna_sign():
    c = Constraints(max_latency_ms=1.0, max_size_kb=100, min_accuracy=0.95)
    v = c.violations(result())
    assert v["max_latency_ms"] == pytest.approx(1.0)  # 2 ms is 100% over 1 ms
    assert v["max_size_kb"] == pytest.approx(-0.5)  # 50 kB of 100 kB (kB = 1000 B)
    assert v["min_accuracy"] == pytest.approx((0.95 - 0.9) / 0.95)
    assert not c.satisfied(result())
    assert c.satisfied(result(latency_ms=0.5, accuracy=0.96))
    assert all(x == 1.0 for x in c.violations(failed_result("k", "boom")).values())
    assert not Constraints().active and Constraints().satisfied(result())


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"max_latency_ms": -1.0}, "--max-latency-ms must be > 0"),
        ({"max_size_kb": 0}, "--max-size-kb must be > 0"),
        ({"min_accuracy": 85}, "fraction"),
        ({"max_memory_kb": float("nan")}, "--max-memory-kb"),
    ],
)
def test_constraints_reject_bad_bounds(kw, needle):
    with pytest.raises(SearchError, match=needle):
        Constraints(**kw)


def test_objective_values_in_order_and_none_when_missing():
    assert objective_values(("accuracy", "size"), result()) == [0.9, 50_000.0]
    assert objective_values(("accuracy", "latency"), result(latency_ms=None)) is None


def test_config_json_round_trip_and_validation():
    c = RunConfig.from_options(
        "/tmp/r", {"budget": 5, "constraints": {"max_latency_ms": 2}, "fidelity": {"epochs": 1}}
    )
    assert c.constraints.max_latency_ms == 2 and c.fidelity.epochs == 1
    assert c.fidelity.subset == 2000  # unspecified fidelity fields keep rung 0's defaults
    assert RunConfig.from_json(c.to_json()) == c
    with pytest.raises(SearchError, match="--budget"):
        RunConfig(out="x", budget=0)
    with pytest.raises(SearchError, match="unknown sampler"):
        RunConfig(out="x", sampler="cmaes")
    with pytest.raises(SearchError, match="unknown run settings"):
        RunConfig.from_json({**c.to_json(), "colour": "red"})


def test_rung_zero_is_cheaper_than_a_single_fidelity_run_unless_the_run_names_it():
    multi, single = RunConfig(out="x"), RunConfig(out="x", rungs=1)
    assert multi.fidelity == RUNG0_FIDELITY and single.fidelity == DEFAULT_FIDELITY
    assert multi.fidelity.subset < single.fidelity.subset
    assert multi.fidelity.finetune_epochs < single.fidelity.finetune_epochs
    assert RunConfig.from_options("/tmp/r", {"rungs": 1}).fidelity == DEFAULT_FIDELITY
    named = RunConfig.from_options("/tmp/r", {"fidelity": {"subset": 300}})
    assert named.fidelity == replace(RUNG0_FIDELITY, subset=300)
    stored = RunConfig.from_json({**single.to_json(), "rungs": 3})
    assert stored.fidelity == DEFAULT_FIDELITY  # a stored run keeps the fidelity it ran


def test_resume_changes_only_budget_and_refine():
    stored = RunConfig.from_options(
        "/tmp/r", {"space": "tiny", "constraints": {"min_accuracy": 0.5}}
    )
    more = stored.resumed_with({"budget": 400, "refine": 2, "space": "tiny"})
    assert (more.budget, more.refine, more.space) == (400, 2, "tiny")
    # a bound given again with its stored value is no change
    same = stored.resumed_with({"constraints": {"min_accuracy": 0.5}})
    assert same.constraints == stored.constraints
    with pytest.raises(SearchError, match="--space mobilenetv3 differs from the run's tiny"):
        stored.resumed_with({"space": "mobilenetv3"})
    with pytest.raises(SearchError, match="--constraints"):
        stored.resumed_with({"constraints": {"max_latency_ms": 1}})


def test_default_out_is_a_safe_folder_name():
    when = datetime(2026, 11, 21, 9, 5, 7)
    assert default_out("host", when).endswith("runs/20261121-090507-host")
    assert default_out("agent:10.0.0.2:8080", when).endswith("20261121-090507-agent_10.0.0.2_8080")


# --- plan_run: every check, once, for Python callers too (no CLI) -------------------------


def test_plan_run_refuses_ray_settings_of_another_backend(tmp_path):
    from autoedge.search import plan_run

    out = tmp_path / "r"
    with pytest.raises(SearchError) as e:
        plan_run({"backend": "random", "cpus_per_trial": 2}, out=str(out))
    assert str(e.value) == (
        "--cpus-per-trial is a setting of --backend ray; this run uses --backend random"
    )
    assert not out.exists()  # checked before anything is written
    # A ready RunConfig counts its non-default ray settings as given.
    from autoedge.search.planning import plan_config

    with pytest.raises(SearchError, match="--gpus-per-trial is a setting of --backend ray"):
        plan_config(RunConfig(out=str(out), backend="optuna", gpus_per_trial=1.0))


def test_plan_run_narrows_the_space_to_the_target_bits_once(tmp_path):
    from autoedge.search import RunPlan, plan_run

    asked = []

    def bits(config: RunConfig) -> set[int]:
        asked.append(config.target)
        return {8, 32}

    plan = plan_run(
        {"space": "tiny", "target": "rpi4"}, out=str(tmp_path / "r"), executable_bits=bits
    )
    assert isinstance(plan, RunPlan) and not plan.resumed
    assert asked == ["rpi4"]  # asked once, with the settled config
    assert plan.dropped_bits == (4,)  # tiny's weight_bits [4, 8, 32]
    assert all(4 not in s.axis("weight_bits").values for s in plan.space.stages)
    config, resumed = plan  # unpacks as plan_run's (config, resumed) did
    assert config is plan.config and resumed is False
    same = plan_run({"space": "tiny"}, out=str(tmp_path / "r"), executable_bits=[4, 8, 32])
    assert same.dropped_bits == ()
    from autoedge.errors import SpaceError

    with pytest.raises(SpaceError, match="target host executes \\[16\\]-bit tensors only"):
        plan_run({"space": "tiny"}, out=str(tmp_path / "r"), executable_bits={16})


def test_run_search_stores_the_planned_space(tmp_path, monkeypatch):
    import json

    import autoedge.search.planning as planning
    from autoedge.search import plan_run, run_search
    from autoedge.space import Candidate, load_space_text

    calls = []
    restrict = planning.restrict_bits

    def counted(*args, **kwargs):
        calls.append(1)
        return restrict(*args, **kwargs)

    monkeypatch.setattr(planning, "restrict_bits", counted)

    def score(cand: Candidate, fidelity, **states) -> EvalResult:
        metrics = {"accuracy": 0.9, "latency_ms": 2.0, "size_bytes": 50_000}
        return EvalResult(key=cand.key, status="ok", candidate=cand.to_json(), **metrics)

    options = {"space": "tiny", "budget": 1, "workers": 1, "warm_start": False}
    plan = plan_run(options, out=str(tmp_path / "r"), executable_bits={8, 32})
    with pytest.raises(TypeError, match="plan_run"):
        run_search(plan, score, executable_bits={8, 32})
    summary = run_search(plan, score)
    assert summary.done == 1 and calls == [1]  # narrowed once, by plan_run
    stored = json.loads((tmp_path / "r" / "run.json").read_text())["space_yaml"]
    assert load_space_text(stored, "run.json") == plan.space
    again = plan_run({"budget": 2}, out=str(tmp_path / "r"), executable_bits={8, 32})
    assert again.resumed and again.dropped_bits == () and calls == [1]
    assert again.space == plan.space  # a resumed run searches its stored space
