from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from matplotlib.text import Text

from autoedge.results.pareto import pareto_front
from autoedge.results.plot import draw_front, plot_front, split_front

PNG = b"\x89PNG"


@pytest.fixture
def trials(make_trials):
    return make_trials(
        dict(accuracy=0.60, latency_ms=1.0),
        dict(accuracy=0.80, latency_ms=40.0),  # span > 20x: log axis
        dict(accuracy=0.70, latency_ms=30.0),
        dict(state="failed", error="boom"),
        dict(accuracy=0.65, latency_ms=5.0, baseline="mobilenetv3-small-int8"),
    )


def _png(path: Path) -> bytes:
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000
    return data


def test_normal_plot(tmp_path: Path, trials) -> None:
    out = tmp_path / "pareto.png"
    plot_front(trials, pareto_front(trials, ["accuracy", "latency"]), out, title="run")
    _png(out)
    assert [p.name for p in tmp_path.iterdir()] == ["pareto.png"]


def test_empty_front_and_no_ok_trials(tmp_path: Path, trials, make_trials) -> None:
    plot_front(trials, trials.iloc[0:0], tmp_path / "a.png", title="empty front")
    _png(tmp_path / "a.png")
    failed = make_trials(dict(state="failed"), dict(state="interrupted"))
    plot_front(failed, failed.iloc[0:0], tmp_path / "b.png", title="nothing")
    _png(tmp_path / "b.png")


def test_one_point_no_baseline(tmp_path: Path, make_trials) -> None:
    one = make_trials(dict(accuracy=0.5, latency_ms=2.0))
    one["baseline"] = float("nan")
    plot_front(one, one, tmp_path / "c.png", title="one", latency_label="latency on pi (ms)")
    _png(tmp_path / "c.png")
    no_column = one.drop(columns=["baseline"])
    plot_front(no_column, no_column, tmp_path / "d.png", title="one")
    _png(tmp_path / "d.png")


def test_labels_of_baselines_at_the_same_point_do_not_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from autoedge.results.plot import _LABEL_H, _label_baselines

    fig = Figure(figsize=(7.0, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xlim(0.1, 1.0)
    ax.set_ylim(0, 100)
    base = pd.DataFrame(
        {"baseline": ["a-fp32", "a-int8", "far"], "latency_ms": [0.5, 0.5, 0.15],
         "accuracy": [0.75, 0.75, 0.2]}
    )  # fmt: skip
    _label_baselines(ax, base, base.iloc[0:0])
    offsets = {t.get_text(): t.xyann for t in ax.texts}
    assert set(offsets) == {"a-fp32", "a-int8", "far"}
    assert abs(offsets["a-fp32"][1] - offsets["a-int8"][1]) >= _LABEL_H
    assert offsets["far"][1] > 0  # alone: just above its star


@pytest.fixture
def three_objective_front(make_trials):
    """Trials whose 3-objective front holds one point that only its small size keeps there."""
    return make_trials(
        dict(accuracy=0.90, latency_ms=2.0, size_bytes=900_000),
        dict(accuracy=0.80, latency_ms=1.0, size_bytes=500_000),
        dict(accuracy=0.78, latency_ms=1.5, size_bytes=40_000),  # dominated on acc/latency
        dict(accuracy=0.70, latency_ms=3.0, size_bytes=950_000),  # dominated everywhere
        dict(accuracy=0.85, latency_ms=1.9, size_bytes=600_000, baseline="small-int8"),
    )


def test_points_on_the_front_only_through_size_are_drawn_apart(three_objective_front):
    trials = three_objective_front
    front = pareto_front(trials, ["accuracy", "latency", "size"])
    assert sorted(front["number"]) == [0, 1, 2, 4]
    line, through = split_front(front)
    assert sorted(line["number"]) == [0, 1, 4] and list(through["number"]) == [2]
    fig = draw_front(trials, front, title="three objectives")
    ax = fig.axes[0]
    labels = ax.get_legend().get_texts()
    shown = [t.get_text() for t in labels]
    assert shown[:4] == [
        "trials",
        "front (accuracy, latency)",
        "on the front through size",
        "hand baseline",
    ]
    assert shown[4:] == ["40 kB weights", "900 kB weights"]
    by_label = {c.get_label(): c for c in ax.collections}
    hollow = by_label["on the front through size"]
    assert len(hollow.get_offsets()) == 1 and hollow.get_facecolors().size == 0
    solid = by_label["front (accuracy, latency)"]
    sizes = dict(zip(line["number"], solid.get_sizes(), strict=True))
    assert sizes[0] > sizes[1]  # larger weights, larger marker


def test_a_baseline_label_is_placed_clear_of_the_front_markers(make_trials):
    trials = make_trials(
        dict(accuracy=0.80, latency_ms=1.0, size_bytes=10_000),
        dict(accuracy=0.806, latency_ms=1.04, size_bytes=10_000),  # just right of the label
        dict(accuracy=0.70, latency_ms=1.0, size_bytes=10_000),
        dict(accuracy=0.798, latency_ms=0.99, size_bytes=10_000, baseline="hand-int8"),
    )
    front = pareto_front(trials, ["accuracy", "latency"])
    fig = draw_front(trials, front, title="crowded")
    ax = fig.axes[0]
    fig.canvas.draw()
    (label,) = [t for t in ax.texts if t.get_text() == "hand-int8"]
    box = Text.get_window_extent(label)  # the text alone, not its leader line
    for _, r in front[front["baseline"] != "hand-int8"].iterrows():
        mx, my = ax.transData.transform((r["latency_ms"], r["accuracy"] * 100))
        assert not (box.x0 <= mx <= box.x1 and box.y0 <= my <= box.y1), r["number"]
