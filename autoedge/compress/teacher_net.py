"""Teacher networks: the built-in CNN, any named timm model, and their safetensors files.

A teacher file is safetensors (never a pickle) whose metadata says how to rebuild the network:
``arch`` (``autoedge-cnn-w<width>`` or a timm model name), ``in_chans``, ``num_classes``,
``input_size`` and the input normalisation ``mean`` / ``std`` (comma-separated floats).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import timm
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from autoedge.compress.batches import SHIFT, ImageBatches
from autoedge.compress.training import (
    TrainSettings,
    predict_logits,
    recalibrate_batchnorm,
    train_model,
)
from autoedge.errors import TeacherError

BUILTIN_PREFIX = "autoedge-cnn-w"


class TeacherCNN(nn.Sequential):
    """A plain VGG-style CNN for small images: two conv pairs with pooling, then a conv, GAP.

    Strong on 28x28-32x32 data (>= 92% on Fashion-MNIST) and fast on two CPU cores, which is
    all a teacher for edge students needs.
    """

    def __init__(self, in_chans: int, num_classes: int, width: int = 32) -> None:
        w = width
        super().__init__(
            *_conv_bn_relu(in_chans, w),
            *_conv_bn_relu(w, w),
            nn.MaxPool2d(2),
            *_conv_bn_relu(w, 2 * w),
            *_conv_bn_relu(2 * w, 2 * w),
            nn.MaxPool2d(2),
            *_conv_bn_relu(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(4 * w, num_classes),
        )


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


@dataclass(frozen=True)
class TeacherMeta:
    """How to rebuild a teacher network and feed it images."""

    arch: str
    in_chans: int
    num_classes: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_metadata(self) -> dict[str, str]:
        return {
            "arch": self.arch,
            "in_chans": str(self.in_chans),
            "num_classes": str(self.num_classes),
            "input_size": str(self.input_size),
            "mean": ",".join(repr(v) for v in self.mean),
            "std": ",".join(repr(v) for v in self.std),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str], where: str) -> TeacherMeta:
        missing = [k for k in ("arch", "in_chans", "num_classes") if k not in meta]
        if missing:
            raise TeacherError(
                f"{where}: safetensors metadata lacks {', '.join(missing)}; a teacher file needs "
                "metadata arch (a timm model name), in_chans, num_classes (and optionally "
                "input_size, mean, std)"
            )
        try:
            in_chans, num_classes = int(meta["in_chans"]), int(meta["num_classes"])
            size = int(meta.get("input_size", "0"))
            mean = tuple(float(v) for v in meta["mean"].split(",")) if "mean" in meta else ()
            std = tuple(float(v) for v in meta["std"].split(",")) if "std" in meta else ()
        except ValueError as e:
            raise TeacherError(f"{where}: malformed teacher metadata ({e})") from e
        return cls(meta["arch"], in_chans, num_classes, size, mean, std)


def build_teacher(arch: str, *, in_chans: int, num_classes: int) -> nn.Module:
    """An untrained teacher: the built-in CNN (``autoedge-cnn-w32``) or a timm model by name."""
    if arch.startswith(BUILTIN_PREFIX):
        try:
            width = int(arch[len(BUILTIN_PREFIX) :])
        except ValueError:
            width = 0
        if width < 1:
            raise TeacherError(f"teacher arch {arch!r}: expected {BUILTIN_PREFIX}<width>")
        return TeacherCNN(in_chans, num_classes, width)
    if not timm.is_model(arch):
        raise TeacherError(
            f"teacher arch {arch!r} is neither {BUILTIN_PREFIX}<width> nor a timm model name "
            "(see timm.list_models())"
        )
    return timm.create_model(arch, pretrained=False, in_chans=in_chans, num_classes=num_classes)


def save_teacher(model: nn.Module, meta: TeacherMeta, path: str | Path) -> Path:
    """Write the teacher's weights and rebuild metadata as safetensors."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=meta.to_metadata())
    return path


def load_teacher(path: str | Path) -> tuple[nn.Module, TeacherMeta]:
    """Rebuild a teacher from a safetensors file (never unpickles anything)."""
    path = Path(path)
    where = f"teacher {path}"
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (no __iter__)
    except (OSError, SafetensorError) as e:
        raise TeacherError(f"{where}: cannot read it as safetensors ({e})") from e
    meta = TeacherMeta.from_metadata(metadata, where)
    model = build_teacher(meta.arch, in_chans=meta.in_chans, num_classes=meta.num_classes)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise TeacherError(f"{where}: weights do not fit arch {meta.arch!r}: {first}") from e
    return model.eval(), meta


def param_count(model: nn.Module) -> int:
    """Number of parameters (for the teacher card)."""
    return sum(p.numel() for p in model.parameters())


def fit_teacher(
    arch: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    *,
    num_classes: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    device: torch.device | str = "cpu",
    augment: str = SHIFT,
    init: nn.Module | None = None,
) -> tuple[nn.Module, TeacherMeta]:
    """Train a teacher on uint8 (N, H, W, C) images at their native size, on `device` (where
    the returned model stays): `arch` from scratch, or fine-tune `init` (a pretrained network
    of that arch with its classifier already sized for `num_classes`). `augment` names the
    training augmentation (compress/batches.py)."""
    torch.manual_seed(seed)
    size = int(train_x.shape[1])
    meta = TeacherMeta(arch, int(train_x.shape[3]), num_classes, size, mean, std)
    model = init or build_teacher(arch, in_chans=meta.in_chans, num_classes=meta.num_classes)
    model = model.to(device, memory_format=torch.channels_last)
    x = ImageBatches(train_x, size, mean, std, device=device, augment=augment)
    y = torch.from_numpy(train_y.astype(np.int64)).to(device)
    settings = TrainSettings(
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed
    )
    train_model(model, x, y, settings)
    recalibrate_batchnorm(model, x.first(2048))
    return model.eval(), meta


def teacher_logits(
    model: nn.Module,
    meta: TeacherMeta,
    images: np.ndarray,
    *,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """The teacher's logits (float32, one row per image) for uint8 (N, H, W, C) images,
    computed on `device` (the model moves there)."""
    if images.shape[3] != meta.in_chans:
        raise TeacherError(
            f"teacher expects {meta.in_chans}-channel images, the dataset has {images.shape[3]}"
        )
    if not (meta.mean and meta.std):
        raise TeacherError(f"teacher {meta.arch}: metadata lacks the input mean/std")
    size = meta.input_size or int(images.shape[1])
    model.to(device)
    # float_budget=0: each batch converted when predicted, whatever the image size
    x = ImageBatches(images, size, meta.mean, meta.std, device=device, float_budget=0)
    logits = predict_logits(model, x).numpy().astype(np.float32)
    if logits.ndim != 2:
        raise TeacherError(f"teacher output has shape {logits.shape}; expected (N, classes)")
    return logits
