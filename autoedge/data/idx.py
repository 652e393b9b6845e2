"""Read the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from autoedge.errors import DataError

_DTYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an IDX file (.gz or raw); malformed files raise DataError."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError as e:
        raise DataError(f"{path}: not found") from e
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot be read ({e})") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{path}: IDX data is {len(raw)} bytes, expected {expected} for {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_split(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 1) and int64 labels of `prefix` ('train' or 't10k') in `folder`."""
    x = read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(_find(folder, f"{prefix}-labels-idx1-ubyte"))
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"{folder}: {prefix} images {x.shape} and labels {y.shape} do not match")
    return x[..., None].copy(), y.astype(np.int64)


def has_idx_split(folder: Path, prefix: str) -> bool:
    """Whether `folder` holds the images file of `prefix` (gzip-compressed or raw)."""
    return _existing(folder, f"{prefix}-images-idx3-ubyte") is not None


def _existing(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).exists():
            return folder / name
    return None


def _find(folder: Path, stem: str) -> Path:
    path = _existing(folder, stem)
    if path is not None:
        return path
    raise DataError(f"{folder}: missing {stem}.gz (expected the four MNIST-format IDX files)")
