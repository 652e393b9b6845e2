"""Before a run ends: the front's measured latencies timed again, together.

During the search each candidate's latency is timed once, alone, whenever its trial ran, on
a machine whose load drifts; neighbouring front points often differ by less than that
noise. When the budget is spent, the deployed models of the front (kept in RUN/models/) are
timed again in rounds, the models taken in turn within every round, so that drift hits them
alike (EvaluationSession.remeasure). The new numbers replace the search's (which stay in
`latency_search_ms`), the front is recomputed, and points that joined it are timed too (at
most `PASSES` times). Predicted latencies are left alone: they do not vary.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

import numpy as np

from autoedge.search.asha import iter_fronts
from autoedge.search.config import RunConfig
from autoedge.search.objectives import minimised_values
from autoedge.search.outputs import front_of
from autoedge.search.records import OK, TrialRecord
from autoedge.search.rungs import RungBook
from autoedge.search.table import trials_frame

#: Times the front is recomputed and its new points re-measured.
PASSES = 3
#: Models kept during the run: the top rung's first non-dominated fronts (a re-measurement
#: can move a point of the second or third front onto the first; one further back is kept
#: out by two layers of points and is deleted).
KEPT_LAYERS = 3


def models_to_drop(records: list[TrialRecord], config: RunConfig) -> list[int]:
    """Finished trials whose kept model can go: not in the first KEPT_LAYERS non-dominated
    fronts of the top rung's ok results (every finished trial below the top rung too)."""
    top = config.schedule.top
    ranked = [
        r
        for r in records
        if r.counted and r.state == OK and r.result is not None and r.result.rung == top
    ]
    values = [minimised_values(config.objectives, r.result) for r in ranked]
    pairs = [(r, v) for r, v in zip(ranked, values, strict=True) if v is not None]
    points = np.array([v for _, v in pairs])
    keep = set()
    for layer in islice(iter_fronts(points), KEPT_LAYERS) if len(pairs) else []:
        keep.update(pairs[i][0].number for i in layer)
    return [r.number for r in records if r.counted and r.number not in keep]


def remeasure_front(
    backend: Any, config: RunConfig, book: RungBook, evaluator: Any
) -> tuple[int, int]:
    """Re-measure the front's kept models: (trials re-measured, front points left with the
    search's number because their model was not kept)."""
    remeasure = getattr(evaluator, "remeasure", None)
    if remeasure is None or not book.keep_models:
        return 0, 0
    count, missing = 0, 0
    for _ in range(PASSES):
        front, _ = front_of(trials_frame(backend.records()), config)
        done = backend.remeasured()
        numbers = [n for n in front["number"].astype(int).tolist() if n not in done]
        todo = {n: book.model_path(n) for n in numbers if book.model_path(n).is_file()}
        missing = len(numbers) - len(todo)
        if not todo:
            break
        measured = remeasure(todo)
        if not measured:
            break
        backend.set_remeasured(measured)
        count += len(measured)
    return count, missing
