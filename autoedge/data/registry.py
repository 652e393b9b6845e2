"""Datasets by name (`fashion-mnist`, `mnist`, `digits`) or by folder path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from autoedge.data import sources
from autoedge.data.dataset import ImageDataset
from autoedge.errors import DataError

DEFAULT_DATASET = "fashion-mnist"
_REGISTRY: dict[str, Callable[[], ImageDataset]] = {
    "fashion-mnist": sources.fashion_mnist,
    "mnist": sources.mnist,
    "digits": sources.digits,
}


def list_datasets() -> list[str]:
    """Names of the built-in datasets."""
    return sorted(_REGISTRY)


def get_dataset(name_or_path: str, *, image_size: int = 32, seed: int = 0) -> ImageDataset:
    """A built-in dataset by name, or an image folder (one sub-folder per class) by path."""
    if name_or_path in _REGISTRY:
        return _REGISTRY[name_or_path]()
    if "/" in name_or_path or Path(name_or_path).is_dir():
        return sources.image_folder(name_or_path, size=image_size, seed=seed)
    raise DataError(
        f"unknown dataset {name_or_path!r}; built-in: {', '.join(list_datasets())}, "
        "or a path to an image folder with one sub-folder per class"
    )
