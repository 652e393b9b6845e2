"""Image folders at their own resolution, decoded once into a memory-mapped uint8 cache.

A folder holds one sub-folder per class (or train/ and test/ folders of those). Every image
is stored square at one size: the folder's native size (the median of the images' shorter
sides, at most `SIZE_CAP`) unless the caller picks one. `load_image` is the one recipe
(shorter side scaled to the size with Pillow's BILINEAR filter, then the centre square); the
model card repeats it so a user reproduces the test accuracy from the raw files.

The decoded arrays live under ``$AUTOEDGE_CACHE/images/<name>-<key>/`` as .npy files opened
memory-mapped, so a 10,000-image folder at 224 px (1.5 GB) costs page cache, not process
memory, and worker processes reopen the files instead of receiving copies. The key hashes
every file's path, size and modification time with the size and split settings: a changed,
added or removed file makes a new entry. Unreadable files are skipped, counted and named; more
than `MAX_BAD_SHARE` of them (and more than one) is an error naming the first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from autoedge.cache import cache_root
from autoedge.data.dataset import ImageDataset, split_train_test
from autoedge.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
SIZE_CAP = 224  # native sizes above this are stored at it (choose with image_size)
MAX_BAD_SHARE = 0.05
GRAY_MODES = {"L", "1", "I", "I;16", "LA", "F"}
CACHE_VERSION = 1
ARRAYS = ("train_x", "train_y", "test_x", "test_y")
#: Called with (images decoded so far, images in all) while a folder is decoded.
Progress = Callable[[int, int], None]


def load_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """One file as uint8 (size, size, channels): RGB (or L), shorter side scaled to `size`
    (Pillow BILINEAR), centre square cropped (left/top offset rounded down)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB" if channels == 3 else "L")
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        a = np.asarray(im, dtype=np.uint8)
    return a.reshape(size, size, channels)


def image_folder(
    root: str | Path, *, size: int | None = None, seed: int = 0, progress: Progress | None = None
) -> ImageDataset:
    """The dataset of an image folder, from the cache or decoded now (and cached)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; give a folder with one sub-folder per class")
    split = (root / "train").is_dir() and (root / "test").is_dir()
    classes = _class_names(root / "train" if split else root)
    parts = ("train", "test") if split else ("all",)
    files = {p: _list_files(root / p if split else root, classes, p == "test") for p in parts}
    headers, bad = _read_headers([f for p in parts for f, _ in files[p]])
    if size is None:
        sides = [min(wh) for wh, _ in headers.values()]
        size = min(SIZE_CAP, int(statistics.median(sides)))
    if not 8 <= size <= 1024:
        raise DataError(f"image size {size} is outside 8..1024")
    channels = 1 if all(mode in GRAY_MODES for _, mode in headers.values()) else 3
    key = _content_key(files, size, seed)
    entry = cache_root() / "images" / f"{_safe(root.name or 'folder')}-{key}"
    if not (entry / "meta.json").is_file():
        _decode_entry(entry, root, classes, files, headers, bad, (size, channels), seed, progress)
    return open_entry(entry)


def open_entry(entry: str | Path) -> ImageDataset:
    """A cached folder's dataset, its arrays memory-mapped (read-only)."""
    entry = Path(entry)
    try:
        meta = json.loads((entry / "meta.json").read_text())
        arrays = {a: np.load(entry / f"{a}.npy", mmap_mode="r") for a in ARRAYS}
    except (OSError, ValueError) as e:
        raise DataError(f"image cache {entry} cannot be read ({e}); delete it to rebuild") from e
    try:
        return ImageDataset(
            meta["name"],
            arrays["train_x"],
            np.asarray(arrays["train_y"], dtype=np.int64),
            arrays["test_x"],
            np.asarray(arrays["test_y"], dtype=np.int64),
            tuple(meta["classes"]),
            meta["source"],
            skipped=tuple(meta["skipped"]),
            cache_entry=str(entry),
        )
    except DataError as e:
        if not meta["skipped"]:
            raise
        first, n = meta["skipped"][0], len(meta["skipped"])
        raise DataError(f"{e} ({n} file(s) skipped; first: {first}: not a readable image)") from e


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


def _list_files(folder: Path, classes: tuple[str, ...], known: bool) -> list[tuple[Path, int]]:
    if known:
        extra = {p.name for p in folder.iterdir() if p.is_dir()} - set(classes)
        if extra:
            raise DataError(f"{folder}: class folder(s) {sorted(extra)} are not in train/")
    out: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        d = folder / name
        found = (
            sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if d.is_dir()
            else []
        )
        if not found:
            raise DataError(f"{d}: no images (.png, .jpg, ...) in this class folder")
        out += [(p, label) for p in found]
    return out


def _read_headers(
    paths: list[Path],
) -> tuple[dict[Path, tuple[tuple[int, int], str]], dict[Path, str]]:
    """Size and mode of every readable file (headers only), and why the others are not."""
    from PIL import Image

    ok: dict[Path, tuple[tuple[int, int], str]] = {}
    bad: dict[Path, str] = {}
    for path in paths:
        try:
            with Image.open(path) as im:
                ok[path] = (im.size, im.mode)
        except Exception as e:  # Pillow raises many types for damaged files
            bad[path] = type(e).__name__
    _check_bad(bad, len(paths))
    return ok, bad


def _check_bad(bad: dict[Path, str], total: int) -> None:
    if len(bad) > 1 and len(bad) > MAX_BAD_SHARE * total:
        first, why = next(iter(bad.items()))
        raise DataError(
            f"{len(bad)} of {total} files are not readable images (more than "
            f"{MAX_BAD_SHARE:.0%}); first: {first} ({why}): not a readable image"
        )


def _content_key(files: dict[str, list[tuple[Path, int]]], size: int, seed: int) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION} size={size} seed={seed}\n".encode())
    for part, listed in files.items():
        for path, label in listed:
            st = path.stat()
            h.update(f"{part}\t{label}\t{path}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40]


def _decode_entry(
    entry: Path,
    root: Path,
    classes: tuple[str, ...],
    files: dict[str, list[tuple[Path, int]]],
    headers: dict[Path, tuple[tuple[int, int], str]],
    bad: dict[Path, str],
    shape: tuple[int, int],
    seed: int,
    progress: Progress | None,
) -> None:
    """Decode every readable file into .npy arrays in a temporary folder, then rename it."""
    size, channels = shape
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=entry.name + ".", dir=entry.parent))
    try:
        total = sum(len(v) for v in files.values())
        count = _Count(total, progress)
        parts = {
            p: _decode(tmp / f"{p}_raw.npy", listed, headers, bad, shape, count)
            for p, listed in files.items()
        }
        _check_bad(bad, total)
        if "all" in parts:
            x, y = parts["all"]
            tr, _, te, _ = split_train_test(np.arange(len(y)), y, test_fraction=0.2, seed=seed)
            rows = {"train": (x, y, tr), "test": (x, y, te)}
            how = f"20% per class held out (seed {seed})"
        else:
            rows = {p: (x, y, np.arange(len(y))) for p, (x, y) in parts.items()}
            how = "train/ and test/ folders"
        for part, (x, y, keep) in rows.items():
            if part == "train" and len(set(y[keep].tolist())) < len(classes):
                raise DataError(f"{root}: some class has no readable training image")
            out = np.lib.format.open_memmap(
                tmp / f"{part}_x.npy", "w+", np.uint8, (len(keep), size, size, channels)
            )
            for start in range(0, len(keep), 1024):
                out[start : start + 1024] = x[keep[start : start + 1024]]
            out.flush()
            del out
            np.save(tmp / f"{part}_y.npy", y[keep])
        del parts, rows, x
        for raw in tmp.glob("*_raw.npy"):
            raw.unlink()
        meta = {
            "name": root.name or str(root),
            "classes": list(classes),
            "source": f"image folder {root}, {how}, stored at {size}x{size}",
            "skipped": [f"{p} ({why})" for p, why in bad.items()],
            "version": CACHE_VERSION,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        open_entry(tmp)  # a folder that makes no valid dataset leaves no cache entry behind
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _decode(
    path: Path,
    listed: list[tuple[Path, int]],
    headers: dict[Path, tuple[tuple[int, int], str]],
    bad: dict[Path, str],
    shape: tuple[int, int],
    count: _Count,
) -> tuple[np.ndarray, np.ndarray]:
    """One split's readable files into a memory-mapped array (unused rows at the end)."""
    size, channels = shape
    x = np.lib.format.open_memmap(path, "w+", np.uint8, (len(listed), size, size, channels))
    labels: list[int] = []
    for file, label in listed:
        if file in headers:
            try:
                x[len(labels)] = load_image(file, size, channels)
                labels.append(label)
            except Exception as e:  # a file whose header reads but whose pixels do not
                bad[file] = type(e).__name__
        count.step()
    return x, np.asarray(labels, dtype=np.int64)


class _Count:
    """Images decoded so far, reported to a Progress callback."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = 0, total, progress

    def step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)
