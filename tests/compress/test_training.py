"""The training loop on real tiny data: it learns, distils, schedules, and stops on NaN."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from autoedge.compress.training import (
    TrainSettings,
    accuracy,
    images_to_tensor,
    predict_logits,
    recalibrate_batchnorm,
    train_model,
    warmup_cosine,
)
from autoedge.data import get_dataset
from autoedge.errors import CompressionError, TrainingError


def _student() -> torch.nn.Module:
    return timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=10, in_chans=1)


@pytest.fixture(scope="module")
def digits():
    ds = get_dataset("digits")
    mean, std = ds.normalization
    x = images_to_tensor(ds.train_x[:600], 32, mean, std)
    y = torch.from_numpy(ds.train_y[:600].astype(np.int64))
    xt = images_to_tensor(ds.test_x, 32, mean, std)
    return x, y, xt, ds.test_y


def test_images_to_tensor_resizes_and_normalises():
    imgs = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    mean, std = (0.5,), (0.25,)
    x = images_to_tensor(imgs, 16, mean, std)
    assert x.shape == (5, 1, 16, 16)
    assert x.is_contiguous(memory_format=torch.channels_last)
    same = images_to_tensor(imgs, 8, mean, std)
    expected = (imgs.transpose(0, 3, 1, 2) / 255.0 - 0.5) / 0.25
    assert np.allclose(same.numpy(), expected, atol=1e-5)


def test_warmup_cosine_rises_then_decays():
    f = warmup_cosine(100)
    values = [f(i) for i in range(100)]
    assert values[0] < values[10] < values[19] == pytest.approx(1.0)
    assert values[20] > values[60] > values[99] >= 0.02
    assert warmup_cosine(1)(0) == 1.0  # any length works, even one step


def test_training_learns_digits(digits):
    x, y, xt, yt = digits
    torch.manual_seed(0)
    model = _student().to(memory_format=torch.channels_last)
    before = accuracy(predict_logits(model, xt), yt)
    log = train_model(model, x, y, TrainSettings(epochs=3, batch_size=32, lr=5e-3))
    recalibrate_batchnorm(model, x)
    after = accuracy(predict_logits(model, xt), yt)
    assert log.steps == 3 * 19 and np.isfinite(log.final_loss)
    assert after > 0.7 and after > before + 0.3


def test_distillation_follows_the_teacher(digits):
    x, y, xt, _ = digits
    # A "teacher" that always says class 3 with high confidence: pure KD (alpha 1) must
    # pull the student's predictions towards 3 even though the labels disagree.
    teacher = torch.full((len(y), 10), -5.0)
    teacher[:, 3] = 5.0
    torch.manual_seed(0)
    model = _student()
    settings = TrainSettings(epochs=2, batch_size=32, lr=5e-3, kd_alpha=1.0, kd_temperature=2.0)
    train_model(model, x, y, settings, teacher_logits=teacher)
    recalibrate_batchnorm(model, x)
    preds = predict_logits(model, xt).argmax(1).numpy()
    assert (preds == 3).mean() > 0.9


def test_diverging_learning_rate_raises_with_the_step(digits):
    x, y, _, _ = digits
    model = _student()
    seen: list[int] = []
    with pytest.raises(TrainingError, match=r"diverged: the loss became (nan|inf) at step \d+"):
        train_model(
            model,
            x,
            y,
            TrainSettings(epochs=3, batch_size=32, lr=1e12),
            on_step=lambda step, loss: seen.append(step),
        )
    assert 0 < len(seen) < 3 * 19


def test_bad_settings():
    with pytest.raises(CompressionError, match="learning rate"):
        TrainSettings(epochs=1, lr=float("nan"))
    with pytest.raises(CompressionError, match="kd_temperature"):
        TrainSettings(epochs=1, kd_alpha=0.5)
    model = _student()
    with pytest.raises(CompressionError, match="matching"):
        train_model(
            model,
            torch.zeros(3, 1, 32, 32),
            torch.zeros(2, dtype=torch.long),
            TrainSettings(epochs=1),
        )


def test_recalibration_restores_momentum_and_changes_stats(digits):
    x, _, _, _ = digits
    model = _student().eval()
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    recalibrate_batchnorm(model, x[:64])
    assert bn.momentum == 0.1
    assert not torch.equal(before, bn.running_mean)
    assert not model.training
