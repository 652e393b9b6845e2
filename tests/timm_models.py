"""Tiny real timm models shared by the compression tests (seeded, so every call is equal)."""

from __future__ import annotations

import timm
import torch
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.efficientnet import EfficientNet
from torch import nn

from autoedge.space.candidate import Candidate, make_candidate, make_stage


def tiny_efficientnet() -> EfficientNet:
    """ds/ir/er blocks with SE; all block widths are multiples of 8."""
    torch.manual_seed(0)
    arch = [
        ["ds_r1_k3_s1_e1_c16_se0.25"],
        ["ir_r2_k3_s2_e4_c24_se0.25"],
        ["er_r1_k3_s2_e4_c32"],
        ["ir_r2_k3_s1_e4_c40_se0.25"],
    ]
    return EfficientNet(
        block_args=decode_arch_def(arch),
        num_classes=10,
        in_chans=1,
        stem_size=16,
        num_features=64,
    )


def tiny_mobilenet() -> nn.Module:
    """timm's MobileNetV3-Small at width 0.5, random weights, 10 classes."""
    torch.manual_seed(0)
    return timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=10)


def three_stage_candidate(bits: list[tuple[int, int]], *, last_rank: float = 1.0) -> Candidate:
    """A tiny-space candidate (ds 16 / ir 24 with SE / ir 32) with (weight, act) bits per stage,
    e.g. [(8, 8), (32, 32), (8, 32)] for a mixed-precision network."""
    layout = [
        ("ds", 1, 16, "relu", (3, None, 0.25), 1.0),
        ("ir", 2, 24, "hard_swish", (3, 3.0, 0.25), 1.0),
        ("ir", 2, 32, "hard_swish", (5, 6.0, 0.0), last_rank),
    ]
    stages = [
        make_stage(block_type=kind, stride=stride, width=width, activation=act, blocks=[block],
                   prune=0.0, weight_bits=w, act_bits=a, rank=rank)
        for (kind, stride, width, act, block, rank), (w, a) in zip(layout, bits, strict=True)
    ]  # fmt: skip
    return make_candidate(resolution=32, stem_width=16, head_width=32, stages=stages,
                          kd_alpha=0.0, kd_temperature=None, space="tiny")  # fmt: skip
