"""Datasets: the built-ins, the bundled slice, image folders, and clear errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autoedge.data import get_dataset, list_datasets
from autoedge.data.idx import read_idx
from autoedge.data.sources import FASHION_MNIST_DIR
from autoedge.errors import DataError

FULL = (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists()


def test_registry_lists_builtins():
    assert {"fashion-mnist", "mnist", "digits"} <= set(list_datasets())


@pytest.mark.skipif(not FULL, reason="Debian's dataset-fashion-mnist is not installed")
def test_full_fashion_mnist():
    d = get_dataset("fashion-mnist")
    assert (len(d.train_y), len(d.test_y)) == (60000, 10000)
    assert d.image_size == (28, 28) and d.in_chans == 1 and d.num_classes == 10
    assert np.bincount(d.test_y).tolist() == [1000] * 10
    assert "full set" in d.source


def test_bundled_slice_is_used_without_the_full_set(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOEDGE_FASHION_MNIST", str(tmp_path))
    d = get_dataset("fashion-mnist")
    assert (len(d.train_y), len(d.test_y)) == (3000, 1000)
    assert np.bincount(d.train_y).tolist() == [300] * 10
    assert "bundled slice" in d.source
    assert d.train_x.dtype == np.uint8 and d.train_x.shape[1:] == (28, 28, 1)
    assert d.train_x.std() > 20  # real images, not zeros


def test_digits_split_is_stratified_and_reproducible():
    a, b = get_dataset("digits"), get_dataset("digits")
    assert np.array_equal(a.test_y, b.test_y) and np.array_equal(a.train_x, b.train_x)
    assert len(a.train_y) + len(a.test_y) == 1797
    counts = np.bincount(a.test_y)
    assert counts.min() >= 30 and counts.max() <= 40
    assert a.train_x.max() == 255


def _folder(root: Path, classes: dict[str, int], mode: str = "RGB") -> Path:
    rng = np.random.default_rng(0)
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            shape = (20, 24, 3) if mode == "RGB" else (20, 24)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode=mode).save(
                root / name / f"{i}.png"
            )
    return root


def test_image_folder_split(tmp_path):
    root = _folder(tmp_path / "pets", {"cat": 10, "dog": 15})
    d = get_dataset(str(root), image_size=16)
    assert d.classes == ("cat", "dog")
    assert d.train_x.shape[1:] == (16, 16, 3)
    assert len(d.train_y) + len(d.test_y) == 25
    assert np.bincount(d.test_y).tolist() == [2, 3]
    again = get_dataset(str(root), image_size=16)
    assert np.array_equal(d.test_x, again.test_x)
    assert "held out" in d.source


def test_image_folder_with_train_and_test_and_gray(tmp_path):
    _folder(tmp_path / "ds" / "train", {"a": 3, "b": 3}, mode="L")
    _folder(tmp_path / "ds" / "test", {"a": 1, "b": 2}, mode="L")
    d = get_dataset(str(tmp_path / "ds"), image_size=8)
    assert d.in_chans == 1 and (len(d.train_y), len(d.test_y)) == (6, 3)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda r: _folder(r, {"only": 3}), "at least 2"),
        (
            lambda r: [
                (f / "b" / f"x{i}.png").write_bytes(b"junk")
                for f in [_folder(r, {"a": 2, "b": 2})]
                for i in range(2)
            ],
            r"2 of 6 files are not readable images .*x0\.png",
        ),
        (lambda r: (_folder(r, {"a": 2}) / "b").mkdir(), "no images"),
    ],
)
def test_bad_image_folders(tmp_path, make, expected):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(DataError, match=expected):
        get_dataset(str(root))


def test_unknown_dataset_lists_builtins():
    with pytest.raises(DataError, match="built-in: digits, fashion-mnist, mnist"):
        get_dataset("imagenet")


def test_missing_folder():
    with pytest.raises(DataError, match="not a folder"):
        get_dataset("/no/such/folder")


def test_mnist_needs_its_files(monkeypatch, tmp_path):
    monkeypatch.delenv("AUTOEDGE_MNIST", raising=False)
    with pytest.raises(DataError, match="AUTOEDGE_MNIST"):
        get_dataset("mnist")
    monkeypatch.setenv("AUTOEDGE_MNIST", str(tmp_path))
    with pytest.raises(DataError, match=r"missing train-images-idx3-ubyte\.gz"):
        get_dataset("mnist")


def test_idx_reader_rejects_corrupt_files(tmp_path):
    good = tmp_path / "x.gz"
    header = bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    good.write_bytes(gzip.compress(header + bytes(range(6))))
    assert read_idx(good).tolist() == [[0, 1, 2], [3, 4, 5]]
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(header + bytes(5)))
    with pytest.raises(DataError, match="expected 18"):
        read_idx(short)
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="magic"):
        read_idx(bad)
    trunc = tmp_path / "trunc.gz"
    trunc.write_bytes(gzip.compress(header + bytes(6))[:-6])
    with pytest.raises(DataError, match="cannot be read"):
        read_idx(trunc)


def _jpegs(root: Path, classes: int, per_class: int, size: tuple[int, int]) -> Path:
    rng = np.random.default_rng(1)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"c{c}" / f"{i}.jpg", quality=90)
    return root


def test_image_folder_keeps_its_native_size_and_crops_the_centre(tmp_path):
    root = _jpegs(tmp_path / "photos", 2, 6, (120, 96))  # landscape: shorter side 96
    d = get_dataset(str(root))
    assert d.image_size == (96, 96) and d.in_chans == 3
    small = get_dataset(str(root), image_size=64)
    assert small.image_size == (64, 64)
    first = sorted((root / "c0").iterdir())[0]
    from autoedge.data.image_folder import load_image

    with Image.open(first) as im:  # the recipe the card states, by hand
        by_hand = np.asarray(im.convert("RGB").resize((80, 64), Image.BILINEAR))[:, 8:72]
    assert np.array_equal(load_image(first, 64, 3), by_hand)


def test_image_folder_is_cached_memory_mapped_and_notices_a_changed_file(tmp_path):
    import pickle

    root = _jpegs(tmp_path / "photos", 2, 5, (40, 40))
    d = get_dataset(str(root))
    assert isinstance(d.train_x, np.memmap) and d.cache_entry
    again = get_dataset(str(root))
    assert again.cache_entry == d.cache_entry and again.fingerprint == d.fingerprint
    shipped = pickle.loads(pickle.dumps(d))  # workers reopen the cache, no copy travels
    assert len(pickle.dumps(d)) < 2000 and np.array_equal(shipped.test_x, d.test_x)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(root / "c1" / "0.jpg")
    changed = get_dataset(str(root))
    assert changed.cache_entry != d.cache_entry and changed.fingerprint != d.fingerprint


def test_one_corrupt_jpeg_is_skipped_counted_and_named(tmp_path):
    root = _jpegs(tmp_path / "photos", 3, 8, (48, 48))
    (root / "c1" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    progress: list[tuple[int, int]] = []
    d = get_dataset(str(root), progress=lambda done, total: progress.append((done, total)))
    assert len(d.train_y) + len(d.test_y) == 24
    assert len(d.skipped) == 1 and "bad.jpg" in d.skipped[0]
    assert "skipped 1 unreadable file" in d.describe() and "bad.jpg" in d.describe()
    assert progress[-1] == (25, 25)


def test_image_size_is_for_folders_only():
    with pytest.raises(DataError, match="--image-size applies to image folders"):
        get_dataset("digits", image_size=64)


def test_channel_stats_chunk_large_images_and_match_numpy():
    """224 px photos go through in chunks of ~42 images (not 8192: 20 GB of float64)."""
    from autoedge.data.dataset import STATS_CHUNK_VALUES, channel_stats

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (90, 224, 224, 3), dtype=np.uint8)
    assert STATS_CHUNK_VALUES // images[0].size < len(images)  # more than one chunk
    mean, std = channel_stats(images)
    flat = images.reshape(-1, 3) / 255.0
    assert np.allclose(mean, flat.mean(axis=0), atol=1e-9)
    assert np.allclose(std, flat.std(axis=0), atol=1e-6)
