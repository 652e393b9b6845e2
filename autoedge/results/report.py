"""report.md: a short markdown summary of one run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoedge.results._frame import (
    baseline_mask,
    feasible_mask,
    finite,
    is_blank,
    numeric,
    reused_mask,
    truthy,
)
from autoedge.results.overlap import indistinguishable
from autoedge.results.pareto import sort_by_latency

CONFIG_KEYS = (
    "space",
    "data",
    "target",
    "backend",
    "sampler",
    "budget",
    "objectives",
    "constraints",
    "fidelity",
    "rungs",
    "eta",
)
"""run.json keys listed under "Configuration", in this order, when present."""

MAX_FRONT_ROWS = 30
"""Front rows listed in the report; the rest are counted ("… and N more in pareto.csv")."""
MAX_FAILED_ROWS = 10
"""Failed trials listed with their error; the rest are counted."""
_ARCH_CHARS = 60
_ERROR_CHARS = 160


def render_report(
    config: dict[str, Any], trials: pd.DataFrame, front: pd.DataFrame, *, summary: dict[str, Any]
) -> str:
    """Markdown report: config, counts, hypervolume, front, hand baselines, failures, refined.

    Counts come from `summary` (trials/ok/failed/reused/interrupted) when given, else from
    `trials`; long lists are cut (front after 30 rows, failures after 10).
    """
    lines: list[str] = [f"# autoedge run `{_run_name(summary.get('run'))}`", ""]
    lines += _config_section(config)
    lines += _counts_section(trials, summary)
    lines += _rungs_section(summary.get("rungs"))
    lines += _front_section(front, tuple(config.get("objectives") or ("accuracy", "latency")))
    lines += _baseline_section(trials, front)
    lines += _failed_section(trials)
    lines += _refined_section(summary.get("refined"))
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def _run_name(run: Any) -> str:
    if is_blank(run):
        return "unnamed"
    return Path(str(run)).name or str(run)


def _config_section(config: dict[str, Any]) -> list[str]:
    items = [f"- {k}: {_inline(config[k])}" for k in CONFIG_KEYS if k in config]
    return ["## Configuration", "", *items, ""] if items else []


def _counts_section(trials: pd.DataFrame, summary: dict[str, Any]) -> list[str]:
    state = trials["state"].astype(str).str.strip() if "state" in trials.columns else None

    def count(name: str, computed: int) -> int:
        value = summary.get(name)
        return int(value) if finite(value) else computed

    total = count("trials", len(trials))
    ok = count("ok", int((state == "ok").sum()) if state is not None else 0)
    failed = count("failed", int((state == "failed").sum()) if state is not None else 0)
    interrupted = count(
        "interrupted", int((state == "interrupted").sum()) if state is not None else 0
    )
    reused = count("reused", int(reused_mask(trials).sum()))
    errors = count("errors", int((state == "error").sum()) if state is not None else 0)
    lines = [
        "## Trials",
        "",
        f"- {total} trials: {ok} ok, {failed} failed, {interrupted} interrupted; "
        f"{reused} reused an earlier identical candidate",
    ]
    if errors:
        lines.append(
            f"- {errors} trial(s) hit a bug in autoedge itself (state `error`, not the "
            "candidate's fault): tracebacks in `errors/`"
        )
    if "hypervolume" in summary and finite(summary["hypervolume"]):
        ref = summary.get("hypervolume_reference")
        ref_text = f" (reference: {_reference(ref)})" if ref is not None else ""
        lines.append(
            "- hypervolume of (1 - accuracy, latency / reference latency): "
            f"{float(summary['hypervolume']):.4g}{ref_text}"
        )
    return [*lines, ""]


def _reference(ref: Any) -> str:
    if finite(ref):
        return f"error 1.0, latency {float(ref):g} ms"
    return _inline(ref)


def _ships(row: pd.Series) -> str:
    """How the point ships, with its per-stage map when mixed."""
    ships = _text(row.get("ships_as")) or "-"
    stages = _text(row.get("precision_map"))
    return f"{ships} ({stages.replace('|', ', ')})" if ships == "mixed" and stages else ships


def _front_section(front: pd.DataFrame, objectives: tuple[str, ...]) -> list[str]:
    lines = [f"## Pareto front ({len(front)} point{'s' if len(front) != 1 else ''})", ""]
    if front.empty:
        return [*lines, "No trial is on the front (no successful, feasible trial).", ""]
    if "feasible" in front.columns and not feasible_mask(front).any():
        lines += ["No trial met the constraints; this front ignores them.", ""]
    lines += [
        "| trial | accuracy (95% interval) | latency | ships as | size | params | MACs | ≈ "
        "| key | arch |",
        "|---:|---:|---:|---|---:|---:|---:|---|---|---|",
    ]
    twins = indistinguishable(front, objectives) if "number" in front.columns else {}
    rows = sort_by_latency(front)
    for _, r in rows.head(MAX_FRONT_ROWS).iterrows():
        lines.append(
            f"| {_int(r.get('number'))} | {_accuracy(r)} | {_latency(r)} "
            f"| {_ships(r)} | {_kb(r.get('size_bytes'))} | {_count(r.get('params'))} "
            f"| {_count(r.get('macs'))} | {_twins(twins, r.get('number'))} "
            f"| `{_text(r.get('key'))}` "
            f"| {_cell(_text(r.get('arch')), _ARCH_CHARS)} |"
        )
    if len(rows) > MAX_FRONT_ROWS:
        lines.append(f"\n… and {len(rows) - MAX_FRONT_ROWS} more in pareto.csv")
    if twins:
        lines += [
            "",
            f"≈: {len(twins)} of these points have intervals (accuracy 95%, latency p10-p90) "
            "that overlap another's on every objective: the measurements cannot tell them apart.",
        ]
    return [*lines, ""]


def _twins(twins: dict[int, list[int]], number: Any) -> str:
    if not finite(number):
        return ""
    return ", ".join(f"#{n}" for n in twins.get(int(float(number)), []))


def _baseline_section(trials: pd.DataFrame, front: pd.DataFrame) -> list[str]:
    base = trials[baseline_mask(trials).to_numpy(dtype=bool)]
    if base.empty:
        return []
    front_numbers = set(front["number"].tolist()) if "number" in front.columns else set()
    f_acc, f_lat = numeric(front, "accuracy"), numeric(front, "latency_ms")
    lines = ["## Hand baselines", ""]
    for _, b in base.iterrows():
        name = _text(b.get("baseline"))
        head = f"- **{name}** (trial {_int(b.get('number'))})"
        if str(b.get("state", "")).strip() != "ok":
            error = _cell(_text(b.get("error")), _ERROR_CHARS) or "no error recorded"
            lines.append(f"{head}: {_text(b.get('state'))} — {error}")
            continue
        metrics = f"{_pct(b.get('accuracy'))}, {_latency(b)}, {_kb(b.get('size_bytes'))}"
        acc, lat = _float(b.get("accuracy")), _float(b.get("latency_ms"))
        beats = (f_acc >= acc) & (f_lat <= lat) & ((f_acc > acc) | (f_lat < lat))
        if b.get("number") in front_numbers:
            verdict = "on the front"
        elif beats.any():
            idx = np.flatnonzero(beats)
            best = idx[np.argmin(f_lat[idx])]
            d = front.iloc[best]
            verdict = (
                f"dominated by trial {_int(d.get('number'))} "
                f"({_pct(d.get('accuracy'))}, {_latency(d)})"
            )
        else:
            verdict = "not dominated in accuracy and latency by any front point"
            if "feasible" in b.index and not truthy(b.get("feasible")):
                verdict += " (it misses the constraints)"
        lines.append(f"{head}: {metrics} — {verdict}")
        lines += _versus_baseline(b, front)
    return [*lines, ""]


def _versus_baseline(b: pd.Series, front: pd.DataFrame) -> list[str]:
    """The smallest and the fastest front point within 1 point of the baseline's accuracy,
    as deployed-bytes and latency ratios; only like for like (the baseline measured at the
    front's rung; one run, so one target and latency source)."""
    if front.empty:
        return []
    rung, front_rung = _float(b.get("rung")), numeric(front, "rung")
    same = np.isfinite(front_rung) & (front_rung == rung) if math.isfinite(rung) else None
    if same is not None and not same.all():
        return [f"  - measured at rung {_int(rung)}, the front at a higher one: no ratios"]
    acc, size, lat = (_float(b.get(c)) for c in ("accuracy", "size_bytes", "latency_ms"))
    near = front[(numeric(front, "accuracy") >= acc - 0.01) & (front["number"] != b.get("number"))]
    if near.empty or not all(math.isfinite(v) and v > 0 for v in (acc, size, lat)):
        return ["  - no other front point within 1 point of its accuracy"]
    out = []
    for what, column in (("smallest", "size_bytes"), ("fastest", "latency_ms")):
        p = near.iloc[int(np.nanargmin(numeric(near, column)))]
        out.append(
            f"  - {what} front point within 1 point of its accuracy: trial {_int(p.get('number'))}"
            f" ({_pct(p.get('accuracy'))}), {size / _float(p.get('size_bytes')):.1f}x smaller, "
            f"{lat / _float(p.get('latency_ms')):.1f}x faster"
        )
    return out


def _failed_section(trials: pd.DataFrame) -> list[str]:
    if "state" not in trials.columns:
        return []
    failed = trials[(trials["state"].astype(str).str.strip() == "failed").to_numpy(dtype=bool)]
    if failed.empty:
        return []
    lines = [f"## Failed trials ({len(failed)})", ""]
    for _, r in failed.head(MAX_FAILED_ROWS).iterrows():
        error = _cell(_text(r.get("error")), _ERROR_CHARS) or "no error recorded"
        lines.append(f"- trial {_int(r.get('number'))}: {error}")
    if len(failed) > MAX_FAILED_ROWS:
        lines.append(f"- … and {len(failed) - MAX_FAILED_ROWS} more")
    return [*lines, ""]


def _rungs_section(rungs: Any) -> list[str]:
    """Multi-fidelity: how many candidates each rung measured and promoted, and how well a
    rung's accuracy ranking agrees with the next one's."""
    if not rungs:
        return []
    lines = [
        "## Rungs",
        "",
        "The front is made of top-rung results only; rungs.csv holds every rung's result.",
        "",
        "| rung | results | promoted | Spearman with next rung (pairs) |",
        "|---:|---:|---:|---:|",
    ]
    for r in rungs:
        rho = r.get("spearman_with_next")
        agree = f"{rho:.2f} ({r.get('pairs_with_next')})" if finite(rho) else _MISSING
        lines.append(f"| {r['rung']} | {r['results']} | {r['promoted']} | {agree} |")
    return [*lines, ""]


def _refined_section(refined: Any) -> list[str]:
    if not refined:
        return []
    lines = [
        "## Refined at full fidelity",
        "",
        "| trial | key | accuracy (search) | accuracy (full) | latency (full) |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in refined:
        lines.append(
            f"| {_int(r.get('number'))} | `{_text(r.get('key'))}` | {_pct(r.get('accuracy'))} "
            f"| {_pct(r.get('accuracy_full'))} | {_ms(r.get('latency_ms_full'))} |"
        )
    return [*lines, ""]


# -- formatting -------------------------------------------------------------------------------

_MISSING = "–"


def _float(value: Any) -> float:
    return float(value) if finite(value) else float("nan")


def _int(value: Any) -> str:
    return str(int(float(value))) if finite(value) else _MISSING


def _pct(value: Any) -> str:
    return f"{100 * float(value):.2f} %" if finite(value) else _MISSING


def _accuracy(row: pd.Series) -> str:
    """Accuracy with its 95% interval when the row has one: "91.20 % (89.9-92.4)"."""
    text = _pct(row.get("accuracy"))
    low, high = row.get("accuracy_low"), row.get("accuracy_high")
    if text == _MISSING or not (finite(low) and finite(high)):
        return text
    return f"{text} ({100 * float(low):.1f}-{100 * float(high):.1f})"


def _ms(value: Any) -> str:
    return f"{float(value):.3g} ms" if finite(value) else _MISSING


def _latency(row: pd.Series) -> str:
    text = _ms(row.get("latency_ms"))
    source = _text(row.get("latency_source"))
    low, high = row.get("latency_low_ms"), row.get("latency_high_ms")
    if source == "predicted" and finite(low) and finite(high):
        source += f", 80% {float(low):.3g}-{float(high):.3g}"
    return f"{text} ({source})" if source and text != _MISSING else text


def _kb(value: Any) -> str:
    return f"{float(value) / 1000:,.1f} kB" if finite(value) else _MISSING


def _count(value: Any) -> str:
    if not finite(value):
        return _MISSING
    v = float(value)
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.2f} {unit}"
    return f"{v:.0f}"


def _text(value: Any) -> str:
    return "" if is_blank(value) else " ".join(str(value).split())


def _cell(text: str, limit: int) -> str:
    """One table-safe line of at most `limit` characters."""
    text = text.replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_inline(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_inline(v) for v in value) or "none"
    return _text(value) or "none"
