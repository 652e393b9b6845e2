"""The multi-fidelity loop on a real SQLite study with a fast evaluator: constraints, refine,
Ctrl-C during a promoted candidate's rung and the resume that carries it on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autoedge.evaluate.fidelity import Fidelity
from autoedge.evaluate.result import EvalResult
from autoedge.search import Constraints, RunConfig, run_search
from autoedge.space import Candidate

FAST = Fidelity(epochs=1, subset=100)


class RungScore:
    """Accuracy grows with the network and with the rung; a rung above 0 must be handed the
    state its rung below saved; optionally raises Ctrl-C on its n-th call."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.interrupt_at = interrupt_at

    def __call__(
        self, cand: Candidate, fidelity: Fidelity, state_in: Path | None = None, state_out=None
    ) -> EvalResult:
        self.calls.append((cand.key, fidelity.rung))
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        if fidelity.rung > 0:
            assert (
                state_in is not None and state_in.read_text() == f"{cand.key}@{fidelity.rung - 1}"
            )
        if state_out is not None:
            state_out.write_text(f"{cand.key}@{fidelity.rung}")
        work = sum(s.width * s.depth * (1 - s.prune) for s in cand.stages)
        return EvalResult(
            key=cand.key,
            status="ok",
            accuracy=min(0.99, 0.5 + work / 400 + 0.02 * fidelity.rung),
            latency_ms=0.01 * work,
            latency_source="measured",
            size_bytes=int(work * 80),
            peak_memory_bytes=int(work * 100),
            candidate=cand.to_json(),
            rung=fidelity.rung,
            test_images=100,
        )


def config(tmp_path: Path, **kw) -> RunConfig:
    base = {"out": str(tmp_path / "run"), "space": "tiny", "data": "digits", "budget": 12}
    return RunConfig(**{**base, "fidelity": FAST, "rungs": 3, "eta": 2, "workers": 1, **kw})


def test_constraints_and_refine_work_on_the_top_rung(tmp_path: Path) -> None:
    limits = Constraints(max_latency_ms=1.2)
    summary = run_search(config(tmp_path, constraints=limits, refine=2), RungScore())
    run = Path(summary.run)
    front = pd.read_csv(run / "pareto.csv")
    assert len(front) and set(front["rung"]) == {2} and front["feasible"].all()
    refined = pd.read_csv(run / "refined.csv")
    assert set(refined["number"]) <= set(front["number"]) and len(refined) == 2
    rungs = pd.read_csv(run / "rungs.csv")
    # an infeasible result is promoted only while no feasible one outranks it
    promoted = rungs[rungs["promoted"]]
    assert len(promoted) >= 2
    assert [r["rung"] for r in summary.rungs] == [0, 1, 2]
    trials = pd.read_csv(run / "trials.csv")
    trained = int(trials["reused_from"].isna().sum())
    assert summary.rungs[0]["results"] == trained  # every trained candidate ran rung 0


def test_ctrl_c_during_a_higher_rung_then_resume_carries_it_on(tmp_path: Path) -> None:
    first = RungScore(interrupt_at=2)  # call 1: trial 0 at rung 0 (promoted); call 2: rung 1
    summary = run_search(config(tmp_path, budget=4), first)
    assert summary.stopped and first.calls[1][1] == 1
    run = Path(summary.run)
    assert (run / "states" / "trial-0-rung-0.pt").read_text().endswith("@0")
    again = RungScore()
    summary = run_search(config(tmp_path, budget=4), again)
    assert not summary.stopped and summary.done == 4
    assert again.calls[0] == (first.calls[0][0], 1)  # first thing: trial 0's rung 1, from state
    trials = pd.read_csv(run / "trials.csv")
    assert trials.loc[trials["number"] == 0, "rung"].item() == 2
    assert not list((run / "states").iterdir())


def test_a_bad_schedule_is_one_line() -> None:
    from autoedge.errors import SearchError

    with pytest.raises(SearchError, match="--eta must be an integer from 2 to 10"):
        RunConfig(out="x", eta=1)
