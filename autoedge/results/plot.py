"""The accuracy-vs-latency picture of a run: its front, the trials, hand baselines, as a PNG."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoedge.results._frame import baseline_mask, numeric, ok_mask
from autoedge.results.atomic import write_bytes_atomic
from autoedge.results.pareto import non_dominated

#: A baseline label's footprint in pixels at the figure's 120 dpi (7-point text, ~22 chars).
_LABEL_W, _LABEL_H = 130.0, 13.0
#: Width of one label character in pixels (7-point text at 120 dpi).
_CHAR_PX = 5.9
#: Half the width of a front marker in pixels (the largest marker is ~13 px across).
_MARK_PX = 7.0


def load_plotting() -> None:
    """Import matplotlib now rather than at the first plot.

    A search calls this before its first trial: a Ctrl-C landing during the first, lazy
    import would leave matplotlib half-imported, and the run's final write could then not
    draw its plot.
    """
    import matplotlib.backends.backend_agg
    import matplotlib.figure
    import matplotlib.ticker  # noqa: F401


def plot_front(
    trials: pd.DataFrame,
    front: pd.DataFrame,
    path: Path,
    *,
    title: str,
    latency_label: str = "latency (ms)",
) -> None:
    """Draw the run's front to a PNG at `path` (written atomically); see `draw_front`."""
    fig = draw_front(trials, front, title=title, latency_label=latency_label)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())


def split_front(front: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The front's points on the accuracy-latency front, and those on the front only through
    another objective (size, memory): dominated on accuracy and latency alone."""
    pts = _finite_rows(front)
    if pts.empty:
        return pts, pts
    mask = non_dominated(pts[["accuracy", "latency_ms"]].to_numpy(float), ["maximize", "minimize"])
    return pts[mask], pts[~mask]


def draw_front(
    trials: pd.DataFrame,
    front: pd.DataFrame,
    *,
    title: str,
    latency_label: str = "latency (ms)",
) -> Any:
    """A matplotlib Figure: ok trials (grey); the accuracy-latency front as a step line with
    its points; front points that are there only through size or memory as hollow rings (a
    two-dimensional line cannot show why they are on the front); marker area by weight size
    (legend in kB); hand baselines as labelled stars, labels placed clear of each other and
    of the front's markers. The x axis is logarithmic when latencies span more than 20x.
    """
    # matplotlib loads here, not with the package: commands that never plot start faster.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(7.0, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ok = _finite_rows(trials[ok_mask(trials).to_numpy(dtype=bool)])
    line, through = split_front(front)
    scale = _SizeScale(_finite_rows(front))
    if len(ok):
        ax.scatter(ok["latency_ms"], ok["accuracy"] * 100, s=10, c="0.7", label="trials", zorder=1)
    if len(line):
        line = line.sort_values("latency_ms", kind="mergesort")
        x, y = line["latency_ms"].to_numpy(), line["accuracy"].to_numpy() * 100
        ax.step(x, y, where="post", color="tab:blue", linewidth=1.2, zorder=2)
        ax.scatter(
            x, y, s=scale(line), c="tab:blue", edgecolors="black", linewidths=0.5,
            label="front (accuracy, latency)", zorder=3,
        )  # fmt: skip
    if len(through):
        ax.scatter(
            through["latency_ms"], through["accuracy"] * 100, s=scale(through),
            facecolors="none", edgecolors="tab:blue", linewidths=1.2,
            label="on the front through size", zorder=3,
        )  # fmt: skip
    base = ok[baseline_mask(ok).to_numpy(dtype=bool)] if len(ok) else ok
    if len(base):
        ax.scatter(
            base["latency_ms"], base["accuracy"] * 100, s=80, marker="*", c="tab:red",
            edgecolors="black", linewidths=0.5, label="hand baseline", zorder=4,
        )  # fmt: skip
    lat = ok["latency_ms"].to_numpy() if len(ok) else np.array([])
    positive = lat[lat > 0]
    if len(positive) and positive.max() / positive.min() > 20:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(_minor_log_label))
    if not len(ok):
        ax.text(0.5, 0.5, "no successful trials", ha="center", va="center",
                transform=ax.transAxes, color="0.4")  # fmt: skip
    ax.set_xlabel(latency_label)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    for kb, area in scale.legend_sizes():
        handles.append(ax.scatter([], [], s=area, c="white", edgecolors="0.3", linewidths=0.8))
        labels.append(f"{kb:g} kB weights")
    if handles:
        ax.legend(handles, labels, loc="lower right", fontsize=7, framealpha=0.9)
    fig.tight_layout()
    if len(base):  # after the layout: label placement works in display pixels
        obstacles = pd.concat([line, through]) if len(line) or len(through) else line
        _label_baselines(ax, base, obstacles)
    return fig


class _SizeScale:
    """Marker area from weight size: 12 to 160 points^2, by the square root of the size."""

    LOW, HIGH = 12.0, 160.0

    def __init__(self, front: pd.DataFrame) -> None:
        size = numeric(front, "size_bytes") if "size_bytes" in front.columns else pd.Series()
        size = size[np.isfinite(size) & (size > 0)]
        self.lo = float(np.sqrt(size.min())) if len(size) else 0.0
        self.hi = float(np.sqrt(size.max())) if len(size) else 0.0

    def area(self, size_bytes: float) -> float:
        if not np.isfinite(size_bytes) or self.hi <= self.lo:
            return 36.0
        t = (np.sqrt(max(size_bytes, 0.0)) - self.lo) / (self.hi - self.lo)
        return float(self.LOW + np.clip(t, 0.0, 1.0) * (self.HIGH - self.LOW))

    def __call__(self, rows: pd.DataFrame) -> list[float]:
        if "size_bytes" not in rows.columns:
            return [36.0] * len(rows)
        return [self.area(v) for v in numeric(rows, "size_bytes")]

    def legend_sizes(self) -> list[tuple[float, float]]:
        """(kB, marker area) for the smallest and largest size of the front (rounded)."""
        if self.hi <= self.lo:
            return []
        out = []
        for root in (self.lo, self.hi):
            kb = float(f"{root**2 / 1000:.2g}")
            out.append((kb, self.area(kb * 1000)))
        return out


def _label_baselines(ax: Any, base: pd.DataFrame, obstacles: pd.DataFrame) -> None:
    """Name each baseline next to its star (left of it near the right edge). A label that
    would cover another label, a front marker or another star moves down a line at a time
    (baselines often sit close together and near the front). Call once the axis scale and
    layout are set."""
    placed: list[tuple[float, float]] = []  # label anchors in display pixels
    marks = [  # front markers and the baselines' own stars
        tuple(ax.transData.transform((r["latency_ms"], r["accuracy"] * 100)))
        for frame in (obstacles, base)
        for _, r in frame.iterrows()
    ]
    right = ax.get_window_extent().x1
    order = base.assign(_y=base["accuracy"] * 100).sort_values("_y", ascending=False)
    for _, row in order.iterrows():
        px, py = ax.transData.transform((row["latency_ms"], row["_y"]))
        width = _CHAR_PX * len(str(row["baseline"]))
        x, y = px + 6, py + 5
        if x + width > right:  # it would run off the plot: write it left of the star
            x = px - 6 - width
        for _ in range(40):
            if not any(_covers(x, y, qx, qy) for qx, qy in placed) and not any(
                x - _MARK_PX <= mx <= x + width + _MARK_PX
                and y - _MARK_PX <= my <= y + _LABEL_H + _MARK_PX
                for mx, my in marks
                if (mx, my) != (px, py)
            ):
                break
            y -= _LABEL_H
        placed.append((x, y))
        ax.annotate(
            str(row["baseline"]), (row["latency_ms"], row["_y"]), xytext=(x - px, y - py),
            textcoords="offset pixels", fontsize=7, color="tab:red",
            arrowprops={"arrowstyle": "-", "color": "tab:red", "lw": 0.4},
        )  # fmt: skip


def _covers(x: float, y: float, qx: float, qy: float) -> bool:
    return abs(qx - x) < _LABEL_W and abs(qy - y) < _LABEL_H


def _minor_log_label(value: float, _pos: int) -> str:
    """Label the 2x and 5x minor ticks of a log axis only, so labels never collide."""
    if value <= 0:
        return ""
    mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
    return f"{value:g}" if mantissa in (2.0, 5.0) else ""


def _finite_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with finite accuracy and latency, those two columns as floats."""
    acc = numeric(frame, "accuracy")
    lat = numeric(frame, "latency_ms")
    keep = np.isfinite(acc) & np.isfinite(lat)
    out = frame[keep].copy()
    out["accuracy"] = acc[keep]
    out["latency_ms"] = lat[keep]
    return out
