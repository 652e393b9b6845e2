"""Images for the training loop, as float batches at the model's resolution.

Small sets (the 28x28 built-ins, a few thousand images at 32-64 px) are converted once, as
before: every epoch is then pure compute. A set whose float copy would pass `FLOAT_BUDGET`
(3,500 photos at 224 px are 2.1 GB as float) stays uint8 (a view of the dataset's
memory-mapped cache) and each batch is converted when it is drawn, so memory holds the uint8
images once plus one float batch.

Augmentation, by name: ``none``; ``shift`` (random horizontal flip and a 2-pixel shift, the
small-image teacher's); ``photo`` (random resized crop and horizontal flip, timm's training
transform for real images: timm's `RandomResizedCropAndInterpolation.get_params` draws each
crop, torchvision's `roi_align` cuts and resizes the whole batch at once).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align

from autoedge.errors import CompressionError

NONE, SHIFT, PHOTO = "none", "shift", "photo"
AUGMENTATIONS = (NONE, SHIFT, PHOTO)
#: Float copies up to this size are made once; larger sets are converted batch by batch.
FLOAT_BUDGET = 768 * 2**20
#: Crop area range of the photo augmentation (timm's default is 0.08-1; short budgets and
#: small folders train better on milder crops) and its aspect-ratio range (timm's default).
PHOTO_SCALE = (0.35, 1.0)
PHOTO_RATIO = (3 / 4, 4 / 3)


class ImageBatches:
    """Images as the training loop reads them: `batch(idx, gen)` (augmented), `tensor()` and
    `chunks(n)` (plain, in order), `first(n)` (the first n as their own ImageBatches)."""

    def __init__(
        self,
        images: np.ndarray | Tensor,
        resolution: int | None = None,
        mean: Sequence[float] = (),
        std: Sequence[float] = (),
        *,
        device: torch.device | str = "cpu",
        augment: str = NONE,
        float_budget: int = FLOAT_BUDGET,
    ) -> None:
        """uint8 (N, H, W, C) `images` with their `resolution`, `mean` and `std`, or an
        already prepared float (N, C, R, R) tensor (then nothing else is needed)."""
        if augment not in AUGMENTATIONS:
            raise CompressionError(f"unknown augmentation {augment!r}; use one of {AUGMENTATIONS}")
        self.augment = augment
        self.device = torch.device(device)
        if isinstance(images, Tensor):
            self._float: Tensor | None = images
            self._raw: np.ndarray | None = None
            self.resolution = int(images.shape[-1])
            self.device = images.device
            return
        if resolution is None or not mean or not std:
            raise CompressionError("uint8 images need a resolution, mean and std")
        self.resolution, self.mean, self.std = resolution, tuple(mean), tuple(std)
        n, _, _, c = images.shape
        if n * c * resolution * resolution * 4 <= float_budget:
            self._float = images_to_tensor(np.asarray(images), resolution, mean, std, device=device)
            self._raw = None
        else:
            self._float, self._raw = None, images

    @property
    def lazy(self) -> bool:
        """Whether batches are converted when drawn (the float set would pass the budget)."""
        return self._raw is not None

    def __len__(self) -> int:
        return len(self._raw if self._raw is not None else self._float)  # type: ignore[arg-type]

    def first(self, n: int) -> ImageBatches:
        """The first `n` images (all if fewer), same preparation and augmentation."""
        out = object.__new__(ImageBatches)
        out.__dict__.update(self.__dict__)
        if self._raw is not None:
            out._raw = self._raw[:n]
        else:
            out._float = self._float[:n]  # type: ignore[index]
        return out

    def tensor(self) -> Tensor:
        """Every image, prepared and not augmented (for small heads: first(n).tensor())."""
        if self._float is not None:
            return self._float
        return torch.cat(list(self.chunks(512)))

    def chunks(self, size: int) -> Iterator[Tensor]:
        """Consecutive prepared batches of up to `size` images, not augmented."""
        for start in range(0, len(self), size):
            if self._float is not None:
                yield self._float[start : start + size]
            else:
                yield self._convert(self._raw[start : start + size])  # type: ignore[index]

    def batch(self, idx: Tensor, gen: torch.Generator | None = None) -> Tensor:
        """The images at `idx` (CPU indices), augmented when `gen` is given."""
        if self._float is not None:
            x = self._float[idx.to(self._float.device)]
        else:
            rows = np.sort(idx.numpy())  # memory-mapped rows read in file order
            order = torch.from_numpy(np.argsort(np.argsort(idx.numpy())))
            raw = self._raw[rows]  # type: ignore[index]
            if gen is not None and self.augment == PHOTO:  # crop from the stored pixels
                size = raw.shape[1]
                native = images_to_tensor(raw, size, self.mean, self.std, device=self.device)
                return random_resized_crop(native[order.to(self.device)], self.resolution, gen)
            x = self._convert(raw)[order.to(self.device)]
        if gen is None or self.augment == NONE:
            return x
        if self.augment == PHOTO:
            return random_resized_crop(x, self.resolution, gen)
        return shift_and_flip(x, gen)

    def _convert(self, raw: np.ndarray) -> Tensor:
        return images_to_tensor(
            np.asarray(raw), self.resolution, self.mean, self.std, device=self.device
        )


def as_batches(x: Tensor | ImageBatches, augment: str = NONE) -> ImageBatches:
    """`x` as ImageBatches (a prepared float tensor is wrapped with `augment`)."""
    return x if isinstance(x, ImageBatches) else ImageBatches(x, augment=augment)


def random_resized_crop(x: Tensor, resolution: int, gen: torch.Generator) -> Tensor:
    """timm's random resized crop (area `PHOTO_SCALE`, ratio `PHOTO_RATIO`) of each image,
    resized to `resolution`, then a random horizontal flip; one roi_align call per batch."""
    from timm.data.transforms import RandomResizedCropAndInterpolation

    n = len(x)
    state = random.getstate()  # timm draws from Python's `random`: seed it from `gen`
    random.seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    try:
        boxes = [
            RandomResizedCropAndInterpolation.get_params(x[0], PHOTO_SCALE, PHOTO_RATIO)
            for _ in range(n)
        ]
    finally:
        random.setstate(state)
    rois = torch.tensor(
        [[i, left, top, left + cw, top + ch] for i, (top, left, ch, cw) in enumerate(boxes)],
        dtype=x.dtype,
        device=x.device,
    )
    out = roi_align(x.contiguous(), rois, (resolution, resolution), 1.0, 0, aligned=True)
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    out = torch.where(flip.view(-1, 1, 1, 1), out.flip(3), out)
    return out.contiguous(memory_format=torch.channels_last)


def shift_and_flip(x: Tensor, gen: torch.Generator) -> Tensor:
    """Random horizontal flips per image and one random shift of up to 2 pixels per batch."""
    flip = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def images_to_tensor(
    images: np.ndarray,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    device: torch.device | str = "cpu",
) -> Tensor:
    """uint8 (N, H, W, C) -> normalised float (N, C, R, R) in channels-last memory layout.

    Resized bilinearly (antialiased) to `resolution`; channels-last roughly doubles CPU conv
    throughput. The images cross to `device` once, as uint8, and are converted there.
    """
    array = np.ascontiguousarray(images)
    if not array.flags.writeable:  # a memory-mapped cache: torch wants memory it may write
        array = array.copy()
    raw = torch.from_numpy(array).to(device)
    x = raw.permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    x = (x - m) / s
    if x.shape[-2:] != (resolution, resolution):
        out = []
        for chunk in torch.split(x, 2048):
            out.append(
                F.interpolate(chunk, size=(resolution, resolution), mode="bilinear", antialias=True)
            )
        x = torch.cat(out)
    return x.contiguous(memory_format=torch.channels_last)
