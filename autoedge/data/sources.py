"""The built-in datasets: Fashion-MNIST (full or bundled slice), MNIST, digits, image folders."""

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
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


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


def image_folder(root: str | Path, *, size: int = 32, seed: int = 0) -> ImageDataset:
    """A folder with one sub-folder per class (or train/ and test/ folders of those).

    Images are converted to RGB (or kept grayscale when every image is) and resized to
    `size` x `size`. Without train/ and test/, 20% of each class is held out, reproducibly.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; give a folder with one sub-folder per class")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = _class_names(root / "train")
        tx, ty = _load_images(root / "train", classes, size)
        vx, vy = _load_images(root / "test", classes, size, known=True)
        how = "train/ and test/ folders"
    else:
        classes = _class_names(root)
        x, y = _load_images(root, classes, size)
        tx, ty, vx, vy = split_train_test(x, y, test_fraction=0.2, seed=seed)
        how = f"20% per class held out (seed {seed})"
    if tx.shape[3] != vx.shape[3]:  # one split all-gray, the other colour: use RGB for both
        tx, vx = _to_rgb(tx), _to_rgb(vx)
    return ImageDataset(
        root.name or str(root), tx, ty, vx, vy, classes, f"image folder {root}, {how}"
    )


def _class_names(folder: Path) -> tuple[str, ...]:
    classes = tuple(
        sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    )
    if len(classes) < 2:
        raise DataError(
            f"{folder}: found {len(classes)} class folder(s); an image dataset needs at least 2 "
            "sub-folders, one per class"
        )
    return classes


def _load_images(
    folder: Path, classes: tuple[str, ...], size: int, *, known: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    if known:
        extra = {p.name for p in folder.iterdir() if p.is_dir()} - set(classes)
        if extra:
            raise DataError(f"{folder}: class folder(s) {sorted(extra)} are not in train/")
    images: list[np.ndarray] = []
    labels: list[int] = []
    gray = True
    for label, name in enumerate(classes):
        files = (
            sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if (folder / name).is_dir()
            else []
        )
        if not files:
            raise DataError(f"{folder / name}: no images (.png, .jpg, ...) in this class folder")
        for path in files:
            try:
                with Image.open(path) as im:
                    im.load()
                    gray = gray and im.mode in ("L", "1", "I", "I;16")
                    images.append(
                        np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR))
                    )
            except (UnidentifiedImageError, OSError, ValueError) as e:
                raise DataError(f"{path}: not a readable image ({e.__class__.__name__})") from e
            labels.append(label)
    x = np.stack(images).astype(np.uint8)
    if gray:
        x = x[..., :1].copy()
    return x, np.asarray(labels, dtype=np.int64)


def _to_rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(x, 3, axis=3) if x.shape[3] == 1 else x
