from __future__ import annotations

import pytest

from autoedge.results.pareto import pareto_front
from autoedge.results.report import render_report

CONFIG = {
    "format": "autoedge-run/1",
    "space": "mcunet-tiny",
    "data": "cifar10-subset",
    "target": "host",
    "sampler": "nsga2",
    "budget": 200,
    "objectives": ["accuracy", "latency"],
    "constraints": {"max_size_kb": 500},
    "secret_internal": "not listed",
}


@pytest.fixture
def trials(make_trials):
    rows = [
        dict(accuracy=0.62, latency_ms=1.5, key="fastkey"),
        dict(accuracy=0.81, latency_ms=4.0, key="slowkey", arch="s0: mbconv|k5"),
        dict(accuracy=0.60, latency_ms=3.0, baseline="mobilenetv3-small-int8"),
        dict(accuracy=0.81, latency_ms=4.0, reused_from=1),
        dict(accuracy=0.90, latency_ms=0.5, baseline="hand-tiny", feasible=False),
        dict(state="interrupted"),
    ]
    rows += [dict(state="failed", error=f"error number {i}\nwith a traceback") for i in range(13)]
    return make_trials(*rows)


def test_report_sections(trials) -> None:
    front = pareto_front(trials, ["accuracy", "latency"])
    summary = {
        "run": "/runs/cifar-2025",
        "hypervolume": 1.2345,
        "hypervolume_reference": 10.0,
        "refined": [
            {
                "number": 1,
                "key": "slowkey",
                "accuracy": 0.81,
                "accuracy_full": 0.87,
                "latency_ms_full": 4.1,
            }
        ],
    }
    text = render_report(CONFIG, trials, front, summary=summary)
    lines = text.splitlines()
    assert lines[0] == "# autoedge run `cifar-2025`"
    assert "- space: mcunet-tiny" in lines and "- budget: 200" in lines
    assert "- objectives: accuracy, latency" in lines
    assert "- constraints: max_size_kb=500" in lines
    assert "secret_internal" not in text
    assert "19 trials: 5 ok, 13 failed, 1 interrupted; 1 reused" in text
    assert "1.234" in text and "latency 10 ms" in text
    # front table: both keys, sorted by latency, pipes escaped in arch
    assert text.index("`fastkey`") < text.index("`slowkey`")
    assert "s0: mbconv\\|k5" in text
    assert "1.5 ms (measured)" in text
    # baselines
    assert "**mobilenetv3-small-int8** (trial 2)" in text
    assert "— dominated by trial 0 (62.00 %, 1.5 ms (measured))" in text
    assert "**hand-tiny** (trial 4)" in text and "misses the constraints" in text
    # failures: 10 listed, one line each, then the rest counted
    assert "## Failed trials (13)" in text
    assert "error number 9 with a traceback" in text and "error number 10" not in text
    assert "… and 3 more" in text
    # refined table
    assert "87.00 %" in text and "4.1 ms" in text
    assert len(lines) < 100


def test_baseline_on_front_and_counts_from_summary(make_trials) -> None:
    trials = make_trials(
        dict(accuracy=0.7, latency_ms=1.0, baseline="mobilenetv3-small-int8"),
        dict(accuracy=0.9, latency_ms=5.0),
    )
    front = pareto_front(trials, ["accuracy", "latency"])
    text = render_report({}, trials, front, summary={"run": "r", "trials": 7, "failed": 5})
    assert "(trial 0): 70.00 %, 1 ms (measured), 100.0 kB — on the front" in text
    assert "7 trials: 2 ok, 5 failed" in text
    assert "## Configuration" not in text and "hypervolume" not in text
    assert "## Failed trials" not in text and "Refined" not in text


def test_empty_front(make_trials) -> None:
    trials = make_trials(dict(state="failed", error="boom"))
    text = render_report({}, trials, trials.iloc[0:0], summary={"run": "r"})
    assert "No trial is on the front" in text and "- trial 0: boom" in text


def test_front_of_infeasible_points_is_flagged(make_trials) -> None:
    trials = make_trials(dict(feasible=False))
    front = pareto_front(trials, ["accuracy", "latency"], feasible_only=False)
    text = render_report({}, trials, front, summary={"run": "r"})
    assert "No trial met the constraints" in text


def test_the_hand_baseline_against_the_front_as_ratios(make_trials) -> None:
    """The smallest and the fastest front point within 1 point of the hand baseline's
    accuracy, as size and latency ratios; none when the baseline was not measured at the
    front's rung."""
    rows = [
        dict(
            accuracy=0.90, latency_ms=6.0, size_bytes=1_200_000, baseline="mobilenetv3-small-fp32"
        ),
        dict(accuracy=0.895, latency_ms=0.5, size_bytes=100_000),  # 12x faster, 12x smaller
        dict(accuracy=0.892, latency_ms=0.4, size_bytes=400_000),  # 15x faster, 3x smaller
        dict(accuracy=0.70, latency_ms=0.1, size_bytes=10_000),  # too inaccurate to count
    ]
    trials = make_trials(*rows)
    front = pareto_front(trials, ["accuracy", "latency", "size"])
    text = render_report({}, trials, front, summary={"run": "r"})
    assert "smallest front point within 1 point of its accuracy: trial 1" in text
    assert "12.0x smaller, 12.0x faster" in text
    assert "fastest front point within 1 point of its accuracy: trial 2" in text
    assert "3.0x smaller, 15.0x faster" in text
    rows[0] = {**rows[0], "rung": 0}
    multi = make_trials(*[{"rung": 2, **r} if i else r for i, r in enumerate(rows)])
    front = pareto_front(multi, ["accuracy", "latency", "size"])
    front = front[front["rung"] == 2]
    text = render_report({}, multi, front, summary={"run": "r"})
    assert "measured at rung 0, the front at a higher one: no ratios" in text
