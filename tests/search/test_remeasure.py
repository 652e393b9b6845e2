"""Which kept models a run may delete before its end-of-run latency re-measurement."""

from __future__ import annotations

from autoedge.evaluate.result import EvalResult
from autoedge.search import RunConfig
from autoedge.search.records import OK, RUNNING, TrialRecord
from autoedge.search.remeasure import KEPT_LAYERS, models_to_drop


def _record(number: int, acc: float, ms: float, *, rung: int = 1, state: str = OK) -> TrialRecord:
    result = EvalResult(
        key=f"k{number}", status="ok", accuracy=acc, latency_ms=ms, size_bytes=1000, rung=rung
    )
    return TrialRecord(number=number, state=state, key=f"k{number}", result=result)


def test_only_the_first_fronts_of_the_top_rung_keep_their_models() -> None:
    config = RunConfig(out="x", rungs=2, objectives=("accuracy", "latency"))
    # a chain: each trial dominated by the one before, so each is its own non-dominated layer
    chain = [_record(i, 0.9 - i / 100, 1.0 + i) for i in range(KEPT_LAYERS + 2)]
    low_rung = _record(20, 0.99, 0.1, rung=0)  # best of all, but not at the top rung
    running = _record(21, 0.5, 9.0, state=RUNNING)  # still training: its model is not done
    drop = models_to_drop([*chain, low_rung, running], config)
    assert drop == [KEPT_LAYERS, KEPT_LAYERS + 1, 20]
