"""The accuracy-vs-latency scatter with the Pareto front and hand baselines, as a PNG."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoedge.results._frame import baseline_mask, numeric, ok_mask
from autoedge.results.atomic import write_bytes_atomic

#: A baseline label's footprint in pixels at the figure's 120 dpi (7-point text, ~22 chars).
_LABEL_W, _LABEL_H = 130.0, 13.0


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
    """Draw ok trials (grey), the front (step line) and baselines (labelled) to a PNG at `path`.

    Uses the Agg canvas directly (no pyplot state); the file is written atomically. The x axis
    is logarithmic when the latencies span more than a factor of 20.
    """
    # matplotlib loads here, not with the package: commands that never plot start faster.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(7.0, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ok = _finite_rows(trials[ok_mask(trials).to_numpy(dtype=bool)])
    pts = _finite_rows(front)
    if len(ok):
        ax.scatter(ok["latency_ms"], ok["accuracy"] * 100, s=12, c="0.65", label="trials", zorder=1)
    if len(pts):
        order = np.argsort(pts["latency_ms"].to_numpy(), kind="mergesort")
        x = pts["latency_ms"].to_numpy()[order]
        y = pts["accuracy"].to_numpy()[order] * 100
        ax.step(x, y, where="post", color="tab:blue", linewidth=1.2, zorder=2)
        ax.scatter(
            x, y, s=36, c="tab:blue", edgecolors="black", linewidths=0.5,
            label="Pareto front", zorder=3,
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
    if len(base):
        _label_baselines(ax, base)
    if not len(ok):
        ax.text(0.5, 0.5, "no successful trials", ha="center", va="center",
                transform=ax.transAxes, color="0.4")  # fmt: skip
    ax.set_xlabel(latency_label)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())


def _label_baselines(ax: Any, base: pd.DataFrame) -> None:
    """Name each baseline next to its star; labels that would overlap are stacked downwards
    (baselines often sit close together). Call once the axis scale is set."""
    placed: list[tuple[float, float]] = []  # label anchors in display pixels
    order = base.assign(_y=base["accuracy"] * 100).sort_values("_y", ascending=False)
    for _, row in order.iterrows():
        px, py = ax.transData.transform((row["latency_ms"], row["_y"]))
        x, y = px + 6, py + 5
        for qx, qy in placed:
            if abs(qx - x) < _LABEL_W and abs(qy - y) < _LABEL_H:
                y = qy - _LABEL_H
        placed.append((x, y))
        ax.annotate(
            str(row["baseline"]), (row["latency_ms"], row["_y"]), xytext=(x - px, y - py),
            textcoords="offset pixels", fontsize=7, color="tab:red",
        )  # fmt: skip


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
