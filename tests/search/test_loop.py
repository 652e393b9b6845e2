"""The search loop on a real SQLite Optuna study, with a fast deterministic evaluator.

The evaluator here scores a candidate from its genes in microseconds, so these tests can
check the loop's bookkeeping (duplicates, failures, warm start, constraints, stop and
resume, refinement) over many trials; tests/cli/test_search_cli.py runs the real evaluate().
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from autoedge.evaluate.fidelity import FULL_FIDELITY, Fidelity
from autoedge.evaluate.result import EvalResult, error_result, failed_result
from autoedge.results import load_run, non_dominated
from autoedge.search import Constraints, RunConfig, run_search
from autoedge.search.backends.optuna_backend import STUDY_NAME
from autoedge.space import Candidate, get_space, load_space_text

FAST = Fidelity(epochs=1, subset=100)


class GeneScore:
    """Accuracy grows with width and depth, latency with MACs-like work; records its calls."""

    def __init__(self, fail_when=None, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple[str, Fidelity]] = []
        self.fail_when = fail_when
        self.interrupt_at = interrupt_at

    def __call__(self, cand: Candidate, fidelity: Fidelity) -> EvalResult:
        self.calls.append((cand.key, fidelity))
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        if self.fail_when is not None and self.fail_when(cand):
            return failed_result(cand.key, "train: TrainingError: loss is NaN at step 3")
        work = sum(s.width * s.depth * (1 - s.prune) for s in cand.stages)
        bits = sum(s.weight_bits for s in cand.stages) / len(cand.stages)
        return EvalResult(
            key=cand.key,
            status="ok",
            accuracy=min(0.99, 0.5 + work / 400 - (0.05 if bits < 8 else 0.0)),
            latency_ms=0.01 * work * cand.resolution / 32,
            latency_source="measured",
            size_bytes=int(work * bits * 10),
            peak_memory_bytes=int(work * 100),
            params=int(work * 50),
            macs=int(work * 1000),
            candidate=cand.to_json(),
        )


def config(tmp_path, **kw) -> RunConfig:
    base = {"out": str(tmp_path / "run"), "space": "tiny", "data": "digits", "budget": 12}
    base["rungs"] = 1  # single fidelity here; tests/cli/test_search_rungs_cli.py runs rungs
    return RunConfig(**{**base, "fidelity": FAST, **kw})


def test_run_writes_tables_and_front(tmp_path):
    score = GeneScore()
    summary = run_search(config(tmp_path), score)
    view = load_run(summary.run)
    assert len(view.trials) == 12 and summary.done == 12
    assert set(view.trials["state"]) == {"ok"}
    assert {"number", "state", "key", "started_at", "finished_at", "accuracy", "latency_ms"} <= set(
        view.trials.columns
    )
    assert "s1.depth" in view.trials.columns  # genes are columns
    pts = view.front[["accuracy", "latency_ms", "size_bytes"]].to_numpy(float)
    assert non_dominated(pts, ["maximize", "minimize", "minimize"]).all()
    assert list(view.front["latency_ms"]) == sorted(view.front["latency_ms"])
    # every ok trial off the front is dominated by a front point
    off = view.trials[~view.trials["number"].isin(view.front["number"])]
    for _, r in off.iterrows():
        assert any(
            f.accuracy >= r.accuracy
            and f.latency_ms <= r.latency_ms
            and f.size_bytes <= r.size_bytes
            for f in view.front.itertuples()
        )
    assert (tmp_path / "run" / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "Pareto front" in (tmp_path / "run" / "report.md").read_text()


def test_conditional_genes_only(tmp_path):
    import optuna

    run_search(config(tmp_path, budget=10), GeneScore())
    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{tmp_path}/run/study.db")
    for t in study.trials:
        cand = Candidate.from_json(t.user_attrs["candidate"])
        genes = cand.genes()
        assert set(t.params) <= set(genes), "a trial recorded a gene its candidate lacks"
        for name in t.params:  # no block gene beyond the drawn depth, no T without KD
            m = re.match(r"(s\d+)\.b(\d+)\.", name)
            if m:
                assert int(m.group(2)) < genes[f"{m.group(1)}.depth"]
        assert ("kd_temperature" in t.params) == (cand.kd_alpha > 0)


SMALL_SPACE = """
name: two-choices
global:
  resolution: [32]
  stem_width: [8]
  head_width: [32]
  kd_temperature: {low: 4.0, high: 4.0, step: 1.0}
  kd_alpha: [0.0]
stage_defaults:
  block_type: [ds]
  kernel: [3]
  expansion: [3]
  se: [0]
  activation: [relu]
  prune: [0.0]
  weight_bits: [32]
  act_bits: [32]
  rank: [1.0]
stages:
  - {stride: 1, depth: {low: 1, high: 1}, width: [16]}
  - {stride: 2, depth: {low: 1, high: 1}, width: [16, 24]}
"""


def test_duplicates_are_reused_not_retrained(tmp_path):
    space_file = tmp_path / "two.yaml"
    space_file.write_text(SMALL_SPACE)
    assert load_space_text(SMALL_SPACE, "t").name == "two-choices"
    score = GeneScore()
    summary = run_search(config(tmp_path, space=str(space_file), budget=6), score)
    assert len(score.calls) == 2  # two distinct candidates exist
    view = load_run(summary.run)
    assert len(view.trials) == 6 and summary.reused == 4
    reused = view.trials[view.trials["reused_from"].notna()]
    for _, r in reused.iterrows():
        original = view.trials[view.trials["number"] == r.reused_from].iloc[0]
        assert original.key == r.key and original.accuracy == r.accuracy
    assert view.front["key"].is_unique


def test_failed_candidates_recorded_and_counted(tmp_path):
    score = GeneScore(fail_when=lambda c: c.stages[2].depth == 3)
    summary = run_search(config(tmp_path, budget=10), score)
    view = load_run(summary.run)
    failed = view.trials[view.trials["state"] == "failed"]
    assert summary.failed == len(failed) > 0 and summary.done == 10
    assert failed["error"].str.contains("loss is NaN").all()
    assert failed["accuracy"].isna().all()
    assert not view.front["number"].isin(failed["number"]).any()


def test_warm_start_with_hand_baselines(tmp_path):
    summary = run_search(config(tmp_path, space="mobilenetv3", budget=6), GeneScore())
    view = load_run(summary.run)
    first = view.trials.sort_values("number").head(4)
    assert list(first["baseline"]) == [
        "mobilenetv3-small-fp32",
        "mobilenetv3-small-int8",
        "mobilenetv3-large-fp32",
        "mobilenetv3-large-int8",
    ]
    assert (view.trials["baseline"].iloc[4:] == "").all()


def test_constraints_mark_feasible_and_bound_the_front(tmp_path):
    limits = Constraints(max_latency_ms=0.5)
    summary = run_search(config(tmp_path, budget=12, constraints=limits), GeneScore())
    view = load_run(summary.run)
    ok = view.trials[view.trials["state"] == "ok"]
    assert (ok["feasible"] == (ok["latency_ms"] <= 0.5)).all()
    if ok["feasible"].any():
        assert summary.front_constrained
        assert (view.front["latency_ms"] <= 0.5).all()
    import optuna

    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{tmp_path}/run/study.db")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(set(t.constraints) == {"max_latency_ms"} for t in done)  # Optuna saw them


def test_interrupt_then_resume_reruns_the_interrupted_candidate(tmp_path):
    score = GeneScore(interrupt_at=4)
    summary = run_search(config(tmp_path, budget=8), score)
    assert summary.stopped and summary.done == 3 and summary.interrupted == 1
    before = load_run(summary.run).trials
    interrupted_key = before.loc[before["state"] == "interrupted", "key"].iloc[0]

    again = GeneScore()
    summary = run_search(config(tmp_path, budget=8), again)
    assert summary.done == 8 and not summary.stopped
    assert again.calls[0][0] == interrupted_key  # re-run first, same candidate
    after = load_run(summary.run).trials
    kept = after[after["number"] < 3].reset_index(drop=True)
    cols = ["key", "accuracy", "latency_ms", "finished_at"]
    pd.testing.assert_frame_equal(kept[cols], before[before["number"] < 3][cols])


def test_refine_retrains_front_points_at_full_fidelity(tmp_path):
    score = GeneScore()
    summary = run_search(config(tmp_path, budget=8, refine=2), score)
    full = [f for _, f in score.calls if f.epochs == FULL_FIDELITY.epochs]
    assert len(full) == 2 and all(f.subset == 0 for f in full)
    refined = pd.read_csv(tmp_path / "run" / "refined.csv")
    assert len(refined) == 2 and set(refined["number"]) <= set(
        load_run(summary.run).front["number"]
    )
    assert len(summary.refined) == 2 and summary.refined[0]["accuracy_full"] is not None
    # resuming does not redo them
    again = GeneScore()
    run_search(config(tmp_path, budget=8, refine=2), again)
    assert again.calls == []


def test_budget_must_be_positive(tmp_path):
    from autoedge.errors import SearchError

    with pytest.raises(SearchError, match="--budget"):
        config(tmp_path, budget=0)


def test_space_of_a_run_is_the_stored_one(tmp_path):
    run_search(config(tmp_path, budget=2), GeneScore())
    from autoedge.search import run_space

    assert run_space(tmp_path / "run") == get_space("tiny")


def test_a_run_killed_before_its_run_json_starts_afresh(tmp_path) -> None:
    from autoedge.errors import RunError
    from autoedge.search import plan_run

    out = tmp_path / "K"
    out.mkdir()
    (out / ".lock").touch()  # what a run killed between locking and writing run.json leaves
    (out / ".run.json.4242.1.tmp").write_text("{")
    config, resumed = plan_run({"budget": 3}, out=str(out))
    assert not resumed and config.budget == 3
    (out / "notes.txt").write_text("mine")  # anything else: not ours to start over
    with pytest.raises(RunError, match="not empty and holds no autoedge run"):
        plan_run({}, out=str(out))


def test_a_bug_in_autoedge_is_counted_apart_and_its_traceback_kept(tmp_path):
    score = GeneScore()

    def buggy(cand: Candidate, fidelity: Fidelity) -> EvalResult:
        if len(score.calls) == 3:  # the fourth evaluation hits "our" bug
            score.calls.append((cand.key, fidelity))
            return error_result(
                cand.key,
                "train: TypeError: 'NoneType' object is not subscriptable",
                'Traceback (most recent call last):\n  File "x.py", line 1\nTypeError: ...\n',
            )
        return score(cand, fidelity)

    summary = run_search(config(tmp_path, budget=6, warm_start=False), buggy)
    view = load_run(summary.run)
    assert summary.errors == 1 and summary.failed == 0 and summary.done == 6
    row = view.trials[view.trials["state"] == "error"].iloc[0]
    trace = (tmp_path / "run" / "errors" / f"trial-{row['number']}.txt").read_text()
    assert "NoneType" in trace and "Traceback" in trace
    assert "bug in autoedge" in (tmp_path / "run" / "report.md").read_text()
    again = run_search(config(tmp_path, budget=6, warm_start=False), buggy)  # resume: kept
    assert again.errors == 1 and again.done == 6
