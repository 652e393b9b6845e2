from __future__ import annotations

import pytest

from autoedge.errors import RunError
from autoedge.results.pick import pick_point


@pytest.fixture
def front(make_trials):
    return make_trials(
        dict(accuracy=0.60, latency_ms=2.0, size_bytes=50_000, peak_memory_bytes=100_000),
        dict(accuracy=0.80, latency_ms=8.0, size_bytes=200_000, peak_memory_bytes=300_000),
        dict(accuracy=0.80, latency_ms=6.0, size_bytes=250_000, peak_memory_bytes=400_000),
        dict(accuracy=0.90, latency_ms=20.0, size_bytes=1_000_000, peak_memory_bytes=900_000),
    )


def test_no_bounds_gives_most_accurate(front) -> None:
    assert pick_point(front)["number"] == 3


def test_latency_bound_and_tie_goes_to_faster(front) -> None:
    assert pick_point(front, max_latency_ms=10.0)["number"] == 2


def test_kb_is_1000_bytes(front) -> None:
    # 200_000 bytes is 200 kB exactly (it would be 195.3 KiB): allowed at 200, not at 199.9
    assert pick_point(front, max_size_kb=200)["number"] == 1
    assert pick_point(front, max_size_kb=199.9)["number"] == 0
    assert pick_point(front, max_memory_kb=300)["number"] == 1


def test_min_accuracy_is_a_fraction(front) -> None:
    assert pick_point(front, min_accuracy=0.85)["number"] == 3
    assert pick_point(front, min_accuracy=0.85, max_latency_ms=10) is None
    with pytest.raises(RunError, match="fraction"):
        pick_point(front, min_accuracy=85)


def test_none_when_nothing_qualifies(front) -> None:
    assert pick_point(front, max_latency_ms=1.0) is None
    assert pick_point(front.iloc[0:0]) is None


def test_bad_bound_is_a_run_error(front) -> None:
    with pytest.raises(RunError, match="max_latency_ms"):
        pick_point(front, max_latency_ms=-1)


def test_a_latency_bound_on_the_upper_end_of_the_interval(front) -> None:
    front = front.assign(latency_high_ms=front["latency_ms"] * 1.4)
    assert pick_point(front, max_latency_ms=10.0)["number"] == 2  # 6 ms, its high end 8.4
    assert pick_point(front, max_latency_ms=8.0, latency_bound="high")["number"] == 0
    assert pick_point(front.drop(columns="latency_high_ms"), max_latency_ms=8.0,
                      latency_bound="high") is None  # fmt: skip
    with pytest.raises(RunError, match="latency_bound"):
        pick_point(front, max_latency_ms=8.0, latency_bound="p95")
