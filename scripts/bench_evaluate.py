"""Benchmark evaluate() at the default fidelity (and cheaper ones): wall time per phase, accuracy.

    .venv/bin/python scripts/bench_evaluate.py [--n 10] [--data fashion-mnist] [--seed 0]
        [--fidelities 1x5000,3x5000+1x1000@0.2,1x2000]

Evaluates the MobileNetV3-Small-like baselines and `--n` candidates sampled from the default
space at each fidelity (the first is the reference, default: the default fidelity only), then
writes results/bench_evaluate.csv (one row per candidate and fidelity) and
results/bench_evaluate.md (per fidelity: projected budget-200 search time, share of time
outside training, the baselines' accuracy, and how well the sampled candidates' accuracy
ranks agree with the first fidelity's). A fidelity is EPOCHSxSUBSET (the training before
compression), optionally followed by +EPOCHSxSUBSET@SCALE (the fine-tune after it, at SCALE
times the learning rate); what is not given keeps the default fidelity's value. Training =
the `train` and `finetune` phases; everything else (data preparation, build,
prune/factorize, export, int8 quantization, ONNX accuracy, latency, memory) is overhead.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from scipy.stats import kendalltau, spearmanr

from autoedge.data import get_dataset
from autoedge.data.dataset import ImageDataset
from autoedge.errors import AutoEdgeError
from autoedge.evaluate import DEFAULT_FIDELITY, Fidelity, evaluate, prepare_teacher
from autoedge.evaluate.teacher import Teacher
from autoedge.hardware.onnx_graph import precision_bits
from autoedge.hardware.targets import get_target
from autoedge.space import DEFAULT_SPACE, Candidate, get_space, restrict_bits, sample_candidates
from autoedge.space.presets import baseline_candidate

RESULTS = Path(__file__).resolve().parents[1] / "results"
TRAINING = ("train", "finetune")
PHASES = ("prepare", "train", "compress", "finetune", "export", "measure")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="sampled candidates")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "bench_evaluate"))
    default = f"{DEFAULT_FIDELITY.epochs}x{DEFAULT_FIDELITY.subset}"
    ap.add_argument(
        "--fidelities",
        default=default,
        help="EPOCHSxSUBSET[+EPOCHSxSUBSET@SCALE],... (train[+fine-tune]; first: reference)",
    )
    args = ap.parse_args()
    try:
        fidelities = [_fidelity(f) for f in args.fidelities.split(",")]
    except (ValueError, AutoEdgeError):
        ap.error(f"--fidelities {args.fidelities!r}: use e.g. 1x5000 or 3x5000+1x1000@0.2")

    # Sampled as a search on host samples: only the bit-widths the host's runtime executes.
    host = get_target("host")
    space, _ = restrict_bits(
        get_space(DEFAULT_SPACE), precision_bits(host.precisions), target="host"
    )
    dataset = get_dataset(args.data)
    t0 = time.perf_counter()
    teacher = prepare_teacher("auto", dataset, log=print)
    teacher_s = time.perf_counter() - t0
    print(dataset.describe())
    print(f"teacher: {teacher.description} (ready in {teacher_s:.1f}s)")
    named = [
        (n, baseline_candidate(n, space))
        for n in ("mobilenetv3-small-fp32", "mobilenetv3-small-int8")
    ]
    named += [(f"sample-{i}", c) for i, c in enumerate(sample_candidates(space, args.n, args.seed))]
    rows = []
    for label, fidelity in fidelities:
        for name, cand in named:
            rows.append(_measure(label, fidelity, name, cand, dataset, teacher))
    df = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".csv"), index=False)
    out.with_suffix(".md").write_text(
        _report(df, dataset.describe(), teacher.description, teacher_s, args)
    )
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.csv')}")


def _fidelity(text: str) -> tuple[str, Fidelity]:
    """`3x5000` or `3x5000+1x1000@0.2` -> (label, fidelity); ValueError if malformed."""
    label = text.strip()
    train, plus, tune = label.partition("+")
    epochs, subset = train.split("x")
    fid = DEFAULT_FIDELITY.with_budget(epochs=int(epochs), subset=int(subset))
    if plus:
        budget, _, scale = tune.partition("@")
        ft_epochs, ft_subset = budget.split("x")
        fid = replace(
            fid,
            finetune_epochs=int(ft_epochs),
            finetune_subset=int(ft_subset),
            finetune_lr_scale=float(scale) if scale else fid.finetune_lr_scale,
        )
    return label, fid


def _measure(
    label: str,
    fidelity: Fidelity,
    name: str,
    cand: Candidate,
    dataset: ImageDataset,
    teacher: Teacher | None,
) -> dict[str, Any]:
    r = evaluate(cand, dataset, fidelity=fidelity, teacher=teacher)
    row = {
        "fidelity": label,
        "name": name,
        "key": r.key,
        "status": r.status,
        "error": r.error,
        "resolution": cand.resolution,
        "accuracy": r.accuracy,
        "accuracy_torch": r.accuracy_torch,
        "int8": r.int8,
        "params": r.params,
        "macs": r.macs,
        "latency_ms": r.latency_ms,
        "size_bytes": r.size_bytes,
        "onnx_bytes": r.onnx_bytes,
        "onnx_fp32_bytes": r.onnx_fp32_bytes,
        "wall_s": r.wall_s,
    }
    row.update({f"{p}_s": r.phase_s.get(p, 0.0) for p in PHASES})
    acc = f"{100 * r.accuracy:.1f}%" if r.accuracy is not None else r.error
    print(f"{label:10s} {name:24s} {r.wall_s:6.1f}s  {acc}", flush=True)
    return row


def _report(
    df: pd.DataFrame, data: str, teacher: str, teacher_s: float, args: argparse.Namespace
) -> str:
    labels = list(dict.fromkeys(df.fidelity))
    ref = labels[0]
    lines = [
        "# evaluate() at the default fidelity" + (" and cheaper ones" if len(labels) > 1 else ""),
        "",
        f"Command: `.venv/bin/python scripts/bench_evaluate.py --n {args.n} --data {args.data} "
        f"--seed {args.seed} --fidelities {args.fidelities}`",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads",
        f"- Data: {data}",
        f"- Teacher: {teacher} (ready in {teacher_s:.0f} s)",
        f"- Default fidelity: {DEFAULT_FIDELITY.to_json()}; a fidelity EPOCHSxSUBSET changes "
        "only those two, +EPOCHSxSUBSET@SCALE the fine-tune after compression. Accuracy is "
        "ONNX Runtime top-1 on "
        f"{DEFAULT_FIDELITY.test_subset or 'all'} test images.",
        "",
        "## Summary per fidelity",
        "",
        f"Sampled candidates: {args.n} from the default space (seed {args.seed}). Rank agreement "
        f"is between the sampled candidates' accuracies at that fidelity and at {ref}.",
        "",
        "| fidelity | mean s / candidate | budget-200 min | overhead outside training | "
        "small fp32 acc | small int8 acc | sampled mean acc | Spearman vs ref | Kendall vs ref |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = _sampled_accuracy(df, ref)
    for label in labels:
        part = df[df.fidelity == label]
        sampled = part[part.name.str.startswith("sample-")]
        ok = sampled[sampled.status == "ok"]
        train = ok[[f"{p}_s" for p in TRAINING]].sum(axis=1)
        overhead = float((ok.wall_s - train).sum() / ok.wall_s.sum())
        acc = _sampled_accuracy(df, label)
        both = pd.concat([base, acc], axis=1, join="inner").dropna()
        rho = spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic if len(both) > 2 else None
        tau = kendalltau(both.iloc[:, 0], both.iloc[:, 1]).statistic if len(both) > 2 else None
        mean_wall = float(sampled.wall_s.mean())
        lines.append(
            f"| {label} | {mean_wall:.1f} | {200 * mean_wall / 60:.0f} | {100 * overhead:.1f}% | "
            f"{_acc(part, 'mobilenetv3-small-fp32')} | {_acc(part, 'mobilenetv3-small-int8')} | "
            f"{100 * float(ok.accuracy.mean()):.1f}% | {_num(rho)} | {_num(tau)} |"
        )
    lines += [
        "",
        "## Every candidate",
        "",
        "| fidelity | name | res | params | accuracy | torch acc | int8 | ONNX kB (fp32 kB) | "
        "wall s | " + " | ".join(PHASES) + " |",
        "|---|---|---|---|---|---|---|---|---|" + "---|" * len(PHASES),
    ]
    for _, r in df.iterrows():
        acc = f"{100 * r.accuracy:.1f}%" if pd.notna(r.accuracy) else f"failed: {r.error}"
        tacc = f"{100 * r.accuracy_torch:.1f}%" if pd.notna(r.accuracy_torch) else ""
        params = f"{int(r.params):,}" if pd.notna(r.params) else ""
        size = (
            f"{r.onnx_bytes / 1e3:,.0f} ({r.onnx_fp32_bytes / 1e3:,.0f})"
            if pd.notna(r.onnx_bytes)
            else ""
        )
        lines.append(
            f"| {r.fidelity} | {r['name']} | {r.resolution} | {params} | {acc} | {tacc} | "
            f"{r.int8} | {size} | {r.wall_s:.1f} | "
            + " | ".join(f"{r[f'{p}_s']:.2f}" for p in PHASES)
            + " |"
        )
    return "\n".join(lines) + "\n"


def _sampled_accuracy(df: pd.DataFrame, label: str) -> pd.Series:
    part = df[(df.fidelity == label) & df.name.str.startswith("sample-")]
    return part.set_index("name")["accuracy"].rename(label)


def _acc(part: pd.DataFrame, name: str) -> str:
    row = part[part.name == name]
    return (
        f"{100 * float(row.accuracy.iloc[0]):.1f}%"
        if len(row) and pd.notna(row.accuracy.iloc[0])
        else "-"
    )


def _num(v: float | None) -> str:
    return f"{v:.2f}" if v is not None else "-"


if __name__ == "__main__":
    main()
