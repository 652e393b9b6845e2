"""The accuracy-vs-latency scatter with the Pareto front and hand baselines, as a PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from autoedge.results._frame import baseline_mask, numeric, ok_mask
from autoedge.results.atomic import write_bytes_atomic


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
        for _, row in base.iterrows():
            ax.annotate(
                str(row["baseline"]), (row["latency_ms"], row["accuracy"] * 100),
                textcoords="offset points", xytext=(5, 4), fontsize=7, color="tab:red",
            )  # fmt: skip
    lat = ok["latency_ms"].to_numpy() if len(ok) else np.array([])
    positive = lat[lat > 0]
    if len(positive) and positive.max() / positive.min() > 20:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
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


def _finite_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with finite accuracy and latency, those two columns as floats."""
    acc = numeric(frame, "accuracy")
    lat = numeric(frame, "latency_ms")
    keep = np.isfinite(acc) & np.isfinite(lat)
    out = frame[keep].copy()
    out["accuracy"] = acc[keep]
    out["latency_ms"] = lat[keep]
    return out
