from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autoedge.results.pareto import pareto_front
from autoedge.results.plot import plot_front

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
    _label_baselines(ax, base)
    offsets = {t.get_text(): t.xyann for t in ax.texts}
    assert set(offsets) == {"a-fp32", "a-int8", "far"}
    assert abs(offsets["a-fp32"][1] - offsets["a-int8"][1]) >= _LABEL_H
    assert offsets["far"][1] > 0  # alone: just above its star
