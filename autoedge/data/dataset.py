"""An image-classification dataset held as uint8 arrays (N, H, W, C) with integer labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from autoedge.errors import DataError


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Train and test splits of one dataset; `source` says where the pixels came from."""

    name: str
    train_x: np.ndarray  # uint8, (N, H, W, C)
    train_y: np.ndarray  # int64, (N,)
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]
    source: str
    skipped: tuple[str, ...] = ()  # files left out as unreadable, each "path (why)"
    cache_entry: str | None = None  # an image folder's decoded cache (arrays memory-mapped)

    def __reduce__(self) -> tuple:
        """A cached image folder travels to worker processes as its cache path, not a copy."""
        if self.cache_entry is not None:
            return (_reopen, (self.cache_entry,))
        return super().__reduce__()

    def __post_init__(self) -> None:
        for split, x, y in (
            ("train", self.train_x, self.train_y),
            ("test", self.test_x, self.test_y),
        ):
            if x.ndim != 4 or x.dtype != np.uint8:
                raise DataError(
                    f"dataset {self.name}: {split} images must be uint8 (N, H, W, C), got "
                    f"{x.dtype} {x.shape}"
                )
            if y.shape != (x.shape[0],):
                raise DataError(
                    f"dataset {self.name}: {split} has {x.shape[0]} images but {y.shape[0]} labels"
                )
            if len(y) == 0:
                raise DataError(f"dataset {self.name}: the {split} split is empty")
            if y.min() < 0 or y.max() >= len(self.classes):
                raise DataError(
                    f"dataset {self.name}: {split} labels must be in 0..{len(self.classes) - 1}"
                )
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DataError(
                f"dataset {self.name}: train images {self.train_x.shape[1:]} and test images "
                f"{self.test_x.shape[1:]} differ in shape"
            )
        if len(self.classes) < 2:
            raise DataError(
                f"dataset {self.name}: needs at least 2 classes, has {len(self.classes)}"
            )

    @property
    def in_chans(self) -> int:
        return int(self.train_x.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train_x.shape[1]), int(self.train_x.shape[2])

    @property
    def augmentation(self) -> str:
        """How training images are augmented: ``photo`` (random resized crop and horizontal
        flip) for image folders; ``none`` for the small built-in sets, where a crop loses the
        object and a flip makes another digit."""
        return "photo" if self.cache_entry is not None else "none"

    @cached_property
    def fingerprint(self) -> str:
        """Hash of every image and label (caches keyed by it follow the data, not the name);
        an image folder's is its cache key (every file's path, size and time, and the size)."""
        if self.cache_entry is not None:
            return self.cache_entry.rsplit("-", 1)[-1]
        h = hashlib.sha256()
        for a in (self.train_x, self.train_y, self.test_x, self.test_y):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    @cached_property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel (mean, std) of the training images on the 0..1 scale."""
        return channel_stats(self.train_x)

    def describe(self) -> str:
        """One line for logs: name, sizes, and where the data came from."""
        h, w = self.image_size
        line = (
            f"{self.name}: {len(self.train_y)} train / {len(self.test_y)} test, "
            f"{h}x{w}x{self.in_chans}, {self.num_classes} classes, from {self.source}"
        )
        if self.skipped:
            n = len(self.skipped)
            names = "; ".join(self.skipped[:3]) + ("; ..." if n > 3 else "")
            line += f"; skipped {n} unreadable file{'s' if n > 1 else ''}: {names}"
        return line


def _reopen(entry: str) -> ImageDataset:
    from autoedge.data.image_folder import open_entry

    return open_entry(entry)


#: Pixel values per chunk of `channel_stats` (each chunk becomes two float64 arrays: 100 MB).
STATS_CHUNK_VALUES = 6_422_528


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 (N, H, W, C) images, on the 0..1 scale."""
    total = np.zeros(images.shape[-1])
    squares = np.zeros(images.shape[-1])
    count = 0
    per_image = int(np.prod(images.shape[1:])) or 1
    step = max(1, STATS_CHUNK_VALUES // per_image)  # 8192 28x28 images, 42 at 224x224x3
    for start in range(0, len(images), step):  # chunks: no float copy of the whole set
        chunk = images[start : start + step].reshape(-1, images.shape[-1]) / 255.0
        total += chunk.sum(axis=0)
        squares += (chunk**2).sum(axis=0)
        count += len(chunk)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(squares / max(count, 1) - mean**2, 1e-6))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def split_train_test(
    x: np.ndarray, y: np.ndarray, *, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A reproducible stratified split: each class gives `test_fraction` of its images."""
    rng = np.random.default_rng(seed)
    test_idx: list[np.ndarray] = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        n_test = max(1, round(len(idx) * test_fraction)) if len(idx) > 1 else 0
        test_idx.append(idx[:n_test])
    test = np.sort(np.concatenate(test_idx))
    mask = np.ones(len(y), dtype=bool)
    mask[test] = False
    return x[mask], y[mask], x[test], y[test]
