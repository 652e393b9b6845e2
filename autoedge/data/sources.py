"""The built-in datasets: Fashion-MNIST (full or bundled slice), MNIST, digits."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from autoedge.data.dataset import ImageDataset, split_train_test
from autoedge.data.idx import has_idx_split, read_idx_split
from autoedge.errors import DataError

FASHION_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
DIGIT_CLASSES = tuple(str(i) for i in range(10))
#: Where Debian's dataset-fashion-mnist puts the files; AUTOEDGE_FASHION_MNIST overrides it.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_SLICE = "fashion-mnist-slice.npz"


def fashion_mnist() -> ImageDataset:
    """Full Fashion-MNIST (60k/10k) when installed, else the slice bundled in the package."""
    folder = Path(os.environ.get("AUTOEDGE_FASHION_MNIST", FASHION_MNIST_DIR))
    if has_idx_split(folder, "train"):
        tx, ty = read_idx_split(folder, "train")
        vx, vy = read_idx_split(folder, "t10k")
        return ImageDataset(
            "fashion-mnist", tx, ty, vx, vy, FASHION_CLASSES, f"full set at {folder}"
        )
    res = resources.files("autoedge.data") / "bundled" / FASHION_SLICE
    with res.open("rb") as f, np.load(f) as z:
        return ImageDataset(
            "fashion-mnist",
            z["train_x"],
            z["train_y"].astype(np.int64),
            z["test_x"],
            z["test_y"].astype(np.int64),
            FASHION_CLASSES,
            f"bundled slice ({len(z['train_y'])}/{len(z['test_y'])} images; install Debian's "
            "dataset-fashion-mnist for the full set)",
        )


def mnist(folder: str | None = None) -> ImageDataset:
    """MNIST from a folder of the four IDX files (`folder`, else the AUTOEDGE_MNIST variable)."""
    where = folder or os.environ.get("AUTOEDGE_MNIST")
    if not where:
        raise DataError(
            "mnist: no MNIST files found; set AUTOEDGE_MNIST to a folder holding "
            "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
            "and t10k-labels-idx1-ubyte.gz"
        )
    path = Path(where)
    tx, ty = read_idx_split(path, "train")
    vx, vy = read_idx_split(path, "t10k")
    return ImageDataset("mnist", tx, ty, vx, vy, DIGIT_CLASSES, f"IDX files at {path}")


def digits(seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 digits (1797 images), split 80/20 per class, scaled to 0..255."""
    from sklearn.datasets import load_digits  # imported only when asked for

    d = load_digits()
    x = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    tx, ty, vx, vy = split_train_test(x, d.target.astype(np.int64), test_fraction=0.2, seed=seed)
    return ImageDataset("digits", tx, ty, vx, vy, DIGIT_CLASSES, "scikit-learn load_digits")
