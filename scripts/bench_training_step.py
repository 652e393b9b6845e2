"""Benchmark where a training step's time goes on this CPU: depthwise gradients and batch size.

    .venv/bin/python scripts/bench_training_step.py [--threads 2] [--repeats 20]

1. Depthwise convolutions (channels-last, batch 64, shapes as in the default space's stages):
   milliseconds for the forward pass, the input gradient and the weight gradient, each by
   `aten.convolution_backward` with only that output asked for.
2. Training throughput (images/s: forward, backward, AdamW step) of the MobileNetV3-Small-like
   and -Large-like baselines at 32 and 64 pixels for batch sizes 32, 64 and 128.

Writes results/bench_training_step.md and .csv.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from autoedge.compress.build import build_model
from autoedge.space import get_space
from autoedge.space.presets import baseline_candidate

RESULTS = Path(__file__).resolve().parents[1] / "results"
#: (channels, height = width, kernel) of depthwise convolutions met in the default space.
DEPTHWISE = [(64, 24, 3), (96, 32, 5), (160, 12, 5), (240, 6, 5), (576, 3, 5)]
NETWORKS = ("mobilenetv3-small-fp32", "mobilenetv3-large-fp32")
RESOLUTIONS = (32, 64)
BATCHES = (32, 64, 128)


def _ms(fn: Callable[[], Any], repeats: int) -> float:
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def depthwise_rows(repeats: int) -> list[dict[str, Any]]:
    """Forward / input-gradient / weight-gradient time of each depthwise shape."""
    rows = []
    for channels, size, k in DEPTHWISE:
        cl = torch.channels_last
        w = torch.randn(channels, 1, k, k).contiguous(memory_format=cl)
        x = torch.randn(64, channels, size, size).contiguous(memory_format=cl)
        pad = [k // 2] * 2
        g = torch.randn_like(F.conv2d(x, w, padding=k // 2, groups=channels))

        def grad(which: list[bool], x=x, w=w, g=g, pad=pad, channels=channels) -> Any:
            return torch.ops.aten.convolution_backward(
                g, x, w, None, [1, 1], pad, [1, 1], False, [0, 0], channels, which
            )

        rows.append(
            {
                "channels": channels,
                "size": size,
                "kernel": k,
                "forward_ms": _ms(
                    lambda x=x, w=w, k=k, c=channels: F.conv2d(x, w, padding=k // 2, groups=c),
                    repeats,
                ),
                "input_grad_ms": _ms(lambda grad=grad: grad([True, False, False]), repeats),
                "weight_grad_ms": _ms(lambda grad=grad: grad([False, True, False]), repeats),
            }
        )
    return rows


def throughput_rows(repeats: int) -> list[dict[str, Any]]:
    """Training images per second of the baselines per resolution and batch size."""
    space = get_space("mobilenetv3")
    rows = []
    for name in NETWORKS:
        for res in RESOLUTIONS:
            for batch in BATCHES:
                torch.manual_seed(0)
                model = build_model(baseline_candidate(name, space), in_chans=1, num_classes=10)
                model = model.to(memory_format=torch.channels_last).train()
                opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
                x = torch.randn(batch, 1, res, res).contiguous(memory_format=torch.channels_last)
                y = torch.randint(0, 10, (batch,))

                def step(model=model, opt=opt, x=x, y=y) -> None:
                    loss = F.cross_entropy(model(x), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()

                ms = _ms(step, repeats)
                rows.append(
                    {
                        "network": name,
                        "resolution": res,
                        "batch": batch,
                        "images_per_s": batch / ms * 1e3,
                    }
                )
    return rows


def _table(df: pd.DataFrame, digits: int) -> list[str]:
    """A markdown table of `df` with numbers rounded to `digits`."""

    def cell(v: Any) -> str:
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    head = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    return head + ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    dw = pd.DataFrame(depthwise_rows(args.repeats))
    tp = pd.DataFrame(throughput_rows(args.repeats))
    RESULTS.mkdir(exist_ok=True)
    both = pd.concat([dw.assign(part="depthwise"), tp.assign(part="throughput")])
    both.to_csv(RESULTS / "bench_training_step.csv", index=False)
    wide = tp.pivot_table(index=["network", "resolution"], columns="batch", values="images_per_s")
    wide.columns = [f"batch {b}" for b in wide.columns]
    lines = [
        "# Where a training step's time goes",
        "",
        f"Command: `.venv/bin/python scripts/bench_training_step.py --threads {args.threads} "
        f"--repeats {args.repeats}`",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {args.threads} torch threads; wall "
        f"{time.perf_counter() - start:.0f} s; one run on a shared machine",
        "",
        "## Depthwise convolution, channels-last, batch 64 (ms)",
        "",
        *_table(dw, 2),
        "",
        "## Training throughput of the baselines (images/s, forward + backward + AdamW)",
        "",
        *_table(wide.reset_index(), 0),
        "",
    ]
    (RESULTS / "bench_training_step.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
