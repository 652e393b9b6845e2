from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoedge.errors import RunError
from autoedge.results.pareto import non_dominated, pareto_front


def test_non_dominated_2d_max_min_with_nan_and_duplicates() -> None:
    # columns: accuracy (max), latency (min)
    values = np.array(
        [
            [0.9, 10.0],  # front
            [0.8, 5.0],  # front
            [0.8, 5.0],  # duplicate of the above: kept too
            [0.7, 6.0],  # dominated by row 1
            [0.95, np.nan],  # NaN: never on the front
            [0.9, 12.0],  # dominated by row 0 (same accuracy, slower)
            [0.5, 1.0],  # front
        ]
    )
    mask = non_dominated(values, ["maximize", "minimize"])
    assert mask.tolist() == [True, True, True, False, False, False, True]


def test_non_dominated_3d() -> None:
    values = np.array(
        [
            [1.0, 2.0, 3.0],
            [2.0, 1.0, 3.0],
            [3.0, 3.0, 1.0],
            [2.0, 2.0, 3.0],  # dominated by rows 0 and 1
            [3.0, 3.0, 2.0],  # dominated by row 2
            [np.nan, 0.0, 0.0],
        ]
    )
    mask = non_dominated(values, ["minimize"] * 3)
    assert mask.tolist() == [True, True, True, False, False, False]
    # maximising everything: (2, 2, 3) beats rows 0-1 and (3, 3, 2) beats row 2
    flipped = non_dominated(values, ["maximize"] * 3)
    assert flipped.tolist() == [False, False, False, True, True, False]


def test_non_dominated_rejects_bad_direction() -> None:
    with pytest.raises(ValueError, match="direction"):
        non_dominated(np.zeros((2, 1)), ["max"])


def test_pareto_front_filters_and_sorts(make_trials) -> None:
    trials = make_trials(
        dict(accuracy=0.90, latency_ms=20.0),
        dict(accuracy=0.80, latency_ms=5.0),
        dict(state="failed", error="boom"),
        dict(accuracy=0.99, latency_ms=1.0, feasible=False),  # would dominate all: infeasible
        dict(accuracy=0.99, latency_ms=1.0, reused_from=0),  # reused duplicate: excluded
        dict(accuracy=0.70, latency_ms=6.0),  # dominated
        dict(accuracy=0.85, latency_ms=10.0, extra="opaque"),
    )
    front = pareto_front(trials, ["accuracy", "latency"])
    assert front["number"].tolist() == [1, 6, 0]
    assert list(front.columns) == list(trials.columns)
    assert front.index.tolist() == [0, 1, 2]


def test_pareto_front_feasible_only_switch(make_trials) -> None:
    trials = make_trials(
        dict(accuracy=0.9, latency_ms=20.0, feasible=False),
        dict(accuracy=0.8, latency_ms=5.0, feasible=False),
        dict(accuracy=0.7, latency_ms=9.0, feasible=False),
    )
    empty = pareto_front(trials, ["accuracy", "latency"])
    assert empty.empty and list(empty.columns) == list(trials.columns)
    loose = pareto_front(trials, ["accuracy", "latency"], feasible_only=False)
    assert loose["number"].tolist() == [1, 0]


def test_pareto_front_ties_sorted_by_accuracy_descending(make_trials) -> None:
    trials = make_trials(
        dict(accuracy=0.7, latency_ms=5.0, size_bytes=10),
        dict(accuracy=0.9, latency_ms=5.0, size_bytes=1000),
    )
    front = pareto_front(trials, ["accuracy", "latency", "size"])
    assert front["number"].tolist() == [1, 0]


def test_pareto_front_unknown_objective(make_trials) -> None:
    with pytest.raises(RunError, match="unknown objective 'speed'"):
        pareto_front(make_trials(dict()), ["accuracy", "speed"])


def test_pareto_front_property_random(make_trials) -> None:
    rng = np.random.default_rng(7)
    n = 200
    trials = pd.DataFrame(
        make_trials(
            *[
                dict(
                    accuracy=float(rng.uniform(0.3, 0.95)),
                    latency_ms=float(rng.choice([1.0, 2.0, 3.0, 5.0, 8.0, 13.0])),
                    size_bytes=int(rng.integers(1, 6) * 1000),
                    feasible=bool(rng.random() > 0.2),
                    state=str(rng.choice(["ok", "ok", "ok", "failed", "interrupted"])),
                )
                for _ in range(n)
            ]
        )
    )
    objectives = ["accuracy", "latency", "size"]
    front = pareto_front(trials, objectives)
    pool = trials[(trials["state"] == "ok") & trials["feasible"]]
    assert set(front["number"]) <= set(pool["number"])
    assert front["latency_ms"].is_monotonic_increasing
    cols = ["accuracy", "latency_ms", "size_bytes"]

    def dominates(a: pd.Series, b: pd.Series) -> bool:
        ge = a["accuracy"] >= b["accuracy"] and a["latency_ms"] <= b["latency_ms"]
        ge = ge and a["size_bytes"] <= b["size_bytes"]
        gt = (
            a["accuracy"] > b["accuracy"]
            or a["latency_ms"] < b["latency_ms"]
            or a["size_bytes"] < b["size_bytes"]
        )
        return bool(ge and gt)

    for _, f in front.iterrows():
        assert not any(dominates(p, f) for _, p in pool[cols].iterrows())
    excluded = pool[~pool["number"].isin(front["number"])]
    assert len(excluded) > 0
    for _, e in excluded.iterrows():
        assert any(dominates(f, e) for _, f in front[cols].iterrows())
