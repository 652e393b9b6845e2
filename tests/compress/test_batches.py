"""ImageBatches: float once when it fits, per batch from uint8 when it does not, same images;
the photo augmentation (timm's random resized crop + flip) is seeded and crops real pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autoedge.compress.batches import ImageBatches, images_to_tensor, random_resized_crop
from autoedge.compress.training import TrainSettings, predict_logits, train_model
from autoedge.errors import CompressionError

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> np.ndarray:
    """40 RGB 48x48 images in a memory-mapped .npy, as an image folder's cache holds them."""
    path = tmp_path_factory.mktemp("batches") / "x.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.integers(0, 256, (40, 48, 48, 3), dtype=np.uint8))
    return np.load(path, mmap_mode="r")


def test_lazy_batches_are_the_eager_images_in_the_asked_order(photos):
    eager = ImageBatches(photos, 24, MEAN, STD)
    lazy = ImageBatches(photos, 24, MEAN, STD, float_budget=0)
    assert not eager.lazy and lazy.lazy and len(lazy) == 40
    idx = torch.tensor([31, 2, 17, 2, 0])
    assert torch.allclose(lazy.batch(idx), eager.batch(idx), atol=1e-5)
    assert torch.allclose(lazy.first(7).tensor(), eager.tensor()[:7], atol=1e-5)
    chunks = list(lazy.chunks(16))
    assert [len(c) for c in chunks] == [16, 16, 8]
    assert torch.allclose(torch.cat(chunks), images_to_tensor(photos, 24, MEAN, STD), atol=1e-5)


def test_a_lazy_set_trains_and_predicts(photos):
    x = ImageBatches(photos, 16, MEAN, STD, augment="photo", float_budget=0)
    y = torch.from_numpy(np.arange(40) % 2)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    log = train_model(model, x, y, TrainSettings(epochs=2, batch_size=8))
    assert log.steps == 10 and np.isfinite(log.final_loss)
    assert predict_logits(model, x).shape == (40, 2)


def test_photo_augmentation_is_seeded_and_crops(photos):
    x = images_to_tensor(photos[:8], 48, MEAN, STD)
    a = random_resized_crop(x, 32, torch.Generator().manual_seed(3))
    b = random_resized_crop(x, 32, torch.Generator().manual_seed(3))
    c = random_resized_crop(x, 32, torch.Generator().manual_seed(4))
    assert a.shape == (8, 3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    plain = images_to_tensor(photos[:8], 32, MEAN, STD)
    assert not torch.allclose(a, plain, atol=1e-2)  # crops, not the whole image resized


def test_lazy_photo_batches_crop_the_stored_pixels(photos):
    lazy = ImageBatches(photos, 16, MEAN, STD, augment="photo", float_budget=0)
    gen = torch.Generator().manual_seed(0)
    out = lazy.batch(torch.tensor([5, 1]), gen)
    assert out.shape == (2, 3, 16, 16) and torch.isfinite(out).all()
    assert torch.equal(lazy.batch(torch.tensor([5, 1])), lazy.batch(torch.tensor([5, 1])))


def test_unknown_augmentation_is_refused(photos):
    with pytest.raises(CompressionError, match="unknown augmentation"):
        ImageBatches(photos, 16, MEAN, STD, augment="mixup")
