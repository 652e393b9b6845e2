"""The successive-halving schedule and its promotion rule (search/asha.py), on small cases
whose answer is known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoedge.errors import SearchError
from autoedge.evaluate.fidelity import DEFAULT_FIDELITY, Fidelity
from autoedge.search.asha import (
    RUNG0_FIDELITY,
    TOP_FINETUNE_EPOCHS,
    RungResult,
    RungSchedule,
    crowding_distance,
    decide,
    iter_fronts,
    promotion_order,
)


def test_rungs_grow_by_eta_and_the_top_rung_uses_the_whole_test_split() -> None:
    schedule = RungSchedule(rungs=3, eta=3)
    base = DEFAULT_FIDELITY
    assert schedule.fidelity(base, 0) == base
    r1, r2 = schedule.fidelity(base, 1), schedule.fidelity(base, 2)
    assert (r1.rung, r1.subset, r1.finetune_subset, r1.test_subset) == (1, 10500, 10500, 6000)
    assert (r2.rung, r2.subset, r2.test_subset) == (2, 31500, 0)
    assert r1.finetune_epochs == base.finetune_epochs
    all_images = schedule.fidelity(Fidelity(subset=0, finetune_epochs=0), 1)
    assert all_images.subset == 0 and all_images.finetune_epochs == 1  # a rung always trains
    assert "rung 2: 2 more fine-tune epochs x 31500 images" in schedule.describe(base)
    assert RungSchedule(rungs=1).describe(base) == "1 rung (single fidelity)"
    with pytest.raises(ValueError):
        schedule.fidelity(base, 3)


@pytest.mark.parametrize(("rungs", "eta"), [(0, 3), (7, 3), (3, 1), (True, 3), (3, 2.5)])
def test_a_bad_schedule_is_refused_by_name(rungs, eta) -> None:
    with pytest.raises(SearchError, match=r"--rungs|--eta"):
        RungSchedule(rungs=rungs, eta=eta)


def test_top_ceil_n_over_eta_is_promotable() -> None:
    schedule = RungSchedule(3, 3)
    assert [schedule.promotable(n) for n in (1, 2, 3, 4, 6, 7, 9)] == [1, 1, 1, 2, 2, 3, 3]


def test_non_dominated_fronts_peel_in_order() -> None:
    # minimised: (1,4) (2,2) (4,1) are the first front; (3,3) is beaten by (2,2); (5,5) by all
    points = np.array([[1, 4], [3, 3], [2, 2], [5, 5], [4, 1]], dtype=float)
    assert list(iter_fronts(points)) == [[0, 2, 4], [1], [3]]
    same = np.array([[1, 1], [1, 1]], dtype=float)  # equal points do not dominate each other
    assert list(iter_fronts(same)) == [[0, 1]]


def test_crowding_distance_prefers_lonely_points() -> None:
    points = np.array([[0, 10], [1, 9], [5, 5], [10, 0]], dtype=float)
    d = crowding_distance(points)
    assert math.isinf(d[0]) and math.isinf(d[3])
    assert d[2] > d[1]  # (5,5) has more room around it than (1,9)


def test_order_feasible_fronts_then_infeasible_by_violation_then_failed() -> None:
    results = [
        RungResult(0, (-0.90, 1.0)),  # first front
        RungResult(1, (-0.80, 2.0)),  # dominated by 0
        RungResult(2, (-0.95, 3.0)),  # first front
        RungResult(3, (-0.99, 0.5), violation=0.5),
        RungResult(4, (-0.99, 0.5), violation=0.1),
        RungResult(5, None),
    ]
    order = promotion_order(results)
    assert set(order[:2]) == {0, 2} and order[2:] == [1, 4, 3, 5]


def test_boundary_ties_go_to_the_balanced_point_not_the_oldest() -> None:
    # three mutually non-dominated points, all boundary points (crowding infinite): the later
    # trial 7, best on average over the scaled objectives, must come first
    results = [
        RungResult(0, (-0.80, 1.0, 10.0)),
        RungResult(1, (-0.95, 4.0, 50.0)),
        RungResult(7, (-0.93, 1.2, 5.0)),
    ]
    assert promotion_order(results)[0] == 7


def test_decide_promotes_within_the_top_share_and_never_a_failure() -> None:
    schedule = RungSchedule(3, 3)
    first = [RungResult(0, (-0.5, 1.0))]
    assert decide(first, 0, schedule).promoted  # top 1 of 1
    results = [RungResult(i, (-0.5 - i / 100, 1.0)) for i in range(6)]  # 5 best, 0 worst
    assert decide(results, 5, schedule) == decide(results, 5, schedule)
    d5, d3 = decide(results, 5, schedule), decide(results, 3, schedule)
    assert (d5.promoted, d5.rank, d5.of) == (True, 1, 6)
    assert (d3.promoted, d3.rank) == (False, 3)  # ceil(6/3) = 2 places
    assert not decide([RungResult(9, None)], 9, schedule).promoted


def test_the_quota_refuses_a_promotion_once_ceil_n_over_eta_were_promoted() -> None:
    schedule = RungSchedule(3, 3)
    # 0 was promoted as the first of its rung; 1 and 2 came worse; 3 is the best so far
    seen = [RungResult(i, (-0.5 - i / 100, 1.0)) for i in range(3)]
    seen[0] = RungResult(0, (-0.5, 1.0), promoted=True)
    newcomer = RungResult(3, (-0.9, 1.0))
    full = decide([*seen, newcomer], 3, schedule)  # 4 results: 2 places, 1 taken
    assert (full.promoted, full.rank) == (True, 1)
    both = [seen[0], RungResult(1, (-0.51, 1.0), promoted=True), seen[2], newcomer]
    refused = decide(both, 3, schedule)  # 2 places, both taken
    assert (refused.promoted, refused.rank, refused.of) == (False, 1, 4)
    # a fifth result opens no place (ceil(5/3) = 2); a seventh does (ceil(7/3) = 3)
    best = RungResult(6, (-0.99, 1.0))
    assert not decide([*both, best], 6, schedule).promoted
    weaker = [RungResult(4, (-0.2, 1.0)), RungResult(5, (-0.2, 2.0))]
    assert decide([*both, *weaker, best], 6, schedule).promoted


def test_the_top_rung_fine_tunes_longer() -> None:
    schedule = RungSchedule(3, 3)
    base = RUNG0_FIDELITY
    assert schedule.fidelity(base, 1).finetune_epochs == max(1, base.finetune_epochs)
    assert schedule.fidelity(base, 2).finetune_epochs == max(
        TOP_FINETUNE_EPOCHS, base.finetune_epochs
    )
    assert base.finetune_epochs < TOP_FINETUNE_EPOCHS  # the default does spend more there


def test_decide_ranks_as_the_full_order_does() -> None:
    rng = np.random.default_rng(0)
    schedule = RungSchedule(3, 3)
    for _ in range(30):
        n = int(rng.integers(1, 40))
        results = [
            RungResult(i, None)
            if rng.random() < 0.1
            else RungResult(i, tuple(rng.integers(0, 5, 3).tolist()), float(rng.random() < 0.2))
            for i in range(n)
        ]
        order = promotion_order(results)
        assert sorted(order) == list(range(n))
        for number in range(n):
            d = decide(results, number, schedule)
            assert (d.rank, d.of) == (order.index(number) + 1, n)
