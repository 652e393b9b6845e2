"""What the rungs of a multi-fidelity run did: rungs.csv and the counts and rank agreement
the report and the summary show."""

from __future__ import annotations

from typing import Any

import pandas as pd

from autoedge.search.records import TrialRecord

#: rungs.csv: one row per (trial, rung) result, in the order the results arrived.
RUNG_COLUMNS = (
    "number",
    "rung",
    "seq",
    "status",
    "promoted",
    "rank",
    "of",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "latency_ms",
    "size_bytes",
    "peak_memory_bytes",
    "test_images",
    "steps",
    "wall_s",
    "key",
)
_RESULT_FIELDS = RUNG_COLUMNS[RUNG_COLUMNS.index("accuracy") : RUNG_COLUMNS.index("wall_s") + 1]


def rungs_frame(records: list[TrialRecord]) -> pd.DataFrame:
    """Every recorded rung result of every trial (trials still running included)."""
    rows = []
    for record in records:
        for entry in record.rungs:
            result = entry.get("result") or {}
            row: dict[str, Any] = {
                "number": record.number,
                "rung": int(entry["rung"]),
                "seq": entry.get("seq"),
                "status": result.get("status"),
                "promoted": bool(entry.get("promoted")),
                "rank": entry.get("rank"),
                "of": entry.get("of"),
                "key": record.key,
            }
            row.update({name: result.get(name) for name in _RESULT_FIELDS})
            rows.append(row)
    frame = pd.DataFrame(rows, columns=list(RUNG_COLUMNS))
    return frame.sort_values("seq", kind="stable").reset_index(drop=True)


def rung_summary(frame: pd.DataFrame, rungs: int) -> list[dict[str, Any]]:
    """Per rung: results recorded, promotions made, and the Spearman rank agreement of
    accuracy with the rung above over the candidates measured at both (None below 3)."""
    out = []
    ok = frame[frame["status"] == "ok"]
    for rung in range(rungs):
        here = frame[frame["rung"] == rung]
        agreement, pairs = None, 0
        if rung + 1 < rungs:
            both = ok[ok["rung"] == rung].merge(
                ok[ok["rung"] == rung + 1], on="number", suffixes=("", "_up")
            )
            pairs = len(both)
            if pairs >= 3:
                rho = both["accuracy"].corr(both["accuracy_up"], method="spearman")
                agreement = None if pd.isna(rho) else round(float(rho), 3)
        out.append(
            {
                "rung": rung,
                "results": len(here),
                "promoted": int(here["promoted"].sum()),
                "spearman_with_next": agreement,
                "pairs_with_next": pairs,
            }
        )
    return out
