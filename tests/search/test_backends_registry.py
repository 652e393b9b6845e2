"""Every registered search backend runs a budget-2 search through the real loop."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from autoedge.devices import worker_devices
from autoedge.errors import SearchError
from autoedge.evaluate.fidelity import Fidelity
from autoedge.evaluate.result import EvalResult
from autoedge.results import load_run
from autoedge.search import run_search
from autoedge.search.backends import get_backend, list_backends
from autoedge.search.planning import plan_run
from autoedge.space import Candidate

BACKENDS = list_backends()
BUDGET = 2


class GeneScore:
    """Scores a candidate from its genes in microseconds; `portable` as EvaluationSession's."""

    def __init__(self, threads: int | None = None, device: str | None = None) -> None:
        self.threads = threads
        self.device = device
        self.calls: list[tuple[str, int]] = []

    def worker_devices(self, workers: int) -> list[str]:
        return ["cpu"] * workers

    def portable(self, threads: int | None = None, device: str | None = None) -> GeneScore:
        return GeneScore(threads, device)

    def __call__(
        self,
        cand: Candidate,
        fidelity: Fidelity,
        state_in: Path | None = None,
        state_out: Path | None = None,
    ) -> EvalResult:
        """A higher rung must receive the state its rung below saved (the backend carries
        it: a file here, bytes through Ray's object store)."""
        self.calls.append((cand.key, fidelity.rung))
        if fidelity.rung > 0:
            assert state_in is not None
            assert state_in.read_text() == f"{cand.key} at rung {fidelity.rung - 1}"
        if state_out is not None:
            state_out.write_text(f"{cand.key} at rung {fidelity.rung}")
        work = sum(s.width * s.depth * (1 - s.prune) for s in cand.stages)
        bits = sum(s.weight_bits for s in cand.stages) / len(cand.stages)
        return EvalResult(
            key=cand.key,
            status="ok",
            accuracy=min(0.99, 0.5 + work / 400),
            latency_ms=0.01 * work * cand.resolution / 32,
            latency_source="measured",
            size_bytes=int(work * bits * 10),
            peak_memory_bytes=int(work * 100),
            params=int(work * 50),
            macs=int(work * 1000),
            candidate=cand.to_json(),
            rung=fidelity.rung,
            teacher=self.device,  # which worker's device scored it (the spread test reads it)
        )


class TwoGpuScore(GeneScore):
    """GeneScore on a pretend machine with two GPUs: it never touches torch, so only the
    spread of the workers over the devices is tested."""

    def worker_devices(self, workers: int) -> list[str]:
        return worker_devices("cuda", workers, gpus=2)

    def portable(self, threads: int | None = None, device: str | None = None) -> GeneScore:
        return TwoGpuScore(threads, device)


def _ship_by_value() -> None:
    """Ray workers unpickle the evaluator: ship its class whole, so they need not import this
    test module by name (pytest's importlib mode names it as no worker's sys.path may)."""
    import cloudpickle

    module = sys.modules[GeneScore.__module__]
    cloudpickle.register_pickle_by_value(module)


def test_the_registry_is_what_get_backend_serves() -> None:
    assert {"optuna", "random", "ray"} <= set(BACKENDS)
    assert sorted(BACKENDS) == BACKENDS
    for name in BACKENDS:
        assert callable(get_backend(name))
    with pytest.raises(SearchError, match="unknown backend 'nope'; choose one of: optuna"):
        get_backend("nope")


@pytest.mark.parametrize("backend", BACKENDS)
def test_budget_two_search_fills_the_run_folder(backend: str, tmp_path: Path) -> None:
    if backend == "ray":
        pytest.importorskip("ray", reason="the ray extra is not installed")
        _ship_by_value()
    out = tmp_path / "run"
    options = {
        "space": "tiny",
        "data": "digits",
        "budget": BUDGET,
        "backend": backend,
        "workers": 1,
        "seed": 0,
        "teacher": "none",
        "fidelity": {"epochs": 1, "subset": 100},
    }
    plan = plan_run(options, out=str(out), executable_bits=[8, 32])
    assert not plan.resumed and plan.config.backend == backend
    score = GeneScore()
    summary = run_search(plan, score)
    assert summary.done == BUDGET

    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == BUDGET
    assert set(trials["state"]) == {"ok"}
    assert trials["number"].tolist() == list(range(BUDGET))
    assert trials["accuracy"].between(0, 1).all() and (trials["latency_ms"] > 0).all()
    front = pd.read_csv(out / "pareto.csv")
    assert len(front) >= 1 and set(front["key"]) <= set(trials["key"])
    # three rungs by default: the first trial of a rung is always promoted (top 1 of 1), so
    # trial 0 reaches rung 2, and only rung-2 results make the front
    assert trials.loc[trials["number"] == 0, "rung"].item() == 2
    assert set(front["rung"]) == {2}
    assert not list((out / "states").glob("*.pt"))  # every state deleted once used
    assert (out / "study.db").is_file() and (out / "study.db").stat().st_size > 0
    view = load_run(out)  # the run folder reads back as a whole
    assert view.config["config"]["backend"] == backend and len(view.trials) == BUDGET
    if backend != "ray":  # ray evaluates copies in its workers; locally it is this one
        distinct = trials[trials["reused_from"].isna()]["key"]
        assert sorted(k for k, rung in score.calls if rung == 0) == sorted(distinct)


def test_local_workers_train_on_the_devices_spread_over_the_gpus(tmp_path: Path) -> None:
    options = {
        "space": "tiny",
        "data": "digits",
        "budget": 8,
        "workers": 4,
        "rungs": 1,
        "seed": 0,
        "teacher": "none",
    }
    plan = plan_run(options, out=str(tmp_path / "run"), executable_bits=[8, 32])
    run_search(plan, TwoGpuScore())
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert len(trials) == 8
    assert set(trials["teacher"]) == {"cuda:0", "cuda:1"}  # worker i on cuda:(i mod 2)
