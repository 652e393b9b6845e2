"""Every host measurement, kept to calibrate this machine's latency model online.

Each time the host target measures a model, one JSON line is appended to
``$AUTOEDGE_CACHE/latency/host-<machine>.jsonl``: the latency model's features of the graph
(on the host profile's roofline), its MACs and precision, and the measured median. Lines made
under a different roofline (the profile's peaks or fusion list changed) are skipped on refit.
`refit_host` fits the host profile to them and saves it where `get_target("host")` finds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path

from autoedge.cache import cache_root
from autoedge.errors import TargetError
from autoedge.hardware.calibration import (
    CalibrationReport,
    Measurement,
    calibrate,
    profile_features,
)
from autoedge.hardware.host_latency import LatencyMeasurement
from autoedge.hardware.onnx_graph import OpWork, ops_precision, total_macs
from autoedge.hardware.profiles import TargetProfile

#: Keep at most this many lines (the newest).
MAX_ROWS = 20_000


def machine_id(threads: int = 1) -> str:
    """This machine and thread count, as a file-name-safe id."""
    text = f"{platform.node()}|{platform.machine()}|{platform.processor()}|{os.cpu_count()}"
    return f"{hashlib.sha256(text.encode()).hexdigest()[:12]}-{threads}t"


def store_path(threads: int = 1) -> Path:
    """The store of this machine's host measurements."""
    return cache_root() / "latency" / f"host-{machine_id(threads)}.jsonl"


def roofline_id(profile: TargetProfile) -> str:
    """What the stored features depend on: peaks, bandwidth and fused op types."""
    data = [sorted(profile.peak_gmacs.items()), profile.memory_gbs, sorted(profile.fuse)]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:12]


def record_measurement(
    profile: TargetProfile, ops: Sequence[OpWork], result: LatencyMeasurement
) -> None:
    """Append one measured model to the store (best effort: a read-only cache is skipped)."""
    line = {
        "roofline": roofline_id(profile),
        "precision": ops_precision(ops),
        "macs": total_macs(ops),
        "latency_ms": result.median_ms,
        "spread": result.spread,
        "threads": result.threads,
        "features": profile_features(profile, ops),
    }
    path = store_path(result.threads)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # searches on several processes share the file
            f.write(json.dumps(line, sort_keys=True) + "\n")
    except OSError:
        return


def stored_measurements(profile: TargetProfile, *, threads: int = 1) -> list[Measurement]:
    """This machine's stored host measurements that match `profile`'s roofline."""
    path = store_path(threads)
    if not path.is_file():
        return []
    rid = roofline_id(profile)
    out = []
    for text in path.read_text(encoding="utf-8").splitlines()[-MAX_ROWS:]:
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process
        if not isinstance(row, dict) or row.get("roofline") != rid:
            continue
        out.append(
            Measurement(
                model=f"host-{len(out)}",
                family="host",
                precision=str(row["precision"]),
                latency_ms=float(row["latency_ms"]),
                macs=int(row["macs"]),
                features={str(k): float(v) for k, v in row["features"].items()},
            )
        )
    return out


def refit_host(profile: TargetProfile, *, threads: int = 1, minimum: int = 10) -> CalibrationReport:
    """Fit the host profile to this machine's stored measurements."""
    rows = stored_measurements(profile, threads=threads)
    if len(rows) < minimum:
        raise TargetError(
            f"only {len(rows)} host measurements stored in {store_path(threads)}; need "
            f"{minimum}: run a search or `autoedge evaluate` on host first"
        )
    source = f"{len(rows)} in-the-loop measurements on this machine ({store_path(threads)})"
    return calibrate(profile, rows, source=source)
