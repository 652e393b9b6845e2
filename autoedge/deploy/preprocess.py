"""The exported model's input, documented and reproduced without torch (numpy + Pillow).

Training feeds the network images scaled to [0, 1], normalised per channel, then resized
bilinearly (antialiased when shrinking) to the candidate's resolution. Pillow's BILINEAR resize
of float32 ('F') images is that same filter (within 1e-4 of the training tensors, see
tests/deploy/test_deploy_parts.py), so a user can feed the deployed model with nothing but numpy
and Pillow; `autoedge verify` does exactly that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

from autoedge.errors import DataError


@dataclass(frozen=True)
class InputSpec:
    """What `model.onnx` takes: name, layout and how raw uint8 pixels become its input."""

    name: str
    resolution: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dtype: str = "float32"
    layout: str = "NCHW"
    batch: int | None = None  # fixed batch size; None: a dynamic batch axis

    @property
    def shape(self) -> list[int | str]:
        return [self.batch or "batch", self.channels, self.resolution, self.resolution]

    def describe(self) -> str:
        """One paragraph for the model card."""
        return (
            f"`{self.name}`: {self.dtype} {self.layout} of shape ({self.batch or 'batch'}, "
            f"{self.channels}, "
            f"{self.resolution}, {self.resolution}). From uint8 pixels (H, W, C): divide by 255, "
            f"resize each channel to {self.resolution}x{self.resolution} with Pillow "
            f"`Image.resize(..., Image.BILINEAR)` on a float32 ('F') image, subtract mean "
            f"{list(self.mean)} and divide by std {list(self.std)} per channel."
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "shape": self.shape}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputSpec:
        return cls(
            name=str(data["name"]),
            resolution=int(data["resolution"]),
            channels=int(data["channels"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            dtype=str(data.get("dtype", "float32")),
            layout=str(data.get("layout", "NCHW")),
            batch=int(data["batch"]) if data.get("batch") else None,
        )


def prepare_images(images: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 (N, H, W, C) pixels -> the model's float32 (N, C, R, R) input, as `spec` says."""
    if images.ndim != 4 or images.dtype != np.uint8:
        raise DataError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    if images.shape[-1] != spec.channels:
        raise DataError(
            f"the model takes {spec.channels}-channel images; these have {images.shape[-1]}"
        )
    r = spec.resolution
    out = np.empty((len(images), spec.channels, r, r), dtype=np.float32)
    same = images.shape[1:3] == (r, r)
    for i, image in enumerate(images):
        for c in range(spec.channels):
            plane = image[..., c].astype(np.float32) / 255.0
            if not same:
                plane = np.asarray(Image.fromarray(plane).resize((r, r), Image.BILINEAR))
            out[i, c] = plane
    return _normalise(out, spec.mean, spec.std)


def _normalise(x: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    m = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    return (x - m) / s
