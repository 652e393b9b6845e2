"""Tiny real timm models shared by the compression tests (seeded, so every call is equal)."""

from __future__ import annotations

import timm
import torch
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.efficientnet import EfficientNet
from torch import nn


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
