"""Asynchronous successive halving over several objectives: the rungs and who is promoted.

Every candidate is trained at rung 0 (the run's fidelity). When its rung-r result arrives it is
ranked against every result recorded at rung r so far; it is promoted, and carries its training
on at rung r+1 from its saved state, when it ranks within the top ceil(n/eta) of those n
results and fewer than ceil(n/eta) of them have been promoted already (the quota). Nobody
waits for a rung to fill (ASHA's asynchronous rule; the early candidates of a rung are
promoted more easily, as in ASHA). The decision is made once, when the result arrives, and
recorded with its rank, so a stopped candidate is never revisited.

Why the quota: ASHA alone ranks a new result against the rung's results so far, and a
model-based sampler keeps proposing candidates that rank high, so promotions run far above
1/eta (a budget-200 search without it promoted 113 candidates to rung 1 and 59 to rung 2,
where 1/eta expects 67 and 23; results/search_multi200). With the quota a rung never holds
more than ceil(n/eta) promotions of its n results, as synchronous successive halving, and the
cost of `--budget` is known in advance; a strong late candidate waits for no one, it is
refused only while the quota is full.

The ranking, `promotion_order`: feasible results before infeasible ones (those by their summed
constraint violation), then by non-dominated sorting over the run's objectives; within one
non-dominated front, by crowding distance, largest first (boundary points first), as NSGA-II
does. Crowding distance rather than MOASHA's epsilon-net: it needs no epsilon, depends on
nothing but the front itself, is what our NSGA-II sampler uses, and like the epsilon-net it
promotes points spread along the front before points packed together. Equal distances (with
three objectives and few results most points are boundary points, at infinity) fall to the
point with the lower mean of its objectives scaled to the rung's range (each 0 at the rung's
best value, 1 at its worst), then to the earlier trial number -- never to the trial number
alone, which would keep the early trials' places and promote no later one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from autoedge.errors import SearchError
from autoedge.evaluate.fidelity import DEFAULT_FIDELITY, Fidelity

#: The default schedule (see docs/search.md for what it costs against one rung).
DEFAULT_RUNGS = 3
DEFAULT_ETA = 3
MAX_RUNGS = 6
#: Rung 0 of a multi-fidelity search unless the run says otherwise: cheaper than the
#: single-fidelity default (DEFAULT_FIDELITY: 1 x 3500 images + 2 fine-tune epochs), since
#: only the top 1/eta trains on. At the single-fidelity setting rung 0 took half of a
#: budget-200 search's ~2 h on 2 cores (rung costs in results/bench_fidelity.md).
RUNG0_FIDELITY = replace(DEFAULT_FIDELITY, subset=2000, finetune_subset=2000, finetune_epochs=1)
#: Fine-tune epochs at the top rung (at least the run's own): its result is the front's, and
#: the model that ships, so the time the quota saves goes there.
TOP_FINETUNE_EPOCHS = 2


def default_fidelity(rungs: int) -> Fidelity:
    """The fidelity a run gets when it names none: rung 0 of the schedule for rungs > 1."""
    return RUNG0_FIDELITY if rungs > 1 else DEFAULT_FIDELITY


@dataclass(frozen=True)
class RungSchedule:
    """`rungs` fidelities, each `eta` times the one below; rung 0 is the run's fidelity.

    Rung r > 0 continues the network saved at rung r-1 with the run's `finetune_epochs`
    (at least 1; at least TOP_FINETUNE_EPOCHS at the top rung) more fine-tune epochs over
    `subset` x eta^r training images, and measures on `test_subset` x eta^r test images; the
    top rung measures on the whole test split.
    `rungs` = 1 is a single-fidelity search.
    """

    rungs: int = DEFAULT_RUNGS
    eta: int = DEFAULT_ETA

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("rungs", self.rungs, 1, MAX_RUNGS),
            ("eta", self.eta, 2, 10),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise SearchError(
                    f"--{name} must be an integer from {low} to {high}, got {value!r}"
                )

    @property
    def top(self) -> int:
        """The highest rung: the front is made of results at this rung."""
        return self.rungs - 1

    def fidelity(self, base: Fidelity, rung: int) -> Fidelity:
        """The fidelity of rung `rung` for a run whose rung 0 is `base`."""
        if not 0 <= rung <= self.top:
            raise ValueError(f"rung {rung} outside 0..{self.top}")
        if rung == 0:
            return base
        grow = self.eta**rung
        images = base.subset * grow if base.subset else 0
        test = 0 if rung == self.top or not base.test_subset else base.test_subset * grow
        least = TOP_FINETUNE_EPOCHS if rung == self.top else 1
        return replace(
            base,
            rung=rung,
            subset=images,
            finetune_subset=images,
            finetune_epochs=max(least, base.finetune_epochs),
            test_subset=test,
        )

    def promotable(self, seen: int) -> int:
        """How many of `seen` results at a rung may be promoted (the rank cut and the quota)."""
        return math.ceil(seen / self.eta)

    def describe(self, base: Fidelity) -> str:
        """The schedule in words, e.g. for the search header."""
        if self.rungs == 1:
            return "1 rung (single fidelity)"
        parts = [f"rung 0: {base.describe()}"]
        parts += [self.fidelity(base, r).describe() for r in range(1, self.rungs)]
        return f"{self.rungs} rungs, top 1/{self.eta} promoted; " + "; ".join(parts)


@dataclass(frozen=True)
class RungResult:
    """One candidate's result at a rung, as the ranking sees it.

    `values`: the objective values turned so that lower is better (None: failed, ranked
    last); `violation`: summed constraint violation (0: feasible); `promoted`: whether it was
    promoted when it was decided (counts against the rung's quota).
    """

    number: int
    values: tuple[float, ...] | None
    violation: float = 0.0
    promoted: bool = False


@dataclass(frozen=True)
class Decision:
    """Whether a result is promoted, its place in its rung when decided (1 = best) and the
    number of results ranked."""

    promoted: bool
    rank: int
    of: int


def decide(results: Sequence[RungResult], number: int, schedule: RungSchedule) -> Decision:
    """The promotion decision for trial `number` among `results` (its rung's results so far,
    its own included): within the top ceil(n/eta) and the quota not yet full. Only the groups
    up to `number`'s own are ranked (a rung of n results costs O(n^2) comparisons once, not a
    full peel)."""
    rank = 0
    for group in _ranked_groups(results):
        if number in group:
            rank += group.index(number) + 1
            break
        rank += len(group)
    ok = next(r for r in results if r.number == number).values is not None
    places = schedule.promotable(len(results))
    taken = sum(r.promoted for r in results if r.number != number)
    return Decision(ok and rank <= places and taken < places, rank, len(results))


def promotion_order(results: Sequence[RungResult]) -> list[int]:
    """Trial numbers best first (the module docstring gives the rule)."""
    return [number for group in _ranked_groups(results) for number in group]


def _ranked_groups(results: Sequence[RungResult]) -> Iterator[list[int]]:
    """Trial numbers best first, in groups: each non-dominated front of the feasible results
    (ordered within), then the infeasible, then the failed. Lazy: fronts are peeled as asked."""
    feasible = [r for r in results if r.values is not None and r.violation <= 0]
    if feasible:
        points = np.array([r.values for r in feasible], dtype=float)
        spread = points.max(axis=0) - points.min(axis=0)
        scaled = (points - points.min(axis=0)) / np.where(spread > 0, spread, 1.0)
        for front in iter_fronts(points):
            crowd = crowding_distance(points[front])
            balance = scaled[front].mean(axis=1)
            keys = [
                (-c, b, feasible[i].number) for c, b, i in zip(crowd, balance, front, strict=True)
            ]
            yield [number for *_, number in sorted(keys)]
    yield [
        r.number
        for r in sorted(
            (r for r in results if r.values is not None and r.violation > 0),
            key=lambda r: (r.violation, r.number),
        )
    ]
    yield sorted(r.number for r in results if r.values is None)


def iter_fronts(points: np.ndarray) -> Iterator[list[int]]:
    """Row indices of `points` (minimised) by non-dominated front, first front first, one
    front at a time (stop early to rank only the best)."""
    n = len(points)
    if n == 0:
        return
    le = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    lt = (points[:, None, :] < points[None, :, :]).any(axis=2)
    dominates = le & lt  # dominates[i, j]: i dominates j
    beaten_by = dominates.sum(axis=0)
    remaining = np.ones(n, dtype=bool)
    while remaining.any():
        front = np.flatnonzero(remaining & (beaten_by == 0))
        yield front.tolist()
        remaining[front] = False
        beaten_by = beaten_by - dominates[front].sum(axis=0)
        beaten_by[~remaining] = -1


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row (boundary points: infinity)."""
    n, k = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for j in range(k):
        order = np.argsort(points[:, j], kind="stable")
        column = points[order, j]
        span = column[-1] - column[0]
        distance[order[0]] = distance[order[-1]] = math.inf
        if span > 0:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance
