"""Datasets by name (`fashion-mnist`, `mnist`, `digits`) or by folder path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from autoedge.data import sources
from autoedge.data.dataset import ImageDataset
from autoedge.data.image_folder import Progress, image_folder
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


def get_dataset(
    name_or_path: str,
    *,
    image_size: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> ImageDataset:
    """A built-in dataset by name, or an image folder (one sub-folder per class) by path.

    An image folder is stored at `image_size` (default: its native size, see
    `image_folder`); the built-ins come at their own size and take no `image_size`.
    """
    if name_or_path in _REGISTRY:
        if image_size is not None:
            raise DataError(
                f"--image-size applies to image folders; {name_or_path} comes at its own size"
            )
        return _REGISTRY[name_or_path]()
    if "/" in name_or_path or Path(name_or_path).is_dir():
        return image_folder(name_or_path, size=image_size, seed=seed, progress=progress)
    raise DataError(
        f"unknown dataset {name_or_path!r}; built-in: {', '.join(list_datasets())}, "
        "or a path to an image folder with one sub-folder per class"
    )
