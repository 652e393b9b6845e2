"""RunConfig, objectives and constraints: validation, JSON round trip, resume rules."""

from __future__ import annotations

from datetime import datetime

import pytest

from autoedge.errors import SearchError
from autoedge.evaluate.result import EvalResult, failed_result
from autoedge.search import Constraints, RunConfig, default_out, parse_objectives
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
    assert c.fidelity.subset == 3500  # unspecified fidelity fields keep their defaults
    assert RunConfig.from_json(c.to_json()) == c
    with pytest.raises(SearchError, match="--budget"):
        RunConfig(out="x", budget=0)
    with pytest.raises(SearchError, match="unknown sampler"):
        RunConfig(out="x", sampler="cmaes")
    with pytest.raises(SearchError, match="unknown run settings"):
        RunConfig.from_json({**c.to_json(), "colour": "red"})


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
