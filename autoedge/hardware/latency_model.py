"""The per-operator latency model: roofline time per op kind, scaled by fitted coefficients.

For every operator that is not fused into a convolution, its roofline time is
max(MACs / peak compute at its precision, bytes moved / memory bandwidth) — compute- or
memory-bound, whichever is slower on this device. The model predicts

    latency_ms = sum over op kinds k of c[k] * (roofline ms of the ops of kind k)
                 + op_ms * (number of ops) + model_ms

Coefficients `c["<kind>@<precision>"]` are 1 / efficiency of the runtime on that kind of op
(depthwise convolutions reach a small share of peak, 1x1 convolutions a large one); `op_ms`
is the per-operator dispatch overhead and `model_ms` the per-inference one. They are fitted by
non-negative least squares on relative error, with a weak pull toward the prior so a kind the
measurements never show keeps a sensible value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from autoedge.errors import TargetError
from autoedge.hardware.onnx_graph import OpWork

#: Coefficient of a kind the profile has no fitted value for: 1 / a typical efficiency.
PRIOR_KIND = 3.0
PRIOR = {"op_ms": 0.0, "model_ms": 0.0}
#: Strength of the pull toward the prior (on columns scaled to unit RMS).
RIDGE = 1e-2


def features(
    ops: Iterable[OpWork],
    *,
    peak_gmacs: dict[str, float],
    memory_gbs: float,
    fuse: Iterable[str],
    groups: dict[str, str] | None = None,
) -> dict[str, float]:
    """Roofline milliseconds per "kind@precision", the op count ("op_ms") and "model_ms"=1.

    `groups` maps op kinds onto shared coefficients (e.g. every convolution kind onto "conv"
    for a GPU, where few measurements cannot tell them apart); a group holding "@" (such as
    "memory@all") is one coefficient for every precision. Unmapped kinds keep their own.
    """
    fuse_set = frozenset(fuse)
    groups = groups or {}
    out: dict[str, float] = {"op_ms": 0.0, "model_ms": 1.0}
    for op in ops:
        if op.fused(fuse_set):
            continue
        peak = peak_gmacs.get(op.precision)
        if peak is None:
            raise TargetError(f"no peak compute for precision {op.precision}")
        compute_ms = op.macs / (peak * 1e6)
        memory_ms = op.bytes / (memory_gbs * 1e6)
        group = groups.get(op.kind, op.kind)
        key = group if "@" in group else f"{group}@{op.precision}"
        out[key] = out.get(key, 0.0) + max(compute_ms, memory_ms)
        out["op_ms"] += 1.0
    return out


def coefficient(coefs: dict[str, float], name: str, precisions: Sequence[str]) -> float:
    """`coefs[name]`, else the same op kind at another precision (in `precisions` order),
    else the prior: a precision without measurements borrows the kind's efficiency."""
    if name in coefs:
        return coefs[name]
    if "@" in name:
        kind = name.split("@", 1)[0]
        for p in precisions:
            if f"{kind}@{p}" in coefs:
                return coefs[f"{kind}@{p}"]
        return PRIOR_KIND
    return PRIOR.get(name, 0.0)


def predict_ms(
    feats: dict[str, float], coefs: dict[str, float], precisions: Sequence[str]
) -> float:
    """The model's latency for one network's features."""
    return float(sum(v * coefficient(coefs, k, precisions) for k, v in feats.items()))


def fit_coefficients(
    rows: Sequence[dict[str, float]],
    latencies_ms: Sequence[float],
    *,
    ridge: float = RIDGE,
    prior: dict[str, float] | None = None,
    precisions: Sequence[str] = (),
) -> dict[str, float]:
    """Non-negative least squares on relative error, pulled weakly toward the prior
    (`coefficient` of an empty fit: PRIOR_KIND per op kind, PRIOR for the overheads; or of
    the `prior` coefficients, read at `precisions`, to update an existing fit).

    Every feature name that is non-zero in some row gets a coefficient; a `prior`
    coefficient the rows never show is kept as it is (an update leaves alone what the new
    measurements cannot speak about).
    """
    y = np.asarray(latencies_ms, dtype=float)
    if len(rows) != len(y) or len(y) == 0:
        raise TargetError("calibration needs at least one measured model")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise TargetError("measured latencies must be positive numbers")
    names = sorted({k for r in rows for k, v in r.items() if v != 0})
    a = np.array([[r.get(n, 0.0) for n in names] for r in rows]) / y[:, None]
    b = np.ones(len(y))
    scale = np.sqrt((a**2).mean(axis=0))
    scale[scale == 0] = 1.0
    a_scaled = a / scale
    pri = np.array([coefficient(prior or {}, n, precisions) for n in names]) * scale
    lam = np.sqrt(ridge * len(y))
    a_aug = np.vstack([a_scaled, lam * np.eye(len(names))])
    b_aug = np.concatenate([b, lam * pri])
    from scipy.optimize import nnls

    sol, _ = nnls(a_aug, b_aug, maxiter=50 * len(names))
    fitted = {n: float(v / s) for n, v, s in zip(names, sol, scale, strict=True)}
    return {**(prior or {}), **fitted}


def fit_sessions(
    rows: Sequence[dict[str, float]],
    latencies_ms: Sequence[float],
    sessions: Sequence[str],
    *,
    reference: str,
    prior: dict[str, float] | None = None,
    precisions: Sequence[str] = (),
    rounds: int = 30,
) -> tuple[dict[str, float], dict[str, float]]:
    """Coefficients for the `reference` measurement session and each session's latency
    scale against it (1.0 for the reference).

    The same network on the same device differs between runtime versions; measurements of
    several sessions are fitted together by dividing each session's latencies by its scale
    (the geometric mean of measured / predicted over its rows), alternating with the fit.
    """
    names = sorted(set(sessions))
    scale = dict.fromkeys(names, 1.0)
    ys = np.asarray(latencies_ms, dtype=float)
    coefs: dict[str, float] = {}
    for _ in range(rounds if len(names) > 1 else 1):
        adjusted = [y / scale[s] for y, s in zip(ys, sessions, strict=True)]
        coefs = fit_coefficients(rows, adjusted, prior=prior, precisions=precisions)
        pred = np.array([predict_ms(r, coefs, precisions) for r in rows])
        new = {}
        for name in names:
            idx = [i for i, s in enumerate(sessions) if s == name]
            ok = [i for i in idx if pred[i] > 0]
            geo = float(np.exp(np.mean(np.log(ys[ok] / pred[ok])))) if ok else 1.0
            new[name] = geo
        ref = new.get(reference, 1.0)
        new = {k: v / ref for k, v in new.items()}
        done = all(abs(math.log(new[k] / scale[k])) < 1e-6 for k in names)
        scale = new
        if done:
            break
    return coefs, scale


@dataclass(frozen=True)
class FitQuality:
    """How well predictions match measurements."""

    mape: float  # mean absolute percentage error, %
    within_10: float  # share of models predicted within +-10 %, 0..1
    kendall_tau: float  # rank agreement, -1..1
    n: int

    def to_json(self) -> dict[str, float]:
        return {
            "mape": round(self.mape, 3),
            "within_10": round(self.within_10, 4),
            "kendall_tau": round(self.kendall_tau, 4),
            "n": self.n,
        }


def fit_quality(predicted: Sequence[float], measured: Sequence[float]) -> FitQuality:
    """MAPE, share within +-10 % and Kendall's tau of predictions against measurements."""
    from scipy.stats import kendalltau

    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    rel = np.abs(p - m) / m
    tau = float(kendalltau(p, m).statistic) if len(m) > 1 else float("nan")
    return FitQuality(float(100 * rel.mean()), float((rel <= 0.10).mean()), tau, len(m))


def macs_baseline(
    train_macs: Sequence[float], train_ms: Sequence[float], test_macs: Sequence[float]
) -> list[float]:
    """The usual FLOPs proxy: latency = a * MACs + b, least squares on relative error."""
    x = np.asarray(train_macs, dtype=float)
    y = np.asarray(train_ms, dtype=float)
    a = np.column_stack([x, np.ones_like(x)]) / y[:, None]
    sol, *_ = np.linalg.lstsq(a, np.ones_like(y), rcond=None)
    return [float(sol[0] * m + sol[1]) for m in test_macs]


__all__ = [
    "FitQuality",
    "coefficient",
    "features",
    "fit_coefficients",
    "fit_quality",
    "fit_sessions",
    "macs_baseline",
    "predict_ms",
]
