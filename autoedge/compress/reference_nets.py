"""The published reference networks that device measurements name, exported for calibration.

Latency measurements name their model (torchvision's AlexNet, timm's MobileNet generators at a
width multiplier); the latency model reads the operators of its ONNX export. They are built
here and exported by the same `export_onnx` as every candidate (same opset, same exporter), so
hardware/ never imports torch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from autoedge.compress.export import export_onnx
from autoedge.errors import TargetError

SOURCES = ("torchvision", "timm")


def export_reference_net(
    source: str, name: str, width: float, resolution: int, folder: Path
) -> Path:
    """Export a reference network (random weights: only its operators matter) to
    `folder`/model.onnx. `source` "torchvision" takes a torchvision model name; "timm" takes
    family mobilenet_v1 / mobilenet_v2 at a width multiplier, as TF-slim defines them."""
    if source == "torchvision":
        import torchvision

        if not hasattr(torchvision.models, name):
            raise TargetError(f"torchvision has no model {name!r}")
        model = getattr(torchvision.models, name)(weights=None)
    elif source == "timm":
        model = _timm_mobilenet(name, width)
    else:
        raise TargetError(f"unknown reference network source {source!r}; use {SOURCES}")
    example = torch.zeros(2, 3, resolution, resolution)
    with torch.no_grad():
        return export_onnx(model.eval(), example, Path(folder) / "model.onnx")


def _timm_mobilenet(family: str, width: float) -> torch.nn.Module:
    from timm.models import efficientnet as effnet

    if family == "mobilenet_v1":
        return effnet._gen_mobilenet_v1("mobilenetv1_100", width)
    if family == "mobilenet_v2":  # TF-slim V2 keeps the 32-channel stem and 1280 head below 1.0
        return effnet._gen_mobilenet_v2("mobilenetv2_100", width, fix_stem_head=width < 1.0)
    raise TargetError(f"unknown timm reference family {family!r}; use mobilenet_v1/mobilenet_v2")
