"""Write the Fashion-MNIST slice bundled in the package (MIT licence, Zalando SE 2017).

Reads Debian's dataset-fashion-mnist files and keeps the first 300 training and 100 test
images of each class, in file order, so the slice is the same on every machine:

    .venv/bin/python scripts/make_fashion_slice.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoedge.data.idx import read_idx_split
from autoedge.data.sources import FASHION_MNIST_DIR, FASHION_SLICE

OUT = Path(__file__).resolve().parents[1] / "autoedge" / "data" / "bundled" / FASHION_SLICE


def first_per_class(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    keep = np.sort(np.concatenate([np.flatnonzero(y == c)[:n] for c in np.unique(y)]))
    return x[keep], y[keep].astype(np.uint8)


def main() -> None:
    tx, ty = first_per_class(*read_idx_split(FASHION_MNIST_DIR, "train"), 300)
    vx, vy = first_per_class(*read_idx_split(FASHION_MNIST_DIR, "t10k"), 100)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, train_x=tx, train_y=ty, test_x=vx, test_y=vy)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): {len(ty)} train, {len(vy)} test")


if __name__ == "__main__":
    main()
