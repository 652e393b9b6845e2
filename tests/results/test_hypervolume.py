from __future__ import annotations

import itertools

import numpy as np
import pytest

from autoedge.errors import RunError
from autoedge.results.hypervolume import accuracy_latency_hypervolume, hypervolume


def test_empty_and_outside_points_give_zero() -> None:
    assert hypervolume(np.empty((0, 2)), np.array([1.0, 1.0])) == 0.0
    # on the reference boundary or beyond it: nothing
    assert hypervolume(np.array([[1.0, 0.0], [2.0, 0.5], [0.5, 1.0]]), np.array([1.0, 1.0])) == 0.0
    assert hypervolume(np.array([[np.nan, 0.0]]), np.array([1.0, 1.0])) == 0.0


def test_2d_rectangles_by_hand() -> None:
    ref = np.array([4.0, 4.0])
    assert hypervolume(np.array([[1.0, 1.0]]), ref) == pytest.approx(9.0)
    # staircase (1,3), (2,2), (3,1): 3*1 + 2*1 + 1*1 ... by columns: x in [1,2):1, [2,3):2, [3,4):3
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(pts, ref) == pytest.approx(1 + 2 + 3)
    # a dominated point and a duplicate change nothing
    more = np.vstack([pts, [[2.5, 2.5], [2.0, 2.0]]])
    assert hypervolume(more, ref) == pytest.approx(6.0)


def test_3d_unit_cubes() -> None:
    ref = np.ones(3)
    assert hypervolume(np.zeros((1, 3)), ref) == pytest.approx(1.0)
    assert hypervolume(np.array([[0.5, 0.5, 0.5]]), ref) == pytest.approx(0.125)
    # two boxes [0,1]x[0.5,1]x[0,1] and [0.5,1]x[0,1]x[0,1] overlap in a quarter
    pts = np.array([[0.0, 0.5, 0.0], [0.5, 0.0, 0.0]])
    assert hypervolume(pts, ref) == pytest.approx(0.75)


def _grid_count(points: np.ndarray, ref: np.ndarray) -> int:
    """Unit cells [c, c+1) below ref dominated by some point (integer coordinates)."""
    count = 0
    for cell in itertools.product(*[range(int(r)) for r in ref]):
        c = np.array(cell, dtype=float)
        if any((p <= c).all() for p in points):
            count += 1
    return count


@pytest.mark.parametrize("dims", [2, 3, 4])
def test_matches_grid_count_on_integer_points(dims: int) -> None:
    rng = np.random.default_rng(dims)
    ref = np.full(dims, 6.0)
    pts = rng.integers(0, 7, size=(12, dims)).astype(float)  # some on/over the reference
    assert hypervolume(pts, ref) == pytest.approx(_grid_count(pts, ref))


def test_accuracy_latency_hypervolume_by_hand(make_trials) -> None:
    trials = make_trials(
        dict(accuracy=0.5, latency_ms=2.0),  # error 0.5: 0.5 x (1 - 0.2) = 0.4
        dict(accuracy=0.75, latency_ms=6.0),  # error 0.25 adds 0.25 x (1 - 0.6) = 0.1
        dict(state="failed"),
        dict(accuracy=0.9, latency_ms=12.0),  # beyond the latency reference
        dict(accuracy=0.9, latency_ms=1.0, state="interrupted"),  # not ok
    )
    assert accuracy_latency_hypervolume(trials, 10.0) == pytest.approx(0.5)


def test_accuracy_latency_hypervolume_rejects_bad_reference(make_trials) -> None:
    with pytest.raises(RunError, match="positive number of ms"):
        accuracy_latency_hypervolume(make_trials(dict()), 0.0)
